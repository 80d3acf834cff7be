// Executable checks of the ledger's invariants (spec/ledger.md §Invariants) for the simulator and
// the tests. Each returns a list of violations (empty = holds); none throws on bad data.
import type { Crypto } from '../crypto.ts'
import { toHex } from '../bytes.ts'
import { ZERO_HASH } from '../types.ts'
import type { Pid } from '../types.ts'
import { entryHash, headerShapeError, sealShapeError, verifySeal } from './format.ts'
import type { Entry, EntryHeader, EquivocationProof } from './format.ts'
import { verifyProof } from './proof.ts'
import type { ChainView } from './ledger.ts'

export interface LedgerViolation {
  /** The invariant's ID, e.g. 'LEDGER-1'. */
  id: string
  message: string
}

export interface CheckChainViewOptions {
  /** Verify every seal's signature (2 ms each in pure JS). Default true. */
  verifySignatures?: boolean
}

/**
 * LEDGER-1 over one view: the arrays agree with seq and head; every accepted entry's header,
 * rebuilt from the view, links to its predecessor and hashes to the stored hash; the seals are
 * strictly ascending, of this chain, signed by the author (optional), each committing to the
 * stored hash at its seq, and the last seal is at view.seq (every accepted entry is covered).
 * With `entries` (entries[i] = the accepted entry at seq i+1, as the host stored them) also
 * checks that each stored entry is the accepted one and its payload hashes to its payloadHash.
 */
export function checkChainView(
  crypto: Crypto,
  view: ChainView,
  entries?: readonly Entry[],
  options: CheckChainViewOptions = {},
): LedgerViolation[] {
  const out: LedgerViolation[] = []
  const v = (message: string): void => {
    out.push({ id: 'LEDGER-1', message: `${view.volume}/${view.author}: ${message}` })
  }
  if (view.hashes.length !== view.seq) v(`hashes has ${view.hashes.length} items, seq is ${view.seq}`)
  if (view.payloadHashes.length !== view.seq) v(`payloadHashes has ${view.payloadHashes.length} items, seq is ${view.seq}`)
  const expectedHead = view.seq === 0 ? ZERO_HASH : view.hashes.get(view.seq - 1)
  if (view.head !== expectedHead) v(`head ${view.head} is not the hash at seq ${view.seq}`)
  const n = Math.min(view.seq, view.hashes.length, view.payloadHashes.length)
  let prev: string = ZERO_HASH
  for (let k = 1; k <= n; k++) {
    const h: EntryHeader = {
      volume: view.volume,
      author: view.author,
      seq: k,
      prev: prev as EntryHeader['prev'],
      payloadHash: view.payloadHashes.get(k - 1)!,
    }
    if (headerShapeError(h) !== undefined) {
      v(`the header at seq ${k} is malformed`)
      break
    }
    const hash = entryHash(crypto, h)
    if (hash !== view.hashes.get(k - 1)) {
      v(`the header at seq ${k} does not hash to the stored hash (broken link or tampered)`)
      break
    }
    prev = hash
  }
  let last = 0
  const verify = options.verifySignatures ?? true
  for (const s of view.seals) {
    if (sealShapeError(s) !== undefined) v(`a seal is malformed`)
    else if (s.volume !== view.volume || s.author !== view.author) v(`the seal at seq ${s.seq} is of another chain`)
    else if (s.seq <= last) v(`seals are not strictly ascending at seq ${s.seq}`)
    else if (s.seq > view.seq || view.hashes.get(s.seq - 1) !== s.head) v(`the seal at seq ${s.seq} does not commit to the accepted hash`)
    else if (verify && !verifySeal(crypto, s)) v(`the seal at seq ${s.seq} does not verify`)
    if (typeof s?.seq === 'number') last = s.seq
  }
  if (view.seq > 0 && last !== view.seq) v(`entries up to seq ${view.seq} but the last seal is at seq ${last}: not every accepted entry is sealed`)
  if (entries !== undefined) {
    if (entries.length !== view.seq) v(`${entries.length} stored entries, seq is ${view.seq}`)
    for (let i = 0; i < Math.min(entries.length, n); i++) {
      const e = entries[i]!
      const k = i + 1
      if (e.volume !== view.volume || e.author !== view.author || e.seq !== k) {
        v(`stored entry ${i} is not the entry at seq ${k} of this chain`)
        continue
      }
      if (e.payloadHash !== view.payloadHashes.get(i) || e.prev !== (k === 1 ? ZERO_HASH : view.hashes.get(k - 2))) {
        v(`stored entry at seq ${k} differs from the accepted header`)
        continue
      }
      if (toHex(crypto.sha256(e.payload)) !== e.payloadHash) v(`stored entry at seq ${k}: payload does not hash to payloadHash`)
    }
  }
  return out
}

/**
 * LEDGER-5 across nodes: two views of one chain agree on every seq both hold. Holds for every
 * honest author (it may fail only for an author that equivocated, which LEDGER-4 then proves).
 * Call it for authors the simulation knows to be correct.
 */
export function checkViewsAgree(a: ChainView, b: ChainView): LedgerViolation[] {
  if (a.volume !== b.volume || a.author !== b.author) return []
  const n = Math.min(a.seq, b.seq, a.hashes.length, b.hashes.length)
  for (let k = 1; k <= n; k++) {
    if (a.hashes.get(k - 1) !== b.hashes.get(k - 1)) {
      return [{ id: 'LEDGER-5', message: `${a.volume}/${a.author}: two views differ at seq ${k}` }]
    }
  }
  return []
}

/**
 * LEDGER-4/5 for a proof a node holds: it must verify (nodes only keep verified proofs), and it
 * must not name an author the simulation knows to be correct.
 */
export function checkProof(
  crypto: Crypto,
  proof: EquivocationProof,
  correctAuthors: ReadonlySet<Pid>,
): LedgerViolation[] {
  const r = verifyProof(crypto, proof)
  if (!r.ok) return [{ id: 'LEDGER-4', message: `a kept equivocation proof does not verify: ${r.reason}` }]
  if (correctAuthors.has(r.author)) {
    return [{ id: 'LEDGER-5', message: `a verified equivocation proof names the correct author ${r.author}` }]
  }
  return []
}
