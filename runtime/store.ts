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
import { createHash } from 'node:crypto'
import { Level } from 'level'
import { decode, encode, type Value } from '../core/codec.ts'
import { bytesEqual } from '../core/bytes.ts'
import { assert } from '../core/types.ts'
import { CodedError } from './errors.ts'

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
    const value = encodeBatch(seq, records)
    this.lastSeq = seq
    const write = this.tail.then(async () => {
      this.usable()
      try {
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
        if (batch.ok) records.push(...batch.records)
        else problems.push({ key, problem: batch.problem })
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
