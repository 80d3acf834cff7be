// A `Crypto` for the runtime host backed by node:crypto (OpenSSL), plus an OpenSSL verify of
// ECDSA over SHA-256 of a message. test/crypto.test.ts shows that it agrees with `nobleCrypto`.
//
// What goes to OpenSSL and what stays with noble, and why:
// - sha256, hmacSha256: OpenSSL (createHash/createHmac), byte-identical and ~10x faster on 64 KiB.
// - publicKey: noble; it runs once per key, not per message.
// - sign: noble. OpenSSL's ECDSA nonces are random, noble's are RFC 6979 deterministic; the
//   simulator replays a run bit for bit only if a key and a digest always give one signature.
// - verify(signature, digest, publicKey): noble. OpenSSL's one-shot ECDSA (`crypto.verify`)
//   always hashes its input (a null algorithm means SHA-256 for EC keys) and has no raw-digest
//   mode, so it cannot check a signature over a digest whose preimage it does not get.
// - verifySha256 = verifyMessage: OpenSSL (~8x faster than noble). It verifies a signature over
//   sha256(message) and accepts exactly what `nobleCrypto.verify(signature, sha256(message),
//   publicKey)` accepts; the ledger's seals sign sha256(message), so they are checked with it.
import { createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, verify as osslVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as secp from '@noble/secp256k1'
import { nobleCrypto } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import { TAG_BYTES, type Aead } from '../core/channel/index.ts'
import { toHex } from '../core/bytes.ts'

/** Order of the secp256k1 group; noble's `lowS` rejects s > n/2. */
const CURVE_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const HALF_N = CURVE_N >> 1n
const SIGNATURE_BYTES = 64

/** Bound on cached public KeyObjects: a volume has few members, a cache miss costs ~0.25 ms. */
export const KEY_CACHE_ENTRIES_MAX = 1024

const keyCache = new Map<string, KeyObject>()

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

function bigEndian(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + toHex(bytes))
}

/** The KeyObject for a public key, or undefined if noble would not accept the key. */
function publicKeyObject(publicKey: Uint8Array): KeyObject | undefined {
  const id = toHex(publicKey)
  const cached = keyCache.get(id)
  if (cached !== undefined) {
    // Re-insert to keep Map order least-recently-used first.
    keyCache.delete(id)
    keyCache.set(id, cached)
    return cached
  }
  let key: KeyObject
  try {
    // noble's own point decoder decides validity (33 or 65 bytes, on the curve, not infinity),
    // so the set of accepted keys is noble's. OpenSSL gets the uncompressed coordinates as JWK.
    const xy = secp.Point.fromBytes(publicKey).toBytes(false)
    key = createPublicKey({
      key: { kty: 'EC', crv: 'secp256k1', x: base64url(xy.subarray(1, 33)), y: base64url(xy.subarray(33, 65)) },
      format: 'jwk',
    })
  } catch {
    return undefined // invalid keys are not cached: a flood of them must not evict valid ones
  }
  if (keyCache.size >= KEY_CACHE_ENTRIES_MAX) {
    const oldest = keyCache.keys().next().value
    if (oldest !== undefined) keyCache.delete(oldest)
  }
  keyCache.set(id, key)
  return key
}

/**
 * True iff `signature` (64-byte r||s, low-S) is a valid ECDSA signature of sha256(message) by
 * `publicKey`. Never throws on peer input. Same acceptance set as noble with `lowS: true`:
 * OpenSSL accepts both s and n - s, so the high-S half is rejected here first.
 */
export function verifySha256(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false
  const r = bigEndian(signature.subarray(0, 32))
  const s = bigEndian(signature.subarray(32, 64))
  if (r === 0n || r >= CURVE_N || s === 0n || s > HALF_N) return false
  const key = publicKeyObject(publicKey)
  if (key === undefined) return false
  try {
    return osslVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature)
  } catch {
    return false
  }
}

export const nodeCrypto: Crypto = {
  name: 'node',
  sha256: (data) => new Uint8Array(createHash('sha256').update(data).digest()),
  hmacSha256: (key, data) => new Uint8Array(createHmac('sha256', key).update(data).digest()),
  publicKey: (secretKey) => nobleCrypto.publicKey(secretKey),
  sign: (digest, secretKey) => nobleCrypto.sign(digest, secretKey),
  verify: (signature, digest, publicKey) => nobleCrypto.verify(signature, digest, publicKey),
  verifyMessage: (signature, message, publicKey) => verifySha256(signature, message, publicKey),
}

/** OpenSSL is fed a frame in slices of this size (below glibc's 128 KiB mmap threshold,
 *  runtime/memory.ts): each `update` returns a fresh buffer, and one of a whole 1 MiB frame is
 *  mapped, faulted in and unmapped every time. Sliced, a 1 MiB seal+open took 1.3 ms instead of
 *  3.0 with the mount's malloc settings (bench/README.md "Encrypted channels"). */
export const AEAD_SLICE_BYTES = 64 * 1024

/** Runs `update` over `input` slice by slice, writing the output into `out` from `at`. */
function updateInto(c: { update(data: Uint8Array): Buffer }, input: Uint8Array, out: Uint8Array, at: number): number {
  for (let i = 0; i < input.length; i += AEAD_SLICE_BYTES) {
    const piece = c.update(input.subarray(i, Math.min(i + AEAD_SLICE_BYTES, input.length)))
    out.set(piece, at)
    at += piece.length
  }
  return at
}

/**
 * The channel's ChaCha20-Poly1305 (core/channel/cipher.ts `Aead`) through OpenSSL: the same
 * function as `nobleAead` (test/channel.test.ts checks both on the Noise vector and on random
 * inputs, and that both refuse the same tampered ones), 14x faster on 64 KiB frames (seal+open
 * 62 against 886 µs in a loop, bench/README.md "Encrypted channels"). The channels use it only
 * when the native binding below is not built: each call here costs ~6-8 µs of node:crypto set-up
 * (a cipher object, five calls into its binding, a fresh Buffer per update), ~4x the cipher on
 * a small frame, and that made the encrypted client/server mount 15-25 % slower.
 * The plaintext of a frame is returned only after OpenSSL has checked its tag; it is a buffer of
 * its own (the core may keep what it receives).
 */
export const nodeAead: Aead = {
  name: 'node',
  encrypt: (k, nonce, ad, plaintext, output) => {
    const c = createCipheriv('chacha20-poly1305', k, nonce, { authTagLength: TAG_BYTES })
    c.setAAD(ad, { plaintextLength: plaintext.length })
    const out = output ?? new Uint8Array(plaintext.length + TAG_BYTES)
    if (out.length !== plaintext.length + TAG_BYTES) throw new Error('assertion failed: AEAD output must be plaintext + tag long')
    let at = updateInto(c, plaintext, out, 0)
    const rest = c.final()
    out.set(rest, at)
    at += rest.length
    if (at !== plaintext.length) throw new Error('assertion failed: the cipher returned as many bytes as it was given')
    out.set(c.getAuthTag(), plaintext.length)
    return out
  },
  decrypt: (k, nonce, ad, ciphertext, output) => {
    if (ciphertext.length < TAG_BYTES) return undefined
    const length = ciphertext.length - TAG_BYTES
    if (output !== undefined && output.length !== length) throw new Error('assertion failed: AEAD output must be ciphertext - tag long')
    const d = createDecipheriv('chacha20-poly1305', k, nonce, { authTagLength: TAG_BYTES })
    d.setAAD(ad, { plaintextLength: length })
    d.setAuthTag(ciphertext.subarray(length))
    // In place is safe here: each slice's output is written over that slice after it was read.
    const out = output ?? new Uint8Array(length)
    const at = updateInto(d, ciphertext.subarray(0, length), out, 0)
    try {
      d.final()
    } catch {
      return undefined
    }
    if (at !== length) throw new Error('assertion failed: the cipher returned as many bytes as it was given')
    return out
  },
}

/** Where bin/build-native.sh puts the channel's cipher (runtime/native/aead). */
export const AEAD_ADDON = join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'aead', 'paciofs_aead.node')

interface AeadAddon {
  seal(k: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void
  open(k: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array, out: Uint8Array): boolean
  paciofs_aead_level: number
}

function loadAeadAddon(): AeadAddon | undefined {
  if (!existsSync(AEAD_ADDON)) return undefined
  try {
    const addon = createRequire(import.meta.url)(AEAD_ADDON) as AeadAddon
    return addon.paciofs_aead_level === 1 ? addon : undefined
  } catch {
    return undefined // e.g. built for another Node: the channels fall back to nodeAead
  }
}

const aeadAddon = loadAeadAddon()

/**
 * The same ChaCha20-Poly1305 through the OpenSSL inside Node, called directly from our binding
 * (runtime/native/aead/aead.c): one reused cipher context, the output written in place. ~3-4 µs
 * per small frame sealed and opened instead of ~16 through node:crypto (bench/aead-bench.ts),
 * which is most of what a round trip of the encrypted client/server mount cost over clear text
 * (bench/README.md, issue 12). test/channel.test.ts checks it against noble and nodeAead. The
 * plaintext is handed out only after OpenSSL has checked the tag.
 */
export const nativeAead: Aead | undefined = aeadAddon === undefined ? undefined : {
  name: 'native',
  encrypt: (k, nonce, ad, plaintext, output) => {
    const out = output ?? new Uint8Array(plaintext.length + TAG_BYTES)
    aeadAddon.seal(k, nonce, ad, plaintext, out)
    return out
  },
  decrypt: (k, nonce, ad, ciphertext, output) => {
    if (ciphertext.length < TAG_BYTES) return undefined
    // In place (output = ciphertext.subarray(0, length)) is OpenSSL's exact-alias case.
    const out = output ?? new Uint8Array(ciphertext.length - TAG_BYTES)
    return aeadAddon.open(k, nonce, ad, ciphertext, out) ? out : undefined
  },
}

/** What the runtime's channels seal with: the native binding when built, else node:crypto. */
export const channelAead: Aead = nativeAead ?? nodeAead
