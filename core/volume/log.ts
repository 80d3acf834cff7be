// The volume's log of applied operations (spec/paciofs.md "The log"), kept out of memory: the
// records of the current steps stay here until the step's persist is performed, older ones are
// read back through the storage port (`Storage.logRecord`, spec/storage.md), as the chunks, plain
// ops and entries are. A node's memory then holds O(records since the last trim) of its log, not
// O(history); per author it keeps the highest seq the log names (what restart and the give-up
// rule need), which grows with the members, not with the ops.
import type { Value } from '../codec.ts'
import type { Epoch, Pid, Seq, VolumeName } from '../types.ts'
import { parseLogRecord } from './records.ts'
import type { LogRecord } from './types.ts'

/** The part of the storage port the log reads. */
export interface LogReader {
  /** The `log` record persisted for `epoch` of `volume` (paciofs.md "Records"), or undefined. */
  logRecord(volume: VolumeName, epoch: Epoch): Value | undefined
}

/** Default of VolumeParams.logKeep: records kept in memory after a step at most; the rest are
 *  read through the port. */
export const LOG_KEEP_DEFAULT = 1024

export class VolumeLog {
  /** Records base+1 .. length, in epoch order. */
  private recent: LogRecord[] = []
  private base: Epoch
  /** Per author the highest seq a record names (ops applied, whatever their result). */
  private readonly done = new Map<Pid, Seq>()

  constructor(
    private readonly volume: VolumeName,
    /** Without a port (a volume whose past is in memory: tests) every record stays here. */
    private readonly port: LogReader | undefined,
    /** Epochs 1..base are in the port already (a restart). */
    base: Epoch = 0,
    lastDone: ReadonlyMap<Pid, Seq> = new Map(),
    /** After a step, at most this many records stay in memory. */
    private readonly keep: number = LOG_KEEP_DEFAULT,
  ) {
    this.base = base
    for (const [p, s] of lastDone) this.done.set(p, s)
  }

  get length(): number {
    return this.base + this.recent.length
  }

  /** The highest seq of `author` the log names (0: none). */
  lastDone(author: Pid): Seq {
    return this.done.get(author) ?? 0
  }

  /** Every author's highest logged seq, ascending author (checkpoints). */
  lastDoneAll(): [Pid, Seq][] {
    return [...this.done].sort(([a], [b]) => (a < b ? -1 : 1))
  }

  push(record: LogRecord): void {
    this.recent.push(record)
    if (record.seq !== null) this.done.set(record.author, Math.max(this.lastDone(record.author), record.seq))
  }

  /** The record of `epoch` (1-based): from memory, or read and parsed from the port; undefined
   *  when the port cannot produce it (runtime: damaged on disk) or it does not parse. */
  at(epoch: Epoch): LogRecord | undefined {
    if (epoch > this.base) return this.recent[epoch - this.base - 1]
    if (epoch < 1 || this.port === undefined) return undefined
    const v = this.port.logRecord(this.volume, epoch)
    if (!Array.isArray(v) || v[0] !== 'log' || v[1] !== this.volume || v[2] !== epoch) return undefined
    return parseLogRecord(v)
  }

  /** Records from..length in order; `missing` is called for an epoch the port cannot produce
   *  (and iteration goes on). For audits, checkers and `paciofs log`: O(history) reads. */
  *records(from: Epoch = 1, missing?: (epoch: Epoch) => void): Generator<LogRecord> {
    for (let e = Math.max(1, from); e <= this.length; e++) {
      const r = this.at(e)
      if (r === undefined) missing?.(e)
      else yield r
    }
  }

  [Symbol.iterator](): Generator<LogRecord> {
    return this.records()
  }

  /** Every record (tests, small logs). */
  toArray(): LogRecord[] {
    return [...this.records()]
  }

  /** At the end of a step (its persist performed): forget what the port holds now, once there is
   *  enough of it to be worth a read later. */
  endStep(): void {
    if (this.recent.length < this.keep || this.port === undefined) return
    this.base += this.recent.length
    this.recent = []
  }

  /** Test only: replaces the whole log by `edit` of its records (tests of a tampered log: verify
   *  must name what changed). */
  rewriteForTest(edit: (records: LogRecord[]) => void): void {
    const all = this.toArray()
    edit(all)
    this.recent = all
    this.base = 0
  }

  /** Records held in memory (STORE-7's checker: fewer than `keep` after every step). */
  get held(): number {
    return this.recent.length
  }

  get keepLimit(): number {
    return this.port === undefined ? Infinity : this.keep
  }
}
