// Admission (spec/paciofs.md "Admission", VOL-13, VOL-14): whether this member votes to accept
// an applicant — the volume is open, the applicant is on this node's allow-list, a member
// admitted it by id, or its join carries a valid one-time invite. Every input is state every
// replica computes from delivered entries (the genesis, memberEvents, own votes) plus the
// step's `now` and this node's allow-list, so the judgement is deterministic.
import type { Crypto } from '../crypto.ts'
import type { Pid } from '../types.ts'
import { inviteExpired, inviteKey, parseInvite, type Invite } from './invite.ts'
import { bump, type Ctx, type MemberEvent, type Refusal, type VolumeState } from './types.ts'

export type Basis = 'open' | 'allow-list' | 'admitted' | 'invite'

/** Orders membership entries as replayMembership does: (round, author, seq). */
function before(a: MemberEvent, b: MemberEvent): boolean {
  return a.round !== b.round ? a.round < b.round : a.author !== b.author ? a.author < b.author : a.seq < b.seq
}

/** parseInvite, remembered per token (the payloads in memberEvents are kept objects): every join
 *  judged compares its invite with every other delivered join's, and each check is a signature
 *  verification. A pure function's results, so remembering them changes no outcome. */
const parsed = new WeakMap<Crypto, WeakMap<Uint8Array, ReturnType<typeof parseInvite>>>()
function parseCached(crypto: Crypto, token: Uint8Array): ReturnType<typeof parseInvite> {
  let m = parsed.get(crypto)
  if (!m) parsed.set(crypto, (m = new WeakMap()))
  let r = m.get(token)
  if (r === undefined) m.set(token, (r = parseInvite(crypto, token)))
  return r
}

/** The valid-looking invite of a delivered join (parsed, signed by its issuer, for this volume):
 *  only such a join uses up the (issuer, id) it names, so a forged token cannot burn a real one. */
function signedInvite(state: VolumeState, ctx: Ctx, e: MemberEvent): Invite | undefined {
  if (e.payload.type !== 'join' || e.payload.invite === undefined) return undefined
  const r = parseCached(ctx.crypto, e.payload.invite)
  return r.ok && r.invite.volume === state.genesis.name ? r.invite : undefined
}

export function judgeApplicant(state: VolumeState, ctx: Ctx, applicant: Pid): { ok: true; basis: Basis } | { ok: false; why: Refusal } {
  const admission = state.genesis.admission
  if (admission === 'open' || ctx.params.mutation === 'admit-anyone') return { ok: true, basis: 'open' }
  // A genesis from before admission was a volume parameter: the rule of that time.
  if (admission === undefined && ctx.params.allow === undefined) return { ok: true, basis: 'open' }
  if (ctx.params.allow?.has(applicant) === true) return { ok: true, basis: 'allow-list' }
  for (const e of state.memberEvents) {
    if (e.payload.type === 'admit' && e.payload.target === applicant && state.status.get(e.author) === 'member') return { ok: true, basis: 'admitted' }
  }
  // The applicant's joins in seq order: the first whose invite holds admits it; otherwise the
  // last one's problem is the reason (a re-application with a fresh invite is the newest join).
  const joins = state.memberEvents.filter((e) => e.author === applicant && e.payload.type === 'join').sort((a, b) => a.seq - b.seq)
  let why: Refusal = 'no-invite'
  for (const j of joins) {
    if (j.payload.type !== 'join' || j.payload.invite === undefined) continue
    const r = checkInvite(state, ctx, applicant, j)
    if (r === undefined) return { ok: true, basis: 'invite' }
    why = r
  }
  return { ok: false, why }
}

/** Undefined when the invite in `join` admits `applicant` here and now; otherwise why not. */
function checkInvite(state: VolumeState, ctx: Ctx, applicant: Pid, join: MemberEvent): Refusal | undefined {
  if (join.payload.type !== 'join' || join.payload.invite === undefined) return 'no-invite'
  const r = parseCached(ctx.crypto, join.payload.invite)
  if (!r.ok) return r.why
  const inv = r.invite
  if (inv.volume !== state.genesis.name) return 'invite-other-volume'
  // A member now (when this voter judges): a removed member's outstanding invites are void.
  if (state.status.get(inv.issuer) !== 'member') return 'invite-issuer-not-member'
  if (inviteExpired(inv, ctx.now)) return 'invite-expired'
  if (inv.invitee !== null && inv.invitee !== applicant) return 'invite-other-invitee'
  if (ctx.params.mutation === 'accept-reused-invite') return undefined
  // One-time: another holder of this (issuer, id) used it if it is or was a member here (a
  // member that joined after it never voted for it, and an applicant's round says nothing: a
  // node that delivered nothing joins at round 1 — simulation seed 1, --admission closed: a
  // late applicant reusing a setup joiner's invite sorted first and was admitted by the members
  // that joined after that joiner), if its join sorts earlier in replay order, or if this voter
  // voted for it (its own vote decides when an earlier-sorting join arrived after it voted).
  const key = inviteKey(inv)
  for (const e of state.memberEvents) {
    if (e.author === applicant || e.payload.type !== 'join') continue
    const other = signedInvite(state, ctx, e)
    if (other === undefined || inviteKey(other) !== key) continue
    const s = state.status.get(e.author)
    if (s === 'member' || s === 'removed' || before(e, join) || state.myVotes.has(`vote-accept:${e.author}`)) return 'invite-used'
  }
  return undefined
}

/** Votes to accept `applicant` if the admission rule admits it; otherwise notes and counts why
 *  not (once per applicant and reason: recomputeMembership judges applicants again). */
export function considerApplicant(state: VolumeState, ctx: Ctx, applicant: Pid, vote: (target: Pid) => void): void {
  const s = state.status.get(applicant)
  if (s === 'member' || s === 'removed' || applicant === state.me || state.myVotes.has(`vote-accept:${applicant}`)) return
  if (state.status.get(state.me) !== 'member') return // only members vote; nothing to judge yet
  const r = judgeApplicant(state, ctx, applicant)
  if (r.ok) {
    state.refusals.delete(applicant)
    vote(applicant)
    return
  }
  if (state.refusals.get(applicant) === r.why) return
  state.refusals.set(applicant, r.why)
  bump(state, `refuse:${r.why}`)
  ctx.out.trace({ kind: 'refuse', volume: state.genesis.name, peer: applicant, detail: r.why })
}
