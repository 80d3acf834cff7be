// Fetching missing ranges of a chain (spec/fotb.md "Fetching", FOTB-5): FETCH requests, their answers, and
// the tick that retries a fetch that made no progress at the next peer that holds more.
import type { Out } from '../effects.ts'
import type { Pid, Seq, TimeMs } from '../types.ts'
import { count, entriesAt, type EntryReader, type FotbParams, type FotbState } from './state.ts'
import { send } from './messages.ts'
import { echo } from './deliver.ts'
import { tryFinishRecovery } from './recover.ts'

/** Least time between two fetches for one author, even when forced. */
const MIN_FETCH_GAP_MS = 100

/** Why a range is asked for:
 *  - `report`: a member's HEADS shows a head beyond ours (the tick's retry covers such ranges);
 *  - `probe`: a HEADS asks for a range the retry does not cover: a head not on our chain of an
 *    author (equivocation: fetch its seal range for a proof, or collect the other branch), or a
 *    stranger's own chain (a joiner whose first push was lost);
 *  - `gap`: a peer sent a batch beyond our head;
 *  - `retry`: the tick re-issues a fetch that made no progress in time. */
export type FetchCause = 'report' | 'probe' | 'gap' | 'retry'

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
export function requestRange(
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

export function onFetch(state: FotbState, params: FotbParams, from: Pid, author: Pid, lo: Seq, hi: Seq, out: Out, port: EntryReader, removed = false): void {
  if (!state.audience.has(from) && !removed) {
    count(state, 'reject:fetch-not-in-audience')
    return
  }
  const log = state.chains.get(author)
  if (!log || lo > log.view.seq) return
  const to = Math.min(hi, lo + params.maxBatchEntries - 1)
  // Answer with batches that each end at a seal we hold: a seal is what makes entries checkable.
  let start = lo
  for (const seal of log.view.seals.from(start)) {
    const first = Math.max(start, seal.seq - params.maxBatchEntries + 1)
    const entries = entriesAt(state, port, author, first, seal.seq)
    if (entries === undefined) {
      // Unreadable from the port (runtime: damaged on disk): no partial batch; other holders answer.
      count(state, 'entry:unavailable')
      return
    }
    send(state, out, from, { type: 'batch', entries, seal })
    start = seal.seq + 1
    if (seal.seq >= to) break
  }
}

/** Periodic work: anti-entropy heads, re-issue stale fetches. */
export function onTick(state: FotbState, params: FotbParams, now: TimeMs, out: Out): void {
  // A volume whose only member is this node hears no echo: its recovery ends here.
  tryFinishRecovery(state, out)
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
      // Strangers whose echo we keep count as holders too: entries are checked against their
      // author's seal, so any holder will do, and a joiner whose only known members stopped
      // must fetch from the members it does not know of yet (sim seed 2038 --ops 100 --volumes 3).
      if (r && r.seq > mySeq && !state.removed.has(peer)) holders.push({ peer, seq: r.seq })
    }
    state.fetching.delete(author)
    if (holders.length === 0) continue
    const next = holders.find((h) => h.peer > f.peer) ?? holders[0]!
    requestRange(state, params, now, next.peer, author, mySeq + 1, next.seq, out, 'retry')
  }
}
