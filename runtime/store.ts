// The durable record store of a node: what the core's `persist` effects ask to remember, on
// `level` (LevelDB), and the storage port the core reads its chunks, plain operations and ledger
// entries through (spec/storage.md).
// The host appends one step's records with `append` and sends nothing of that step before the
// promise resolves (core/effects.ts, "persist before send"); at restart it feeds
// `loadAll().records` to `restoreNode`.
//
// On disk (format 5, spec/runtime.md "Record store"), keys by prefix:
//   m:format          'paciofs-store/5' (a '/3' or '/4' store is made '/5' at open); a store
//                     without it, or with another value, is refused
//   b:<16 digits>     one step's records: the batch's sequence number 1, 2, 3 ..., zero-padded
//                     so that level's byte order of keys is the order of appends;
//                     value = encode([sha256(body), body]), body = encode([seq, records])
//   c:<volume>:<hash> the chunk index: encode(['inline', bytes]) for a chunk under
//                     CHUNK_INLINE_MAX bytes, encode(['seg', segment, offset, length]) otherwise
//   p:<volume>:<obf>  a plain operation: encode([salt, opBytes])
//   e:<volume>:<author>:<16 digits seq>  an accepted ledger entry: its canonical entry bytes
//   g:<volume>:<16 digits epoch>  the volume's log record of that epoch: encode(record)
//   k:<volume>        encode(batch number) of the batch with the volume's newest checkpoint record
//   v:<volume>        encode(genesis record) (also in its batch body): a restart from the tail
//                     reads these and the batches from the lowest k: on (loadAll({ tail: true }))
//   q:<volume>:<author>:<16 digits seq>  an accepted seal: its canonical seal bytes (also in its
//                     batch body); a cut deletes the q: keys above its base with the e: keys
//   t:<volume>:<16 digits ino> | t:<volume>:epoch  the fold of the volume's tree images
//                     (spec/checkpoint.md): each inode's encoding (see imageOps), the newest image's epoch
//   s:<volume>        encode([chunks, bytes, plainOps]): what the volume's chunks count and weigh,
//                     and how many plain operations it holds
// One append = one atomic level batch with `sync: true`: the batch, its chunks' index entries, its
// plain operations and entries, and the volume counters together. A batch's `plain`, `entry` and `log`
// records live only under their p:, e: and g: keys (the batch body keeps its other records); a `cut`
// record stays in the body (restore reads the seals it drops) and deletes, in the same level
// batch, the author's e: keys above its base. Why the sequence number is inside the body too: a value moved or
// copied to another key fails the key check, so a reordered or duplicated batch is caught like a
// flipped bit. Why no torn-write handling (unlike sim/cluster.ts readBatch): a level batch is
// all-or-nothing, so a damaged or missing batch is corruption (bit rot, tampering), never a
// crash's leftover. LevelDB drops a damaged NEWEST log record without a word (no gap shows), so
// the newest batch's number and hash also go to the tail witness file (runtime/tail-witness.ts,
// RT-9), written after the level batch and before the append resolves.
//
// A full disk is not a failure (RT-10): the append rejects with STORE_FULL, nothing of the batch
// is referenced (its segment bytes are cut off again once it is known to be absent), and
// `retryFull` writes the same batch under the same number later (after reopening LevelDB, whose
// error after a failed log write is sticky). Any other write error stops the store for good.
//
// Chunk bytes never stay in memory beyond a bounded cache. In a batch a chunk record
// ['chunk', volume, hash, bytes] is kept as a reference: ['chunk~', volume, hash, length] (its
// bytes are in the index entry) or ['chunk@', volume, hash, segment, offset, length]. Chunks of
// CHUNK_INLINE_MAX bytes or more go to a segment file in `<dir>-chunks/` (`seg-000001`, ...):
// LevelDB writes a value several times (log, then each compaction), which capped sequential
// writes at ~30 MB/s. Segment bytes are made durable (fdatasync) BEFORE the level batch that
// refers to them; a crash in between leaves unreferenced bytes in the segment: space, never state.
//
// The port (`chunk`, `hasChunk`, `plain`, `entry`, the past) reads synchronously (the core is
// synchronous): what the host has staged but not yet written comes from memory, the rest from
// level (getSync) and the segments (readSync). Chunks are checked against their hash before they
// are handed out or cached; plain operations and entries are checked by the core (their obf,
// their seal). A sequential read of a file asks ahead (`prefetch`, from runtime/backend.ts): a
// worker thread reads and checks those chunks (runtime/readahead.ts) and chunk() takes them from there.
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { mkdir, open, readdir, statfs, type FileHandle } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { Level } from 'level'
import { decode, decodeUnchecked, encode, encodeArrayOfEncoded, tryDecode, type Value } from '../core/codec.ts'
import { bytesEqual, fromHex } from '../core/bytes.ts'
import { parseChunkRecord, parseCutRecord, parseEntryRecord, parsePlainRecord, parseSealRecord, type ChunkAudit, type PlainBytes, type Storage } from '../core/storage.ts'
import { decodeSeal, decodeStoredEntry, type Entry, type Seal } from '../core/ledger/index.ts'
import { assert, type ChunkHash, type Epoch, type ObfHash, type Pid, type Seq, type VolumeName } from '../core/types.ts'
import { PastIndex } from './past-index.ts'
import { CodedError } from './errors.ts'
import { checkTail, readWitness, witnessPath, WitnessFile, type WitnessRead } from './tail-witness.ts'
import { ReadAhead, READAHEAD_SPAN_BYTES_MAX, type ReadAheadCounters, type SpanChunk } from './readahead.ts'

/** Chunks at least this long go to a segment file instead of level. */
export const CHUNK_INLINE_MAX = 16 * 1024
/** A segment file is closed for appends beyond this size and the next one begun. */
export const SEGMENT_BYTES_MAX = 1024 * 1024 * 1024
/** Verified chunk bytes kept in memory for reads (least recently used out first). */
export const CHUNK_CACHE_BYTES_MAX = 64 * 1024 * 1024
/** Decoded plain operations and entries kept in memory for reads (least recently used out first). */
export const RECORD_CACHE_BYTES_MAX = 16 * 1024 * 1024
/** The store format this version writes. Format 3 added the tail witness file
 *  (runtime/tail-witness.ts): a format-2 store has none, and its newest batch cannot be vouched
 *  for. Format 4 adds the tree images' fold (t: keys) and writes the past index's pages only every
 *  FLUSH_EPOCHS records (an h:i: mark says how far they go). */
export const STORE_FORMAT = 'paciofs-store/5'
/** Read too, and made format 4 at open: every past record of a format-3 store is in its pages
 *  (so each volume is marked up to its newest record), and it has no image (a full replay). */
export const STORE_FORMAT_3 = 'paciofs-store/3'
/** Format 4 kept the log records and seals in the batch bodies only; made format 5 at open (indexLogsAndSeals). */
export const STORE_FORMAT_4 = 'paciofs-store/4'

export function segmentDir(dir: string): string {
  return `${dir}-chunks`
}
export function segmentName(n: number): string {
  return `seg-${String(n).padStart(6, '0')}`
}

/** Digits of a batch number: Number.MAX_SAFE_INTEGER has 16. */
const KEY_DIGITS = 16
const BATCH_PREFIX = 'b:'
const BATCH_KEY = /^b:[0-9]{16}$/
const FORMAT_KEY = 'm:format'
/** The key ranges between and around the format's prefixes: empty in a store this code wrote. */
const FOREIGN_RANGES: readonly { gte?: string; lt?: string }[] = [
  { lt: 'b:' }, { gte: 'b;', lt: 'c:' }, { gte: 'c;', lt: 'e:' }, { gte: 'e;', lt: 'g:' }, { gte: 'g;', lt: 'h:' }, { gte: 'h;', lt: 'k:' }, { gte: 'k;', lt: 'm:' }, { gte: 'm;', lt: 'p:' }, { gte: 'p;', lt: 'q:' }, { gte: 'q;', lt: 's:' }, { gte: 's;', lt: 't:' }, { gte: 't;', lt: 'v:' }, { gte: 'v;' },
]
const chunkKey = (volume: string, hash: string): string => `c:${volume}:${hash}`
const plainKey = (volume: string, obf: string): string => `p:${volume}:${obf}`
/** Volume names have no ':' (core/types.ts isVolumeName), so a chain's keys share this prefix. */
const chainPrefix = (volume: string, author: string): string => `e:${volume}:${author}:`
const entryKey = (volume: string, author: string, seq: number): string => chainPrefix(volume, author) + String(seq).padStart(KEY_DIGITS, '0')
/** The batch holding the volume's newest checkpoint record: a restart from the tail reads from
 *  there (spec/checkpoint.md "Restart from the tail"). */
const checkpointBatchKey = (volume: string): string => `k:${volume}`
/** The volume's genesis record (also in its batch body): a restart from the tail reads no batch
 *  before the checkpoints. */
const genesisKey = (volume: string): string => `v:${volume}`
/** A chain's accepted seals, by seq (Storage.seal): `q:` keys beside the `e:` ones, cut with them. */
const sealPrefix = (volume: string, author: string): string => `q:${volume}:${author}:`
const sealKey = (volume: string, author: string, seq: number): string => sealPrefix(volume, author) + String(seq).padStart(KEY_DIGITS, '0')
const statsKey = (volume: string): string => `s:${volume}`
/** A volume's log record of one epoch (core/volume/log.ts): read back by epoch, not kept in the
 *  batch body. */
const logKey = (volume: string, epoch: number): string => `g:${volume}:${String(epoch).padStart(KEY_DIGITS, '0')}`
/** `['log', volume, epoch, ...]` with a name and an epoch a key can hold; others stay in the body. */
function isLogRecord(r: Value): r is Value[] {
  return Array.isArray(r) && r[0] === 'log' && typeof r[1] === 'string' && typeof r[2] === 'number' && Number.isSafeInteger(r[2]) && r[2] >= 1
}
/** The fold of a volume's tree images (spec/checkpoint.md "Folding"): one key per inode and the
 *  newest image's epoch. An image record is not kept in its batch: its inodes replace the ones
 *  stored, in the same level batch, so the store holds the fold and nothing that grows with it. */
const imageKey = (volume: string): string => `t:${volume}:epoch`
const imageInodeKey = (volume: string, ino: number): string => `t:${volume}:${String(ino).padStart(KEY_DIGITS, '0')}`

/** The level operations that fold an `['image', volume, epoch, [[ino, inode | null], ...]]` record
 *  into the store; undefined for a record of another shape (kept in the batch body then). */
function imageOps(r: Value): ({ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string })[] | undefined {
  if (!Array.isArray(r) || r.length !== 4 || typeof r[1] !== 'string' || typeof r[2] !== 'number' || !Array.isArray(r[3])) return undefined
  const volume = r[1]
  const ops: ({ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string })[] = []
  for (const x of r[3] as Value[]) {
    if (!Array.isArray(x) || x.length !== 2 || typeof x[0] !== 'number' || !Number.isSafeInteger(x[0]) || x[0] < 0) return undefined
    ops.push(x[1] === null ? { type: 'del', key: imageInodeKey(volume, x[0]) } : { type: 'put', key: imageInodeKey(volume, x[0]), value: encode(x[1]!) })
  }
  ops.push({ type: 'put', key: imageKey(volume), value: encode(r[2]) })
  return ops
}

/** Format 3 to 4: a format-3 store wrote every past record's pages with its batch, so each
 *  volume's h:i: mark is its newest h:r: record (runtime/past-index.ts). Keys of a volume's
 *  records all start `h:r:<volume>:` (names have no ':'): `h:r:<volume>;` is past them. */
async function markPastPaged(db: Level<string, Uint8Array>): Promise<void> {
  for (let from = 'h:r:'; ;) {
    const [first] = await db.keys({ gte: from, lt: 'h:r;', limit: 1 }).all()
    if (first === undefined) return
    const colon = first.indexOf(':', 4)
    if (colon < 0) {
      from = `${first}\u0000`
      continue
    }
    const volume = first.slice(4, colon)
    const [last] = await db.keys({ gte: `h:r:${volume}:`, lt: `h:r:${volume};`, reverse: true, limit: 1 }).all()
    const epoch = Number(last!.slice(last!.lastIndexOf(':') + 1))
    if (Number.isSafeInteger(epoch)) await db.put(`h:i:${volume}`, encode(epoch))
    from = `h:r:${volume};`
  }
}

/** Format 4 to 5: every log record of a batch body gets its `g:` key and every seal its `q:` key,
 *  in batch order, a cut deleting the seals above its base (the bodies keep their copies); each
 *  volume its `k:` (the batch of its newest checkpoint) and `v:` (its genesis). One pass over the
 *  batches, once. */
async function indexLogsAndSeals(db: Level<string, Uint8Array>): Promise<void> {
  let chained = db.batch()
  for await (const [key, value] of db.iterator({ gte: BATCH_PREFIX, lt: 'b;' })) {
    if (!BATCH_KEY.test(key)) continue
    const batch = decodeBatch(Number(key.slice(BATCH_PREFIX.length)), value)
    if (!batch.ok) continue // named by loadAll
    for (const r of batch.records) {
      if (isLogRecord(r)) chained.put(logKey(r[1] as string, r[2] as number), encode(r))
      const sl = parseSealRecord(r)
      if (sl !== undefined) chained.put(sealKey(sl.volume, sl.seal.author, sl.seal.seq), (r as Value[])[2] as Uint8Array)
      if (Array.isArray(r) && r[0] === 'checkpoint' && typeof r[1] === 'string') chained.put(checkpointBatchKey(r[1]), encode(Number(key.slice(BATCH_PREFIX.length))))
      if (Array.isArray(r) && r[0] === 'genesis' && typeof r[1] === 'string') chained.put(genesisKey(r[1]), encode(r))
      const c = parseCutRecord(r)
      if (c !== undefined) {
        await chained.write({ sync: false })
        chained = db.batch()
        const prefix = sealPrefix(c.volume, c.author)
        for await (const k of db.keys({ gt: sealKey(c.volume, c.author, c.base), lt: prefix.slice(0, -1) + ';' })) chained.del(k)
      }
    }
    if (chained.length >= 10_000) {
      await chained.write({ sync: false })
      chained = db.batch()
    }
  }
  await chained.write({ sync: true })
}

/** Whether classic-level loaded our build (runtime/native/classic-level.patch): it verifies every
 *  block's checksum on read and opens paranoid, so a damaged table is an error we report; the
 *  stock prebuilt reads unverified blocks and, built with assertions, aborts on a mangled key. */
export function levelVerifiesChecksums(): boolean {
  const binding = createRequire(import.meta.url)('classic-level/binding') as { paciofs_checksums?: number }
  return binding.paciofs_checksums === 1
}

export type StoreErrorCode =
  | 'STORE_LOCKED'
  | 'STORE_OPEN_FAILED'
  | 'STORE_FORMAT'
  | 'STORE_WRITE_FAILED'
  | 'STORE_READ_FAILED'
  | 'STORE_CLOSED'
  /** The disk is full: the batch is not durable, the store is consistent, `retryFull()` writes it
   *  (same batch number) once there is space again. Not fatal. */
  | 'STORE_FULL'
  /** The newest durable batch(es) are gone (RT-9): fail-stop. */
  | 'STORE_TAIL_LOST'
  /** The LevelDB binding loaded is not PacioFS's patched one (runtime/native/README.md). */
  | 'STORE_UNCHECKED_BINDING'

/** Whether an error (or one of its causes) says the disk is full. LevelDB reports it as an
 *  'IO error: ... No space left on device' message, node:fs as code ENOSPC. */
export function isDiskFull(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e !== undefined && e !== null && depth < 8; e = e.cause as typeof e, depth++) {
    if (e.code === 'ENOSPC') return true
    if (typeof e.message === 'string' && /ENOSPC|No space left/i.test(e.message)) return true
  }
  return false
}

/** An error a user can meet: a stable code and a sentence that says what to do. */
export class StoreError extends CodedError<StoreErrorCode> {}

export interface StoreProblem {
  readonly key: string
  readonly problem: string
  /** The store ends before the batch its tail witness vouches for, or the witness is gone (RT-9):
   *  acknowledged writes may be lost; the host stops with STORE_TAIL_LOST. */
  readonly tail?: true
}

/** What the port did, for tests and `status` (a remount must read no chunk it does not need). */
export interface ChunkCounters {
  /** chunk() calls answered */
  reads: number
  /** of them from the cache or from staged bytes */
  cacheHits: number
  /** chunk bytes read from level or a segment */
  bytesRead: number
  /** chunks found damaged or unreadable on disk (each read counts) */
  damaged: number
}

export function batchKey(seq: number): string {
  assert(Number.isSafeInteger(seq) && seq >= 1, 'batch sequence numbers are positive safe integers')
  return BATCH_PREFIX + String(seq).padStart(KEY_DIGITS, '0')
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

export function encodeBatch(seq: number, records: readonly Value[]): Uint8Array {
  const body = encodeArrayOfEncoded([encode(seq), encodeArrayOfEncoded(records.map((r) => (typeof r === 'object' && r !== null && encodedRecords.get(r)) || encode(r)))])
  return encode([sha256(body), body])
}

/** Records `append` encoded to check them, by record: the batch body reuses the bytes. */
const encodedRecords = new WeakMap<object, Uint8Array>()

/** The records of one stored value, or what is wrong with it. */
export function decodeBatch(seq: number, value: Uint8Array): { ok: true; records: Value[] } | { ok: false; problem: string } {
  let outer: Value
  try {
    outer = decode(value)
  } catch (err) {
    return { ok: false, problem: `the stored value is not canonical CBOR (${(err as Error).message})` }
  }
  if (!Array.isArray(outer) || outer.length !== 2 || !(outer[0] instanceof Uint8Array) || !(outer[1] instanceof Uint8Array)) {
    return { ok: false, problem: 'the stored value is not [checksum, body]' }
  }
  const [sum, body] = outer as [Uint8Array, Uint8Array]
  if (!bytesEqual(sha256(body), sum)) return { ok: false, problem: 'the SHA-256 checksum does not match the body' }
  // The checksum vouches for the body's bytes as written (canonical, by encodeBatch): decoding them
  // again without the canonical re-encoding is ~5 % of a start after 70k ops.
  let inner: Value
  try {
    inner = decodeUnchecked(body)
  } catch (err) {
    return { ok: false, problem: `the body is not CBOR (${(err as Error).message})` }
  }
  if (!Array.isArray(inner) || inner.length !== 2 || !Array.isArray(inner[1])) return { ok: false, problem: 'the body is not [seq, records]' }
  if (inner[0] !== seq) return { ok: false, problem: `the body belongs to batch ${String(inner[0])}, not to this key` }
  return { ok: true, records: inner[1] as Value[] }
}

interface SegmentMark {
  readonly n: number
  readonly size: number
}

type StoredRead = { ok: true; bytes: Uint8Array } | { ok: false; absent: boolean; problem: string; actual?: string }

type IndexEntry = { kind: 'inline'; bytes: Uint8Array } | { kind: 'seg'; n: number; offset: number; length: number }

function parseIndexEntry(value: Uint8Array): IndexEntry | undefined {
  const d = tryDecode(value)
  if (!d.ok || !Array.isArray(d.value)) return undefined
  const v = d.value
  if (v[0] === 'inline' && v.length === 2 && v[1] instanceof Uint8Array) return { kind: 'inline', bytes: v[1] }
  if (v[0] === 'seg' && v.length === 4 && [v[1], v[2], v[3]].every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    return { kind: 'seg', n: v[1] as number, offset: v[2] as number, length: v[3] as number }
  }
  return undefined
}

/** Chunk count and bytes of one volume. */
export interface VolumeChunkStats {
  chunks: number
  bytes: number
}

/** What the port did for plain operations and entries (tests, status). */
export interface RecordCounters {
  /** plain() and entry() calls answered */
  reads: number
  /** of them read from level (not staged, not cached) */
  diskReads: number
  /** stored values that did not decode (each read counts) */
  damaged: number
}

/** A cut staged and not yet durable: the author's durable entries above `base` read as absent. */
interface StagedCut {
  readonly chain: string
  readonly base: Seq
  /** The cut record itself: the batch holding it (by identity) lifts it once durable. */
  readonly rec: Value
}

export class RecordStore implements Storage {
  private readonly db: Level<string, Uint8Array>
  private readonly dir: string
  /** Sequence number of the last batch written (0: none). */
  private lastSeq: number
  /** Appends run one after another, so that batch n is durable before batch n+1 is written. */
  private tail: Promise<void> = Promise.resolve()
  /** Set when a write failed: whether it reached the disk is unknown, so the store takes no more. */
  private failed: StoreError | undefined
  private closed = false
  /** The segment appended to, opened on the first large chunk. */
  private segment: { n: number; handle: FileHandle; size: number } | undefined
  /** Chunks staged by the host (persist effects performed) and not yet durable: 'volume/hash'. */
  private readonly staged = new Map<string, Uint8Array>()
  /** Verified chunk bytes, least recently used first. */
  private readonly cache = new Map<string, Uint8Array>()
  private cacheBytes = 0
  /** The buffer auditChunk reads segments into (readSegmentSync). */
  private scratch = new Uint8Array(0)
  /** Segment file descriptors for synchronous reads. */
  private readonly readFds = new Map<number, number | null>()
  private readonly stats: Map<string, VolumeChunkStats & { plainOps: number }>
  /** The replicas' past (h: keys, runtime/past-index.ts), read by the core's port. */
  private readonly pastIndex = new PastIndex({
    getSync: (key) => this.db.getSync(key),
    scan: (gte, lt) => this.db.iterator({ gte, lt }),
  })
  private readonly pastPort = this.pastIndex.asPort()
  readonly counters: ChunkCounters = { reads: 0, cacheHits: 0, bytesRead: 0, damaged: 0 }
  /** Plain operations staged and not yet durable: 'volume/obf'. */
  private readonly stagedPlain = new Map<string, PlainBytes>()
  /** 'volume/epoch' -> a log record staged and not yet durable. */
  private readonly stagedLogs = new Map<string, Value>()
  /** Entries staged and not yet durable: the chain's key prefix -> seq -> the entry and its record
   *  (by identity: the batch holding that record unstages it once durable). */
  private readonly stagedEntries = new Map<string, Map<Seq, { entry: Entry; rec: Value }>>()
  /** Cuts staged and not yet durable, in staging order. */
  private readonly stagedCuts: StagedCut[] = []
  /** e:-chain prefix -> seq -> a seal staged and not yet durable (cut like the entries). */
  private readonly stagedSeals = new Map<string, Map<Seq, { seal: Seal; rec: Value }>>()
  /** Decoded plain operations and entries by level key, least recently used first. */
  private readonly recordCache = new Map<string, { value: PlainBytes | Entry; bytes: number }>()
  private recordCacheBytes = 0
  readonly recordCounters: RecordCounters = { reads: 0, diskReads: 0, damaged: 0 }
  /** Sequential reads' chunks, read and hash-checked by a worker (runtime/readahead.ts); made on
   *  the first `prefetch`. */
  private readAhead: ReadAhead | undefined
  /** Set when read-ahead could not be used (no worker): not tried again. */
  private readAheadOff = false


  /** The tail witness, written after every batch (RT-9); undefined when the file is missing from
   *  a store that holds batches (loadAll reports it and the host refuses to start). */
  private witness: WitnessFile | undefined
  /** What the witness said at open; loadAll checks the store against it. */
  private readonly witnessAtOpen: WitnessRead
  /** A batch that met a full disk: not durable; `retryFull` writes it again with its number.
   *  `levelTried`: level's batch write was attempted (and failed), so LevelDB may refuse every
   *  further write until it is reopened, and the record may or may not be in its log. */
  private full: { seq: number; records: readonly Value[]; levelTried: boolean; mark: SegmentMark | undefined } | undefined
  /** Where the segment ended before the batch being written (to cut a failed attempt's bytes). */
  private mark: SegmentMark | undefined
  /** The database is closed for a moment (reopened after a full disk): reads answer absent. */
  private reopening = false

  private constructor(db: Level<string, Uint8Array>, dir: string, lastSeq: number, stats: Map<string, VolumeChunkStats & { plainOps: number }>, witness: WitnessFile | undefined, witnessAtOpen: WitnessRead) {
    this.db = db
    this.dir = dir
    this.lastSeq = lastSeq
    this.stats = stats
    this.witness = witness
    this.witnessAtOpen = witnessAtOpen
  }

  /** Opens (creating if needed) the store in `dir`. Throws StoreError STORE_LOCKED,
   *  STORE_OPEN_FAILED, or STORE_FORMAT (a store written by another version). */
  static async open(dir: string): Promise<RecordStore> {
    if (!levelVerifiesChecksums()) {
      throw new StoreError('STORE_UNCHECKED_BINDING', `The LevelDB binding loaded is the stock one, which does not verify block checksums and aborts the process on some damaged files; build PacioFS's patched binding with \`npm run build:native\` (runtime/native/README.md), then start again.`)
    }
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      await db.open()
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new StoreError('STORE_LOCKED', `The store in ${dir} is in use by another paciofs process (or another store object in this one); stop that process, or give this node a data directory of its own.`, err)
      }
      throw new StoreError('STORE_OPEN_FAILED', `Cannot open the store in ${dir} (${cause?.message ?? (err as Error).message}); check that the directory exists or can be created and is writable by this user.`, err)
    }
    let lastSeq = 0
    const stats = new Map<string, VolumeChunkStats & { plainOps: number }>()
    let witness: WitnessFile | undefined
    let witnessAtOpen: WitnessRead
    try {
      const format = await db.get(FORMAT_KEY)
      const [anyKey] = await db.keys({ limit: 1 }).all()
      if (format === undefined && anyKey === undefined) {
        // The witness first: a crash before the format key leaves an empty store, made anew.
        witness = await WitnessFile.open(dir, true)
        witnessAtOpen = { ok: true, witness: { seq: 0, hash: new Uint8Array(32) } }
        await db.put(FORMAT_KEY, new TextEncoder().encode(STORE_FORMAT), { sync: true })
      } else if (format !== undefined && [STORE_FORMAT_3, STORE_FORMAT_4].includes(new TextDecoder().decode(format))) {
        if (new TextDecoder().decode(format) === STORE_FORMAT_3) await markPastPaged(db)
        await indexLogsAndSeals(db)
        await db.put(FORMAT_KEY, new TextEncoder().encode(STORE_FORMAT), { sync: true })
      } else if (format === undefined || new TextDecoder().decode(format) !== STORE_FORMAT) {
        const found = format === undefined ? 'format 1 (before content moved out of memory)' : JSON.stringify(new TextDecoder().decode(format))
        await db.close().catch(() => undefined)
        throw new StoreError('STORE_FORMAT', `The store in ${dir} was written by another version of paciofs (${found}); this version reads only ${STORE_FORMAT_3}, ${STORE_FORMAT_4} and ${STORE_FORMAT}. Open it with the version that wrote it, or give this node a new data directory and let it join the volume again to fetch everything from its peers.`)
      }
      const [last] = await db.keys({ gte: BATCH_PREFIX, lt: 'b;', reverse: true, limit: 1 }).all()
      // A key that is not a sequence number is reported by loadAll; numbering continues after the
      // highest well-formed key so that no append overwrites a stored batch.
      if (last !== undefined) lastSeq = BATCH_KEY.test(last) ? Number(last.slice(BATCH_PREFIX.length)) : await highestSeq(db)
      witnessAtOpen ??= readWitness(dir)
      if (witness === undefined) {
        // A store without batches lost nothing: a missing witness (a crash right after the format
        // key) is made anew. With batches it is damage, and loadAll says so.
        if (!witnessAtOpen.ok && witnessAtOpen.missing && lastSeq === 0) {
          witness = await WitnessFile.open(dir, true)
          witnessAtOpen = { ok: true, witness: { seq: 0, hash: new Uint8Array(32) } }
        } else if (witnessAtOpen.ok || !witnessAtOpen.missing) {
          witness = await WitnessFile.open(dir, false).catch(() => undefined)
        }
      }
      // Never number a new batch at or below one the witness vouches for (were the store to run
      // on a lost tail, which the host refuses).
      if (witnessAtOpen.ok) lastSeq = Math.max(lastSeq, witnessAtOpen.witness.seq)
      for await (const [key, value] of db.iterator({ gte: 's:', lt: 's;' })) {
        const d = tryDecode(value)
        if (d.ok && Array.isArray(d.value) && typeof d.value[0] === 'number' && typeof d.value[1] === 'number' && typeof d.value[2] === 'number') {
          stats.set(key.slice(2), { chunks: d.value[0], bytes: d.value[1], plainOps: d.value[2] })
        }
      }
    } catch (err) {
      await db.close().catch(() => undefined)
      if (err instanceof StoreError) throw err
      throw new StoreError('STORE_OPEN_FAILED', `Cannot read the store in ${dir} (${(err as Error).message}); the database may be damaged, keep a copy of the directory and restore the node from its peers.`, err)
    }
    const store = new RecordStore(db, dir, lastSeq, stats, witness, witnessAtOpen)
    try {
      await store.pastIndex.recover()
    } catch (err) {
      await db.close().catch(() => undefined)
      throw new StoreError('STORE_OPEN_FAILED', `Cannot read the file system's past in the store in ${dir} (${(err as Error).message}); the database may be damaged, keep a copy of the directory and restore the node from its peers.`, err)
    }
    return store
  }

  // -------------------------------------------------------------------------------------------
  // The storage port (core/storage.ts Storage)

  /** The host performed a persist effect: its chunks, plain operations and entries are readable
   *  from now on, and its cuts in force (spec/storage.md), from memory until `append` has made
   *  them durable. */
  stage(records: readonly Value[]): void {
    for (const r of records) {
      if (!Array.isArray(r)) continue
      if (r[0] === 'chunk') {
        const c = parseChunkRecord(r)
        if (c !== undefined) this.staged.set(`${c.volume}/${c.hash}`, c.bytes)
      } else if (r[0] === 'plain') {
        const p = parsePlainRecord(r)
        if (p !== undefined) this.stagedPlain.set(`${p.volume}/${p.obf}`, p.plain)
      } else if (isLogRecord(r)) {
        this.stagedLogs.set(`${r[1]}/${r[2]}`, r)
      } else if (r[0] === 'seal') {
        const s = parseSealRecord(r)
        if (s === undefined) continue
        const chain = chainPrefix(s.volume, s.seal.author)
        let m = this.stagedSeals.get(chain)
        if (!m) this.stagedSeals.set(chain, (m = new Map()))
        m.set(s.seal.seq, { seal: s.seal, rec: r })
      } else if (r[0] === 'entry') {
        const e = parseEntryRecord(r)
        if (e === undefined) continue
        const chain = chainPrefix(e.volume, e.entry.author)
        let m = this.stagedEntries.get(chain)
        if (!m) this.stagedEntries.set(chain, (m = new Map()))
        m.set(e.entry.seq, { entry: e.entry, rec: r })
      } else if (r[0] === 'cut') {
        const c = parseCutRecord(r)
        if (c === undefined) continue
        const chain = chainPrefix(c.volume, c.author)
        const m = this.stagedEntries.get(chain)
        if (m) for (const seq of [...m.keys()]) if (seq > c.base) m.delete(seq)
        const sm = this.stagedSeals.get(chain)
        if (sm) for (const seq of [...sm.keys()]) if (seq > c.base) sm.delete(seq)
        this.stagedCuts.push({ chain, base: c.base, rec: r })
        // Cached entries above the base are the losing branch's: never served again.
        for (const key of [...this.recordCache.keys()]) {
          if (key.startsWith(chain) && Number(key.slice(chain.length)) > c.base) {
            this.recordCacheBytes -= this.recordCache.get(key)!.bytes
            this.recordCache.delete(key)
          }
        }
      }
    }
    this.pastIndex.stage(records)
  }

  plain(volume: VolumeName, obf: ObfHash): PlainBytes | undefined {
    this.recordCounters.reads++
    const staged = this.stagedPlain.get(`${volume}/${obf}`)
    if (staged !== undefined) return staged
    return this.readRecord(plainKey(volume, obf), (raw) => {
      const d = tryDecode(raw)
      if (!d.ok || !Array.isArray(d.value) || d.value.length !== 2) return undefined
      const [salt, opBytes] = d.value
      return salt instanceof Uint8Array && opBytes instanceof Uint8Array ? { value: { salt, opBytes }, bytes: plainCost(salt, opBytes) } : undefined
    }) as PlainBytes | undefined
  }

  entry(volume: VolumeName, author: Pid, seq: Seq): Entry | undefined {
    this.recordCounters.reads++
    const chain = chainPrefix(volume, author)
    const staged = this.stagedEntries.get(chain)?.get(seq)
    if (staged !== undefined) return staged.entry
    // A staged cut hides the durable entries above its base until the batch with it is durable.
    for (const c of this.stagedCuts) if (c.chain === chain && seq > c.base) return undefined
    return this.readRecord(entryKey(volume, author, seq), (raw) => {
      const d = decodeStoredEntry(raw)
      return d.ok && d.value.author === author && d.value.seq === seq ? { value: d.value, bytes: entryCost(d.value) } : undefined
    }) as Entry | undefined
  }

  seal(volume: VolumeName, author: Pid, seq: Seq): Seal | undefined {
    this.recordCounters.reads++
    const chain = chainPrefix(volume, author)
    const staged = this.stagedSeals.get(chain)?.get(seq)
    if (staged !== undefined) return staged.seal
    for (const c of this.stagedCuts) if (c.chain === chain && seq > c.base) return undefined
    this.usable()
    const raw = this.db.getSync(sealKey(volume, author, seq))
    if (raw === undefined) return undefined
    this.recordCounters.diskReads++
    const d = decodeSeal(raw)
    if (!d.ok || d.value.volume !== volume || d.value.author !== author || d.value.seq !== seq) {
      this.recordCounters.damaged++
      return undefined
    }
    return d.value
  }

  logRecord(volume: VolumeName, epoch: Epoch): Value | undefined {
    this.recordCounters.reads++
    const staged = this.stagedLogs.get(`${volume}/${epoch}`)
    if (staged !== undefined) return staged
    this.usable()
    const raw = this.db.getSync(logKey(volume, epoch))
    if (raw === undefined) return undefined
    this.recordCounters.diskReads++
    // LevelDB checked the block's checksum; decoding without the canonical re-encode is enough.
    let v: Value | undefined
    try {
      v = decodeUnchecked(raw)
    } catch {
      v = undefined
    }
    if (v === undefined || !isLogRecord(v) || v[1] !== volume || v[2] !== epoch) {
      this.recordCounters.damaged++
      return undefined
    }
    return v
  }

  /** How many plain operations of a volume the store holds (durable ones; status). */
  plainCount(volume: VolumeName): number {
    return this.stats.get(volume)?.plainOps ?? 0
  }

  /** A plain operation or entry from the cache or level; a value that does not decode is damage. */
  private readRecord(key: string, parse: (raw: Uint8Array) => { value: PlainBytes | Entry; bytes: number } | undefined): PlainBytes | Entry | undefined {
    const hit = this.recordCache.get(key)
    if (hit !== undefined) {
      this.recordCache.delete(key) // most recently used goes last
      this.recordCache.set(key, hit)
      return hit.value
    }
    this.usable()
    const raw = this.db.getSync(key)
    if (raw === undefined) return undefined
    this.recordCounters.diskReads++
    const parsed = parse(raw)
    if (parsed === undefined) {
      this.recordCounters.damaged++
      return undefined
    }
    if (!this.passingThrough) this.rememberRecord(key, parsed)
    return parsed.value
  }

  /** Reads in `fn` are not kept in the record cache: a restore reads every entry once, and
   *  caching each would only evict the rest and feed the garbage collector (measured: ~6 % of a
   *  start after 70k ops in rememberRecord alone). With `chunks`, neither are the chunks read in
   *  `fn` (verify reads every live chunk once: cached, they filled the 64 MiB chunk cache for
   *  nothing, bench/README.md "Session 26"). */
  passThrough<T>(fn: () => T, opts: { readonly chunks?: boolean } = {}): T {
    const was = this.passingThrough
    const wasChunks = this.chunksPassingThrough
    this.passingThrough = true
    if (opts.chunks === true) this.chunksPassingThrough = true
    try {
      return fn()
    } finally {
      this.passingThrough = was
      this.chunksPassingThrough = wasChunks
    }
  }
  private passingThrough = false
  private chunksPassingThrough = false

  private rememberRecord(key: string, item: { value: PlainBytes | Entry; bytes: number }): void {
    if (item.bytes > RECORD_CACHE_BYTES_MAX / 4) return
    const old = this.recordCache.get(key)
    if (old !== undefined) {
      this.recordCache.delete(key)
      this.recordCacheBytes -= old.bytes
    }
    this.recordCache.set(key, item)
    this.recordCacheBytes += item.bytes
    while (this.recordCacheBytes > RECORD_CACHE_BYTES_MAX) {
      const [oldest, v] = this.recordCache.entries().next().value!
      this.recordCache.delete(oldest)
      this.recordCacheBytes -= v.bytes
    }
  }

  pastRecord(volume: VolumeName, epoch: Epoch): Value | undefined {
    return this.pastPort.pastRecord(volume, epoch)
  }
  versionEpochs(volume: VolumeName, ino: number): readonly Epoch[] {
    return this.pastPort.versionEpochs(volume, ino)
  }
  nameEpochs(volume: VolumeName, dir: number, name: string): readonly Epoch[] {
    return this.pastPort.nameEpochs(volume, dir, name)
  }
  dirNames(volume: VolumeName, dir: number): readonly string[] {
    return this.pastPort.dirNames(volume, dir)
  }

  hasChunk(volume: VolumeName, hash: ChunkHash): boolean {
    const key = `${volume}/${hash}`
    if (this.staged.has(key) || this.cache.has(key)) return true
    this.usable()
    return this.indexed(chunkKey(volume, hash))
  }

  /** Whether the index has a well-formed entry under `key`. A malformed one counts as absent, so
   *  that the chunk is stored again (from this node's write or a peer's PUT) and repaired. */
  private indexed(key: string): boolean {
    const raw = this.db.getSync(key)
    return raw !== undefined && parseIndexEntry(raw) !== undefined
  }

  chunk(volume: VolumeName, hash: ChunkHash): Uint8Array | undefined {
    return this.readChunk(volume, hash, false)
  }

  /** chunk(), for a caller that copies the bytes before its next call of this store (a read into
   *  FUSE's buffer: core/fs/view.ts readInodeInto): read-ahead bytes come as a view of a buffer
   *  that is reused later, without a copy of their own. */
  borrowChunk(volume: VolumeName, hash: ChunkHash): Uint8Array | undefined {
    return this.readChunk(volume, hash, true)
  }

  private readChunk(volume: VolumeName, hash: ChunkHash, borrow: boolean): Uint8Array | undefined {
    this.counters.reads++
    // Closed for a moment after a full disk (reopen): absent, not damaged.
    if (this.reopening && !this.staged.has(`${volume}/${hash}`) && !this.cache.has(`${volume}/${hash}`)) return undefined
    const key = `${volume}/${hash}`
    const staged = this.staged.get(key)
    if (staged !== undefined) {
      this.counters.cacheHits++
      return staged
    }
    const hit = this.cache.get(key)
    if (hit !== undefined) {
      this.counters.cacheHits++
      this.cache.delete(key) // most recently used goes last
      this.cache.set(key, hit)
      return hit
    }
    // Read ahead for a sequential read: verified by the worker, served without entering the
    // cache (a scan neither evicts hot chunks nor cycles the cache). Not there (never asked for,
    // dropped, or rejected as damaged): read and checked here, damage counted.
    const ahead = this.readAhead?.take(key)
    if (ahead !== undefined) {
      this.counters.bytesRead += ahead.length
      return borrow ? ahead : ahead.slice()
    }
    const read = this.readStored(volume, hash)
    if (!read.ok) {
      if (!read.absent) this.counters.damaged++
      return undefined
    }
    if (!this.chunksPassingThrough) this.remember(key, read.bytes)
    return read.bytes
  }

  /** A hint that chunk(volume, hash) is about to be asked for each of `wanted`, in this order
   *  (a sequential read of a file: runtime/backend.ts), with each chunk's length as far as the
   *  caller knows it. Chunks in memory already are skipped; the others are read and checked by
   *  the read-ahead worker in spans of consecutive bytes of one segment. Never throws, never
   *  waits for the disk; bounded (readahead.ts).
   *
   *  A span's chunks are expected one behind the other, as a file written in one go is laid out:
   *  only its first and last chunk are looked up in the index (getSync, ~10 µs each), and where
   *  the last is not where expected, each chunk of the span is. A wrong guess would cost a wasted
   *  read, never wrong bytes: the worker keeps only bytes that hash to the chunk's name, and
   *  chunk() reads whatever it did not keep through the index, as without read-ahead. */
  prefetch(volume: VolumeName, wanted: readonly { readonly hash: ChunkHash; readonly length: number }[]): void {
    if (this.closed || this.failed !== undefined || wanted.length === 0) return
    if (this.readAheadOff || (this.readAhead !== undefined && !this.readAhead.usable)) return
    try {
      this.planReadAhead((this.readAhead ??= new ReadAhead()), volume, wanted)
    } catch {
      // No worker (or an index read failed): reads go on through chunk()'s own path, which
      // reports what is wrong with a chunk when it is asked for.
      this.readAheadOff = true
      this.readAhead?.close()
    }
  }

  private planReadAhead(ra: ReadAhead, volume: VolumeName, wanted: readonly { readonly hash: ChunkHash; readonly length: number }[]): void {
    const locate = (hash: ChunkHash): { n: number; offset: number; length: number } | undefined => {
      const raw = this.db.getSync(chunkKey(volume, hash))
      const entry = raw === undefined ? undefined : parseIndexEntry(raw)
      return entry === undefined || entry.kind !== 'seg' || entry.length > READAHEAD_SPAN_BYTES_MAX ? undefined : entry
    }
    const submit = (n: number, offset: number, chunks: SpanChunk[]): void => {
      const last = chunks[chunks.length - 1]!
      ra.submit({ path: `${segmentDir(this.dir)}/${segmentName(n)}`, offset, length: last.at + last.length, chunks })
    }
    /** Chunks [from, to) of `todo`, each looked up, in spans of consecutive bytes. */
    const oneByOne = (from: number, to: number): void => {
      let span: { n: number; offset: number; chunks: SpanChunk[] } | undefined
      let end = 0
      for (let k = from; k < to; k++) {
        const { hash, key } = todo[k]!
        const at = locate(hash)
        if (at === undefined) continue // absent, malformed or inline: chunk() answers it
        if (span !== undefined && (span.n !== at.n || end !== at.offset || at.offset + at.length - span.offset > READAHEAD_SPAN_BYTES_MAX)) {
          submit(span.n, span.offset, span.chunks)
          span = undefined
        }
        span ??= { n: at.n, offset: at.offset, chunks: [] }
        span.chunks.push({ key, hash, at: at.offset - span.offset, length: at.length })
        end = at.offset + at.length
      }
      if (span !== undefined) submit(span.n, span.offset, span.chunks)
    }
    // Each chunk once: a file with repeated blocks refers to one chunk, stored once (where it
    // was first written), so the chunks after it follow its first place.
    const todo: { hash: ChunkHash; key: string; length: number }[] = []
    const seen = new Set<string>()
    for (const { hash, length } of wanted) {
      const key = `${volume}/${hash}`
      if (seen.has(key) || this.staged.has(key) || this.cache.has(key) || ra.has(key)) continue
      seen.add(key)
      todo.push({ hash, key, length })
    }
    let i = 0
    while (i < todo.length) {
      const first = locate(todo[i]!.hash)
      if (first === undefined) {
        i++
        continue
      }
      // Guess: the chunks after the first follow it, as long as they fit into one span and their
      // lengths (as the caller knows them) are plausible for a segment chunk.
      const chunks: SpanChunk[] = [{ key: todo[i]!.key, hash: todo[i]!.hash, at: 0, length: first.length }]
      let end = first.length
      let j = i + 1
      while (j < todo.length && todo[j]!.length >= CHUNK_INLINE_MAX && end + todo[j]!.length <= READAHEAD_SPAN_BYTES_MAX) {
        chunks.push({ key: todo[j]!.key, hash: todo[j]!.hash, at: end, length: todo[j]!.length })
        end += todo[j]!.length
        j++
      }
      const last = chunks[chunks.length - 1]!
      const check = chunks.length === 1 ? first : locate(todo[j - 1]!.hash)
      if (check !== undefined && check.n === first.n && check.offset === first.offset + last.at && check.length === last.length) submit(first.n, first.offset, chunks)
      else oneByOne(i, j)
      i = j
    }
  }

  /** What read-ahead did (tests, benchmarks); undefined before the first prefetch. */
  get readAheadCounters(): Readonly<ReadAheadCounters> | undefined {
    return this.readAhead?.counters
  }

  /** Chunk count and bytes of a volume (durable ones; statfs, status). */
  chunkStats(volume: VolumeName): VolumeChunkStats {
    const st = this.stats.get(volume)
    return { chunks: st?.chunks ?? 0, bytes: st?.bytes ?? 0 }
  }

  /** Reads a chunk as stored, bypassing the cache, and checks its hash (verify, cat's errors). */
  auditChunk(volume: VolumeName, hash: ChunkHash): ChunkAudit {
    const staged = this.staged.get(`${volume}/${hash}`)
    if (staged !== undefined) return { ok: true, bytes: staged.length }
    let read: StoredRead
    try {
      read = this.readStored(volume, hash, true)
    } catch (err) {
      return { ok: false, problem: `its index entry is unreadable (${(err as Error).message})` }
    }
    if (!read.ok) return { ok: false, problem: read.problem, ...(read.actual !== undefined ? { actual: read.actual } : {}) }
    return { ok: true, bytes: read.bytes.length }
  }

  /** A chunk's bytes from the index and its segment, checked against `hash`; the one read path
   *  of chunk() and auditChunk(). `absent`: the index has no entry (not damage). */
  private readStored(volume: VolumeName, hash: ChunkHash, scratch = false): StoredRead {
    this.usable()
    const raw = this.db.getSync(chunkKey(volume, hash))
    if (raw === undefined) return { ok: false, absent: true, problem: 'is missing from the chunk store' }
    const entry = parseIndexEntry(raw)
    if (entry === undefined) return { ok: false, absent: false, problem: 'has a malformed index entry' }
    const bytes = entry.kind === 'inline' ? entry.bytes : this.readSegmentSync(entry.n, entry.offset, entry.length, scratch)
    if (bytes === undefined) return { ok: false, absent: false, problem: `is cut short or missing in segment ${entry.kind === 'seg' ? segmentName(entry.n) : '?'}` }
    const actual = createHash('sha256').update(bytes).digest('hex')
    if (actual !== hash) return { ok: false, absent: false, problem: 'does not hash to its name (damaged)', actual }
    this.counters.bytesRead += bytes.length
    return { ok: true, bytes }
  }

  private remember(key: string, bytes: Uint8Array): void {
    if (bytes.length > CHUNK_CACHE_BYTES_MAX / 4) return
    this.cache.set(key, bytes)
    this.cacheBytes += bytes.length
    while (this.cacheBytes > CHUNK_CACHE_BYTES_MAX) {
      const [oldest, b] = this.cache.entries().next().value!
      this.cache.delete(oldest)
      this.cacheBytes -= b.length
    }
  }

  /** `scratch`: into a buffer kept for the next such read (auditChunk, which only hashes the
   *  bytes): verify reads every chunk of the archive, and a fresh 64 KiB buffer per chunk was
   *  garbage outside V8's heap that piled up in malloc's arenas until a GC freed it. */
  private readSegmentSync(n: number, offset: number, length: number, scratch = false): Uint8Array | undefined {
    let fd = this.readFds.get(n)
    if (fd === undefined) {
      try {
        fd = openSync(`${segmentDir(this.dir)}/${segmentName(n)}`, 'r')
      } catch {
        fd = null
      }
      this.readFds.set(n, fd)
    }
    if (fd === null) {
      this.readFds.delete(n) // it may appear later (the segment being written)
      return undefined
    }
    // Unzeroed: every byte is read into it below, or it is dropped. A plain Uint8Array view, as
    // the core's other byte strings are.
    let buf: Uint8Array
    if (scratch) {
      if (this.scratch.length < length) this.scratch = new Uint8Array(length)
      buf = this.scratch.subarray(0, length)
    } else {
      const raw = Buffer.allocUnsafe(length)
      buf = new Uint8Array(raw.buffer, raw.byteOffset, length)
    }
    let done = 0
    while (done < length) {
      const got = readSync(fd, buf, done, length - done, offset + done)
      if (got === 0) return undefined
      done += got
    }
    return buf
  }

  // -------------------------------------------------------------------------------------------
  // Appending

  /** Makes one step's records durable, all or none (one level batch, fsync'd, then the tail
   *  witness). Resolved means durable. Chunk records become index entries (and segment bytes) in
   *  the same batch. Rejects with STORE_FULL when the disk is full: then nothing of the batch is
   *  referenced, the store stays usable for reads, and `retryFull()` must write this batch (with
   *  its number) before any other is appended. */
  async append(records: readonly Value[]): Promise<void> {
    this.usable()
    if (this.full !== undefined) throw this.fullError(this.full.seq)
    if (records.length === 0) return this.tail // nothing to write; resolves once earlier appends are durable
    // Everything up to the first await runs synchronously, so concurrent appends take numbers in
    // call order. Validate now: an unencodable record is the caller's bug and must throw before
    // a number is taken.
    const seq = this.lastSeq + 1
    // Chunk, plain, entry and past records are taken apart by their parsers and never stored as
    // they are; the others go into the batch body as encoded here.
    for (const r of records) {
      if (!Array.isArray(r)) {
        encode(r)
        continue
      }
      const tag = r[0]
      if (tag === 'plain' || tag === 'entry' || tag === 'past' || parseChunkRecord(r) !== undefined) continue
      encodedRecords.set(r, encode(r))
    }
    this.lastSeq = seq
    const write = this.tail.then(() => this.writeBatch(seq, records, undefined))
    // The chain continues past a failure; later appends then throw `failed` (or STORE_FULL) themselves.
    this.tail = write.catch(() => undefined)
    return write
  }

  /** After a lost tail the operator chose to go on (serve --recover-tail): numbering continues
   *  after batch `highest` (loadAll's), the store's real end, so that the batch numbers have no
   *  gap. The witness still names the loss until `resetWitness` — call that only once what must
   *  survive a crash (the 'recovering' records) is durable. */
  async acceptTail(highest: number): Promise<void> {
    this.usable()
    this.witness ??= await WitnessFile.open(this.dir, true)
    this.lastSeq = highest
  }

  /** Both witness slots name the newest batch the store holds now (after acceptTail and a write:
   *  no slot may still name a lost batch with a higher number). */
  async resetWitness(): Promise<void> {
    this.usable()
    await this.tail
    const value = this.lastSeq > 0 ? await this.db.get(batchKey(this.lastSeq)) : undefined
    await this.witness!.reset({ seq: this.lastSeq, hash: value !== undefined ? sha256(value) : new Uint8Array(32) })
  }

  /** The number of the newest batch appended (durable once its append resolved). */
  get lastBatch(): number {
    return this.lastSeq
  }

  /** Whether a batch waits for disk space (it met a full disk and is not durable). */
  get waitingForSpace(): boolean {
    return this.full !== undefined
  }

  /** Writes the batch that met a full disk again, under its own number. True once it is durable,
   *  false while the disk is still full (nothing changed then); throws STORE_WRITE_FAILED on any
   *  other failure. */
  async retryFull(): Promise<boolean> {
    this.usable()
    const f = this.full
    if (f === undefined) return true
    const write = this.tail.then(() => this.writeBatch(f.seq, f.records, f))
    this.tail = write.catch(() => undefined)
    try {
      await write
      return true
    } catch (err) {
      if (err instanceof StoreError && err.code === 'STORE_FULL') return false
      throw err
    }
  }

  /** Free bytes for this user on the store's file system (statfs), for the host's check before it
   *  steps a state-changing request. */
  async freeBytes(): Promise<number> {
    const st = await statfs(this.dir)
    return st.bavail * st.bsize
  }

  private fullError(seq: number): StoreError {
    return new StoreError('STORE_FULL', `The disk of the store in ${this.dir} is full: batch ${seq} is not written (nothing of it is acknowledged). Free space; the node writes it and goes on by itself.`)
  }

  /** One attempt at batch `seq`. `again`: the earlier attempt that met a full disk. */
  private async writeBatch(seq: number, records: readonly Value[], again: NonNullable<RecordStore['full']> | undefined): Promise<void> {
    this.usable()
    let levelTried = again?.levelTried ?? false
    let value: Uint8Array | undefined
    this.mark = again?.mark ?? (this.segment !== undefined ? { n: this.segment.n, size: this.segment.size } : undefined)
    try {
      if (again?.levelTried) {
        // LevelDB refuses every write after a failed log write until it is opened again; and the
        // failed record "may or may not show up" (db_impl.cc): if it did, the batch is durable.
        await this.reopen()
        const have = await this.db.get(batchKey(seq))
        if (have !== undefined && decodeBatch(seq, have).ok) value = have
        else levelTried = false // absent for good: the log was read back without it
      }
      if (value === undefined) {
        // The earlier attempt's segment bytes are referenced by nothing: write over them.
        if (again !== undefined) await this.cutSegment()
        const { ops, touched, batch } = await this.toOps(seq, records)
        levelTried = true
        // A chained batch hands each operation to the binding as it is added; the array form
        // first copies and checks every operation object in JavaScript (measured: ~7 % of a
        // small-file workload's CPU, bench/scale-history.ts).
        const chained = this.db.batch()
        for (const op of ops) {
          if (op.type === 'put') chained.put(op.key, op.value)
          else chained.del(op.key)
        }
        await chained.write({ sync: true })
        for (const [volume, st] of touched) this.stats.set(volume, st)
        value = batch
      }
      if (this.witness === undefined) throw new StoreError('STORE_TAIL_LOST', `The tail witness of the store in ${this.dir} is missing; the node must not write (RT-9).`)
      // Before the batch counts as durable: a later start can tell if LevelDB dropped it.
      await this.witness.write({ seq, hash: sha256(value) })
    } catch (err) {
      if (isDiskFull(err)) {
        // Nothing of this batch is referenced unless level's write reached its log; only when it
        // surely did not are the segment bytes cut now (else after the reopen has shown it absent).
        if (!levelTried) await this.cutSegment().catch(() => undefined)
        this.full = { seq, records, levelTried, mark: this.mark }
        throw this.fullError(seq)
      }
      if (err instanceof StoreError && err.code === 'STORE_TAIL_LOST') throw err
      this.failed = new StoreError('STORE_WRITE_FAILED', `Writing to the store in ${this.dir} failed (${(err as Error).message}); the node must stop: free disk space or fix the disk, then restart it.`, err)
      throw this.failed
    }
    this.full = undefined
    // Durable: from now on level serves these chunks, plain operations and entries; keep them
    // hot in the caches, and lift the batch's cuts (level has deleted what they dropped).
    this.pastIndex.durable(records)
    for (const r of records) {
      if (!Array.isArray(r)) continue
      if (r[0] === 'chunk') {
        const c = parseChunkRecord(r)
        if (c === undefined) continue
        const key = `${c.volume}/${c.hash}`
        if (this.staged.get(key) === c.bytes) this.staged.delete(key)
        this.remember(key, c.bytes)
      } else if (isLogRecord(r)) {
        const key = `${r[1]}/${r[2]}`
        if (this.stagedLogs.get(key) === r) this.stagedLogs.delete(key)
      } else if (r[0] === 'plain') {
        const p = parsePlainRecord(r)
        if (p === undefined) continue
        const key = `${p.volume}/${p.obf}`
        const staged = this.stagedPlain.get(key)
        if (staged !== undefined && staged.opBytes === p.plain.opBytes) this.stagedPlain.delete(key)
        this.rememberRecord(plainKey(p.volume, p.obf), { value: p.plain, bytes: plainCost(p.plain.salt, p.plain.opBytes) })
      } else if (r[0] === 'entry') {
        const e = parseEntryRecord(r)
        if (e === undefined) continue
        const chain = chainPrefix(e.volume, e.entry.author)
        const m = this.stagedEntries.get(chain)
        const staged = m?.get(e.entry.seq)
        // Unstaged only if it is this record's: a later batch may have staged another entry at
        // this seq after a cut.
        if (staged !== undefined && staged.rec === r) {
          m!.delete(e.entry.seq)
          if (m!.size === 0) this.stagedEntries.delete(chain)
        }
        // Cached unless a cut still in force drops it (a later cut of this batch, or of a later
        // batch already staged): the cache must never outlive a cut.
        if (!this.stagedCuts.some((c) => c.chain === chain && e.entry.seq > c.base)) {
          this.rememberRecord(entryKey(e.volume, e.entry.author, e.entry.seq), { value: e.entry, bytes: entryCost(e.entry) })
        }
      } else if (r[0] === 'seal') {
        const sl = parseSealRecord(r)
        if (sl === undefined) continue
        const chain = chainPrefix(sl.volume, sl.seal.author)
        const m = this.stagedSeals.get(chain)
        if (m?.get(sl.seal.seq)?.rec === r) {
          m.delete(sl.seal.seq)
          if (m.size === 0) this.stagedSeals.delete(chain)
        }
      } else if (r[0] === 'cut') {
        // In record order: the entries this batch holds after its cut are the new branch's.
        const i = this.stagedCuts.findIndex((c) => c.rec === r)
        if (i >= 0) this.stagedCuts.splice(i, 1)
      }
    }
  }

  /** Cuts the segment back to where it ended before the batch being written (its bytes are
   *  referenced by nothing): space on a full disk, and no half-written chunk left behind. */
  private async cutSegment(): Promise<void> {
    const m = this.mark
    const seg = this.segment
    if (m === undefined || seg === undefined || seg.n !== m.n) return
    await seg.handle.truncate(m.size)
    seg.size = m.size
  }

  /** Closes and opens the database again: LevelDB's error after a failed write is sticky. Reads
   *  that come meanwhile find nothing (the port answers absent, a read fails EIO once). */
  private async reopen(): Promise<void> {
    this.reopening = true
    try {
      if (this.db.status === 'open') await this.db.close()
      await this.db.open()
    } finally {
      this.reopening = false
    }
    for await (const [key, value] of this.db.iterator({ gte: 's:', lt: 's;' })) {
      const d = tryDecode(value)
      if (d.ok && Array.isArray(d.value) && typeof d.value[0] === 'number' && typeof d.value[1] === 'number') this.stats.set(key.slice(2), { chunks: d.value[0], bytes: d.value[1], plainOps: typeof d.value[2] === 'number' ? d.value[2] : 0 })
    }
  }

  /** The level operations of one batch: segment bytes written and synced first, then the batch
   *  with references, the new index entries and the updated volume counters (applied to memory
   *  by the caller once durable). */
  private async toOps(seq: number, records: readonly Value[]): Promise<{ ops: ({ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string })[]; touched: Map<string, VolumeChunkStats & { plainOps: number }>; batch: Uint8Array }> {
    const out: Value[] = []
    const ops: ({ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string })[] = []
    const bufs: Uint8Array[] = []
    const fresh = new Set<string>()
    const touched = new Map<string, VolumeChunkStats & { plainOps: number }>()
    const statsOf = (volume: string): VolumeChunkStats & { plainOps: number } => {
      let st = touched.get(volume)
      if (!st) touched.set(volume, (st = { ...this.chunkStats(volume as VolumeName), plainOps: this.plainCount(volume as VolumeName) }))
      return st
    }
    // The batch's e: keys in record order: a cut deletes what is above its base (stored, or put
    // earlier in this batch), a later entry record puts its key again.
    const chainOps = new Map<string, Uint8Array | null>()
    let seg: { n: number; handle: FileHandle; size: number } | undefined
    let offset = 0
    for (const r of records) {
      // Past records live under their own keys (runtime/past-index.ts), not in the batch body.
      if (Array.isArray(r) && r[0] === 'past') continue
      const tag = Array.isArray(r) ? r[0] : undefined
      if (tag === 'image') {
        const image = imageOps(r)
        if (image === undefined) out.push(r)
        else ops.push(...image)
        continue
      }
      if (isLogRecord(r)) {
        ops.push({ type: 'put', key: logKey(r[1] as string, r[2] as number), value: encode(r) })
        continue
      }
      if (tag === 'plain') {
        const p = parsePlainRecord(r)
        if (p === undefined) {
          out.push(r) // not the core's: kept in the body like any other record
          continue
        }
        const key = plainKey(p.volume, p.obf)
        // The obf names its bytes: a plain op stored already is the same one.
        if (!fresh.has(key) && this.db.getSync(key) === undefined) statsOf(p.volume).plainOps++
        fresh.add(key)
        ops.push({ type: 'put', key, value: encode([p.plain.salt, p.plain.opBytes]) })
        continue
      }
      if (tag === 'entry') {
        const e = parseEntryRecord(r)
        if (e === undefined) {
          out.push(r)
          continue
        }
        chainOps.set(entryKey(e.volume, e.entry.author, e.entry.seq), (r as Value[])[2] as Uint8Array)
        continue
      }
      if (tag === 'checkpoint' && typeof (r as Value[])[1] === 'string') {
        ops.push({ type: 'put', key: checkpointBatchKey((r as Value[])[1] as string), value: encode(seq) })
        out.push(r)
        continue
      }
      if (tag === 'genesis' && typeof (r as Value[])[1] === 'string') {
        ops.push({ type: 'put', key: genesisKey((r as Value[])[1] as string), value: encode(r) })
        out.push(r)
        continue
      }
      if (tag === 'seal') {
        // Kept in the body too (a restart reads the seals of its tail from there) and by seq.
        const sl = parseSealRecord(r)
        if (sl !== undefined) chainOps.set(sealKey(sl.volume, sl.seal.author, sl.seal.seq), (r as Value[])[2] as Uint8Array)
        out.push(r)
        continue
      }
      if (tag === 'cut') {
        const c = parseCutRecord(r)
        if (c === undefined) {
          out.push(r)
          continue
        }
        for (const [prefix, above] of [
          [chainPrefix(c.volume, c.author), entryKey(c.volume, c.author, c.base)],
          [sealPrefix(c.volume, c.author), sealKey(c.volume, c.author, c.base)],
        ] as const) {
          for (const key of [...chainOps.keys()]) if (key.startsWith(prefix) && key > above) chainOps.set(key, null)
          // Earlier batches are durable (appends run one after another), so level holds them all.
          for await (const key of this.db.keys({ gt: above, lt: prefix.slice(0, -1) + ';' })) chainOps.set(key, null)
        }
        out.push(r)
        continue
      }
      const c = parseChunkRecord(r)
      if (c === undefined) {
        out.push(r)
        continue
      }
      const key = chunkKey(c.volume, c.hash)
      const hash = fromHex(c.hash)!
      // Stored already (or twice in this batch): the batch notes it, the index keeps the first.
      const known = fresh.has(key) || this.indexed(key)
      if (c.bytes.length < CHUNK_INLINE_MAX) {
        out.push(['chunk~', c.volume, hash, c.bytes.length])
        if (!known) ops.push({ type: 'put', key, value: encode(['inline', c.bytes]) })
      } else if (known) {
        out.push(['chunk~', c.volume, hash, c.bytes.length])
      } else {
        seg ??= await this.openSegment()
        this.mark ??= { n: seg.n, size: seg.size }
        if (bufs.length === 0) offset = seg.size
        if (offset + c.bytes.length > SEGMENT_BYTES_MAX && offset > 0) {
          await this.flushSegment(seg, bufs.splice(0))
          seg = await this.openSegment(seg.n + 1)
          this.mark = { n: seg.n, size: seg.size }
          offset = 0
        }
        bufs.push(c.bytes)
        out.push(['chunk@', c.volume, hash, seg.n, offset, c.bytes.length])
        ops.push({ type: 'put', key, value: encode(['seg', seg.n, offset, c.bytes.length]) })
        offset += c.bytes.length
      }
      if (!known) {
        fresh.add(key)
        const st = statsOf(c.volume)
        st.chunks++
        st.bytes += c.bytes.length
      }
    }
    if (seg !== undefined) await this.flushSegment(seg, bufs)
    const batch = encodeBatch(seq, out)
    ops.unshift({ type: 'put', key: batchKey(seq), value: batch })
    for (const [key, value] of chainOps) ops.push(value === null ? { type: 'del', key } : { type: 'put', key, value })
    for (const [volume, st] of touched) ops.push({ type: 'put', key: statsKey(volume), value: encode([st.chunks, st.bytes, st.plainOps]) })
    ops.push(...this.pastIndex.ops(records))
    return { ops, touched, batch }
  }

  /** Appends bytes at the segment's end and makes them durable. A short write is completed or
   *  fails: nothing is referenced that is not wholly on disk. */
  private async flushSegment(seg: { handle: FileHandle; size: number }, bufs: readonly Uint8Array[]): Promise<void> {
    if (bufs.length === 0) return
    let n = 0
    for (const b of bufs) n += b.length
    const { bytesWritten } = await seg.handle.writev(bufs as Uint8Array[], seg.size)
    let done = bytesWritten
    if (done < n) {
      // writev may write less than asked (a signal, a nearly full disk): write the rest piece by
      // piece; a write that makes no progress is an error (ENOSPC comes as a throw).
      const all = Buffer.concat(bufs as Uint8Array[])
      while (done < n) {
        const { bytesWritten: w } = await seg.handle.write(all, done, n - done, seg.size + done)
        if (w === 0) throw new Error(`short write to ${segmentName((seg as { n?: number }).n ?? 0)}: ${done} of ${n} bytes`)
        done += w
      }
    }
    await seg.handle.datasync()
    seg.size += n
  }

  private async openSegment(n?: number): Promise<{ n: number; handle: FileHandle; size: number }> {
    if (this.segment !== undefined && (n === undefined || this.segment.n === n)) return this.segment
    if (this.segment !== undefined) await this.segment.handle.close()
    const dir = segmentDir(this.dir)
    await mkdir(dir, { recursive: true })
    if (n === undefined) n = Math.max(1, ...(await readdir(dir)).map((f) => /^seg-(\d{6})$/.exec(f)).filter((m) => m !== null).map((m) => Number(m![1])))
    const handle = await open(`${dir}/${segmentName(n)}`, 'a+')
    const { size } = await handle.stat()
    this.segment = { n, handle, size }
    return this.segment
  }

  // -------------------------------------------------------------------------------------------
  // Reading back

  /** Every batch's records in append order, chunk records left out (the port serves chunks).
   *  Damaged batches are reported in `problems` and their records left out. `check`: read and
   *  check every batch from the first (`tail` ignored) but keep no record, for an audit that
   *  restores from the tail and reads the rest through the port (memory O(1)). */
  async loadAll(opts: { readonly tail?: boolean; readonly check?: boolean } = {}): Promise<{ records: Value[]; problems: StoreProblem[]; highest: number; from: number }> {
    this.usable()
    await this.tail
    const records: Value[] = []
    const problems: StoreProblem[] = []
    // From the tail (spec/checkpoint.md "Restart from the tail"): every volume's genesis record,
    // then the batches from the first one that holds some volume's newest checkpoint.
    const from = opts.tail === true && opts.check !== true ? await this.tailStart(records) : 1
    let expected = from
    const w = this.witnessAtOpen
    let witnessed: Uint8Array | undefined
    let highest = 0
    try {
      for await (const [key, value] of this.db.iterator({ gte: batchKey(from), lt: 'b;' })) {
        if (!BATCH_KEY.test(key)) {
          problems.push({ key, problem: 'a key that is not a batch sequence number (the store was written by something else)' })
          continue
        }
        const seq = Number(key.slice(BATCH_PREFIX.length))
        if (seq !== expected) {
          problems.push({ key, problem: seq === 0 ? 'a batch numbered 0' : seq === expected + 1 ? `batch ${expected} before this one is missing` : `batches ${expected}..${seq - 1} before this one are missing` })
        }
        expected = seq + 1
        const batch = decodeBatch(seq, value)
        // A damaged witnessed batch is reported as such below; comparing it with the witness
        // would only name it twice.
        if (w.ok && seq === w.witness.seq) witnessed = batch.ok ? sha256(value) : w.witness.hash
        if (!batch.ok) {
          problems.push({ key, problem: batch.problem })
          continue
        }
        for (const r of batch.records) {
          if (Array.isArray(r) && (r[0] === 'chunk@' || r[0] === 'chunk~')) {
            if (!isChunkRef(r)) problems.push({ key, problem: 'a malformed chunk reference' })
            continue
          }
          if (opts.check !== true) records.push(r)
        }
      }
      if (opts.check !== true) records.push(...(await this.loadImages()))
      // RT-9: the newest batches must be the ones the tail witness vouches for.
      highest = expected - 1
      const tailKey = `tail ${witnessPath(this.dir)}`
      if (!w.ok) {
        if (highest > 0 || !w.missing) problems.push({ key: tailKey, problem: `${w.problem}; the newest batch cannot be vouched for (the store holds ${highest} batches)`, tail: true })
      } else {
        const problem = checkTail(w.witness, highest, (seq) => (seq === w.witness.seq ? witnessed : undefined))
        if (problem !== undefined) problems.push({ key: tailKey, problem, tail: true })
      }
      // Keys outside the format's prefixes (b: c: m: s:) were written by something else.
      for (const range of FOREIGN_RANGES) {
        for await (const key of this.db.keys({ ...range, limit: 16 })) problems.push({ key, problem: 'a key that is not a batch sequence number (the store was written by something else)' })
      }
    } catch (err) {
      throw new StoreError('STORE_READ_FAILED', `Reading the store in ${this.dir} failed (${(err as Error).message}); the database may be damaged, keep a copy of the directory and restore the node from its peers.`, err)
    }
    return { records, problems, highest, from }
  }

  /** Puts each volume's genesis record into `records`; the number of the first batch a restart
   *  from the tail reads (1 when a volume has no checkpoint yet, or a key does not decode). */
  private async tailStart(records: Value[]): Promise<number> {
    let from = Number.MAX_SAFE_INTEGER
    for await (const [key, value] of this.db.iterator({ gte: 'v:', lt: 'v;' })) {
      const g = tryDecode(value)
      if (!g.ok || !Array.isArray(g.value) || g.value[0] !== 'genesis') {
        records.length = 0 // every batch is read, and the genesis records with them
        return 1
      }
      records.push(g.value)
      const k = this.db.getSync(checkpointBatchKey(key.slice(2)))
      const n = k === undefined ? undefined : tryDecode(k)
      from = Math.min(from, n !== undefined && n.ok && typeof n.value === 'number' && Number.isSafeInteger(n.value) && n.value >= 1 ? n.value : 1)
    }
    // No volume yet: the whole store.
    return from === Number.MAX_SAFE_INTEGER ? 1 : from
  }

  /** Each volume's folded tree image as one record, after every batch's records (the core folds
   *  image records in order, spec/checkpoint.md). Each inode is handed on as stored, its encoding,
   *  and decoded by the core one at a time (core/volume/image.ts inodesOf): decoded here, the
   *  inodes of a 20 GiB tree were 163 MB of heap at once, their 32-byte hashes each a Uint8Array
   *  (bench/README.md "Session 26"). One that does not decode makes the core reject the image,
   *  name why, and replay the whole log. */
  private async loadImages(): Promise<Value[]> {
    const out: Value[] = []
    // Every key of a volume starts `t:<volume>:` (names have no ':'), so `t:<volume>;` is past them.
    for (let from = 't:'; ;) {
      const [first] = await this.db.keys({ gte: from, lt: 't;', limit: 1 }).all()
      if (first === undefined) return out
      const colon = first.indexOf(':', 2)
      if (colon < 0) {
        from = `${first}\u0000` // not one of ours (loadAll names foreign keys elsewhere)
        continue
      }
      const volume = first.slice(2, colon)
      let epoch = -1
      const inodes: Value[] = []
      for await (const [key, value] of this.db.iterator({ gte: `t:${volume}:`, lt: `t:${volume};` })) {
        if (key === imageKey(volume)) {
          const d = tryDecode(value)
          epoch = d.ok && typeof d.value === 'number' ? d.value : -1
        } else inodes.push([Number(key.slice(key.lastIndexOf(':') + 1)), value])
      }
      out.push(['image', volume, epoch, inodes])
      from = `t:${volume};`
    }
  }

  /** Waits for pending appends, then closes the database (and releases its lock). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.tail
    this.readAhead?.close()
    for (const fd of this.readFds.values()) if (fd !== null) closeSync(fd)
    this.readFds.clear()
    this.cache.clear()
    this.staged.clear()
    this.recordCache.clear()
    this.recordCacheBytes = 0
    this.stagedPlain.clear()
    this.stagedLogs.clear()
    this.stagedEntries.clear()
    this.stagedSeals.clear()
    this.stagedCuts.length = 0
    this.pastIndex.reset()
    await this.segment?.handle.close()
    await this.witness?.close()
    await this.db.close()
  }

  private usable(): void {
    if (this.closed) throw new StoreError('STORE_CLOSED', `The store in ${this.dir} is closed; open it again before using it.`)
    if (this.failed) throw this.failed
  }
}

async function highestSeq(db: Level<string, Uint8Array>): Promise<number> {
  let highest = 0
  for await (const key of db.keys({ gte: BATCH_PREFIX, lt: 'b;' })) if (BATCH_KEY.test(key)) highest = Math.max(highest, Number(key.slice(BATCH_PREFIX.length)))
  return highest
}

/** What a cached plain operation or entry costs in the heap, roughly: the bytes plus the objects,
 *  hex strings and the Map key around them. Measured (node --expose-gc, heap with and without the
 *  full cache after a 50k-op restore): about 2.2 KB per small entry. */
function plainCost(salt: Uint8Array, opBytes: Uint8Array): number {
  return 2 * (salt.length + opBytes.length) + 1024
}
function entryCost(e: Entry): number {
  return 2 * e.payload.length + 2048
}

/** ['chunk~', volume, hash, length] or ['chunk@', volume, hash, segment, offset, length]. */
function isChunkRef(r: readonly Value[]): boolean {
  const nums = r.slice(3)
  return (
    ((r[0] === 'chunk~' && r.length === 4) || (r[0] === 'chunk@' && r.length === 6)) && typeof r[1] === 'string' && r[2] instanceof Uint8Array &&
    nums.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)
  )
}
