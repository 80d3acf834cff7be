// The two Crypto implementations are interchangeable: same hashes, same HMACs, each verifies the
// other's signatures, both refuse tampered or malformed input with `false`, never a throw.
// No timing here: speed is bench/'s business.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto, isValidSecretKey } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import { nodeCrypto, verifySha256, KEY_CACHE_ENTRIES_MAX } from '../runtime/node-crypto.ts'
import { fromHex, toHex } from '../core/bytes.ts'
import { signSeal, verifySeal } from '../core/ledger/format.ts'
import type { EntryHash, Pid, Seq, VolumeName } from '../core/types.ts'

const impls: readonly Crypto[] = [nobleCrypto, nodeCrypto]
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

const secretKey = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter(isValidSecretKey)
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 })
const data = fc.uint8Array({ maxLength: 4096 })

function scalar(x: bigint): Uint8Array {
  return fromHex(x.toString(16).padStart(64, '0'))!
}

/** The same signature with s replaced by n - s: valid for OpenSSL, malleable, refused by lowS. */
function highS(signature: Uint8Array): Uint8Array {
  const s = BigInt('0x' + toHex(signature.subarray(32)))
  const out = new Uint8Array(signature)
  out.set(scalar(N - s), 32)
  return out
}

describe('crypto: node and noble agree', () => {
  it('sha256 and hmacSha256 are byte-identical for random inputs', () => {
    fc.assert(
      fc.property(data, fc.uint8Array({ maxLength: 200 }), (bytes, key) => {
        expect(nodeCrypto.sha256(bytes)).toEqual(nobleCrypto.sha256(bytes))
        expect(nodeCrypto.hmacSha256(key, bytes)).toEqual(nobleCrypto.hmacSha256(key, bytes))
      }),
    )
  })

  it('sha256 of the empty string is the known vector', () => {
    for (const c of impls) {
      expect(toHex(c.sha256(new Uint8Array()))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    }
  })

  it('public keys and signatures are identical (deterministic RFC 6979, low-S)', () => {
    fc.assert(
      fc.property(secretKey, digest, (sk, d) => {
        expect(nodeCrypto.publicKey(sk)).toEqual(nobleCrypto.publicKey(sk))
        const sig = nodeCrypto.sign(d, sk)
        expect(sig).toEqual(nobleCrypto.sign(d, sk))
        expect(sig.length).toBe(64)
        expect(BigInt('0x' + toHex(sig.subarray(32))) <= N >> 1n).toBe(true)
      }),
      { numRuns: 50 },
    )
  })

  it('each implementation verifies the other one\'s signatures', () => {
    fc.assert(
      fc.property(secretKey, digest, (sk, d) => {
        const pub = nobleCrypto.publicKey(sk)
        for (const signer of impls) {
          const sig = signer.sign(d, sk)
          for (const verifier of impls) expect(verifier.verify(sig, d, pub)).toBe(true)
        }
      }),
      { numRuns: 30 },
    )
  })

  it('verifySha256 (OpenSSL) accepts exactly what noble accepts over sha256(message)', () => {
    fc.assert(
      fc.property(secretKey, data, fc.nat(), (sk, message, pick) => {
        const pub = nobleCrypto.publicKey(sk)
        const good = nobleCrypto.sign(nobleCrypto.sha256(message), sk)
        const flipped = new Uint8Array(good)
        flipped[pick % 64] = flipped[pick % 64]! ^ (1 << (pick % 8))
        const otherMessage = new Uint8Array([...message, pick & 0xff])
        const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
          [good, message, pub],
          [highS(good), message, pub],
          [flipped, message, pub],
          [good, otherMessage, pub],
          [good, message, nobleCrypto.publicKey(secretKeyOther(sk))],
        ]
        for (const [sig, msg, key] of cases) {
          expect(verifySha256(sig, msg, key)).toBe(nobleCrypto.verify(sig, nobleCrypto.sha256(msg), key))
        }
        expect(verifySha256(good, message, pub)).toBe(true)
        expect(verifySha256(highS(good), message, pub)).toBe(false)
      }),
      { numRuns: 30 },
    )
  })

  it('seals are checked alike through verifyMessage (nodeCrypto, OpenSSL) and verify (noble)', () => {
    expect(nodeCrypto.verifyMessage).toBeDefined()
    fc.assert(
      fc.property(secretKey, fc.integer({ min: 1, max: 1_000_000 }), digest, fc.nat(), (sk, seq, headBytes, pick) => {
        const author = toHex(nobleCrypto.publicKey(sk)) as Pid
        const head = toHex(headBytes) as EntryHash
        const seal = signSeal(nobleCrypto, sk, 'vol' as VolumeName, author, seq as Seq, head)
        const flipped = new Uint8Array(seal.sig)
        flipped[pick % 64] = flipped[pick % 64]! ^ (1 << (pick % 8))
        const variants = [seal, { ...seal, sig: highS(seal.sig) }, { ...seal, sig: flipped }, { ...seal, seq: (seq + 1) as Seq }]
        for (const v of variants) expect(verifySeal(nodeCrypto, v)).toBe(verifySeal(nobleCrypto, v))
        expect(verifySeal(nodeCrypto, seal)).toBe(true)
      }),
      { numRuns: 30 },
    )
  })
})

/** A different valid secret key, derived without randomness. */
function secretKeyOther(sk: Uint8Array): Uint8Array {
  const other = nobleCrypto.sha256(sk)
  return isValidSecretKey(other) ? other : nobleCrypto.sha256(other)
}

describe('crypto: both refuse bad input without throwing', () => {
  it('tampered digests and signatures do not verify', () => {
    fc.assert(
      fc.property(secretKey, digest, fc.nat({ max: 255 }), fc.integer({ min: 1, max: 255 }), (sk, d, at, xor) => {
        const pub = nobleCrypto.publicKey(sk)
        const sig = nobleCrypto.sign(d, sk)
        const badDigest = new Uint8Array(d)
        badDigest[at % 32] = badDigest[at % 32]! ^ xor
        const badSig = new Uint8Array(sig)
        badSig[at % 64] = badSig[at % 64]! ^ xor
        for (const c of impls) {
          expect(c.verify(sig, badDigest, pub)).toBe(false)
          expect(c.verify(badSig, d, pub)).toBe(false)
          expect(c.verify(highS(sig), d, pub)).toBe(false)
        }
      }),
      { numRuns: 30 },
    )
  })

  it('malformed keys, signatures and digests give false', () => {
    const sk = new Uint8Array(32).fill(7)
    const d = new Uint8Array(32).fill(9)
    const pub = nobleCrypto.publicKey(sk)
    const sig = nobleCrypto.sign(d, sk)
    const badKeys = [
      new Uint8Array(0),
      new Uint8Array(33),
      pub.subarray(0, 32),
      new Uint8Array([...pub, 0]),
      new Uint8Array([0x05, ...pub.subarray(1)]),
      // x = p - 1: no point of the curve has this x
      fromHex('02fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e')!,
    ]
    const badSigs = [new Uint8Array(0), sig.subarray(0, 63), new Uint8Array([...sig, 0]), new Uint8Array(64), new Uint8Array(64).fill(0xff), new Uint8Array([...scalar(N), ...sig.subarray(32)])]
    for (const c of impls) {
      for (const key of badKeys) expect(c.verify(sig, d, key)).toBe(false)
      for (const s of badSigs) expect(c.verify(s, d, pub)).toBe(false)
    }
    for (const key of badKeys) expect(verifySha256(sig, d, key)).toBe(false)
    for (const s of badSigs) expect(verifySha256(s, d, pub)).toBe(false)
  })

  it('verifySha256 stays correct past its key cache bound', () => {
    const keys = Array.from({ length: KEY_CACHE_ENTRIES_MAX + 10 }, (_, i) => {
      const sk = nobleCrypto.sha256(new Uint8Array([i & 0xff, i >> 8]))
      return { sk, pub: nobleCrypto.publicKey(sk) }
    })
    const message = new Uint8Array([1, 2, 3])
    const digestOfMessage = nobleCrypto.sha256(message)
    // Sign with the first few keys only: signing costs more than the cache walk we care about.
    const probes = [0, 1, 2, keys.length - 1].map((i) => ({ ...keys[i]!, sig: nobleCrypto.sign(digestOfMessage, keys[i]!.sk) }))
    for (const p of probes) expect(verifySha256(p.sig, message, p.pub)).toBe(true)
    // Fill the cache with every key (forged signatures: only the key lookup matters here).
    for (const k of keys) expect(verifySha256(probes[0]!.sig, message, k.pub)).toBe(k === keys[0])
    for (const p of probes) expect(verifySha256(p.sig, message, p.pub)).toBe(true)
    expect(verifySha256(probes[0]!.sig, message, probes[1]!.pub)).toBe(false)
  })
})
