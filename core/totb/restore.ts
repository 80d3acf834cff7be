// Restart (spec/totb.md "Restart"): totb persists nothing of its own. Its state is a function of
// the chains fotb delivered (durable, FOTB-3 across restarts) and of the own chain (durable before
// anything of it was sent), so a restarted member judges every entry again and derives the same
// order: the same prefix it had before the crash (TOTB-1), and more.
import type { TimeMs } from '../types.ts'
import { newTotb, newTotbOut, type Pending, type TotbHooks, type TotbOut, type TotbParams, type TotbState } from './state.ts'
import { deliverEntry } from './judge.ts'
import { claimsVertex, decodeVertex } from './vertex.ts'
import type { Pid } from '../types.ts'

/**
 * A member's totb state rebuilt from what fotb delivered (each author's entries in seq order)
 * and its own chain (every own entry appended, delivered to itself or not). `out.ordered` is the
 * whole order derived again from position 1; the host skips what it had applied.
 */
export function restoreTotb(me: Pid, members: readonly Pid[], params: TotbParams, delivered: ReadonlyMap<Pid, readonly Pending[]>, ownChain: readonly Uint8Array[], now: TimeMs, hooks: TotbHooks = {}): { state: TotbState; out: TotbOut } {
  const state = newTotb(me, members, params, hooks)
  const out = newTotbOut()
  // Author by author: a vertex that refers to an author not replayed yet waits, as it would
  // live, and is judged when that author's entries come (the verdicts do not depend on the order).
  for (const pid of [...delivered.keys()].sort()) for (const e of delivered.get(pid)!) deliverEntry(state, now, e, out)
  // The proposer resumes above every own vertex of this epoch appended, judged or not, and
  // carries the own operations appended after the newest own vertex.
  let after = 0
  for (const payload of ownChain) {
    if (claimsVertex(payload)) {
      const v = decodeVertex(payload)
      if (v !== undefined && v.epoch === state.epoch && v.round > state.ownRound) state.ownRound = v.round
      after = 0
    } else {
      after++
    }
  }
  // (The judged carry may hold more: own batches an ended epoch gave back. Work detection only.)
  state.ownCarry = Math.max(after, state.authors.get(me)?.carry.length ?? 0)
  // Timeouts count from the restart: the times of the first quorums were volatile.
  for (const round of state.quorumAt.keys()) state.quorumAt.set(round, now)
  return { state, out }
}
