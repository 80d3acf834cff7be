// The file system's past on disk (spec/storage.md "The file system's past"): a node's replica
// keeps only its current tree in memory; every epoch's new versions, name events and log line go
// out as one `past` record and are read back through the storage port when a snapshot, a
// history query or a checker asks. The reducer (core/fs/state.ts) sees the same FsPast interface
// as with MemoryFsPast.
import type { Value } from '../codec.ts'
import { fromHex, toHex } from '../bytes.ts'
import { decodeVersion, encodeVersion, VERSION_CHANGES, type FsPast } from '../fs/past.ts'
import type { EntryEvent, Errno, InodeVersion, LogLine } from '../fs/types.ts'
import type { Epoch, Pid, VolumeName } from '../types.ts'

/** What the core reads back of the `past` records the host performed (the storage port). */
export interface PastStore {
  /** The body `[versions, events, line]` of the volume's `past` record of `epoch`. */
  pastRecord(volume: VolumeName, epoch: Epoch): Value | undefined
  /** Epochs (ascending) whose `past` record has a version of `ino`. */
  versionEpochs(volume: VolumeName, ino: number): readonly Epoch[]
  /** Epochs (ascending) whose `past` record has an event of `name` in directory `dir`. */
  nameEpochs(volume: VolumeName, dir: number, name: string): readonly Epoch[]
  /** Every name ever bound in directory `dir` (any order, no duplicates). */
  dirNames(volume: VolumeName, dir: number): readonly string[]
}

/** `['past', volume, epoch, [[ino, version]...], [[dir, name, ino]...], line]`. */
export function pastRecord(volume: VolumeName, epoch: Epoch, versions: Value[], events: Value[], line: Value): Value {
  return ['past', volume, epoch, versions, events, line]
}

export interface ParsedPast {
  readonly volume: VolumeName
  readonly epoch: Epoch
  readonly body: Value
  /** Inodes with a version, (dir, name) pairs with an event: what an index of the record needs. */
  readonly inos: readonly number[]
  readonly names: readonly (readonly [number, string])[]
}

const isUint = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0

/** The index entries of a `past` record; undefined for any other record or a malformed one. */
export function parsePastRecord(r: Value): ParsedPast | undefined {
  if (!Array.isArray(r) || r.length !== 6 || r[0] !== 'past' || typeof r[1] !== 'string' || !isUint(r[2])) return undefined
  const [, volume, epoch, versions, events, line] = r
  if (!Array.isArray(versions) || !Array.isArray(events)) return undefined
  const inos: number[] = []
  for (const x of versions) {
    if (!Array.isArray(x) || x.length !== 2 || !isUint(x[0])) return undefined
    inos.push(x[0])
  }
  const names: [number, string][] = []
  for (const x of events) {
    if (!Array.isArray(x) || x.length !== 3 || !isUint(x[0]) || typeof x[1] !== 'string' || !isUint(x[2])) return undefined
    names.push([x[0], x[1]])
  }
  return { volume: volume as VolumeName, epoch: epoch as Epoch, body: [versions, events, line], inos, names }
}

function encodeLine(l: LogLine): Value {
  return [fromHex(l.author) ?? new Uint8Array(0), l.kind, l.uid, l.gid, l.groups !== undefined ? [...l.groups] : null, l.client !== undefined ? fromHex(l.client) ?? new Uint8Array(0) : null, l.errno]
}

function decodeLine(v: Value): LogLine | undefined {
  if (!Array.isArray(v) || v.length !== 7) return undefined
  const [author, kind, uid, gid, groups, client, errno] = v
  if (!(author instanceof Uint8Array) || typeof kind !== 'string' || !isUint(uid) || !isUint(gid)) return undefined
  if (groups !== null && !(Array.isArray(groups) && groups.every(isUint))) return undefined
  if (client !== null && !(client instanceof Uint8Array)) return undefined
  if (errno !== null && typeof errno !== 'string') return undefined
  const line: { -readonly [K in keyof LogLine]: LogLine[K] } = { author: toHex(author) as Pid, kind, uid, gid, errno: errno as Errno | null }
  if (groups !== null) line.groups = groups as number[]
  if (client !== null) line.client = toHex(client) as Pid
  return line
}

/** What one op wrote to the past: its versions (each encoded on the inode's version before the
 *  op), name events and log line, gathered by `putVersion` / `putEvent`. */
type OpVersions = ReadonlyMap<number, { readonly prev: InodeVersion | undefined; readonly v: InodeVersion }>
type OpEvents = ReadonlyMap<string, readonly [number, string, number]>

/** The body `[versions, events, line]` of one epoch's `past` record (spec/storage.md). */
function pastBody(opVersions: OpVersions, opEvents: OpEvents, line: LogLine): [Value[], Value[], Value] {
  const versions = [...opVersions].sort(([a], [b]) => a - b).map(([ino, { prev, v }]) => [ino, encodeVersion(v, prev)])
  const events = [...opEvents.values()].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0)).map(([d, n, i]) => [d, n, i])
  return [versions, events, encodeLine(line)]
}

/** The chunk hashes of the blocks a `past` record body's versions set at its epoch (each
 *  version carries its blocks as the changes from the inode's previous version), in order,
 *  repeats included; what is malformed is skipped (verify names the record itself). */
export function chunksSetIn(body: Value | undefined): Uint8Array[] {
  const out: Uint8Array[] = []
  const versions = Array.isArray(body) ? body[0] : undefined
  if (!Array.isArray(versions)) return out
  for (const x of versions) {
    const changes = Array.isArray(x) && Array.isArray(x[1]) ? x[1][VERSION_CHANGES] : undefined
    if (Array.isArray(changes)) for (const c of changes) if (Array.isArray(c) && c[1] instanceof Uint8Array) out.push(c[1])
  }
  return out
}

/** A past that keeps nothing but the inodes seen (for FS-6) and hands each epoch's record body,
 *  as a StoredFsPast would write it, to `onRecord`: verify's replay compares it with the disk's
 *  record of that epoch as it goes, so an audit's memory does not grow with the history
 *  (spec/paciofs.md "verify(disk, log)"). No history query can be answered from it. */
export class RecordingPast implements FsPast {
  private opVersions = new Map<number, { prev: InodeVersion | undefined; v: InodeVersion }>()
  private opEvents = new Map<string, readonly [number, string, number]>()
  private readonly seen = new Set<number>()
  private length = 0

  constructor(private readonly onRecord: (epoch: Epoch, body: Value) => void, private readonly baseEpoch: Epoch = 0) {}

  get logLength(): number {
    return this.length
  }
  existedBy(ino: number, _epoch: Epoch): boolean {
    // Every inode seen was made by an op applied before the one asking (this one's are in opVersions).
    return this.seen.has(ino)
  }
  everInodes(): Iterable<number> {
    return this.seen
  }
  putVersion(ino: number, v: InodeVersion, prev?: InodeVersion): void {
    if (v.epoch === this.baseEpoch) {
      this.seen.add(ino)
      return
    }
    const had = this.opVersions.get(ino)
    this.opVersions.set(ino, { prev: had !== undefined ? had.prev : prev, v })
  }
  putEvent(dir: number, name: string, e: EntryEvent): void {
    if (e.epoch !== this.baseEpoch) this.opEvents.set(`${dir}/${name}`, [dir, name, e.ino])
  }
  putLogLine(line: LogLine): void {
    this.length++
    const body = pastBody(this.opVersions, this.opEvents, line)
    for (const ino of this.opVersions.keys()) this.seen.add(ino)
    this.opVersions = new Map()
    this.opEvents = new Map()
    this.onRecord(this.baseEpoch + this.length, body)
  }
  versions(): readonly InodeVersion[] {
    throw new Error('a RecordingPast keeps no versions: it hands each epoch\'s record on')
  }
  nameHistory(): readonly EntryEvent[] | undefined {
    throw new Error('a RecordingPast keeps no names: it hands each epoch\'s record on')
  }
  names(): IterableIterator<[string, readonly EntryEvent[]]> {
    throw new Error('a RecordingPast keeps no names: it hands each epoch\'s record on')
  }
  logLine(): LogLine | undefined {
    throw new Error('a RecordingPast keeps no log: it hands each epoch\'s record on')
  }
}

/** A replica's past in its node's store. Writes of the op being applied are gathered and go out
 *  as one record when its log line is written (`drain`); the records of the current step are
 *  also kept here (`step`) until the step ends (`endStep`), so that reads see them before the
 *  host's port does (as `VolumeState.written` for chunks). */
export class StoredFsPast implements FsPast {
  private opVersions = new Map<number, { prev: InodeVersion | undefined; v: InodeVersion }>()
  private opEvents = new Map<string, readonly [number, string, number]>()
  private length = 0
  private readonly pending: Value[] = []
  /** This step's records: epoch -> body, and what they add to the port's indexes. */
  private readonly step = new Map<Epoch, Value>()
  private readonly stepInos = new Map<number, Epoch[]>()
  private readonly stepNames = new Map<string, Epoch[]>()
  private readonly stepDirNames = new Map<number, Set<string>>()
  /** Versions of the initial tree (small: createFs makes only the root). */
  private readonly base = new Map<number, InodeVersion>()
  private readonly baseEvents = new Map<string, EntryEvent>()
  /** Records that did not decode (a damaged store), counted here and reported by status/verify. */
  damaged = 0
  /** While restore replays the log the records are on disk already: nothing goes out. */
  replaying = false

  constructor(private readonly volume: VolumeName, private readonly port: PastStore, private readonly baseEpoch: Epoch = 0) {}

  get logLength(): number {
    return this.length
  }

  /** The replica starts at `epoch` from a tree image (spec/checkpoint.md): the log lines up to it
   *  are in the store already. */
  startAt(epoch: Epoch): void {
    this.length = epoch - this.baseEpoch
  }

  putVersion(ino: number, v: InodeVersion, prev?: InodeVersion): void {
    // The initial tree (epoch = baseEpoch: createFs's root) comes with the state, not from an op.
    if (v.epoch === this.baseEpoch) {
      this.base.set(ino, v)
      return
    }
    const had = this.opVersions.get(ino)
    this.opVersions.set(ino, { prev: had !== undefined ? had.prev : prev, v })
  }

  putEvent(dir: number, name: string, e: EntryEvent): void {
    if (e.epoch === this.baseEpoch) {
      this.baseEvents.set(`${dir}/${name}`, e)
      return
    }
    this.opEvents.set(`${dir}/${name}`, [dir, name, e.ino])
  }

  putLogLine(line: LogLine): void {
    const epoch = this.baseEpoch + this.length + 1
    this.length++
    const gathered = this.opVersions
    const gatheredEvents = this.opEvents
    this.opVersions = new Map()
    this.opEvents = new Map()
    // A replayed op's record is in the store already: nothing to encode.
    if (this.replaying) return
    const body = pastBody(gathered, gatheredEvents, line)
    const [versions, events] = body
    const inos = [...gathered.keys()]
    this.pending.push(pastRecord(this.volume, epoch, versions, events, body[2]))
    this.step.set(epoch, body)
    for (const ino of inos) push(this.stepInos, ino, epoch)
    for (const [d, n] of events as [number, string, number][]) {
      push(this.stepNames, `${d}/${n}`, epoch)
      let s = this.stepDirNames.get(d)
      if (s === undefined) this.stepDirNames.set(d, (s = new Set()))
      s.add(n)
    }
  }

  /** The records of the ops applied since the last drain, for the step's persist effect. */
  drain(): Value[] {
    return this.pending.splice(0)
  }

  endStep(): void {
    // Only maps that hold something: V8's Map.clear allocates a fresh table even for an empty
    // map, and this runs for every volume at the end of every step.
    if (this.step.size > 0) this.step.clear()
    if (this.stepInos.size > 0) this.stepInos.clear()
    if (this.stepNames.size > 0) this.stepNames.clear()
    if (this.stepDirNames.size > 0) this.stepDirNames.clear()
  }

  /** Whether anything of this step is still held (STORE-6: nothing between steps). */
  get holdsStep(): boolean {
    return this.step.size > 0 || this.pending.length > 0
  }

  /** The body of the record of `epoch` as stored (or of this step), undefined when there is
   *  none or it is malformed (counted in `damaged`). */
  recordBody(epoch: Epoch): Value[] | undefined {
    return this.body(epoch)
  }

  private body(epoch: Epoch): Value[] | undefined {
    const b = this.step.get(epoch) ?? this.port.pastRecord(this.volume, epoch)
    if (!Array.isArray(b) || b.length !== 3 || !Array.isArray(b[0]) || !Array.isArray(b[1])) {
      if (b !== undefined) this.damaged++
      return undefined
    }
    return b as Value[]
  }

  versions(ino: number): readonly InodeVersion[] {
    const epochs = [...this.port.versionEpochs(this.volume, ino), ...(this.stepInos.get(ino) ?? [])]
    const first = this.base.get(ino)
    const out: InodeVersion[] = first !== undefined ? [first] : []
    for (const epoch of epochs) {
      const b = this.body(epoch)
      const x = b === undefined ? undefined : (b[0] as Value[]).find((y) => Array.isArray(y) && y[0] === ino)
      const v = x === undefined ? undefined : decodeVersion((x as Value[])[1]!, epoch, out[out.length - 1])
      if (v === undefined) {
        this.damaged++
        break
      }
      out.push(v)
    }
    return out
  }

  existedBy(ino: number, epoch: Epoch): boolean {
    if (this.base.has(ino)) return true
    const first = this.port.versionEpochs(this.volume, ino)[0] ?? this.stepInos.get(ino)?.[0]
    return first !== undefined ? first <= epoch : this.opVersions.has(ino) && epoch > this.baseEpoch + this.length
  }

  everInodes(): Iterable<number> {
    // From the records themselves, epoch by epoch (the port indexes by inode, not the set).
    const out = new Set<number>(this.base.keys())
    for (let epoch = this.baseEpoch + 1; epoch <= this.baseEpoch + this.length; epoch++) {
      for (const x of this.body(epoch)?.[0] as Value[] | undefined ?? []) if (Array.isArray(x) && typeof x[0] === 'number') out.add(x[0])
    }
    for (const ino of this.opVersions.keys()) out.add(ino)
    return out
  }

  nameHistory(dir: number, name: string): readonly EntryEvent[] | undefined {
    const epochs = [...this.port.nameEpochs(this.volume, dir, name), ...(this.stepNames.get(`${dir}/${name}`) ?? [])]
    const first = this.baseEvents.get(`${dir}/${name}`)
    if (epochs.length === 0 && first === undefined) return undefined
    const out: EntryEvent[] = first !== undefined ? [first] : []
    for (const epoch of epochs) {
      const b = this.body(epoch)
      const x = b === undefined ? undefined : (b[1] as Value[]).find((y) => Array.isArray(y) && y[0] === dir && y[1] === name)
      if (x === undefined) {
        this.damaged++
        break
      }
      out.push({ epoch, ino: (x as Value[])[2] as number })
    }
    return out
  }

  *names(dir: number): IterableIterator<[string, readonly EntryEvent[]]> {
    const all = new Set([...this.port.dirNames(this.volume, dir), ...(this.stepDirNames.get(dir) ?? [])])
    for (const k of this.baseEvents.keys()) if (k.startsWith(`${dir}/`)) all.add(k.slice(`${dir}/`.length))
    for (const name of all) {
      const h = this.nameHistory(dir, name)
      if (h !== undefined) yield [name, h]
    }
  }

  logLine(epoch: Epoch): LogLine | undefined {
    if (epoch <= this.baseEpoch || epoch > this.baseEpoch + this.length) return undefined
    const b = this.body(epoch)
    const line = b === undefined ? undefined : decodeLine(b[2]!)
    if (line === undefined) this.damaged++
    return line
  }
}

function push<K>(m: Map<K, Epoch[]>, k: K, e: Epoch): void {
  const l = m.get(k)
  if (l === undefined) m.set(k, [e])
  else if (l[l.length - 1] !== e) l.push(e)
}

/** The past's part of the storage port in memory, filled from performed `past` records
 *  (`absorb`): the simulator's and the tests'. */
export class MemoryPastStore implements PastStore {
  private readonly bodies = new Map<string, Value>()
  private readonly byIno = new Map<string, Epoch[]>()
  private readonly byName = new Map<string, Epoch[]>()
  private readonly dirs = new Map<string, Set<string>>()

  /** Replaces or removes a record's body, indexes unchanged (tests of damage). */
  overwrite(volume: VolumeName, epoch: Epoch, body: Value | undefined): void {
    if (body === undefined) this.bodies.delete(`${volume}/${epoch}`)
    else this.bodies.set(`${volume}/${epoch}`, body)
  }

  absorb(records: readonly Value[]): void {
    for (const r of records) {
      const p = parsePastRecord(r)
      if (p === undefined) continue
      const v = p.volume
      if (this.bodies.has(`${v}/${p.epoch}`)) continue
      this.bodies.set(`${v}/${p.epoch}`, p.body)
      for (const ino of p.inos) push(this.byIno, `${v}/${ino}`, p.epoch)
      for (const [d, n] of p.names) {
        push(this.byName, `${v}/${d}/${n}`, p.epoch)
        let s = this.dirs.get(`${v}/${d}`)
        if (s === undefined) this.dirs.set(`${v}/${d}`, (s = new Set()))
        s.add(n)
      }
    }
  }
  /** How many epochs' records it holds. */
  get size(): number {
    return this.bodies.size
  }
  /** Drops what these records put in (the host's copy elsewhere is durable now). */
  forget(records: readonly Value[]): void {
    for (const r of records) {
      const p = parsePastRecord(r)
      if (p === undefined || !this.bodies.delete(`${p.volume}/${p.epoch}`)) continue
      const v = p.volume
      const drop = (m: Map<string, Epoch[]>, k: string): boolean => {
        const l = m.get(k)?.filter((e) => e !== p.epoch)
        if (l === undefined || l.length === 0) {
          m.delete(k)
          return true
        }
        m.set(k, l)
        return false
      }
      for (const ino of p.inos) drop(this.byIno, `${v}/${ino}`)
      for (const [d, n] of p.names) if (drop(this.byName, `${v}/${d}/${n}`)) this.dirs.get(`${v}/${d}`)?.delete(n)
    }
  }
  clear(): void {
    this.bodies.clear()
    this.byIno.clear()
    this.byName.clear()
    this.dirs.clear()
  }
  pastRecord(volume: VolumeName, epoch: Epoch): Value | undefined {
    return this.bodies.get(`${volume}/${epoch}`)
  }
  versionEpochs(volume: VolumeName, ino: number): readonly Epoch[] {
    return this.byIno.get(`${volume}/${ino}`) ?? []
  }
  nameEpochs(volume: VolumeName, dir: number, name: string): readonly Epoch[] {
    return this.byName.get(`${volume}/${dir}/${name}`) ?? []
  }
  dirNames(volume: VolumeName, dir: number): readonly string[] {
    return [...(this.dirs.get(`${volume}/${dir}`) ?? [])]
  }
}
