// What fotb hands up (spec/paciofs.md "Ledger payloads"): membership entries feed the
// membership rule, op entries queue for their plain operation (fetch.ts), proofs become kicks.
import type { FotbUp } from '../fotb/index.ts'
import * as fotb from '../fotb/index.ts'
import type { EntryHash, Pid, Seq } from '../types.ts'
import { decodePayload } from './records.ts'
import { acceptVote, addVote, recomputeMembership, refreshAudience, vote, voteKick } from './membership.ts'
import { claimsVertex } from '../totb/index.ts'
import { onDeliverOrdered } from './ordered.ts'
import { considerApplicant } from './admission.ts'
import { applyRemote, plainOf } from './apply.ts'
import { enqueue } from './fetch.ts'
import { bump, type Ctx, type VolumePayload, type VolumeState } from './types.ts'

export function onUps(state: VolumeState, ctx: Ctx, ups: FotbUp[]): void {
  // Deliveries may change membership, which may make more entries deliverable: loop until
  // fotb has nothing more to hand up (bounded: every round delivers at least one entry).
  while (ups.length > 0) {
    const batch = ups.splice(0, ups.length)
    let membershipTouched = false
    for (const up of batch) {
      if (up.type === 'equivocation') {
        voteKick(state, ctx, up.author, 'equivocated')
        continue
      }
      membershipTouched = onDeliver(state, ctx, up.author, up.seq, up.hash, up.payload, ups) || membershipTouched
    }
    // In a totb volume membership moves in the order (ordered.ts); deliveries only widen the
    // audience (applicants) and make this member vote.
    if (membershipTouched) {
      if (state.order === undefined) recomputeMembership(state, ctx, ups)
      else refreshAudience(state, ctx, ups)
    }
  }
}

function onDeliver(state: VolumeState, ctx: Ctx, author: Pid, seq: Seq, txid: EntryHash, payload: Uint8Array, ups: FotbUp[]): boolean {
  if (state.order !== undefined && claimsVertex(payload)) {
    onDeliverOrdered(state, ctx, author, seq, txid, payload, undefined, ups)
    return false
  }
  const p = decodePayload(payload)
  if (!p || (p.type === 'have' && state.order === undefined)) {
    bump(state, 'reject:payload')
    ctx.out.trace({ kind: 'bad-payload', volume: state.genesis.name, peer: author })
    // Still ordered in a totb volume (totb orders entries, not payloads): applied as nothing.
    if (state.order !== undefined) onDeliverOrdered(state, ctx, author, seq, txid, payload, undefined, ups)
    return false
  }
  const touched = onPayload(state, ctx, author, seq, txid, p, ups)
  if (state.order !== undefined) onDeliverOrdered(state, ctx, author, seq, txid, payload, p, ups)
  return touched
}

function onPayload(state: VolumeState, ctx: Ctx, author: Pid, seq: Seq, txid: EntryHash, p: VolumePayload, ups: FotbUp[]): boolean {
  if (p.type === 'have') return false // counted in the order (ordered.ts)
  if (p.type !== 'op') {
    state.memberEvents.push({ round: p.round, author, seq, payload: p })
    state.maxRound = Math.max(state.maxRound, p.round)
  }
  switch (p.type) {
    case 'join':
      state.joins.add(author)
      considerApplicant(state, ctx, author, acceptVote(state, ctx))
      return true
    case 'admit':
      // An admit from a member lets this member vote for the target once its join is here
      // (admission.ts judges the author's membership); before the join, the join's delivery does.
      if (state.joins.has(p.target)) considerApplicant(state, ctx, p.target, acceptVote(state, ctx))
      return false
    case 'leave':
      state.leaves.add(author)
      vote(state, ctx, { type: 'vote-kick', target: author, reason: 'left' })
      return true
    case 'vote-accept':
      addVote(state.acceptVotes, p.target, author)
      if (p.join) fotb.addVouch(state.fotb, author, p.target, p.join.seq, p.join.hash, ctx.out, ctx.store, ups)
      return true
    case 'vote-kick':
      addVote(state.kickVotes, p.target, author)
      return true
    case 'op':
      if (author === state.me && !fotb.isRegained(state.fotb, seq)) {
        if (state.order !== undefined) return false // applied in the order (ordered.ts)
        // Applied once, at the call (VOL-3) — unless the test-only mutation re-applies it.
        const plain = ctx.params.mutation === 'apply-own-twice' ? plainOf(state, ctx, p.obf) : undefined
        if (plain) applyRemote(state, ctx, { author, seq, txid, obf: p.obf, attempt: 0, asked: null, deadline: 0, firstAskAt: null, authorAskedAt: null, notFound: new Set() }, plain)
        return false
      }
      // A totb volume's removed author: ops the order had not reached are outside it for good.
      if (state.order !== undefined && state.status.get(author) === 'removed') {
        bump(state, 'order:unordered-of-removed')
        return false
      }
      // Queued even if the author is not (yet) a member here: membership is decided by the set
      // of votes, which may still be arriving; the queue waits until the author is or was one.
      enqueue(state, ctx, { author, seq, txid, obf: p.obf, attempt: 0, asked: null, deadline: -Infinity, firstAskAt: null, authorAskedAt: null, notFound: new Set() })
      return false
  }
}
