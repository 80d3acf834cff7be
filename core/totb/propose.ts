// This node's next vertex (spec/totb.md "Making a vertex"). A vertex of round r + 1 is made when
// the node holds q valid vertices of round r, the wait for round r's leader (or for the votes on
// round r - 1's leader) is over, and there is work: an own entry no vertex carries yet, or a
// valid vertex with a batch that is not ordered, or a member's vertex of a round above our own
// newest (its round needs ours for a quorum; without this a member whose operations came after
// its vertex of round r waits forever for the others' round-r vertices). So an idle volume runs
// no rounds. A Byzantine member can keep rounds going, as it can by appending operations.
import type { TimeMs } from '../types.ts'
import { isLeaderRound, leaderOf, type EntryId, type TotbOut, type TotbState, type Vertex } from './state.ts'
import { encodeVertex } from './vertex.ts'
import { coverFrom } from './cover.ts'

/** The host appended an own non-vertex entry (an operation): the next own vertex carries it. */
export function noteOwnEntry(state: TotbState): void {
  state.ownCarry++
}

export function hasWork(state: TotbState): boolean {
  return orderWork(state) || state.hooks.hostWork?.() === true
}

/** Work for the order itself: an entry to order, or a round that needs our vertex. */
function orderWork(state: TotbState): boolean {
  // The own judged carry too: an own vertex still in flight when an epoch ended is judged stale,
  // and its operations wait in the carry for the next own vertex, which ownCarry may not count.
  return state.ownCarry > 0 || (state.authors.get(state.me)?.carry.length ?? 0) > 0 || state.unorderedWork > 0 || state.topRound > state.ownRound
}

/** Whether the wait before a vertex of round `base + 1` is over. */
function waitOver(state: TotbState, base: number, now: TimeMs): boolean {
  if (base === 0) return true
  const since = state.quorumAt.get(base)
  const timedOut = since !== undefined && now - since >= state.params.leaderTimeoutMs
  const round = state.rounds.get(base)!
  if (isLeaderRound(base)) return round.has(leaderOf(state, base)) || timedOut
  const leaderRound = base - 1
  if (leaderRound <= state.orderedLeaderRound) return true
  const leader = leaderOf(state, leaderRound)
  let votes = 0
  for (const v of round.values()) if (v.strong.some((u) => u.author === leader)) votes++
  return votes >= state.f + 1 || round.size - votes >= state.q || timedOut
}

/** Make this node's next vertex if it may; the payload goes to `out.vertices` for the host to
 *  append to its own chain in this step. */
export function maybePropose(state: TotbState, now: TimeMs, out: TotbOut): void {
  if (!state.inCommittee.has(state.me) || state.hooks.mayAppend?.() === false) return
  if (!orderWork(state)) {
    // Only the host waits (a decision that needs the order's time to move): one slow round.
    if (state.hooks.hostWork?.() !== true || now - state.ownAt < (state.params.idleRoundMs ?? 1000)) return
  }
  const base = state.quorumRound
  const round = base + 1
  if (round <= state.ownRound || !waitOver(state, base, now)) return
  const strongVertices = base === 0 ? [] : [...state.rounds.get(base)!.values()].sort(byAuthor)
  const weakVertices = [...state.uncovered]
    .filter((v) => v.round < base && !v.ordered)
    .sort((a, b) => a.round - b.round || byAuthor(a, b))
    .slice(0, state.params.maxWeakRefs)
  const ref = (v: Vertex): EntryId => ({ author: v.author, seq: v.seq, hash: v.hash })
  out.vertices.push(encodeVertex({ epoch: state.epoch, round, time: Math.max(0, Math.floor(now)), strong: strongVertices.map(ref), weak: weakVertices.map(ref) }))
  state.ownRound = round
  state.ownAt = now
  state.ownCarry = 0
  coverFrom(state, [...strongVertices, ...weakVertices])
}

function byAuthor(a: Vertex, b: Vertex): number {
  return a.author < b.author ? -1 : a.author > b.author ? 1 : 0
}
