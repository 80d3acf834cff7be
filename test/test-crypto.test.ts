// sim/test-crypto.ts: the TEST-ONLY fast Crypto of the simulator keeps the contract of the real
// one where the core depends on it — deterministic, right lengths, verify accepts exactly the
// signatures made for this (key, digest) and never throws, distinct inputs hash apart, public
// keys look like Pids — and a whole node runs on it. (It is forgeable by design: not tested.)
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { insecureTestCrypto as c } from '../sim/test-crypto.ts'
import { toHex } from '../core/bytes.ts'
import { isPid, type VolumeName } from '../core/types.ts'
import { createNode, nodeConfig, step, type NodeEffect } from '../core/node.ts'

const secretKey = fc.uint8Array({ minLength: 32, maxLength: 32 })
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 })
const data = fc.uint8Array({ maxLength: 300 })
const anyBytes = fc.uint8Array({ maxLength: 80 })

/** A reproducible pseudo-random buffer (xorshift32), so failures replay. */
function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed | 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x
  }
  return out
}

function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const out = new Uint8Array(b)
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}

describe('insecure-test crypto: the Crypto contract', () => {
  it('is named insecure-test', () => {
    expect(c.name).toBe('insecure-test')
  })

  it('is deterministic and gives 32-byte hashes, 33-byte keys, 64-byte signatures', () => {
    fc.assert(
      fc.property(data, data, secretKey, digest, (d, k, sk, dg) => {
        expect(c.sha256(d)).toHaveLength(32)
        expect(c.sha256(d)).toEqual(c.sha256(new Uint8Array(d)))
        expect(c.hmacSha256(k, d)).toHaveLength(32)
        expect(c.hmacSha256(k, d)).toEqual(c.hmacSha256(new Uint8Array(k), new Uint8Array(d)))
        expect(c.publicKey(sk)).toHaveLength(33)
        expect(c.publicKey(sk)).toEqual(c.publicKey(new Uint8Array(sk)))
        expect(c.sign(dg, sk)).toHaveLength(64)
        expect(c.sign(dg, sk)).toEqual(c.sign(new Uint8Array(dg), new Uint8Array(sk)))
      }),
    )
  })

  it('public keys are compressed-looking and their hex passes isPid', () => {
    fc.assert(
      fc.property(secretKey, (sk) => {
        const pk = c.publicKey(sk)
        expect([0x02, 0x03]).toContain(pk[0])
        expect(isPid(toHex(pk))).toBe(true)
      }),
    )
  })

  it('verify(sign(d, sk), d, publicKey(sk)) is true', () => {
    fc.assert(fc.property(secretKey, digest, (sk, d) => c.verify(c.sign(d, sk), d, c.publicKey(sk))))
  })

  it('verify is false for another digest, another key, and any single-bit flip of the signature or key', () => {
    fc.assert(
      fc.property(secretKey, secretKey, digest, digest, fc.nat(64 * 8 - 1), fc.nat(33 * 8 - 1), (sk, sk2, d, d2, sigBit, pkBit) => {
        const sig = c.sign(d, sk)
        const pk = c.publicKey(sk)
        if (toHex(d2) !== toHex(d)) expect(c.verify(sig, d2, pk)).toBe(false)
        if (toHex(sk2) !== toHex(sk)) expect(c.verify(sig, d, c.publicKey(sk2))).toBe(false)
        expect(c.verify(flipBit(sig, sigBit), d, pk)).toBe(false)
        expect(c.verify(sig, d, flipBit(pk, pkBit))).toBe(false)
      }),
    )
  })

  it('verify is false for wrong lengths of signature, digest or key', () => {
    fc.assert(
      fc.property(secretKey, digest, fc.integer({ min: -3, max: 3 }).filter((x) => x !== 0), (sk, d, delta) => {
        const sig = c.sign(d, sk)
        const pk = c.publicKey(sk)
        const resize = (b: Uint8Array): Uint8Array => (delta < 0 ? b.slice(0, b.length + delta) : Uint8Array.from([...b, ...new Uint8Array(delta)]))
        expect(c.verify(resize(sig), d, pk)).toBe(false)
        expect(c.verify(sig, resize(d), pk)).toBe(false)
        expect(c.verify(sig, d, resize(pk))).toBe(false)
      }),
    )
  })

  it('verify never throws on arbitrary byte arrays', () => {
    fc.assert(fc.property(anyBytes, anyBytes, anyBytes, (s, d, k) => typeof c.verify(s, d, k) === 'boolean'))
  })

  it('sha256 and hmac do not mistake one input for another: framing, keys and domains', () => {
    const ab = Uint8Array.of(1, 2), a = Uint8Array.of(1), b = Uint8Array.of(2)
    expect(c.hmacSha256(ab, b)).not.toEqual(c.hmacSha256(a, Uint8Array.of(2, 2)))
    expect(c.hmacSha256(a, new Uint8Array())).not.toEqual(c.hmacSha256(new Uint8Array(), a))
    expect(c.hmacSha256(a, b)).not.toEqual(c.sha256(b))
    // zero padding of the last word must not make trailing zeros disappear
    for (let n = 0; n < 70; n++) expect(c.sha256(new Uint8Array(n))).not.toEqual(c.sha256(new Uint8Array(n + 1)))
  })
})

describe('insecure-test crypto: distribution', () => {
  it('1e5 distinct random inputs of 0-300 bytes give 1e5 distinct hashes', () => {
    const seen = new Set<string>()
    const inputs = new Set<string>()
    for (let i = 0; i < 100_000; i++) {
      const input = bytes(i % 301, i * 2654435761)
      inputs.add(`${input.length}:${toHex(input)}`)
      seen.add(toHex(c.sha256(input)))
    }
    expect(seen.size).toBe(inputs.size)
  })

  it('all small edits of a buffer (bit flips, byte changes, insertions, deletions) hash apart', () => {
    for (const length of [1, 7, 31, 32, 33, 64, 65, 100, 257]) {
      const base = bytes(length, length)
      const edited = [base]
      for (let bit = 0; bit < length * 8; bit++) edited.push(flipBit(base, bit))
      for (let i = 0; i < length; i++) {
        const e = new Uint8Array(base)
        e[i] = base[i]! ^ 0xa5
        edited.push(e, Uint8Array.from([...base.subarray(0, i), ...base.subarray(i + 1)]))
      }
      for (let i = 0; i <= length; i++) edited.push(Uint8Array.from([...base.subarray(0, i), 0x5a, ...base.subarray(i)]))
      // some edits coincide (deleting either of two equal neighbours): count distinct inputs
      const inputs = new Set(edited.map(toHex))
      const hashes = new Set(edited.map((e) => toHex(c.sha256(e))))
      expect(hashes.size).toBe(inputs.size)
    }
  })

  it('a single-bit flip changes about half of the output bits (avalanche)', () => {
    let changed = 0, total = 0
    for (let t = 0; t < 2000; t++) {
      const input = bytes(1 + (t % 120), t + 1)
      const h1 = c.sha256(input)
      const h2 = c.sha256(flipBit(input, (t * 7919) % (input.length * 8)))
      for (let i = 0; i < 32; i++) {
        let x = h1[i]! ^ h2[i]!
        while (x) {
          changed += x & 1
          x >>= 1
        }
      }
      total += 256
    }
    expect(changed / total).toBeGreaterThan(0.48)
    expect(changed / total).toBeLessThan(0.52)
  })
})

describe('insecure-test crypto: the core runs on it', () => {
  it('a node creates a volume and a file and replies ok', () => {
    const sk = new Uint8Array(32)
    sk[31] = 1
    const config = nodeConfig(c, sk)
    let state = createNode(config)
    expect(isPid(state.me)).toBe(true)
    const replies = (effects: NodeEffect[]): unknown[] => effects.flatMap((e) => (e.type === 'reply' ? [e.result] : []))

    const v = 'v' as VolumeName
    const r1 = step(config, state, { type: 'request', now: 0, req: 1, request: { type: 'create-volume', name: v, policy: 'majority' } })
    state = r1.state
    expect(replies(r1.effects)).toMatchObject([{ ok: true }])

    const call = { type: 'create', path: '/a', mode: 0o644, cred: { uid: 0, gid: 0 }, time: { sec: 1, nsec: 0 } } as const
    const r2 = step(config, state, { type: 'request', now: 1, req: 2, request: { type: 'fs', volume: v, call } })
    expect(replies(r2.effects)).toMatchObject([{ ok: true }])
  })
})
