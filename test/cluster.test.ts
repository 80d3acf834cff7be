// Whole-cluster tests of the core on a lossless in-test network (sim/cluster.ts): several nodes,
// two volumes, concurrent writes, a join, a leave and a lying member, with every invariant
// checker of sim/invariants.ts running on every step.
import { describe, expect, it } from 'vitest'
import { nobleCrypto } from '../core/crypto.ts'
import { decode, encode, type Value } from '../core/codec.ts'
import { toHex } from '../core/bytes.ts'
import { Cluster } from '../sim/cluster.ts'
import { InvariantChecker } from '../sim/invariants.ts'
import { membersOf } from '../core/volume/index.ts'
import { readFile } from '../core/fs/view.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { genesisOf, key } from './support/nodes.ts'

const ALPHA = 'alpha' as VolumeName
const BETA = 'beta' as VolumeName
const cred = { uid: 1000, gid: 1000 }
const text = (s: string): Uint8Array => new TextEncoder().encode(s)


/** Lies in every PUT this node sends: the salt is flipped, so the salted hash cannot match. */
function lyingPuts(liar: Pid) {
  return (from: Pid, _to: Pid, bytes: Uint8Array): Uint8Array | undefined => {
    if (from !== liar) return bytes
    const msg = decode(bytes) as Value[]
    if (msg[0] !== 'vol/put') return bytes
    const salt = (msg[3] as Uint8Array).slice()
    salt[0]! ^= 1
    return encode([msg[0]!, msg[1]!, msg[2]!, salt, msg[4]!, msg[5]!])
  }
}

interface Scenario {
  cluster: Cluster
  checker: InvariantChecker
  pids: Pid[]
  liar: Pid
  trace: string[]
}

function runScenario(): Scenario {
  const trace: string[] = []
  let liar = '' as Pid
  const checker = new InvariantChecker({ correct: (p) => p !== liar })
  const cluster = new Cluster({
    crypto: nobleCrypto,
    observe: (o, c) => {
      checker.observe(o, c)
      if (o.type === 'send') trace.push(`${o.at} ${o.from.slice(0, 6)}>${o.to.slice(0, 6)} ${toHex(nobleCrypto.sha256(o.bytes)).slice(0, 16)}`)
    },
    tamper: (from, to, bytes) => lyingPuts(liar)(from, to, bytes),
  })
  const pids = [1, 2, 3, 4, 5].map((i) => cluster.addNode(key(i)))
  const [a, b, c, d, e] = pids as [Pid, Pid, Pid, Pid, Pid]
  liar = e
  const alpha = genesisOf(cluster.request(a, { type: 'create-volume', name: ALPHA, policy: 'majority' }))
  for (const p of [b, c, d]) {
    expect(cluster.request(p, { type: 'join-volume', genesis: alpha, contacts: [a] }).ok).toBe(true)
    cluster.runFor(500)
  }
  const beta = genesisOf(cluster.request(b, { type: 'create-volume', name: BETA, policy: 'majority' }))
  cluster.request(c, { type: 'join-volume', genesis: beta, contacts: [b] })
  cluster.runFor(1000)

  // Concurrent, non-conflicting writes: every member works in its own directory, all at once.
  const t = (sec: number) => ({ sec, nsec: 123 })
  for (const [i, p] of [a, b, c, d].entries()) {
    expect(cluster.request(p, { type: 'fs', volume: ALPHA, call: { type: 'mkdir', path: `/n${i}`, mode: 0o755, cred, time: t(10) } }).ok).toBe(true)
  }
  for (let round = 0; round < 5; round++) {
    for (const [i, p] of [a, b, c, d].entries()) {
      const path = `/n${i}/doc${round}.txt`
      expect(cluster.request(p, { type: 'fs', volume: ALPHA, call: { type: 'create', path, mode: 0o644, cred, time: t(20 + round) } }).ok).toBe(true)
      const data = text(`invoice ${round} of node ${i} `.repeat(round * 50 + 1))
      expect(cluster.request(p, { type: 'fs', volume: ALPHA, call: { type: 'write', path, writes: [{ offset: 0, data }], cred, time: t(21 + round) } }).ok).toBe(true)
    }
    cluster.runFor(20)
  }
  cluster.request(b, { type: 'fs', volume: BETA, call: { type: 'mkdir', path: '/private', mode: 0o700, cred, time: t(30) } })
  cluster.request(c, { type: 'fs', volume: BETA, call: { type: 'symlink', path: '/link', target: '/private', cred, time: t(31) } })
  cluster.runFor(2000)

  // D leaves alpha; E joins alpha and then lies about its own operation.
  cluster.request(d, { type: 'leave-volume', volume: ALPHA })
  cluster.runFor(2000)
  cluster.request(e, { type: 'join-volume', genesis: alpha, contacts: [a, b] })
  cluster.runFor(2000)
  cluster.request(e, { type: 'fs', volume: ALPHA, call: { type: 'create', path: '/forged', mode: 0o644, cred, time: t(40) } })
  // More honest work while the lie is being handled.
  cluster.request(a, { type: 'fs', volume: ALPHA, call: { type: 'rename', from: '/n0/doc0.txt', to: '/n0/renamed.txt', cred, time: t(41) } })
  cluster.request(c, { type: 'fs', volume: ALPHA, call: { type: 'link', from: '/n2/doc1.txt', to: '/n2/hardlink', cred, time: t(42) } })
  // Heal phase: long enough for the whole remote_get schedule (63.5 s) to run out.
  cluster.runFor(120_000)
  return { cluster, checker, pids, liar, trace }
}

describe('a cluster of five nodes with two volumes', () => {
  const s = runScenario()
  const [a, b, c, d, e] = s.pids as [Pid, Pid, Pid, Pid, Pid]
  const alphaAt = (p: Pid) => s.cluster.node(p).state.volumes.get(ALPHA)!

  it('[FOTB-1] [FOTB-2] [FOTB-3] [FOTB-4] [VOL-1] [VOL-3] [VOL-4] [VOL-7] hold on every step', () => {
    expect(s.checker.violations).toEqual([])
  })

  it('[FOTB-5] [FOTB-6] [VOL-2] [VOL-5] [VOL-6] [VOL-8] [VOL-10] hold after the heal phase: agreement, equal roots, clean verify, the liar removed', () => {
    const late = s.checker.checkQuiesced(s.cluster, { equalRoots: true, expectRemoved: [{ volume: ALPHA, pid: e }] })
    expect(late).toEqual([])
  })

  it('membership: the leaver and the liar are removed, the rest agree', () => {
    for (const p of [a, b, c]) {
      expect(membersOf(alphaAt(p))).toEqual([a, b, c].sort())
      expect(alphaAt(p).status.get(d)).toBe('removed')
      expect(alphaAt(p).status.get(e)).toBe('removed')
    }
  })

  it('[VOL-5] the liar\'s operation is never applied and is recorded as withheld, not dropped', () => {
    for (const p of [a, b, c]) {
      const v = alphaAt(p)
      expect(v.skipped.filter((r) => r.author === e).map((r) => r.why)).toEqual(['withheld'])
      expect(v.log.toArray().some((r) => r.author === e)).toBe(false)
    }
  })

  it('replicas hold every document with its content, on every member', () => {
    for (const p of [a, b, c]) {
      const v = alphaAt(p)
      const chunks = (h: string) => s.cluster.node(p).chunks.chunk(ALPHA, h as never)
      const r = readFile(v.fs, chunks, '/n3/doc4.txt', 0, 1 << 20)
      expect(r.ok && new TextDecoder().decode(r.value)).toBe('invoice 4 of node 3 '.repeat(201))
      expect(readFile(v.fs, chunks, '/n0/renamed.txt', 0, 100).ok).toBe(true)
    }
  })

  it('a second volume stays invisible to nodes that are not its members', () => {
    expect(s.cluster.node(a).state.volumes.has(BETA)).toBe(false)
    expect(s.cluster.node(d).state.volumes.has(BETA)).toBe(false)
    const betaB = s.cluster.node(b).state.volumes.get(BETA)!
    const betaC = s.cluster.node(c).state.volumes.get(BETA)!
    expect(betaB.log.length).toBe(2)
    expect(betaC.log.length).toBe(2)
    // Nothing of beta ever reached a or d: every message they received names another volume.
    expect(s.cluster.node(a).state.stats.get('reject:unknown-volume') ?? 0).toBe(0)
  })

  it('is deterministic: the same inputs give a byte-identical message trace', () => {
    const again = runScenario()
    expect(again.trace.length).toBe(s.trace.length)
    expect(again.trace).toEqual(s.trace)
  })
})

describe('crash and restart', () => {
  it('[FOTB-3] a node rebuilt from its disk delivers nothing twice, catches up and verifies clean', () => {
    const checker = new InvariantChecker({ correct: () => true })
    const cluster = new Cluster({ crypto: nobleCrypto, observe: (o, c) => checker.observe(o, c) })
    const [a, b, c] = [1, 2, 3].map((i) => cluster.addNode(key(i))) as [Pid, Pid, Pid]
    const alpha = genesisOf(cluster.request(a, { type: 'create-volume', name: ALPHA, policy: 'majority' }))
    for (const p of [b, c]) {
      cluster.request(p, { type: 'join-volume', genesis: alpha, contacts: [a] })
      cluster.runFor(500)
    }
    // c must see itself admitted before it crashes: a joiner replays the membership entries in
    // causal order (spec/paciofs.md), so it waits for b's join and echo, about a heartbeat.
    cluster.runFor(1000)
    for (const p of [a, b, c]) expect(membersOf(cluster.node(p).state.volumes.get(ALPHA)!)).toEqual([a, b, c].sort())
    const t = { sec: 1, nsec: 0 }
    for (let i = 0; i < 10; i++) {
      cluster.request(a, { type: 'fs', volume: ALPHA, call: { type: 'create', path: `/a${i}`, mode: 0o644, cred, time: t } })
      cluster.request(b, { type: 'fs', volume: ALPHA, call: { type: 'create', path: `/b${i}`, mode: 0o644, cred, time: t } })
      if (i === 4) cluster.crash(c)
      cluster.runFor(30)
    }
    cluster.runFor(1000)
    cluster.restart(c)
    expect(cluster.node(c).restoreProblems).toEqual([])
    cluster.request(c, { type: 'fs', volume: ALPHA, call: { type: 'create', path: '/c-after-restart', mode: 0o644, cred, time: t } })
    cluster.runFor(10_000)
    expect(checker.violations).toEqual([])
    expect(checker.checkQuiesced(cluster, { equalRoots: true })).toEqual([])
    expect(cluster.node(c).state.volumes.get(ALPHA)!.log.length).toBe(21)
  })
})
