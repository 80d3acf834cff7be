// The durable record store of a node: what the core's `persist` effects ask to remember, on
// `level` (LevelDB). The host appends one step's records with `append` and sends nothing of that
// step before the promise resolves (core/effects.ts, "persist before send"); at restart it feeds
// `loadAll().records` to `restoreNode`.
//
// On disk, one step = one level entry, written as one atomic level batch with `sync: true`:
//   key   = the batch's sequence number, 1, 2, 3 ..., as 16 decimal digits, zero-padded, so that
//           level's byte order of keys is the order of appends (16 digits hold any safe integer);
//   value = encode([sha256(body), body]), body = encode([seq, records])   (core/codec.ts).
// Why the sequence number is inside the body too: a value moved or copied to another key fails
// the key check, so a reordered or duplicated batch is caught like a flipped bit.
// Why no torn-write handling (unlike sim/cluster.ts readBatch): a level batch is all-or-nothing,
// so a damaged or missing batch is corruption (bit rot, tampering), never a crash's leftover.
//
// Content chunks of CHUNK_INLINE_MAX bytes or more do not go into level: LevelDB writes a value
// several times (log, then each compaction), which capped sequential writes at ~30 MB/s. They are
// appended to a segment file in `<dir>-chunks/` (`seg-000001`, ...) and made durable (fdatasync)
// BEFORE the level batch that refers to them; the batch holds, instead of
// ['chunk', volume, hash, bytes], the reference ['chunk@', volume, hash, segment, offset, length].
// loadAll turns references back into chunk records by reading the segment, so the core never
// sees the difference; the core checks every chunk's hash when it restores (a chunk changed in
// its segment is named by hash, RT-3). A crash between the segment write and the level batch
// leaves unreferenced bytes in the segment: space, never state.
import { createHash } from 'node:crypto'
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises'
import { Level } from 'level'
import { decode, encode, type Value } from '../core/codec.ts'
import { bytesEqual } from '../core/bytes.ts'
import { assert } from '../core/types.ts'
import { CodedError } from './errors.ts'

/** Chunks at least this long go to a segment file instead of level. */
export const CHUNK_INLINE_MAX = 16 * 1024
/** A segment file is closed for appends beyond this size and the next one begun. */
export const SEGMENT_BYTES_MAX = 1024 * 1024 * 1024

export function segmentDir(dir: string): string {
  return `${dir}-chunks`
}
export function segmentName(n: number): string {
  return `seg-${String(n).padStart(6, '0')}`
}

/** Digits of a key: Number.MAX_SAFE_INTEGER has 16. */
const KEY_DIGITS = 16
const KEY_PATTERN = /^[0-9]{16}$/

export type StoreErrorCode = 'STORE_LOCKED' | 'STORE_OPEN_FAILED' | 'STORE_WRITE_FAILED' | 'STORE_READ_FAILED' | 'STORE_CLOSED'

/** An error a user can meet: a stable code and a sentence that says what to do. */
export class StoreError extends CodedError<StoreErrorCode> {}

export interface StoreProblem {
  readonly key: string
  readonly problem: string
}

export function batchKey(seq: number): string {
  assert(Number.isSafeInteger(seq) && seq >= 1, 'batch sequence numbers are positive safe integers')
  return String(seq).padStart(KEY_DIGITS, '0')
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

export class RecordStore {
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

  private constructor(db: Level<string, Uint8Array>, dir: string, lastSeq: number) {
    this.db = db
    this.dir = dir
    this.lastSeq = lastSeq
  }

  /** Opens (creating if needed) the store in `dir`. Throws StoreError STORE_LOCKED or STORE_OPEN_FAILED. */
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
    try {
      const [last] = await db.keys({ reverse: true, limit: 1 }).all()
      // A key that is not a sequence number is reported by loadAll; numbering continues after the
      // highest well-formed key so that no append overwrites a stored batch.
      if (last !== undefined) lastSeq = KEY_PATTERN.test(last) ? Number(last) : await highestSeq(db)
    } catch (err) {
      await db.close().catch(() => undefined)
      throw new StoreError('STORE_OPEN_FAILED', `Cannot read the store in ${dir} (${(err as Error).message}); the database may be damaged, keep a copy of the directory and restore the node from its peers.`, err)
    }
    return new RecordStore(db, dir, lastSeq)
  }

  /** Makes one step's records durable, all or none (one level batch, fsync'd). Resolved means durable. */
  async append(records: readonly Value[]): Promise<void> {
    this.usable()
    if (records.length === 0) return this.tail // nothing to write; resolves once earlier appends are durable
    // Everything up to the first await runs synchronously, so concurrent appends take numbers in
    // call order. Encode now: an unencodable record is the caller's bug and must throw before a
    // number is taken.
    const seq = this.lastSeq + 1
    const large = records.some(isLargeChunk)
    // Without large chunks the value is encoded now; with them, once their segment offsets are known.
    let value = large ? undefined : encodeBatch(seq, records)
    this.lastSeq = seq
    const write = this.tail.then(async () => {
      this.usable()
      try {
        if (value === undefined) value = encodeBatch(seq, await this.toSegment(records))
        await this.db.batch([{ type: 'put', key: batchKey(seq), value }], { sync: true })
      } catch (err) {
        this.failed = new StoreError('STORE_WRITE_FAILED', `Writing to the store in ${this.dir} failed (${(err as Error).message}); the node must stop: free disk space or fix the disk, then restart it.`, err)
        throw this.failed
      }
    })
    // The chain continues past a failure; later appends then throw `failed` themselves.
    this.tail = write.catch(() => undefined)
    return write
  }

  /** Appends the large chunks' bytes to the segment, durable, and returns the records with
   *  references in their place. */
  private async toSegment(records: readonly Value[]): Promise<Value[]> {
    const out: Value[] = []
    const bufs: Uint8Array[] = []
    let seg = await this.openSegment()
    let offset = seg.size
    for (const r of records) {
      if (!isLargeChunk(r)) {
        out.push(r)
        continue
      }
      const [, volume, hash, bytes] = r as [string, string, Uint8Array, Uint8Array]
      if (offset + bytes.length > SEGMENT_BYTES_MAX && offset > 0) {
        await this.flushSegment(seg, bufs.splice(0))
        seg = await this.openSegment(seg.n + 1)
        offset = 0
      }
      bufs.push(bytes)
      out.push(['chunk@', volume, hash, seg.n, offset, bytes.length])
      offset += bytes.length
    }
    await this.flushSegment(seg, bufs)
    return out
  }

  private async flushSegment(seg: { handle: FileHandle; size: number }, bufs: readonly Uint8Array[]): Promise<void> {
    if (bufs.length === 0) return
    let n = 0
    for (const b of bufs) n += b.length
    await seg.handle.writev(bufs as Uint8Array[], seg.size)
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

  /** Every batch in append order. Damaged batches are reported in `problems` and their records left out. */
  async loadAll(): Promise<{ records: Value[]; problems: StoreProblem[] }> {
    this.usable()
    await this.tail
    const records: Value[] = []
    const problems: StoreProblem[] = []
    let expected = 1
    try {
      for await (const [key, value] of this.db.iterator()) {
        if (!KEY_PATTERN.test(key)) {
          problems.push({ key, problem: 'a key that is not a batch sequence number (the store was written by something else)' })
          continue
        }
        const seq = Number(key)
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
          if (!isChunkRef(r)) {
            if (Array.isArray(r) && r[0] === 'chunk@') problems.push({ key, problem: 'a malformed chunk reference' })
            else records.push(r)
            continue
          }
          const bytes = await this.readSegment(r[3], r[4], r[5])
          if (typeof bytes === 'string') problems.push({ key, problem: `chunk ${Buffer.from(r[2]).toString('hex')}: ${bytes}` })
          else records.push(['chunk', r[1], r[2], bytes])
        }
      }
    } catch (err) {
      throw new StoreError('STORE_READ_FAILED', `Reading the store in ${this.dir} failed (${(err as Error).message}); the database may be damaged, keep a copy of the directory and restore the node from its peers.`, err)
    }
    return { records, problems }
  }

  private readonly readers = new Map<number, FileHandle | null>()

  /** A chunk's bytes from its segment, or why they cannot be read. */
  private async readSegment(n: number, offset: number, length: number): Promise<Uint8Array | string> {
    let h = this.readers.get(n)
    if (h === undefined) {
      h = await open(`${segmentDir(this.dir)}/${segmentName(n)}`, 'r').catch(() => null)
      this.readers.set(n, h)
    }
    if (h === null) return `segment ${segmentName(n)} is missing`
    const buf = new Uint8Array(length)
    const { bytesRead } = await h.read(buf, 0, length, offset)
    if (bytesRead !== length) return `segment ${segmentName(n)} ends before offset ${offset}+${length}`
    return buf
  }

  /** Waits for pending appends, then closes the database (and releases its lock). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.tail
    for (const h of this.readers.values()) await h?.close()
    this.readers.clear()
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
  for await (const key of db.keys()) if (KEY_PATTERN.test(key)) highest = Math.max(highest, Number(key))
  return highest
}

function isLargeChunk(r: Value): boolean {
  return Array.isArray(r) && r[0] === 'chunk' && r.length === 4 && r[3] instanceof Uint8Array && r[3].length >= CHUNK_INLINE_MAX
}

type ChunkRef = [string, string, Uint8Array, number, number, number]
function isChunkRef(r: Value): r is ChunkRef {
  return (
    Array.isArray(r) && r[0] === 'chunk@' && r.length === 6 && typeof r[1] === 'string' && r[2] instanceof Uint8Array &&
    [r[3], r[4], r[5]].every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)
  )
}
