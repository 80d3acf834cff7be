// A node that lost the tail of its own records (spec/fotb.md "Recovering the own chain",
// FOTB-8, FOTB-9): its store ended before batches it had made durable (runtime/store.ts RT-9),
// so its own chain may end below entries it had sealed and sent. Appending at once would seal a
// second, different entry at a seq it already sealed — an equivocation by a correct node, which
// gets it removed and, worse, hands two replicas two different operations at one (author, seq).
//
// So the node first learns its own head from the members: it appends nothing (requests that would
// append are refused) until every other member has echoed our chain and every head they report
// lies on the chain we hold — fetching the entries we lost from them (they hold our sealed
// entries: we pushed them). Only then does the own chain resume, after the highest entry any
// member holds. Own op entries regained this way were applied nowhere here (their log and plain
// records were in the lost batches): the volume layer fetches and applies them like a peer's
// (isRegained).
//
// Records: ['recovering', volume, fromSeq] when recovery starts (a restart continues it);
// ['recovered', volume, fromSeq, toSeq] when it ends: own entries fromSeq+1..toSeq were regained.
import type { Value } from '../codec.ts'
import type { Out } from '../effects.ts'
import type { EntryHash, Pid, Seq, TimeMs, VolumeName } from '../types.ts'
import { count, type FotbParams, type FotbState, type Report } from './state.ts'

export interface Recovery {
  /** The own chain's length when the loss was found: entries above it are regained ones. */
  readonly from: Seq
  /** When the first echo came after the start (or restart) of recovery; echoes count only from
   *  `since + settleMs(params)` on, so that batches of ours still on the way when the node
   *  stopped have reached the members before their echoes are believed. */
  since: TimeMs | undefined
  /** Each member's latest echo of our chain that counts (seq 0: it echoed and holds none). */
  readonly heard: Map<Pid, Report>
}

/** How long after recovery's first echo a member's echo counts: two heartbeats, so that every
 *  member has echoed at least once after anything we sent before we stopped could arrive. */
export function settleMs(params: FotbParams): number {
  return 2 * params.heartbeatMs
}

export interface RegainedRange {
  readonly from: Seq
  readonly to: Seq
}

export function recoveringRecord(volume: VolumeName, from: Seq): Value {
  return ['recovering', volume, from]
}
export function recoveredRecord(volume: VolumeName, range: RegainedRange): Value {
  return ['recovered', volume, range.from, range.to]
}

/** Starts recovery (the host found a lost tail): no own entry is appended until `tryFinish`. */
export function startRecovery(state: FotbState, out: Out): void {
  if (state.recovering !== undefined || state.mutation === 'skip-tail-recovery') return
  state.recovering = { from: state.own.seq, since: undefined, heard: new Map() }
  count(state, 'recovery:started')
  out.persist(recoveringRecord(state.volume, state.own.seq))
  out.trace({ kind: 'recovery', volume: state.volume, peer: state.me, detail: `own chain lost its tail above seq ${state.own.seq}: learning the head from the members` })
}

/** Whether the node may append own entries now (FOTB-8): not while its own head is unknown. */
export function mayAppendOwn(state: FotbState): boolean {
  return state.recovering === undefined
}

/** Whether own entry `seq` was regained from the members (not applied here at its call). */
export function isRegained(state: FotbState, seq: Seq): boolean {
  if (state.recovering !== undefined && seq > state.recovering.from) return true
  return state.regained.some((r) => seq > r.from && seq <= r.to)
}

/** A member's HEADS while we recover (broadcast.ts onHeads): what it says of our chain. */
export function noteEcho(state: FotbState, params: FotbParams, now: TimeMs, from: Pid, heads: readonly { author: Pid; seq: Seq; head: EntryHash }[]): void {
  const r = state.recovering
  if (r === undefined || from === state.me || !state.members.has(from)) return
  r.since ??= now
  if (now < r.since + settleMs(params)) return
  const mine = heads.find((h) => h.author === state.me)
  r.heard.set(from, mine === undefined ? { seq: 0, head: '' as EntryHash } : { seq: mine.seq, head: mine.head })
}

/** The members whose echo of our own chain we still wait for, or that report a head we do not
 *  hold on our chain yet (we fetch it: broadcast.ts onHeads asks the reporter). Empty: our head
 *  is known. */
export function waitingFor(state: FotbState): Pid[] {
  const r = state.recovering
  if (r === undefined) return []
  const mine = state.chains.get(state.me)?.view
  const seq = mine?.seq ?? 0
  const out: Pid[] = []
  for (const m of [...state.members].sort()) {
    if (m === state.me) continue
    const rep = r.heard.get(m)
    if (rep === undefined || rep.seq > seq || (rep.seq > 0 && mine?.hashes.get(rep.seq - 1) !== rep.head)) out.push(m)
  }
  return out
}

/** Ends recovery once every other member's echo of our chain lies on the chain we hold: the own
 *  chain then resumes after its highest entry. Called after every input that may have changed
 *  reports or our chain. */
export function tryFinishRecovery(state: FotbState, out: Out): void {
  const r = state.recovering
  if (r === undefined || waitingFor(state).length > 0) return
  const view = state.chains.get(state.me)?.view
  const to = view?.seq ?? 0
  if (view !== undefined) state.own = { volume: state.volume, author: state.me, seq: view.seq, head: view.head, sealedSeq: view.seq }
  const range = { from: r.from, to: Math.max(r.from, to) }
  state.recovering = undefined
  if (range.to > range.from) state.regained.push(range)
  count(state, 'recovery:finished')
  out.persist(recoveredRecord(state.volume, range))
  out.trace({ kind: 'recovery', volume: state.volume, peer: state.me, detail: `own head known: seq ${to} (${range.to - range.from} entries regained from the members)` })
}
