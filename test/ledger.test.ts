// Unit tests of the ledger (spec/ledger.md): formats, typed rejections, exhaustive bit flips,
// equivocation proofs. Property tests are in test/ledger-props.test.ts.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto as crypto } from '../core/crypto.ts'
import { encode } from '../core/codec.ts'
import { toHex, utf8 } from '../core/bytes.ts'
import { ZERO_HASH } from '../core/types.ts'
import type { EntryHash, Pid, VolumeName } from '../core/types.ts'
import {
  append,
  checkChainView,
  checkProof,
  checkSeal,
  checkViewsAgree,
  cloneChainView,
  decodeEntry,
  decodeStoredEntry,
  decodeProof,
  decodeSeal,
  encodeEntry,
  encodeProof,
  encodeSeal,
  entryHash,
  headerOf,
  headerOnly,
  headerPreimage,
  headerPreimageViaCodec,
  newChainView,
  newOwnChain,
  seal,
  sealDigest,
  signSeal,
  validateBatch,
  verifyProof,
  verifySeal,
  HashList,
} from '../core/ledger/index.ts'
import type { ChainView, Entry, EntryHeader, EquivocationProof, LedgerRejectionCode, OwnChain, Seal } from '../core/ledger/index.ts'

const VOL = 'vol-1' as VolumeName
const VOL2 = 'vol-2' as VolumeName
const sk1 = crypto.sha256(utf8('ledger test key 1'))
const sk2 = crypto.sha256(utf8('ledger test key 2'))
const pid1 = toHex(crypto.publicKey(sk1)) as Pid
const pid2 = toHex(crypto.publicKey(sk2)) as Pid

interface Batch {
  entries: Entry[]
  seal: Seal
}

/** Appends `payloads` to `chain` and seals them as one batch. */
function batchOf(chain: OwnChain, payloads: string[], sk: Uint8Array = sk1): { chain: OwnChain; batch: Batch } {
  const entries: Entry[] = []
  let c = chain
  for (const p of payloads) {
    const r = append(crypto, c, utf8(p))
    c = r.chain
    entries.push(r.entry)
  }
  const s = seal(crypto, sk, c)
  return { chain: s.chain, batch: { entries, seal: s.seal } }
}

/** An honest chain of `sizes.length` batches; returns the batches and the final chain. */
function chainOf(sizes: number[], tag = 'p', volume = VOL, author = pid1, sk = sk1): { chain: OwnChain; batches: Batch[]; entries: Entry[] } {
  let chain = newOwnChain(volume, author)
  const batches: Batch[] = []
  let k = 0
  for (const n of sizes) {
    const r = batchOf(
      chain,
      Array.from({ length: n }, () => `${tag}${k++}`),
      sk,
    )
    chain = r.chain
    batches.push(r.batch)
  }
  return { chain, batches, entries: batches.flatMap((b) => b.entries) }
}

function accept(view: ChainView, b: Batch): ChainView {
  const r = validateBatch(crypto, view, b.entries, b.seal)
  if (!r.ok) throw new Error(`expected ok, got ${r.rejection.code}: ${r.rejection.detail}`)
  return r.view
}

function codeOf(r: { ok: true } | { ok: false; rejection: { code: LedgerRejectionCode } }): LedgerRejectionCode | 'ok' {
  return r.ok ? 'ok' : r.rejection.code
}

function viewOf(batches: Batch[], volume = VOL, author = pid1): ChainView {
  let v = newChainView(volume, author)
  for (const b of batches) v = accept(v, b)
  return v
}

describe('ledger formats', () => {
  it('[LEDGER-6] the hand-laid header preimage equals the canonical CBOR encoding', () => {
    const hex32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => toHex(b))
    const volume = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/)
    const seq = fc.oneof(
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 1, max: 0xffffffff }),
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      fc.constantFrom(23, 24, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER),
    )
    fc.assert(
      fc.property(volume, fc.constantFrom(pid1, pid2), seq, hex32, hex32, (vol, author, s, prev, ph) => {
        const h: EntryHeader = { volume: vol as VolumeName, author, seq: s, prev: prev as EntryHash, payloadHash: ph }
        expect(toHex(headerPreimage(h))).toBe(toHex(headerPreimageViaCodec(h)))
        expect(entryHash(crypto, h)).toBe(toHex(crypto.sha256(headerPreimageViaCodec(h))))
      }),
      { numRuns: 500 },
    )
  })

  it('[LEDGER-6] the seal digest is sha256 of the canonical seal array', () => {
    const head = entryHash(crypto, headerOf(crypto, { volume: VOL, author: pid1, seq: 1, prev: ZERO_HASH, payload: utf8('x') }))
    const expected = crypto.sha256(encode(['paciofs/seal/v1', VOL, crypto.publicKey(sk1), 7, crypto.sha256(utf8('never'))]))
    expect(toHex(sealDigest(crypto, VOL, pid1, 7, toHex(crypto.sha256(utf8('never'))) as EntryHash))).toBe(toHex(expected))
    const s = signSeal(crypto, sk1, VOL, pid1, 1, head)
    expect(s.sig.length).toBe(64)
    expect(verifySeal(crypto, s)).toBe(true)
    expect(verifySeal(crypto, { ...s, seq: 2 })).toBe(false)
    expect(verifySeal(crypto, { ...s, author: pid2 })).toBe(false)
  })

  it('[LEDGER-6] entries, seals and proofs round-trip through their canonical bytes', () => {
    const { batches } = chainOf([2, 3])
    for (const b of batches) {
      for (const e of b.entries) {
        const d = decodeEntry(encodeEntry(e))
        expect(d).toEqual({ ok: true, value: e })
      }
      expect(decodeSeal(encodeSeal(b.seal))).toEqual({ ok: true, value: b.seal })
    }
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.uint8Array({ maxLength: 300 }), (vol, s, payload) => {
        const h = headerOf(crypto, { volume: vol as VolumeName, author: pid2, seq: s, prev: ZERO_HASH, payload })
        const e: Entry = { ...h, payload }
        const bytes = encodeEntry(e)
        expect(decodeEntry(bytes)).toEqual({ ok: true, value: e })
        expect(toHex(encodeEntry((decodeEntry(bytes) as { value: Entry }).value))).toBe(toHex(bytes))
        // A store's own bytes: the same entry without the canonical re-check.
        expect(decodeStoredEntry(bytes)).toEqual({ ok: true, value: e })
      }),
      { numRuns: 200 },
    )
  })

  it('[LEDGER-6] decodeStoredEntry (a node\'s own store) rejects malformed, non-shortest and wrongly shaped bytes as decodeEntry does, never throws', () => {
    const { batches } = chainOf([1])
    const e = batches[0]!.entries[0]!
    const eb = encodeEntry(e)
    for (const bad of [new Uint8Array([...eb, 0]), eb.subarray(0, eb.length - 1), encodeSeal(batches[0]!.seal), new Uint8Array([0xff, 0x00]), new Uint8Array(0)]) {
      expect(decodeStoredEntry(bad)).toMatchObject({ ok: false })
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
      const d = decodeStoredEntry(junk)
      expect(typeof d.ok).toBe('boolean')
    }), { numRuns: 300 })
    const seqAt = 1 + 17 + 1 + VOL.length + 2 + 33
    const longSeq = new Uint8Array([...eb.subarray(0, seqAt), 0x18, 0x01, ...eb.subarray(seqAt + 1)])
    // cborg's strict decoding already refuses a non-shortest head; only key order and value kinds
    // are what the skipped re-encoding would add, and an entry has no map.
    expect(decodeEntry(longSeq)).toMatchObject({ ok: false })
    expect(decodeStoredEntry(longSeq)).toMatchObject({ ok: false })
  })

  it('[LEDGER-6] non-canonical and wrongly shaped bytes are rejected as malformed, never thrown', () => {
    const { batches } = chainOf([1])
    const e = batches[0]!.entries[0]!
    const s = batches[0]!.seal
    const eb = encodeEntry(e)
    // seq 1 is the byte 0x01 right after the 33-byte author; 0x18 0x01 is a non-shortest head.
    const seqAt = eb.indexOf(0x01, 1 + 17 + 1 + VOL.length + 2 + 33)
    expect(seqAt).toBe(1 + 17 + 1 + VOL.length + 2 + 33)
    const longSeq = new Uint8Array([...eb.subarray(0, seqAt), 0x18, 0x01, ...eb.subarray(seqAt + 1)])
    expect(decodeEntry(longSeq)).toMatchObject({ ok: false, rejection: { code: 'malformed' } })
    // Indefinite-length outer array.
    const indefinite = new Uint8Array([0x9f, ...eb.subarray(1), 0xff])
    expect(decodeEntry(indefinite)).toMatchObject({ ok: false, rejection: { code: 'malformed' } })
    // Trailing byte, truncation, wrong tag, wrong arity, a seal where an entry is expected.
    expect(decodeEntry(new Uint8Array([...eb, 0]))).toMatchObject({ ok: false })
    expect(decodeEntry(eb.subarray(0, eb.length - 1))).toMatchObject({ ok: false })
    expect(decodeEntry(encode(['paciofs/entry/v2', VOL, crypto.publicKey(sk1), 1, new Uint8Array(32), new Uint8Array(32), new Uint8Array()]))).toMatchObject({ ok: false })
    expect(decodeEntry(encode(['paciofs/entry/v1', VOL, crypto.publicKey(sk1), 1, new Uint8Array(32), new Uint8Array(32)]))).toMatchObject({ ok: false })
    expect(decodeEntry(encodeSeal(s))).toMatchObject({ ok: false })
    expect(decodeSeal(eb)).toMatchObject({ ok: false })
    expect(decodeEntry(encode(['paciofs/entry/v1', VOL, crypto.publicKey(sk1), 0, new Uint8Array(32), new Uint8Array(32), new Uint8Array()]))).toMatchObject({ ok: false })
    expect(decodeEntry(encode(['paciofs/entry/v1', 'bad volume!', crypto.publicKey(sk1), 1, new Uint8Array(32), new Uint8Array(32), new Uint8Array()]))).toMatchObject({ ok: false })
    expect(decodeEntry(encode(['paciofs/entry/v1', VOL, new Uint8Array(33).fill(4), 1, new Uint8Array(32), new Uint8Array(32), new Uint8Array()]))).toMatchObject({ ok: false })
    expect(decodeEntry(encodeEntry({ ...e, payload: new Uint8Array(10) }), { maxEntries: 1, maxPayloadBytes: 9 })).toMatchObject({ ok: false })
    expect(decodeSeal(encode(['paciofs/seal/v1', VOL, crypto.publicKey(sk1), 1, new Uint8Array(32), new Uint8Array(63)]))).toMatchObject({ ok: false })
    // Non-bytes input and random bytes never throw.
    expect(decodeEntry('nope' as unknown as Uint8Array)).toMatchObject({ ok: false })
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const r of [decodeEntry(bytes), decodeSeal(bytes), decodeProof(bytes)]) {
          if (!r.ok) expect(r.rejection.code).toBe('malformed')
        }
      }),
      { numRuns: 500 },
    )
  })
})

describe('ledger writer and reader', () => {
  it('[LEDGER-1] an honest batch is accepted, and the view passes checkChainView', () => {
    const { batches, entries } = chainOf([3, 1, 4])
    const v = viewOf(batches)
    expect(v.seq).toBe(8)
    expect(v.head).toBe(batches[2]!.seal.head)
    expect(v.seals.toArray().map((s) => s.seq)).toEqual([3, 4, 8])
    expect(checkChainView(crypto, v, entries)).toEqual([])
  })

  it('[LEDGER-1] append and seal do not mutate their input chain', () => {
    const c0 = newOwnChain(VOL, pid1)
    const r = append(crypto, c0, utf8('a'))
    expect(c0).toEqual(newOwnChain(VOL, pid1))
    expect(r.chain.seq).toBe(1)
    expect(r.entry.prev).toBe(ZERO_HASH)
    const s = seal(crypto, sk1, r.chain)
    expect(r.chain.sealedSeq).toBe(0)
    expect(s.chain.sealedSeq).toBe(1)
    expect(() => seal(crypto, sk1, s.chain)).toThrow(/assertion/)
  })

  it('[LEDGER-1] overlapping (relayed) ranges accept only the new tail', () => {
    const { batches, entries } = chainOf([3, 3])
    const v = viewOf([batches[0]!])
    // A relay sends seqs 2..6 under the seal at 6.
    const r = validateBatch(crypto, cloneChainView(v), entries.slice(1, 6), batches[1]!.seal)
    expect(r.ok).toBe(true)
    if (r.ok) {
      expect(r.accepted.map((e) => e.seq)).toEqual([4, 5, 6])
      expect(checkChainView(crypto, r.view, entries)).toEqual([])
    }
  })

  it('[LEDGER-2] a seal signed with another key is rejected as bad-signature', () => {
    const { batches } = chainOf([3])
    const b = batches[0]!
    const forged = signSeal(crypto, sk2, VOL, pid1, b.seal.seq, b.seal.head)
    expect(codeOf(validateBatch(crypto, newChainView(VOL, pid1), b.entries, forged))).toBe('bad-signature')
    expect(codeOf(checkSeal(crypto, newChainView(VOL, pid1), forged))).toBe('bad-signature')
    // Entries of a made-up history under a seal the forger signs with its own key.
    const fake = chainOf([3], 'fake', VOL, pid1, sk2).batches[0]!
    expect(codeOf(validateBatch(crypto, newChainView(VOL, pid1), fake.entries, fake.seal))).toBe('bad-signature')
  })

  it('[LEDGER-2] a tampered payload, header or head is rejected as tampered', () => {
    const b = chainOf([3]).batches[0]!
    const v = newChainView(VOL, pid1)
    const e = b.entries.slice()
    e[1] = { ...e[1]!, payload: utf8('changed') }
    expect(codeOf(validateBatch(crypto, v, e, b.seal))).toBe('tampered')
    const last = b.entries.slice()
    last[2] = { ...last[2]!, payload: utf8('changed') }
    last[2] = { ...last[2], payloadHash: toHex(crypto.sha256(last[2].payload)) }
    expect(codeOf(validateBatch(crypto, v, last, b.seal))).toBe('tampered')
    expect(codeOf(validateBatch(crypto, v, b.entries, { ...b.seal, head: b.entries[1]!.prev }))).toBe('tampered')
    expect(v).toEqual(newChainView(VOL, pid1)) // rejections never change the view
  })

  it('[LEDGER-1] broken link, gap, out-of-order, replay, unsealed tail, wrong chain: each has its code', () => {
    const { batches, entries } = chainOf([3, 3])
    const [b1, b2] = [batches[0]!, batches[1]!]
    const v0 = newChainView(VOL, pid1)
    // broken link: entry 2 points elsewhere (its own hash changes too, so the link check fires first)
    const broken = b1.entries.slice()
    broken[1] = { ...broken[1]!, prev: broken[0]!.payloadHash as EntryHash }
    expect(codeOf(validateBatch(crypto, v0, broken, b1.seal))).toBe('broken-link')
    // seq 1 must link to the zero hash
    const first = b1.entries.slice()
    first[0] = { ...first[0]!, prev: first[0]!.payloadHash as EntryHash }
    expect(codeOf(validateBatch(crypto, v0, first, b1.seal))).toBe('broken-link')
    // gap: seqs 4..6 on an empty view
    expect(codeOf(validateBatch(crypto, v0, b2.entries, b2.seal))).toBe('gap')
    // out of order
    expect(codeOf(validateBatch(crypto, v0, [b1.entries[0]!, b1.entries[2]!, b1.entries[1]!], b1.seal))).toBe('out-of-order')
    expect(codeOf(validateBatch(crypto, v0, [b1.entries[0]!, b1.entries[0]!, b1.entries[2]!], b1.seal))).toBe('out-of-order')
    // unsealed: the seal stops before the last entry, or lies beyond it
    expect(codeOf(validateBatch(crypto, v0, entries.slice(0, 4), b1.seal))).toBe('unsealed')
    expect(codeOf(validateBatch(crypto, v0, entries.slice(0, 2), b1.seal))).toBe('unsealed')
    // replay: the whole batch, and a sub-range under a later seal
    const v1 = viewOf([b1, b2])
    expect(codeOf(validateBatch(crypto, v1, b1.entries, b1.seal))).toBe('replayed')
    expect(codeOf(validateBatch(crypto, v1, entries.slice(2, 6), b2.seal))).toBe('replayed')
    // wrong chain: seal of another author or volume than the view; entries of another chain
    const other = chainOf([3], 'o', VOL, pid2, sk2).batches[0]!
    expect(codeOf(validateBatch(crypto, v0, other.entries, other.seal))).toBe('wrong-chain')
    const otherVol = chainOf([3], 'p', VOL2).batches[0]!
    expect(codeOf(validateBatch(crypto, v0, otherVol.entries, otherVol.seal))).toBe('wrong-chain')
    expect(codeOf(validateBatch(crypto, v0, otherVol.entries, b1.seal))).toBe('wrong-chain')
    expect(codeOf(checkSeal(crypto, v0, other.seal))).toBe('wrong-chain')
  })

  it('[LEDGER-1] malformed batches: empty, too many entries, too large payloads, junk; never thrown', () => {
    const b = chainOf([3]).batches[0]!
    const v = newChainView(VOL, pid1)
    expect(codeOf(validateBatch(crypto, v, [], b.seal))).toBe('malformed')
    expect(codeOf(validateBatch(crypto, v, b.entries, b.seal, { maxEntries: 2, maxPayloadBytes: 100 }))).toBe('malformed')
    expect(codeOf(validateBatch(crypto, v, b.entries, b.seal, { maxEntries: 10, maxPayloadBytes: 1 }))).toBe('malformed')
    expect(codeOf(validateBatch(crypto, v, b.entries, { ...b.seal, sig: b.seal.sig.subarray(1) }))).toBe('malformed')
    expect(codeOf(checkSeal(crypto, v, { ...b.seal, head: 'zz' as EntryHash }))).toBe('malformed')
    const junk = b.entries.slice()
    junk[1] = { ...junk[1]!, prev: junk[1]!.prev.toUpperCase() as EntryHash }
    expect(codeOf(validateBatch(crypto, v, junk, b.seal))).toBe('malformed')
    fc.assert(
      fc.property(fc.array(fc.anything(), { maxLength: 4 }), fc.anything(), (es, s) => {
        const r1 = validateBatch(crypto, v, es as Entry[], s as Seal)
        const r2 = validateBatch(crypto, v, es as Entry[], b.seal)
        const r3 = checkSeal(crypto, v, s as Seal)
        expect(r1.ok || r2.ok || r3.ok).toBe(false)
      }),
      { numRuns: 300 },
    )
    expect(codeOf(validateBatch(crypto, v, null as unknown as Entry[], b.seal))).toBe('malformed')
    expect(codeOf(validateBatch(crypto, v, [null as unknown as Entry], b.seal))).toBe('malformed')
  })

  it('[LEDGER-1] checkChainView reports a corrupted view', () => {
    const { batches, entries } = chainOf([2, 2])
    const v = viewOf(batches)
    const bad1 = cloneChainView(v)
    bad1.hashes.set(0, bad1.hashes.get(1)!)
    expect(checkChainView(crypto, bad1).map((x) => x.id)).toContain('LEDGER-1')
    const bad2 = cloneChainView(v)
    bad2.seals.rewriteForTest((s) => s.pop())
    expect(checkChainView(crypto, bad2, undefined, { verifySignatures: false }).length).toBeGreaterThan(0)
    const bad3 = cloneChainView(v)
    bad3.seals.rewriteForTest((s) => (s[0] = { ...s[0]!, sig: s[1]!.sig }))
    expect(checkChainView(crypto, bad3).length).toBeGreaterThan(0)
    const badEntries = entries.slice()
    badEntries[3] = { ...badEntries[3]!, payload: utf8('other') }
    expect(checkChainView(crypto, v, badEntries).length).toBeGreaterThan(0)
  })
})

describe('ledger bit flips', () => {
  /** Flips every bit of every encoded entry and of the encoded seal; each flip must be rejected
   *  by decode or by validateBatch against `view`. Returns the codes seen. */
  function flipAll(view: ChainView, b: Batch): Map<string, number> {
    const codes = new Map<string, number>()
    const count = (c: string): void => {
      codes.set(c, (codes.get(c) ?? 0) + 1)
    }
    const encodedEntries = b.entries.map(encodeEntry)
    const encodedSeal = encodeSeal(b.seal)
    const items = [...encodedEntries, encodedSeal]
    for (let item = 0; item < items.length; item++) {
      const bytes = items[item]!
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const flipped = bytes.slice()
        flipped[bit >> 3]! ^= 1 << (bit & 7)
        const isSeal = item === items.length - 1
        let entries = b.entries
        let s = b.seal
        if (isSeal) {
          const d = decodeSeal(flipped)
          if (!d.ok) {
            count(`decode:${d.rejection.code}`)
            continue
          }
          s = d.value
        } else {
          const d = decodeEntry(flipped)
          if (!d.ok) {
            count(`decode:${d.rejection.code}`)
            continue
          }
          entries = b.entries.slice()
          entries[item] = d.value
        }
        const r = validateBatch(crypto, view, entries, s)
        if (r.ok) throw new Error(`bit ${bit} of item ${item} flipped and the batch was accepted`)
        count(r.rejection.code)
      }
    }
    return codes
  }

  it('[LEDGER-3] every single-bit flip in a sealed batch is rejected (exhaustive, first batch and a follow-up batch)', () => {
    const { batches } = chainOf([3, 3])
    const first = flipAll(newChainView(VOL, pid1), batches[0]!)
    const v1 = viewOf([batches[0]!])
    const second = flipAll(v1, batches[1]!)
    expect(checkChainView(crypto, v1)).toEqual([]) // rejections left the view intact
    for (const codes of [first, second]) {
      expect(codes.has('equivocation')).toBe(false) // a flipped honest batch never frames its author
      for (const c of ['decode:malformed', 'bad-signature', 'tampered', 'broken-link', 'wrong-chain']) expect(codes.has(c), c).toBe(true)
    }
  })
})

describe('ledger equivocation', () => {
  /** Two histories of pid1 that agree on seqs 1..k and differ from k+1 on. */
  function twins(common: number, tailA: number[], tailB: number[]): { a: Batch[]; b: Batch[] } {
    let chain = newOwnChain(VOL, pid1)
    const shared: Batch[] = []
    if (common > 0) {
      const r = batchOf(chain, Array.from({ length: common }, (_, i) => `c${i}`))
      chain = r.chain
      shared.push(r.batch)
    }
    const grow = (tag: string, sizes: number[]): Batch[] => {
      let c = chain
      const out = shared.slice()
      let k = 0
      for (const n of sizes) {
        const r = batchOf(c, Array.from({ length: n }, () => `${tag}${k++}`))
        c = r.chain
        out.push(r.batch)
      }
      return out
    }
    return { a: grow('A', tailA), b: grow('B', tailB) }
  }

  function expectProof(r: { ok: boolean; rejection?: { code: string; proof?: EquivocationProof } }, seq: number): EquivocationProof {
    expect(r.ok).toBe(false)
    expect(r.rejection?.code).toBe('equivocation')
    const proof = r.rejection!.proof!
    expect(verifyProof(crypto, proof)).toEqual({ ok: true, volume: VOL, author: pid1, seq })
    const d = decodeProof(encodeProof(proof))
    expect(d.ok).toBe(true)
    if (d.ok) {
      expect(d.value).toEqual(proof)
      expect(verifyProof(crypto, d.value)).toEqual({ ok: true, volume: VOL, author: pid1, seq })
    }
    expect(checkProof(crypto, proof, new Set([pid2]))).toEqual([])
    expect(checkProof(crypto, proof, new Set([pid1])).map((v) => v.id)).toEqual(['LEDGER-5'])
    return proof
  }

  it('[LEDGER-4] an overlapping batch of a second history yields a verifiable proof (validateBatch)', () => {
    const { a, b } = twins(2, [2], [3])
    const v = viewOf(a) // seqs 1..4 of history A
    const all = b.flatMap((x) => x.entries)
    // B's seqs 1..5 under B's seal at 5: differs at seq 3.
    expectProof(validateBatch(crypto, v, all, b[1]!.seal), 3)
    // B's seqs 4..5 only: differs at seq 4 (its header) and seq 3 (through its prev): proof at 3.
    expectProof(validateBatch(crypto, v, all.slice(3), b[1]!.seal), 3)
    // The view is unchanged by the rejections.
    expect(checkChainView(crypto, v)).toEqual([])
    expect(v.seq).toBe(4)
  })

  it('[LEDGER-4] a batch continuing a different head at view.seq+1 yields a proof through its prev', () => {
    const { a, b } = twins(1, [2], [2, 2])
    const v = viewOf(a) // 1..3 of A
    const next = b[2]! // seqs 4..5 of B, whose seq 3 differs from A's
    expectProof(validateBatch(crypto, v, next.entries, next.seal), 3)
  })

  it('[LEDGER-4] a conflict inside an earlier accepted batch builds the path up to that batch’s seal', () => {
    const { a, b } = twins(1, [3, 2], [5])
    const v = viewOf(a) // 1 | 2..4 | 5..6
    const proof = expectProof(validateBatch(crypto, v, b[1]!.entries, b[1]!.seal), 2)
    expect(proof.a.seal.seq).toBe(4)
    expect(proof.a.path.map((h) => h.seq)).toEqual([2, 3, 4])
  })

  it('[LEDGER-4] checkSeal: a lone seal that contradicts accepted history yields a proof', () => {
    const { a, b } = twins(2, [2], [1, 1])
    const v = viewOf(a)
    expectProof(checkSeal(crypto, v, b[1]!.seal), 3)
    expectProof(checkSeal(crypto, v, b[2]!.seal), 4)
    expect(checkSeal(crypto, v, a[1]!.seal)).toEqual({ ok: true, known: true })
    const later = batchOf(newOwnChain(VOL, pid1), ['x', 'y', 'z', 'w', 'v']).batch.seal
    expect(checkSeal(crypto, v, later)).toEqual({ ok: true, known: false })
  })

  it('[LEDGER-4] manipulated proofs are rejected (every bit flip of the encoded proof, and structural edits)', () => {
    const { a, b } = twins(1, [2], [1])
    const v = viewOf(a)
    const r = validateBatch(crypto, v, b[1]!.entries, b[1]!.seal)
    const proof = expectProof(r, 2)
    const bytes = encodeProof(proof)
    let rejectedByDecode = 0
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = bytes.slice()
      flipped[bit >> 3]! ^= 1 << (bit & 7)
      const d = decodeProof(flipped)
      if (!d.ok) {
        rejectedByDecode++
        continue
      }
      const res = verifyProof(crypto, d.value)
      if (res.ok) throw new Error(`bit ${bit} flipped and the proof still verified`)
    }
    expect(rejectedByDecode).toBeGreaterThan(0)
    const bad: EquivocationProof[] = [
      { a: proof.a, b: proof.a }, // one history twice
      { a: proof.b, b: proof.b },
      { a: { seal: proof.a.seal, path: proof.a.path.slice(0, -1) }, b: proof.b }, // path stops short of the seal
      { a: proof.a, b: { ...proof.b, path: proof.b.path.map((h) => ({ ...h, seq: h.seq + 1 })) } },
      { a: proof.a, b: { ...proof.b, path: proof.b.path.map((h) => ({ ...h, volume: VOL2 })) } },
      { a: proof.a, b: { seal: signSeal(crypto, sk2, VOL, pid1, proof.b.seal.seq, proof.b.seal.head), path: proof.b.path } },
      { a: proof.a, b: { seal: { ...proof.b.seal, author: pid2 }, path: proof.b.path.map((h) => ({ ...h, author: pid2 })) } },
      { a: proof.a, b: { seal: proof.b.seal, path: [{ ...proof.b.path[0]!, payloadHash: proof.a.path[0]!.payloadHash }, ...proof.b.path.slice(1)] } },
      { a: proof.a, b: { seal: proof.b.seal, path: 'x' as unknown as EntryHeader[] } },
      null as unknown as EquivocationProof,
      { a: proof.a } as unknown as EquivocationProof,
    ]
    bad.forEach((p, i) => expect(verifyProof(crypto, p).ok, `bad proof ${i}`).toBe(false))
    // Two seals of different authors' honest chains are no proof either.
    const other = chainOf([2], 'o', VOL, pid2, sk2).batches[0]!
    expect(verifyProof(crypto, { a: proof.a, b: { seal: other.seal, path: other.entries.map(headerOnly) } }).ok).toBe(false)
    // Limits: a path longer than maxEntries is rejected.
    expect(verifyProof(crypto, proof, { maxEntries: 1, maxPayloadBytes: 1 }).ok).toBe(false)
  })

  it('[LEDGER-5] an honest author’s seals and paths never form a proof', () => {
    const { batches, entries } = chainOf([2, 3, 1])
    const v = viewOf(batches)
    const sides = batches.flatMap((bt) => {
      const upto = bt.seal.seq
      const out: { seal: Seal; path: EntryHeader[] }[] = [{ seal: bt.seal, path: [] }]
      for (let c = 1; c <= upto; c++) out.push({ seal: bt.seal, path: entries.slice(c - 1, upto).map(headerOnly) })
      return out
    })
    for (const x of sides) for (const y of sides) expect(verifyProof(crypto, { a: x, b: y }).ok).toBe(false)
    expect(checkViewsAgree(v, viewOf(batches.slice(0, 2)))).toEqual([])
    const { a: ha, b: hb } = twins(1, [1], [1])
    expect(checkViewsAgree(viewOf(ha), viewOf(hb)).map((x) => x.id)).toEqual(['LEDGER-5'])
  })
})

describe('HashList (a view\'s packed entry hashes)', () => {
  it('behaves like an array of hex hashes under push, get, set and slice', () => {
    const hex = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => toHex(b))
    fc.assert(fc.property(fc.array(hex, { maxLength: 80 }), fc.integer({ min: -3, max: 90 }), fc.integer({ min: -3, max: 90 }), hex, (items, a, b, other) => {
      const list = HashList.empty()
      const model: string[] = []
      for (const h of items) {
        list.push(h)
        model.push(h)
      }
      expect(list.length).toBe(model.length)
      for (let i = -2; i <= model.length + 1; i++) expect(list.get(i)).toBe(i >= 0 ? model[i] : undefined)
      const s = list.slice(Math.max(0, a), Math.max(0, b))
      expect(s.toArray()).toEqual(model.slice(Math.max(0, a), Math.max(0, b)))
      if (model.length > 0) {
        const i = Math.abs(a) % model.length
        s.push(other) // a slice is a copy: the list is unchanged
        list.set(i, other)
        model[i] = other
        expect(list.toArray()).toEqual(model)
        expect(JSON.stringify(list)).toBe(JSON.stringify(model))
      }
      expect(() => list.push('not hex')).toThrow()
    }), { numRuns: 200 })
  })

  it('is(i, hex) answers get(i) === hex, in memory and below a backed base (read once while cached)', () => {
    const hex = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => toHex(b))
    fc.assert(fc.property(fc.array(hex, { minLength: 1, maxLength: 40 }), fc.nat({ max: 40 }), fc.array(hex, { maxLength: 10 }), (below, pick, probes) => {
      let reads = 0
      const list = HashList.backed({ count: below.length, read: (i) => (reads++, below[i]!) })
      for (const h of probes) list.push(h)
      const all = [...below, ...probes]
      for (let i = -1; i <= all.length; i++) {
        for (const h of [all[i] ?? ZERO_HASH, all[pick % all.length]!, ZERO_HASH, 'x', all[0]!.toUpperCase()]) expect(list.is(i, h)).toBe(list.get(i) === h)
      }
      const before = reads
      list.get(0)
      list.is(0, all[0]!)
      expect(reads).toBe(before) // index 0 was read already, and few enough are cached
    }), { numRuns: 200 })
  })
})
