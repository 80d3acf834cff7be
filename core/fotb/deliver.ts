// Delivery (spec/fotb.md "Why an echo quorum on heads", "Ready", FOTB-3, FOTB-4, FOTB-5): a node
// is *ready* up to an entry once a quorum of members echoes a head at or beyond it on its chain
// (or f+1 members report being ready there), and delivers it once 2f+1 members report being
// ready at or beyond it on its chain; echoes and ready reports travel in HEADS messages.
import type { Out } from '../effects.ts'
import type { ChainView, Entry } from '../ledger/index.ts'
import { assert, type EntryHash, type Pid, type Seq } from '../types.ts'
import { count, entryAt, type EntryReader, type FotbState, type FotbUp } from './state.ts'
import { deliveredRecord, send, sendToAudience } from './messages.ts'

export function quorum(n: number): number {
  assert(Number.isSafeInteger(n) && n >= 0, 'member count')
  if (n === 0) return 1
  const f = Math.floor((n - 1) / 3)
  return Math.ceil((n + f + 1) / 2)
}

/** f = floor((n-1)/3): the Byzantine members the member set tolerates (0 for n <= 3). */
export function faultsTolerated(n: number): number {
  return n === 0 ? 0 : Math.floor((n - 1) / 3)
}

/** Our echo: the heads of every chain we accepted and how far we are ready, to the audience. */
export function echo(state: FotbState, out: Out): void {
  state.headsChanged = false
  const heads = headsOf(state)
  if (heads.length === 0) return
  sendToAudience(state, out, { type: 'heads', heads, proofs: [...state.proofs.keys()].sort(), readies: readiesOf(state) })
}

/** Our echo to one peer only (a removed member that lacks entries: broadcast.ts). */
export function echoTo(state: FotbState, out: Out, to: Pid): void {
  const heads = headsOf(state)
  if (heads.length === 0) return
  send(state, out, to, { type: 'heads', heads, proofs: [...state.proofs.keys()].sort(), readies: readiesOf(state) })
}

/** How far we are ready for `author`: never below what we delivered. */
export function readyOf(state: FotbState, author: Pid): Seq {
  return Math.max(state.ready.get(author) ?? 0, state.delivered.get(author) ?? 0)
}

function readiesOf(state: FotbState): { author: Pid; seq: Seq; head: EntryHash }[] {
  const out: { author: Pid; seq: Seq; head: EntryHash }[] = []
  for (const author of [...state.chains.keys()].sort()) {
    const v = state.chains.get(author)!.view
    const r = Math.min(readyOf(state, author), v.seq)
    if (r > 0) out.push({ author, seq: r, head: v.hashes.get(r - 1)! })
  }
  return out
}

function headsOf(state: FotbState): { author: Pid; seq: Seq; head: EntryHash }[] {
  const heads: { author: Pid; seq: Seq; head: EntryHash }[] = []
  for (const author of [...state.chains.keys()].sort()) {
    const v = state.chains.get(author)!.view
    if (v.seq > 0) heads.push({ author, seq: v.seq, head: v.head })
  }
  return heads
}

/** Whether `m`'s own seal on `view` counts as its echo and ready report for its own chain
 *  (spec/fotb.md "The author's seal and signed ready reports"): the seal is the author's signed word on its whole chain,
 *  which is all an echo or a ready report of it could say, and a Byzantine author could send us
 *  both for the branch we hold anyway. Not for a proven equivocator: there the branches compete
 *  and only the others' reports decide. Why at all: a joiner that knows only members that
 *  stopped for good hears no echo of theirs, yet must deliver their sealed votes to learn the
 *  member set (sim seed 2038 --ops 100 --volumes 3). */
function sealVouches(state: FotbState, view: ChainView, m: Pid): boolean {
  return m === view.author && m !== state.me && view.seq > 0 && !state.proofs.has(m)
}

/** The q-th highest member echo that lies on `view` (0 when fewer than q do). Our own chain
 *  counts as our echo only when `view` is our chain: for a candidate branch we have not echoed
 *  it, and counting ourselves would let one node vouch for two branches (FOTB-4). */
export function supportedSeq(state: FotbState, view: ChainView, selfCounts = true): Seq {
  const supports: Seq[] = []
  // Called for every reported author of every HEADS: no object per member (our own and a
  // sealing author's echo are the view's head, read in place).
  for (const m of state.members) {
    if (m === state.me && !selfCounts) continue
    let seq: Seq
    let head: EntryHash
    if (m === state.me || sealVouches(state, view, m)) {
      seq = view.seq
      head = view.head
    } else {
      const rep = state.reports.get(m)?.get(view.author)
      if (rep === undefined) continue
      seq = rep.seq
      head = rep.head
    }
    if (seq === 0) continue
    // A report beyond our chain supports only as far as we can check; a correct member's
    // chain is linear, so its report at rep.seq also vouches for every seq below it.
    if (seq <= view.seq && view.hashes.is(seq - 1, head)) supports.push(seq)
  }
  const q = Math.max(1, quorum(state.members.size) - (state.mutation === 'quorum-off-by-one' ? 1 : 0))
  if (supports.length < q) return 0
  supports.sort((a, b) => b - a)
  return supports[q - 1]!
}

/** The k-th highest ready report that lies on `view` (0 when fewer than k do). Our own ready
 *  position counts only when `view` is our chain (`selfCounts`), as in supportedSeq. */
export function readySupport(state: FotbState, view: ChainView, k: number, selfCounts = true): Seq {
  return kthReady(state, view, othersReady(state, view), k, selfCounts)
}

/** readySupport from the other members' ready positions (`othersReady`), given: tryDeliver
 *  counts them once for its two thresholds. `others` is not changed. */
function kthReady(state: FotbState, view: ChainView, others: readonly Seq[], k: number, selfCounts: boolean): Seq {
  const supports = others.slice()
  if (selfCounts && state.members.has(state.me)) {
    const r = Math.min(readyOf(state, view.author), view.seq)
    if (r > 0) supports.push(r)
  }
  if (supports.length < k) return 0
  supports.sort((a, b) => b - a)
  return supports[k - 1]!
}

/** How far each member other than us is ready on `view` (members without a ready report on
 *  it left out), in member order. */
function othersReady(state: FotbState, view: ChainView): Seq[] {
  const supports: Seq[] = []
  for (const m of state.members) {
    if (m === state.me) continue
    if (sealVouches(state, view, m)) {
      supports.push(view.seq)
      continue
    }
    // The member's latest ready report, or the one it signed into a vote, whichever reaches
    // further on this chain: each is the member's word, and a member counts once.
    // (Two plain checks, not a loop over a two-item array: this runs for every member on every
    // HEADS that leaves a chain undelivered.)
    let best = 0
    const ready = state.readies.get(m)?.get(view.author)
    if (ready !== undefined && ready.seq > 0 && ready.seq <= view.seq && view.hashes.is(ready.seq - 1, ready.head)) best = ready.seq
    const vouch = state.vouches.get(m)?.get(view.author)
    if (vouch !== undefined && vouch.seq > best && vouch.seq <= view.seq && view.hashes.is(vouch.seq - 1, vouch.head)) best = vouch.seq
    if (best > 0) supports.push(best)
  }
  return supports
}

/** Moves our ready position for `author` on our chain: to where a quorum echoes, or where f+1
 *  members (one of them correct) report being ready. Bracha's two thresholds, per head: two
 *  correct members are never ready for different entries at one seq, and once 2f+1 are ready
 *  every correct member becomes ready (FOTB-5, also of an equivocating author). */
export function updateReady(state: FotbState, author: Pid): void {
  moveReady(state, author, new OthersReady())
}

/** The other members' ready positions on an author's chain, gathered at the first use: one
 *  tryDeliver asks for them twice (its ready and its delivery threshold), and moving our own
 *  ready position in between changes no other member's. */
class OthersReady {
  private seqs: Seq[] | undefined
  of(state: FotbState, view: ChainView): readonly Seq[] {
    return (this.seqs ??= othersReady(state, view))
  }
}

function moveReady(state: FotbState, author: Pid, others: OthersReady): void {
  const log = state.chains.get(author)
  if (!log) return
  const cur = readyOf(state, author)
  if (cur >= log.view.seq) return // ready for the whole chain: nothing can move (most calls)
  const f = faultsTolerated(state.members.size)
  const next = Math.min(log.view.seq, Math.max(cur, supportedSeq(state, log.view), kthReady(state, log.view, others.of(state, log.view), f + 1, false)))
  if (next > cur) {
    state.ready.set(author, next)
    state.headsChanged = true
  }
}

/** How far `author`'s entries may be delivered: the (2f+1)-th highest ready report that lies on
 *  our chain (our own included). */
export function deliverableSeq(state: FotbState, author: Pid): Seq {
  return deliverable(state, author, new OthersReady())
}

function deliverable(state: FotbState, author: Pid, others: OthersReady): Seq {
  const log = state.chains.get(author)
  const done = state.delivered.get(author) ?? 0
  if (!log || done >= log.view.seq) return done
  const f = faultsTolerated(state.members.size)
  const k = Math.max(1, 2 * f + 1 - (state.mutation === 'quorum-off-by-one' ? 1 : 0))
  return Math.max(done, kthReady(state, log.view, others.of(state, log.view), k, true))
}

export function tryDeliver(state: FotbState, author: Pid, out: Out, port: EntryReader, ups: FotbUp[]): void {
  const others = new OthersReady()
  moveReady(state, author, others)
  let target = deliverable(state, author, others)
  const done = state.delivered.get(author) ?? 0
  if (target <= done) return
  const log = state.chains.get(author)!
  // The payloads come from the storage port. An accepted entry it cannot produce (runtime: damaged
  // on disk) stops delivery before it: later entries must not overtake it (FOTB-3).
  const entries: Entry[] = []
  for (let seq = done + 1; seq <= target; seq++) {
    const e = entryAt(state, port, author, seq)
    if (e === undefined) {
      count(state, 'entry:unavailable')
      out.trace({ kind: 'entry-unavailable', volume: state.volume, peer: author, detail: `seq ${seq}` })
      target = seq - 1
      break
    }
    entries.push(e)
  }
  if (target <= done) return
  const seqs: Seq[] = []
  for (let seq = done + 1; seq <= target; seq++) seqs.push(seq)
  if (state.mutation === 'deliver-out-of-order' && seqs.length >= 2) seqs.reverse()
  for (const seq of seqs) {
    const entry = entries[seq - done - 1]!
    ups.push({ type: 'deliver', author, seq, hash: log.view.hashes.get(seq - 1)!, payload: entry.payload })
    // Observable by hosts and invariant checkers (FIFO, exactly once, consistency).
    out.deliver(state.volume, { type: 'entries', author, from: seq, hashes: [log.view.hashes.get(seq - 1)!] })
  }
  state.delivered.set(author, target)
  out.persist(deliveredRecord(state.volume, author, target))
}

/** A member's ready report signed into its chain (spec/fotb.md "The author's seal and signed
 *  ready reports"): its
 *  delivered vote to admit `author`, which names the head of `author`'s chain it had delivered
 *  (the join). Kept like a ready report of `voter`, then `author`'s delivery is tried. */
export function addVouch(state: FotbState, voter: Pid, author: Pid, seq: Seq, head: EntryHash, out: Out, port: EntryReader, ups: FotbUp[]): void {
  if (noteVouch(state, voter, author, seq, head)) tryDeliver(state, author, out, port, ups)
}

/** Keeps `voter`'s signed ready report on `author`'s chain if it reaches further than the one we
 *  have; true when it did. Also used at restart, where nothing is delivered yet. */
export function noteVouch(state: FotbState, voter: Pid, author: Pid, seq: Seq, head: EntryHash): boolean {
  if (voter === state.me || seq < 1) return false
  let m = state.vouches.get(voter)
  if (!m) state.vouches.set(voter, (m = new Map()))
  if ((m.get(author)?.seq ?? 0) >= seq) return false
  m.set(author, { seq, head })
  return true
}

export function tryDeliverAll(state: FotbState, out: Out, port: EntryReader, ups: FotbUp[]): void {
  for (const author of [...state.chains.keys()].sort()) tryDeliver(state, author, out, port, ups)
}

/** Membership changed in the volume layer: new quorum base, maybe new deliveries. */
export function setMembers(state: FotbState, members: Set<Pid>, audience: Set<Pid>, out: Out, port: EntryReader, ups: FotbUp[], removed?: ReadonlySet<Pid>): void {
  state.members = members
  state.audience = audience
  if (removed) state.removed = removed
  for (const peer of [...state.reports.keys()]) if (state.removed.has(peer)) state.reports.delete(peer)
  for (const peer of [...state.readies.keys()]) if (state.removed.has(peer)) state.readies.delete(peer)
  for (const peer of [...state.vouches.keys()]) if (state.removed.has(peer)) state.vouches.delete(peer)
  tryDeliverAll(state, out, port, ups)
}
