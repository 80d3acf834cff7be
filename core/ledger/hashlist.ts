// The entry hashes of an accepted chain, packed: 32 bytes per entry in one growing buffer instead
// of a 64-character string each (measured, tmp core heap script: the views were ~600 bytes per op,
// two hex strings of ~90 bytes each of it). Read as hex, the form every caller compares.
import { fromHex, toHex } from '../bytes.ts'
import { assert } from '../types.ts'

const HASH_BYTES = 32

export class HashList<T extends string = string> {
  private buf: Uint8Array
  private n: number

  private constructor(buf: Uint8Array, n: number) {
    this.buf = buf
    this.n = n
  }

  static empty<T extends string = string>(): HashList<T> {
    return new HashList<T>(new Uint8Array(16 * HASH_BYTES), 0)
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
    return toHex(this.buf.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES)) as T
  }

  push(hex: T): void {
    const bytes = fromHex(hex)
    assert(bytes !== undefined && bytes.length === HASH_BYTES, 'HashList.push: a 32-byte lowercase hex hash')
    if ((this.n + 1) * HASH_BYTES > this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2)
      bigger.set(this.buf.subarray(0, this.n * HASH_BYTES))
      this.buf = bigger
    }
    this.buf.set(bytes, this.n * HASH_BYTES)
    this.n++
  }

  /** Test only (damaging a view on purpose): replaces the hash at index i. */
  set(i: number, hex: T): void {
    const bytes = fromHex(hex)
    assert(i >= 0 && i < this.n && bytes !== undefined && bytes.length === HASH_BYTES, 'HashList.set: an index in the list and a 32-byte hash')
    this.buf.set(bytes, i * HASH_BYTES)
  }

  /** A copy of [start, end) (end defaults to the length), as Array.slice. */
  slice(start = 0, end = this.n): HashList<T> {
    const s = Math.max(0, Math.min(start, this.n))
    const e = Math.max(s, Math.min(end, this.n))
    const buf = new Uint8Array(Math.max(16, e - s) * HASH_BYTES)
    buf.set(this.buf.subarray(s * HASH_BYTES, e * HASH_BYTES))
    return new HashList<T>(buf, e - s)
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
