// The Noise CipherState (Noise spec rev 34, section 5.1) for ChaChaPoly: a 32-byte key k and a
// 64-bit counter nonce n. Every encryption uses n and then increments it, so the receiver, which
// counts the same way, rejects any frame that is not the next one the sender made (a replay, a
// reorder, a drop, an injection all meet the wrong nonce and fail the tag). spec/channel.md.
import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { assert } from '../types.ts'

export const KEY_BYTES = 32
export const TAG_BYTES = 16
/** Noise reserves n = 2^64 - 1 for REKEY; we stop far earlier, at the largest exact JS integer:
 *  2^53 frames at a million frames a second is 285 years, so this limit is never met in practice. */
export const NONCE_MAX = Number.MAX_SAFE_INTEGER

const ZEROS_32 = new Uint8Array(32)
const EMPTY = new Uint8Array(0)

/** ChaChaPoly's 96-bit nonce: 32 zero bits, then n as 64-bit little-endian (spec 12.3). */
export function nonceBytes(n: number): Uint8Array {
  const out = new Uint8Array(12)
  const view = new DataView(out.buffer)
  view.setUint32(4, n % 0x1_0000_0000, true)
  view.setUint32(8, Math.floor(n / 0x1_0000_0000), true)
  return out
}

/** The nonce Noise reserves for REKEY: 2^64 - 1, which no frame ever uses. */
const REKEY_NONCE = (() => {
  const out = new Uint8Array(12)
  out.fill(0xff, 4)
  return out
})()

/**
 * ChaCha20-Poly1305 (RFC 8439) as the channel uses it. The default is @noble/ciphers, pure
 * JavaScript like the rest of the core; a host may plug a faster implementation of the *same*
 * function, as it does for core/crypto.ts (runtime/node-crypto.ts `nodeAead`, OpenSSL, about 20x
 * faster on large frames), and test/channel.test.ts shows that the two agree byte for byte.
 */
export interface Aead {
  readonly name: string
  /** ciphertext || 16-byte tag; with `output` (exactly plaintext + tag long) written there, which
   *  saves the transport a copy per frame (it puts the length prefix in front of it). */
  encrypt(k: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array, output?: Uint8Array): Uint8Array
  /** undefined when the tag does not verify (or the input is shorter than a tag): never throws.
   *  With `output` (exactly ciphertext - tag long; it may be `ciphertext.subarray(0, length)`,
   *  which decrypts in place) the plaintext is written there and `output` returned; after a failed
   *  tag its bytes are garbage and must not be used. */
  decrypt(k: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ciphertext: Uint8Array, output?: Uint8Array): Uint8Array | undefined
}

export const nobleAead: Aead = {
  name: 'noble',
  encrypt: (k, nonce, ad, plaintext, output) => chacha20poly1305(k, nonce, ad).encrypt(plaintext, output),
  decrypt: (k, nonce, ad, ciphertext, output) => {
    if (ciphertext.length < TAG_BYTES) return undefined
    let plaintext: Uint8Array
    try {
      plaintext = chacha20poly1305(k, nonce, ad).decrypt(ciphertext)
    } catch {
      return undefined
    }
    if (output === undefined) return plaintext
    assert(output.length === plaintext.length, 'AEAD output must be ciphertext - tag long')
    output.set(plaintext)
    return output
  },
}

export class CipherState {
  private k: Uint8Array | undefined
  private n = 0

  constructor(
    k?: Uint8Array,
    private readonly aead: Aead = nobleAead,
  ) {
    if (k !== undefined) this.initializeKey(k)
  }

  initializeKey(k: Uint8Array): void {
    assert(k.length === KEY_BYTES, 'a CipherState key is 32 bytes')
    this.k = k
    this.n = 0
  }

  hasKey(): boolean {
    return this.k !== undefined
  }

  /** The nonce the next encryption or decryption will use (for tests and the rekey rule). */
  get nonce(): number {
    return this.n
  }

  /** Without a key (early in a handshake) Noise sends the plaintext as it is. */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array, output?: Uint8Array): Uint8Array {
    if (this.k === undefined) return plaintext
    assert(this.n < NONCE_MAX, 'channel nonce exhausted (2^53 frames): close the connection')
    const out = this.aead.encrypt(this.k, nonceBytes(this.n), ad, plaintext, output)
    this.n++
    return out
  }

  /** undefined on a failed tag; n advances only on success, as Noise says (a failed frame closes
   *  the connection anyway, so nothing relies on that). */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array, output?: Uint8Array): Uint8Array | undefined {
    if (this.k === undefined) return ciphertext
    assert(this.n < NONCE_MAX, 'channel nonce exhausted (2^53 frames): close the connection')
    const out = this.aead.decrypt(this.k, nonceBytes(this.n), ad, ciphertext, output)
    if (out !== undefined) this.n++
    return out
  }

  /** Noise REKEY(k): the first 32 bytes of ENCRYPT(k, 2^64 - 1, zerolen, zeros[32]). The nonce
   *  counter goes on (spec 11.3): rekeying replaces the key, not the order of frames. */
  rekey(): void {
    assert(this.k !== undefined, 'rekey needs a key')
    this.k = this.aead.encrypt(this.k, REKEY_NONCE, EMPTY, ZEROS_32).slice(0, KEY_BYTES)
  }

  /** The key itself, only for tests that check both sides derived the same one. */
  keyForTest(): Uint8Array | undefined {
    return this.k
  }
}
