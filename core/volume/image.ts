// Tree images (spec/checkpoint.md "The tree image"): with each checkpoint, the inodes of the
// replica that changed since the previous image, so that a restart builds the replica at the
// checkpoint's epoch from the folded images and replays only the log after it.
import { tryDecode, type Value } from '../codec.ts'
import { decodeVersion, encodeVersion } from '../fs/past.ts'
import { newInodeRec } from '../fs/state.ts'
import type { FsState } from '../fs/state.ts'
import type { InodeRec } from '../fs/types.ts'
import type { Epoch, VolumeName } from '../types.ts'

const isUint = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0

function encodeInode(rec: InodeRec): Value {
  const parents = [...rec.parents].sort((a, b) => a[0] - b[0]).map(([dir, n]) => [dir, n])
  const entries = rec.entries === null ? null : [...rec.entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([name, ino]) => [name, ino])
  return [rec.cur.epoch, encodeVersion(rec.cur, undefined), parents, entries]
}

/** An inode as stored (its encoding) decoded; `['damaged']` (no inode) when it does not decode. */
function decodedOrDamaged(bytes: Uint8Array): Value {
  const d = tryDecode(bytes)
  return d.ok ? d.value : ['damaged']
}

function decodeInode(ino: number, v: Value): InodeRec | undefined {
  if (!Array.isArray(v) || v.length !== 4) return undefined
  const [epoch, version, parents, entries] = v
  if (!isUint(epoch) || !Array.isArray(parents) || (entries !== null && !Array.isArray(entries))) return undefined
  const cur = decodeVersion(version as Value, epoch, undefined)
  if (cur === undefined) return undefined
  if ((cur.kind === 'dir') !== (entries !== null)) return undefined
  const rec = newInodeRec(ino, cur)
  for (const p of parents) {
    if (!Array.isArray(p) || p.length !== 2 || !isUint(p[0]) || !isUint(p[1]) || p[1] === 0 || rec.parents.has(p[0])) return undefined
    rec.parents.set(p[0], p[1])
  }
  if (entries !== null) {
    for (const e of entries as Value[]) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || !isUint(e[1]) || e[1] === 0 || rec.entries!.has(e[0])) return undefined
      rec.entries!.set(e[0], e[1])
    }
  }
  return rec
}

/** `['image', volume, epoch, [[ino, inode | null], ...]]` of the inodes changed since the last
 *  image (`fs.dirty`), as they are now; clears the dirty set. */
export function imageRecord(volume: VolumeName, fs: FsState, omit: ReadonlySet<number> = new Set()): Value {
  const inodes: Value[] = []
  for (const ino of [...fs.dirty].sort((a, b) => a - b)) {
    if (omit.has(ino)) continue
    const rec = fs.inodes.get(ino)
    inodes.push([ino, rec === undefined ? null : encodeInode(rec)])
  }
  fs.dirty.clear()
  return ['image', volume, fs.epoch, inodes]
}

/** The image records' fold (spec/checkpoint.md "Folding"): per inode, its latest encoding. */
export interface ImageFold {
  readonly epoch: Epoch
  /** An inode's value, or its encoding (bytes) as a host stores it; null: gone. */
  readonly inodes: ReadonlyMap<number, Value | null>
}

/** Folds the volume's image records in order; undefined when there is none. A malformed record
 *  makes the fold unusable (returned as a reason): later records build on it. */
export function foldImages(volume: VolumeName, records: readonly Value[]): ImageFold | { readonly bad: string } | undefined {
  let epoch: Epoch | undefined
  const inodes = new Map<number, Value | null>()
  for (const r of records) {
    if (!Array.isArray(r) || r[0] !== 'image' || r[1] !== volume) continue
    if (r.length !== 4 || !isUint(r[2]) || !Array.isArray(r[3]) || (epoch !== undefined && r[2] < epoch)) return { bad: `image record ${String(r[2])} is malformed or out of order` }
    epoch = r[2]
    for (const x of r[3]) {
      if (!Array.isArray(x) || x.length !== 2 || !isUint(x[0])) return { bad: `image of epoch ${epoch} has a malformed inode` }
      inodes.set(x[0], x[1] as Value | null)
    }
  }
  return epoch === undefined ? undefined : { epoch, inodes }
}

/** The replica's inodes from a fold, or why they cannot be used. */
export function inodesOf(fold: ImageFold): { ok: true; inodes: Map<number, InodeRec>; tombstones: number[] } | { ok: false; why: string } {
  const out = new Map<number, InodeRec>()
  const tombstones: number[] = []
  for (const [ino, stored] of fold.inodes) {
    // A host may hand an inode on as it is stored, its encoding (the runtime does): decoded here
    // one at a time, so that the decoded records of the whole tree never exist all at once.
    const v = stored instanceof Uint8Array ? decodedOrDamaged(stored) : stored
    if (v === null) continue
    const rec = decodeInode(ino, v)
    if (rec === undefined) return { ok: false, why: `inode ${ino} does not parse` }
    // A tombstone (images before the current state dropped deleted inodes): not in the replica,
    // and named so that the next image drops it from the fold.
    if (rec.cur.deleted) {
      tombstones.push(ino)
      continue
    }
    out.set(ino, rec)
  }
  return { ok: true, inodes: out, tombstones }
}
