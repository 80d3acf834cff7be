// The TOTB invariants (spec/totb.md) as executable checks over a DAG run: agreement, integrity
// and FIFO after every step of every correct node; judgement agreement, validity and identical
// state after the heal phase.
import type { EntryHash, Pid, Seq } from '../../core/types.ts'
import { claimsVertex, type EntryId, type OrderedEntry, type TotbState } from '../../core/totb/index.ts'

export interface ChainEntry {
  readonly seq: Seq
  readonly hash: EntryHash
  readonly payload: Uint8Array
}

export interface TotbViolation {
  readonly id: string
  readonly message: string
  readonly at: number
}

export class TotbChecker {
  readonly violations: TotbViolation[] = []
  /** The longest order any correct node has output so far: every node's must be a prefix. */
  private readonly reference: EntryId[] = []
  private readonly orders = new Map<Pid, EntryId[]>()
  private readonly seen = new Map<Pid, Set<string>>()
  /** Per node and author: the seq of the author's last ordered entry. */
  private readonly lastSeq = new Map<Pid, Map<Pid, Seq>>()
  /** Per node: the time of its last ordered entry. */
  private readonly lastTime = new Map<Pid, number>()

  constructor(
    private readonly chains: ReadonlyMap<Pid, readonly ChainEntry[]>,
    private readonly correct: readonly Pid[],
  ) {
    for (const p of correct) {
      this.orders.set(p, [])
      this.seen.set(p, new Set())
      this.lastSeq.set(p, new Map())
    }
  }

  private fail(id: string, message: string, at: number): void {
    if (this.violations.length < 50) this.violations.push({ id, message, at })
  }

  order(node: Pid): readonly EntryId[] {
    return this.orders.get(node) ?? []
  }

  /** A correct node ordered these entries (after its earlier ones) at virtual time `at`, which is
   *  also every correct member's clock here (the DAG runs have no clock skew). */
  onOrdered(node: Pid, entries: readonly OrderedEntry[], at: number): void {
    const order = this.orders.get(node)
    if (order === undefined) return
    const seen = this.seen.get(node)!
    const last = this.lastSeq.get(node)!
    for (const e of entries) {
      const pos = order.length
      order.push(e)
      const ref = this.reference[pos]
      if (ref === undefined) this.reference.push(e)
      else if (ref.author !== e.author || ref.seq !== e.seq || ref.hash !== e.hash) {
        this.fail('TOTB-1', `${short(node)} ordered ${show(e)} at position ${pos + 1}, another correct member ${show(ref)}`, at)
      }
      const chain = this.chains.get(e.author)
      const held = chain?.[e.seq - 1]
      const key = `${e.author}:${e.seq}`
      if (held === undefined || held.hash !== e.hash) this.fail('TOTB-2', `${short(node)} ordered ${show(e)}, which its author's chain does not hold`, at)
      else if (claimsVertex(held.payload)) this.fail('TOTB-2', `${short(node)} ordered the vertex ${show(e)} as an operation`, at)
      if (seen.has(key)) this.fail('TOTB-2', `${short(node)} ordered ${show(e)} twice`, at)
      seen.add(key)
      // FIFO: the next ordered entry of an author is its next non-vertex entry.
      const from = last.get(e.author) ?? 0
      let expected = from + 1
      while (chain !== undefined && expected <= chain.length && claimsVertex(chain[expected - 1]!.payload)) expected++
      if (e.seq !== expected) this.fail('TOTB-3', `${short(node)} ordered ${show(e)} after seq ${from} of its author; expected seq ${expected}`, at)
      last.set(e.author, e.seq)
      // TOTB-6: the order's time never decreases and is never ahead of every correct clock.
      const before = this.lastTime.get(node) ?? 0
      if (e.time < before) this.fail('TOTB-6', `${short(node)} gave ${show(e)} the time ${e.time}, after ${before}`, at)
      if (e.time > at) this.fail('TOTB-6', `${short(node)} gave ${show(e)} the time ${e.time}, ${e.time - at} ms ahead of every correct member's clock`, at)
      this.lastTime.set(node, e.time)
    }
  }

  /** After the heal phase: judgement agreement, validity, identical state. */
  atEnd(states: ReadonlyMap<Pid, TotbState>, correctAuthors: readonly Pid[], at: number): void {
    const nodes = this.correct.filter((p) => states.has(p))
    // TOTB-5: two correct members that judged an author's entry judged it alike.
    for (let i = 1; i < nodes.length; i++) {
      const a = states.get(nodes[0]!)!
      const b = states.get(nodes[i]!)!
      for (const [author, ja] of a.authors) {
        const jb = b.authors.get(author)
        if (jb === undefined) continue
        const upTo = Math.min(ja.judged, jb.judged)
        for (let seq = 1; seq <= upTo; seq++) {
          const va = ja.vertices.get(seq)
          const vb = jb.vertices.get(seq)
          if ((va === undefined) !== (vb === undefined)) {
            this.fail('TOTB-5', `${short(nodes[0]!)} and ${short(nodes[i]!)} judge ${short(author)}#${seq} differently (valid: ${va !== undefined} / ${vb !== undefined})`, at)
          } else if (va !== undefined && vb !== undefined && (va.round !== vb.round || va.batch.map((e) => e.seq).join() !== vb.batch.map((e) => e.seq).join())) {
            this.fail('TOTB-5', `${short(nodes[0]!)} and ${short(nodes[i]!)} give ${short(author)}#${seq} different rounds or batches`, at)
          }
        }
      }
    }
    // TOTB-4: after heal, every operation of a correct author is ordered at every correct member.
    for (const node of nodes) {
      const seen = this.seen.get(node)!
      for (const author of correctAuthors) {
        for (const e of this.chains.get(author) ?? []) {
          if (claimsVertex(e.payload) || seen.has(`${author}:${e.seq}`)) continue
          this.fail('TOTB-4', `${short(node)} never ordered ${short(author)}#${e.seq} of a correct author after the heal phase`, at)
          break
        }
      }
    }
  }
}

function short(p: string): string {
  return p.slice(2, 10)
}

function show(e: EntryId): string {
  return `${short(e.author)}#${e.seq}`
}
