// A volume in total order (spec/totb.md "Volumes in total order"): every delivered entry goes to
// totb; the volume applies operations in totb's order, one queue for all authors, so that every
// correct replica applies the same operations in the same order and has the same state root at
// every epoch. Membership is the rule (VOL-1) applied to the membership entries in that order, and
// it is the committee of the next epoch. Whether an operation is applied or skipped is decided in
// the order too: applied once f + 1 members (its author's op entry counting for its author) said
// in ordered `have` entries that they hold its plain operation, skipped when that did not happen
// within `skipAfterMs` of the order's time. Local calls are planned against the applied state and
// answered once their operation is applied in the order (or skipped: EIO).
import type { RequestId } from '../effects.ts'
import * as fotb from '../fotb/index.ts'
import type { FotbUp } from '../fotb/index.ts'
import * as totb from '../totb/index.ts'
import type { EntryHash, ObfHash, Pid, Seq } from '../types.ts'
import { applyOp } from '../fs/state.ts'
import type { Storage } from '../storage.ts'
import type { FsOp } from '../fs/ops.ts'
import { decodePayload, encodePayload, fsTimeOf, HAVE_MAX } from './records.ts'
import { acceptVote, addVote, computeStatus, isMember, membersOf, refreshAudience, vote, voteKick } from './membership.ts'
import { considerApplicant } from './admission.ts'
import { appendLog, planCall, plainOf, publishCall, skip } from './apply.ts'
import { bump, type CallResult, type Ctx, type FsCall, type Genesis, type OrderedOp, type OrderState, type Pending, type VolumeParams, type VolumePayload, type VolumeState, type VolumeUp } from './types.ts'

export const DEFAULT_SKIP_AFTER_MS = 30_000
/** Leaders ordered after an operation before it may be skipped: its holders' `have` entries need
 *  a round or two to be ordered even when the clocks say the time is up. */
export const MIN_SKIP_WAVES = 2
/** `have` entries may name operations at most this far ahead of their author's ordered entries
 *  (a bound on what a Byzantine member can make every replica remember; deterministic: a
 *  function of the order). */
export const HAVE_WINDOW = 1 << 16

export function opKey(author: Pid, seq: Seq): string {
  return `${author}:${seq}`
}

export interface OrderOptions {
  /** totb's state from its hooks (default: a fresh one of the genesis committee). */
  readonly build?: (hooks: totb.TotbHooks) => totb.TotbState
  /** Delivered payloads not ordered yet (a restart). */
  readonly unordered?: ReadonlyMap<string, VolumePayload>
  /** Whether the node may append an own entry now (FOTB-8); default always. */
  readonly canAppend?: () => boolean
}

export function newOrderState(genesis: Genesis, me: Pid, params: VolumeParams, opts: OrderOptions = {}): OrderState {
  const build = opts.build ?? ((hooks: totb.TotbHooks) => totb.newTotb(me, [...genesis.founders], params.totb ?? totb.DEFAULT_TOTB_PARAMS, hooks))
  const canAppend = opts.canAppend ?? (() => true)
  const o = {
    queue: [],
    waiting: new Map(),
    haves: new Map(),
    orderedSeq: new Map(),
    waves: 0,
    time: 0,
    unordered: new Map(opts.unordered ?? []),
    toAnnounce: [],
    invalid: new Set(),
    replies: new Map(),
    joins: new Set(),
    acceptVotes: new Map(),
    kickVotes: new Map(),
    status: computeStatus(genesis, new Set(), new Map(), new Map()),
    moved: false,
    skipAfterMs: params.skipAfterMs ?? DEFAULT_SKIP_AFTER_MS,
  } as unknown as { -readonly [K in keyof OrderState]: OrderState[K] }
  o.totb = build({
    committeeAfter: (e) => {
      const next = orderedMembership(genesis, o, e)
      return params.mutation === 'totb-stale-committee' ? undefined : next
    },
    hostWork: () => o.waiting.size > 0 || o.toAnnounce.length > 0,
    mayAppend: () => canAppend(),
  })
  return o
}

/**
 * The order derived from the delivered chains alone (spec/totb.md "Restart", "Verify"): totb
 * rebuilt by restoreTotb, and every ordered entry and leader point taken again from position 1
 * without effects. The queue holds every ordered op with its decision (nothing applied). Also:
 * the ops this node named in its own `have` entries, and the other authors' delivered ops.
 */
export function deriveOrder(
  genesis: Genesis,
  me: Pid,
  params: VolumeParams,
  chains: ReadonlyMap<Pid, { readonly view: { readonly seq: Seq; readonly hashes: { get(i: number): EntryHash | undefined } } }>,
  deliveredUpTo: ReadonlyMap<Pid, Seq>,
  entry: (author: Pid, seq: Seq) => { readonly payload: Uint8Array } | undefined,
  problems: { record: string; problem: string }[],
  canAppend: () => boolean = () => false,
): { order: OrderState; announced: Set<string>; heldOps: { author: Pid; seq: Seq; obf: ObfHash }[] } {
  const delivered = new Map<Pid, totb.Pending[]>()
  const payloads = new Map<string, VolumePayload>()
  const ownChain: Uint8Array[] = []
  const announced = new Set<string>()
  const heldOps: { author: Pid; seq: Seq; obf: ObfHash }[] = []
  for (const [author, log] of [...chains].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const upTo = deliveredUpTo.get(author) ?? 0
    const list: totb.Pending[] = []
    const last = author === me ? log.view.seq : upTo
    for (let seq = 1; seq <= last; seq++) {
      const e = entry(author, seq)
      if (e === undefined) {
        problems.push({ record: `chain ${author.slice(0, 12)} seq ${seq}`, problem: 'an accepted entry is missing from the store (the order cannot be derived past it)' })
        break
      }
      if (author === me) ownChain.push(e.payload)
      if (seq > upTo) continue
      list.push({ author, seq, hash: log.view.hashes.get(seq - 1)!, payload: e.payload })
      if (totb.claimsVertex(e.payload)) continue
      const p = decodePayload(e.payload)
      if (p === undefined) continue
      payloads.set(opKey(author, seq), p)
      if (p.type === 'have' && author === me) for (const r of p.ops) announced.add(opKey(r.author, r.seq))
      if (p.type === 'op' && author !== me) heldOps.push({ author, seq, obf: p.obf })
    }
    delivered.set(author, list)
  }
  let out: totb.TotbOut | undefined
  const build = (hooks: totb.TotbHooks): totb.TotbState => {
    const r = totb.restoreTotb(me, [...genesis.founders], params.totb ?? totb.DEFAULT_TOTB_PARAMS, delivered, ownChain, 0, hooks)
    out = r.out
    return r.state
  }
  const o = newOrderState(genesis, me, params, { build, unordered: payloads, canAppend })
  // restoreTotb ordered everything again (its hook moved the ordered membership as it went).
  takeEvents(o, out!)
  return { order: o, announced, heldOps }
}

/**
 * Restart (spec/totb.md "Volumes in total order", Restart): the order is derived again from the
 * delivered chains (restoreTotb) and taken from position 1 without effects; what the log or a
 * skip record says was done leaves the queue (application is in the order, so that is a prefix of
 * it); held operations not named in an own `have` entry yet are named again; membership is the
 * ordered one. `state` is the restored volume (fotb, the replica, the log, the skips).
 */
export function restoreOrder(state: VolumeState, params: VolumeParams, store: Storage, problems: { record: string; problem: string }[]): void {
  const volume = state.genesis.name
  const { order: o, announced, heldOps } = deriveOrder(state.genesis, state.me, params, state.fotb.chains, state.fotb.delivered, (a, s) => store.entry(volume, a, s), problems, () => fotb.mayAppendOwn(state.fotb))
  state.order = o
  // Done: applied (the log names it) or skipped, per author a prefix of its ops in seq order.
  const doneSeq = new Map<Pid, Seq>()
  for (const s of state.skipped) doneSeq.set(s.author, Math.max(doneSeq.get(s.author) ?? 0, s.seq))
  const isDone = (op: OrderedOp): boolean => op.seq <= Math.max(state.log.lastDone(op.author), doneSeq.get(op.author) ?? 0)
  while (o.queue.length > 0 && isDone(o.queue[0]!)) {
    const op = o.queue.shift()!
    if (op.decided === undefined) o.waiting.delete(opKey(op.author, op.seq))
  }
  state.status = new Map(o.status)
  o.moved = false
  const members = new Set(membersOf(state))
  const audience = new Set(members)
  for (const j of state.joins) if (state.status.get(j) === undefined || state.status.get(j) === 'applicant') audience.add(j)
  for (const [p, s] of state.status) if (s === 'applicant') audience.add(p)
  if (!members.has(state.me)) for (const c of state.contacts) audience.add(c)
  state.fotb.members = members
  state.fotb.audience = audience
  state.fotb.removed = new Set([...state.status].filter(([, s]) => s === 'removed').map(([p]) => p))
  for (const author of [...state.queues.keys()]) if (state.status.get(author) === 'removed') dropUnordered(state, author)
  for (const h of heldOps) {
    if (announced.has(opKey(h.author, h.seq)) || !state.writtenPlain.has(h.obf) && store.plain(volume, h.obf) === undefined) continue
    o.toAnnounce.push({ author: h.author, seq: h.seq })
  }
}

/** totb's hook, called once per ordered entry in the order: a membership entry moves the
 *  ordered membership; the new member set is the committee from the next epoch on. */
function orderedMembership(genesis: Genesis, o: OrderState, e: totb.EntryId): readonly Pid[] | undefined {
  const p = o.unordered.get(opKey(e.author, e.seq))
  if (p === undefined || p.type === 'op' || p.type === 'have' || p.type === 'admit') return undefined
  if (p.type === 'join') o.joins.add(e.author)
  else if (p.type === 'vote-accept') {
    // An accept vote names a join its author delivered: the target applied, in the order too
    // (its own chain is no committee member's and is not ordered).
    o.joins.add(p.target)
    addVote(o.acceptVotes, p.target, e.author)
  } else if (p.type === 'vote-kick') addVote(o.kickVotes, p.target, e.author)
  else return undefined // a leave moves nothing by itself: the members' kick votes ('left') do
  const before = membersIn(o.status)
  o.status = computeStatus(genesis, o.joins, o.acceptVotes, o.kickVotes, o.status)
  const after = membersIn(o.status)
  if (after.join() === before.join() || after.length === 0) return undefined
  o.moved = true
  return after
}

function membersIn(status: ReadonlyMap<Pid, string>): Pid[] {
  return [...status].filter(([, s]) => s === 'member').map(([p]) => p).sort()
}

// ---------------------------------------------------------------------------------------------
// Deliveries in, the order out

/** fotb delivered an entry of a totb volume (every author's, in seq order). */
export function onDeliverOrdered(state: VolumeState, ctx: Ctx, author: Pid, seq: Seq, txid: EntryHash, payload: Uint8Array, p: VolumePayload | undefined, ups: FotbUp[]): void {
  const o = state.order!
  if (p !== undefined) o.unordered.set(opKey(author, seq), p)
  takeOrder(state, ctx, totb.onDelivered(o.totb, ctx.now, { author, seq, hash: txid, payload }), ups)
}

/** Before the step's entries are sealed: name what we hold in a `have` entry, and let totb make
 *  its next vertex (own entries were appended; time passed). */
export function beforeFlush(state: VolumeState, ctx: Ctx, ups: FotbUp[]): void {
  const o = state.order
  if (o === undefined) return
  if (o.toAnnounce.length > 0 && isMember(state, state.me) && fotb.mayAppendOwn(state.fotb)) {
    while (o.toAnnounce.length > 0) {
      const ops = o.toAnnounce.splice(0, HAVE_MAX)
      fotb.broadcast(state.fotb, ctx.crypto, encodePayload({ type: 'have', ops }))
      totb.noteOwnEntry(o.totb)
      bump(state, 'out:have')
    }
  }
  takeOrder(state, ctx, totb.onTick(o.totb, ctx.now), ups)
}

/** totb's output: its vertices go into the own chain now; the ordered entries and leaders are
 *  taken in the order's positions (an entry before a leader at the same position). */
export function takeOrder(state: VolumeState, ctx: Ctx, out: totb.TotbOut, ups: FotbUp[]): void {
  const o = state.order!
  for (const v of out.vertices) fotb.broadcast(state.fotb, ctx.crypto, v)
  if (out.ordered.length > 0) ctx.out.deliver(state.genesis.name, { type: 'ordered', entries: out.ordered.map((e) => ({ author: e.author, seq: e.seq, hash: e.hash, position: e.position })) } satisfies VolumeUp)
  takeEvents(o, out)
  if (out.epochs.length > 0) ctx.out.trace({ kind: 'totb-epoch', volume: state.genesis.name, detail: out.epochs.map((e) => `${e.epoch}:${e.committee.length}`).join(',') })
  if (o.moved) membershipMoved(state, ctx, ups)
  applyReady(state, ctx)
}

/** The ordered entries and leader points of one output, in the order's positions (an entry
 *  before a leader at the same position: the leader's history comes first). */
function takeEvents(o: OrderState, out: totb.TotbOut): void {
  let li = 0
  for (const e of out.ordered) {
    while (li < out.leaders.length && out.leaders[li]!.position < e.position) onLeader(o, out.leaders[li++]!)
    onOrdered(o, e)
  }
  while (li < out.leaders.length) onLeader(o, out.leaders[li++]!)
}

function onOrdered(o: OrderState, e: totb.OrderedEntry): void {
  const key = opKey(e.author, e.seq)
  const p = o.unordered.get(key)
  o.unordered.delete(key)
  o.orderedSeq.set(e.author, e.seq)
  if (p === undefined) return // no volume payload (malformed): ordered, and nothing to do
  if (p.type === 'op') {
    const op: OrderedOp = { author: e.author, seq: e.seq, txid: e.hash, obf: p.obf, position: e.position, wave: o.waves, time: e.time, decided: undefined }
    o.queue.push(op)
    o.waiting.set(key, op)
    haveOf(o, key).add(e.author)
    maybeAvailable(o, key, e.f)
  } else if (p.type === 'have') {
    for (const r of p.ops) {
      const k = opKey(r.author, r.seq)
      const known = o.orderedSeq.get(r.author) ?? 0
      // Decided already, or too far ahead to be any correct member's: not counted.
      if ((r.seq <= known && !o.waiting.has(k)) || r.seq > known + HAVE_WINDOW) continue
      haveOf(o, k).add(e.author)
      maybeAvailable(o, k, e.f)
    }
  }
}

function haveOf(o: OrderState, key: string): Set<Pid> {
  let s = o.haves.get(key)
  if (s === undefined) o.haves.set(key, (s = new Set()))
  return s
}

function maybeAvailable(o: OrderState, key: string, f: number): void {
  const op = o.waiting.get(key)
  if (op === undefined || (o.haves.get(key)?.size ?? 0) < f + 1) return
  decide(o, key, op, 'apply')
}

function decide(o: OrderState, key: string, op: OrderedOp, how: 'apply' | 'skip'): void {
  op.decided = how
  o.waiting.delete(key)
  o.haves.delete(key)
}

/** A leader point: the order's time moves; operations that f + 1 members did not say they hold
 *  within skipAfterMs (and two leaders) are skipped, oldest first. */
function onLeader(o: OrderState, l: totb.OrderedLeader): void {
  o.waves++
  o.time = l.time
  if (o.waiting.size === 0) return
  for (const op of o.queue) {
    if (op.decided !== undefined) continue
    if (o.waves - op.wave < MIN_SKIP_WAVES || l.time - op.time < o.skipAfterMs) break // later ones are younger
    decide(o, opKey(op.author, op.seq), op, 'skip')
  }
}

function membershipMoved(state: VolumeState, ctx: Ctx, ups: FotbUp[]): void {
  const o = state.order!
  o.moved = false
  state.status = new Map(o.status)
  for (const [author] of [...state.queues]) if (state.status.get(author) === 'removed') dropUnordered(state, author)
  const members = membersOf(state)
  ctx.out.deliver(state.genesis.name, { type: 'members', members } satisfies VolumeUp)
  ctx.out.trace({ kind: 'members', volume: state.genesis.name, detail: members.map((m) => m.slice(0, 8)).join(',') })
  if (isMember(state, state.me)) {
    // A member that was accepted late votes on joins and leaves it delivered already.
    for (const j of [...state.joins].sort()) if (state.status.get(j) !== 'member' && state.status.get(j) !== 'removed') considerApplicant(state, ctx, j, acceptVote(state, ctx))
    for (const l of [...state.leaves].sort()) if (state.status.get(l) === 'member') vote(state, ctx, { type: 'vote-kick', target: l, reason: 'left' })
    for (const a of [...state.fotb.proofs.keys()].sort()) if (state.status.get(a) === 'member') vote(state, ctx, { type: 'vote-kick', target: a, reason: 'equivocated' })
  }
  refreshAudience(state, ctx, ups)
}

// ---------------------------------------------------------------------------------------------
// Applying in the order

/** The fetch (fetch.ts) got the plain operation of another author's op entry (or found its bytes
 *  no valid operation: `invalid`): a member names it in its next `have` entry; it may be the
 *  head the queue waits for. */
export function heldOrdered(state: VolumeState, ctx: Ctx, p: Pending, invalid = false): void {
  const o = state.order!
  if (invalid) o.invalid.add(p.obf)
  else if (ctx.params.mutation === 'totb-apply-on-arrival' && p.author !== state.me) {
    const plain = plainOf(state, ctx, p.obf)
    if (plain !== undefined) applyArrived(state, ctx, p, plain.op)
  }
  if (p.author !== state.me && isMember(state, state.me)) o.toAnnounce.push({ author: p.author, seq: p.seq })
  applyReady(state, ctx)
}

/** Applies (or skips) the decided operations at the head of the queue, in order, while their
 *  plain operations are here; an undecided head, or one whose plain op is still being fetched,
 *  holds the rest back. */
export function applyReady(state: VolumeState, ctx: Ctx): void {
  const o = state.order
  if (o === undefined) return
  while (o.queue.length > 0) {
    const head = o.queue[0]!
    if (head.decided === undefined) return
    if (head.decided === 'skip' || o.invalid.has(head.obf)) {
      o.queue.shift()
      dropFetch(state, head)
      o.invalid.delete(head.obf)
      skip(state, ctx.out, { atEpoch: state.fs.epoch, author: head.author, seq: head.seq, obf: head.obf, why: head.decided === 'skip' ? 'withheld' : 'invalid' })
      // The order's skip is the evidence of withholding (VOL-10), the same at every replica: a
      // member whose op f + 1 members did not hold within skipAfterMs of the order's time (its
      // GETs retried every ORDER_GET_RETRY_MS meanwhile) is voted out, as one that withheld past
      // remote_get's bound in a fotb volume (VOL-11: one cut off for less stays).
      if (head.decided === 'skip' && head.author !== state.me && isMember(state, head.author)) voteKick(state, ctx, head.author, 'withheld')
      // Skipped everywhere alike: nothing of it was applied, and its caller is told so.
      answer(state, ctx, head, { ok: false, errno: 'EIO' })
      continue
    }
    if (ctx.params.mutation === 'totb-apply-on-arrival' && head.author !== state.me) {
      o.queue.shift() // applied when it arrived (heldOrdered)
      continue
    }
    const plain = plainOf(state, ctx, head.obf)
    if (plain === undefined) return // being fetched: f + 1 members hold it, one of them is correct
    o.queue.shift()
    dropFetch(state, head)
    const epoch = state.fs.epoch + 1
    // Retention judges by the order's time where a claim could shorten a period (TOTB-6); the
    // log keeps it, so that replay judges alike.
    const orderTime = Math.max(0, Math.floor(head.time))
    const { result } = applyOp(state.fs, plain.op, { epoch, author: head.author, orderTime: fsTimeOf(orderTime) })
    appendLog(state, ctx.out, { epoch, author: head.author, seq: head.seq, txid: head.txid, obf: head.obf, kind: plain.op.type, result: result.ok ? 'ok' : result.errno, orderTime })
    answer(state, ctx, head, result)
  }
}

/** Only for the test-only mutation 'totb-apply-on-arrival'. */
function applyArrived(state: VolumeState, ctx: Ctx, p: Pending, op: FsOp): void {
  const epoch = state.fs.epoch + 1
  const { result } = applyOp(state.fs, op, { epoch, author: p.author })
  appendLog(state, ctx.out, { epoch, author: p.author, seq: p.seq, txid: p.txid, obf: p.obf, kind: op.type, result: result.ok ? 'ok' : result.errno })
}

function answer(state: VolumeState, ctx: Ctx, op: OrderedOp, result: CallResult): void {
  if (op.author !== state.me) return
  const req = state.order!.replies.get(op.seq)
  if (req === undefined) return
  state.order!.replies.delete(op.seq)
  ctx.out.reply(req, result)
}

/** A removed author's ops that the order has not reached are outside it for good (its vertices
 *  are no longer valid, spec/totb.md "Membership and committee"): nothing fetches them. Its ops
 *  ordered before the removal stay in the queue and are applied or skipped there. */
export function dropUnordered(state: VolumeState, author: Pid): void {
  const q = state.queues.get(author)
  if (q === undefined) return
  const ordered = new Set(state.order!.queue.filter((op) => op.author === author).map((op) => op.seq))
  const keep = q.filter((p) => ordered.has(p.seq))
  if (keep.length < q.length) bump(state, 'order:unordered-of-removed')
  if (keep.length === 0) state.queues.delete(author)
  else state.queues.set(author, keep)
}

/** The fetch of an operation decided in the order is over (applied with a plain op we hold, or
 *  skipped): it leaves its author's fetch queue; the next one is asked for at the next tick. */
function dropFetch(state: VolumeState, op: OrderedOp): void {
  const q = state.queues.get(op.author)
  if (q === undefined) return
  const i = q.findIndex((p) => p.seq === op.seq)
  if (i < 0) return
  // A later one becomes the head; never asked yet (deadline -Infinity), the next tick asks for it.
  q.splice(i, 1)
  if (q.length === 0) state.queues.delete(op.author)
}

// ---------------------------------------------------------------------------------------------
// Local calls

/** A local state-changing call of a totb volume: planned against the applied state, its plain op
 *  stored and its entry appended, and answered once it is applied in the order (undefined: the
 *  reply comes later, as `reply` effect for `req`). */
export function callOrdered(state: VolumeState, ctx: Ctx, c: FsCall, req: RequestId): CallResult | undefined {
  const o = state.order!
  const planned = planCall(state, ctx, c)
  if (!planned.ok) return planned.result
  publishCall(state, ctx, planned)
  totb.noteOwnEntry(o.totb)
  o.replies.set(planned.seq, req)
  bump(state, 'call:ordered')
  return undefined
}
