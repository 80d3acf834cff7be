// The Noise SymmetricState (Noise spec rev 34, section 5.2) with SHA-256: the chaining key ck,
// the handshake hash h and a CipherState. Everything sent or received during the handshake is
// mixed into h, and h is the associated data of every handshake encryption, so a byte changed
// anywhere in the transcript (prologue included) makes the next decryption fail.
import { sha256 } from '@noble/hashes/sha2.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { concatBytes } from '../bytes.ts'
import { utf8 } from '../bytes.ts'
import { assert } from '../types.ts'
import { CipherState, nobleAead, type Aead } from './cipher.ts'

export const HASH_BYTES = 32

/** Noise's HKDF(ck, ikm, 2) is RFC 5869 HKDF-SHA256 with salt ck, empty info and 64 bytes of
 *  output: temp = HMAC(ck, ikm), out1 = HMAC(temp, 0x01), out2 = HMAC(temp, out1 || 0x02). */
export function hkdf2(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const out = hkdf(sha256, ikm, ck, undefined, 2 * HASH_BYTES)
  return [out.subarray(0, HASH_BYTES), out.subarray(HASH_BYTES)]
}

export class SymmetricState {
  private ck: Uint8Array
  private h: Uint8Array
  private readonly cipher: CipherState

  /** InitializeSymmetric: h = the name padded with zeros if it fits in 32 bytes, else its hash. */
  constructor(
    protocolName: string,
    private readonly aead: Aead = nobleAead,
  ) {
    this.cipher = new CipherState(undefined, aead)
    const name = utf8(protocolName)
    if (name.length <= HASH_BYTES) {
      this.h = new Uint8Array(HASH_BYTES)
      this.h.set(name)
    } else {
      this.h = sha256(name)
    }
    this.ck = this.h
  }

  /** The handshake hash: after the handshake, a value both sides share and nobody else can
   *  steer (spec 11.2 channel binding). */
  get handshakeHash(): Uint8Array {
    return this.h
  }

  hasKey(): boolean {
    return this.cipher.hasKey()
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf2(this.ck, ikm)
    this.ck = ck
    this.cipher.initializeKey(k)
  }

  mixHash(data: Uint8Array): void {
    this.h = sha256(concatBytes(this.h, data))
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.cipher.encryptWithAd(this.h, plaintext)
    this.mixHash(ciphertext)
    return ciphertext
  }

  /** undefined when the tag fails: the peer's message was changed, or its keys are not ours. */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array | undefined {
    const plaintext = this.cipher.decryptWithAd(this.h, ciphertext)
    if (plaintext === undefined) return undefined
    this.mixHash(ciphertext)
    return plaintext
  }

  /** Split: two CipherStates, the first for initiator -> responder, the second for the way back. */
  split(): [CipherState, CipherState] {
    assert(this.cipher.hasKey(), 'split before any DH was mixed in')
    const [k1, k2] = hkdf2(this.ck, new Uint8Array(0))
    return [new CipherState(k1, this.aead), new CipherState(k2, this.aead)]
  }
}
