// The storage port: what the core may read back of what its host persisted (spec/storage.md).
//
// Bulk data does not live in the core's state: content chunks, plain operations and accepted
// ledger entries go out with `persist` effects and are read back through this read-only port, as
// etcd raft's core reads its log through `Storage`. The port's contents are a function of the
// persist effects the host has performed for this node (durable or handed to the disk and not yet
// lost in a crash), so a step stays a function of (state, input, port) and the simulator
// reproduces it exactly.
//
// Two implementations: MemoryStorage here (the simulator, tests, and the model of the spec),
// and runtime/store.ts (level + segment files, bounded caches).
import type { Value } from './codec.ts'
import { toHex } from './bytes.ts'
import type { Entry, Seal } from './ledger/index.ts'
import { decodeEntry, decodeSeal } from './ledger/index.ts'
import { isPid, type ChunkHash, type Epoch, type ObfHash, type Pid, type Seq, type VolumeName } from './types.ts'
import { MemoryPastStore, type PastStore } from './volume/past.ts'
import type { LogReader } from './volume/log.ts'

/** Read side of a node's stored chunks, per volume. */
export interface ChunkStore {
  /** The bytes of chunk `hash` of `volume` as this node persisted them; undefined when the node
   *  never persisted it, or (runtime) when the stored bytes are unreadable or do not hash to
   *  `hash` — the store counts and reports that, the core treats it as absent. */
  chunk(volume: VolumeName, hash: ChunkHash): Uint8Array | undefined
  /** Whether chunk(volume, hash) would be found, without reading it. */
  hasChunk(volume: VolumeName, hash: ChunkHash): boolean
}

/** A plain operation as persisted: its salt and the exact bytes its obf covers. */
export interface PlainBytes {
  readonly salt: Uint8Array
  readonly opBytes: Uint8Array
}

/** The whole port: chunks, plain operations, the accepted ledger chains and the replicas' past
 *  (core/volume/past.ts PastStore). */
export interface Storage extends ChunkStore, PastStore, LogReader {
  /** The plain operation persisted under `obf` (a `plain` record), or undefined. The bytes are as
   *  stored: the core checks them against `obf` before it uses or serves them. */
  plain(volume: VolumeName, obf: ObfHash): PlainBytes | undefined
  /** The accepted entry of `author`'s chain at `seq`: the last `entry` record persisted for it,
   *  unless a later `cut` record of `author` with base < seq dropped it (a branch switch).
   *  Undefined when there is none; the core re-checks entries it restores or audits. */
  entry(volume: VolumeName, author: Pid, seq: Seq): Entry | undefined
  /** The accepted seal of `author`'s chain at exactly `seq`: the last `seal` record persisted for
   *  it, unless a later `cut` record of `author` with base < seq dropped it. Undefined when there is
   *  none (most seqs have none: one seal per batch). */
  seal(volume: VolumeName, author: Pid, seq: Seq): Seal | undefined
}

/** What an audit read of one stored chunk found. */
export type ChunkAudit =
  | { readonly ok: true; readonly bytes: number }
  /** `actual`: the hash of the bytes found, when they were read but hash to another name. */
  | { readonly ok: false; readonly problem: string; readonly actual?: string }

/** The persisted form of a chunk: `['chunk', volume, hash (32 bytes), bytes]` (spec/storage.md). */
export function chunkRecord(volume: VolumeName, hash: Uint8Array, bytes: Uint8Array): Value {
  return ['chunk', volume, hash, bytes]
}

/** The (volume, hash, bytes) of a chunk record; undefined for any other record. */
export function parseChunkRecord(r: Value): { volume: VolumeName; hash: ChunkHash; bytes: Uint8Array } | undefined {
  if (!Array.isArray(r) || r.length !== 4 || r[0] !== 'chunk') return undefined
  const [, volume, hash, bytes] = r
  if (typeof volume !== 'string' || !(hash instanceof Uint8Array) || hash.length !== 32 || !(bytes instanceof Uint8Array)) return undefined
  return { volume: volume as VolumeName, hash: toHex(hash) as ChunkHash, bytes }
}

/** The persisted form of a plain operation: `['plain', volume, obf (32 bytes), salt, opBytes]`. */
export function plainRecord(volume: VolumeName, obf: Uint8Array, salt: Uint8Array, opBytes: Uint8Array): Value {
  return ['plain', volume, obf, salt, opBytes]
}

/** The (volume, obf, salt, opBytes) of a plain record; undefined for any other record. */
export function parsePlainRecord(r: Value): { volume: VolumeName; obf: ObfHash; plain: PlainBytes } | undefined {
  if (!Array.isArray(r) || r.length !== 5 || r[0] !== 'plain') return undefined
  const [, volume, obf, salt, opBytes] = r
  if (typeof volume !== 'string' || !(obf instanceof Uint8Array) || obf.length !== 32 || !(salt instanceof Uint8Array) || !(opBytes instanceof Uint8Array)) return undefined
  return { volume: volume as VolumeName, obf: toHex(obf) as ObfHash, plain: { salt, opBytes } }
}

/** parseEntryRecord's results by record (a cache: it changes no result, and goes with the record). */
const parsedEntries = new WeakMap<readonly Value[], { volume: VolumeName; entry: Entry }>()

/** The (volume, entry) of an `['entry', volume, entryBytes]` record (spec/fotb.md "Records");
 *  undefined for any other record or bytes that are no entry. */
export function parseEntryRecord(r: Value): { volume: VolumeName; entry: Entry } | undefined {
  if (!Array.isArray(r) || r.length !== 3 || r[0] !== 'entry' || typeof r[1] !== 'string' || !(r[2] instanceof Uint8Array)) return undefined
  // A host parses each entry record it performs several times (stage, write, durable): decode
  // (a strict, re-encoding decode) once per record. Records are never changed once made.
  const known = parsedEntries.get(r)
  if (known !== undefined) return known
  const d = decodeEntry(r[2], { maxEntries: Number.MAX_SAFE_INTEGER, maxPayloadBytes: Number.MAX_SAFE_INTEGER })
  const parsed = d.ok ? { volume: r[1] as VolumeName, entry: d.value } : undefined
  if (parsed !== undefined) parsedEntries.set(r, parsed)
  return parsed
}


/** parseSealRecord's results by record (as parsedEntries). */
const parsedSeals = new WeakMap<readonly Value[], { volume: VolumeName; seal: Seal }>()

/** The (volume, seal) of a `['seal', volume, sealBytes]` record (spec/fotb.md "Records"). */
export function parseSealRecord(r: Value): { volume: VolumeName; seal: Seal } | undefined {
  if (!Array.isArray(r) || r.length !== 3 || r[0] !== 'seal' || typeof r[1] !== 'string' || !(r[2] instanceof Uint8Array)) return undefined
  const known = parsedSeals.get(r)
  if (known !== undefined) return known
  const d = decodeSeal(r[2])
  const parsed = d.ok && d.value.volume === r[1] ? { volume: r[1] as VolumeName, seal: d.value } : undefined
  if (parsed !== undefined) parsedSeals.set(r, parsed)
  return parsed
}

/** The persisted form of a branch switch: `['cut', volume, author (33 bytes), base]` drops the
 *  author's entries and seals above `base`. */
export function cutRecord(volume: VolumeName, author: Uint8Array, base: Seq): Value {
  return ['cut', volume, author, base]
}

export function parseCutRecord(r: Value): { volume: VolumeName; author: Pid; base: Seq } | undefined {
  if (!Array.isArray(r) || r.length !== 4 || r[0] !== 'cut' || typeof r[1] !== 'string' || !(r[2] instanceof Uint8Array) || r[2].length !== 33) return undefined
  const author = toHex(r[2])
  const base = r[3]
  if (!isPid(author) || typeof base !== 'number' || !Number.isSafeInteger(base) || base < 0) return undefined
  return { volume: r[1] as VolumeName, author, base }
}

/** The map under `key` in a map of maps, made when missing. */
function inner<K, K2, V>(outer: Map<K, Map<K2, V>>, key: K): Map<K2, V> {
  let m = outer.get(key)
  if (m === undefined) outer.set(key, (m = new Map()))
  return m
}

/** The port in memory, filled from the persist effects a host performs (`absorb`). The simulator
 *  keeps one per node and rebuilds it from the durable records at restart. */
export class MemoryStorage implements Storage {
  private readonly byKey = new Map<string, Uint8Array>()
  // Plain ops, entries and seals are keyed by volume first, then by obf or author: a lookup is
  // two Map reads of strings the caller holds (their hashes cached), not a new 'volume/...' key
  // string built and hashed at every read (the delivery checks and the apply path read them at
  // every step).
  /** volume -> obf -> the plain operation. */
  private readonly plains = new Map<VolumeName, Map<ObfHash, PlainBytes>>()
  /** volume -> author -> seq -> the accepted entry. */
  private readonly chains = new Map<VolumeName, Map<Pid, Map<Seq, Entry>>>()
  private readonly past = new MemoryPastStore()
  /** volume -> author -> seq -> the accepted seal. */
  private readonly seals = new Map<VolumeName, Map<Pid, Map<Seq, Seal>>>()
  /** 'volume/epoch' -> the log record. */
  private readonly logs = new Map<string, Value>()

  /** `hash` (e.g. chunkHash with a Crypto) lets auditChunk check bytes; without it only presence. */
  constructor(private readonly hash?: (bytes: Uint8Array) => string) {}

  chunk(volume: VolumeName, hash: ChunkHash): Uint8Array | undefined {
    return this.byKey.get(`${volume}/${hash}`)
  }
  hasChunk(volume: VolumeName, hash: ChunkHash): boolean {
    return this.byKey.has(`${volume}/${hash}`)
  }
  plain(volume: VolumeName, obf: ObfHash): PlainBytes | undefined {
    return this.plains.get(volume)?.get(obf)
  }
  entry(volume: VolumeName, author: Pid, seq: Seq): Entry | undefined {
    return this.chains.get(volume)?.get(author)?.get(seq)
  }
  seal(volume: VolumeName, author: Pid, seq: Seq): Seal | undefined {
    return this.seals.get(volume)?.get(author)?.get(seq)
  }
  logRecord(volume: VolumeName, epoch: Epoch): Value | undefined {
    return this.logs.get(`${volume}/${epoch}`)
  }
  chunkStats(volume: VolumeName): { chunks: number; bytes: number } {
    let chunks = 0
    let bytes = 0
    for (const [, b] of this.entries(volume)) {
      chunks++
      bytes += b.length
    }
    return { chunks, bytes }
  }
  /** How many plain operations of `volume` are stored (status). */
  plainCount(volume: VolumeName): number {
    return this.plains.get(volume)?.size ?? 0
  }
  auditChunk(volume: VolumeName, hash: ChunkHash): ChunkAudit {
    const b = this.chunk(volume, hash)
    if (b === undefined) return { ok: false, problem: 'is missing from the chunk store' }
    const actual = this.hash?.(b)
    if (actual !== undefined && actual !== hash) return { ok: false, problem: 'does not hash to its name (damaged)', actual }
    return { ok: true, bytes: b.length }
  }
  pastRecord(volume: VolumeName, epoch: Epoch): Value | undefined {
    return this.past.pastRecord(volume, epoch)
  }
  versionEpochs(volume: VolumeName, ino: number): readonly Epoch[] {
    return this.past.versionEpochs(volume, ino)
  }
  nameEpochs(volume: VolumeName, dir: number, name: string): readonly Epoch[] {
    return this.past.nameEpochs(volume, dir, name)
  }
  dirNames(volume: VolumeName, dir: number): readonly string[] {
    return this.past.dirNames(volume, dir)
  }
  /** Takes the chunk, plain, entry, seal, log, cut and past records of one performed persist effect, in
   *  order (a cut drops what an earlier record of the same effect put above its base); others
   *  are ignored. */
  absorb(records: readonly Value[]): void {
    this.past.absorb(records)
    for (const r of records) {
      if (!Array.isArray(r)) continue
      switch (r[0]) {
        case 'chunk': {
          const c = parseChunkRecord(r)
          if (c === undefined) continue
          const key = `${c.volume}/${c.hash}`
          if (!this.byKey.has(key)) this.byKey.set(key, c.bytes)
          break
        }
        case 'plain': {
          const p = parsePlainRecord(r)
          if (p !== undefined) inner(this.plains, p.volume).set(p.obf, p.plain)
          break
        }
        case 'entry': {
          const e = parseEntryRecord(r)
          if (e === undefined) continue
          inner(inner(this.chains, e.volume), e.entry.author).set(e.entry.seq, e.entry)
          break
        }
        case 'seal': {
          const s = parseSealRecord(r)
          if (s === undefined) continue
          inner(inner(this.seals, s.volume), s.seal.author).set(s.seal.seq, s.seal)
          break
        }
        case 'log':
          if (typeof r[1] === 'string' && typeof r[2] === 'number') this.logs.set(`${r[1]}/${r[2]}`, r)
          break
        case 'cut': {
          const c = parseCutRecord(r)
          const chain = c === undefined ? undefined : this.chains.get(c.volume)?.get(c.author)
          if (chain) for (const seq of [...chain.keys()]) if (seq > c!.base) chain.delete(seq)
          const sealed = c === undefined ? undefined : this.seals.get(c.volume)?.get(c.author)
          if (sealed) for (const seq of [...sealed.keys()]) if (seq > c!.base) sealed.delete(seq)
          break
        }
      }
    }
  }
  /** Every stored chunk of `volume`, hash order (audits, tests). */
  entries(volume: VolumeName): [ChunkHash, Uint8Array][] {
    const prefix = `${volume}/`
    const out: [ChunkHash, Uint8Array][] = []
    for (const [k, b] of this.byKey) if (k.startsWith(prefix)) out.push([k.slice(prefix.length) as ChunkHash, b])
    return out.sort(([a], [b]) => (a < b ? -1 : 1))
  }
  /** Replaces a stored chunk's bytes (tests of damage: the core must notice, never trust it). */
  overwrite(volume: VolumeName, hash: ChunkHash, bytes: Uint8Array | undefined): void {
    const key = `${volume}/${hash}`
    if (bytes === undefined) this.byKey.delete(key)
    else this.byKey.set(key, bytes)
  }
  /** Replaces (or with undefined removes) a stored plain operation (tests of damage). */
  overwritePlain(volume: VolumeName, obf: ObfHash, plain: PlainBytes | undefined): void {
    if (plain === undefined) this.plains.get(volume)?.delete(obf)
    else inner(this.plains, volume).set(obf, plain)
  }
  /** Replaces (or with undefined removes) the body of a stored `past` record (tests of damage:
   *  verify compares every epoch's record with its replay's). */
  overwritePast(volume: VolumeName, epoch: Epoch, body: Value | undefined): void {
    this.past.overwrite(volume, epoch, body)
  }
  /** Replaces a stored entry (tests of damage: restore and verify re-check every entry). */
  overwriteEntry(volume: VolumeName, author: Pid, seq: Seq, entry: Entry): void {
    inner(inner(this.chains, volume), author).set(seq, entry)
  }
  /** Forgets everything (a crash of the host's memory; the simulator re-absorbs the disk). */
  clear(): void {
    this.byKey.clear()
    this.past.clear()
    this.plains.clear()
    this.chains.clear()
    this.logs.clear()
    this.seals.clear()
  }
}
