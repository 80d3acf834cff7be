// TEST-ONLY crypto for the simulator. NOT SECURE. Never use it in the runtime or on real data.
//
// Why: the simulator runs thousands of seeded clusters of the real core, and real secp256k1
// (sign ~0.25 ms, verify ~2-3 ms in pure JS) and noble sha256 dominate its run time. This
// `Crypto` keeps the shapes and the determinism of the real one at a fraction of the cost:
//
// - sha256 / hmacSha256: a fast 32-byte non-cryptographic hash (8 lanes of an xxhash32-style
//   multiply-rotate round, an avalanche finish). Good distribution — distinct inputs do not
//   collide in practice — but anyone can construct collisions on purpose.
// - publicKey(sk): 0x02/0x03 + 32 hash bytes of sk, so its hex passes `isPid` like a real key.
// - sign(digest, sk) = a keyed hash of (publicKey(sk), digest); verify recomputes it from the
//   public key. So ANYONE WHO KNOWS A PUBLIC KEY CAN FORGE ITS SIGNATURES. Acceptable in the
//   simulator only: its Byzantine strategies are code we write, and they forge only by design
//   (an honest-looking forgery is a strategy, not an accident). A bug in the core that accepts a
//   wrong signature, a wrong key or a tampered message is still caught, because verify rejects
//   every signature that was not made for exactly this (public key, digest).
//
// The core cannot tell this from nobleCrypto except by `name` ('insecure-test').
import type { Crypto } from '../core/crypto.ts'

const PRIME1 = 0x9e3779b1 | 0
const PRIME2 = 0x85ebca77 | 0
const PRIME3 = 0xc2b2ae3d | 0

// Domain seeds: each use of the hash gets its own seed so that, e.g., a signature is never
// equal to the sha256 of the same bytes.
const SEED_SHA = 0x5ac10f5
const SEED_HMAC = 0x4a3c0de
const SEED_PK = 0x9b1c4e7
const SEED_SIG_LO = 0x51a0001
const SEED_SIG_HI = 0x51a0002

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r))

/** One xxhash32 round: a bijection of `acc` for fixed `w` and of `w` for fixed `acc`. */
const round = (acc: number, w: number): number => Math.imul(rotl((acc + Math.imul(w, PRIME2)) | 0, 13), PRIME1)

/** murmur3's 32-bit finalizer: every input bit flips each output bit with probability ~1/2. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), PRIME2)
  h = Math.imul(h ^ (h >>> 13), PRIME3)
  return h ^ (h >>> 16)
}

/** Little-endian 32-bit word at byte `i`, zero-padded past the end (the length is mixed in
 *  at the end, so zero padding keeps distinct inputs distinct). */
function wordAt(data: Uint8Array, n: number, i: number): number {
  if (i + 4 <= n) return data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
  let w = 0
  for (let k = 0; i + k < n; k++) w |= data[i + k]! << (8 * k)
  return w
}

/** Little-endian store; by hand because creating a DataView costs ~1 µs, more than the hash. */
function put32(out: Uint8Array, i: number, w: number): void {
  out[i] = w
  out[i + 1] = w >>> 8
  out[i + 2] = w >>> 16
  out[i + 3] = w >>> 24
}

/** Whether this machine stores a Uint32Array's words little-endian (then hashPrefix may read
 *  long inputs word by word). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1

/** 32-byte hash of `data` under `seed`. */
export function fastHash32(data: Uint8Array, seed: number): Uint8Array {
  return hashPrefix(data, data.length, seed)
}

/** 32-byte hash of data[0, n) under `seed`. Word j of the input feeds lane j % 8; the finish
 *  mixes every lane into one chain value and that into every output word. */
function hashPrefix(data: Uint8Array, n: number, seed: number): Uint8Array {
  let a0 = (seed + PRIME1) | 0, a1 = (seed + PRIME2) | 0, a2 = (seed + PRIME3) | 0, a3 = seed ^ 0x27d4eb2f
  let a4 = (seed - PRIME1) | 0, a5 = (seed - PRIME2) | 0, a6 = (seed - PRIME3) | 0, a7 = ~seed
  let i = 0
  if (LITTLE_ENDIAN && n >= 256 && (data.byteOffset & 3) === 0) {
    // Long inputs (chunks, disk batches) read whole words from a 32-bit view: the same words as
    // wordAt (little-endian, and Math.imul takes them mod 2^32 either way), ~3x fewer reads.
    const words = new Uint32Array(data.buffer, data.byteOffset, n >>> 2)
    for (let w = 0; i + 32 <= n; i += 32, w += 8) {
      a0 = round(a0, words[w]!)
      a1 = round(a1, words[w + 1]!)
      a2 = round(a2, words[w + 2]!)
      a3 = round(a3, words[w + 3]!)
      a4 = round(a4, words[w + 4]!)
      a5 = round(a5, words[w + 5]!)
      a6 = round(a6, words[w + 6]!)
      a7 = round(a7, words[w + 7]!)
    }
  }
  for (; i + 32 <= n; i += 32) {
    a0 = round(a0, wordAt(data, n, i))
    a1 = round(a1, wordAt(data, n, i + 4))
    a2 = round(a2, wordAt(data, n, i + 8))
    a3 = round(a3, wordAt(data, n, i + 12))
    a4 = round(a4, wordAt(data, n, i + 16))
    a5 = round(a5, wordAt(data, n, i + 20))
    a6 = round(a6, wordAt(data, n, i + 24))
    a7 = round(a7, wordAt(data, n, i + 28))
  }
  // Tail: under 32 bytes, so up to 8 words (the last possibly partial), each to its lane.
  if (i < n) a0 = round(a0, wordAt(data, n, i))
  if (i + 4 < n) a1 = round(a1, wordAt(data, n, i + 4))
  if (i + 8 < n) a2 = round(a2, wordAt(data, n, i + 8))
  if (i + 12 < n) a3 = round(a3, wordAt(data, n, i + 12))
  if (i + 16 < n) a4 = round(a4, wordAt(data, n, i + 16))
  if (i + 20 < n) a5 = round(a5, wordAt(data, n, i + 20))
  if (i + 24 < n) a6 = round(a6, wordAt(data, n, i + 24))
  if (i + 28 < n) a7 = round(a7, wordAt(data, n, i + 28))
  // Chain value over all lanes and the length: any lane difference changes it (w.h.p.).
  let h = fmix(seed ^ n)
  h = fmix(h ^ a0); h = fmix((h + a1) | 0); h = fmix(h ^ a2); h = fmix((h + a3) | 0)
  h = fmix(h ^ a4); h = fmix((h + a5) | 0); h = fmix(h ^ a6); h = fmix((h + a7) | 0)
  const out = new Uint8Array(32)
  put32(out, 0, fmix(h ^ a0))
  put32(out, 4, fmix((h + a1 + PRIME1) | 0))
  put32(out, 8, fmix(h ^ a2 ^ PRIME2))
  put32(out, 12, fmix((h + a3 + PRIME3) | 0))
  put32(out, 16, fmix(rotl(h, 7) ^ a4))
  put32(out, 20, fmix((rotl(h, 11) + a5) | 0))
  put32(out, 24, fmix(rotl(h, 17) ^ a6))
  put32(out, 28, fmix((rotl(h, 23) + a7) | 0))
  return out
}

// Reused buffer for framed inputs: V8 allocates typed arrays over 64 bytes outside its heap,
// which costs more than the hash (~0.5 µs). Overwritten by every use, never handed out.
let scratch = new Uint8Array(256)

/** Writes `a` and `b`, each after its 4-byte length, to `scratch` (so ("ab", "c") and
 *  ("a", "bc") differ) and hashes that under `seed`. */
function hashFramed(a: Uint8Array, b: Uint8Array, seed: number): Uint8Array {
  const length = 8 + a.length + b.length
  if (scratch.length < length) scratch = new Uint8Array(2 ** Math.ceil(Math.log2(length)))
  put32(scratch, 0, a.length)
  scratch.set(a, 4)
  put32(scratch, 4 + a.length, b.length)
  scratch.set(b, 8 + a.length)
  return hashPrefix(scratch, length, seed)
}

function publicKey(secretKey: Uint8Array): Uint8Array {
  if (secretKey.length !== 32) throw new Error(`insecure-test crypto: secret key must be 32 bytes, got ${secretKey.length}`)
  const h = fastHash32(secretKey, SEED_PK)
  const pk = new Uint8Array(33)
  pk[0] = 0x02 | (h[31]! & 1)
  pk.set(h, 1)
  return pk
}

/** The signature of `digest` for the key `publicKey`: computable from public data (see top). */
function signatureFor(digest: Uint8Array, pk: Uint8Array): Uint8Array {
  const lo = hashFramed(pk, digest, SEED_SIG_LO)
  const hi = hashFramed(pk, digest, SEED_SIG_HI)
  const sig = new Uint8Array(64)
  for (let i = 0; i < 32; i++) {
    sig[i] = lo[i]!
    sig[32 + i] = hi[i]!
  }
  return sig
}

/** TEST-ONLY, NOT SECURE (see the top of this file). Fast stand-in for `nobleCrypto` in the simulator. */
export const insecureTestCrypto: Crypto = {
  name: 'insecure-test',
  sha256: (data) => fastHash32(data, SEED_SHA),
  hmacSha256: (key, data) => hashFramed(key, data, SEED_HMAC),
  publicKey,
  sign: (digest, secretKey) => {
    if (digest.length !== 32) throw new Error(`insecure-test crypto: digest must be 32 bytes, got ${digest.length}`)
    return signatureFor(digest, publicKey(secretKey))
  },
  verify: (signature, digest, pk) => {
    if (signature.length !== 64 || digest.length !== 32 || pk.length !== 33) return false
    if (pk[0] !== (0x02 | (pk[32]! & 1))) return false // not a key publicKey() could make
    const expected = signatureFor(digest, pk)
    let diff = 0
    for (let i = 0; i < 64; i++) diff |= expected[i]! ^ signature[i]!
    return diff === 0
  },
}
