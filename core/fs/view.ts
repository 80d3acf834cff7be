// Read-only views: the current state and the snapshot right after any past epoch share one
// read API (lookup/getattr/readdir/readlink/readFile/listxattr/getxattr).
import type { Epoch } from '../types.ts'
import { assert } from '../types.ts'
import { compareNames, parsePath } from './paths.ts'
import type { FsState } from './state.ts'
import type { Attr, BlockRef, ChunkReader, Errno, InodeVersion, Lookup, NodeKind } from './types.ts'
import { BLOCK_SIZE, ROOT_INO } from './types.ts'

export interface DirEntry {
  readonly name: string
  readonly ino: number
  readonly kind: NodeKind
}

const fail = <T>(errno: Errno): Lookup<T> => ({ ok: false, errno })

/** Index of the last element with epoch <= at, or -1. */
export function lastAtOrBefore(list: readonly { readonly epoch: Epoch }[], at: Epoch): number {
  const n = list.length
  if (n > 0 && list[n - 1]!.epoch <= at) return n - 1 // the common case: the current version
  let lo = 0
  let hi = n - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (list[mid]!.epoch <= at) {
      found = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return found
}

export class FsView {
  constructor(readonly fs: FsState, private readonly at: Epoch | null) {
    if (at !== null) assert(at >= fs.baseEpoch && at <= fs.epoch, `snapshot epoch ${at} outside [${fs.baseEpoch}, ${fs.epoch}]`)
  }

  /** The epoch this view shows (the state right after the op of that epoch). */
  get epoch(): Epoch {
    return this.at ?? this.fs.epoch
  }

  get isCurrent(): boolean {
    return this.at === null || this.at === this.fs.epoch
  }

  /** The version of an inode in this view; undefined if it did not exist (yet) or was deleted. */
  version(ino: number): InodeVersion | undefined {
    const rec = this.fs.inodes.get(ino)
    // The current version answers the current view and every epoch since it was made; an inode
    // not in the current state is deleted (or never was) and only the past knows its versions.
    if (rec !== undefined && rec.cur.epoch <= this.epoch) return rec.cur.deleted ? undefined : rec.cur
    if (rec === undefined && this.isCurrent) return undefined
    const versions = this.fs.past.versions(ino)
    const v = versions[lastAtOrBefore(versions, this.epoch)]
    return v === undefined || v.deleted ? undefined : v
  }

  childIno(dir: number, name: string): number | undefined {
    if (this.isCurrent) return this.fs.inodes.get(dir)?.entries?.get(name)
    // A past view: the directory may be deleted by now; its names are in the past.
    const hist = this.fs.past.nameHistory(dir, name)
    if (hist === undefined) return undefined
    const e = hist[lastAtOrBefore(hist, this.epoch)]
    return e === undefined || e.ino === 0 ? undefined : e.ino
  }

  /** (name, ino) pairs of a directory, sorted by name in UTF-8 byte order. */
  children(dir: number): [string, number][] {
    const out: [string, number][] = []
    if (this.isCurrent) {
      const entries = this.fs.inodes.get(dir)?.entries
      if (entries == null) return []
      for (const [name, ino] of entries) out.push([name, ino])
    } else {
      for (const [name, hist] of this.fs.past.names(dir)) {
        const e = hist[lastAtOrBefore(hist, this.epoch)]
        if (e !== undefined && e.ino !== 0) out.push([name, e.ino])
      }
    }
    out.sort((a, b) => compareNames(a[0], b[0]))
    return out
  }

  lookup(path: string): Lookup<number> {
    const parsed = parsePath(path)
    if (!parsed.ok) return parsed
    let ino = ROOT_INO
    for (const name of parsed.names) {
      const v = this.version(ino)
      if (v === undefined || v.kind !== 'dir') return fail('ENOTDIR')
      const next = this.childIno(ino, name)
      if (next === undefined) return fail('ENOENT')
      ino = next
    }
    return { ok: true, value: ino }
  }

  private node(path: string): Lookup<{ ino: number; v: InodeVersion }> {
    const ino = this.lookup(path)
    if (!ino.ok) return ino
    const v = this.version(ino.value)
    assert(v !== undefined, `view: entry ${path} points to a dead inode ${ino.value}`)
    return { ok: true, value: { ino: ino.value, v } }
  }

  getattr(path: string): Lookup<Attr> {
    const n = this.node(path)
    if (!n.ok) return n
    return { ok: true, value: attrOf(n.value.ino, n.value.v) }
  }

  readdir(path: string): Lookup<DirEntry[]> {
    const n = this.node(path)
    if (!n.ok) return n
    if (n.value.v.kind !== 'dir') return fail('ENOTDIR')
    return {
      ok: true,
      value: this.children(n.value.ino).map(([name, ino]) => ({ name, ino, kind: this.version(ino)!.kind })),
    }
  }

  readlink(path: string): Lookup<string> {
    const n = this.node(path)
    if (!n.ok) return n
    if (n.value.v.kind !== 'symlink') return fail('EINVAL')
    return { ok: true, value: n.value.v.target }
  }

  listxattr(path: string): Lookup<string[]> {
    const n = this.node(path)
    if (!n.ok) return n
    return { ok: true, value: [...n.value.v.xattrs.keys()].sort(compareNames) }
  }

  getxattr(path: string, name: string): Lookup<Uint8Array> {
    const n = this.node(path)
    if (!n.ok) return n
    const value = n.value.v.xattrs.get(name)
    return value === undefined ? fail('ENODATA') : { ok: true, value }
  }

  /** The block list of a regular file: [index, ref] ascending; holes are absent. */
  blocks(path: string): Lookup<[number, BlockRef][]> {
    const n = this.node(path)
    if (!n.ok) return n
    if (n.value.v.kind === 'dir') return fail('EISDIR')
    if (n.value.v.kind !== 'file') return fail('EINVAL')
    return { ok: true, value: sortedBlocks(n.value.v) }
  }

  readFile(chunks: ChunkReader, path: string, offset: number, length: number): Lookup<Uint8Array> {
    const ino = this.lookup(path)
    if (!ino.ok) return ino
    return this.readInode(chunks, ino.value, offset, length)
  }

  /** Reads [offset, offset+length) clipped to the size; EIO when a chunk is missing. */
  readInode(chunks: ChunkReader, ino: number, offset: number, length: number): Lookup<Uint8Array> {
    const v = this.version(ino)
    if (v === undefined) return fail('ENOENT')
    const n = Number.isSafeInteger(offset) && Number.isSafeInteger(length) ? Math.max(0, Math.min(v.size, offset + length) - offset) : 0
    const out = new Uint8Array(n)
    const r = this.readInodeInto(chunks, ino, offset, length, out)
    return r.ok ? { ok: true, value: r.value === n ? out : out.subarray(0, r.value) } : r
  }

  /** Like readInode, into `target` (at least `length` long, zeroed by this call where the file
   *  has holes): the number of bytes read. Saves an allocation and a copy per read. */
  readInodeInto(chunks: ChunkReader, ino: number, offset: number, length: number, target: Uint8Array): Lookup<number> {
    const v = this.version(ino)
    if (v === undefined) return fail('ENOENT')
    if (v.kind === 'dir') return fail('EISDIR')
    if (v.kind !== 'file') return fail('EINVAL')
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) return fail('EINVAL')
    const end = Math.min(v.size, offset + length)
    if (end <= offset) return { ok: true, value: 0 }
    assert(target.length >= end - offset, 'readInodeInto: target too short')
    for (let k = Math.floor(offset / BLOCK_SIZE); k * BLOCK_SIZE < end; k++) {
      const blockStart = k * BLOCK_SIZE
      const from = Math.max(offset, blockStart)
      const ref = v.blocks.get(k)
      const data = ref === undefined ? undefined : chunks(ref.hash)
      if (ref !== undefined && data === undefined) return fail('EIO')
      const valid = ref === undefined || data === undefined ? 0 : Math.min(ref.len, data.length)
      const to = Math.min(end, blockStart + valid)
      if (to > from) target.set(data!.subarray(from - blockStart, to - blockStart), from - offset)
      // Holes and the invalid tail of a short block read as zeros.
      const blockEnd = Math.min(end, blockStart + BLOCK_SIZE)
      const zeroFrom = Math.max(from, to)
      if (blockEnd > zeroFrom) target.fill(0, zeroFrom - offset, blockEnd - offset)
    }
    return { ok: true, value: end - offset }
  }
}

export function attrOf(ino: number, v: InodeVersion): Attr {
  return {
    ino, kind: v.kind, mode: v.mode, uid: v.uid, gid: v.gid, size: v.size, nlink: v.nlink,
    atime: v.atime, mtime: v.mtime, ctime: v.ctime, rdev: v.rdev,
  }
}

/** The blocks of a version as [index, ref] pairs, ascending index (the tree iterates in order). */
export function sortedBlocks(v: InodeVersion): [number, BlockRef][] {
  return v.blocks.list()
}

/** The current state as a view. */
export function currentView(fs: FsState): FsView {
  return new FsView(fs, null)
}

/** The volume as it was right after the op at `epoch` (baseEpoch <= epoch <= fs.epoch). */
export function snapshotAt(fs: FsState, epoch: Epoch): FsView {
  return new FsView(fs, epoch)
}

export function asView(src: FsState | FsView): FsView {
  return src instanceof FsView ? src : currentView(src)
}

// Free-function read API over a state or a view.
export const lookup = (src: FsState | FsView, path: string): Lookup<number> => asView(src).lookup(path)
export const getattr = (src: FsState | FsView, path: string): Lookup<Attr> => asView(src).getattr(path)
export const readdir = (src: FsState | FsView, path: string): Lookup<DirEntry[]> => asView(src).readdir(path)
export const readlink = (src: FsState | FsView, path: string): Lookup<string> => asView(src).readlink(path)
export const listxattr = (src: FsState | FsView, path: string): Lookup<string[]> => asView(src).listxattr(path)
export const getxattr = (src: FsState | FsView, path: string, name: string): Lookup<Uint8Array> => asView(src).getxattr(path, name)
export function readFile(src: FsState | FsView, chunks: ChunkReader, path: string, offset: number, length: number): Lookup<Uint8Array> {
  return asView(src).readFile(chunks, path, offset, length)
}
export function readInode(src: FsState | FsView, chunks: ChunkReader, ino: number, offset: number, length: number): Lookup<Uint8Array> {
  return asView(src).readInode(chunks, ino, offset, length)
}
