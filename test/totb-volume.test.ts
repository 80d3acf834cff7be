// Volumes in total order (spec/totb.md "Volumes in total order", core/volume/ordered.ts): the whole
// stack with `order: 'totb'` — concurrent conflicting calls answered with the result of their
// place in the order, identical logs and state roots at every replica (TOTB-7), one committee
// per epoch (TOTB-8), a restart that derives the order again, and simulator runs under faults
// and Byzantine members.
import { describe, expect, it } from 'vitest'
import { nobleCrypto } from '../core/crypto.ts'
import { Cluster, type TraceEvent } from '../sim/cluster.ts'
import { InvariantChecker } from '../sim/invariants.ts'
import { DEFAULT_SIM_CONFIG, runSim } from '../sim/run.ts'
import { genesisValue, membersOf, parseGenesis } from '../core/volume/index.ts'
import { verifyNodeVolume } from '../core/node.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import { readFile } from '../core/fs/view.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { genesisOf, key } from './support/nodes.ts'

const VOL = 'ordered' as VolumeName
const cred = { uid: 1000, gid: 1000 }
const time = { sec: 1_700_000_000, nsec: 0 }

/** Four founders of one totb volume, every checker of sim/invariants.ts on every step. */
function founders(): { cluster: Cluster; checker: InvariantChecker; pids: Pid[] } {
  const checker = new InvariantChecker({ correct: () => true })
  const cluster = new Cluster({ crypto: nobleCrypto, keepTrace: true, observe: (o, c) => checker.observe(o, c) })
  const pids = [1, 2, 3, 4].map((i) => cluster.addNode(key(i)))
  const genesis = genesisOf(cluster.request(pids[0]!, { type: 'create-volume', name: VOL, policy: 'majority', order: 'totb', founders: pids.slice(1) }))
  expect(genesis.order).toBe('totb')
  for (const p of pids.slice(1)) expect(cluster.request(p, { type: 'join-volume', genesis, contacts: [pids[0]!] }).ok).toBe(true)
  cluster.runFor(500)
  return { cluster, checker, pids }
}

/** The answers of deferred calls, in the order the trace recorded them. */
function answers(trace: readonly TraceEvent[]): { node: string; what: string; result: string }[] {
  const out: { node: string; what: string; result: string }[] = []
  for (const e of trace) if (e.t === 'request' && e.what.endsWith('(answered)')) out.push({ node: e.node, what: e.what, result: e.result })
  return out
}

describe('volumes in total order', () => {
  it('[TOTB-7] a v3 genesis names the order; a fotb genesis keeps its bytes', () => {
    const pid = '02' + '11'.repeat(32)
    const totb = { name: VOL, policy: 'majority' as const, founders: [pid as Pid], admission: 'closed' as const, order: 'totb' as const }
    expect(parseGenesis(genesisValue(totb))).toEqual(totb)
    const fotb = { name: VOL, policy: 'majority' as const, founders: [pid as Pid], admission: 'open' as const }
    expect((genesisValue(fotb) as unknown[])[0]).toBe('paciofs/genesis/v2')
    expect(parseGenesis(['paciofs/genesis/v3', VOL, 'majority', [], 'closed', 'fotb'])).toBeUndefined()
  })

  it('[TOTB-7] [TOTB-8] concurrent creates of one path: each caller is answered by its place in the order, and every replica is the same', () => {
    const { cluster, checker, pids } = founders()
    // All four at the same virtual instant: in fotb order each would be applied at its own
    // replica first and the replicas would disagree about whose file /race is.
    for (const p of pids) {
      const r = cluster.request(p, { type: 'fs', volume: VOL, call: { type: 'create', path: '/race', mode: 0o644, cred, time } })
      expect(r.ok).toBe(true) // accepted; the answer comes once it is applied in the order
    }
    cluster.runFor(5_000)
    const got = answers(cluster.trace).filter((a) => a.what.includes('/race'))
    expect(got).toHaveLength(4)
    expect(got.filter((a) => a.result === 'ok')).toHaveLength(1)
    expect(got.filter((a) => a.result === 'EEXIST')).toHaveLength(3)
    // Then each writes its own bytes to it, concurrently: one content wins, the same everywhere.
    for (const [i, p] of pids.entries()) cluster.request(p, { type: 'fs', volume: VOL, call: { type: 'write', path: '/race', writes: [{ offset: 0, data: new TextEncoder().encode(`writer ${i}`) }], cred: { uid: 0, gid: 0 }, time } })
    cluster.runFor(5_000)
    const states = pids.map((p) => cluster.node(p).state.volumes.get(VOL)!)
    const roots = new Set(states.map((v) => stateRoot(v.fs)))
    expect(roots.size).toBe(1)
    expect(new Set(states.map((v) => v.log.length)).size).toBe(1)
    const contents = new Set(states.map((v) => { const r = readFile(v.fs, (h) => cluster.node(v.me).chunks.chunk(VOL, h), '/race', 0, 100); return r.ok ? new TextDecoder().decode(r.value) : r.errno }))
    expect(contents.size).toBe(1)
    expect([...contents][0]).toMatch(/^writer [0-3]$/)
    for (const v of states) expect(v.order!.totb.committee).toEqual([...pids].sort())
    expect(checker.violations).toEqual([])
  })

  it('[TOTB-6] [FS-14] a false later time cannot end a retention period early: the order\'s time judges expiry', () => {
    const { cluster, checker, pids } = founders()
    const [a, b] = pids as [Pid, Pid]
    const at = (sec: number) => ({ sec, nsec: 0 })
    const answered = (path: string): string[] => answers(cluster.trace).filter((x) => x.what.includes(path)).map((x) => x.result)
    cluster.request(a, { type: 'fs', volume: VOL, call: { type: 'create', path: '/books', mode: 0o666, cred, time: at(1) } })
    cluster.runFor(2_000)
    // Kept until second 1,000 of the (virtual) clock the members' vertices carry.
    cluster.request(a, { type: 'fs', volume: VOL, call: { type: 'retain', path: '/books', until: at(1000), override: false, cred, time: at(3) } })
    cluster.runFor(2_000)
    // b claims it is already second 5,000: in a fotb volume the unlink would be judged then,
    // after expiry (spec/fs.md "False times"); here the order's time (a few seconds) judges it.
    cluster.request(b, { type: 'fs', volume: VOL, call: { type: 'unlink', path: '/books', cred: { uid: 0, gid: 0 }, time: at(5000) } })
    cluster.runFor(2_000)
    expect(answered('unlink /books')).toEqual(['EPERM'])
    // A retain with a false later time cannot push the record's `since` past the period either.
    cluster.request(b, { type: 'fs', volume: VOL, call: { type: 'retain', path: '/books', until: at(1001), override: false, cred: { uid: 0, gid: 0 }, time: at(5000) } })
    cluster.runFor(2_000)
    cluster.request(b, { type: 'fs', volume: VOL, call: { type: 'unlink', path: '/books', cred: { uid: 0, gid: 0 }, time: at(5001) } })
    cluster.runFor(2_000)
    expect(answered('unlink /books')).toEqual(['EPERM', 'EPERM'])
    // Once the members' clocks are past the period, the same unlink is allowed.
    cluster.runFor(1_000_000)
    cluster.request(b, { type: 'fs', volume: VOL, call: { type: 'unlink', path: '/books', cred: { uid: 0, gid: 0 }, time: at(1_010) } })
    cluster.runFor(3_000)
    expect(answered('unlink /books')).toEqual(['EPERM', 'EPERM', 'ok'])
    // Every replica judged alike, and replays alike (the log keeps the order's time).
    const states = pids.map((p) => cluster.node(p).state.volumes.get(VOL)!)
    expect(new Set(states.map((v) => stateRoot(v.fs))).size).toBe(1)
    for (const p of pids) cluster.crash(p)
    for (const p of pids) cluster.restart(p)
    expect(new Set(pids.map((p) => stateRoot(cluster.node(p).state.volumes.get(VOL)!.fs))).size).toBe(1)
    expect(checker.violations).toEqual([])
  })

  it('[TOTB-7] [VOL-8] verify derives the order from the chains again and names a log that is not it', () => {
    const { cluster, pids } = founders()
    for (let k = 0; k < 3; k++) for (const p of pids) cluster.request(p, { type: 'fs', volume: VOL, call: { type: 'mkdir', path: `/v${k}-${p.slice(2, 8)}`, mode: 0o755, cred, time } })
    cluster.runFor(3_000)
    const node = cluster.node(pids[1]!)
    expect(verifyNodeVolume(node.config, node.state, VOL)).toEqual([])
    // Two ops of different authors swapped in the log (each still hashes and replays): only the
    // order says it is wrong.
    const v = node.state.volumes.get(VOL)!
    const at = [...Array(v.log.length).keys()].map((i) => v.log.at(i + 1)!).findIndex((r, i, all) => i > 0 && all[i - 1]!.author !== r.author)
    v.log.rewriteForTest((records) => {
      const [x, y] = [records[at - 1]!, records[at]!]
      records[at - 1] = { ...y, epoch: x.epoch }
      records[at] = { ...x, epoch: y.epoch }
    })
    const findings = verifyNodeVolume(node.config, node.state, VOL)
    expect(findings.some((f) => f.what === 'order' && f.where === `log epoch ${at}`)).toBe(true)
  })

  it('[TOTB-7] a restarted member derives the order again and goes on from where its log ends', () => {
    const { cluster, checker, pids } = founders()
    for (let k = 0; k < 6; k++) for (const p of pids) cluster.request(p, { type: 'fs', volume: VOL, call: { type: 'mkdir', path: `/d${k}-${p.slice(2, 8)}`, mode: 0o755, cred, time } })
    cluster.runFor(3_000)
    const before = cluster.node(pids[2]!).state.volumes.get(VOL)!.log.length
    expect(before).toBe(24)
    cluster.crash(pids[2]!)
    for (const p of [pids[0]!, pids[1]!, pids[3]!]) cluster.request(p, { type: 'fs', volume: VOL, call: { type: 'mkdir', path: `/after-${p.slice(2, 8)}`, mode: 0o755, cred, time } })
    cluster.runFor(2_000)
    cluster.restart(pids[2]!)
    expect(cluster.node(pids[2]!).restoreProblems).toEqual([])
    expect(cluster.node(pids[2]!).state.volumes.get(VOL)!.log.length).toBe(before)
    cluster.request(pids[2]!, { type: 'fs', volume: VOL, call: { type: 'mkdir', path: '/back', mode: 0o755, cred, time } })
    cluster.runFor(5_000)
    const states = pids.map((p) => cluster.node(p).state.volumes.get(VOL)!)
    expect(states.map((v) => v.log.length)).toEqual([28, 28, 28, 28])
    expect(new Set(states.map((v) => stateRoot(v.fs))).size).toBe(1)
    expect(checker.violations).toEqual([])
  })

  it('[TOTB-7] [TOTB-8] the simulator runs the whole stack in total order under faults and Byzantine members, clean', () => {
    // Seeds with crashes, lost tails, partitions, a withholder and a vote abuser among them
    // (`npx paciofs sim --seeds A..B --order totb` runs any other).
    for (const seed of [1, 2, 3, 5, 7]) {
      const r = runSim({ ...DEFAULT_SIM_CONFIG, seed, ops: 60, order: 'totb' })
      expect(r.violations, `seed ${seed}`).toEqual([])
    }
  })

  it('[TOTB-8] joins and removals move in the order: members are the committee, one per epoch', () => {
    const r = runSim({ ...DEFAULT_SIM_CONFIG, seed: 4, ops: 40, order: 'totb', volumes: 1, faults: [] }, undefined, {
      inspect: (cluster) => {
        for (const n of cluster.nodes.values()) {
          const v = n.state.volumes.get('vol0' as VolumeName)
          if (!v || !membersOf(v).includes(n.pid)) continue
          expect(v.order!.totb.epoch).toBeGreaterThan(0) // the joins ended epochs
          expect(v.order!.totb.committee).toEqual(membersOf(v))
        }
      },
    })
    expect(r.violations).toEqual([])
  })
})
