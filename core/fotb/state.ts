// fotb's state, parameters and what it hands up (spec/fotb.md), with the small helpers every
// part of the layer uses. The layer: messages.ts (wire and record formats, sending),
// deliver.ts (echo quorum, delivery), fetch.ts (missing ranges), equivocation.ts (proofs,
// branch switches), broadcast.ts (own entries out, peer messages in), restore.ts (restart).
import type { Crypto } from '../crypto.ts'
import type { Mutation } from '../mutations.ts'
import type { Storage } from '../storage.ts'
import { entryHash, headerOf, newChainView, newOwnChain, type ChainView, type Entry, type EquivocationProof, type OwnChain } from '../ledger/index.ts'
import type { EntryHash, Pid, Seq, TimeMs, VolumeName } from '../types.ts'
import type { Recovery, RegainedRange } from './recover.ts'

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

/** An author's accepted chain. Its entries are not in the state: they were persisted when
 *  accepted and are read back through the storage port (`entryAt`, spec/storage.md). */
export interface AuthorLog {
  view: ChainView
}

/** An equivocator's other branch being collected (volatile, never persisted until adopted): its
 *  view from `base` on, and the entries above `base` (entries[i] is at seq base+1+i). */
export interface Candidate {
  view: ChainView
  readonly base: Seq
  entries: Entry[]
}

/** The part of the storage port fotb reads: the accepted chains. */
export type EntryReader = Pick<Storage, 'entry'>

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
  readonly candidates: Map<Pid, Candidate>
  members: Set<Pid>
  /** Removed members: their HEADS and FETCHes are ignored and nothing is fetched from them. */
  removed: ReadonlySet<Pid>
  /** Members plus applicants: who gets pushes, echoes and may fetch. */
  audience: Set<Pid>
  readonly reports: Map<Pid, Map<Pid, Report>>
  /** Each member's latest ready report per author (spec/fotb.md "Ready"): a head on its chain up
   *  to which it saw an echo quorum, or f+1 ready reports. Kept like `reports`. */
  readonly readies: Map<Pid, Map<Pid, Report>>
  /** Ready reports that members signed into their chains (spec/fotb.md "The author's seal and signed
   *  ready reports"):
   *  voter -> author -> the head of the author's chain the voter had delivered when it voted to
   *  admit the author (its join). Volatile, rebuilt from the delivered votes at restart. */
  readonly vouches: Map<Pid, Map<Pid, Report>>
  /** How far we are ready per author (on our accepted chain; volatile: at least `delivered`). */
  readonly ready: Map<Pid, Seq>
  /** When we last answered a removed member's HEADS with our echo (volatile; broadcast.ts). */
  readonly answeredRemoved: Map<Pid, TimeMs>
  /** The outstanding fetch per author: the range's end, the peer this attempt asked, when the
   *  attempt started (its retry deadline runs from there) and when we last sent a FETCH for it. */
  readonly fetching: Map<Pid, Fetch>
  lastHeartbeat: TimeMs
  /** Test only (core/mutations.ts); copied from the params at creation. */
  mutation?: Mutation
  /** Our accepted heads changed since the last echo. */
  headsChanged: boolean
  /** Set while the node learns its own head after losing its tail: no own entry is appended
   *  (recover.ts, FOTB-8). Persisted as 'recovering' / 'recovered' records. */
  recovering: Recovery | undefined
  /** Own entries regained from the members after a lost tail (applied like a peer's). */
  readonly regained: RegainedRange[]
  readonly stats: Map<string, number>
  /** Entries this step accepted, until the host has performed the step's persist (volatile;
   *  emptied by the node at the end of every step, spec/storage.md): reads see them first. */
  readonly written: Map<Pid, Map<Seq, Entry>>
  /** Chains this step cut at a base (branch switch): the port's entries above it are the losing
   *  branch's until the step's persist (with its `cut` record) is performed (volatile, as `written`). */
  readonly cuts: Map<Pid, Seq>
}

/** What fotb hands up to the volume layer, in order. */
export type FotbUp =
  | { readonly type: 'deliver'; readonly author: Pid; readonly seq: Seq; readonly hash: EntryHash; readonly payload: Uint8Array }
  | { readonly type: 'equivocation'; readonly author: Pid; readonly proof: EquivocationProof }

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
    readies: new Map(),
    vouches: new Map(),
    ready: new Map(),
    answeredRemoved: new Map(),
    fetching: new Map(),
    lastHeartbeat: -Infinity,
    headsChanged: false,
    recovering: undefined,
    regained: [],
    stats: new Map(),
    written: new Map(),
    cuts: new Map(),
  }
}

export function count(state: FotbState, key: string, by = 1): void {
  state.stats.set(key, (state.stats.get(key) ?? 0) + by)
}

export function authorLog(state: FotbState, author: Pid): AuthorLog {
  let log = state.chains.get(author)
  if (!log) {
    log = { view: newChainView(state.volume, author) }
    state.chains.set(author, log)
  }
  return log
}

/** Whether we keep a chain for this author at all (bounded; members and audience always). */
export function mayTrack(state: FotbState, author: Pid, params: FotbParams): boolean {
  if (state.chains.has(author) || state.audience.has(author) || state.members.has(author)) return true
  return state.chains.size < params.maxAuthors
}

export function hashAt(crypto: Crypto, entry: Entry): EntryHash {
  return entryHash(crypto, headerOf(crypto, entry))
}

export function limitsOf(params: FotbParams): { maxEntries: number; maxPayloadBytes: number } {
  return { maxEntries: params.maxBatchEntries, maxPayloadBytes: params.maxPayloadBytes }
}

/** The accepted entry of `author` at `seq`: this step's own first, then the storage port (unless
 *  this step cut the chain below `seq`). Undefined only when the port cannot produce it (runtime:
 *  damaged on disk); callers treat it as unavailable, never as a different entry. */
export function entryAt(state: FotbState, port: EntryReader, author: Pid, seq: Seq): Entry | undefined {
  const own = state.written.get(author)?.get(seq)
  if (own !== undefined) return own
  const cut = state.cuts.get(author)
  if (cut !== undefined && seq > cut) return undefined
  return port.entry(state.volume, author, seq)
}

/** Entries [from, to] of `author`'s accepted chain, or undefined when one is unavailable. */
export function entriesAt(state: FotbState, port: EntryReader, author: Pid, from: Seq, to: Seq): Entry[] | undefined {
  const out: Entry[] = []
  for (let seq = from; seq <= to; seq++) {
    const e = entryAt(state, port, author, seq)
    if (e === undefined) return undefined
    out.push(e)
  }
  return out
}

/** Remembers an accepted entry for the rest of the step; the caller persists it. */
export function noteWritten(state: FotbState, e: Entry): void {
  let m = state.written.get(e.author)
  if (!m) state.written.set(e.author, (m = new Map()))
  m.set(e.seq, e)
}

/** A branch switch of `author` at `base` in this step: entries above it are gone until rewritten. */
export function noteCut(state: FotbState, author: Pid, base: Seq): void {
  const m = state.written.get(author)
  if (m) for (const seq of [...m.keys()]) if (seq > base) m.delete(seq)
  state.cuts.set(author, Math.min(base, state.cuts.get(author) ?? base))
}

/** End of step: the host has the step's persist now, and with it the port (spec/storage.md STORE-4). */
export function clearWritten(state: FotbState): void {
  // Only when they hold something: Map.clear allocates a fresh table even for an empty map
  // (V8), and this runs at the end of every step.
  if (state.written.size > 0) state.written.clear()
  if (state.cuts.size > 0) state.cuts.clear()
}
