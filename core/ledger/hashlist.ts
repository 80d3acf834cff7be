// The entry hashes of an accepted chain, packed: 32 bytes per entry in one growing buffer instead
// of a 64-character string each (measured, tmp core heap script: the views were ~600 bytes per op,
// two hex strings of ~90 bytes each of it). Read as hex, the form every caller compares.
//
// A list restored from a checkpoint is *backed* below its base (spec/checkpoint.md "Restart from
// the tail"): indexes 0..base-1 are not in memory but read on demand (`Below.read`, from the
// storage port's accepted entries), so a node's memory holds the hashes accepted since its last
// start, not every hash ever accepted. The last 64 hashes read below the base are kept (the
// delivery checks read the same reported seqs again and again; each read is an entry read from
// the port and hashed).
import { fromHex, toHex } from '../bytes.ts'
import { assert } from '../types.ts'

const HASH_BYTES = 32
/** Hashes below the base a list keeps once read (most recent first out when full): the delivery
 *  checks look up the same few reported seqs of a chain again and again, and each read below
 *  is an entry read from the port and hashed. Bounded, so a backed list stays small. */
const BELOW_CACHE = 64

/** Where a backed list reads its first `count` hashes. `read` returns the hash at index i < count,
 *  or throws when it cannot (the port lost what it persisted: the node stops, never guesses). */
export interface Below<T extends string> {
  readonly count: number
  readonly read: (i: number) => T
}

export class HashList<T extends string = string> {
  /** Hashes base..n-1 (index i at (i - base) * 32). */
  private buf: Uint8Array
  private n: number
  private readonly below: Below<T> | undefined
  /** Hashes read below the base (index -> hash), at most BELOW_CACHE, oldest evicted first. */
  private belowRead: Map<number, T> | undefined
  /** The hex of the last hash when it was pushed (or set) here, else undefined: the delivery
   *  checks compare most reports with a chain's head, and a string compare is cheaper than
   *  comparing the packed bytes digit by digit. An ES private field, so that equality of two
   *  lists (tests, JSON) sees only the hashes. */
  #lastHex: T | undefined

  private constructor(buf: Uint8Array, n: number, below?: Below<T>) {
    this.buf = buf
    this.n = n
    this.below = below !== undefined && below.count > 0 ? below : undefined
  }

  private readBelow(i: number): T {
    let cache = this.belowRead
    if (cache === undefined) cache = this.belowRead = new Map()
    const hit = cache.get(i)
    if (hit !== undefined) return hit
    const h = this.below!.read(i)
    if (cache.size >= BELOW_CACHE) cache.delete(cache.keys().next().value!)
    cache.set(i, h)
    return h
  }

  static empty<T extends string = string>(): HashList<T> {
    return new HashList<T>(new Uint8Array(16 * HASH_BYTES), 0)
  }

  /** A list of `below.count` hashes that are read on demand; pushes go to memory. */
  static backed<T extends string>(below: Below<T>): HashList<T> {
    return new HashList<T>(new Uint8Array(16 * HASH_BYTES), below.count, below)
  }

  /** How many of the hashes are not in memory (0 for a list that is not backed). */
  get base(): number {
    return this.below?.count ?? 0
  }

  static from<T extends string>(hexes: Iterable<T>): HashList<T> {
    const list = HashList.empty<T>()
    for (const h of hexes) list.push(h)
    return list
  }

  get length(): number {
    return this.n
  }

  /** The hex hash at index i (0-based), undefined outside 0..length-1 (like an array). */
  get(i: number): T | undefined {
    if (!Number.isInteger(i) || i < 0 || i >= this.n) return undefined
    const base = this.base
    if (i < base) return this.readBelow(i)
    if (i === this.n - 1 && this.#lastHex !== undefined) return this.#lastHex
    return toHex(this.buf.subarray((i - base) * HASH_BYTES, (i - base + 1) * HASH_BYTES)) as T
  }

  /** `get(i) === hex`, without building the hex string of a hash held in memory (the delivery
   *  checks ask this of every member's report on every HEADS). */
  is(i: number, hex: string): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.n) return false
    const base = this.base
    if (i < base) return this.readBelow(i) === hex
    if (i === this.n - 1 && this.#lastHex !== undefined) return this.#lastHex === hex
    if (hex.length !== 2 * HASH_BYTES) return false
    const at = (i - base) * HASH_BYTES
    for (let k = 0; k < HASH_BYTES; k++) {
      const b = this.buf[at + k]!
      const hi = b >> 4
      const lo = b & 15
      if (hex.charCodeAt(2 * k) !== (hi < 10 ? 48 + hi : 87 + hi) || hex.charCodeAt(2 * k + 1) !== (lo < 10 ? 48 + lo : 87 + lo)) return false
    }
    return true
  }

  push(hex: T): void {
    const bytes = fromHex(hex)
    assert(bytes !== undefined && bytes.length === HASH_BYTES, 'HashList.push: a 32-byte lowercase hex hash')
    const held = this.n - this.base
    if ((held + 1) * HASH_BYTES > this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2)
      bigger.set(this.buf.subarray(0, held * HASH_BYTES))
      this.buf = bigger
    }
    this.buf.set(bytes, held * HASH_BYTES)
    this.n++
    this.#lastHex = hex // canonical: fromHex took it, so toHex of its bytes gives it back
  }

  /** Test only (damaging a view on purpose): replaces the hash at index i (one in memory). */
  set(i: number, hex: T): void {
    const bytes = fromHex(hex)
    assert(i >= this.base && i < this.n && bytes !== undefined && bytes.length === HASH_BYTES, 'HashList.set: an index in memory and a 32-byte hash')
    this.buf.set(bytes, (i - this.base) * HASH_BYTES)
    if (i === this.n - 1) this.#lastHex = hex
  }

  /** A copy of [start, end) (end defaults to the length), as Array.slice. A backed list is sliced
   *  from 0 only (a prefix keeps reading below the same way). */
  slice(start = 0, end = this.n): HashList<T> {
    const s = Math.max(0, Math.min(start, this.n))
    const e = Math.max(s, Math.min(end, this.n))
    const base = this.base
    if (base > 0) {
      assert(s === 0, 'HashList.slice: a backed list is sliced from 0')
      const keepBelow = Math.min(base, e)
      const buf = new Uint8Array(Math.max(16, e - keepBelow) * HASH_BYTES)
      buf.set(this.buf.subarray(0, (e - keepBelow) * HASH_BYTES))
      return new HashList<T>(buf, e, { count: keepBelow, read: this.below!.read })
    }
    const buf = new Uint8Array(Math.max(16, e - s) * HASH_BYTES)
    buf.set(this.buf.subarray(s * HASH_BYTES, e * HASH_BYTES))
    return new HashList<T>(buf, e - s)
  }

  /** Bytes held in memory (the checkers and the memory figures). */
  get heldBytes(): number {
    return (this.n - this.base) * HASH_BYTES
  }

  toArray(): T[] {
    const out: T[] = []
    for (let i = 0; i < this.n; i++) out.push(this.get(i)!)
    return out
  }

  /** JSON and test equality see the hex hashes. */
  toJSON(): T[] {
    return this.toArray()
  }
}
