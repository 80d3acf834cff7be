// fotb: reliable FIFO-order tamper-proof broadcast for one volume (spec/fotb.md).
//
// The ledger (core/ledger.ts) decides what a valid chain is; this module decides who gets what,
// when an entry may be delivered (echo quorum on heads), and how missing ranges are fetched.
// All functions are pure apart from mutating the FotbState they are given (the state is owned by
// the reducer; hosts never keep an old state object) and pushing effects into `out`.
import type { Crypto } from './crypto.ts'
import { encode, type Value } from './codec.ts'
import { fromHex, toHex } from './bytes.ts'
import type { Out } from './effects.ts'
import type { Mutation } from './mutations.ts'
import {
  append,
  cloneChainView,
  entryHash,
  headerOf,
  decodeEntry,
  decodeProof,
  decodeSeal,
  encodeEntry,
  encodeProof,
  encodeSeal,
  newChainView,
  newOwnChain,
  seal as sealChain,
  validateBatch,
  verifyProof,
  type ChainView,
  type Entry,
  type EquivocationProof,
  type OwnChain,
  type Seal,
} from './ledger.ts'
import { assert, isPid, ZERO_HASH, type EntryHash, type Pid, type Seq, type TimeMs, type VolumeName } from './types.ts'

export interface FotbParams {
  /** Most entries in one BATCH and in one FETCH range; also the longest span one seal covers. */
  readonly maxBatchEntries: number
  readonly maxPayloadBytes: number
  /** Most heads in one HEADS message, and most foreign chains a node keeps per volume. */
  readonly maxAuthors: number
  /** Period of the anti-entropy HEADS message. */
  readonly heartbeatMs: number
  /** A fetch not done after this long is retried by the tick, to the next peer that reports more. */
  readonly fetchRetryMs: number
  /** Test only: a deliberately broken variant (core/mutations.ts). */
  readonly mutation?: Mutation
}

export const DEFAULT_FOTB_PARAMS: FotbParams = {
  maxBatchEntries: 1024,
  maxPayloadBytes: 64 * 1024,
  maxAuthors: 4096,
  heartbeatMs: 1000,
  fetchRetryMs: 2000,
}

export interface AuthorLog {
  view: ChainView
  /** entries[i] is the accepted entry at seq i+1. */
  entries: Entry[]
}

export interface Fetch {
  to: Seq
  peer: Pid
  at: TimeMs
  sent: TimeMs
}

export interface Report {
  readonly seq: Seq
  readonly head: EntryHash
}

export interface FotbState {
  readonly volume: VolumeName
  readonly me: Pid
  own: OwnChain
  /** Own entries appended in the current step; sealed and pushed by `flush`. */
  unsealed: Entry[]
  readonly chains: Map<Pid, AuthorLog>
  readonly delivered: Map<Pid, Seq>
  readonly proofs: Map<Pid, EquivocationProof>
  /** For an equivocating author: the other branch being collected, from our delivered prefix on,
   *  adopted as our chain once a quorum vouches for it beyond what we delivered. */
  readonly candidates: Map<Pid, AuthorLog>
  members: Set<Pid>
  /** Removed members: their HEADS and FETCHes are ignored and nothing is fetched from them. */
  removed: ReadonlySet<Pid>
  /** Members plus applicants: who gets pushes, echoes and may fetch. */
  audience: Set<Pid>
  readonly reports: Map<Pid, Map<Pid, Report>>
  /** The outstanding fetch per author: the range's end, the peer this attempt asked, when the
   *  attempt started (its retry deadline runs from there) and when we last sent a FETCH for it. */
  readonly fetching: Map<Pid, Fetch>
  lastHeartbeat: TimeMs
  /** Test only (core/mutations.ts); copied from the params at creation. */
  mutation?: Mutation
  /** Our accepted heads changed since the last echo. */
  headsChanged: boolean
  readonly stats: Map<string, number>
}

/** What fotb hands up to the volume layer, in order. */
export type FotbUp =
  | { readonly type: 'deliver'; readonly author: Pid; readonly seq: Seq; readonly hash: EntryHash; readonly payload: Uint8Array }
  | { readonly type: 'equivocation'; readonly author: Pid; readonly proof: EquivocationProof }

/** Least time between two fetches for one author, even when forced. */
const MIN_FETCH_GAP_MS = 100

export function quorum(n: number): number {
  assert(Number.isSafeInteger(n) && n >= 0, 'member count')
  if (n === 0) return 1
  const f = Math.floor((n - 1) / 3)
  return Math.ceil((n + f + 1) / 2)
}

export function newFotb(volume: VolumeName, me: Pid): FotbState {
  return {
    volume,
    me,
    own: newOwnChain(volume, me),
    unsealed: [],
    chains: new Map(),
    delivered: new Map(),
    proofs: new Map(),
    candidates: new Map(),
    members: new Set(),
    removed: new Set(),
    audience: new Set(),
    reports: new Map(),
    fetching: new Map(),
    lastHeartbeat: -Infinity,
    headsChanged: false,
    stats: new Map(),
  }
}

export function count(state: FotbState, key: string, by = 1): void {
  state.stats.set(key, (state.stats.get(key) ?? 0) + by)
}

// ---------------------------------------------------------------------------------------------
// Messages

export type FotbMessage =
  | { readonly type: 'batch'; readonly entries: Entry[]; readonly seal: Seal }
  | { readonly type: 'heads'; readonly heads: { author: Pid; seq: Seq; head: EntryHash }[]; readonly proofs: Pid[] }
  | { readonly type: 'fetch'; readonly author: Pid; readonly from: Seq; readonly to: Seq }
  | { readonly type: 'proof'; readonly proof: EquivocationProof }

function pidBytes(pid: Pid): Uint8Array {
  return fromHex(pid)!
}

export function encodeFotbMessage(volume: VolumeName, msg: FotbMessage): Uint8Array {
  switch (msg.type) {
    case 'batch':
      return encode(['fotb/batch', volume, msg.entries.map(encodeEntry), encodeSeal(msg.seal)])
    case 'heads':
      return encode([
        'fotb/heads',
        volume,
        msg.heads.map((h) => [pidBytes(h.author), h.seq, fromHex(h.head)!]),
        msg.proofs.map(pidBytes),
      ])
    case 'fetch':
      return encode(['fotb/fetch', volume, pidBytes(msg.author), msg.from, msg.to])
    case 'proof':
      return encode(['fotb/proof', volume, encodeProof(msg.proof)])
  }
}

function isSeq(v: Value | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1
}

function asPid(v: Value | undefined): Pid | undefined {
  if (!(v instanceof Uint8Array) || v.length !== 33) return undefined
  const hex = toHex(v)
  return isPid(hex) ? hex : undefined
}

function asHash(v: Value | undefined): EntryHash | undefined {
  if (!(v instanceof Uint8Array) || v.length !== 32) return undefined
  return toHex(v) as EntryHash
}

/** Parses the body of a decoded fotb message (tag and volume already checked by the node). */
export function parseFotbMessage(
  parts: readonly Value[],
  params: FotbParams,
): { ok: true; msg: FotbMessage } | { ok: false; reason: string } {
  const tag = parts[0]
  if (tag === 'fotb/batch') {
    const list = parts[2]
    const sealBytes = parts[3]
    if (parts.length !== 4 || !Array.isArray(list) || !(sealBytes instanceof Uint8Array)) return { ok: false, reason: 'batch shape' }
    if (list.length === 0 || list.length > params.maxBatchEntries) return { ok: false, reason: 'batch size' }
    const entries: Entry[] = []
    for (const item of list as Value[]) {
      if (!(item instanceof Uint8Array)) return { ok: false, reason: 'entry not bytes' }
      const r = decodeEntry(item)
      if (!r.ok) return { ok: false, reason: `entry: ${r.rejection.detail}` }
      entries.push(r.value)
    }
    const s = decodeSeal(sealBytes)
    if (!s.ok) return { ok: false, reason: `seal: ${s.rejection.detail}` }
    return { ok: true, msg: { type: 'batch', entries, seal: s.value } }
  }
  if (tag === 'fotb/heads') {
    const list = parts[2]
    const proofList = parts[3]
    if (parts.length !== 4 || !Array.isArray(list) || list.length > params.maxAuthors || !Array.isArray(proofList) || proofList.length > params.maxAuthors) {
      return { ok: false, reason: 'heads shape' }
    }
    const proofs: Pid[] = []
    for (const item of proofList as Value[]) {
      const p = asPid(item)
      if (!p) return { ok: false, reason: 'proof author' }
      proofs.push(p)
    }
    const heads: { author: Pid; seq: Seq; head: EntryHash }[] = []
    for (const item of list as Value[]) {
      if (!Array.isArray(item) || item.length !== 3) return { ok: false, reason: 'head shape' }
      const author = asPid(item[0])
      const seq = item[1]
      const head = asHash(item[2])
      if (!author || !isSeq(seq) || !head) return { ok: false, reason: 'head fields' }
      heads.push({ author, seq, head })
    }
    return { ok: true, msg: { type: 'heads', heads, proofs } }
  }
  if (tag === 'fotb/fetch') {
    const author = asPid(parts[2])
    const from = parts[3]
    const to = parts[4]
    if (parts.length !== 5 || !author || !isSeq(from) || !isSeq(to) || to < from) return { ok: false, reason: 'fetch fields' }
    return { ok: true, msg: { type: 'fetch', author, from, to } }
  }
  if (tag === 'fotb/proof') {
    const bytes = parts[2]
    if (parts.length !== 3 || !(bytes instanceof Uint8Array)) return { ok: false, reason: 'proof shape' }
    const r = decodeProof(bytes)
    if (!r.ok) return { ok: false, reason: `proof: ${r.rejection.detail}` }
    return { ok: true, msg: { type: 'proof', proof: r.value } }
  }
  return { ok: false, reason: 'unknown tag' }
}

// ---------------------------------------------------------------------------------------------
// Persisted records

export function entryRecord(volume: VolumeName, entry: Entry): Value {
  return ['entry', volume, encodeEntry(entry)]
}
export function sealRecord(volume: VolumeName, seal: Seal): Value {
  return ['seal', volume, encodeSeal(seal)]
}
export function deliveredRecord(volume: VolumeName, author: Pid, seq: Seq): Value {
  return ['delivered', volume, pidBytes(author), seq]
}
export function proofRecord(volume: VolumeName, proof: EquivocationProof): Value {
  return ['proof', volume, encodeProof(proof)]
}

// ---------------------------------------------------------------------------------------------
// Handlers

function send(state: FotbState, out: Out, to: Pid, msg: FotbMessage): void {
  if (to === state.me) return
  count(state, `out:${msg.type}`)
  out.send(to, encodeFotbMessage(state.volume, msg))
}

function sendToAudience(state: FotbState, out: Out, msg: FotbMessage): void {
  const bytes = encodeFotbMessage(state.volume, msg)
  for (const to of [...state.audience].sort()) {
    if (to === state.me) continue
    count(state, `out:${msg.type}`)
    out.send(to, bytes)
  }
}

function authorLog(state: FotbState, author: Pid): AuthorLog {
  let log = state.chains.get(author)
  if (!log) {
    log = { view: newChainView(state.volume, author), entries: [] }
    state.chains.set(author, log)
  }
  return log
}

/** Whether we keep a chain for this author at all (bounded; members and audience always). */
function mayTrack(state: FotbState, author: Pid, params: FotbParams): boolean {
  if (state.chains.has(author) || state.audience.has(author) || state.members.has(author)) return true
  return state.chains.size < params.maxAuthors
}

/** Append an own payload; it is sealed and pushed by `flush` at the end of the step. */
export function broadcast(state: FotbState, crypto: Crypto, payload: Uint8Array): Entry {
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
    for (const e of r.accepted) {
      log.entries.push(e)
      out.persist(entryRecord(state.volume, e))
    }
    out.persist(sealRecord(state.volume, sealed.seal))
    sendToAudience(state, out, { type: 'batch', entries: batch, seal: sealed.seal })
    state.headsChanged = true
  }
  // One echo per step at most, and only when our heads moved: echoing on every step would
  // answer every HEADS with a HEADS, forever.
  if (state.headsChanged) echo(state, out)
  // Only our own chain can have changed here; other authors are tried where their input arrives.
  tryDeliver(state, state.me, out, ups)
}

function hashAt(crypto: Crypto, entry: Entry): EntryHash {
  return entryHash(crypto, headerOf(crypto, entry))
}

function limitsOf(params: FotbParams): { maxEntries: number; maxPayloadBytes: number } {
  return { maxEntries: params.maxBatchEntries, maxPayloadBytes: params.maxPayloadBytes }
}

/** Our echo: the heads of every chain we accepted, to everyone in the audience. */
function echo(state: FotbState, out: Out): void {
  state.headsChanged = false
  const heads = headsOf(state)
  if (heads.length === 0) return
  sendToAudience(state, out, { type: 'heads', heads, proofs: [...state.proofs.keys()].sort() })
}

function headsOf(state: FotbState): { author: Pid; seq: Seq; head: EntryHash }[] {
  const heads: { author: Pid; seq: Seq; head: EntryHash }[] = []
  for (const author of [...state.chains.keys()].sort()) {
    const v = state.chains.get(author)!.view
    if (v.seq > 0) heads.push({ author, seq: v.seq, head: v.head })
  }
  return heads
}

export function onMessage(
  state: FotbState,
  crypto: Crypto,
  params: FotbParams,
  now: TimeMs,
  from: Pid,
  msg: FotbMessage,
  out: Out,
  ups: FotbUp[],
): void {
  count(state, `in:${msg.type}`)
  if (state.removed.has(from) && (msg.type === 'heads' || msg.type === 'fetch')) {
    count(state, 'reject:from-removed')
    return
  }
  switch (msg.type) {
    case 'batch':
      return onBatch(state, crypto, params, now, from, msg.entries, msg.seal, out, ups)
    case 'heads':
      onHeads(state, params, now, from, msg.heads, out, ups)
      return shareProofs(state, from, msg.proofs, out)
    case 'fetch':
      return onFetch(state, params, from, msg.author, msg.from, msg.to, out)
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
  ups: FotbUp[],
): void {
  const author = seal.author
  if (seal.volume !== state.volume) {
    count(state, 'reject:wrong-chain')
    return
  }
  if (author === state.me) {
    // Our own entries coming back (relay, replay): never accepted from outside, since our chain
    // is ours to write; a different entry at one of our seqs would be a twin, and validation
    // against our own view reveals it.
    // Validated against a copy: a twin's batch can extend our chain validly, and a successful
    // validation extends the view's arrays in place (core/ledger.ts), which must not happen here.
    // Looked up, not created: a rejected batch must leave no (empty) chain behind (FOTB-7).
    const view = state.chains.get(author)?.view ?? newChainView(state.volume, author)
    const r = validateBatch(crypto, cloneChainView(view), entries, seal, limitsOf(params))
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
  const log: AuthorLog = existing ?? { view: newChainView(state.volume, author), entries: [] }
  let r = validateBatch(crypto, log.view, entries, seal, limitsOf(params))
  if (!r.ok && r.rejection.code === 'bad-signature' && params.mutation === 'accept-unsealed') {
    r = validateBatch(crypto, log.view, entries, seal, limitsOf(params), { ownSeal: true })
  }
  if (!r.ok) {
    const code = r.rejection.code
    if (code === 'equivocation') noteEquivocation(state, crypto, r.rejection.proof, out, ups)
    if ((code === 'equivocation' || code === 'broken-link' || (code === 'gap' && state.candidates.has(author))) && state.proofs.has(author)) {
      if (existing === undefined) state.chains.set(author, log) // tryOtherBranch works on our chain
      if (tryOtherBranch(state, crypto, params, now, from, author, entries, seal, out, ups)) return
    }
    count(state, `reject:${code}`)
    if (code === 'gap') requestRange(state, params, now, from, author, log.view.seq + 1, seal.seq, out, 'gap')
    else if (code !== 'equivocation') out.trace({ kind: 'fotb-reject', volume: state.volume, peer: from, detail: `${code}: ${r.rejection.detail}` })
    return
  }
  log.view = r.view
  if (existing === undefined) state.chains.set(author, log)
  for (const e of r.accepted) {
    log.entries.push(e)
    out.persist(entryRecord(state.volume, e))
  }
  out.persist(sealRecord(state.volume, seal))
  const pending = state.fetching.get(author)
  if (pending && log.view.seq >= pending.to) state.fetching.delete(author)
  state.headsChanged = true
  tryDeliver(state, author, out, ups)
}

/** Most peers outside the audience whose latest echo a node keeps (see onHeads). */
export const STRANGER_REPORTERS_MAX = 16

function strangerReporters(state: FotbState): number {
  let n = 0
  for (const peer of state.reports.keys()) if (!state.audience.has(peer)) n++
  return n
}

function onHeads(
  state: FotbState,
  params: FotbParams,
  now: TimeMs,
  from: Pid,
  heads: { author: Pid; seq: Seq; head: EntryHash }[],
  out: Out,
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
    // Kept (a few strangers, latest echo only) so that it counts at once if the stranger turns
    // out to be a member once we deliver more membership entries: a joiner would otherwise wait
    // a heartbeat for the echo of every member it learns of. It counts only while it is a member.
    if (state.reports.has(from) || strangerReporters(state) < STRANGER_REPORTERS_MAX) {
      const kept = new Map<Pid, Report>()
      for (const h of heads) kept.set(h.author, { seq: h.seq, head: h.head })
      state.reports.set(from, kept)
    }
    return
  }
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
      const onOurs = log !== undefined && h.seq <= mySeq && log.view.hashes[h.seq - 1] === h.head
      const candidate = state.candidates.get(h.author)
      const onCandidate = candidate !== undefined && h.seq <= candidate.view.seq && candidate.view.hashes[h.seq - 1] === h.head
      if (!onOurs && !onCandidate && h.seq > (state.delivered.get(h.author) ?? 0)) {
        const from0 = candidate && candidate.view.seq > 0 && h.seq > candidate.view.seq ? candidate.view.seq + 1 : branchBase(state, h.author) + 1
        requestRange(state, params, now, from, h.author, from0, h.seq, out, 'probe')
      }
      continue
    }
    if (h.seq > mySeq) {
      requestRange(state, params, now, from, h.author, mySeq + 1, h.seq, out, 'report')
    } else if (log && log.view.hashes[h.seq - 1] !== h.head) {
      // A different head at a seq we accepted: fetch the peer's sealed range so that the
      // ledger can turn the conflict into a proof.
      requestRange(state, params, now, from, h.author, h.seq, h.seq, out, 'probe')
    }
  }
  // Only the reported authors' support can have changed.
  for (const author of [...new Set(heads.map((h) => h.author))].sort()) {
    maybeAdopt(state, author, out, ups)
    tryDeliver(state, author, out, ups)
  }
}

/** Why a range is asked for:
 *  - `report`: a member's HEADS shows a head beyond ours (the tick's retry covers such ranges);
 *  - `probe`: a HEADS asks for a range the retry does not cover: a head not on our chain of an
 *    author (equivocation: fetch its seal range for a proof, or collect the other branch), or a
 *    stranger's own chain (a joiner whose first push was lost);
 *  - `gap`: a peer sent a batch beyond our head;
 *  - `retry`: the tick re-issues a fetch that made no progress in time. */
type FetchCause = 'report' | 'probe' | 'gap' | 'retry'

/** At most one outstanding fetch (attempt) per author. While one is outstanding, only the tick's
 *  retry (onTick) starts a new attempt, and it asks the next peer, in pid order, that reports more
 *  than we hold. A HEADS or a gap never re-targets or restarts the outstanding attempt: a gap or
 *  probe only asks its sender as well, at most every MIN_FETCH_GAP_MS. Why: a stale fetch used
 *  to be re-issued to whichever reporter's HEADS came first, and its deadline restarted; a
 *  Byzantine peer whose HEADS arrived at the retry instant (sim seed 177: its heartbeat period
 *  was exactly fetchRetryMs) was asked every time, answered with tampered entries, and the
 *  rotation past it never ran (FOTB-5). Now, whatever Byzantine peers send, every
 *  `fetchRetryMs` the attempt moves on to the next holder, so a correct holder is asked within as
 *  many attempts as there are holders. */
function requestRange(
  state: FotbState,
  params: FotbParams,
  now: TimeMs,
  peer: Pid,
  author: Pid,
  from: Seq,
  to: Seq,
  out: Out,
  cause: FetchCause,
): void {
  if (state.removed.has(peer)) return // a removed member is never asked for anything
  const clippedTo = Math.min(to, from + params.maxBatchEntries - 1)
  const pending = state.fetching.get(author)
  if (pending && cause !== 'retry') {
    if (cause === 'report') return
    if (cause === 'probe' && pending.to >= to && now - pending.at < params.fetchRetryMs) return
    // Ask this peer as well, but leave the attempt (its peer and deadline) alone, and never more
    // often than MIN_FETCH_GAP_MS: a peer that keeps sending batches or heads we cannot use must
    // neither drive a fetch loop nor hold off the retry.
    if (now - pending.sent < MIN_FETCH_GAP_MS) return
    pending.sent = now
    send(state, out, peer, { type: 'fetch', author, from, to: clippedTo })
    return
  }
  state.fetching.set(author, { to: clippedTo, peer, at: now, sent: now })
  send(state, out, peer, { type: 'fetch', author, from, to: clippedTo })
}

function onFetch(state: FotbState, params: FotbParams, from: Pid, author: Pid, lo: Seq, hi: Seq, out: Out): void {
  if (!state.audience.has(from)) {
    count(state, 'reject:fetch-not-in-audience')
    return
  }
  const log = state.chains.get(author)
  if (!log || lo > log.view.seq) return
  const to = Math.min(hi, lo + params.maxBatchEntries - 1)
  // Answer with batches that each end at a seal we hold: a seal is what makes entries checkable.
  let start = lo
  for (const seal of log.view.seals) {
    if (seal.seq < start) continue
    const first = Math.max(start, seal.seq - params.maxBatchEntries + 1)
    send(state, out, from, { type: 'batch', entries: log.entries.slice(first - 1, seal.seq), seal })
    start = seal.seq + 1
    if (seal.seq >= to) break
  }
}

function onProof(state: FotbState, crypto: Crypto, proof: EquivocationProof, out: Out, ups: FotbUp[]): void {
  noteEquivocation(state, crypto, proof, out, ups)
}

function noteEquivocation(state: FotbState, crypto: Crypto, proof: EquivocationProof, out: Out, ups: FotbUp[]): void {
  const checked = verifyProof(crypto, proof)
  if (!checked.ok) {
    count(state, 'reject:bad-proof')
    return
  }
  if (checked.volume !== state.volume || state.proofs.has(checked.author)) return
  state.proofs.set(checked.author, proof)
  count(state, 'equivocations')
  out.persist(proofRecord(state.volume, proof))
  out.trace({ kind: 'equivocation', volume: state.volume, peer: checked.author, detail: `seq ${checked.seq}` })
  sendToAudience(state, out, { type: 'proof', proof })
  ups.push({ type: 'equivocation', author: checked.author, proof })
}

/** Proof anti-entropy: a peer whose HEADS lists fewer proofs than we hold gets the missing ones,
 *  so that a proof lost on the way still reaches every correct member (FOTB-6). */
function shareProofs(state: FotbState, from: Pid, theirs: readonly Pid[], out: Out): void {
  if (!state.audience.has(from)) return
  const have = new Set(theirs)
  for (const [author, proof] of [...state.proofs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!have.has(author)) send(state, out, from, { type: 'proof', proof })
  }
}

/** The seq of our last seal at or below what we delivered: a branch switch starts above it. */
function branchBase(state: FotbState, author: Pid): Seq {
  const log = state.chains.get(author)
  const done = state.delivered.get(author) ?? 0
  let base = 0
  for (const s of log?.view.seals ?? []) if (s.seq <= done) base = s.seq
  return base
}

function cutAt(log: AuthorLog, seq: Seq): AuthorLog {
  const v = log.view
  return {
    view: {
      ...v,
      seq,
      head: seq === 0 ? ZERO_HASH : v.hashes[seq - 1]!,
      hashes: v.hashes.slice(0, seq),
      payloadHashes: v.payloadHashes.slice(0, seq),
      seals: v.seals.filter((s) => s.seq <= seq),
    },
    entries: log.entries.slice(0, seq),
  }
}

/** An equivocator's batch that conflicts with our chain: extend the candidate branch with it,
 *  and adopt the candidate once a quorum vouches for it beyond what we delivered (FOTB-5 for the
 *  correct members that were handed the losing branch). Delivered entries never change. */
function tryOtherBranch(
  state: FotbState,
  crypto: Crypto,
  params: FotbParams,
  now: TimeMs,
  from: Pid,
  author: Pid,
  entries: Entry[],
  seal: Seal,
  out: Out,
  ups: FotbUp[],
): boolean {
  const log = state.chains.get(author)!
  const done = state.delivered.get(author) ?? 0
  let cand = state.candidates.get(author)
  if (!cand) cand = cutAt(log, branchBase(state, author))
  const r = validateBatch(crypto, cand.view, entries, seal, limitsOf(params))
  if (!r.ok) {
    if (r.rejection.code === 'gap') {
      state.candidates.set(author, cand)
      requestRange(state, params, now, from, author, cand.view.seq + 1, seal.seq, out, 'gap')
      return true
    }
    // Conflicts with the candidate too: start over from the delivered prefix next time.
    state.candidates.delete(author)
    return false
  }
  cand = { view: r.view, entries: [...cand.entries, ...r.accepted] }
  for (let s = 1; s <= Math.min(done, cand.view.seq); s++) {
    if (cand.view.hashes[s - 1] !== log.view.hashes[s - 1]) {
      count(state, 'reject:branch-rewrites-delivered')
      state.candidates.delete(author)
      return true
    }
  }
  state.candidates.set(author, cand)
  maybeAdopt(state, author, out, ups)
  return true
}

/** Adopts an author's candidate branch once a quorum (without us) vouches for it beyond what we
 *  delivered; checked when a candidate grows and when echoes arrive. */
function maybeAdopt(state: FotbState, author: Pid, out: Out, ups: FotbUp[]): void {
  const cand = state.candidates.get(author)
  if (!cand || supportedSeq(state, cand.view, false) <= (state.delivered.get(author) ?? 0)) return
  // Adopt: our chain becomes the branch the quorum backs. Persisted as a cut plus new records,
  // so that a restart rebuilds the same chain.
  const base = branchBase(state, author)
  state.chains.set(author, cand)
  state.candidates.delete(author)
  count(state, 'branch-switch')
  out.trace({ kind: 'branch-switch', volume: state.volume, peer: author, detail: `from seq ${base + 1}` })
  out.persist(['cut', state.volume, pidBytes(author), base])
  for (const e of cand.entries.slice(base)) out.persist(entryRecord(state.volume, e))
  for (const s of cand.view.seals) if (s.seq > base) out.persist(sealRecord(state.volume, s))
  state.headsChanged = true
  tryDeliver(state, author, out, ups)
}

/** The q-th highest member echo that lies on `view` (0 when fewer than q do). Our own chain
 *  counts as our echo only when `view` is our chain: for a candidate branch we have not echoed
 *  it, and counting ourselves would let one node vouch for two branches (FOTB-4). */
function supportedSeq(state: FotbState, view: ChainView, selfCounts = true): Seq {
  const supports: Seq[] = []
  for (const m of state.members) {
    if (m === state.me && !selfCounts) continue
    const rep = m === state.me ? { seq: view.seq, head: view.head } : state.reports.get(m)?.get(view.author)
    if (!rep || rep.seq === 0) continue
    // A report beyond our chain supports only as far as we can check; a correct member's
    // chain is linear, so its report at rep.seq also vouches for every seq below it.
    if (rep.seq <= view.seq && view.hashes[rep.seq - 1] === rep.head) supports.push(rep.seq)
  }
  const q = Math.max(1, quorum(state.members.size) - (state.mutation === 'quorum-off-by-one' ? 1 : 0))
  if (supports.length < q) return 0
  supports.sort((a, b) => b - a)
  return supports[q - 1]!
}

/** How far `author`'s entries may be delivered: the q-th highest echo that lies on our chain. */
export function deliverableSeq(state: FotbState, author: Pid): Seq {
  const log = state.chains.get(author)
  const done = state.delivered.get(author) ?? 0
  if (!log) return done
  return Math.max(done, supportedSeq(state, log.view))
}

function tryDeliver(state: FotbState, author: Pid, out: Out, ups: FotbUp[]): void {
  const target = deliverableSeq(state, author)
  const done = state.delivered.get(author) ?? 0
  if (target <= done) return
  const log = state.chains.get(author)!
  const seqs: Seq[] = []
  for (let seq = done + 1; seq <= target; seq++) seqs.push(seq)
  if (state.mutation === 'deliver-out-of-order' && seqs.length >= 2) seqs.reverse()
  for (const seq of seqs) {
    const entry = log.entries[seq - 1]!
    ups.push({ type: 'deliver', author, seq, hash: log.view.hashes[seq - 1]!, payload: entry.payload })
    // Observable by hosts and invariant checkers (FIFO, exactly once, consistency).
    out.deliver(state.volume, { type: 'entries', author, from: seq, hashes: [log.view.hashes[seq - 1]!] })
  }
  state.delivered.set(author, target)
  out.persist(deliveredRecord(state.volume, author, target))
}

export function tryDeliverAll(state: FotbState, out: Out, ups: FotbUp[]): void {
  for (const author of [...state.chains.keys()].sort()) tryDeliver(state, author, out, ups)
}

/** Periodic work: anti-entropy heads, re-issue stale fetches. */
export function onTick(state: FotbState, params: FotbParams, now: TimeMs, out: Out): void {
  if (now - state.lastHeartbeat >= params.heartbeatMs) {
    state.lastHeartbeat = now
    echo(state, out)
  }
  for (const [author, f] of [...state.fetching].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (now - f.at < params.fetchRetryMs) continue
    const log = state.chains.get(author)
    const mySeq = log?.view.seq ?? 0
    if (mySeq >= f.to) {
      state.fetching.delete(author)
      continue
    }
    // Ask, in turn, the peers that report more than we have: the one after the peer we asked
    // last, so that a peer answering with junk (tampered relays) cannot stall us forever.
    const holders: { peer: Pid; seq: Seq }[] = []
    for (const [peer, reps] of [...state.reports].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const r = reps.get(author)
      if (r && r.seq > mySeq && state.audience.has(peer) && !state.removed.has(peer)) holders.push({ peer, seq: r.seq })
    }
    state.fetching.delete(author)
    if (holders.length === 0) continue
    const next = holders.find((h) => h.peer > f.peer) ?? holders[0]!
    requestRange(state, params, now, next.peer, author, mySeq + 1, next.seq, out, 'retry')
  }
}

/** Membership changed in the volume layer: new quorum base, maybe new deliveries. */
export function setMembers(state: FotbState, members: Set<Pid>, audience: Set<Pid>, out: Out, ups: FotbUp[], removed?: ReadonlySet<Pid>): void {
  state.members = members
  state.audience = audience
  if (removed) state.removed = removed
  for (const peer of [...state.reports.keys()]) if (state.removed.has(peer)) state.reports.delete(peer)
  tryDeliverAll(state, out, ups)
}

// ---------------------------------------------------------------------------------------------
// Restart: rebuild from persisted records, validating them exactly like peer input.

export interface RestoreProblem {
  readonly record: string
  readonly problem: string
}

export function restoreFotb(
  crypto: Crypto,
  volume: VolumeName,
  me: Pid,
  params: FotbParams,
  records: readonly Value[],
): { state: FotbState; problems: RestoreProblem[] } {
  const state = newFotb(volume, me)
  const problems: RestoreProblem[] = []
  const entries = new Map<Pid, Map<Seq, Entry>>()
  const seals = new Map<Pid, Seal[]>()
  const delivered = new Map<Pid, Seq>()
  for (const rec of records) {
    if (!Array.isArray(rec) || rec[1] !== volume) continue
    const kind = rec[0]
    const body = rec[2]
    if (kind === 'entry' && body instanceof Uint8Array) {
      const r = decodeEntry(body)
      if (!r.ok) {
        problems.push({ record: 'entry', problem: r.rejection.detail })
        continue
      }
      let m = entries.get(r.value.author)
      if (!m) entries.set(r.value.author, (m = new Map()))
      m.set(r.value.seq, r.value)
    } else if (kind === 'seal' && body instanceof Uint8Array) {
      const r = decodeSeal(body)
      if (!r.ok) {
        problems.push({ record: 'seal', problem: r.rejection.detail })
        continue
      }
      let list = seals.get(r.value.author)
      if (!list) seals.set(r.value.author, (list = []))
      list.push(r.value)
    } else if (kind === 'delivered') {
      const author = asPid(body)
      const seq = rec[3]
      if (!author || !isSeq(seq)) {
        problems.push({ record: 'delivered', problem: 'malformed' })
        continue
      }
      delivered.set(author, Math.max(delivered.get(author) ?? 0, seq))
    } else if (kind === 'cut') {
      // A branch switch: what we held of this author above `base` was the losing branch.
      const author = asPid(body)
      const base = rec[3]
      if (!author || typeof base !== 'number' || !Number.isSafeInteger(base) || base < 0) {
        problems.push({ record: 'cut', problem: 'malformed' })
        continue
      }
      const m = entries.get(author)
      if (m) for (const seq of [...m.keys()]) if (seq > base) m.delete(seq)
      const list = seals.get(author)
      if (list) seals.set(author, list.filter((x) => x.seq <= base))
    } else if (kind === 'proof' && body instanceof Uint8Array) {
      const r = decodeProof(body)
      const v = r.ok ? verifyProof(crypto, r.value) : undefined
      if (!r.ok || !v?.ok) {
        problems.push({ record: 'proof', problem: 'does not verify' })
        continue
      }
      state.proofs.set(v.author, r.value)
    }
  }
  for (const author of [...seals.keys()].sort()) {
    const list = seals.get(author)!.sort((a, b) => a.seq - b.seq)
    const byseq = entries.get(author) ?? new Map<Seq, Entry>()
    const log = authorLog(state, author)
    for (const seal of list) {
      if (seal.seq <= log.view.seq) continue
      const batch: Entry[] = []
      for (let s = log.view.seq + 1; s <= seal.seq; s++) {
        const e = byseq.get(s)
        if (!e) break
        batch.push(e)
      }
      const r = validateBatch(crypto, log.view, batch, seal, { maxEntries: Number.MAX_SAFE_INTEGER, maxPayloadBytes: params.maxPayloadBytes })
      if (!r.ok) {
        problems.push({ record: `chain ${author.slice(0, 12)} seq ${log.view.seq + 1}..${seal.seq}`, problem: `${r.rejection.code}: ${r.rejection.detail}` })
        break
      }
      log.view = r.view
      for (const e of r.accepted) log.entries.push(e)
    }
  }
  for (const [author, seq] of delivered) {
    const have = state.chains.get(author)?.view.seq ?? 0
    if (seq > have) problems.push({ record: `delivered ${author.slice(0, 12)}`, problem: `delivered ${seq} beyond restored chain ${have}` })
    state.delivered.set(author, Math.min(seq, have))
  }
  const ownLog = state.chains.get(me)
  if (ownLog) state.own = { volume, author: me, seq: ownLog.view.seq, head: ownLog.view.head, sealedSeq: ownLog.view.seq }
  return { state, problems }
}

