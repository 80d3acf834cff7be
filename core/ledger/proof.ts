// Equivocation proofs: verification (spec/ledger.md §Equivocation proofs). Building them is
// validateBatch's and checkSeal's job (core/ledger/ledger.ts), from the accepted view and the new seal.
import type { Crypto } from '../crypto.ts'
import { ZERO_HASH } from '../types.ts'
import type { EntryHash, Pid, Seq, VolumeName } from '../types.ts'
import { DEFAULT_LEDGER_LIMITS, entryHash, headerShapeError, sealShapeError, verifySeal } from './format.ts'
import type { EquivocationProof, LedgerLimits, SealedPath } from './format.ts'

// ---------------------------------------------------------------------------------------------
// Proofs

/** The hashes a sealed path commits to: from seq `lo` (path[0].prev commits seq path[0].seq - 1)
 *  up to seal.seq; or a reason the side is invalid. Does not verify the signature. */
function sideCommitments(
  crypto: Crypto,
  side: SealedPath,
  limits: LedgerLimits,
): { ok: true; lo: Seq; hashes: EntryHash[] } | { ok: false; reason: string } {
  if (typeof side !== 'object' || side === null) return { ok: false, reason: 'side is not an object' }
  const sealError = sealShapeError(side.seal)
  if (sealError !== undefined) return { ok: false, reason: sealError }
  const s = side.seal
  const path = side.path
  if (!Array.isArray(path)) return { ok: false, reason: 'path is not an array' }
  const n = path.length
  if (n > limits.maxEntries) return { ok: false, reason: `path exceeds ${limits.maxEntries} headers` }
  if (n === 0) return { ok: true, lo: s.seq, hashes: [s.head] }
  const hashes: EntryHash[] = []
  for (let i = 0; i < n; i++) {
    const h = path[i]
    const err = headerShapeError(h)
    if (err !== undefined) return { ok: false, reason: `header ${i}: ${err}` }
    const hh = h!
    if (hh.volume !== s.volume || hh.author !== s.author) return { ok: false, reason: `header ${i} is of another chain than its seal` }
    if (hh.seq !== s.seq - n + 1 + i) return { ok: false, reason: `header ${i} has seq ${hh.seq}, the path must end at seal.seq ${s.seq}` }
    if (i === 0) {
      if (hh.seq === 1) {
        if (hh.prev !== ZERO_HASH) return { ok: false, reason: 'header at seq 1 does not link to the zero hash' }
      } else hashes.push(hh.prev)
    } else if (hh.prev !== hashes[hashes.length - 1]) return { ok: false, reason: `header ${i} does not link to header ${i - 1}` }
    hashes.push(entryHash(crypto, hh))
  }
  if (hashes[hashes.length - 1] !== s.head) return { ok: false, reason: 'the path does not end at the seal head' }
  const lo = path[0]!.seq === 1 ? 1 : path[0]!.seq - 1
  return { ok: true, lo, hashes }
}

/**
 * Verifies an equivocation proof: two validly signed seals of one (volume, author) whose paths
 * commit different entry hashes at one seq. Returns the lowest such seq. Never throws.
 */
export function verifyProof(
  crypto: Crypto,
  proof: EquivocationProof,
  limits: LedgerLimits = DEFAULT_LEDGER_LIMITS,
): { ok: true; volume: VolumeName; author: Pid; seq: Seq } | { ok: false; reason: string } {
  if (typeof proof !== 'object' || proof === null) return { ok: false, reason: 'proof is not an object' }
  const a = sideCommitments(crypto, proof.a, limits)
  if (!a.ok) return { ok: false, reason: `side a: ${a.reason}` }
  const b = sideCommitments(crypto, proof.b, limits)
  if (!b.ok) return { ok: false, reason: `side b: ${b.reason}` }
  const sa = proof.a.seal
  const sb = proof.b.seal
  if (sa.volume !== sb.volume || sa.author !== sb.author) return { ok: false, reason: 'the seals are of different chains' }
  const from = Math.max(a.lo, b.lo)
  const to = Math.min(sa.seq, sb.seq)
  let seq = 0
  for (let k = from; k <= to; k++) {
    if (a.hashes[k - a.lo] !== b.hashes[k - b.lo]) {
      seq = k
      break
    }
  }
  if (seq === 0) return { ok: false, reason: 'the two sides commit no different hashes at a common seq' }
  if (!verifySeal(crypto, sa)) return { ok: false, reason: 'side a: the seal does not verify' }
  if (!verifySeal(crypto, sb)) return { ok: false, reason: 'side b: the seal does not verify' }
  return { ok: true, volume: sa.volume, author: sa.author, seq }
}
