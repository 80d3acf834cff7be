// totb (spec/totb.md): the vertex format, the judging rules on hand-built DAGs, and the TOTB
// invariants as fast-check properties over whole DAG runs (sim/totb/dag.ts) of 1-10 members with
// Byzantine ones and an adversarial network.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { sha256 } from '@noble/hashes/sha2.js'
import { encode } from '../core/codec.ts'
import { concatBytes, toHex, utf8 } from '../core/bytes.ts'
import type { EntryHash, Pid } from '../core/types.ts'
import * as totb from '../core/totb/index.ts'
import { DEFAULT_DAG_CONFIG, runDagSim } from '../sim/totb/dag.ts'
import { BYZANTINE_VERTEX_STRATEGIES } from '../sim/totb/byzantine.ts'
import { main } from '../runtime/cli.ts'
import { renderDagHtml, VERTICES_DRAWN_MAX } from '../sim/totb/trace-html.ts'

const PIDS = [1, 2, 3, 4].map((i) => ('02' + i.toString(16).padStart(64, '0')) as Pid)

/** Four members' chains, fed by hand to one member's reducer. */
class Dag {
  readonly chains = new Map<Pid, totb.Pending[]>(PIDS.map((p) => [p, []]))
  readonly state: totb.TotbState
  constructor(hooks: totb.TotbHooks = {}) {
    this.state = totb.newTotb(PIDS[0]!, PIDS, totb.DEFAULT_TOTB_PARAMS, hooks)
  }
  readonly ordered: totb.EntryId[] = []

  /** Append to an author's chain; delivered to the reducer only by `deliver`. */
  append(author: Pid, payload: Uint8Array): totb.EntryId {
    const chain = this.chains.get(author)!
    const seq = chain.length + 1
    const hash = toHex(sha256(concatBytes(utf8(`${author}:${seq}`), payload))) as EntryHash
    chain.push({ author, seq, hash, payload })
    return { author, seq, hash }
  }
  op(author: Pid, k: number): totb.EntryId {
    return this.append(author, encode(['op', k]))
  }
  vertex(author: Pid, round: number, strong: totb.EntryId[], weak: totb.EntryId[] = [], epoch = 0): totb.EntryId {
    return this.append(author, totb.encodeVertex({ epoch, round, time: 0, strong: [...strong].sort((a, b) => (a.author < b.author ? -1 : 1)), weak }))
  }
  /** Deliver an author's chain up to seq (from what was delivered before). */
  deliver(author: Pid, upTo: number): void {
    const chain = this.chains.get(author)!
    const from = this.state.authors.get(author)!.judged + this.state.authors.get(author)!.pending.length
    for (const e of chain.slice(from, upTo)) this.ordered.push(...totb.onDelivered(this.state, 0, e).ordered)
  }
  deliverAll(): void {
    for (const p of PIDS) this.deliver(p, this.chains.get(p)!.length)
  }
}

describe('totb vertex format', () => {
  it('round-trips and is told apart from every other payload', () => {
    const ref = { author: PIDS[1]!, seq: 7, hash: 'ab'.repeat(32) as EntryHash }
    const bytes = totb.encodeVertex({ epoch: 0, round: 3, time: 1_700_000_000_000, strong: [ref], weak: [] })
    expect(totb.claimsVertex(bytes)).toBe(true)
    expect(totb.decodeVertex(bytes)).toEqual({ epoch: 0, round: 3, time: 1_700_000_000_000, strong: [ref], weak: [] })
    for (const other of [encode(['op', 1]), encode({ op: 'mkdir' }), encode(['totb/vertexx', 0, 1, 0, [], []]), new Uint8Array()]) {
      expect(totb.claimsVertex(other)).toBe(false)
    }
    // Claims to be a vertex but is not a well-formed one: judged (invalid), never an operation.
    const bad = encode(['totb/vertex', 0, 0, 0, [], []])
    expect(totb.claimsVertex(bad)).toBe(true)
    expect(totb.decodeVertex(bad)).toBeUndefined()
    expect(totb.decodeVertex(encode(['totb/vertex', 0, 2, 0, [[new Uint8Array(32), 1, new Uint8Array(32)]], []]))).toBeUndefined()
  })
})

describe('totb judging and ordering on hand-built DAGs', () => {
  /** Round 1 by all four members, each carrying one op. */
  function roundOne(d: Dag): totb.EntryId[] {
    return PIDS.map((p, i) => {
      d.op(p, i)
      return d.vertex(p, 1, [])
    })
  }

  it('commits the round-1 leader with f + 1 votes and orders its history by (round, author)', () => {
    const d = new Dag()
    const r1 = roundOne(d)
    const leader = totb.leaderOf(d.state, 1)
    expect(leader).toBe(PIDS[0])
    // Two (= f + 1) round-2 vertices refer to the leader: a direct commit.
    d.vertex(PIDS[1]!, 2, [r1[0]!, r1[1]!, r1[2]!])
    d.vertex(PIDS[2]!, 2, [r1[0]!, r1[2]!, r1[3]!])
    d.deliverAll()
    expect(d.state.orderedLeaderRound).toBe(1)
    // The leader's history is the leader alone (round 1 has no refs): its batch, the op.
    expect(d.ordered.map((e) => [e.author, e.seq])).toEqual([[PIDS[0], 1]])
  })

  it('counts an invalid vertex and passes its batch to the author\'s next valid vertex', () => {
    const d = new Dag()
    const r1 = roundOne(d)
    d.op(PIDS[3]!, 9)
    d.vertex(PIDS[3]!, 2, [r1[0]!, r1[1]!]) // q - 1 refs: invalid
    d.vertex(PIDS[3]!, 2, [r1[0]!, r1[1]!, { ...r1[2]!, hash: r1[3]!.hash }]) // wrong hash: invalid
    const good = d.vertex(PIDS[3]!, 2, [r1[0]!, r1[1]!, r1[2]!])
    d.deliverAll()
    expect(d.state.counters.get('reject:vertex-few-refs')).toBe(1)
    expect(d.state.counters.get('reject:vertex-ref')).toBe(1)
    const v = d.state.authors.get(PIDS[3]!)!.vertices.get(good.seq)!
    expect(v.batch.map((e) => e.seq)).toEqual([3])
  })

  it('a vertex whose refs are not judged yet waits, and its author\'s later entries wait behind it', () => {
    const d = new Dag()
    const r1 = roundOne(d)
    const v2 = d.vertex(PIDS[1]!, 2, [r1[0]!, r1[1]!, r1[3]!])
    d.op(PIDS[1]!, 5)
    d.deliver(PIDS[0]!, 2)
    d.deliver(PIDS[1]!, 4)
    expect(d.state.authors.get(PIDS[1]!)!.judged).toBe(2)
    expect(d.state.authors.get(PIDS[1]!)!.pending.length).toBe(2)
    d.deliver(PIDS[3]!, 2) // the missing ref arrives: the vertex and the op behind it are judged
    expect(d.state.authors.get(PIDS[1]!)!.judged).toBe(4)
    expect(d.state.authors.get(PIDS[1]!)!.vertices.has(v2.seq)).toBe(true)
    expect(d.state.authors.get(PIDS[1]!)!.carry.map((e) => e.seq)).toEqual([4])
  })

  it('a later leader orders an earlier one it reaches by strong refs, before itself', () => {
    const d = new Dag()
    const r1 = roundOne(d)
    // Round 2: only one vote for leader 1 (PIDS[0]): no direct commit.
    const r2 = [
      d.vertex(PIDS[0]!, 2, [r1[0]!, r1[1]!, r1[2]!]),
      d.vertex(PIDS[1]!, 2, [r1[1]!, r1[2]!, r1[3]!]),
      d.vertex(PIDS[2]!, 2, [r1[1]!, r1[2]!, r1[3]!]),
    ]
    expect(totb.leaderOf(d.state, 3)).toBe(PIDS[1])
    const r3 = PIDS.map((p) => d.vertex(p, 3, r2))
    // Round 4: two votes for leader 3 (PIDS[1]): committed directly.
    d.vertex(PIDS[0]!, 4, [r3[0]!, r3[1]!, r3[2]!])
    d.vertex(PIDS[2]!, 4, [r3[1]!, r3[2]!, r3[3]!])
    d.deliverAll()
    expect(d.state.orderedLeaderRound).toBe(3)
    // Leader 1 is reached through PIDS[0]'s round-2 vertex: ordered first (its op), then leader
    // 3's history by (round, author): the round-1 vertices of PIDS[1..3] with their ops.
    expect(d.ordered.map((e) => [e.author, e.seq])).toEqual([[PIDS[0], 1], [PIDS[1], 1], [PIDS[2], 1], [PIDS[3], 1]])
  })
})

describe('totb time', () => {
  it('[TOTB-6] an ordered leader\'s time is the median of its refs\' times: one member\'s claim moves it nowhere', () => {
    const d = new Dag()
    const times = [100, 110, 10 ** 13, 120] // PIDS[2] claims a time far ahead
    const r1 = PIDS.map((p, i) => {
      d.op(p, i)
      return d.append(p, totb.encodeVertex({ epoch: 0, round: 1, time: times[i]!, strong: [], weak: [] }))
    })
    const r2 = d.append(PIDS[0]!, totb.encodeVertex({ epoch: 0, round: 2, time: 130, strong: [r1[0]!, r1[1]!, r1[2]!, r1[3]!], weak: [] }))
    d.deliverAll()
    // A round-1 leader has no refs: the time stays where it was (0).
    expect(totb.leaderTime(d.state, d.state.authors.get(PIDS[0]!)!.vertices.get(r1[0]!.seq)!)).toBe(0)
    const r2v = d.state.authors.get(PIDS[0]!)!.vertices.get(r2.seq)!
    // A round-2 vertex's refs: 100, 110, 120 and the liar's 10^13: the lower median is 110.
    expect(totb.leaderTime(d.state, r2v)).toBe(110)
  })
})

describe('totb committee changes (epochs)', () => {
  it('[TOTB-3] an ordered change ends the epoch with its leader; unordered batches are carried by the new epoch\'s vertices', () => {
    // The host's rule: an ordered ['cfg'] op removes PIDS[3].
    let d: Dag
    const hooks: totb.TotbHooks = {
      committeeAfter: (e) => {
        const bytes = d.chains.get(e.author)![e.seq - 1]!.payload
        return bytes[1] === 0x63 ? PIDS.slice(0, 3) : undefined // 0x63: the text head of 'cfg'
      },
    }
    d = new Dag(hooks)
    d.append(PIDS[0]!, encode(['cfg']))
    const r1 = PIDS.map((p, i) => {
      if (i > 0) d.op(p, i)
      return d.vertex(p, 1, [])
    })
    // Two votes for leader 1 (PIDS[0]): its history, the cfg op alone, is ordered; the epoch ends.
    d.vertex(PIDS[1]!, 2, [r1[0]!, r1[1]!, r1[2]!])
    d.vertex(PIDS[2]!, 2, [r1[0]!, r1[2]!, r1[3]!])
    d.vertex(PIDS[3]!, 2, [r1[1]!, r1[2]!, r1[3]!]) // judged after the end: stale
    d.vertex(PIDS[3]!, 1, [], [], 1) // not a member of epoch 1
    const e1 = d.vertex(PIDS[1]!, 1, [], [], 1)
    d.deliverAll()
    expect(d.state.epoch).toBe(1)
    expect(d.state.committee).toEqual(PIDS.slice(0, 3))
    expect(d.ordered.map((e) => [e.author, e.seq])).toEqual([[PIDS[0], 1]])
    expect(d.state.counters.get('reject:vertex-stale')).toBe(1)
    expect(d.state.counters.get('reject:vertex-not-member')).toBe(1)
    // PIDS[1]'s op (seq 1) was in its epoch-0 round-1 vertex, never ordered: carried again.
    expect(d.state.authors.get(PIDS[1]!)!.vertices.get(e1.seq)!.batch.map((e) => e.seq)).toEqual([1])
  })

  it('[TOTB-1] [TOTB-3] [TOTB-4] epochs rotate every epochRounds rounds: a member holds one epoch\'s vertices at most', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const r = runDagSim({ ...DEFAULT_DAG_CONFIG, seed, ops: 300, epochRounds: 8, faults: false, byzantine: 0 })
      expect(r.violations).toEqual([])
      expect(r.epochs).toBeGreaterThanOrEqual(2)
      // Rounds 1..8, plus the rounds made before the end was known, of 4 members.
      expect(r.held).toBeLessThanOrEqual(4 * 12)
      expect(r.ordered).toEqual([300, 300, 300, 300])
    }
  })

  it('[TOTB-1] [TOTB-3] [TOTB-4] a spare member joins and correct members leave while the DAG runs, with faults', () => {
    let epochs = 0
    for (const [nodes, byzantine] of [[4, 0], [5, 1], [8, 2]] as const) {
      for (let seed = 1; seed <= 20; seed++) {
        const r = runDagSim({ ...DEFAULT_DAG_CONFIG, seed, nodes, byzantine, reconfigure: true })
        expect(r.violations, `--nodes ${nodes} --byzantine ${byzantine} seed ${seed}`).toEqual([])
        epochs += r.epochs
      }
    }
    expect(epochs).toBeGreaterThan(30)
  })
})

describe('totb restart', () => {
  it('[TOTB-1] a member rebuilt from its delivered chains derives the same order, and resumes above its own vertices', () => {
    const d = new Dag()
    const r1 = PIDS.map((p, i) => {
      d.op(p, i)
      return d.vertex(p, 1, [])
    })
    d.vertex(PIDS[1]!, 2, [r1[0]!, r1[1]!, r1[2]!])
    d.vertex(PIDS[2]!, 2, [r1[0]!, r1[2]!, r1[3]!])
    d.vertex(PIDS[0]!, 2, [r1[0]!, r1[1]!, r1[3]!])
    d.op(PIDS[0]!, 7)
    d.deliverAll()
    const { state, out } = totb.restoreTotb(PIDS[0]!, PIDS, totb.DEFAULT_TOTB_PARAMS, d.chains, d.chains.get(PIDS[0]!)!.map((e) => e.payload), 5)
    expect(out.ordered).toEqual(d.ordered)
    expect(state.orderedLeaderRound).toBe(d.state.orderedLeaderRound)
    expect(state.ownRound).toBe(2)
    expect(state.ownCarry).toBe(1)
  })

  it('[TOTB-1] [TOTB-4] members that crash and restart in the fault phase order as the others do', () => {
    let restarts = 0
    for (let seed = 1; seed <= 40; seed++) {
      const r = runDagSim({ ...DEFAULT_DAG_CONFIG, seed })
      expect(r.violations, `seed ${seed}`).toEqual([])
      restarts += r.restarts
    }
    expect(restarts).toBeGreaterThan(10)
  })
})

const shapes = fc.integer({ min: 1, max: 10 }).chain((nodes) =>
  fc.record({
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    nodes: fc.constant(nodes),
    byzantine: fc.integer({ min: 0, max: totb.faultBound(nodes) }),
    ops: fc.integer({ min: 0, max: 80 }),
    faults: fc.boolean(),
    reconfigure: fc.boolean(),
    strategies: fc.subarray([...BYZANTINE_VERTEX_STRATEGIES], { minLength: 1 }),
  }),
)

describe('totb DAG runs: every invariant on every run', () => {
  it('[TOTB-1] [TOTB-2] [TOTB-3] [TOTB-4] [TOTB-5] hold for 1-10 members, f < n/3 Byzantine, with and without faults', () => {
    fc.assert(
      fc.property(shapes, (shape) => {
        const r = runDagSim({ ...DEFAULT_DAG_CONFIG, ...shape })
        expect(r.violations).toEqual([])
        // Liveness is checked on every run: all correct members ordered the same number.
        expect(new Set(r.ordered).size).toBeLessThanOrEqual(1)
      }),
      { numRuns: 60 },
    )
  })

  it('[TOTB-1] [TOTB-4] the CI shapes: 4, 7 and 10 members with f Byzantine, 25 seeds each', () => {
    for (const nodes of [4, 7, 10]) {
      for (let seed = 1; seed <= 25; seed++) {
        const r = runDagSim({ ...DEFAULT_DAG_CONFIG, seed, nodes, byzantine: totb.faultBound(nodes) })
        expect(r.violations, `--nodes ${nodes} seed ${seed}`).toEqual([])
      }
    }
  })

  it('replays exactly, and an idle volume runs no rounds', () => {
    const a = runDagSim({ ...DEFAULT_DAG_CONFIG, seed: 77 })
    const b = runDagSim({ ...DEFAULT_DAG_CONFIG, seed: 77 })
    expect(a.orderHash).toBe(b.orderHash)
    expect(a.events).toBe(b.events)
    const idle = runDagSim({ ...DEFAULT_DAG_CONFIG, seed: 77, ops: 0, byzantine: 0 })
    expect(idle.vertices).toBe(0)
  })

  it('[TOTB-5] every kind of invalid vertex a Byzantine member makes is rejected alike and counted', () => {
    const kinds = new Set<string>()
    for (let seed = 1; seed <= 30; seed++) {
      const r = runDagSim({ ...DEFAULT_DAG_CONFIG, seed, strategies: ['bad-refs', 'equivocate-round'] })
      expect(r.violations).toEqual([])
      for (const k of Object.keys(r.rejections)) kinds.add(k)
    }
    // stale: vertices of an epoch that ended (the DAG runs rotate epochs every 15 rounds).
    expect([...kinds].sort()).toEqual(['reject:vertex-few-refs', 'reject:vertex-malformed', 'reject:vertex-ref', 'reject:vertex-refs', 'reject:vertex-round', 'reject:vertex-stale'])
  })
})

describe('paciofs sim --dag', () => {
  function run(args: string[]): { rc: number; out: string; err: string } {
    let out = ''
    let err = ''
    const rc = main(['sim', ...args], { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stderrIsTTY: false }) as number
    return { rc, out, err }
  }

  it('[TOTB-1] runs one seed and a swarm, and a broken rule fails with the command that replays it', () => {
    const one = run(['--dag', '--seed', '42'])
    expect(one.rc).toBe(0)
    expect(one.out).toContain('ok, every TOTB invariant held')
    const swarm = run(['--dag', '--seeds', '1..30', '--mutation', 'totb-commit-with-f'])
    expect(swarm.rc).toBe(1)
    const replay = /replay: paciofs sim (--dag --seed \d+ .*)/.exec(swarm.out)
    expect(replay).not.toBeNull()
    const again = run(replay![1]!.split(' '))
    expect(again.rc).toBe(1)
    expect(again.out).toMatch(/TOTB-1 at \d+ ms/)
    expect(run(['--dag', '--seed', '1', '--byzantine', '2']).rc).toBe(2) // f = 1 for 4 members
    expect(run(['--order', 'nope', '--seed', '1']).rc).toBe(2) // the whole stack's option
  })
})

describe('the totb DAG diagram', () => {
  it('[TOTB-1] draws every valid vertex the viewer judged, commits, epochs and violations, without scripts', () => {
    const clean = runDagSim({ ...DEFAULT_DAG_CONFIG, seed: 5, nodes: 5, reconfigure: true, keepTrace: true })
    const html = renderDagHtml(clean)
    expect(html).not.toMatch(/<script|(src|href)=/)
    expect((html.match(/<circle /g) ?? []).length).toBe(Math.min(clean.trace!.vertices.length, VERTICES_DRAWN_MAX))
    expect(html).toContain('epoch 1 (from')
    expect(html).toContain('Every TOTB invariant held.')
    let broken = runDagSim({ ...DEFAULT_DAG_CONFIG, seed: 1, mutation: 'totb-commit-with-f', keepTrace: true })
    for (let seed = 2; seed <= 100 && broken.violations.length === 0; seed++) broken = runDagSim({ ...DEFAULT_DAG_CONFIG, seed, mutation: 'totb-commit-with-f', keepTrace: true })
    expect(broken.violations.length).toBeGreaterThan(0)
    expect(renderDagHtml(broken)).toContain('<h2>Violations</h2>')
  })
})
