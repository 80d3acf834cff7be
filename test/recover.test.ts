// A node that lost the tail of its store learns its own chain head from the members before it
// seals anything (spec/fotb.md "Recovering the own chain", FOTB-8, FOTB-9), on the simulator's
// lossless network with every invariant checker running: node a writes, crashes, restarts on a
// store without its newest batches (as LevelDB skips a damaged newest record). It refuses writes
// (EROFS) while it learns, regains its sealed entries from b and c and applies the lost
// operations again, then seals its next entry after the highest one it had sealed — never a
// second one at a used seq. Without recovery (the mutation), it seals twice at one seq.
import { describe, expect, it } from 'vitest'
import { nobleCrypto } from '../core/crypto.ts'
import type { Mutation } from '../core/mutations.ts'
import { DEFAULT_VOLUME_PARAMS } from '../core/volume/index.ts'
import { currentView } from '../core/fs/view.ts'
import { chunkReader } from '../core/volume/index.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { Cluster } from '../sim/cluster.ts'
import { InvariantChecker } from '../sim/invariants.ts'
import { genesisOf, key } from './support/nodes.ts'

const V = 'v' as VolumeName
const cred = { uid: 1000, gid: 1000 }
const time = { sec: 1_700_000_000, nsec: 0 }
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

function scenario(mutation?: Mutation) {
  const checker = new InvariantChecker({ correct: () => true })
  const params = mutation ? { ...DEFAULT_VOLUME_PARAMS, mutation, fotb: { ...DEFAULT_VOLUME_PARAMS.fotb, mutation } } : DEFAULT_VOLUME_PARAMS
  const cluster = new Cluster({ crypto: nobleCrypto, params, observe: (o, c) => checker.observe(o, c) })
  const [a, b, c] = [1, 2, 3].map((i) => cluster.addNode(key(i))) as [Pid, Pid, Pid]
  const g = genesisOf(cluster.request(a, { type: 'create-volume', name: V, policy: 'majority' }))
  for (const p of [b, c]) {
    cluster.request(p, { type: 'join-volume', genesis: g, contacts: [a] })
    cluster.runFor(1000)
  }
  const write = (path: string, body: string) => {
    const r1 = cluster.request(a, { type: 'fs', volume: V, call: { type: 'create', path, mode: 0o644, cred, time } })
    const r2 = cluster.request(a, { type: 'fs', volume: V, call: { type: 'write', path, writes: [{ offset: 0, data: text(body) }], cred, time } })
    return r1.ok && r2.ok
  }
  expect(write('/kept.txt', 'kept')).toBe(true)
  cluster.runFor(2000)
  const diskBefore = cluster.node(a).disk.length
  // Two writes in steps of their own: the batches the crash will lose.
  expect(write('/lost.txt', 'acknowledged, then lost on disk')).toBe(true)
  cluster.runFor(2000) // b and c received, echoed and delivered them
  const sealedSeq = cluster.node(a).state.volumes.get(V)!.fotb.own.seq
  cluster.crash(a)
  cluster.loseTail(a, cluster.node(a).disk.length - diskBefore)
  cluster.restart(a)
  return { cluster, checker, a, b, c, sealedSeq, write }
}

function content(cluster: Cluster, node: Pid, path: string): string | undefined {
  const v = cluster.node(node).state.volumes.get(V)!
  const r = currentView(v.fs).readFile(chunkReader(v, cluster.node(node).chunks), path, 0, 1000)
  return r.ok ? new TextDecoder().decode(r.value) : undefined
}

describe('[FOTB-8] [FOTB-9] recovering the own chain after a lost tail', () => {
  it('refuses writes while it learns its head, regains its sealed entries and lost operations, and seals its next entry after them', () => {
    const { cluster, checker, a, b, sealedSeq, write } = scenario()
    const v = () => cluster.node(a).state.volumes.get(V)!
    expect(v().fotb.recovering).toBeDefined()
    expect(v().fotb.own.seq).toBeLessThan(sealedSeq) // the restored chain lost its tail
    expect(content(cluster, a, '/lost.txt')).toBeUndefined()
    expect(cluster.request(a, { type: 'fs', volume: V, call: { type: 'mkdir', path: '/early', mode: 0o755, cred, time } })).toMatchObject({ ok: false, errno: 'EROFS' })
    cluster.runFor(10_000)
    expect(v().fotb.recovering).toBeUndefined()
    expect(v().fotb.own.seq).toBe(sealedSeq)
    expect(v().fotb.stats.get('recovery:regained')).toBeGreaterThan(0)
    // The lost operations, regained from the members, are applied again here.
    expect(content(cluster, a, '/lost.txt')).toBe('acknowledged, then lost on disk')
    expect(write('/after.txt', 'after recovery')).toBe(true)
    cluster.runFor(5000)
    expect(v().fotb.own.seq).toBe(sealedSeq + 2)
    expect(content(cluster, b, '/after.txt')).toBe('after recovery')
    expect(cluster.node(b).state.volumes.get(V)!.fotb.proofs.size).toBe(0) // no equivocation seen
    checker.checkQuiesced(cluster, { equalRoots: true })
    expect(checker.violations).toEqual([])
  })

  it('a restart in the middle of recovery goes on recovering (the record says so)', () => {
    const { cluster, checker, a, sealedSeq } = scenario()
    cluster.crash(a)
    cluster.restart(a)
    expect(cluster.node(a).state.volumes.get(V)!.fotb.recovering).toBeDefined()
    cluster.runFor(10_000)
    expect(cluster.node(a).state.volumes.get(V)!.fotb.own.seq).toBe(sealedSeq)
    checker.checkQuiesced(cluster, { equalRoots: true })
    expect(checker.violations).toEqual([])
  })

  it('a volume with no other member ends recovery at the next tick (nobody else can hold its entries)', () => {
    const checker = new InvariantChecker({ correct: () => true })
    const cluster = new Cluster({ crypto: nobleCrypto, observe: (o, c) => checker.observe(o, c) })
    const a = cluster.addNode(key(9))
    genesisOf(cluster.request(a, { type: 'create-volume', name: V, policy: 'majority' }))
    const before = cluster.node(a).disk.length
    expect(cluster.request(a, { type: 'fs', volume: V, call: { type: 'mkdir', path: '/d', mode: 0o755, cred, time } }).ok).toBe(true)
    cluster.crash(a)
    cluster.loseTail(a, cluster.node(a).disk.length - before)
    cluster.restart(a)
    cluster.runFor(1000)
    expect(cluster.node(a).state.volumes.get(V)!.fotb.recovering).toBeUndefined()
    expect(cluster.request(a, { type: 'fs', volume: V, call: { type: 'mkdir', path: '/e', mode: 0o755, cred, time } }).ok).toBe(true)
    checker.checkQuiesced(cluster, { equalRoots: true })
    // The lost mkdir reached nobody: FOTB-9 allows its loss (noted, reported by the tail witness).
    expect(checker.violations).toEqual([])
    expect(checker.notes.some((n) => /lost with its tail before any member held it/.test(n))).toBe(true)
  })

  it('without recovery (mutation skip-tail-recovery) the node seals a second entry at a used seq, and the checkers say so', () => {
    const { cluster, checker, write } = scenario('skip-tail-recovery')
    expect(write('/again.txt', 'a different op at a sealed seq')).toBe(true)
    cluster.runFor(10_000)
    checker.checkQuiesced(cluster, { equalRoots: false })
    expect(checker.violations.map((x) => x.id)).toContain('FOTB-8')
  })
})

describe('[FOTB-8] [FOTB-9] [VOL-12] a damaged batch: the disk is cut there and the node recovers', () => {
  // spec/storage.md "A damaged batch": node a's disk gets a flipped bit in a batch that b and c
  // hold the entries of; behind it are batches with an acknowledged write that only a holds (it
  // was cut off from b and c). The restart cuts the disk at the damaged batch, learns the entries
  // the cut dropped from b and c, gets the ones only it held back from the intact batches, and
  // seals its next entry after them.
  function damaged(flipAt: 'middle' | 'first') {
    const checker = new InvariantChecker({ correct: () => true })
    let isolated: Pid | undefined
    const network = { route: (from: string, to: string) => (isolated !== undefined && (from === isolated || to === isolated) ? { delays: [], drop: 'partition' as const } : { delays: [5] }) }
    const cluster = new Cluster({ crypto: nobleCrypto, network, keepTrace: true, observe: (o, c) => checker.observe(o, c) })
    const [a, b, c] = [1, 2, 3].map((i) => cluster.addNode(key(i))) as [Pid, Pid, Pid]
    const g = genesisOf(cluster.request(a, { type: 'create-volume', name: V, policy: 'majority' }))
    for (const p of [b, c]) {
      cluster.request(p, { type: 'join-volume', genesis: g, contacts: [a] })
      cluster.runFor(1000)
    }
    const write = (path: string, body: string) =>
      cluster.request(a, { type: 'fs', volume: V, call: { type: 'create', path, mode: 0o644, cred, time } }).ok &&
      cluster.request(a, { type: 'fs', volume: V, call: { type: 'write', path, writes: [{ offset: 0, data: text(body) }], cred, time } }).ok
    expect(write('/kept.txt', 'kept')).toBe(true)
    cluster.runFor(2000)
    const damagedAt = flipAt === 'first' ? 0 : cluster.node(a).disk.length
    expect(write('/held.txt', 'held by the members too')).toBe(true)
    cluster.runFor(2000)
    const heldByMembers = cluster.node(b).state.volumes.get(V)!.fotb.chains.get(a)!.view.seq
    isolated = a
    expect(write('/only-a.txt', 'acknowledged, only on the disk of a')).toBe(true)
    cluster.runFor(2000)
    const sealedSeq = cluster.node(a).state.volumes.get(V)!.fotb.own.seq
    expect(sealedSeq).toBeGreaterThan(heldByMembers)
    cluster.crash(a)
    cluster.flipDiskBit(a, damagedAt, 8 * 20 + 3)
    cluster.restart(a)
    isolated = undefined
    return { cluster, checker, a, b, damagedAt, sealedSeq }
  }

  it('keeps every acknowledged write: the dropped entries come from the members, the ones only it held from the intact batches', () => {
    const { cluster, checker, a, b, damagedAt, sealedSeq } = damaged('middle')
    const faults = cluster.trace.filter((e) => e.t === 'fault' && e.node === a).map((e) => (e as { what: string }).what)
    expect(faults.some((w) => w.startsWith(`restart cuts the disk at damaged batch ${damagedAt} (checksum, length or encoding does not match): `))).toBe(true)
    const v = () => cluster.node(a).state.volumes.get(V)!
    expect(cluster.node(a).halted).toBe(false)
    expect(v().fotb.recovering).toBeDefined()
    expect(v().fotb.own.seq).toBeLessThan(sealedSeq)
    cluster.runFor(10_000)
    expect(cluster.trace.some((e) => e.t === 'fault' && e.node === a && /^own entries v#\d+\.\.\d+ handed back/.test(e.what))).toBe(true)
    expect(v().fotb.recovering).toBeUndefined()
    expect(v().fotb.own.seq).toBe(sealedSeq)
    expect(content(cluster, a, '/held.txt')).toBe('held by the members too')
    expect(content(cluster, a, '/only-a.txt')).toBe('acknowledged, only on the disk of a')
    expect(content(cluster, b, '/only-a.txt')).toBe('acknowledged, only on the disk of a')
    expect(cluster.request(a, { type: 'fs', volume: V, call: { type: 'mkdir', path: '/after', mode: 0o755, cred, time } }).ok).toBe(true)
    cluster.runFor(5000)
    expect(v().fotb.own.seq).toBe(sealedSeq + 1)
    expect(cluster.node(b).state.volumes.get(V)!.fotb.proofs.size).toBe(0) // no equivocation seen
    checker.checkQuiesced(cluster, { equalRoots: true })
    expect(checker.violations).toEqual([])
    expect(checker.notes).toEqual([])
  })

  it('refuses to cut where the cut would drop a genesis: the node stops for good and names why', () => {
    const { cluster, a } = damaged('first')
    const n = cluster.node(a)
    expect(n.halted).toBe(true)
    expect(n.up).toBe(false)
    // The first problem says why; the rest of the disk is still read (so that the port holds what
    // the kept state refers to), and restore names what that lacks (the genesis was in batch 0).
    expect(n.restoreProblems.map((p) => `${p.record}: ${p.problem}`)[0]).toBe(
      'disk batch 0: checksum, length or encoding does not match; the batch holds or precedes the genesis of v (batch 0), so the node cannot be repaired by cutting its disk there',
    )
  })
})
