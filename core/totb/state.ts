// totb's state and parameters (spec/totb.md): the DAG of vertices judged from the delivered
// chains, what is ordered so far, and the proposer's own progress. The layer: vertex.ts (the
// payload format), judge.ts (delivered entries in, valid vertices out), order.ts (Bullshark's
// commit rule and the order), propose.ts (when and what this node's next vertex is).
import type { EntryHash, Pid, Seq, TimeMs } from '../types.ts'

/** Test only: deliberately broken variants, to prove the simulator's checks can fail. */
export type TotbMutation =
  /** a leader is committed directly with f votes of the next round instead of f + 1. */
  | 'totb-commit-with-f'
  /** a direct commit orders only its own leader, skipping the earlier leaders it reaches. */
  | 'totb-skip-indirect'
  /** a vertex with q - 1 strong references is accepted as valid. */
  | 'totb-accept-fewer-refs'
  /** an ordered leader's time is its author's own claim instead of its quorum's median. */
  | 'totb-trust-leader-time'

export const TOTB_MUTATIONS: readonly TotbMutation[] = ['totb-commit-with-f', 'totb-skip-indirect', 'totb-accept-fewer-refs', 'totb-trust-leader-time']

export interface TotbParams {
  /** How long a node that holds a quorum of a round waits for the leader (or its votes) before
   *  it makes its next vertex anyway. Liveness only: no safety rule reads a clock. */
  readonly leaderTimeoutMs: number
  /** Most weak references in one vertex (a vertex with more is invalid); a node with more
   *  vertices to cover refers to the oldest and covers the rest with its next vertex. */
  readonly maxWeakRefs: number
  /** An epoch ends with its first ordered leader of at least this round, and the committee goes
   *  on in a fresh DAG: memory holds one epoch's vertices at most (0: no limit). */
  readonly epochRounds: number
  /** When the only work is the host's (hooks.hostWork: waiting for a decision in the order, not
   *  for an entry to be ordered), this node makes at most one vertex per this many ms: rounds go
   *  on slowly instead of as fast as the network allows (absent: 1,000). */
  readonly idleRoundMs?: number
  readonly mutation?: TotbMutation
}

export const DEFAULT_TOTB_PARAMS: TotbParams = { leaderTimeoutMs: 200, maxWeakRefs: 64, epochRounds: 1000 }

export interface EntryId {
  readonly author: Pid
  readonly seq: Seq
  readonly hash: EntryHash
}

/** A valid vertex: judged so by every correct member alike (TOTB-5). */
export interface Vertex extends EntryId {
  readonly epoch: number
  readonly round: number
  /** The time its author put in it: trusted only as one of a quorum's (see `orderedTime`). */
  readonly time: number
  /** Valid vertices of round - 1 (at least q, distinct authors). */
  readonly strong: readonly Vertex[]
  /** Valid vertices of earlier rounds that the author had not covered yet. */
  readonly weak: readonly Vertex[]
  /** The author's previous valid vertex: its history comes first (FIFO, TOTB-3). */
  readonly prev: Vertex | undefined
  /** The author's non-vertex entries since `prev`, in seq order: what ordering this vertex orders. */
  readonly batch: readonly EntryId[]
  ordered: boolean
  /** In the history of one of this node's own vertices (so it needs no weak reference of ours). */
  covered: boolean
}

/** A delivered entry not judged yet, because an earlier entry of its author waits. */
export interface Pending extends EntryId {
  readonly payload: Uint8Array
}

export interface AuthorTotb {
  /** Highest seq judged; entries above it are in `pending` (seq order) or not delivered yet. */
  judged: Seq
  readonly pending: Pending[]
  /** The author's valid vertices by seq. */
  readonly vertices: Map<Seq, Vertex>
  last: Vertex | undefined
  /** Non-vertex entries judged since `last`: the batch of the author's next valid vertex. */
  carry: EntryId[]
}

/** What the host decides from the order: after each ordered entry, the committee from the next
 *  epoch on if that entry changed it (a pure function of the order so far, e.g. the volume's
 *  membership rule applied in order). */
export interface TotbHooks {
  readonly committeeAfter?: (entry: EntryId) => readonly Pid[] | undefined
  /** The host has work that needs rounds to go on although no entry waits to be ordered (a
   *  volume waiting for the order to decide an operation's availability). */
  readonly hostWork?: () => boolean
  /** Whether the host may append an own entry now (false: no vertex is made; e.g. a node
   *  learning its own chain head after a lost tail, spec/fotb.md FOTB-8). */
  readonly mayAppend?: () => boolean
}

export interface TotbState {
  readonly me: Pid
  readonly params: TotbParams
  readonly hooks: TotbHooks
  /** Every author fotb delivered entries of (members, former and future ones). */
  readonly authors: Map<Pid, AuthorTotb>
  /** Entries ordered so far, over all epochs: the next one gets position `position + 1`. */
  position: number
  /** The time the order has reached (ms): never decreases; see order.ts `leaderTime`. */
  orderedTime: number
  readonly counters: Map<string, number>
  // --- The current epoch: everything below starts afresh when the committee changes.
  /** Epochs count from 0 (the genesis committee). */
  epoch: number
  /** The members of this epoch, sorted: leaders are chosen from it round-robin. */
  committee: readonly Pid[]
  inCommittee: ReadonlySet<Pid>
  n: number
  f: number
  q: number
  /** Valid vertices by round and author. */
  rounds: Map<number, Map<Pid, Vertex>>
  /** Per leader round: how many valid vertices of the next round refer to its leader strongly. */
  votes: Map<number, number>
  /** When this node first held a quorum of a round (time arrives with each input). */
  quorumAt: Map<number, TimeMs>
  /** The highest round of which this node holds q valid vertices (0: none yet). */
  quorumRound: number
  /** Round of the newest leader ordered (0: none). */
  orderedLeaderRound: number
  /** Round of this node's own newest vertex, appended (0: none). */
  ownRound: number
  /** Own non-vertex entries appended since the own newest vertex. */
  ownCarry: number
  /** When this node made its newest vertex (volatile; -Infinity: not since the start). */
  ownAt: number
  /** Valid vertices with a non-empty batch that are not ordered yet: work left to do. */
  unorderedWork: number
  /** The highest round of any valid vertex: a member ahead of our own newest vertex has work
   *  (or joined one that has), and its round needs our vertex for a quorum. */
  topRound: number
  /** Valid vertices not covered by an own vertex, not ordered: candidates for weak references. */
  uncovered: Set<Vertex>
}

/** An ordered entry with the time the order gives it (the same at every correct member). */
export interface OrderedEntry extends EntryId {
  readonly time: number
  /** Its position in the order (1, 2, ...). */
  readonly position: number
  /** The fault bound of the epoch that ordered it. */
  readonly f: number
}

/** A leader whose history was ordered: a point of the order after position `position` (the
 *  entries of its history come before it), with the order's time from then on. */
export interface OrderedLeader {
  readonly epoch: number
  readonly round: number
  readonly author: Pid
  readonly direct: boolean
  readonly position: number
  readonly time: number
  readonly f: number
}

export interface TotbOut {
  /** Entries in the order every correct member orders them, positions position+1.. */
  readonly ordered: OrderedEntry[]
  /** Vertex payloads the host must append to this node's own chain, in this order, now. */
  readonly vertices: Uint8Array[]
  /** Leaders committed in this step, oldest first (for traces). */
  readonly leaders: OrderedLeader[]
  /** Epochs begun in this step, with their committees. */
  readonly epochs: { epoch: number; committee: readonly Pid[] }[]
  /** Vertices judged valid in this step (for traces). */
  readonly accepted: Vertex[]
}

export function newTotbOut(): TotbOut {
  return { ordered: [], vertices: [], leaders: [], epochs: [], accepted: [] }
}

export function faultBound(n: number): number {
  return Math.floor((n - 1) / 3)
}

export function newAuthor(): AuthorTotb {
  return { judged: 0, pending: [], vertices: new Map(), last: undefined, carry: [] }
}

export function authorOf(state: TotbState, pid: Pid): AuthorTotb {
  let a = state.authors.get(pid)
  if (a === undefined) state.authors.set(pid, (a = newAuthor()))
  return a
}

export function newTotb(me: Pid, members: readonly Pid[], params: TotbParams = DEFAULT_TOTB_PARAMS, hooks: TotbHooks = {}): TotbState {
  const state: TotbState = {
    me, params, hooks, authors: new Map(), position: 0, orderedTime: 0, counters: new Map(),
    epoch: 0, committee: [], inCommittee: new Set(), n: 0, f: 0, q: 0,
    rounds: new Map(), votes: new Map(), quorumAt: new Map(),
    quorumRound: 0, orderedLeaderRound: 0, ownRound: 0, ownCarry: 0, ownAt: -Infinity, unorderedWork: 0, topRound: 0,
    uncovered: new Set(),
  }
  setCommittee(state, members)
  return state
}

/** The committee of the current epoch, and a fresh DAG for it (rounds count from 1 again). */
export function setCommittee(state: TotbState, members: readonly Pid[]): void {
  const committee = [...new Set(members)].sort()
  state.committee = committee
  state.inCommittee = new Set(committee)
  state.n = committee.length
  state.f = faultBound(state.n)
  state.q = state.n - state.f
  for (const pid of committee) authorOf(state, pid)
  state.rounds = new Map()
  state.votes = new Map()
  state.quorumAt = new Map()
  state.quorumRound = 0
  state.orderedLeaderRound = 0
  state.ownRound = 0
  state.unorderedWork = 0
  state.topRound = 0
  state.uncovered = new Set()
}

/** Leaders sit on odd rounds, round-robin over the committee. */
export function isLeaderRound(round: number): boolean {
  return round % 2 === 1
}

export function leaderOf(state: TotbState, round: number): Pid {
  return state.committee[((round - 1) / 2) % state.n]!
}

export function leaderVertex(state: TotbState, round: number): Vertex | undefined {
  return state.rounds.get(round)?.get(leaderOf(state, round))
}

export function bump(state: TotbState, key: string, by = 1): void {
  state.counters.set(key, (state.counters.get(key) ?? 0) + by)
}
