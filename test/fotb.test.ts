// fotb (spec/fotb.md) driven through a node's pure reducer (core/node.ts `step`) with hand-built
// messages, and through the in-process Cluster for equivocation. Every rejection path is fed to
// the reducer: it must be counted under its code, never throw, never persist rejected entries and
// never change the accepted chain.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto as crypto } from '../core/crypto.ts'
import { decode, encode, type Value } from '../core/codec.ts'
import { toHex } from '../core/bytes.ts'
import { createNode, nodeConfig, pidOf, type NodeConfig, type NodeEffect, type NodeState } from '../core/node.ts'
import * as fotb from '../core/fotb/index.ts'
import { encodeFotbMessage, parseFotbMessage, quorum, type FotbMessage } from '../core/fotb/index.ts'
import { Out } from '../core/effects.ts'
import { MemoryStorage } from '../core/storage.ts'
import { performStep } from './support/nodes.ts'
import { append, decodeEntry, encodeEntry, encodeSeal, newOwnChain, seal, signSeal, type Entry, type OwnChain, type Seal } from '../core/ledger/index.ts'
import { DEFAULT_VOLUME_PARAMS, encodePayload, membersOf, type Genesis } from '../core/volume/index.ts'
import { Cluster } from '../sim/cluster.ts'
import { InvariantChecker } from '../sim/invariants.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import type { NodeReply } from '../core/node.ts'
import type { EntryHash, Pid, Seq, VolumeName } from '../core/types.ts'

const VOL = 'vol' as VolumeName
const cred = { uid: 1000, gid: 1000 }

function key(i: number): Uint8Array {
  const k = new Uint8Array(32)
  k[31] = i
  return k
}

const SK_A = key(1)
const SK_B = key(2)
const SK_EVE = key(7)
const PID_B = pidOf(crypto, SK_B)

/** A fresh node A that founded VOL (policy majority) and is its only member. */
function founder(): { config: NodeConfig; state: NodeState; me: Pid } {
  const config = nodeConfig(crypto, SK_A)
  let state = createNode(config)
  const r = performStep(config, state, { type: 'request', now: 0, req: 1, request: { type: 'create-volume', name: VOL, policy: 'majority' } })
  state = r.state
  return { config, state, me: state.me }
}

interface Batch {
  entries: Entry[]
  seal: Seal
}

/** Appends payloads to B's chain and seals them as one batch (signed with `signer`). */
function batchOf(chain: OwnChain, payloads: Uint8Array[], signer: Uint8Array = SK_B): { chain: OwnChain; batch: Batch } {
  const entries: Entry[] = []
  let c = chain
  for (const p of payloads) {
    const r = append(crypto, c, p)
    c = r.chain
    entries.push(r.entry)
  }
  // Sign explicitly: `seal` signs with the key given, whatever the chain's author.
  const s = seal(crypto, signer, c)
  return { chain: s.chain, batch: { entries, seal: s.seal } }
}

/** Harmless payloads: decodable ledger payloads the volume layer just counts (not a volume payload). */
const note = (i: number): Uint8Array => encode(['note', i])

function batchBytes(b: Batch, volume: VolumeName = VOL): Uint8Array {
  return encodeFotbMessage(volume, { type: 'batch', entries: b.entries, seal: b.seal })
}

/** B's chain as six entries in three sealed batches: [1,2], [3,4], [5,6]. */
function chainOfB(): Batch[] {
  let chain = newOwnChain(VOL, PID_B)
  const out: Batch[] = []
  for (let k = 0; k < 3; k++) {
    const r = batchOf(chain, [note(2 * k + 1), note(2 * k + 2)])
    chain = r.chain
    out.push(r.batch)
  }
  return out
}
const B_BATCHES = chainOfB()

function receive(config: NodeConfig, state: NodeState, from: Pid, bytes: Uint8Array, now = 100): NodeEffect[] {
  return performStep(config, state, { type: 'receive', now, from, bytes }).effects
}

function chainSnapshot(state: NodeState, author: Pid): string {
  const log = state.volumes.get(VOL)!.fotb.chains.get(author)
  if (!log) return 'none'
  return JSON.stringify({ seq: log.view.seq, head: log.view.head, hashes: log.view.hashes, seals: log.view.seals.toArray().length })
}

function persistedKinds(effects: NodeEffect[]): string[] {
  const kinds: string[] = []
  for (const e of effects) if (e.type === 'persist') for (const r of e.records) kinds.push(String((r as Value[])[0]))
  return kinds
}

function deliveredSeqs(effects: NodeEffect[], author: Pid): Seq[] {
  const seqs: Seq[] = []
  for (const e of effects) {
    if (e.type !== 'deliver') continue
    const up = e.up
    if (up.type === 'entries' && up.author === author) up.hashes.forEach((_, i) => seqs.push(up.from + i))
  }
  return seqs
}

const fotbStat = (s: NodeState, k: string): number => s.volumes.get(VOL)!.fotb.stats.get(k) ?? 0
const nodeStat = (s: NodeState, k: string): number => s.stats.get(k) ?? 0

// ---------------------------------------------------------------------------------------------

describe('[FOTB-7] rejections are counted by code and change nothing', () => {
  /** Feeds `bytes` to a node that already accepted B's first batch; checks the common rules and
   *  returns the effects and state for code-specific checks. */
  function reject(bytes: Uint8Array): { effects: NodeEffect[]; state: NodeState } {
    const { config, state } = founder()
    const first = receive(config, state, PID_B, batchBytes(B_BATCHES[0]!))
    expect(deliveredSeqs(first, PID_B)).toEqual([1, 2])
    const before = chainSnapshot(state, PID_B)
    const delivered = state.volumes.get(VOL)!.fotb.delivered.get(PID_B)
    let effects: NodeEffect[] = []
    expect(() => {
      effects = receive(config, state, PID_B, bytes)
    }).not.toThrow()
    expect(chainSnapshot(state, PID_B)).toBe(before)
    expect(state.volumes.get(VOL)!.fotb.delivered.get(PID_B)).toBe(delivered)
    const kinds = persistedKinds(effects)
    expect(kinds).not.toContain('entry')
    expect(kinds).not.toContain('seal')
    expect(kinds).not.toContain('delivered')
    expect(deliveredSeqs(effects, PID_B)).toEqual([])
    return { effects, state }
  }

  it('[FOTB-7] bytes that are no CBOR are counted as malformed by the node', () => {
    const { state } = reject(new Uint8Array([0xff, 0x00, 0x13, 0x37]))
    expect(nodeStat(state, 'reject:malformed')).toBe(1)
  })

  it('[FOTB-7] a message of an unknown family is counted as an unknown tag', () => {
    const { state } = reject(encode(['gossip/hello', VOL, new Uint8Array(3)]))
    expect(nodeStat(state, 'reject:unknown-tag')).toBe(1)
  })

  it('[FOTB-7] an unknown fotb tag is counted as malformed by the volume\'s fotb', () => {
    const { state } = reject(encode(['fotb/shout', VOL, new Uint8Array(3)]))
    expect(fotbStat(state, 'reject:malformed')).toBe(1)
  })

  it('[FOTB-7] a message for a volume the node does not hold is counted', () => {
    const { state } = reject(batchBytes(B_BATCHES[1]!, 'other' as VolumeName))
    expect(nodeStat(state, 'reject:unknown-volume')).toBe(1)
  })

  it('[FOTB-7] a batch of more than maxBatchEntries entries is malformed, not partially applied', () => {
    const max = DEFAULT_VOLUME_PARAMS.fotb.maxBatchEntries
    // The continuation of B's chain at seq 3.., one entry too many, validly sealed.
    let chain: OwnChain = { volume: VOL, author: PID_B, seq: 2, head: B_BATCHES[0]!.seal.head, sealedSeq: 2 }
    const payloads = Array.from({ length: max + 1 }, (_, i) => note(1000 + i))
    const big = batchOf(chain, payloads).batch
    const { state } = reject(batchBytes(big))
    expect(fotbStat(state, 'reject:malformed')).toBe(1)
    // Control: the same chain cut at max entries is accepted.
    chain = { volume: VOL, author: PID_B, seq: 2, head: B_BATCHES[0]!.seal.head, sealedSeq: 2 }
    const ok = batchOf(chain, payloads.slice(0, max)).batch
    const f = founder()
    receive(f.config, f.state, PID_B, batchBytes(B_BATCHES[0]!))
    receive(f.config, f.state, PID_B, batchBytes(ok))
    expect(f.state.volumes.get(VOL)!.fotb.chains.get(PID_B)!.view.seq).toBe(2 + max)
  })

  it('[FOTB-7] a batch whose seal is not at its last entry is counted as unsealed', () => {
    const b = B_BATCHES[1]!
    const { state } = reject(batchBytes({ entries: b.entries.slice(0, 1), seal: b.seal }))
    expect(fotbStat(state, 'reject:unsealed')).toBe(1)
  })

  it('[FOTB-7] a seal signed by another key (forged signature) is counted as bad-signature', () => {
    const b = B_BATCHES[1]!
    const forged = signSeal(crypto, SK_EVE, VOL, PID_B, b.seal.seq, b.seal.head)
    const { state } = reject(batchBytes({ entries: b.entries, seal: forged }))
    expect(fotbStat(state, 'reject:bad-signature')).toBe(1)
  })

  it('[FOTB-7] a seal with a flipped signature byte is counted as bad-signature', () => {
    const b = B_BATCHES[1]!
    const sig = b.seal.sig.slice()
    sig[10]! ^= 0x40
    const { state } = reject(batchBytes({ entries: b.entries, seal: { ...b.seal, sig } }))
    expect(fotbStat(state, 'reject:bad-signature')).toBe(1)
  })

  it('[FOTB-7] a tampered payload (its hash no longer matches) is counted as tampered', () => {
    const b = B_BATCHES[1]!
    const e = b.entries[0]!
    const payload = note(9999)
    const { state } = reject(batchBytes({ entries: [{ ...e, payload }, b.entries[1]!], seal: b.seal }))
    expect(fotbStat(state, 'reject:tampered')).toBe(1)
  })

  it('[FOTB-7] an entry re-hashed after tampering breaks the link or the seal\'s head', () => {
    const b = B_BATCHES[1]!
    const e = b.entries[1]!
    const payload = note(4242)
    const payloadHash = toHex(crypto.sha256(payload))
    const { state } = reject(batchBytes({ entries: [b.entries[0]!, { ...e, payload, payloadHash }], seal: b.seal }))
    expect(fotbStat(state, 'reject:tampered')).toBe(1)
  })

  it('[FOTB-7] a batch beyond the accepted head is a gap: counted, and the range is fetched', () => {
    const { state, effects } = reject(batchBytes(B_BATCHES[2]!))
    expect(fotbStat(state, 'reject:gap')).toBe(1)
    const fetches = effects.filter((e) => e.type === 'send').map((e) => decode((e as { bytes: Uint8Array }).bytes) as Value[]).filter((m) => m[0] === 'fotb/fetch')
    expect(fetches.length).toBe(1)
    expect(fetches[0]!.slice(3)).toEqual([3, 6])
  })

  it('[FOTB-7] a replayed batch is counted as replayed', () => {
    const { state } = reject(batchBytes(B_BATCHES[0]!))
    expect(fotbStat(state, 'reject:replayed')).toBe(1)
  })

  it('[FOTB-7] a batch whose seal names another volume is counted', () => {
    const b = B_BATCHES[1]!
    const other = 'other' as VolumeName
    const s = signSeal(crypto, SK_B, other, PID_B, b.seal.seq, b.seal.head)
    const { state } = reject(batchBytes({ entries: b.entries, seal: s }))
    expect(fotbStat(state, 'reject:wrong-chain')).toBe(1)
  })

  it('[FOTB-7] malformed HEADS, FETCH and PROOF messages are counted as malformed', () => {
    const f = founder()
    for (const bytes of [
      encode(['fotb/heads', VOL, [[new Uint8Array(33), 1, new Uint8Array(32)]]]),
      encode(['fotb/heads', VOL, 'not a list']),
      encode(['fotb/fetch', VOL, new Uint8Array(33), 5, 2]),
      encode(['fotb/fetch', VOL, new Uint8Array(33)]),
      encode(['fotb/proof', VOL, new Uint8Array([1, 2, 3])]),
      encode(['fotb/batch', VOL, [], new Uint8Array(0)]),
      encode(['fotb/batch', VOL, [new Uint8Array([0xa0])], new Uint8Array(0)]),
    ]) {
      expect(() => receive(f.config, f.state, PID_B, bytes)).not.toThrow()
    }
    expect(fotbStat(f.state, 'reject:malformed')).toBe(7)
    expect(f.state.volumes.get(VOL)!.fotb.chains.size).toBe(0)
  })

  it('[FOTB-7] random bytes never make the reducer throw and never add an accepted entry', () => {
    const { config, state } = founder()
    receive(config, state, PID_B, batchBytes(B_BATCHES[0]!))
    const before = chainSnapshot(state, PID_B)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const effects = receive(config, state, PID_B, bytes)
        expect(persistedKinds(effects)).not.toContain('entry')
        expect(chainSnapshot(state, PID_B)).toBe(before)
      }),
      { numRuns: 300 },
    )
  })

  it('[FOTB-7] random mutations of a valid BATCH never throw and never accept a changed entry', () => {
    const valid = batchBytes(B_BATCHES[1]!)
    const goodHashes = (() => {
      const f = founder()
      receive(f.config, f.state, PID_B, batchBytes(B_BATCHES[0]!))
      receive(f.config, f.state, PID_B, valid)
      return f.state.volumes.get(VOL)!.fotb.chains.get(PID_B)!.view.hashes.slice()
    })()
    expect(goodHashes.length).toBe(4)
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    )
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        let bytes = valid.slice()
        for (const m of mutations) {
          const at = m.at % Math.max(1, bytes.length)
          if (m.kind === 'flip') bytes[at]! ^= 1 << m.bit
          else if (m.kind === 'set') bytes[at] = m.value
          else if (m.kind === 'cut') bytes = bytes.slice(0, at)
          else bytes = new Uint8Array([...bytes.slice(0, at), m.value, ...bytes.slice(at)])
        }
        // Run each mutation against a fresh copy of the accepted state: a node holding seq 1..2.
        const f = founder()
        receive(f.config, f.state, PID_B, batchBytes(B_BATCHES[0]!))
        let effects: NodeEffect[] = []
        expect(() => {
          effects = receive(f.config, f.state, PID_B, bytes)
        }).not.toThrow()
        const view = f.state.volumes.get(VOL)!.fotb.chains.get(PID_B)!.view
        // Either nothing new was accepted, or exactly B's genuine entries (a mutation that
        // happens to leave the meaning intact); never anything else.
        expect(view.hashes.toArray()).toEqual(goodHashes.slice(0, view.seq).toArray())
        expect([2, 4]).toContain(view.seq)
        if (view.seq === 2) expect(persistedKinds(effects)).not.toContain('entry')
      }),
      { numRuns: 150 },
    )
  })
})

// ---------------------------------------------------------------------------------------------

describe('[FOTB-3] FIFO exactly once under reordering and duplication', () => {
  it('[FOTB-3] later batches before earlier ones and duplicates deliver 1..6 once each, in order', () => {
    const { config, state } = founder()
    const seqs: Seq[] = []
    const feed = (b: Batch) => seqs.push(...deliveredSeqs(receive(config, state, PID_B, batchBytes(b)), PID_B))
    const [b1, b2, b3] = B_BATCHES as [Batch, Batch, Batch]
    feed(b3)
    feed(b2)
    expect(seqs).toEqual([])
    feed(b1)
    feed(b1)
    expect(seqs).toEqual([1, 2])
    feed(b3)
    feed(b2)
    feed(b2)
    feed(b3)
    feed(b1)
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6])
    expect(state.volumes.get(VOL)!.fotb.delivered.get(PID_B)).toBe(6)
    // b1 twice after its acceptance, b2 once: three replays; b3 twice and b2 once before they fit: three gaps.
    expect(fotbStat(state, 'reject:replayed')).toBe(3)
    expect(fotbStat(state, 'reject:gap')).toBe(3)
  })

  it('[FOTB-3] any schedule of (duplicated, reordered) batches delivers a prefix of 1, 2, 3, … once each', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 12 }), (order) => {
        const { config, state } = founder()
        const seqs: Seq[] = []
        for (const i of [...order, 0, 1, 2]) seqs.push(...deliveredSeqs(receive(config, state, PID_B, batchBytes(B_BATCHES[i]!)), PID_B))
        // After the final in-order pass everything is delivered, and nothing twice or out of order.
        expect(seqs).toEqual([1, 2, 3, 4, 5, 6])
      }),
      { numRuns: 60 },
    )
  })

  it('[FOTB-3] a FETCH answer with an overlapping range delivers only what is new', () => {
    const { config, state } = founder()
    // One batch covering 1..4 with its own seal, after 1..2 were delivered.
    const whole = batchOf(newOwnChain(VOL, PID_B), [note(1), note(2), note(3), note(4)]).batch
    const seqs: Seq[] = []
    seqs.push(...deliveredSeqs(receive(config, state, PID_B, batchBytes(B_BATCHES[0]!)), PID_B))
    seqs.push(...deliveredSeqs(receive(config, state, PID_B, batchBytes(whole)), PID_B))
    expect(seqs).toEqual([1, 2, 3, 4])
  })
})

// ---------------------------------------------------------------------------------------------

describe('[FOTB-5] a fetch is not captured by a peer that answers with junk', () => {
  // Sim seed 177 (tamper): a correct member X missed two of author B's entries. The Byzantine
  // member Z reports B's head, is asked for the range and answers with tampered entries. Z's
  // heartbeat period equalled fetchRetryMs, so Z's HEADS arrived at the very instant the fetch
  // went stale, before X's tick: the stale fetch was re-issued to the reporter, Z again, with a
  // fresh deadline, and the tick's rotation to the next peer never ran. X delivered 2 of 6 for
  // the whole heal phase while B and C held everything. Here the same schedule is driven
  // through core/fotb/ directly.
  const X = key(11)
  const C = key(13)
  const Z = key(14)
  const PID_X = pidOf(crypto, X)
  const PID_C = pidOf(crypto, C)
  const PID_Z = pidOf(crypto, Z)
  const params = DEFAULT_VOLUME_PARAMS.fotb
  const full = B_BATCHES
  const head6 = full[2]!.seal.head

  function tampered(b: Batch): Batch {
    return { entries: [{ ...b.entries[0]!, payload: note(666) }, ...b.entries.slice(1)], seal: b.seal }
  }

  /** What `peer` answers to a FETCH of B's entries from..to: the sealed batches covering it. */
  function answer(peer: Pid, from: Seq, to: Seq): Batch[] {
    const batches = full.filter((b) => b.seal.seq >= from && b.seal.seq - b.entries.length + 1 <= to)
    return peer === PID_Z ? batches.map(tampered) : batches
  }

  function run(): { delivered: Seq; askedZ: number; askedCorrect: number } {
    const state = fotb.newFotb(VOL, PID_X)
    const members = new Set([PID_X, PID_B, PID_C, PID_Z])
    const ups: fotb.FotbUp[] = []
    // X's host: performs each step's persist into the storage port, then the step ends.
    const store = new MemoryStorage()
    fotb.setMembers(state, members, members, new Out(), store, ups)
    let askedZ = 0
    let askedCorrect = 0
    // Every message X receives is handled at once; X's FETCHes are answered at once (no latency).
    const handle = (now: number, from: Pid, msg: FotbMessage): void => {
      const out = new Out()
      fotb.onMessage(state, crypto, params, now, from, msg, out, store, ups)
      flush(now, out)
    }
    const flush = (now: number, out: Out): void => {
      store.absorb(out.records)
      fotb.clearWritten(state)
      for (const e of out.effects()) {
        if (e.type !== 'send') continue
        const parts = decode(e.bytes) as Value[]
        if (parts[0] !== 'fotb/fetch') continue
        const m = parseFotbMessage(parts, params)
        if (!m.ok || m.msg.type !== 'fetch' || m.msg.author !== PID_B) continue
        if (e.to === PID_Z) askedZ++
        else askedCorrect++
        for (const b of answer(e.to, m.msg.from, m.msg.to)) handle(now, e.to, { type: 'batch', entries: b.entries, seal: b.seal })
      }
    }
    // Each reporter is also ready up to its head (spec/fotb.md "Ready": delivery needs 2f+1).
    const heads = (seq: Seq, head: EntryHash): FotbMessage => ({ type: 'heads', heads: [{ author: PID_B, seq, head }], proofs: [], readies: [{ author: PID_B, seq, head }] })
    // X holds B's first batch; B's later pushes were lost.
    handle(0, PID_B, { type: 'batch', entries: full[0]!.entries, seal: full[0]!.seal })
    for (let now = 1; now <= 60_000; now++) {
      // Z's HEADS: every fetchRetryMs, the first one before anybody else's.
      if (now % params.fetchRetryMs === 5) handle(now, PID_Z, heads(6, head6))
      // B's and C's HEADS: once a second, while the fetch to Z is still fresh.
      if (now % 1000 === 500) {
        handle(now, PID_B, heads(6, head6))
        handle(now, PID_C, heads(6, head6))
      }
      // X's tick: every 250 ms, just before Z's HEADS at the retry instant.
      if (now % 250 === 0) {
        const out = new Out()
        fotb.onTick(state, params, now, out)
        flush(now, out)
      }
    }
    return { delivered: state.delivered.get(PID_B) ?? 0, askedZ, askedCorrect }
  }

  it('[FOTB-5] a Byzantine reporter whose HEADS arrive at each retry instant is asked once, then the retry moves on and X delivers all of B', () => {
    const r = run()
    expect(r.askedZ).toBeGreaterThanOrEqual(1)
    expect(r.askedCorrect).toBeGreaterThanOrEqual(1)
    expect(r.delivered).toBe(6)
  })
})

// ---------------------------------------------------------------------------------------------

describe('quorum', () => {
  it('q(n) for n = 0..10 matches the table and the formula of spec/fotb.md', () => {
    const table = [1, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7]
    for (let n = 0; n <= 10; n++) {
      expect(quorum(n)).toBe(table[n])
      if (n >= 1) {
        const f = Math.floor((n - 1) / 3)
        expect(quorum(n)).toBe(Math.ceil((n + f + 1) / 2))
      }
    }
  })

  it('two quorums intersect in at least f+1 members, and the correct members alone form one (n = 1..50)', () => {
    for (let n = 1; n <= 50; n++) {
      const f = Math.floor((n - 1) / 3)
      const q = quorum(n)
      expect(2 * q - n).toBeGreaterThanOrEqual(f + 1)
      expect(q).toBeLessThanOrEqual(n - f)
      expect(q).toBeLessThanOrEqual(n)
    }
  })
})

// ---------------------------------------------------------------------------------------------

function genesisOf(r: NodeReply): Genesis {
  if (!r.ok || !('genesis' in r)) throw new Error(`expected a genesis, got ${JSON.stringify(r)}`)
  return r.genesis
}

describe('[FOTB-6] equivocation by a member', () => {
  /** Four members A, B, C, D; D (Byzantine) sends B a different, validly sealed batch at the seq
   *  of its next operation, and everyone else the genuine one. */
  function run() {
    let byz = '' as Pid
    let victim = '' as Pid
    let armed = false
    let swapped = 0
    const checker = new InvariantChecker({ correct: (p) => p !== byz })
    const cluster = new Cluster({
      crypto,
      observe: (o, c) => checker.observe(o, c),
      tamper: (from, to, bytes) => {
        if (!armed || from !== byz || to !== victim) return bytes
        const msg = decode(bytes) as Value[]
        if (msg[0] !== 'fotb/batch') return bytes
        const entries = (msg[2] as Uint8Array[]).map((b) => {
          const r = decodeEntry(b)
          if (!r.ok) throw new Error('own batch decodes')
          return r.value
        })
        const first = entries[0]!
        // The twin: same seq and predecessor, another payload, sealed with D's own key.
        let chain: OwnChain = { volume: VOL, author: byz, seq: first.seq - 1, head: first.prev, sealedSeq: first.seq - 1 }
        const twins: Entry[] = []
        for (const e of entries) {
          const r = append(crypto, chain, encodePayload({ type: 'op', obf: toHex(crypto.sha256(e.payload)) as never }))
          chain = r.chain
          twins.push(r.entry)
        }
        const s = seal(crypto, SK_D, chain)
        swapped++
        return encode(['fotb/batch', VOL, twins.map(encodeEntry), encodeSeal(s.seal)])
      },
    })
    const SK_D = key(4)
    const [a, b, c, d] = [1, 2, 3, 4].map((i) => cluster.addNode(key(i))) as [Pid, Pid, Pid, Pid]
    byz = d
    victim = b
    const g = genesisOf(cluster.request(a, { type: 'create-volume', name: VOL, policy: 'majority' }))
    for (const p of [b, c, d]) {
      cluster.request(p, { type: 'join-volume', genesis: g, contacts: [a] })
      cluster.runFor(1000)
    }
    for (const p of [a, b, c, d]) expect(membersOf(cluster.node(p).state.volumes.get(VOL)!)).toEqual([a, b, c, d].sort())
    const t = { sec: 5, nsec: 0 }
    cluster.request(a, { type: 'fs', volume: VOL, call: { type: 'create', path: '/a', mode: 0o644, cred, time: t } })
    cluster.runFor(500)
    armed = true
    cluster.request(d, { type: 'fs', volume: VOL, call: { type: 'create', path: '/d', mode: 0o644, cred, time: t } })
    armed = false
    cluster.runFor(20_000)
    return { cluster, checker, a, b, c, d, swapped }
  }
  const s = run()
  const at = (p: Pid) => s.cluster.node(p).state.volumes.get(VOL)!

  it('the harness did equivocate (the victim got the twin batch)', () => {
    expect(s.swapped).toBe(1)
  })

  it('[FOTB-6] every correct node holds a verified proof against the author and voted it out as equivocated', () => {
    for (const p of [s.a, s.b, s.c]) {
      const v = at(p)
      expect(v.fotb.proofs.has(s.d)).toBe(true)
      expect(v.myVotes.has(`vote-kick:${s.d}`)).toBe(true)
      expect(v.stats.get('vote:equivocated') ?? 0).toBe(1)
    }
  })

  it('[FOTB-6] [VOL-10] under policy majority the equivocator is removed at every correct member', () => {
    for (const p of [s.a, s.b, s.c]) {
      expect(at(p).status.get(s.d)).toBe('removed')
      expect(membersOf(at(p))).toEqual([s.a, s.b, s.c].sort())
    }
  })

  it('[FOTB-1] [FOTB-3] [FOTB-4] no two correct nodes delivered different entries at any (author, seq)', () => {
    expect(s.checker.violations).toEqual([])
    // And explicitly at the equivocated seq: whoever delivered it delivered the same hash.
    const seqOfTwin = Math.max(...[s.a, s.c].map((p) => at(p).fotb.chains.get(s.d)!.view.seq))
    const hashes = new Set<EntryHash>()
    for (const p of [s.a, s.b, s.c]) {
      const v = at(p)
      if ((v.fotb.delivered.get(s.d) ?? 0) >= seqOfTwin) hashes.add(v.fotb.chains.get(s.d)!.view.hashes.get(seqOfTwin - 1)!)
    }
    expect(hashes.size).toBeLessThanOrEqual(1)
  })

  // The victim collects and adopts the branch a quorum backs (spec/fotb.md, adopting the branch).
  it('[FOTB-5] after the equivocation, the victim delivers the entries the other correct members delivered', () => {
    const da = at(s.a).fotb.delivered.get(s.d) ?? 0
    const db = at(s.b).fotb.delivered.get(s.d) ?? 0
    expect(da).toBeGreaterThan(0)
    expect(db).toBe(da)
  })

  // The same bug seen from the volume: D's genuine operation (/d) is applied at A and C, never at
  // B, and nothing (no skip record, no pending queue) tells B's audit that it is missing.
  it('[VOL-6] after the equivocation, the correct replicas converge to equal state roots', () => {
    const roots = [s.a, s.b, s.c].map((p) => stateRoot(at(p).fs))
    expect(new Set(roots).size).toBe(1)
  })
})
