// diffTrees: compares two views path by path (what the log says vs what the disk holds) and
// names every difference. Optionally checks every chunk the actual tree references.
import type { Crypto } from '../crypto.ts'
import { bytesEqual, toHex } from '../bytes.ts'
import type { ChunkHash } from '../types.ts'
import { compareNames, joinPath } from './paths.ts'
import type { FsState } from './state.ts'
import type { ChunkReader, FsTime, InodeVersion } from './types.ts'
import { BLOCK_SIZE, ROOT_INO } from './types.ts'
import { FsView, asView, sortedBlocks } from './view.ts'
import { hashInodeVersion } from './merkle.ts'
import { MemoryFsPast } from './past.ts'

export interface Finding {
  readonly path: string
  /** What differs, e.g. "mode", "content block 3", "entry", "xattr user.x". */
  readonly what: string
  /** What the expected side (the log) says. */
  readonly expected: string
  /** What the actual side (the disk) holds. */
  readonly found: string
}

const fmtTime = (t: FsTime): string => `${t.sec}.${String(t.nsec).padStart(9, '0')}`
const fmtMode = (m: number): string => `0o${m.toString(8).padStart(6, '0')}`
function fmtBytes(b: Uint8Array): string {
  return b.length <= 32 ? `0x${toHex(b)} (${b.length} bytes)` : `0x${toHex(b.subarray(0, 32))}… (${b.length} bytes)`
}

class Differ {
  readonly out: Finding[] = []
  private readonly chunkVerdict = new Map<ChunkHash, string | null>()
  constructor(readonly e: FsView, readonly a: FsView, readonly chunks: ChunkReader | undefined, readonly crypto: Crypto) {}

  add(path: string, what: string, expected: string, found: string): void {
    this.out.push({ path, what, expected, found })
  }

  /** Compares the trees below `path` depth first, names in order, with an explicit stack: a
   *  tree can be far deeper than the JS call stack (renames nest directories without limit). */
  walk(path: string, ei: number, ai: number): void {
    const todo: Pair[] = [[path, ei, ai]]
    while (todo.length > 0) {
      const [p, x, y] = todo.pop()!
      if (x === undefined) this.add(p, 'entry', 'absent', `${this.a.version(y!)!.kind} (ino ${y})`)
      else if (y === undefined) this.add(p, 'entry', `${this.e.version(x)!.kind} (ino ${x})`, 'absent')
      else {
        const below = this.node(p, x, y)
        for (let i = below.length - 1; i >= 0; i--) todo.push(below[i]!)
      }
    }
  }

  /** Compares one node; returns the pairs of entries below it still to compare (directories). */
  node(path: string, ei: number, ai: number): Pair[] {
    const ev = this.e.version(ei)!
    const av = this.a.version(ai)!
    if (ev.kind !== av.kind) {
      this.add(path, 'kind', ev.kind, av.kind)
      if (av.kind === 'file') this.checkChunks(path, av)
      return []
    }
    if (ei !== ai) this.add(path, 'ino', String(ei), String(ai))
    this.attrs(path, ev, av)
    if (ev.kind === 'file') {
      this.blocks(path, ev, av)
      this.checkChunks(path, av)
    } else if (ev.kind === 'symlink') {
      if (ev.target !== av.target) this.add(path, 'symlink target', JSON.stringify(ev.target), JSON.stringify(av.target))
    } else if (ev.kind === 'dir') {
      return this.dir(path, ei, ai)
    }
    return []
  }

  attrs(path: string, ev: InodeVersion, av: InodeVersion): void {
    if (ev.mode !== av.mode) this.add(path, 'mode', fmtMode(ev.mode), fmtMode(av.mode))
    if (ev.uid !== av.uid) this.add(path, 'uid', String(ev.uid), String(av.uid))
    if (ev.gid !== av.gid) this.add(path, 'gid', String(ev.gid), String(av.gid))
    if (ev.size !== av.size) this.add(path, 'size', String(ev.size), String(av.size))
    if (ev.nlink !== av.nlink) this.add(path, 'nlink', String(ev.nlink), String(av.nlink))
    for (const t of ['atime', 'mtime', 'ctime'] as const) {
      if (ev[t].sec !== av[t].sec || ev[t].nsec !== av[t].nsec) this.add(path, t, fmtTime(ev[t]), fmtTime(av[t]))
    }
    if (ev.rdev !== av.rdev) this.add(path, 'rdev', String(ev.rdev), String(av.rdev))
    const names = [...new Set([...ev.xattrs.keys(), ...av.xattrs.keys()])].sort(compareNames)
    for (const name of names) {
      const x = ev.xattrs.get(name)
      const y = av.xattrs.get(name)
      if (x !== undefined && y !== undefined && bytesEqual(x, y)) continue
      this.add(path, `xattr ${JSON.stringify(name)}`, x === undefined ? 'absent' : fmtBytes(x), y === undefined ? 'absent' : fmtBytes(y))
    }
  }

  blocks(path: string, ev: InodeVersion, av: InodeVersion): void {
    const indices = [...new Set([...ev.blocks.keys(), ...av.blocks.keys()])].sort((x, y) => x - y)
    const show = (r: { hash: string; len: number } | undefined): string => (r === undefined ? 'hole' : `chunk ${r.hash} (${r.len} valid bytes)`)
    for (const k of indices) {
      const x = ev.blocks.get(k)
      const y = av.blocks.get(k)
      if (x !== undefined && y !== undefined && x.hash === y.hash && x.len === y.len) continue
      this.add(path, `content block ${k} (bytes ${k * BLOCK_SIZE}..${(k + 1) * BLOCK_SIZE - 1})`, show(x), show(y))
    }
  }

  checkChunks(path: string, av: InodeVersion): void {
    if (this.chunks === undefined) return
    for (const [k, ref] of sortedBlocks(av)) {
      let verdict = this.chunkVerdict.get(ref.hash)
      if (verdict === undefined) {
        const data = this.chunks(ref.hash)
        if (data === undefined) verdict = 'missing from the chunk store, or damaged there (it serves only chunks that hash to their name)'
        else if (data.length > BLOCK_SIZE) verdict = `${data.length} bytes, more than a block (${BLOCK_SIZE})`
        else {
          const h = toHex(this.crypto.sha256(data))
          verdict = h === ref.hash ? null : `bytes hashing to ${h}`
        }
        this.chunkVerdict.set(ref.hash, verdict)
      }
      if (verdict !== null) this.add(path, `chunk of content block ${k}`, `chunk ${ref.hash}`, verdict)
    }
  }

  /** The entries of two directories by name, in name order: [path, expected ino, actual ino]. */
  dir(path: string, ei: number, ai: number): Pair[] {
    const ec = new Map(this.e.children(ei))
    const ac = new Map(this.a.children(ai))
    const names = [...new Set([...ec.keys(), ...ac.keys()])].sort(compareNames)
    return names.map((name) => [joinPath(path, name), ec.get(name), ac.get(name)])
  }
}

/** A name on both sides: its path and its inode in the expected and the actual tree (undefined:
 *  absent on that side). */
type Pair = [string, number | undefined, number | undefined]

/** Every difference between two trees, in path order; empty when they are equal. With a chunk
 *  reader, each chunk the actual tree references must exist, fit a block and hash to its name. */
export function diffTrees(expected: FsView | FsState, actual: FsView | FsState, chunks?: ChunkReader, crypto?: Crypto): Finding[] {
  const e = asView(expected)
  const a = asView(actual)
  const d = new Differ(e, a, chunks, crypto ?? a.fs.crypto)
  d.walk('/', ROOT_INO, ROOT_INO)
  return d.out
}

/** Differences in *history* between two states that should have been built by the same ops:
 *  the epoch, the op log lines, and every version of every inode that ever existed (with the
 *  name history of directories). Catches changes that leave the current tree as it was, e.g. a
 *  file planted and removed again behind the log's back. Empty when the histories are equal. */
/** How diffHistory shows one version: its epoch, whether it is the tombstone, its hash's prefix. */
function versionSummary(crypto: Crypto, ino: number, v: InodeVersion): string {
  return `epoch ${v.epoch}${v.deleted ? ' deleted' : ''} ${toHex(hashInodeVersion(crypto, ino, v)).slice(0, 16)}`
}

/** The past of a replay that is only compared (verify): every version is kept as its summary, a
 *  string of ~40 bytes, not as the version (whose block tree and times a file system of a million
 *  versions cannot hold); name events and log lines as in memory. Nothing may read its versions. */
export class SummaryPast extends MemoryFsPast {
  private readonly summaries = new Map<number, { epoch: number; text: string }[]>()

  constructor(private readonly crypto: Crypto, baseEpoch = 0) {
    super(baseEpoch)
  }

  override putVersion(ino: number, v: InodeVersion): void {
    let list = this.summaries.get(ino)
    if (list === undefined) this.summaries.set(ino, (list = []))
    const s = { epoch: v.epoch, text: versionSummary(this.crypto, ino, v) }
    if (list.length > 0 && list[list.length - 1]!.epoch === v.epoch) list[list.length - 1] = s
    else list.push(s)
  }

  override versions(): readonly InodeVersion[] {
    throw new Error('a SummaryPast keeps no versions, only what diffHistory compares')
  }

  override existedBy(ino: number, epoch: number): boolean {
    const first = this.summaries.get(ino)?.[0]
    return first !== undefined && first.epoch <= epoch
  }

  override everInodes(): Iterable<number> {
    return this.summaries.keys()
  }

  versionSummaries(ino: number): readonly string[] {
    return (this.summaries.get(ino) ?? []).map((s) => s.text)
  }
}

function summariesOf(fs: FsState, ino: number): readonly string[] {
  return fs.past instanceof SummaryPast ? fs.past.versionSummaries(ino) : fs.past.versions(ino).map((v) => versionSummary(fs.crypto, ino, v))
}

export function diffHistory(expected: FsState, actual: FsState): Finding[] {
  const out: Finding[] = []
  const add = (path: string, what: string, e: string, f: string) => out.push({ path, what, expected: e, found: f })
  if (expected.epoch !== actual.epoch) add('(volume)', 'epoch', String(expected.epoch), String(actual.epoch))
  const lines = Math.max(expected.past.logLength, actual.past.logLength)
  for (let i = 0; i < lines; i++) {
    const e = expected.past.logLine(expected.baseEpoch + i + 1)
    const a = actual.past.logLine(actual.baseEpoch + i + 1)
    const fmt = (l: typeof e) => (l
      ? `${l.kind} by ${l.author.slice(0, 12)} uid ${l.uid} gid ${l.gid}${l.groups ? ` groups ${l.groups.join(',')}` : ''}${l.client ? ` for client ${l.client.slice(0, 12)}` : ''} ${l.errno ?? 'ok'}`
      : 'none')
    if (fmt(e) !== fmt(a)) add(`(epoch ${expected.baseEpoch + i + 1})`, 'history: op', fmt(e), fmt(a))
  }
  // Every inode that ever existed: the deleted ones are only in the past.
  const inos = [...new Set([...expected.past.everInodes(), ...actual.past.everInodes()])].sort((x, y) => x - y)
  for (const ino of inos) {
    const er = expected.inodes.has(ino) || expected.past.existedBy(ino, expected.epoch)
    const ar = actual.inodes.has(ino) || actual.past.existedBy(ino, actual.epoch)
    const where = `(inode ${ino})`
    if (!er || !ar) {
      add(where, 'history: inode', er ? 'present' : 'never existed', ar ? 'present' : 'never existed')
      continue
    }
    const evs = summariesOf(expected, ino)
    const avs = summariesOf(actual, ino)
    const n = Math.max(evs.length, avs.length)
    for (let i = 0; i < n; i++) {
      const ev = evs[i] ?? 'none'
      const av = avs[i] ?? 'none'
      if (ev !== av) add(where, `history: version ${i + 1}`, ev, av)
    }
    // Names: only directories have any (a deleted one's too).
    const eh = new Map(expected.past.names(ino))
    const ah = new Map(actual.past.names(ino))
    for (const name of [...new Set([...eh.keys(), ...ah.keys()])].sort(compareNames)) {
      const fmt = (h: readonly { epoch: number; ino: number }[] | undefined) => (h ?? []).map((x) => `${x.epoch}:${x.ino}`).join(' ')
      if (fmt(eh.get(name)) !== fmt(ah.get(name))) add(`${where}/${name}`, 'history: name', fmt(eh.get(name)) || 'never bound', fmt(ah.get(name)) || 'never bound')
    }
  }
  return out
}
