// The broadcast itself: own entries out (broadcast, then flush seals and pushes them at the
// end of the step) and peers' messages in (onMessage: batches, heads, fetches, proofs).
// All functions are pure apart from mutating the FotbState they are given (the state is owned by
// the reducer; hosts never keep an old state object) and pushing effects into `out`.
import type { Crypto } from '../crypto.ts'
import type { Out } from '../effects.ts'
import { append, cloneChainView, newChainView, seal as sealChain, validateBatch, type Entry, type EquivocationProof, type Seal } from '../ledger/index.ts'
import { assert, type EntryHash, type Pid, type Seq, type TimeMs } from '../types.ts'
import { authorLog, count, hashAt, limitsOf, mayTrack, type AuthorLog, type EntryReader, type FotbParams, type FotbState, type FotbUp, type Report } from './state.ts'
import { acceptEntry, sealRecord, sendToAudience, type FotbMessage } from './messages.ts'
import { echo, echoTo, readyOf, tryDeliver } from './deliver.ts'
import { onFetch, requestRange } from './fetch.ts'
import { branchBase, maybeAdopt, noteEquivocation, shareProofs, tryOtherBranch } from './equivocation.ts'
import { noteEcho, tryFinishRecovery } from './recover.ts'

/** Append an own payload; it is sealed and pushed by `flush` at the end of the step. */
export function broadcast(state: FotbState, crypto: Crypto, payload: Uint8Array): Entry {
  // Callers check mayAppendOwn first (recover.ts): sealing while the own head is unknown could
  // seal a second entry at a seq already sealed (FOTB-8).
  assert(state.recovering === undefined, 'no own entry while the own head is unknown')
  const { chain, entry } = append(crypto, state.own, payload)
  state.own = chain
  state.unsealed.push(entry)
  return entry
}

/** Seals what this step appended (one signature per at most maxBatchEntries entries), accepts
 *  it into our own view, persists, pushes it to the audience and delivers what has a quorum. */
export function flush(
  state: FotbState,
  crypto: Crypto,
  secretKey: Uint8Array,
  params: FotbParams,
  out: Out,
  port: EntryReader,
  ups: FotbUp[],
): void {
  while (state.unsealed.length > 0) {
    const batch = state.unsealed.splice(0, params.maxBatchEntries)
    const last = batch[batch.length - 1]!
    // Seal exactly at the batch's last entry: the own chain may be ahead when a step appended
    // more than one batch worth, so seal a chain positioned at that entry.
    const sealed = sealChain(crypto, secretKey, { ...state.own, seq: last.seq, head: hashAt(crypto, last) })
    state.own = { ...state.own, sealedSeq: last.seq }
    const log = authorLog(state, state.me)
    const r = validateBatch(crypto, log.view, batch, sealed.seal, limitsOf(params), { ownSeal: true })
    assert(r.ok, `own batch must validate: ${r.ok ? '' : r.rejection.code}`)
    log.view = r.view
    for (const e of r.accepted) acceptEntry(state, out, e)
    out.persist(sealRecord(state.volume, sealed.seal))
    sendToAudience(state, out, { type: 'batch', entries: batch, seal: sealed.seal })
    state.headsChanged = true
  }
  // Only our own chain can have changed here; other authors are tried where their input arrives.
  tryDeliver(state, state.me, out, port, ups)
  // One echo per step at most, and only when our heads or ready positions moved: echoing on
  // every step would answer every HEADS with a HEADS, forever.
  if (state.headsChanged) echo(state, out)
}

export function onMessage(
  state: FotbState,
  crypto: Crypto,
  params: FotbParams,
  now: TimeMs,
  from: Pid,
  msg: FotbMessage,
  out: Out,
  port: EntryReader,
  ups: FotbUp[],
): void {
  count(state, `in:${msg.type}`)
  if (state.removed.has(from) && msg.type === 'heads') {
    // A removed member's echo never counts, and nothing is fetched from it. But it may have been
    // cut off when it was removed and never learn it (nobody sends it anything any more): while
    // its heads show it lacks entries we hold, it gets our echo, so that it fetches them (the
    // FETCH is answered below) and delivers its own removal (policy any, simulation seed 50010).
    // At most one answer per heartbeat, and none once it has caught up: two nodes that each
    // count the other removed would otherwise answer each other's answers forever (seen: 2.3
    // million events in one run). Not "none while it holds entries we lack": a removed member
    // always holds own entries nobody took (seed 20 of --policy any).
    count(state, 'reject:from-removed')
    const last = state.answeredRemoved.get(from)
    if (isBehind(state, from, msg.heads, msg.readies) && (last === undefined || now - last >= params.heartbeatMs)) {
      state.answeredRemoved.set(from, now)
      echoTo(state, out, from)
    }
    return
  }
  switch (msg.type) {
    case 'batch':
      return onBatch(state, crypto, params, now, from, msg.entries, msg.seal, out, port, ups)
    case 'heads':
      onHeads(state, params, now, from, msg.heads, msg.readies, out, port, ups)
      return shareProofs(state, from, msg.proofs, out)
    case 'fetch':
      // Answered to a removed member too: ledger entries only (salted hashes), no plain op.
      return onFetch(state, params, from, msg.author, msg.from, msg.to, out, port, state.removed.has(from))
    case 'proof':
      return onProof(state, crypto, msg.proof, out, ups)
  }
}

function onBatch(
  state: FotbState,
  crypto: Crypto,
  params: FotbParams,
  now: TimeMs,
  from: Pid,
  entries: Entry[],
  seal: Seal,
  out: Out,
  port: EntryReader,
  ups: FotbUp[],
): void {
  const author = seal.author
  if (seal.volume !== state.volume) {
    count(state, 'reject:wrong-chain')
    return
  }
  if (author === state.me && state.recovering !== undefined) {
    // Recovering a lost tail: our sealed entries come back from the members (recover.ts). The
    // seal is ours, so validation against our view is all it takes; accepted like a peer's.
    const log = authorLog(state, author)
    const r = validateBatch(crypto, log.view, entries, seal, limitsOf(params))
    if (!r.ok) {
      if (r.rejection.code === 'equivocation') return noteEquivocation(state, crypto, r.rejection.proof, out, ups)
      count(state, `reject:${r.rejection.code}`)
      if (r.rejection.code === 'gap') requestRange(state, params, now, from, author, log.view.seq + 1, seal.seq, out, 'gap')
      return
    }
    log.view = r.view
    for (const e of r.accepted) acceptEntry(state, out, e, true)
    out.persist(sealRecord(state.volume, seal))
    count(state, 'recovery:regained', r.accepted.length)
    const pending = state.fetching.get(author)
    if (pending && log.view.seq >= pending.to) state.fetching.delete(author)
    state.headsChanged = true
    tryFinishRecovery(state, out)
    tryDeliver(state, author, out, port, ups)
    return
  }
  if (author === state.me) {
    // Our own entries coming back (relay, replay): never accepted from outside, since our chain
    // is ours to write; a different entry at one of our seqs would be a twin, and validation
    // against our own view reveals it.
    // Validated against a copy: a twin's batch can extend our chain validly, and a successful
    // validation extends the view's arrays in place (core/ledger/ledger.ts), which must not happen here.
    // Looked up, not created: a rejected batch must leave no (empty) chain behind (FOTB-7).
    const view = state.chains.get(author)?.view ?? newChainView(state.volume, author)
    // validateBatch extends the arrays only for a batch that reaches past the view's head, so
    // only then is a copy needed: copying our whole chain for every batch of ours that comes back
    // cost O(history) per message.
    const reaches = typeof seal === 'object' && seal !== null && typeof seal.seq === 'number' && seal.seq > view.seq
    const r = validateBatch(crypto, reaches ? cloneChainView(view) : view, entries, seal, limitsOf(params))
    if (!r.ok && r.rejection.code === 'equivocation') return noteEquivocation(state, crypto, r.rejection.proof, out, ups)
    count(state, r.ok ? 'reject:own-chain' : `reject:${r.rejection.code}`)
    return
  }
  if (!mayTrack(state, author, params)) {
    count(state, 'reject:too-many-authors')
    return
  }
  // The author's chain is added to `chains` only once a batch of it is accepted (or an
  // equivocator's branch is tried below). Why: creating it before validation let any peer plant an
  // empty chain per invented author with batches that are then rejected (FOTB-7: rejections never
  // change accepted state), using up the maxAuthors budget that mayTrack keeps for joiners; and a
  // restart (restoreFotb) would not rebuild those chains. test/hostile.test.ts shows it.
  const existing = state.chains.get(author)
  const log: AuthorLog = existing ?? { view: newChainView(state.volume, author) }
  let r = validateBatch(crypto, log.view, entries, seal, limitsOf(params))
  if (!r.ok && r.rejection.code === 'bad-signature' && params.mutation === 'accept-unsealed') {
    r = validateBatch(crypto, log.view, entries, seal, limitsOf(params), { ownSeal: true })
  }
  if (!r.ok) {
    const code = r.rejection.code
    if (code === 'equivocation') noteEquivocation(state, crypto, r.rejection.proof, out, ups)
    if ((code === 'equivocation' || code === 'broken-link' || (code === 'gap' && state.candidates.has(author))) && state.proofs.has(author)) {
      if (existing === undefined) state.chains.set(author, log) // tryOtherBranch works on our chain
      if (tryOtherBranch(state, crypto, params, now, from, author, entries, seal, out, port, ups)) return
    }
    count(state, `reject:${code}`)
    if (code === 'gap') requestRange(state, params, now, from, author, log.view.seq + 1, seal.seq, out, 'gap')
    else if (code !== 'equivocation') out.trace({ kind: 'fotb-reject', volume: state.volume, peer: from, detail: `${code}: ${r.rejection.detail}` })
    return
  }
  log.view = r.view
  if (existing === undefined) state.chains.set(author, log)
  for (const e of r.accepted) acceptEntry(state, out, e, params.mutation !== 'forget-fetched-entries')
  out.persist(sealRecord(state.volume, seal))
  const pending = state.fetching.get(author)
  if (pending && log.view.seq >= pending.to) state.fetching.delete(author)
  state.headsChanged = true
  tryDeliver(state, author, out, port, ups)
}

/** Whether a removed member's echo shows it lacks entries we hold, or that it is less ready for
 *  its own chain than we are: in both cases our echo (heads and readies) is what it needs to
 *  deliver the rest, its own removal among it. The second case is a node that lost the tail of
 *  its store or a damaged batch and learns its own head from the members (FOTB-8) while they
 *  voted it out: it holds every entry but hears no echo (totb seed 642). Only its own chain
 *  counts there: every removed member is behind on some chain for good (it stops delivering), and
 *  answering all of them would add an echo per heartbeat per removed member forever. */
function isBehind(state: FotbState, from: Pid, heads: readonly { author: Pid; seq: Seq }[], readies: readonly { author: Pid; seq: Seq }[]): boolean {
  const theirs = new Map(heads.map((h) => [h.author, h.seq]))
  for (const [author, log] of state.chains) if (log.view.seq > (theirs.get(author) ?? 0)) return true
  const ownReady = readies.find((h) => h.author === from)?.seq ?? 0
  return Math.min(readyOf(state, from), theirs.get(from) ?? 0) > ownReady
}

/** Most peers outside the audience whose latest echo a node keeps (see onHeads). */
export const STRANGER_REPORTERS_MAX = 16

function strangerReporters(state: FotbState): number {
  let n = 0
  for (const peer of state.reports.keys()) if (!state.audience.has(peer)) n++
  return n
}

/** A HEADS message's list as kept reports, by author (the last of an author counts). A module
 *  function, not a closure of onHeads: tsx keeps function names, so a closure per HEADS costs a
 *  defineProperty each time. */
function reportsOf(list: readonly { author: Pid; seq: Seq; head: EntryHash }[]): Map<Pid, Report> {
  const kept = new Map<Pid, Report>()
  for (const h of list) kept.set(h.author, { seq: h.seq, head: h.head })
  return kept
}

function onHeads(
  state: FotbState,
  params: FotbParams,
  now: TimeMs,
  from: Pid,
  heads: { author: Pid; seq: Seq; head: EntryHash }[],
  readies: { author: Pid; seq: Seq; head: EntryHash }[],
  out: Out,
  port: EntryReader,
  ups: FotbUp[],
): void {
  if (!state.audience.has(from)) {
    // A stranger (e.g. a joiner whose first push was lost) may advertise its *own* chain so that
    // we fetch its join; nothing else it says is fetched.
    const own = heads.find((h) => h.author === from)
    count(state, 'heads-from-stranger')
    if (own && mayTrack(state, from, params) && own.seq > (state.chains.get(from)?.view.seq ?? 0)) {
      requestRange(state, params, now, from, from, (state.chains.get(from)?.view.seq ?? 0) + 1, own.seq, out, 'probe')
    }
    // The chains of our own members it holds beyond us, too: a joiner that knows only the
    // genesis members learns who else is a member from their chains, and if those members
    // stopped, a stranger (a member it does not know of yet) is the only holder left. Safe:
    // every entry is checked against its author's seal, and delivery still needs our members.
    for (const h of heads) {
      if (h.author === from || !state.members.has(h.author)) continue
      if (h.seq > (state.chains.get(h.author)?.view.seq ?? 0)) {
        requestRange(state, params, now, from, h.author, (state.chains.get(h.author)?.view.seq ?? 0) + 1, h.seq, out, 'report')
      }
    }
    // Kept (a few strangers, latest echo only) so that it counts at once if the stranger turns
    // out to be a member once we deliver more membership entries: a joiner would otherwise wait
    // a heartbeat for the echo of every member it learns of. It counts only while it is a member.
    if (state.reports.has(from) || strangerReporters(state) < STRANGER_REPORTERS_MAX) {
      state.reports.set(from, reportsOf(heads))
      state.readies.set(from, reportsOf(readies))
    }
    return
  }
  // The latest ready report counts, as the latest echo does (a restarted member reports from
  // its delivered mark again).
  state.readies.set(from, reportsOf(readies))
  noteEcho(state, params, now, from, heads)
  let reports = state.reports.get(from)
  if (!reports) {
    reports = new Map()
    state.reports.set(from, reports)
  }
  for (const h of heads) {
    // The latest echo counts, even if it is lower: a peer that adopted an equivocator's quorum
    // branch reports a shorter chain, and a stale higher report would never vouch for anything.
    // (A reordered older HEADS may lower support until the next heartbeat; safety does not
    // depend on it, since every echo a correct node ever sent is one it held.)

    reports.set(h.author, { seq: h.seq, head: h.head })
    if (!mayTrack(state, h.author, params)) continue
    const log = state.chains.get(h.author)
    const mySeq = log?.view.seq ?? 0
    if (state.proofs.has(h.author)) {
      // An equivocator: our branch may be the one no quorum backs. Collect the reporter's
      // branch from our delivered prefix on when its head is not on our chain.
      const onOurs = log !== undefined && h.seq <= mySeq && log.view.hashes.is(h.seq - 1, h.head)
      const candidate = state.candidates.get(h.author)
      const onCandidate = candidate !== undefined && h.seq <= candidate.view.seq && candidate.view.hashes.is(h.seq - 1, h.head)
      if (!onOurs && !onCandidate && h.seq > (state.delivered.get(h.author) ?? 0)) {
        const from0 = candidate && candidate.view.seq > 0 && h.seq > candidate.view.seq ? candidate.view.seq + 1 : branchBase(state, h.author) + 1
        requestRange(state, params, now, from, h.author, from0, h.seq, out, 'probe')
      }
      continue
    }
    if (h.seq > mySeq) {
      requestRange(state, params, now, from, h.author, mySeq + 1, h.seq, out, 'report')
    } else if (log && !log.view.hashes.is(h.seq - 1, h.head)) {
      // A different head at a seq we accepted: fetch the peer's sealed range so that the
      // ledger can turn the conflict into a proof.
      requestRange(state, params, now, from, h.author, h.seq, h.seq, out, 'probe')
    }
  }
  // Only the reported authors' support can have changed.
  const authors = new Set<Pid>()
  for (const h of heads) authors.add(h.author)
  for (const h of readies) authors.add(h.author)
  for (const author of [...authors].sort()) {
    maybeAdopt(state, author, out, port, ups)
    tryDeliver(state, author, out, port, ups)
  }
  tryFinishRecovery(state, out)
}

function onProof(state: FotbState, crypto: Crypto, proof: EquivocationProof, out: Out, ups: FotbUp[]): void {
  noteEquivocation(state, crypto, proof, out, ups)
}
