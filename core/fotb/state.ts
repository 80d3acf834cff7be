// fotb's state, parameters and what it hands up (spec/fotb.md), with the small helpers every
// part of the layer uses. The layer: messages.ts (wire and record formats, sending),
// deliver.ts (echo quorum, delivery), fetch.ts (missing ranges), equivocation.ts (proofs,
// branch switches), broadcast.ts (own entries out, peer messages in), restore.ts (restart).
import type { Crypto } from '../crypto.ts'
import type { Mutation } from '../mutations.ts'
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
  /** Set while the node learns its own head after losing its tail: no own entry is appended
   *  (recover.ts, FOTB-8). Persisted as 'recovering' / 'recovered' records. */
  recovering: Recovery | undefined
  /** Own entries regained from the members after a lost tail (applied like a peer's). */
  readonly regained: RegainedRange[]
  readonly stats: Map<string, number>
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
    fetching: new Map(),
    lastHeartbeat: -Infinity,
    headsChanged: false,
    recovering: undefined,
    regained: [],
    stats: new Map(),
  }
}

export function count(state: FotbState, key: string, by = 1): void {
  state.stats.set(key, (state.stats.get(key) ?? 0) + by)
}

export function authorLog(state: FotbState, author: Pid): AuthorLog {
  let log = state.chains.get(author)
  if (!log) {
    log = { view: newChainView(state.volume, author), entries: [] }
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
