// The built-in ledger: per-author signed hash chains with batched seals, and equivocation proofs
// (spec/ledger.md). A chain is identified by (volume, author). The writer side (OwnChain) appends
// and seals; the reader side (ChainView) validates batches = contiguous entries + one seal.
//
// Cost model (why the code looks the way it does): a signature costs ~0.25 ms to make and ~2 ms
// to verify in pure JS, a sha256 of a ~130-byte header ~1-2 us. So one seal covers a whole batch,
// validateBatch hashes each payload and each header exactly once (into a reused scratch buffer,
// with the chain-constant prefix written once per batch), verifies the seal once per batch and
// only after every cheap check has passed, and appends to the view's arrays in place.
//
// Mutable state convention: validateBatch returns a new ChainView object that SHARES (and has
// pushed onto) the arrays of the input view. The view is owned by the caller, who replaces it with
// the returned one; the old object must not be used after a successful validateBatch (use
// cloneChainView first to keep it). Rejections never change the input view.
import type { Crypto } from '../crypto.ts'
import { bytesEqual } from '../bytes.ts'
import { assert, ZERO_HASH } from '../types.ts'
import type { EntryHash, Pid, Seq, VolumeName } from '../types.ts'
import {
  DEFAULT_LEDGER_LIMITS,
  SCRATCH,
  entryHashWithDigest,
  hashHex,
  HASH_BYTES,
  isSeq,
  sealShapeError,
  signSeal,
  verifySeal,
  writeHeaderPrefix,
  writeHeaderTail,
} from './format.ts'
import type { Entry, EntryHeader, EquivocationProof, LedgerLimits, LedgerRejection, Seal, SealedPath } from './format.ts'
import { SealList } from './seallist.ts'
import { HashList } from './hashlist.ts'

// ---------------------------------------------------------------------------------------------
// Writer side

export interface OwnChain {
  volume: VolumeName
  author: Pid
  /** Seq of the last appended entry (0 = empty). */
  seq: Seq
  /** Hash of the last appended entry (ZERO_HASH when empty). */
  head: EntryHash
  /** Seq of the last seal made (0 = none); entries above it are not yet sealed. */
  sealedSeq: Seq
}

export function newOwnChain(volume: VolumeName, author: Pid): OwnChain {
  return { volume, author, seq: 0, head: ZERO_HASH, sealedSeq: 0 }
}

/** Appends one entry (unsealed until the next seal). Returns a new chain; the input is unchanged. */
export function append(crypto: Crypto, chain: OwnChain, payload: Uint8Array): { chain: OwnChain; entry: Entry } {
  const seq = chain.seq + 1
  assert(Number.isSafeInteger(seq), 'append: seq stays a safe integer')
  const digest = crypto.sha256(payload)
  const entry: Entry = { volume: chain.volume, author: chain.author, seq, prev: chain.head, payloadHash: hashHex(digest), payload }
  const head = entryHashWithDigest(crypto, chain.volume, chain.author, seq, chain.head, digest)
  return { chain: { volume: chain.volume, author: chain.author, seq, head, sealedSeq: chain.sealedSeq }, entry }
}

/** Seals chain.head at chain.seq: the seal covers every entry up to chain.seq. Asserts that there
 *  is something to seal (chain.seq > sealedSeq) — sealing twice at one seq is our own bug. */
export function seal(crypto: Crypto, secretKey: Uint8Array, chain: OwnChain): { chain: OwnChain; seal: Seal } {
  assert(chain.seq > chain.sealedSeq, 'seal: there are unsealed entries')
  const s = signSeal(crypto, secretKey, chain.volume, chain.author, chain.seq, chain.head)
  return { chain: { ...chain, sealedSeq: chain.seq }, seal: s }
}

// ---------------------------------------------------------------------------------------------
// Reader side

export interface ChainView {
  volume: VolumeName
  author: Pid
  /** Seq of the last accepted entry (0 = none). Always the seq of the last accepted seal. */
  seq: Seq
  /** Hash of the last accepted entry (ZERO_HASH when none). */
  head: EntryHash
  /** hashes.get(i) = hash of the entry at seq i+1 (packed, core/ledger/hashlist.ts). */
  hashes: HashList<EntryHash>
  /** payloadHashes.get(i) = payloadHash of the entry at seq i+1 (with hashes, enough to rebuild
   *  every accepted header for proofs). Added to the contract. */
  payloadHashes: HashList
  /** Accepted seals, strictly ascending seq; the last one is at `seq` (core/ledger/seallist.ts). */
  seals: SealList
}

export function newChainView(volume: VolumeName, author: Pid): ChainView {
  return { volume, author, seq: 0, head: ZERO_HASH, hashes: HashList.empty<EntryHash>(), payloadHashes: HashList.empty(), seals: SealList.empty() }
}

/** A deep-enough copy (fresh arrays) to keep a view across a successful validateBatch. */
export function cloneChainView(v: ChainView): ChainView {
  return { ...v, hashes: v.hashes.slice(), payloadHashes: v.payloadHashes.slice(), seals: v.seals.slice() }
}

/** The accepted header at `seq` (1 <= seq <= view.seq), rebuilt from the view. */
export function acceptedHeader(view: ChainView, seq: Seq): EntryHeader {
  assert(isSeq(seq) && seq <= view.seq, 'acceptedHeader: seq within the view')
  return {
    volume: view.volume,
    author: view.author,
    seq,
    prev: seq === 1 ? ZERO_HASH : view.hashes.get(seq - 2)!,
    payloadHash: view.payloadHashes.get(seq - 1)!,
  }
}

/** The accepted side of a proof for a conflict at seq c: the first accepted seal at or above c
 *  and the headers c..seal.seq. */
function acceptedPath(view: ChainView, c: Seq): SealedPath {
  assert(c >= 1 && c <= view.seq, 'acceptedPath: conflict within the view')
  const s = view.seals.atOrAbove(c)
  assert(s !== undefined && s.seq >= c, 'acceptedPath: a seal covers every accepted seq')
  const path: EntryHeader[] = []
  for (let k = c; k <= s.seq; k++) path.push(acceptedHeader(view, k))
  return { seal: s, path }
}

function reject(rejection: LedgerRejection): { ok: false; rejection: LedgerRejection } {
  return { ok: false, rejection }
}


export type BatchResult = { ok: true; view: ChainView; accepted: Entry[] } | { ok: false; rejection: LedgerRejection }

/**
 * Validates a batch (contiguous entries + one seal at the last entry) against `view`.
 * On success returns the extended view (sharing the input's arrays, see the file comment) and the
 * entries not accepted before, ascending. Never throws on peer input. Check order and codes:
 * spec/ledger.md §validateBatch.
 */
export function validateBatch(
  crypto: Crypto,
  view: ChainView,
  entries: Entry[],
  seal: Seal,
  limits: LedgerLimits = DEFAULT_LEDGER_LIMITS,
  /** `ownSeal`: the caller signed this seal itself in this step (fotb's flush), so checking the
   *  signature again would only cost a verify (~70% of a node step); everything else is checked. */
  options: { readonly ownSeal?: boolean } = {},
): BatchResult {
  // 1. Shapes and sizes (cheap, before any hashing).
  if (!Array.isArray(entries)) return reject({ code: 'malformed', detail: 'entries is not an array' })
  const n = entries.length
  if (n === 0) return reject({ code: 'malformed', detail: 'a batch has at least one entry' })
  if (n > limits.maxEntries) return reject({ code: 'malformed', detail: `a batch has at most ${limits.maxEntries} entries, got ${n}` })
  const sealError = sealShapeError(seal)
  if (sealError !== undefined) return reject({ code: 'malformed', detail: sealError })

  // 2. Chain identity: the seal is of this view's chain, every entry of the seal's chain.
  if (seal.volume !== view.volume || seal.author !== view.author) {
    return reject({ code: 'wrong-chain', detail: `seal is of ${seal.volume}/${seal.author}, view of ${view.volume}/${view.author}` })
  }
  const first = entries[0]
  if (typeof first !== 'object' || first === null || !isSeq(first.seq)) {
    return reject({ code: 'malformed', detail: 'entry 0: seq is not an integer >= 1' })
  }
  for (let i = 0; i < n; i++) {
    const e = entries[i]
    if (typeof e !== 'object' || e === null) return reject({ code: 'malformed', detail: `entry ${i} is not an object` })
    if (e.volume !== seal.volume || e.author !== seal.author) {
      return reject({ code: 'wrong-chain', detail: `entry ${i} is of another chain than the seal` })
    }
    if (e.seq !== first.seq + i) {
      if (!isSeq(e.seq)) return reject({ code: 'malformed', detail: `entry ${i}: seq is not an integer >= 1` })
      return reject({ code: 'out-of-order', detail: `entry ${i} has seq ${e.seq}, expected ${first.seq + i}` })
    }
    if (!(e.payload instanceof Uint8Array)) return reject({ code: 'malformed', detail: `entry ${i}: payload is not bytes` })
    if (e.payload.length > limits.maxPayloadBytes) {
      return reject({ code: 'malformed', detail: `entry ${i}: payload of ${e.payload.length} bytes exceeds ${limits.maxPayloadBytes}` })
    }
  }
  const lastSeq = first.seq + n - 1
  if (seal.seq !== lastSeq) {
    return reject({ code: 'unsealed', detail: `the batch ends at seq ${lastSeq} but its seal is at seq ${seal.seq}` })
  }
  if (first.seq > view.seq + 1) {
    return reject({ code: 'gap', detail: `the batch starts at seq ${first.seq}, the view holds up to ${view.seq}` })
  }

  // 3. Hash every payload and header once; check links and the head.
  const prefixEnd = writeHeaderPrefix(SCRATCH, seal.volume, seal.author)
  assert(prefixEnd > 0, 'validateBatch: seal shape checked volume and author')
  const hashes = new Array<EntryHash>(n)
  for (let i = 0; i < n; i++) {
    const e = entries[i]!
    const end = writeHeaderTail(SCRATCH, prefixEnd, e.seq, e.prev, e.payloadHash)
    if (end < 0) return reject({ code: 'malformed', detail: `entry ${i}: prev or payloadHash is not 32-byte lowercase hex` })
    // payloadHash sits in the last 32 bytes of the preimage: compare the payload's digest there.
    const digest = crypto.sha256(e.payload)
    if (!bytesEqual(digest, SCRATCH.subarray(end - HASH_BYTES, end))) {
      return reject({ code: 'tampered', detail: `entry ${i} (seq ${e.seq}): payload does not hash to payloadHash` })
    }
    if (i > 0) {
      if (e.prev !== hashes[i - 1]) return reject({ code: 'broken-link', detail: `entry seq ${e.seq}: prev is not the hash of seq ${e.seq - 1}` })
    } else if (e.seq === 1 && e.prev !== ZERO_HASH) {
      return reject({ code: 'broken-link', detail: 'entry seq 1: prev is not the zero hash' })
    }
    hashes[i] = hashHex(crypto.sha256(SCRATCH.subarray(0, end)))
  }
  if (hashes[n - 1] !== seal.head) {
    return reject({ code: 'tampered', detail: `the entry at seq ${lastSeq} does not hash to the seal's head` })
  }

  // 4. Compare the overlap with accepted history: seqs first.seq-1 (through prev) .. min(last, view.seq).
  let conflict = 0
  const overlapEnd = Math.min(lastSeq, view.seq)
  if (first.seq >= 2 && first.seq - 1 <= view.seq && first.prev !== view.hashes.get(first.seq - 2)) conflict = first.seq - 1
  else {
    for (let k = first.seq; k <= overlapEnd; k++) {
      if (hashes[k - first.seq] !== view.hashes.get(k - 1)) {
        conflict = k
        break
      }
    }
  }
  if (conflict === 0 && lastSeq <= view.seq) {
    // Nothing new; skip the 2 ms signature check (replays are cheap to drop).
    return reject({ code: 'replayed', detail: `seqs ${first.seq}..${lastSeq} were already accepted` })
  }

  // 5. One signature check per batch, after everything cheap.
  if (!options.ownSeal && !verifySeal(crypto, seal)) return reject({ code: 'bad-signature', detail: `the seal at seq ${seal.seq} does not verify under its author's key` })

  if (conflict !== 0) {
    const startIdx = Math.max(0, conflict - first.seq) // path from c, or from first.seq when c = first.seq - 1
    const path: EntryHeader[] = []
    for (let i = startIdx; i < n; i++) {
      const e = entries[i]!
      path.push({ volume: e.volume, author: e.author, seq: e.seq, prev: e.prev, payloadHash: e.payloadHash })
    }
    const proof: EquivocationProof = { a: acceptedPath(view, conflict), b: { seal, path } }
    return reject({ code: 'equivocation', detail: `the author sealed two different entries at seq ${conflict}`, proof })
  }

  // 6. Accept the new tail.
  const newFrom = view.seq + 1 - first.seq // index of the first new entry
  for (let i = newFrom; i < n; i++) {
    view.hashes.push(hashes[i]!)
    view.payloadHashes.push(entries[i]!.payloadHash)
  }
  view.seals.push(seal)
  const next: ChainView = {
    volume: view.volume,
    author: view.author,
    seq: lastSeq,
    head: seal.head,
    hashes: view.hashes,
    payloadHashes: view.payloadHashes,
    seals: view.seals,
  }
  return { ok: true, view: next, accepted: entries.slice(newFrom) }
}

/**
 * Checks a seal on its own. A seal at or below view.seq whose head differs from the accepted hash
 * at its seq is an equivocation (with a proof). `known` = the seal is at or below view.seq and
 * agrees with accepted history; a seal beyond view.seq is ok with known = false (its entries are
 * not here yet). The signature is always verified. Never throws on peer input.
 */
export function checkSeal(
  crypto: Crypto,
  view: ChainView,
  seal: Seal,
): { ok: true; known: boolean } | { ok: false; rejection: LedgerRejection } {
  const sealError = sealShapeError(seal)
  if (sealError !== undefined) return reject({ code: 'malformed', detail: sealError })
  if (seal.volume !== view.volume || seal.author !== view.author) {
    return reject({ code: 'wrong-chain', detail: `seal is of ${seal.volume}/${seal.author}, view of ${view.volume}/${view.author}` })
  }
  if (!verifySeal(crypto, seal)) return reject({ code: 'bad-signature', detail: `the seal at seq ${seal.seq} does not verify under its author's key` })
  if (seal.seq > view.seq) return { ok: true, known: false }
  if (view.hashes.get(seal.seq - 1) === seal.head) return { ok: true, known: true }
  const proof: EquivocationProof = { a: acceptedPath(view, seal.seq), b: { seal, path: [] } }
  return reject({ code: 'equivocation', detail: `the author sealed two different heads at seq ${seal.seq}`, proof })
}
