// Commit and order (spec/totb.md "Commit", "Order"): Bullshark's rule over the judged DAG. A
// leader with f + 1 votes is committed directly; the leaders between it and the last ordered one
// are ordered first if a strong path leads to them from the newer ordered leader, else skipped.
// Each ordered leader orders its causal history (strong, weak and previous-vertex edges) that
// was not ordered yet, sorted by (round, author), each vertex expanded into its batch.
// An ordered entry may change the committee (the host's hook says so): the epoch then ends with
// the history of the leader that ordered it, and a fresh DAG of the new committee begins.
import { bump, leaderVertex, setCommittee, type TotbOut, type TotbState, type Vertex } from './state.ts'
import type { Pid } from '../types.ts'

/** Whether `to` is reachable from `from` along strong references only. */
export function strongPath(from: Vertex, to: Vertex): boolean {
  let frontier = new Set<Vertex>([from])
  for (let round = from.round; round > to.round; round--) {
    const next = new Set<Vertex>()
    for (const v of frontier) for (const u of v.strong) next.add(u)
    if (next.size === 0) return false
    frontier = next
  }
  return frontier.has(to)
}

export function commitLeader(state: TotbState, round: number, out: TotbOut): void {
  const leader = leaderVertex(state, round)
  if (leader === undefined || round <= state.orderedLeaderRound) return
  const chain: Vertex[] = [leader]
  if (state.params.mutation !== 'totb-skip-indirect') {
    let anchor = leader
    for (let r = round - 2; r > state.orderedLeaderRound; r -= 2) {
      const earlier = leaderVertex(state, r)
      if (earlier !== undefined && strongPath(anchor, earlier)) {
        chain.push(earlier)
        anchor = earlier
      }
    }
  }
  for (let i = chain.length - 1; i >= 0; i--) {
    const l = chain[i]!
    state.orderedTime = Math.max(state.orderedTime, leaderTime(state, l))
    const next = orderHistory(state, l, out)
    out.leaders.push({ epoch: state.epoch, round: l.round, author: l.author, direct: i === 0, position: state.position, time: state.orderedTime, f: state.f })
    state.orderedLeaderRound = l.round
    // A committee change ends the epoch; so does its length (the same committee goes on in a
    // fresh DAG): the only garbage collection, and a deterministic one, as the end is a point
    // of the order. Without it the vertices of a long-lived volume would pile up in memory.
    const rotate = state.params.epochRounds > 0 && l.round >= state.params.epochRounds
    if (next !== undefined || rotate) {
      endEpoch(state, next ?? state.committee, out)
      return // the newer leaders of this chain belong to the epoch that ended: never ordered
    }
  }
}

/** The epoch ends: every author's valid vertices not ordered give their batches back (they are
 *  carried again by the author's first vertex of the new epoch), and the new committee starts a
 *  fresh DAG at round 1. Deterministic: which vertices are unordered is a point of the order. */
function endEpoch(state: TotbState, committee: readonly Pid[], out: TotbOut): void {
  let ownBack = 0
  for (const [pid, author] of state.authors) {
    const back = [...author.vertices.values()].filter((v) => !v.ordered).sort((a, b) => a.seq - b.seq).flatMap((v) => v.batch)
    if (pid === state.me) ownBack = back.length
    author.carry = [...back, ...author.carry]
    author.vertices.clear()
    author.last = undefined
  }
  state.epoch++
  setCommittee(state, committee)
  state.ownCarry += ownBack
  bump(state, 'totb:epochs')
  out.epochs.push({ epoch: state.epoch, committee: state.committee })
}

/** The time a leader's history is ordered at: the (lower) median of the times in the vertices its
 *  strong refs name. They are at least q = n - f vertices of distinct members, at most f of them
 *  Byzantine, so the median lies between two correct members' clocks: a minority can neither
 *  push it into the future nor hold it in the past. A round-1 leader has no refs: the time stays
 *  where it was. (The time does not decide the order; it is what the order says the time was,
 *  e.g. for retention periods, spec/fs.md.) */
export function leaderTime(state: TotbState, leader: Vertex): number {
  if (state.params.mutation === 'totb-trust-leader-time') return leader.time
  if (leader.strong.length === 0) return state.orderedTime
  const times = leader.strong.map((v) => v.time).sort((a, b) => a - b)
  return times[Math.floor((times.length - 1) / 2)]!
}

/** Order the not yet ordered part of a leader's causal history; the new committee if an entry
 *  of it changed the committee (the last change wins). */
function orderHistory(state: TotbState, leader: Vertex, out: TotbOut): readonly Pid[] | undefined {
  const found: Vertex[] = []
  const stack: Vertex[] = [leader]
  leader.ordered = true
  while (stack.length > 0) {
    const v = stack.pop()!
    found.push(v)
    for (const edges of [v.strong, v.weak]) {
      for (const u of edges) {
        if (!u.ordered) {
          u.ordered = true
          stack.push(u)
        }
      }
    }
    if (v.prev !== undefined && !v.prev.ordered) {
      v.prev.ordered = true
      stack.push(v.prev)
    }
  }
  found.sort((a, b) => a.round - b.round || (a.author < b.author ? -1 : a.author > b.author ? 1 : 0))
  let next: readonly Pid[] | undefined
  for (const v of found) {
    state.uncovered.delete(v)
    if (v.batch.length > 0) state.unorderedWork--
    for (const e of v.batch) {
      state.position++
      out.ordered.push({ author: e.author, seq: e.seq, hash: e.hash, time: state.orderedTime, position: state.position, f: state.f })
      const changed = state.hooks.committeeAfter?.(e)
      if (changed !== undefined && changed.length > 0) next = changed
    }
  }
  return next
}
