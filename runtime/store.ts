// The durable record store of a node: what the core's `persist` effects ask to remember, on
// `level` (LevelDB), and the storage port the core reads its chunks through (spec/storage.md).
// The host appends one step's records with `append` and sends nothing of that step before the
// promise resolves (core/effects.ts, "persist before send"); at restart it feeds
// `loadAll().records` to `restoreNode`.
//
// On disk (format 2, spec/runtime.md "Store format"), keys by prefix:
//   m:format          'paciofs-store/2'; a store without it, or with another value, is refused
//   b:<16 digits>     one step's records: the batch's sequence number 1, 2, 3 ..., zero-padded
//                     so that level's byte order of keys is the order of appends;
//                     value = encode([sha256(body), body]), body = encode([seq, records])
//   c:<volume>:<hash> the chunk index: encode(['inline', bytes]) for a chunk under
//                     CHUNK_INLINE_MAX bytes, encode(['seg', segment, offset, length]) otherwise
//   s:<volume>        encode([chunks, bytes]): what the volume's chunks count and weigh
// One append = one atomic level batch with `sync: true`: the batch, its chunks' index entries and
// the volume counters together. Why the sequence number is inside the body too: a value moved or
// copied to another key fails the key check, so a reordered or duplicated batch is caught like a
// flipped bit. Why no torn-write handling (unlike sim/cluster.ts readBatch): a level batch is
// all-or-nothing, so a damaged or missing batch is corruption (bit rot, tampering), never a
// crash's leftover.
//
// Chunk bytes never stay in memory beyond a bounded cache. In a batch a chunk record
// ['chunk', volume, hash, bytes] is kept as a reference: ['chunk~', volume, hash, length] (its
// bytes are in the index entry) or ['chunk@', volume, hash, segment, offset, length]. Chunks of
// CHUNK_INLINE_MAX bytes or more go to a segment file in `<dir>-chunks/` (`seg-000001`, ...):
// LevelDB writes a value several times (log, then each compaction), which capped sequential
// writes at ~30 MB/s. Segment bytes are made durable (fdatasync) BEFORE the level batch that
// refers to them; a crash in between leaves unreferenced bytes in the segment: space, never state.
//
// The port (`chunk`, `hasChunk`) reads synchronously (the core is synchronous): chunks the host has
// staged but not yet written come from memory, the rest from the index (level's getSync) and the
// segment (readSync), checked against their hash before they are handed out or cached. A
// sequential read of a file asks ahead (`prefetch`, from runtime/backend.ts): a worker thread
// reads and checks those chunks (runtime/readahead.ts) and chunk() takes them from there.
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises'
import { Level } from 'level'
import { decode, encode, tryDecode, type Value } from '../core/codec.ts'
import { bytesEqual, fromHex } from '../core/bytes.ts'
import { parseChunkRecord, type ChunkAudit, type ChunkStore } from '../core/storage.ts'
import { assert, type ChunkHash, type VolumeName } from '../core/types.ts'
import { CodedError } from './errors.ts'
import { ReadAhead, READAHEAD_SPAN_BYTES_MAX, type ReadAheadCounters, type SpanChunk } from './readahead.ts'

/** Chunks at least this long go to a segment file instead of level. */
export const CHUNK_INLINE_MAX = 16 * 1024
/** A segment file is closed for appends beyond this size and the next one begun. */
export const SEGMENT_BYTES_MAX = 1024 * 1024 * 1024
/** Verified chunk bytes kept in memory for reads (least recently used out first). */
export const CHUNK_CACHE_BYTES_MAX = 64 * 1024 * 1024
/** The one store format this version reads and writes. */
export const STORE_FORMAT = 'paciofs-store/2'

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
  { lt: 'b:' }, { gte: 'b;', lt: 'c:' }, { gte: 'c;', lt: 'm:' }, { gte: 'm;', lt: 's:' }, { gte: 's;' },
]
const chunkKey = (volume: string, hash: string): string => `c:${volume}:${hash}`
const statsKey = (volume: string): string => `s:${volume}`

export type StoreErrorCode = 'STORE_LOCKED' | 'STORE_OPEN_FAILED' | 'STORE_FORMAT' | 'STORE_WRITE_FAILED' | 'STORE_READ_FAILED' | 'STORE_CLOSED'

/** An error a user can meet: a stable code and a sentence that says what to do. */
export class StoreError extends CodedError<StoreErrorCode> {}

export interface StoreProblem {
  readonly key: string
  readonly problem: string
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
  const body = encode([seq, records as Value[]])
  return encode([sha256(body), body])
}

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
  let inner: Value
  try {
    inner = decode(body)
  } catch (err) {
    return { ok: false, problem: `the body is not canonical CBOR (${(err as Error).message})` }
  }
  if (!Array.isArray(inner) || inner.length !== 2 || !Array.isArray(inner[1])) return { ok: false, problem: 'the body is not [seq, records]' }
  if (inner[0] !== seq) return { ok: false, problem: `the body belongs to batch ${String(inner[0])}, not to this key` }
  return { ok: true, records: inner[1] as Value[] }
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

export class RecordStore implements ChunkStore {
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
  /** Segment file descriptors for synchronous reads. */
  private readonly readFds = new Map<number, number | null>()
  private readonly stats: Map<string, VolumeChunkStats>
  readonly counters: ChunkCounters = { reads: 0, cacheHits: 0, bytesRead: 0, damaged: 0 }
  /** Sequential reads' chunks, read and hash-checked by a worker (runtime/readahead.ts); made on
   *  the first `prefetch`. */
  private readAhead: ReadAhead | undefined
  /** Set when read-ahead could not be used (no worker): not tried again. */
  private readAheadOff = false

  private constructor(db: Level<string, Uint8Array>, dir: string, lastSeq: number, stats: Map<string, VolumeChunkStats>) {
    this.db = db
    this.dir = dir
    this.lastSeq = lastSeq
    this.stats = stats
  }

  /** Opens (creating if needed) the store in `dir`. Throws StoreError STORE_LOCKED,
   *  STORE_OPEN_FAILED, or STORE_FORMAT (a store written by another version). */
  static async open(dir: string): Promise<RecordStore> {
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
    const stats = new Map<string, VolumeChunkStats>()
    try {
      const format = await db.get(FORMAT_KEY)
      const [anyKey] = await db.keys({ limit: 1 }).all()
      if (format === undefined && anyKey === undefined) {
        await db.put(FORMAT_KEY, new TextEncoder().encode(STORE_FORMAT), { sync: true })
      } else if (format === undefined || new TextDecoder().decode(format) !== STORE_FORMAT) {
        const found = format === undefined ? 'format 1 (before content moved out of memory)' : JSON.stringify(new TextDecoder().decode(format))
        await db.close().catch(() => undefined)
        throw new StoreError('STORE_FORMAT', `The store in ${dir} was written by another version of paciofs (${found}); this version reads only ${STORE_FORMAT}. Open it with the version that wrote it, or give this node a new data directory and let it join the volume again to fetch everything from its peers.`)
      }
      const [last] = await db.keys({ gte: BATCH_PREFIX, lt: 'b;', reverse: true, limit: 1 }).all()
      // A key that is not a sequence number is reported by loadAll; numbering continues after the
      // highest well-formed key so that no append overwrites a stored batch.
      if (last !== undefined) lastSeq = BATCH_KEY.test(last) ? Number(last.slice(BATCH_PREFIX.length)) : await highestSeq(db)
      for await (const [key, value] of db.iterator({ gte: 's:', lt: 's;' })) {
        const d = tryDecode(value)
        if (d.ok && Array.isArray(d.value) && typeof d.value[0] === 'number' && typeof d.value[1] === 'number') {
          stats.set(key.slice(2), { chunks: d.value[0], bytes: d.value[1] })
        }
      }
    } catch (err) {
      await db.close().catch(() => undefined)
      if (err instanceof StoreError) throw err
      throw new StoreError('STORE_OPEN_FAILED', `Cannot read the store in ${dir} (${(err as Error).message}); the database may be damaged, keep a copy of the directory and restore the node from its peers.`, err)
    }
    return new RecordStore(db, dir, lastSeq, stats)
  }

  // -------------------------------------------------------------------------------------------
  // The storage port (core/storage.ts ChunkStore)

  /** The host performed a persist effect: its chunks are readable from now on (spec/storage.md),
   *  from memory until `append` has made them durable. */
  stage(records: readonly Value[]): void {
    for (const r of records) {
      const c = parseChunkRecord(r)
      if (c !== undefined) this.staged.set(`${c.volume}/${c.hash}`, c.bytes)
    }
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
    this.remember(key, read.bytes)
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
    return { ...(this.stats.get(volume) ?? { chunks: 0, bytes: 0 }) }
  }

  /** Reads a chunk as stored, bypassing the cache, and checks its hash (verify, cat's errors). */
  auditChunk(volume: VolumeName, hash: ChunkHash): ChunkAudit {
    const staged = this.staged.get(`${volume}/${hash}`)
    if (staged !== undefined) return { ok: true, bytes: staged.length }
    let read: StoredRead
    try {
      read = this.readStored(volume, hash)
    } catch (err) {
      return { ok: false, problem: `its index entry is unreadable (${(err as Error).message})` }
    }
    if (!read.ok) return { ok: false, problem: read.problem, ...(read.actual !== undefined ? { actual: read.actual } : {}) }
    return { ok: true, bytes: read.bytes.length }
  }

  /** A chunk's bytes from the index and its segment, checked against `hash`; the one read path
   *  of chunk() and auditChunk(). `absent`: the index has no entry (not damage). */
  private readStored(volume: VolumeName, hash: ChunkHash): StoredRead {
    this.usable()
    const raw = this.db.getSync(chunkKey(volume, hash))
    if (raw === undefined) return { ok: false, absent: true, problem: 'is missing from the chunk store' }
    const entry = parseIndexEntry(raw)
    if (entry === undefined) return { ok: false, absent: false, problem: 'has a malformed index entry' }
    const bytes = entry.kind === 'inline' ? entry.bytes : this.readSegmentSync(entry.n, entry.offset, entry.length)
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

  private readSegmentSync(n: number, offset: number, length: number): Uint8Array | undefined {
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
    const raw = Buffer.allocUnsafe(length)
    const buf = new Uint8Array(raw.buffer, raw.byteOffset, length)
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

  /** Makes one step's records durable, all or none (one level batch, fsync'd). Resolved means
   *  durable. Chunk records become index entries (and segment bytes) in the same batch. */
  async append(records: readonly Value[]): Promise<void> {
    this.usable()
    if (records.length === 0) return this.tail // nothing to write; resolves once earlier appends are durable
    // Everything up to the first await runs synchronously, so concurrent appends take numbers in
    // call order. Validate now: an unencodable record is the caller's bug and must throw before
    // a number is taken.
    const seq = this.lastSeq + 1
    for (const r of records) if (parseChunkRecord(r) === undefined) encode(r)
    this.lastSeq = seq
    const write = this.tail.then(async () => {
      this.usable()
      try {
        await this.db.batch(await this.toOps(seq, records), { sync: true })
      } catch (err) {
        const full = (err as { code?: string }).code === 'ENOSPC' || /ENOSPC|No space/i.test(String((err as Error).message))
        this.failed = new StoreError('STORE_WRITE_FAILED', `Writing to the store in ${this.dir} failed (${(err as Error).message}); the node must stop: ${full ? 'the disk is full, free space' : 'free disk space or fix the disk'}, then restart it.`, err)
        throw this.failed
      }
      // Durable: from now on the index serves these chunks; keep them hot in the cache.
      for (const r of records) {
        const c = parseChunkRecord(r)
        if (c === undefined) continue
        const key = `${c.volume}/${c.hash}`
        if (this.staged.get(key) === c.bytes) this.staged.delete(key)
        this.remember(key, c.bytes)
      }
    })
    // The chain continues past a failure; later appends then throw `failed` themselves.
    this.tail = write.catch(() => undefined)
    return write
  }

  /** The level operations of one batch: segment bytes written and synced first, then the batch
   *  with references, the new index entries and the updated volume counters. */
  private async toOps(seq: number, records: readonly Value[]): Promise<{ type: 'put'; key: string; value: Uint8Array }[]> {
    const out: Value[] = []
    const ops: { type: 'put'; key: string; value: Uint8Array }[] = []
    const bufs: Uint8Array[] = []
    const fresh = new Set<string>()
    const touched = new Map<string, VolumeChunkStats>()
    let seg: { n: number; handle: FileHandle; size: number } | undefined
    let offset = 0
    for (const r of records) {
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
        if (bufs.length === 0) offset = seg.size
        if (offset + c.bytes.length > SEGMENT_BYTES_MAX && offset > 0) {
          await this.flushSegment(seg, bufs.splice(0))
          seg = await this.openSegment(seg.n + 1)
          offset = 0
        }
        bufs.push(c.bytes)
        out.push(['chunk@', c.volume, hash, seg.n, offset, c.bytes.length])
        ops.push({ type: 'put', key, value: encode(['seg', seg.n, offset, c.bytes.length]) })
        offset += c.bytes.length
      }
      if (!known) {
        fresh.add(key)
        const st = touched.get(c.volume) ?? this.chunkStats(c.volume)
        st.chunks++
        st.bytes += c.bytes.length
        touched.set(c.volume, st)
      }
    }
    if (seg !== undefined) await this.flushSegment(seg, bufs)
    ops.unshift({ type: 'put', key: batchKey(seq), value: encodeBatch(seq, out) })
    for (const [volume, st] of touched) ops.push({ type: 'put', key: statsKey(volume), value: encode([st.chunks, st.bytes]) })
    // Counters in memory only once the batch is durable would be exact; they are read only for
    // statfs and status, and a failed batch stops the store anyway.
    for (const [volume, st] of touched) this.stats.set(volume, st)
    return ops
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
   *  Damaged batches are reported in `problems` and their records left out. */
  async loadAll(): Promise<{ records: Value[]; problems: StoreProblem[] }> {
    this.usable()
    await this.tail
    const records: Value[] = []
    const problems: StoreProblem[] = []
    let expected = 1
    try {
      for await (const [key, value] of this.db.iterator({ gte: BATCH_PREFIX, lt: 'b;' })) {
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
        if (!batch.ok) {
          problems.push({ key, problem: batch.problem })
          continue
        }
        for (const r of batch.records) {
          if (Array.isArray(r) && (r[0] === 'chunk@' || r[0] === 'chunk~')) {
            if (!isChunkRef(r)) problems.push({ key, problem: 'a malformed chunk reference' })
            continue
          }
          records.push(r)
        }
      }
      // Keys outside the format's prefixes (b: c: m: s:) were written by something else.
      for (const range of FOREIGN_RANGES) {
        for await (const key of this.db.keys({ ...range, limit: 16 })) problems.push({ key, problem: 'a key that is not a batch sequence number (the store was written by something else)' })
      }
    } catch (err) {
      throw new StoreError('STORE_READ_FAILED', `Reading the store in ${this.dir} failed (${(err as Error).message}); the database may be damaged, keep a copy of the directory and restore the node from its peers.`, err)
    }
    return { records, problems }
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
    await this.segment?.handle.close()
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

/** ['chunk~', volume, hash, length] or ['chunk@', volume, hash, segment, offset, length]. */
function isChunkRef(r: readonly Value[]): boolean {
  const nums = r.slice(3)
  return (
    ((r[0] === 'chunk~' && r.length === 4) || (r[0] === 'chunk@' && r.length === 6)) && typeof r[1] === 'string' && r[2] instanceof Uint8Array &&
    nums.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)
  )
}
