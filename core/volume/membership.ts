// Membership (spec/paciofs.md "Membership", VOL-1, VOL-2): statuses as a function of the set of
// delivered joins, leaves and votes; this node's own joins, leaves and votes; the audience fotb
// talks to.
import * as fotb from '../fotb/index.ts'
import type { FotbUp } from '../fotb/index.ts'
import type { EntryHash, Pid, Seq } from '../types.ts'
import { encodePayload } from './records.ts'
import { considerApplicant } from './admission.ts'
import { bump, type Ctx, type Genesis, type KickReason, type MemberEvent, type Policy, type Status, type VolumePayload, type VolumeState, type VolumeUp } from './types.ts'

// Membership (VOL-1): a function of the set of delivered joins, leaves and votes.

function meets(policy: Policy, votes: number, members: number): boolean {
  return policy === 'any' ? votes >= 1 : 2 * votes > members
}

/** Advances `from` (default: the founders) by the membership rule until nothing changes.
 *  Statuses only move forward; the result is a fixpoint: advancing it again changes nothing. */
export function computeStatus(
  genesis: Genesis,
  joins: ReadonlySet<Pid>,
  acceptVotes: ReadonlyMap<Pid, ReadonlySet<Pid>>,
  kickVotes: ReadonlyMap<Pid, ReadonlySet<Pid>>,
  from?: ReadonlyMap<Pid, Status>,
): Map<Pid, Status> {
  const status = new Map<Pid, Status>(from ?? [])
  for (const f of genesis.founders) if (!status.has(f)) status.set(f, 'member')
  for (const j of joins) if (!status.has(j)) status.set(j, 'applicant')
  const pids = [...status.keys()].sort()
  const countFrom = (voters: ReadonlySet<Pid> | undefined, members: Set<Pid>): number => {
    let n = 0
    if (voters) for (const v of voters) if (members.has(v)) n++
    return n
  }
  // Each pass advances at most one pid, so at most 2·|pids| passes: bounded.
  for (let pass = 0; pass <= 2 * pids.length; pass++) {
    const members = new Set(pids.filter((p) => status.get(p) === 'member'))
    let changed = false
    for (const p of pids) {
      const s = status.get(p)
      if (s === 'applicant' && meets(genesis.policy, countFrom(acceptVotes.get(p), members), members.size)) {
        status.set(p, 'member')
        changed = true
        break
      }
      if (s === 'member' && meets(genesis.policy, countFrom(kickVotes.get(p), members), members.size)) {
        status.set(p, 'removed')
        changed = true
        break
      }
    }
    if (!changed) break
  }
  return status
}

/** The statuses a node reaches by delivering these membership entries one by one in causal
 *  order — (round, author, seq), rounds being Lamport clocks — applying the rule after each.
 *  A function of the *set* of delivered entries: nodes that delivered the same entries agree
 *  (VOL-2), however the entries arrived; a late joiner replays history as it happened. */
export function replayMembership(genesis: Genesis, events: readonly MemberEvent[]): {
  status: Map<Pid, Status>
  joins: Set<Pid>
  leaves: Set<Pid>
  acceptVotes: Map<Pid, Set<Pid>>
  kickVotes: Map<Pid, Set<Pid>>
} {
  const ordered = [...events].sort((a, b) => a.round - b.round || (a.author < b.author ? -1 : a.author > b.author ? 1 : a.seq - b.seq))
  // Causal hold-back: an accept vote for a pid whose join is not delivered here shows that its
  // author had delivered an entry we still miss (a correct member votes to accept only on a
  // delivered join; kicks carry no such promise: an operator or an equivocation proof may name
  // any pid). That vote and every later entry of its author (they follow it causally) wait
  // until the join arrives; applying them would build a member set that never existed (sim
  // seed 535: a joiner applied the founder's accept of a later member but not its accept of an
  // earlier one, whose join it had not delivered, and waited forever for the echo of a member
  // the others had removed).
  const joined = new Set<Pid>(genesis.founders)
  for (const e of events) if (e.payload.type === 'join') joined.add(e.author)
  const heldFrom = new Map<Pid, Seq>()
  for (const e of events) {
    const p = e.payload
    if (p.type === 'vote-accept' && !joined.has(p.target) && e.seq < (heldFrom.get(e.author) ?? Infinity)) heldFrom.set(e.author, e.seq)
  }
  const joins = new Set<Pid>()
  const leaves = new Set<Pid>()
  const acceptVotes = new Map<Pid, Set<Pid>>()
  const kickVotes = new Map<Pid, Set<Pid>>()
  let status = computeStatus(genesis, joins, acceptVotes, kickVotes)
  for (const e of ordered) {
    if (e.seq >= (heldFrom.get(e.author) ?? Infinity)) continue
    const p = e.payload
    if (p.type === 'admit') continue // no status change: it lets correct members vote (admission.ts)
    if (p.type === 'join') joins.add(e.author)
    else if (p.type === 'leave') leaves.add(e.author)
    else addVote(p.type === 'vote-accept' ? acceptVotes : kickVotes, p.target, e.author)
    status = computeStatus(genesis, joins, acceptVotes, kickVotes, status)
  }
  return { status, joins, leaves, acceptVotes, kickVotes }
}

export function membersOf(state: VolumeState): Pid[] {
  return [...state.status].filter(([, s]) => s === 'member').map(([p]) => p).sort()
}

export function isMember(state: VolumeState, pid: Pid): boolean {
  return state.status.get(pid) === 'member'
}

/** `invite`: the token to carry (spec/paciofs.md "Admission"); a node that is still an applicant
 *  may apply again with a fresh one. */
export function requestJoin(state: VolumeState, ctx: Ctx, invite?: Uint8Array): void {
  if (!fotb.mayAppendOwn(state.fotb)) return // FOTB-8: a recovering node appends nothing
  fotb.broadcast(state.fotb, ctx.crypto, encodePayload({ type: 'join', round: state.maxRound + 1, ...(invite ? { invite } : {}) }))
  refreshAudience(state, ctx)
}

/** A member's operator admits `target` by id (`paciofs admit`): an entry in the ledger, so that
 *  every member sees who admitted whom. False when this node is no member (only members admit). */
export function requestAdmit(state: VolumeState, ctx: Ctx, target: Pid): boolean {
  if (!isMember(state, state.me) || !fotb.mayAppendOwn(state.fotb)) return false
  fotb.broadcast(state.fotb, ctx.crypto, encodePayload({ type: 'admit', target, round: state.maxRound + 1 }))
  bump(state, 'admit')
  return true
}

export function requestLeave(state: VolumeState, ctx: Ctx): void {
  if (!fotb.mayAppendOwn(state.fotb)) return // FOTB-8: a recovering node appends nothing
  fotb.broadcast(state.fotb, ctx.crypto, encodePayload({ type: 'leave', round: state.maxRound + 1 }))
}

export type VoteIntent =
  | { readonly type: 'vote-accept'; readonly target: Pid }
  | { readonly type: 'vote-kick'; readonly target: Pid; readonly reason: KickReason }

export function vote(state: VolumeState, ctx: Ctx, intent: VoteIntent): void {
  const key = `${intent.type}:${intent.target}`
  // A recovering node casts no vote (FOTB-8); the other members' votes decide meanwhile.
  if (state.myVotes.has(key) || !isMember(state, state.me) || !fotb.mayAppendOwn(state.fotb)) return
  // The join is looked up only for a vote that is cast (recomputeMembership asks for many).
  const payload: VolumePayload = intent.type === 'vote-accept'
    ? { ...intent, round: state.maxRound + 1, ...joinOf(state, intent.target) }
    : { ...intent, round: state.maxRound + 1 }
  state.myVotes.add(key)
  bump(state, `vote:${payload.type === 'vote-kick' ? payload.reason : 'accept'}`)
  ctx.out.trace({ kind: payload.type, volume: state.genesis.name, peer: payload.target, detail: payload.type === 'vote-kick' ? payload.reason : '' })
  fotb.broadcast(state.fotb, ctx.crypto, encodePayload(payload))
}

/** The target's delivered join entry, which an accept vote names (a signed ready report for the
 *  target's chain: spec/fotb.md "The author's seal and signed ready reports"). None for a founder, which never joins. */
function joinOf(state: VolumeState, target: Pid): { join?: { seq: Seq; hash: EntryHash } } {
  const e = state.memberEvents.find((ev) => ev.author === target && ev.payload.type === 'join')
  const hash = e && state.fotb.chains.get(target)?.view.hashes.get(e.seq - 1)
  return e && hash ? { join: { seq: e.seq, hash } } : {}
}

/** The vote considerApplicant casts. */
export function acceptVote(state: VolumeState, ctx: Ctx): (target: Pid) => void {
  return (target) => vote(state, ctx, { type: 'vote-accept', target })
}

export function voteKick(state: VolumeState, ctx: Ctx, target: Pid, reason: KickReason): void {
  vote(state, ctx, { type: 'vote-kick', target, reason })
}

export function addVote(map: Map<Pid, Set<Pid>>, target: Pid, voter: Pid): void {
  let set = map.get(target)
  if (!set) map.set(target, (set = new Set()))
  set.add(voter)
}

export function recomputeMembership(state: VolumeState, ctx: Ctx, ups: FotbUp[]): void {
  const before = membersOf(state).join()
  const next = replayMembership(state.genesis, state.memberEvents).status
  state.status = next
  const members = membersOf(state)
  if (members.join() === before) return
  ctx.out.deliver(state.genesis.name, { type: 'members', members } satisfies VolumeUp)
  ctx.out.trace({ kind: 'members', volume: state.genesis.name, detail: members.map((m) => m.slice(0, 8)).join(',') })
  // A member that joined late votes on joins and leaves it already delivered.
  if (isMember(state, state.me)) {
    for (const j of [...state.joins].sort()) if (next.get(j) === 'applicant') considerApplicant(state, ctx, j, acceptVote(state, ctx))
    for (const l of [...state.leaves].sort()) if (next.get(l) === 'member') vote(state, ctx, { type: 'vote-kick', target: l, reason: 'left' })
    for (const a of [...state.fotb.proofs.keys()].sort()) if (next.get(a) === 'member') vote(state, ctx, { type: 'vote-kick', target: a, reason: 'equivocated' })
  }
  refreshAudience(state, ctx, ups)
}

export function refreshAudience(state: VolumeState, ctx: Ctx, ups: FotbUp[] = []): void {
  const members = new Set(membersOf(state))
  const audience = new Set(members)
  for (const [p, s] of state.status) if (s === 'applicant') audience.add(p)
  // A totb volume's applicants are the delivered joins: its status moves only in the order.
  if (state.order !== undefined) for (const j of state.joins) if (state.status.get(j) === undefined || state.status.get(j) === 'applicant') audience.add(j)
  // Until we are a member, also talk to the contacts we were given (they relay our join).
  if (!members.has(state.me)) for (const c of state.contacts) audience.add(c)
  const removed = new Set([...state.status].filter(([, s]) => s === 'removed').map(([p]) => p))
  fotb.setMembers(state.fotb, members, audience, ctx.out, ctx.store, ups, removed)
}
