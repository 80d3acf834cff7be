// Equivocation (spec/fotb.md FOTB-6, "Equivocating authors"): proofs are checked, persisted,
// shared and handed up; an equivocator's other branch is collected and adopted once a quorum
// vouches for it.
import type { Crypto } from '../crypto.ts'
import type { Out } from '../effects.ts'
import { validateBatch, verifyProof, type Entry, type EquivocationProof, type Seal } from '../ledger/index.ts'
import { ZERO_HASH, type Pid, type Seq, type TimeMs } from '../types.ts'
import { cutRecord } from '../storage.ts'
import { count, limitsOf, noteCut, type AuthorLog, type Candidate, type EntryReader, type FotbParams, type FotbState, type FotbUp } from './state.ts'
import { acceptEntry, pidBytes, proofRecord, send, sealRecord, sendToAudience } from './messages.ts'
import { faultsTolerated, readyOf, readySupport, tryDeliver } from './deliver.ts'
import { requestRange } from './fetch.ts'

export function noteEquivocation(state: FotbState, crypto: Crypto, proof: EquivocationProof, out: Out, ups: FotbUp[]): void {
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
export function shareProofs(state: FotbState, from: Pid, theirs: readonly Pid[], out: Out): void {
  if (!state.audience.has(from)) return
  const have = new Set(theirs)
  for (const [author, proof] of [...state.proofs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!have.has(author)) send(state, out, from, { type: 'proof', proof })
  }
}

/** The seq of our last seal at or below what we delivered: a branch switch starts above it. */
export function branchBase(state: FotbState, author: Pid): Seq {
  const log = state.chains.get(author)
  const done = state.delivered.get(author) ?? 0
  return log?.view.seals.atOrBelow(done)?.seq ?? 0
}

/** A candidate branch starting from our chain cut at `seq`: it needs no entries below the cut,
 *  which are ours (delivered, in the port). */
function cutAt(log: AuthorLog, seq: Seq): Candidate {
  const v = log.view
  return {
    view: {
      ...v,
      seq,
      head: seq === 0 ? ZERO_HASH : v.hashes.get(seq - 1)!,
      hashes: v.hashes.slice(0, seq),
      payloadHashes: v.payloadHashes.slice(0, seq),
      seals: v.seals.upTo(seq),
    },
    base: seq,
    entries: [],
  }
}

/** An equivocator's batch that conflicts with our chain: extend the candidate branch with it,
 *  and adopt the candidate once a quorum vouches for it beyond what we delivered (FOTB-5 for the
 *  correct members that were handed the losing branch). Delivered entries never change. */
export function tryOtherBranch(
  state: FotbState,
  crypto: Crypto,
  params: FotbParams,
  now: TimeMs,
  from: Pid,
  author: Pid,
  entries: Entry[],
  seal: Seal,
  out: Out,
  port: EntryReader,
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
  cand = { view: r.view, base: cand.base, entries: [...cand.entries, ...r.accepted] }
  for (let s = 1; s <= Math.min(done, cand.view.seq); s++) {
    if (cand.view.hashes.get(s - 1) !== log.view.hashes.get(s - 1)) {
      count(state, 'reject:branch-rewrites-delivered')
      state.candidates.delete(author)
      return true
    }
  }
  state.candidates.set(author, cand)
  maybeAdopt(state, author, out, port, ups)
  return true
}

/** Adopts an author's candidate branch once f+1 members (without us; so at least one correct
 *  member) report being ready on it beyond how far we are ready; checked when a candidate grows
 *  and when echoes arrive. Why ready reports and not an echo quorum: with f >= 2 an equivocator
 *  can give one branch an echo quorum (its own echo and another Byzantine member's included) at
 *  some correct members while the others, handed the other branch, can never gather a quorum of
 *  echoes for it; a correct member's ready report says a quorum echoed, which two correct members
 *  never say of different entries at one seq (spec/fotb.md "Ready"). */
export function maybeAdopt(state: FotbState, author: Pid, out: Out, port: EntryReader, ups: FotbUp[]): void {
  const cand = state.candidates.get(author)
  const ready = readyOf(state, author)
  if (!cand || readySupport(state, cand.view, faultsTolerated(state.members.size) + 1, false) <= ready) return
  // Our entries up to the new base stay (they are read from the port), so the candidate must
  // agree with every entry we are ready for (and so every one we delivered): delivery may have
  // moved on along our chain since the candidate was last checked (tryOtherBranch). Delivered
  // entries never change, and we are never ready for two entries at one seq.
  const log = state.chains.get(author)!
  for (let s = 1; s <= Math.min(ready, cand.view.seq); s++) {
    if (cand.view.hashes.get(s - 1) !== log.view.hashes.get(s - 1)) {
      count(state, 'reject:branch-rewrites-delivered')
      state.candidates.delete(author)
      return
    }
  }
  // Adopt: our chain becomes the branch the quorum backs. Persisted as a cut plus new records,
  // so that a restart (and the storage port) rebuilds the same chain.
  const base = branchBase(state, author)
  state.chains.set(author, { view: cand.view })
  state.candidates.delete(author)
  count(state, 'branch-switch')
  out.trace({ kind: 'branch-switch', volume: state.volume, peer: author, detail: `from seq ${base + 1}` })
  out.persist(cutRecord(state.volume, pidBytes(author), base))
  noteCut(state, author, base)
  // base >= cand.base: delivery only grows, so the branch base does too.
  for (const e of cand.entries) if (e.seq > base) acceptEntry(state, out, e)
  for (const s of cand.view.seals.from(base + 1)) out.persist(sealRecord(state.volume, s))
  state.headsChanged = true
  tryDeliver(state, author, out, port, ups)
}
