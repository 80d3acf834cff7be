// Property tests of the ledger (spec/ledger.md): honest output never yields an equivocation
// (LEDGER-5), a twin author's conflicting history always does, with a proof (LEDGER-4).
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto as crypto } from '../core/crypto.ts'
import { toHex, utf8 } from '../core/bytes.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import {
  append,
  checkChainView,
  checkSeal,
  checkViewsAgree,
  cloneChainView,
  decodeProof,
  encodeProof,
  headerOnly,
  newChainView,
  newOwnChain,
  seal,
  validateBatch,
  verifyProof,
} from '../core/ledger/index.ts'
import type { ChainView, Entry, OwnChain, Seal } from '../core/ledger/index.ts'

const VOL = 'props' as VolumeName
const sk = crypto.sha256(utf8('ledger props key'))
const pid = toHex(crypto.publicKey(sk)) as Pid

interface History {
  entries: Entry[] // entries[i] is seq i+1
  seals: Seal[] // ascending
}

/** Grows `chain` by batches of the given sizes with payloads tagged `tag`. */
function grow(chain: OwnChain, sizes: number[], tag: string, into: History): OwnChain {
  let c = chain
  for (const n of sizes) {
    for (let i = 0; i < n; i++) {
      const r = append(crypto, c, utf8(`${tag}:${c.seq + 1}`))
      c = r.chain
      into.entries.push(r.entry)
    }
    const s = seal(crypto, sk, c)
    c = s.chain
    into.seals.push(s.seal)
  }
  return c
}

/** A delivery: the range [seal.seq - back, seal.seq] (clamped at 1) under the sealIdx-th seal. */
const delivery = fc.record({ sealIdx: fc.nat(), back: fc.nat({ max: 12 }) })

function batchFor(h: History, d: { sealIdx: number; back: number }): { entries: Entry[]; seal: Seal } {
  const s = h.seals[d.sealIdx % h.seals.length]!
  const first = Math.max(1, s.seq - d.back)
  return { entries: h.entries.slice(first - 1, s.seq), seal: s }
}

describe('ledger properties', () => {
  it('[LEDGER-5] an honest author’s output, delivered in any split with overlaps and relays, never yields an equivocation or a proof', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 }),
        fc.array(delivery, { minLength: 1, maxLength: 10 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { maxLength: 6 }),
        (sizes, deliveries, proofTries) => {
          const h: History = { entries: [], seals: [] }
          grow(newOwnChain(VOL, pid), sizes, 'h', h)
          let view = newChainView(VOL, pid)
          for (const d of deliveries) {
            const b = batchFor(h, d)
            const before = view.seq
            const r = validateBatch(crypto, view, b.entries, b.seal)
            const first = b.entries[0]!.seq
            if (first > before + 1) expect(r.ok ? 'ok' : r.rejection.code).toBe('gap')
            else if (b.seal.seq <= before) expect(r.ok ? 'ok' : r.rejection.code).toBe('replayed')
            else {
              expect(r.ok ? 'ok' : r.rejection.code).toBe('ok')
              if (r.ok) {
                expect(r.accepted.map((e) => e.seq)).toEqual(h.entries.slice(before, b.seal.seq).map((e) => e.seq))
                view = r.view
              }
            }
          }
          for (const s of h.seals) {
            expect(checkSeal(crypto, view, s)).toEqual({ ok: true, known: s.seq <= view.seq })
          }
          expect(checkChainView(crypto, view, h.entries.slice(0, view.seq))).toEqual([])
          // A relay passes on what it accepted (its stored entries, cut at its seals) to a fresh node.
          let relayed = newChainView(VOL, pid)
          let from = 1
          for (const s of view.seals) {
            const r = validateBatch(crypto, relayed, h.entries.slice(from - 1, s.seq), s)
            expect(r.ok).toBe(true)
            if (r.ok) relayed = r.view
            from = s.seq + 1
          }
          expect(relayed.head).toBe(view.head)
          expect(checkViewsAgree(view, relayed)).toEqual([])
          // No pair of honest seals and paths forms a proof.
          for (const [i, j, ci, cj] of proofTries) {
            const sa = h.seals[i % h.seals.length]!
            const sb = h.seals[j % h.seals.length]!
            const ca = 1 + (ci % sa.seq)
            const cb = 1 + (cj % sb.seq)
            const proof = {
              a: { seal: sa, path: h.entries.slice(ca - 1, sa.seq).map(headerOnly) },
              b: { seal: sb, path: h.entries.slice(cb - 1, sb.seq).map(headerOnly) },
            }
            expect(verifyProof(crypto, proof).ok).toBe(false)
            expect(verifyProof(crypto, { a: proof.a, b: { seal: sb, path: [] } }).ok).toBe(false)
          }
        },
      ),
      { numRuns: 30 },
    )
  })

  it('[LEDGER-4] a twin’s conflicting sealed history is always detected with a verifiable proof, and only then', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.nat(),
        fc.array(delivery, { minLength: 1, maxLength: 4 }),
        (common, tailA, tailB, acceptCount, deliveries) => {
          const shared: History = { entries: [], seals: [] }
          const base = common > 0 ? grow(newOwnChain(VOL, pid), [common], 'c', shared) : newOwnChain(VOL, pid)
          const a: History = { entries: shared.entries.slice(), seals: shared.seals.slice() }
          const b: History = { entries: shared.entries.slice(), seals: shared.seals.slice() }
          grow(base, tailA, 'A', a)
          grow(base, tailB, 'B', b)
          // The view accepted a prefix of A's batches.
          let view: ChainView = newChainView(VOL, pid)
          const n = 1 + (acceptCount % a.seals.length)
          let from = 1
          for (const s of a.seals.slice(0, n)) {
            const r = validateBatch(crypto, view, a.entries.slice(from - 1, s.seq), s)
            if (!r.ok) throw new Error(r.rejection.code)
            view = r.view
            from = s.seq + 1
          }
          const k = common // A and B agree exactly on seqs 1..k
          for (const d of deliveries) {
            const bt = batchFor(b, d)
            const first = bt.entries[0]!.seq
            const last = bt.seal.seq
            const r = validateBatch(crypto, cloneChainView(view), bt.entries, bt.seal)
            const code = r.ok ? 'ok' : r.rejection.code
            const lowest = Math.max(first - 1, 1, k + 1)
            if (first > view.seq + 1) expect(code).toBe('gap')
            else if (Math.min(last, view.seq) >= lowest) {
              expect(code).toBe('equivocation')
              if (!r.ok && r.rejection.code === 'equivocation') {
                expect(verifyProof(crypto, r.rejection.proof)).toEqual({ ok: true, volume: VOL, author: pid, seq: lowest })
                const dp = decodeProof(encodeProof(r.rejection.proof))
                expect(dp.ok && verifyProof(crypto, dp.value).ok).toBe(true)
              }
            } else if (last <= view.seq) expect(code).toBe('replayed')
            else expect(code).toBe('ok') // B extends what the view holds (view.seq <= k): no conflict yet
          }
          for (const s of b.seals) {
            const r = checkSeal(crypto, view, s)
            if (s.seq > view.seq) expect(r).toEqual({ ok: true, known: false })
            else if (s.seq <= k) expect(r).toEqual({ ok: true, known: true })
            else {
              expect(r.ok).toBe(false)
              if (!r.ok && r.rejection.code === 'equivocation') {
                expect(verifyProof(crypto, r.rejection.proof)).toEqual({ ok: true, volume: VOL, author: pid, seq: s.seq })
              } else throw new Error(`expected equivocation, got ${r.ok ? 'ok' : r.rejection.code}`)
            }
          }
          expect(checkChainView(crypto, view, undefined, { verifySignatures: false })).toEqual([])
        },
      ),
      { numRuns: 25 },
    )
  })
})
