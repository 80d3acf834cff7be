// The file system's history behind one interface: every version of every inode, the name
// history of every directory and the op log. The current state (FsState.inodes: each inode's
// current version, names and links) is all an op needs; the past is read only by history
// queries, snapshots at an epoch and the checkers. Keeping it behind `FsPast` lets a node keep
// it on disk instead of in memory (spec/storage.md) while the reducer stays the same.
import type { Epoch } from '../types.ts'
import type { EntryEvent, InodeVersion, LogLine } from './types.ts'

export interface FsPast {
  /** Every version of `ino`, epoch-ascending, at most one per epoch, the current one last;
   *  empty for an inode that never existed. */
  versions(ino: number): readonly InodeVersion[]
  /** The epoch-sorted history of `name` in directory `dir` (ino 0 = absent from then on). */
  nameHistory(dir: number, name: string): readonly EntryEvent[] | undefined
  /** Every name ever bound in `dir`, with its history (any order). */
  names(dir: number): IterableIterator<[string, readonly EntryEvent[]]>
  /** The log line of the op applied at `epoch` (undefined outside the log). */
  logLine(epoch: Epoch): LogLine | undefined
  /** Number of log lines (= epochs applied since the base epoch). */
  readonly logLength: number

  // Writes, by the reducer only (core/fs/state.ts), in epoch order.
  /** A new version of `ino`; replaces the last one when it has the same epoch. */
  putVersion(ino: number, v: InodeVersion): void
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
  putVersion(ino: number, v: InodeVersion): void {
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
