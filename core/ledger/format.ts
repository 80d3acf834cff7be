// The ledger's data: entry headers, seals, equivocation proofs; their hashes, signatures and
// canonical byte formats (spec/ledger.md §Formats). Pure: no clock, no randomness, no I/O.
//
// Hot path: entryHash lays the header's canonical CBOR bytes out by hand into a scratch buffer
// (no Value tree, no cborg call), because validate hashes every header once and the ledger's
// throughput goal (>= 200k entries/s) leaves ~5 us per entry. test/ledger.test.ts checks that the
// hand layout equals codec.encode byte for byte.
import { decodeUnchecked, encode, tryDecode } from '../codec.ts'
import type { Value } from '../codec.ts'
import type { Crypto } from '../crypto.ts'
import { toHex } from '../bytes.ts'
import { assert, isPid, isVolumeName, pidOfBytes, ZERO_HASH } from '../types.ts'
import type { EntryHash, Pid, Seq, VolumeName } from '../types.ts'

// ---------------------------------------------------------------------------------------------
// Types

export interface EntryHeader {
  volume: VolumeName
  author: Pid
  seq: Seq
  prev: EntryHash
  /** Lowercase hex of sha256(payload). */
  payloadHash: string
}

export interface Entry extends EntryHeader {
  payload: Uint8Array
}

export interface Seal {
  volume: VolumeName
  author: Pid
  seq: Seq
  head: EntryHash
  /** 64-byte compact low-S ECDSA signature over sealDigest(volume, author, seq, head). */
  sig: Uint8Array
}

/** A seal and the headers from a conflicting seq up to seal.seq (ascending, hash-linked, the last
 *  hashing to seal.head). An empty path commits only seal.head at seal.seq. */
export interface SealedPath {
  seal: Seal
  path: EntryHeader[]
}

export interface EquivocationProof {
  a: SealedPath
  b: SealedPath
}

export type LedgerRejection =
  | { code: 'malformed'; detail: string }
  | { code: 'wrong-chain'; detail: string }
  | { code: 'bad-signature'; detail: string }
  | { code: 'tampered'; detail: string }
  | { code: 'broken-link'; detail: string }
  | { code: 'gap'; detail: string }
  | { code: 'out-of-order'; detail: string }
  | { code: 'replayed'; detail: string }
  | { code: 'unsealed'; detail: string }
  | { code: 'equivocation'; detail: string; proof: EquivocationProof }

export type LedgerRejectionCode = LedgerRejection['code']

export interface LedgerLimits {
  /** Most entries in one batch, and most headers in one side of a proof. */
  maxEntries: number
  /** Largest payload of one entry, in bytes. */
  maxPayloadBytes: number
}

/** 1024 entries per batch matches fotb's maxBatchEntries; 64 KiB payloads are far above the
 *  32-byte obfuscated operation hashes PacioFS puts into the ledger. */
export const DEFAULT_LEDGER_LIMITS: Readonly<LedgerLimits> = Object.freeze({
  maxEntries: 1024,
  maxPayloadBytes: 65_536,
})

export type Decoded<T> = { ok: true; value: T } | { ok: false; rejection: LedgerRejection }

export const ENTRY_TAG = 'paciofs/entry/v1'
export const SEAL_TAG = 'paciofs/seal/v1'
export const PROOF_TAG = 'paciofs/proof/v1'

export const SIG_BYTES = 64
export const PID_BYTES = 33
export const HASH_BYTES = 32

// ---------------------------------------------------------------------------------------------
// Hex helpers tuned for the hot path (core/bytes.ts's fromHex uses a regex and parseInt).

const NIBBLE = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i

/** Writes the lowercase hex `hex` (exactly `length` bytes) into `out` at `offset`.
 *  False for a wrong length or any non-lowercase-hex character (then `out` is partly written). */
export function hexInto(hex: string, length: number, out: Uint8Array, offset: number): boolean {
  if (typeof hex !== 'string' || hex.length !== 2 * length) return false
  for (let i = 0; i < length; i++) {
    const hi = hex.charCodeAt(2 * i)
    const lo = hex.charCodeAt(2 * i + 1)
    const h = hi < 128 ? NIBBLE[hi]! : -1
    const l = lo < 128 ? NIBBLE[lo]! : -1
    if ((h | l) < 0) return false
    out[offset + i] = (h << 4) | l
  }
  return true
}

const HEX_DIGITS = '0123456789abcdef'
const HEX_CODES = new Uint8Array(512)
for (let i = 0; i < 256; i++) {
  HEX_CODES[2 * i] = HEX_DIGITS.charCodeAt(i >> 4)
  HEX_CODES[2 * i + 1] = HEX_DIGITS.charCodeAt(i & 15)
}
const HEX_SCRATCH = new Uint8Array(2 * HASH_BYTES)
// latin1 decoding of ASCII digit codes builds a flat string in one call: ~3x faster than
// concatenating 32 two-character strings (measured ~120 ns vs ~340 ns per hash).
const LATIN1 = new TextDecoder('latin1')

/** Lowercase hex of a 32-byte digest (hot path: two per validated entry). */
export function hashHex(digest: Uint8Array): EntryHash {
  assert(digest.length === HASH_BYTES, 'hashHex: 32-byte digest')
  for (let i = 0; i < HASH_BYTES; i++) {
    const b = digest[i]!
    HEX_SCRATCH[2 * i] = HEX_CODES[2 * b]!
    HEX_SCRATCH[2 * i + 1] = HEX_CODES[2 * b + 1]!
  }
  return LATIN1.decode(HEX_SCRATCH) as EntryHash
}

function hexBytes(hex: string, length: number): Uint8Array | undefined {
  const out = new Uint8Array(length)
  return hexInto(hex, length, out, 0) ? out : undefined
}

/** Lowercase hex of `bytes`, for 32/33-byte identifiers. */
export { toHex }

// ---------------------------------------------------------------------------------------------
// Field predicates (peer input may be anything).

export function isSeq(x: unknown): x is Seq {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 1
}

function isHex32(x: unknown): x is string {
  return typeof x === 'string' && x.length === 64 && /^[0-9a-f]{64}$/.test(x)
}

/** Why a seal object is not a well-formed seal, or undefined. */
export function sealShapeError(s: unknown): string | undefined {
  if (typeof s !== 'object' || s === null) return 'seal is not an object'
  const o = s as Record<string, unknown>
  if (typeof o.volume !== 'string' || !isVolumeName(o.volume)) return 'seal volume is not a volume name'
  if (typeof o.author !== 'string' || !isPid(o.author)) return 'seal author is not a pid'
  if (!isSeq(o.seq)) return 'seal seq is not an integer >= 1'
  if (!isHex32(o.head)) return 'seal head is not a 32-byte hex hash'
  if (!(o.sig instanceof Uint8Array) || o.sig.length !== SIG_BYTES) return 'seal sig is not 64 bytes'
  return undefined
}

/** Why a header object is not a well-formed header, or undefined. */
export function headerShapeError(h: unknown): string | undefined {
  if (typeof h !== 'object' || h === null) return 'header is not an object'
  const o = h as Record<string, unknown>
  if (typeof o.volume !== 'string' || !isVolumeName(o.volume)) return 'volume is not a volume name'
  if (typeof o.author !== 'string' || !isPid(o.author)) return 'author is not a pid'
  if (!isSeq(o.seq)) return 'seq is not an integer >= 1'
  if (!isHex32(o.prev)) return 'prev is not a 32-byte hex hash'
  if (!isHex32(o.payloadHash)) return 'payloadHash is not a 32-byte hex hash'
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Entry hash: sha256(encode([ENTRY_TAG, volume, author(33B), seq, prev(32B), payloadHash(32B)]))

/** Largest preimage: 1 (array) + 17 (tag) + 66 (volume) + 35 + 9 + 34 + 34 = 196 bytes. Shared
 *  by every header hash in the core (single-threaded, nothing retains it across calls). */
export const SCRATCH = new Uint8Array(256)
const ENTRY_PREFIX = encode([ENTRY_TAG]) // [0x81, 0x70, ...tag]

/** Writes a CBOR unsigned integer head (major type 0) at `offset`; returns the new offset. */
function writeUint(out: Uint8Array, offset: number, n: number): number {
  if (n < 24) {
    out[offset] = n
    return offset + 1
  }
  if (n < 0x100) {
    out[offset] = 0x18
    out[offset + 1] = n
    return offset + 2
  }
  if (n < 0x10000) {
    out[offset] = 0x19
    out[offset + 1] = n >>> 8
    out[offset + 2] = n & 0xff
    return offset + 3
  }
  if (n < 0x100000000) {
    out[offset] = 0x1a
    out[offset + 1] = n >>> 24
    out[offset + 2] = (n >>> 16) & 0xff
    out[offset + 3] = (n >>> 8) & 0xff
    out[offset + 4] = n & 0xff
    return offset + 5
  }
  const hi = Math.floor(n / 0x100000000)
  const lo = n >>> 0
  out[offset] = 0x1b
  out[offset + 1] = hi >>> 24
  out[offset + 2] = (hi >>> 16) & 0xff
  out[offset + 3] = (hi >>> 8) & 0xff
  out[offset + 4] = hi & 0xff
  out[offset + 5] = lo >>> 24
  out[offset + 6] = (lo >>> 16) & 0xff
  out[offset + 7] = (lo >>> 8) & 0xff
  out[offset + 8] = lo & 0xff
  return offset + 9
}

/** Writes the chain-constant part of a header preimage (array head, tag, volume, author) into
 *  `out`; returns the offset after it, or -1 if volume/author are not well-formed. */
export function writeHeaderPrefix(out: Uint8Array, volume: string, author: string): number {
  if (out === SCRATCH && volume === cachedVolume && author === cachedAuthor) return cachedPrefixEnd
  cachedVolume = undefined
  const end = writePrefix(out, volume, author)
  if (out === SCRATCH && end > 0) {
    cachedVolume = volume
    cachedAuthor = author
    cachedPrefixEnd = end
  }
  return end
}

// SCRATCH's prefix region is only ever written by writeHeaderPrefix, so consecutive headers of one
// chain (the common case: a batch, an append run) skip rewriting it. A pure performance cache:
// the bytes produced are the same with or without it.
let cachedVolume: string | undefined
let cachedAuthor: string | undefined
let cachedPrefixEnd = -1

function writePrefix(out: Uint8Array, volume: string, author: string): number {
  // The array head is 0x86 (6 items); the one-item prefix we precomputed starts with 0x81.
  out.set(ENTRY_PREFIX, 0)
  out[0] = 0x86
  let o = ENTRY_PREFIX.length
  const vlen = volume.length // volume names are ASCII, so UTF-16 length = byte length
  if (vlen < 1 || vlen > 64) return -1
  if (vlen < 24) out[o++] = 0x60 + vlen
  else {
    out[o++] = 0x78
    out[o++] = vlen
  }
  for (let i = 0; i < vlen; i++) out[o++] = volume.charCodeAt(i)
  out[o++] = 0x58
  out[o++] = PID_BYTES
  if (!hexInto(author, PID_BYTES, out, o)) return -1
  return o + PID_BYTES
}

/** Writes seq, prev and payloadHash after the prefix; returns the end offset, or -1 if prev or
 *  payloadHash is not 32-byte lowercase hex. */
export function writeHeaderTail(out: Uint8Array, offset: number, seq: number, prev: string, payloadHash: string): number {
  let o = writeUint(out, offset, seq)
  out[o++] = 0x58
  out[o++] = HASH_BYTES
  if (!hexInto(prev, HASH_BYTES, out, o)) return -1
  o += HASH_BYTES
  out[o++] = 0x58
  out[o++] = HASH_BYTES
  if (!hexInto(payloadHash, HASH_BYTES, out, o)) return -1
  return o + HASH_BYTES
}

/** The canonical bytes hashed into an entry hash (a fresh copy). Asserts a well-formed header. */
export function headerPreimage(h: EntryHeader): Uint8Array {
  const p = writeHeaderPrefix(SCRATCH, h.volume, h.author)
  assert(p > 0, 'headerPreimage: volume/author well-formed')
  const end = writeHeaderTail(SCRATCH, p, h.seq, h.prev, h.payloadHash)
  assert(end > 0, 'headerPreimage: prev/payloadHash well-formed')
  return SCRATCH.slice(0, end)
}

/** The same bytes through the generic codec (reference for tests; slower). */
export function headerPreimageViaCodec(h: EntryHeader): Uint8Array {
  return owned(encode([ENTRY_TAG, h.volume, hexBytes(h.author, PID_BYTES)!, h.seq, hexBytes(h.prev, HASH_BYTES)!, hexBytes(h.payloadHash, HASH_BYTES)!]))
}

/** sha256 of the header's canonical encoding. Asserts a well-formed header (our own data);
 *  validate paths check shapes first. */
export function entryHash(crypto: Crypto, h: EntryHeader): EntryHash {
  const p = writeHeaderPrefix(SCRATCH, h.volume, h.author)
  assert(p > 0, 'entryHash: volume/author well-formed')
  const end = writeHeaderTail(SCRATCH, p, h.seq, h.prev, h.payloadHash)
  assert(end > 0, 'entryHash: prev/payloadHash well-formed')
  return hashHex(crypto.sha256(SCRATCH.subarray(0, end)))
}

/** entryHash for a header whose payload digest is at hand as bytes (append's hot path: no hex
 *  round trip). Asserts well-formed volume/author/prev. */
export function entryHashWithDigest(crypto: Crypto, volume: VolumeName, author: Pid, seq: Seq, prev: EntryHash, payloadDigest: Uint8Array): EntryHash {
  const p = writeHeaderPrefix(SCRATCH, volume, author)
  assert(p > 0, 'entryHashWithDigest: volume/author well-formed')
  let o = writeUint(SCRATCH, p, seq)
  SCRATCH[o++] = 0x58
  SCRATCH[o++] = HASH_BYTES
  assert(hexInto(prev, HASH_BYTES, SCRATCH, o), 'entryHashWithDigest: prev well-formed')
  o += HASH_BYTES
  SCRATCH[o++] = 0x58
  SCRATCH[o++] = HASH_BYTES
  assert(payloadDigest.length === HASH_BYTES, 'entryHashWithDigest: 32-byte digest')
  SCRATCH.set(payloadDigest, o)
  return hashHex(crypto.sha256(SCRATCH.subarray(0, o + HASH_BYTES)))
}

export function headerOf(
  crypto: Crypto,
  e: { volume: VolumeName; author: Pid; seq: Seq; prev: EntryHash; payload: Uint8Array },
): EntryHeader {
  return { volume: e.volume, author: e.author, seq: e.seq, prev: e.prev, payloadHash: hashHex(crypto.sha256(e.payload)) }
}

/** Strips the payload (a new object). */
export function headerOnly(e: EntryHeader): EntryHeader {
  return { volume: e.volume, author: e.author, seq: e.seq, prev: e.prev, payloadHash: e.payloadHash }
}

// ---------------------------------------------------------------------------------------------
// Seals: sig = sign(sha256(encode([SEAL_TAG, volume, author(33B), seq, head(32B)])), sk)

/** The signed message of a seal; asserts well-formed arguments (a verifier checks shapes first). */
export function sealMessage(volume: VolumeName, author: Pid, seq: Seq, head: EntryHash): Uint8Array {
  const a = hexBytes(author, PID_BYTES)
  const h = hexBytes(head, HASH_BYTES)
  assert(a !== undefined && h !== undefined && isSeq(seq), 'sealMessage: well-formed arguments')
  return encode([SEAL_TAG, volume, a, seq, h])
}

export function sealDigest(crypto: Crypto, volume: VolumeName, author: Pid, seq: Seq, head: EntryHash): Uint8Array {
  return crypto.sha256(sealMessage(volume, author, seq, head))
}

export function signSeal(crypto: Crypto, secretKey: Uint8Array, volume: VolumeName, author: Pid, seq: Seq, head: EntryHash): Seal {
  const sig = crypto.sign(sealDigest(crypto, volume, author, seq, head), secretKey)
  assert(sig.length === SIG_BYTES, 'signSeal: 64-byte signature')
  return { volume, author, seq, head, sig }
}

/** True iff `seal` is well-formed and its signature verifies under its author's key. Never throws. */
export function verifySeal(crypto: Crypto, seal: Seal): boolean {
  if (sealShapeError(seal) !== undefined) return false
  const pk = hexBytes(seal.author, PID_BYTES)!
  const message = sealMessage(seal.volume, seal.author, seal.seq, seal.head)
  // The same check either way (Crypto.verifyMessage); OpenSSL's is ~8x faster than noble's.
  return crypto.verifyMessage !== undefined ? crypto.verifyMessage(seal.sig, message, pk) : crypto.verify(seal.sig, crypto.sha256(message), pk)
}

// ---------------------------------------------------------------------------------------------
// Byte formats (canonical CBOR through core/codec.ts)
//
//   entry = [ENTRY_TAG, volume, author(33B), seq, prev(32B), payloadHash(32B), payload(bytes)]
//   seal  = [SEAL_TAG, volume, author(33B), seq, head(32B), sig(64B)]
//   proof = [PROOF_TAG, side, side]     side = [seal, [[prev(32B), payloadHash(32B)]...]]
//           In a side, header i has volume/author of the seal and seq = seal.seq - len + 1 + i.

/** codec.encode may hand back a Node Buffer cut from Node's shared 8 KiB pool (cborg concatenates
 *  chunks with Buffer.concat); Buffer#slice aliases memory instead of copying, so a caller that
 *  copies with .slice() and edits the copy would silently edit the original. Our encoders return
 *  plain Uint8Arrays that own their memory. */
function owned(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes)
}

function malformed(detail: string): { ok: false; rejection: LedgerRejection } {
  return { ok: false, rejection: { code: 'malformed', detail } }
}

function entryValue(e: Entry): Value {
  return [ENTRY_TAG, e.volume, hexBytes(e.author, PID_BYTES)!, e.seq, hexBytes(e.prev, HASH_BYTES)!, hexBytes(e.payloadHash, HASH_BYTES)!, e.payload]
}

function sealValue(s: Seal): Value {
  return [SEAL_TAG, s.volume, hexBytes(s.author, PID_BYTES)!, s.seq, hexBytes(s.head, HASH_BYTES)!, s.sig]
}

/** Canonical bytes of an entry. Asserts a well-formed entry (encode only what we built or
 *  validated). */
export function encodeEntry(e: Entry): Uint8Array {
  assert(headerShapeError(e) === undefined && e.payload instanceof Uint8Array, 'encodeEntry: well-formed entry')
  return owned(encode(entryValue(e)))
}

export function encodeSeal(s: Seal): Uint8Array {
  assert(sealShapeError(s) === undefined, 'encodeSeal: well-formed seal')
  return owned(encode(sealValue(s)))
}

function isBytes(x: unknown, length: number): x is Uint8Array {
  return x instanceof Uint8Array && x.length === length
}

function decodeText(x: unknown): string | undefined {
  return typeof x === 'string' ? x : undefined
}

function entryFromValue(v: Value, limits: LedgerLimits): Decoded<Entry> {
  if (!Array.isArray(v) || v.length !== 7) return malformed('entry is not a 7-item array')
  const [tag, volume, author, seq, prev, payloadHash, payload] = v as Value[]
  if (tag !== ENTRY_TAG) return malformed(`entry tag is not ${ENTRY_TAG}`)
  const vol = decodeText(volume)
  if (vol === undefined || !isVolumeName(vol)) return malformed('entry volume is not a volume name')
  if (!isBytes(author, PID_BYTES)) return malformed('entry author is not 33 bytes')
  const pid = pidOfBytes(author)
  if (pid === undefined) return malformed('entry author is not a compressed public key')
  if (!isSeq(seq)) return malformed('entry seq is not an integer >= 1')
  if (!isBytes(prev, HASH_BYTES)) return malformed('entry prev is not 32 bytes')
  if (!isBytes(payloadHash, HASH_BYTES)) return malformed('entry payloadHash is not 32 bytes')
  if (!(payload instanceof Uint8Array)) return malformed('entry payload is not a byte string')
  if (payload.length > limits.maxPayloadBytes) return malformed(`entry payload exceeds ${limits.maxPayloadBytes} bytes`)
  return {
    ok: true,
    value: { volume: vol, author: pid, seq, prev: toHex(prev) as EntryHash, payloadHash: toHex(payloadHash), payload },
  }
}

function sealFromValue(v: Value): Decoded<Seal> {
  if (!Array.isArray(v) || v.length !== 6) return malformed('seal is not a 6-item array')
  const [tag, volume, author, seq, head, sig] = v as Value[]
  if (tag !== SEAL_TAG) return malformed(`seal tag is not ${SEAL_TAG}`)
  const vol = decodeText(volume)
  if (vol === undefined || !isVolumeName(vol)) return malformed('seal volume is not a volume name')
  if (!isBytes(author, PID_BYTES)) return malformed('seal author is not 33 bytes')
  const pid = pidOfBytes(author)
  if (pid === undefined) return malformed('seal author is not a compressed public key')
  if (!isSeq(seq)) return malformed('seal seq is not an integer >= 1')
  if (!isBytes(head, HASH_BYTES)) return malformed('seal head is not 32 bytes')
  if (!isBytes(sig, SIG_BYTES)) return malformed('seal sig is not 64 bytes')
  return { ok: true, value: { volume: vol, author: pid, seq, head: toHex(head) as EntryHash, sig } }
}

function decodeValue(bytes: unknown): Decoded<Value> {
  if (!(bytes instanceof Uint8Array)) return malformed('input is not a byte array')
  const d = tryDecode(bytes)
  if (!d.ok) return malformed(`${d.error.code}: ${d.error.message}`)
  return { ok: true, value: d.value }
}

/** Decodes canonical entry bytes; rejects non-canonical bytes and wrong shapes. Never throws.
 *  Does not check payloadHash against the payload: validateBatch does (code `tampered`). */
export function decodeEntry(bytes: Uint8Array, limits: LedgerLimits = DEFAULT_LEDGER_LIMITS): Decoded<Entry> {
  const d = decodeValue(bytes)
  return d.ok ? entryFromValue(d.value, limits) : d
}

/** Decodes entry bytes a node's own store kept (they were canonical when it accepted them),
 *  without decodeEntry's canonical re-encoding (~10 % of a restart). The re-encoding can only
 *  catch a change of encoding, never of value: a changed byte inside the payload or a hash stays
 *  canonical. Changes of value are caught by the store's checksums (LevelDB's, runtime/native)
 *  and wherever the chain is checked (restore's validateBatch, verify), whose hash is over the
 *  canonical encoding of the decoded header. Never for bytes from a peer. Never throws. */
export function decodeStoredEntry(bytes: Uint8Array): Decoded<Entry> {
  let value: Value
  try {
    value = decodeUnchecked(bytes)
  } catch (err) {
    return malformed((err as Error).message)
  }
  return entryFromValue(value, { maxEntries: Number.MAX_SAFE_INTEGER, maxPayloadBytes: Number.MAX_SAFE_INTEGER })
}

/** Decodes canonical seal bytes; rejects non-canonical bytes and wrong shapes. Never throws.
 *  Does not verify the signature. */
export function decodeSeal(bytes: Uint8Array): Decoded<Seal> {
  const d = decodeValue(bytes)
  return d.ok ? sealFromValue(d.value) : d
}

function sideValue(side: SealedPath): Value {
  const s = side.seal
  const n = side.path.length
  side.path.forEach((h, i) => {
    assert(
      headerShapeError(h) === undefined && h.volume === s.volume && h.author === s.author && h.seq === s.seq - n + 1 + i,
      'encodeProof: path headers are on the seal’s chain and end at seal.seq (encode only built or verified proofs)',
    )
  })
  return [sealValue(s), side.path.map((h) => [hexBytes(h.prev, HASH_BYTES)!, hexBytes(h.payloadHash, HASH_BYTES)!])]
}

/** Canonical bytes of a proof. Asserts that each path lies on its seal's chain and ends at
 *  seal.seq (the compact format implies volume, author and seqs; see spec §Formats). */
export function encodeProof(p: EquivocationProof): Uint8Array {
  assert(sealShapeError(p.a.seal) === undefined && sealShapeError(p.b.seal) === undefined, 'encodeProof: well-formed seals')
  return owned(encode([PROOF_TAG, sideValue(p.a), sideValue(p.b)]))
}

function sideFromValue(v: Value, limits: LedgerLimits): Decoded<SealedPath> {
  if (!Array.isArray(v) || v.length !== 2) return malformed('proof side is not a 2-item array')
  const [sealV, pathV] = v as Value[]
  const s = sealFromValue(sealV!)
  if (!s.ok) return s
  const seal = s.value
  if (!Array.isArray(pathV)) return malformed('proof path is not an array')
  const n = pathV.length
  if (n > limits.maxEntries) return malformed(`proof path exceeds ${limits.maxEntries} headers`)
  if (n > seal.seq) return malformed('proof path is longer than its seal’s seq')
  const path: EntryHeader[] = []
  for (let i = 0; i < n; i++) {
    const item = pathV[i] as Value
    if (!Array.isArray(item) || item.length !== 2) return malformed('proof header is not a 2-item array')
    const [prev, payloadHash] = item as Value[]
    if (!isBytes(prev, HASH_BYTES) || !isBytes(payloadHash, HASH_BYTES)) return malformed('proof header hashes are not 32 bytes')
    path.push({
      volume: seal.volume,
      author: seal.author,
      seq: seal.seq - n + 1 + i,
      prev: toHex(prev) as EntryHash,
      payloadHash: toHex(payloadHash),
    })
  }
  return { ok: true, value: { seal, path } }
}

/** Decodes canonical proof bytes; rejects non-canonical bytes and wrong shapes. Never throws.
 *  Does not verify the proof: call verifyProof. */
export function decodeProof(bytes: Uint8Array, limits: LedgerLimits = DEFAULT_LEDGER_LIMITS): Decoded<EquivocationProof> {
  const d = decodeValue(bytes)
  if (!d.ok) return d
  const v = d.value
  if (!Array.isArray(v) || v.length !== 3) return malformed('proof is not a 3-item array')
  if (v[0] !== PROOF_TAG) return malformed(`proof tag is not ${PROOF_TAG}`)
  const a = sideFromValue(v[1] as Value, limits)
  if (!a.ok) return a
  const b = sideFromValue(v[2] as Value, limits)
  if (!b.ok) return b
  return { ok: true, value: { a: a.value, b: b.value } }
}

export { ZERO_HASH }
