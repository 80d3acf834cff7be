// The crypto interface of the core: hash, HMAC, sign, verify. The default implementation is
// pure JavaScript (@noble); a host may plug a faster implementation of the *same* functions
// (node:crypto's OpenSSL), and test/crypto.test.ts shows the two agree byte for byte.
import * as secp from '@noble/secp256k1'
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import { hmac } from '@noble/hashes/hmac.js'

secp.hashes.sha256 = (msg: Uint8Array) => nobleSha256(msg)
secp.hashes.hmacSha256 = (key: Uint8Array, msg: Uint8Array) => hmac(nobleSha256, key, msg)

export interface Crypto {
  /** A short name for traces and benchmarks, e.g. "noble" or "node". */
  readonly name: string
  sha256(data: Uint8Array): Uint8Array
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array
  /** 33-byte compressed secp256k1 public key of a 32-byte secret key. */
  publicKey(secretKey: Uint8Array): Uint8Array
  /** Deterministic (RFC 6979) low-S ECDSA over a 32-byte digest; 64-byte compact signature. */
  sign(digest: Uint8Array, secretKey: Uint8Array): Uint8Array
  /** False for any malformed key, signature or digest — never throws on peer input. */
  verify(signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean
  /** Optional, the same function as `verify(signature, sha256(message), publicKey)` (same
   *  acceptance set) for hosts whose fast verifier hashes its input itself (OpenSSL). */
  verifyMessage?(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean
}

export const nobleCrypto: Crypto = {
  name: 'noble',
  sha256: (data) => nobleSha256(data),
  hmacSha256: (key, data) => hmac(nobleSha256, key, data),
  publicKey: (secretKey) => secp.getPublicKey(secretKey, true),
  sign: (digest, secretKey) => secp.sign(digest, secretKey, { prehash: false, lowS: true }),
  verify: (signature, digest, publicKey) => {
    try {
      return secp.verify(signature, digest, publicKey, { prehash: false, lowS: true })
    } catch {
      return false
    }
  },
}

export function isValidSecretKey(secretKey: Uint8Array): boolean {
  return secretKey.length === 32 && secp.utils.isValidSecretKey(secretKey)
}
