// The accepted seals of a chain, ascending seq. Like HashList, a list restored from a checkpoint
// is backed below its base (spec/checkpoint.md "Restart from the tail"): the seals at or below
// `base` are not in memory but looked up by seq through the storage port (`Storage.seal`), so a
// node holds the seals accepted since its start, not one object per batch ever accepted.
import { assert, type Seq } from '../types.ts'
import type { Seal } from './format.ts'

/** Looks up the accepted seal at exactly `seq` (undefined: none there). */
export type SealAt = (seq: Seq) => Seal | undefined

export class SealList {
  private constructor(
    /** Seals with seq > base, ascending. */
    private recent: Seal[],
    /** Seals at or below this seq are read through `below`. */
    readonly base: Seq,
    private readonly below: SealAt | undefined,
  ) {}

  static empty(): SealList {
    return new SealList([], 0, undefined)
  }

  static from(seals: readonly Seal[]): SealList {
    return new SealList([...seals], 0, undefined)
  }

  /** The seals at or below `base` read on demand through `below`. */
  static backed(base: Seq, below: SealAt): SealList {
    return new SealList([], base, base > 0 ? below : undefined)
  }

  /** Appends a seal above every one held (the caller has validated it). */
  push(seal: Seal): void {
    const last = this.recent[this.recent.length - 1]
    assert(seal.seq > (last?.seq ?? this.base), 'SealList.push: ascending seqs')
    this.recent.push(seal)
  }

  /** The first seal with seq >= c, or undefined. */
  atOrAbove(c: Seq): Seal | undefined {
    if (c <= this.base && this.below !== undefined) {
      for (let s = Math.max(1, c); s <= this.base; s++) {
        const seal = this.below(s)
        if (seal !== undefined) return seal
      }
    }
    let lo = 0
    let hi = this.recent.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.recent[mid]!.seq >= c) hi = mid
      else lo = mid + 1
    }
    return this.recent[lo]
  }

  /** The last seal with seq <= c, or undefined. */
  atOrBelow(c: Seq): Seal | undefined {
    for (let i = this.recent.length - 1; i >= 0; i--) if (this.recent[i]!.seq <= c) return this.recent[i]
    if (this.below === undefined) return undefined
    for (let s = Math.min(c, this.base); s >= 1; s--) {
      const seal = this.below(s)
      if (seal !== undefined) return seal
    }
    return undefined
  }

  /** Seals with seq >= start, ascending (a FETCH answer, audits). */
  *from(start: Seq = 1): Generator<Seal> {
    for (let s = this.atOrAbove(start); s !== undefined; s = this.atOrAbove(s.seq + 1)) yield s
  }

  [Symbol.iterator](): Generator<Seal> {
    return this.from(1)
  }

  /** The seals at or below `seq` (a branch cut there). */
  upTo(seq: Seq): SealList {
    return new SealList(
      this.recent.filter((s) => s.seq <= seq),
      Math.min(this.base, seq),
      this.below,
    )
  }

  slice(): SealList {
    return new SealList(this.recent.slice(), this.base, this.below)
  }

  /** Test only (damaging a view on purpose): replaces the seals of a list that is not backed. */
  rewriteForTest(edit: (seals: Seal[]) => void): void {
    assert(this.base === 0, 'SealList.rewriteForTest: not on a backed list')
    edit(this.recent)
  }

  /** Seals held in memory. */
  get held(): number {
    return this.recent.length
  }

  toArray(): Seal[] {
    return [...this.from(1)]
  }

  toJSON(): Seal[] {
    return this.toArray()
  }
}
