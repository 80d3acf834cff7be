// A full disk in the simulator (spec/runtime.md RT-10, RT-1; sim/cluster.ts setDiskFull), with
// every invariant checker running: with the reserve check, an fs call is refused ENOSPC and never
// stepped; without it, the step whose batch meets the full disk is held — no reply, no message
// leaves the node, nothing after it is stepped — and once space returns it is written and
// performed, and the others get the operation. FOTB-9: nothing acknowledged is lost.
import { describe, expect, it } from 'vitest'
import { nobleCrypto } from '../core/crypto.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { Cluster } from '../sim/cluster.ts'
import { InvariantChecker } from '../sim/invariants.ts'
import { genesisOf, key } from './support/nodes.ts'

const V = 'v' as VolumeName
const cred = { uid: 1000, gid: 1000 }
const time = { sec: 1_700_000_000, nsec: 0 }

function cluster3() {
  const checker = new InvariantChecker({ correct: () => true })
  const sends: { from: Pid; at: number }[] = []
  const cluster = new Cluster({ crypto: nobleCrypto, observe: (o, c) => (checker.observe(o, c), o.type === 'send' && sends.push({ from: o.from, at: o.at })) })
  const [a, b, c] = [1, 2, 3].map((i) => cluster.addNode(key(i))) as [Pid, Pid, Pid]
  const g = genesisOf(cluster.request(a, { type: 'create-volume', name: V, policy: 'majority' }))
  for (const p of [b, c]) {
    cluster.request(p, { type: 'join-volume', genesis: g, contacts: [a] })
    cluster.runFor(1000)
  }
  return { cluster, checker, sends, a, b }
}
const mkdir = (path: string) => ({ type: 'fs' as const, volume: V, call: { type: 'mkdir' as const, path, mode: 0o755, cred, time } })

describe('[RT-10] [RT-1] [FOTB-9] a full disk in the simulator', () => {
  it('with the reserve check: ENOSPC, and the call is never stepped', () => {
    const { cluster, checker, a } = cluster3()
    const seq = cluster.node(a).state.volumes.get(V)!.fotb.own.seq
    cluster.setDiskFull(a, 'reserve')
    expect(cluster.request(a, mkdir('/refused'))).toMatchObject({ ok: false, errno: 'ENOSPC' })
    expect(cluster.node(a).state.volumes.get(V)!.fotb.own.seq).toBe(seq)
    cluster.setDiskFull(a, null)
    expect(cluster.request(a, mkdir('/taken')).ok).toBe(true)
    cluster.runFor(5000)
    checker.checkQuiesced(cluster, { equalRoots: true })
    expect(checker.violations).toEqual([])
  })

  it('without it: the batch is held (no reply, nothing sent, nothing stepped after it), then written and performed once space returns', () => {
    const { cluster, checker, sends, a, b } = cluster3()
    cluster.setDiskFull(a, 'no-reserve')
    const disk = cluster.node(a).disk.length
    const logB = cluster.node(b).state.volumes.get(V)!.log.length
    const reply = cluster.request(a, mkdir('/held'))
    expect(reply.ok).toBe(false) // no answer: its batch waits for space
    const heldAt = cluster.now
    cluster.runFor(5000)
    expect(cluster.node(a).held).not.toBeNull()
    expect(cluster.node(a).disk.length).toBe(disk)
    expect(sends.filter((s) => s.from === a && s.at >= heldAt)).toEqual([]) // RT-1: nothing left the node
    expect(cluster.node(a).waiting.length).toBeGreaterThan(0) // ticks and echoes wait behind it
    expect(cluster.request(a, mkdir('/meanwhile'))).toMatchObject({ ok: false, errno: 'ENOSPC' })
    expect(cluster.node(b).state.volumes.get(V)!.log.length).toBe(logB)
    cluster.setDiskFull(a, null)
    cluster.runFor(5000)
    expect(cluster.node(a).held).toBeNull()
    expect(cluster.node(a).disk.length).toBeGreaterThan(disk)
    expect(cluster.node(b).state.volumes.get(V)!.log.length).toBe(logB + 1) // the held op reached b
    checker.checkQuiesced(cluster, { equalRoots: true })
    expect(checker.violations).toEqual([])
  })
})
