// totb: total-order tamper-proof broadcast over fotb's chains (spec/totb.md); this is the
// layer's public API (`import * as totb from '../totb/index.ts'`).
//
// The host feeds every entry fotb delivers (each author's in seq order) to `onDelivered`, calls
// `onTick` now and then, tells `noteOwnEntry` of each own operation it appends, and appends the
// vertex payloads of `out.vertices` to its own chain at once. `out.ordered` is the total order.
import type { TimeMs } from '../types.ts'
import { newTotbOut, type TotbOut, type TotbState, type Pending } from './state.ts'
import { deliverEntry } from './judge.ts'
import { maybePropose } from './propose.ts'

export type { TotbParams, TotbHooks, TotbMutation, EntryId, OrderedEntry, OrderedLeader, Vertex, Pending, AuthorTotb, TotbState, TotbOut } from './state.ts'
export { DEFAULT_TOTB_PARAMS, TOTB_MUTATIONS, newTotb, setCommittee, newTotbOut, faultBound, isLeaderRound, leaderOf, leaderVertex } from './state.ts'
export type { VertexPayload } from './vertex.ts'
export { VERTEX_TAG, claimsVertex, encodeVertex, decodeVertex } from './vertex.ts'
export type { VertexRejection } from './judge.ts'
export { strongPath, leaderTime } from './order.ts'
export { noteOwnEntry, hasWork } from './propose.ts'
export { restoreTotb } from './restore.ts'

/** fotb delivered an entry (each author's in seq order): judge, commit, order, maybe propose. */
export function onDelivered(state: TotbState, now: TimeMs, entry: Pending): TotbOut {
  const out = newTotbOut()
  deliverEntry(state, now, entry, out)
  maybePropose(state, now, out)
  return out
}

/** Time passed (or an own entry was appended): maybe propose the next vertex. */
export function onTick(state: TotbState, now: TimeMs): TotbOut {
  const out = newTotbOut()
  maybePropose(state, now, out)
  return out
}
