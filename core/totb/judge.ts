// Judging delivered entries (spec/totb.md "Validity"): fotb hands up each author's entries in
// seq order; they are judged in that order. A vertex whose references are not judged yet waits,
// and its author's later entries wait behind it. A verdict depends only on the chains, which
// fotb makes the same at every correct member (FOTB-5), so every correct member judges every
// vertex alike (TOTB-5).
import { assert } from '../types.ts'
import type { TimeMs } from '../types.ts'
import { authorOf, bump, isLeaderRound, leaderOf, type AuthorTotb, type EntryId, type Pending, type TotbOut, type TotbState, type Vertex } from './state.ts'
import { claimsVertex, decodeVertex, type VertexPayload } from './vertex.ts'
import { commitLeader } from './order.ts'
import { coverHistory } from './cover.ts'

/** Why a vertex is invalid; counted as `reject:vertex-<code>`. */
export type VertexRejection = 'malformed' | 'stale' | 'not-member' | 'round' | 'few-refs' | 'refs' | 'ref'

type Verdict = { kind: 'valid'; strong: Vertex[]; weak: Vertex[] } | { kind: 'invalid'; code: VertexRejection } | { kind: 'wait' }

/** fotb delivered an entry: judge it and whatever waited behind it. */
export function deliverEntry(state: TotbState, now: TimeMs, entry: Pending, out: TotbOut): void {
  // Kept for any author: a non-member's entries are carried once it is a member (from seq 1).
  const author = authorOf(state, entry.author)
  assert(entry.seq === author.judged + author.pending.length + 1, `totb: ${entry.author} delivered out of seq order`)
  author.pending.push(entry)
  if (author.pending.length > 1) return // behind a waiting vertex
  if (!judgeAuthor(state, author, now, out)) return
  // Progress by this author may let vertices of others that refer to it be judged.
  let progress = true
  while (progress) {
    progress = false
    for (const other of state.authors.values()) {
      if (other.pending.length > 0 && judgeAuthor(state, other, now, out)) progress = true
    }
  }
}

/** Judge the author's pending entries in order until one must wait; true if any was judged. */
function judgeAuthor(state: TotbState, author: AuthorTotb, now: TimeMs, out: TotbOut): boolean {
  let judged = false
  while (author.pending.length > 0) {
    const entry = author.pending[0]!
    if (!claimsVertex(entry.payload)) {
      author.carry.push({ author: entry.author, seq: entry.seq, hash: entry.hash })
    } else {
      const payload = decodeVertex(entry.payload)
      const verdict: Verdict = payload === undefined ? { kind: 'invalid', code: 'malformed' } : judgeVertex(state, author, entry, payload)
      if (verdict.kind === 'wait') return judged
      if (verdict.kind === 'invalid') {
        // Invalid everywhere alike; it carries nothing and its batch passes to the next valid one.
        bump(state, `reject:vertex-${verdict.code}`)
      } else {
        accept(state, author, entry, payload!, verdict.strong, verdict.weak, now, out)
      }
    }
    author.pending.shift()
    author.judged = entry.seq
    judged = true
  }
  return judged
}

function judgeVertex(state: TotbState, author: AuthorTotb, entry: EntryId, v: VertexPayload): Verdict {
  // An epoch that ended: nothing of it after its end is ordered, here or anywhere (the end is a
  // point of the order). An epoch to come: wait until the order gets there.
  if (v.epoch < state.epoch) return { kind: 'invalid', code: 'stale' }
  if (v.epoch > state.epoch) return { kind: 'wait' }
  if (!state.inCommittee.has(entry.author)) return { kind: 'invalid', code: 'not-member' }
  if (author.last !== undefined && v.round <= author.last.round) return { kind: 'invalid', code: 'round' }
  const need = state.params.mutation === 'totb-accept-fewer-refs' ? state.q - 1 : state.q
  if (v.round === 1 ? v.strong.length !== 0 : v.strong.length < need) return { kind: 'invalid', code: 'few-refs' }
  for (let i = 1; i < v.strong.length; i++) if (v.strong[i - 1]!.author >= v.strong[i]!.author) return { kind: 'invalid', code: 'refs' }
  if (v.weak.length > state.params.maxWeakRefs) return { kind: 'invalid', code: 'refs' }
  const seen = new Set<string>()
  for (const w of v.weak) {
    const key = `${w.author}:${w.seq}`
    if (seen.has(key)) return { kind: 'invalid', code: 'refs' }
    seen.add(key)
  }
  const strong: Vertex[] = []
  const weak: Vertex[] = []
  let wait = false
  for (const [refs, into, ok] of [
    [v.strong, strong, (r: number) => r === v.round - 1],
    [v.weak, weak, (r: number) => r < v.round - 1],
  ] as const) {
    for (const ref of refs) {
      // Refs name vertices of this epoch's members; one to the vertex's own author at or after
      // it could never be judged first.
      const target = state.inCommittee.has(ref.author) ? state.authors.get(ref.author) : undefined
      if (target === undefined || (ref.author === entry.author && ref.seq >= entry.seq)) return { kind: 'invalid', code: 'ref' }
      if (target.judged < ref.seq) {
        wait = true
        continue
      }
      const u = target.vertices.get(ref.seq)
      if (u === undefined || u.hash !== ref.hash || !ok(u.round)) return { kind: 'invalid', code: 'ref' }
      into.push(u)
    }
  }
  return wait ? { kind: 'wait' } : { kind: 'valid', strong, weak }
}

function accept(state: TotbState, author: AuthorTotb, entry: EntryId, v: VertexPayload, strong: Vertex[], weak: Vertex[], now: TimeMs, out: TotbOut): void {
  const vertex: Vertex = {
    author: entry.author, seq: entry.seq, hash: entry.hash, epoch: v.epoch, round: v.round, time: v.time, strong, weak,
    prev: author.last, batch: author.carry, ordered: false, covered: entry.author === state.me,
  }
  author.carry = []
  author.last = vertex
  author.vertices.set(entry.seq, vertex)
  let round = state.rounds.get(v.round)
  if (round === undefined) state.rounds.set(v.round, (round = new Map()))
  round.set(entry.author, vertex)
  if (vertex.batch.length > 0) state.unorderedWork++
  if (v.round > state.topRound) state.topRound = v.round
  if (!vertex.covered) state.uncovered.add(vertex)
  else coverHistory(state, vertex) // an own vertex (also one judged again after a restart)
  bump(state, 'totb:vertices')
  out.accepted.push(vertex)
  if (round.size === state.q) {
    state.quorumAt.set(v.round, now)
    if (v.round > state.quorumRound) state.quorumRound = v.round
  }
  // A vote: a vertex of the round after a leader round that refers to that round's leader.
  const leaderRound = v.round - 1
  if (leaderRound >= 1 && isLeaderRound(leaderRound) && leaderRound > state.orderedLeaderRound) {
    const leader = leaderOf(state, leaderRound)
    if (strong.some((u) => u.author === leader)) {
      const votes = (state.votes.get(leaderRound) ?? 0) + 1
      state.votes.set(leaderRound, votes)
      const threshold = state.params.mutation === 'totb-commit-with-f' ? state.f : state.f + 1
      if (votes >= threshold) commitLeader(state, leaderRound, out)
    }
  }
}
