// The file system's history behind one interface: every version of every inode, the name
// history of every directory and the op log. The current state (FsState.inodes: each inode's
// current version, names and links) is all an op needs; the past is read only by history
// queries, snapshots at an epoch and the checkers. Keeping it behind `FsPast` lets a node keep
// it on disk instead of in memory (spec/storage.md) while the reducer stays the same.
import type { Value } from '../codec.ts'
import { fromHex, toHex } from '../bytes.ts'
import type { ChunkHash, Epoch } from '../types.ts'
import { BlockTree, INDEX_LIMIT, type BlockChange } from './blocks.ts'
import type { EntryEvent, FsTime, InodeVersion, LogLine, NodeKind } from './types.ts'
import { EMPTY_XATTRS } from './types.ts'

export interface FsPast {
  /** Every version of `ino`, epoch-ascending, at most one per epoch, the current one last;
   *  empty for an inode that never existed. */
  versions(ino: number): readonly InodeVersion[]
  /** Whether `ino` had a version at `epoch` or before (cheaper than `versions`; FS-6: an ino is
   *  never reused). With the epoch because a replay re-applies ops whose records the past holds. */
  existedBy(ino: number, epoch: Epoch): boolean
  /** Every inode that ever had a version, deleted ones included (any order; checkers and
   *  audits: may read the whole past). */
  everInodes(): Iterable<number>
  /** The epoch-sorted history of `name` in directory `dir` (ino 0 = absent from then on). */
  nameHistory(dir: number, name: string): readonly EntryEvent[] | undefined
  /** Every name ever bound in `dir`, with its history (any order). */
  names(dir: number): IterableIterator<[string, readonly EntryEvent[]]>
  /** The log line of the op applied at `epoch` (undefined outside the log). */
  logLine(epoch: Epoch): LogLine | undefined
  /** Number of log lines (= epochs applied since the base epoch). */
  readonly logLength: number

  // Writes, by the reducer only (core/fs/state.ts), in epoch order.
  /** A new version of `ino`; replaces the last one when it has the same epoch. `prev`: the
   *  version it was made from (undefined for a new inode). */
  putVersion(ino: number, v: InodeVersion, prev?: InodeVersion): void
  /** `name` in `dir` refers to `e.ino` from `e.epoch` on; replaces the last event of the same epoch. */
  putEvent(dir: number, name: string, e: EntryEvent): void
  /** The log line of the op just applied. */
  putLogLine(line: LogLine): void
}

/** The past kept in memory (tests, the simulator, and every node until it is on disk). */
export class MemoryFsPast implements FsPast {
  /** Exposed for tests that damage a replica on purpose. */
  readonly versionsOf = new Map<number, InodeVersion[]>()
  readonly eventsOf = new Map<number, Map<string, EntryEvent[]>>()
  readonly log: LogLine[] = []

  constructor(private readonly baseEpoch: Epoch = 0) {}

  versions(ino: number): readonly InodeVersion[] {
    return this.versionsOf.get(ino) ?? []
  }
  existedBy(ino: number, epoch: Epoch): boolean {
    const first = this.versionsOf.get(ino)?.[0]
    return first !== undefined && first.epoch <= epoch
  }
  everInodes(): Iterable<number> {
    return this.versionsOf.keys()
  }
  nameHistory(dir: number, name: string): readonly EntryEvent[] | undefined {
    return this.eventsOf.get(dir)?.get(name)
  }
  names(dir: number): IterableIterator<[string, readonly EntryEvent[]]> {
    return (this.eventsOf.get(dir) ?? new Map<string, EntryEvent[]>()).entries()
  }
  logLine(epoch: Epoch): LogLine | undefined {
    return this.log[epoch - this.baseEpoch - 1]
  }
  get logLength(): number {
    return this.log.length
  }
  putVersion(ino: number, v: InodeVersion, _prev?: InodeVersion): void {
    let list = this.versionsOf.get(ino)
    if (list === undefined) this.versionsOf.set(ino, (list = []))
    const last = list[list.length - 1]
    if (last !== undefined && last.epoch === v.epoch) list[list.length - 1] = v
    else list.push(v)
  }
  putEvent(dir: number, name: string, e: EntryEvent): void {
    let names = this.eventsOf.get(dir)
    if (names === undefined) this.eventsOf.set(dir, (names = new Map()))
    let hist = names.get(name)
    if (hist === undefined) names.set(name, (hist = []))
    const last = hist[hist.length - 1]
    if (last !== undefined && last.epoch === e.epoch) hist[hist.length - 1] = e
    else hist.push(e)
  }
  putLogLine(line: LogLine): void {
    this.log.push(line)
  }
}

// ---------------------------------------------------------------------------------------------
// A version as a record (spec/storage.md "The file system's past"): the fields of the version
// and its blocks as the changes from the inode's previous version, so that a record costs
// O(changed blocks), not O(file size); `decodeVersion` folds them back onto the previous one.

const KINDS: readonly NodeKind[] = ['file', 'dir', 'symlink', 'fifo', 'chr', 'blk', 'sock']

/** `[kind, mode, uid, gid, size, nlink, atime, mtime, ctime, rdev, xattrs | null, changes, target,
 *  deleted]`; times `[sec, nsec]`; xattrs `[[name, value]...]` or null when the same map as the
 *  previous version's; changes `[[index, hash(32B), len] | [index]]` (a block set or a hole). */
/** Index of `changes` in an encoded version. */
export const VERSION_CHANGES = 11

export function encodeVersion(v: InodeVersion, prev: InodeVersion | undefined): Value {
  const changes = v.blocks.changesFrom(prev?.blocks ?? BlockTree.EMPTY).map(([i, ref]) => (ref === null ? [i] : [i, fromHex(ref.hash)!, ref.len]))
  const xattrs = prev !== undefined && prev.xattrs === v.xattrs ? null : [...v.xattrs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([n, b]) => [n, b])
  return [v.kind, v.mode, v.uid, v.gid, v.size, v.nlink, timeValue(v.atime), timeValue(v.mtime), timeValue(v.ctime), v.rdev, xattrs, changes, v.target, v.deleted]
}

const sameTime = (a: FsTime | undefined, b: FsTime | undefined): boolean => a !== undefined && b !== undefined && a.sec === b.sec && a.nsec === b.nsec

const isUint = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0

// Seconds may be negative (a time before 1970 is a valid utimens, core/fs/ops.ts); nanoseconds not.
// Module-level, not closures of decodeVersion: tsx keeps function names, so a closure per call
// costs a defineProperty each time.
const isSec = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n)
const time = (x: Value): FsTime | undefined => (Array.isArray(x) && x.length === 2 && isSec(x[0]) && isUint(x[1]) && x[1] <= 999_999_999 ? { sec: x[0], nsec: x[1] } : undefined)
const timeValue = (x: FsTime): Value => [x.sec, x.nsec]

/** The version a record describes at `epoch`, on top of the inode's previous version; undefined
 *  when the record is malformed (a damaged store: the caller counts it). */
export function decodeVersion(value: Value, epoch: Epoch, prev: InodeVersion | undefined): InodeVersion | undefined {
  if (!Array.isArray(value) || value.length !== 14) return undefined
  const [kind, mode, uid, gid, size, nlink, atime, mtime, ctime, rdev, xattrs, changes, target, deleted] = value
  // Equal times share one object, as the versions the ops make do (create: one time for all
  // three; a write: mtime = ctime): 40 bytes of heap each per inode decoded from an image.
  const at = time(atime as Value)
  const mt0 = time(mtime as Value)
  const mt = sameTime(mt0, at) ? at : mt0
  const ct0 = time(ctime as Value)
  const ct = sameTime(ct0, mt) ? mt : sameTime(ct0, at) ? at : ct0
  if (typeof kind !== 'string' || !KINDS.includes(kind as NodeKind) || !isUint(mode) || !isUint(uid) || !isUint(gid) || !isUint(size) || !isUint(nlink) || !isUint(rdev)) return undefined
  if (at === undefined || mt === undefined || ct === undefined || typeof target !== 'string' || typeof deleted !== 'boolean' || !Array.isArray(changes)) return undefined
  let xmap: ReadonlyMap<string, Uint8Array>
  if (xattrs === null) {
    if (prev === undefined) return undefined
    xmap = prev.xattrs
  } else {
    if (!Array.isArray(xattrs)) return undefined
    const m = new Map<string, Uint8Array>()
    for (const x of xattrs) {
      if (!Array.isArray(x) || x.length !== 2 || typeof x[0] !== 'string' || !(x[1] instanceof Uint8Array)) return undefined
      m.set(x[0], x[1])
    }
    xmap = m.size === 0 ? EMPTY_XATTRS : m // one shared empty map, not one per inode decoded
  }
  const list: BlockChange[] = []
  let last = -1
  for (const c of changes) {
    if (!Array.isArray(c) || !isUint(c[0]) || c[0] <= last || c[0] >= INDEX_LIMIT) return undefined
    last = c[0]
    if (c.length === 1) list.push([c[0], null])
    else if (c.length === 3 && c[1] instanceof Uint8Array && c[1].length === 32 && isUint(c[2])) list.push([c[0], { hash: toHex(c[1]) as ChunkHash, len: c[2] }])
    else return undefined
  }
  const blocks = (prev?.blocks ?? BlockTree.EMPTY).update(list)
  return { epoch, kind: kind as NodeKind, mode, uid, gid, size, nlink, atime: at, mtime: mt, ctime: ct, rdev, xattrs: xmap, blocks, target, deleted }
}
