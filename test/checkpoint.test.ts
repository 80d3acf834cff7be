// Checkpoints (spec/checkpoint.md): restart from the newest valid checkpoint gives what restart
// from genesis gives, with the signatures it covers not checked again; forged, foreign and
// damaged checkpoints are skipped and named; a runtime node stopped cleanly restarts from the
// checkpoint it wrote at shutdown.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encode, type Value } from '../core/codec.ts'
import { fromHex } from '../core/bytes.ts'
import type { Crypto } from '../core/crypto.ts'
import { nodeConfig, restoreNode, verifyNodeVolume, type NodeConfig, type NodeReply } from '../core/node.ts'
import { MemoryStorage } from '../core/storage.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import { checkpointOf, checkpointRecord, CHECKPOINT_TAG_V1, DEFAULT_VOLUME_PARAMS, parseCheckpoint, type VolumeState } from '../core/volume/index.ts'
import type { EntryHash, VolumeName } from '../core/types.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import { NodeHost } from '../runtime/host.ts'
import { RecordStore } from '../runtime/store.ts'
import { Driver } from '../bench/node-bench.ts'
import { runSim, DEFAULT_SIM_CONFIG } from '../sim/run.ts'

const V = 'bench' as VolumeName
const cred = { uid: 1000, gid: 1000 }
const EVERY = 16

/** A crypto that counts signature checks (seals and checkpoints). */
function counting(base: Crypto): { crypto: Crypto; verifies: () => number } {
  let n = 0
  const crypto: Crypto = {
    ...base,
    verify: (s, d, k) => (n++, base.verify(s, d, k)),
    ...(base.verifyMessage ? { verifyMessage: (s: Uint8Array, m: Uint8Array, k: Uint8Array) => (n++, base.verifyMessage!(s, m, k)) } : {}),
  }
  return { crypto, verifies: () => n }
}

/** A single-member volume driven through `ops` fs calls; every persisted record, in order. */
function build(ops: number, checkpointEvery = EVERY): { config: NodeConfig; records: Value[]; driver: Driver } {
  const store = new MemoryStorage()
  const records: Value[] = []
  const absorb = store.absorb.bind(store)
  store.absorb = (rs) => {
    records.push(...rs)
    absorb(rs)
  }
  const config = nodeConfig(nodeCrypto, nodeCrypto.sha256(new Uint8Array([7])), { ...DEFAULT_VOLUME_PARAMS, checkpointEvery }, undefined, store)
  const d = new Driver(config)
  const ok = (r: NodeReply): void => {
    if (!r.ok) throw new Error(`call failed: ${JSON.stringify(r)}`)
  }
  ok(d.request({ type: 'create-volume', name: V, policy: 'majority' }))
  for (let i = 0; i < ops; i++) {
    const path = `/f${i % 7}`
    if (i < 7) ok(d.request({ type: 'fs', volume: V, call: { type: 'create', path, mode: 0o644, cred, time: d.fsTime() } }))
    else ok(d.request({ type: 'fs', volume: V, call: { type: 'write', path, writes: [{ offset: i, data: new Uint8Array([i & 255]) }], cred, time: d.fsTime() } }))
  }
  return { config, records, driver: d }
}

const volOf = (s: { volumes: Map<VolumeName, VolumeState> }): VolumeState => s.volumes.get(V)!
/** `summary` without the checkpoint the restart took (a restart ignoring checkpoints has none). */
const sameState = (v: VolumeState): string => JSON.stringify({ ...JSON.parse(summary(v)), lastCheckpoint: 0 })
const summary = (v: VolumeState): string =>
  JSON.stringify({
    views: [...v.fotb.chains].map(([p, l]) => [p, l.view.seq, l.view.head, l.view.seals.toArray().length]),
    delivered: [...v.fotb.delivered],
    log: v.log.length,
    root: stateRoot(v.fs),
    status: [...v.status],
    lastCheckpoint: v.lastCheckpoint,
  })

describe('restart from a checkpoint', () => {
  it('[CKPT-1] gives the state restart from genesis gives, checking only the signatures of the tail', () => {
    const { config, records } = build(100)
    const withCk = counting(nodeCrypto)
    const a = restoreNode({ ...config, crypto: withCk.crypto }, records)
    const none = counting(nodeCrypto)
    const b = restoreNode({ ...config, crypto: none.crypto }, records, { ignoreCheckpoints: true })
    expect(a.problems).toEqual([])
    expect(b.problems).toEqual([])
    // 101 steps (create-volume + 100 calls), one seal each; the newest checkpoint at epoch 96.
    expect(a.checkpoints.get(V)).toEqual({ used: 96, rejected: [], image: 'used', tail: true })
    expect(b.checkpoints.get(V)).toEqual({ used: null, rejected: [], image: 'none', tail: false })
    const sa = JSON.parse(summary(volOf(a.state)))
    const sb = JSON.parse(summary(volOf(b.state)))
    expect(sa.lastCheckpoint).toBe(96)
    expect({ ...sa, lastCheckpoint: 0 }).toEqual({ ...sb, lastCheckpoint: 0 })
    // Without: every seal (>= 100). With: the checkpoints' signatures (6) and the seals after 96.
    expect(none.verifies()).toBeGreaterThanOrEqual(100)
    expect(withCk.verifies()).toBeLessThanOrEqual(6 + 6)
  })

  it('[CKPT-4] with the image of the checkpoint used, only the log after it is replayed: no plain op below it is read', () => {
    const { config, records } = build(100)
    const store = config.storage as MemoryStorage
    const reads: string[] = []
    const plain = store.plain.bind(store)
    const counted = Object.assign(Object.create(Object.getPrototypeOf(store) as object) as MemoryStorage, store, {
      plain: (volume: VolumeName, obf: string) => (reads.push(obf), plain(volume, obf as never)),
    })
    const a = restoreNode({ ...config, storage: counted }, records)
    expect(a.problems).toEqual([])
    expect(a.checkpoints.get(V)!.image).toBe('used')
    // Epochs 97..101 (the tail) are replayed; 1..96 come from the image.
    const tail = volOf(a.state).fs.epoch - 96
    expect(tail).toBeGreaterThan(0)
    expect(reads.length).toBe(tail)
    const full = restoreNode(config, records, { ignoreCheckpoints: true })
    expect(sameState(volOf(a.state))).toBe(sameState(volOf(full.state)))
    // History below the image is read from the store as before.
    expect(volOf(a.state).fs.past.logLength).toBe(volOf(full.state).fs.past.logLength)
    expect(volOf(a.state).fs.past.versions(1).length).toBe(volOf(full.state).fs.past.versions(1).length)
  })

  it('[CKPT-4] a damaged image (parses, wrong content) is rejected and named; the whole log is replayed to the same state', () => {
    const { config, records } = build(100)
    let last = records.length - 1
    while (!(Array.isArray(records[last]) && (records[last] as Value[])[0] === 'image')) last--
    const img = records[last] as Value[]
    // Change one inode's mode in the newest image: still an image, no longer the checkpoint's root.
    const inodes = (img[3] as Value[]).map((x) => {
      const [ino, rec] = x as [number, Value[]]
      const version = [...(rec[1] as Value[])]
      version[1] = (version[1] as number) ^ 0o004
      return [ino, [rec[0]!, version, rec[2]!, rec[3]!]]
    })
    const damaged = [...records.slice(0, last), ['image', img[1]!, img[2]!, inodes], ...records.slice(last + 1)]
    const a = restoreNode(config, damaged)
    expect(a.problems).toEqual([])
    expect(a.checkpoints.get(V)!.image).toEqual({ rejected: 'its state root is not the checkpoint\'s' })
    const full = restoreNode(config, records, { ignoreCheckpoints: true })
    expect(sameState(volOf(a.state))).toBe(sameState(volOf(full.state)))
    // Not parsing at all: rejected with the reason, the same state again.
    const garbage = [...records.slice(0, last), ['image', img[1]!, img[2]!, [[1, ['not', 'an', 'inode']]]], ...records.slice(last + 1)]
    const g = restoreNode(config, garbage)
    expect(g.checkpoints.get(V)!.image).toEqual({ rejected: 'inode 1 does not parse' })
    expect(sameState(volOf(g.state))).toBe(sameState(volOf(full.state)))
  })

  it('[CKPT-1] a restored node goes on and its next checkpoint comes EVERY epochs after the one it used', () => {
    const { config, records } = build(40)
    const r = restoreNode(config, records)
    expect(volOf(r.state).lastCheckpoint).toBe(32)
  })

  it('[CKPT-3] a checkpoint names the heads and the state root at the end of its step', () => {
    const { config, records, driver } = build(EVERY)
    const last = records.filter((r) => Array.isArray(r) && r[0] === 'checkpoint').at(-1)!
    const p = parseCheckpoint(config.crypto, V, driver.state.me, last)
    expect(p.ok).toBe(true)
    if (!p.ok) return
    const now = checkpointOf(volOf(driver.state))
    expect(p.checkpoint.epoch).toBe(EVERY)
    expect(p.checkpoint.root).toBe(now.root)
    expect([...p.checkpoint.heads]).toEqual([...now.heads])
  })

  it('the host\'s checkpoint request checkpoints every volume whose epoch moved, once', () => {
    const { records, driver } = build(20)
    const before = records.length
    driver.request({ type: 'checkpoint' })
    const added = records.slice(before).filter((r) => Array.isArray(r) && r[0] === 'checkpoint')
    expect(added).toHaveLength(1)
    expect(volOf(driver.state).lastCheckpoint).toBe(20)
    driver.request({ type: 'checkpoint' })
    expect(records.slice(before).filter((r) => Array.isArray(r) && r[0] === 'checkpoint')).toHaveLength(1)
  })
})

describe('an invalid checkpoint is never used', () => {
  it('[CKPT-2] a forged newest checkpoint (bad signature) and another node\'s are skipped and named', () => {
    const { config, records, driver } = build(40)
    const v = volOf(driver.state)
    const forged = ['checkpoint', V, encode([CHECKPOINT_TAG_V1, V, fromHex(driver.state.me)!, 10_000, new Uint8Array(32), []]), new Uint8Array(64)]
    const otherKey = nodeCrypto.sha256(new Uint8Array([9]))
    const foreign = checkpointRecord(nodeCrypto, otherKey, { ...checkpointOf(v), epoch: 20_000, node: driver.state.me })
    const r = restoreNode(config, [...records, forged, foreign])
    expect(r.problems).toEqual([])
    const use = r.checkpoints.get(V)!
    expect(use.used).toBe(32)
    expect(use.rejected.map((x) => x.why).sort()).toEqual(["its signature does not verify under this node's key", "its signature does not verify under this node's key"])
  })

  it('[CKPT-2] a signed checkpoint whose heads are not in the chains is skipped; the previous one is used', () => {
    const { config, records, driver } = build(40)
    const v = volOf(driver.state)
    const c = checkpointOf(v)
    const wrongHeads = new Map([...c.heads].map(([p, h]) => [p, { seq: h.seq, head: '11'.repeat(32) as EntryHash }] as const))
    const damaged = checkpointRecord(nodeCrypto, config.secretKey, { ...c, epoch: 41, heads: wrongHeads })
    const r = restoreNode(config, [...records, damaged])
    expect(r.problems).toEqual([])
    expect(r.checkpoints.get(V)!.used).toBe(32)
    expect(r.checkpoints.get(V)!.rejected).toEqual([{ epoch: 41, why: 'its heads of 1 chain(s) are not in the restored ledger' }])
  })

  it('[CKPT-2] [CKPT-5] a changed entry below the checkpoint: a restart from the tail never reads it, verify finds it, a restart from genesis stops on it', () => {
    const { config, records } = build(40)
    // Replace the payload of the entry at seq 3 by another one: its hash chain breaks.
    const i = records.findIndex((r) => Array.isArray(r) && r[0] === 'entry' && (r[2] as Uint8Array).length > 0 && records.indexOf(r) > 10)
    const tampered = [...records]
    const bytes = (tampered[i] as Value[])[2] as Uint8Array
    const changed = bytes.slice()
    changed[changed.length - 1]! ^= 1
    tampered[i] = ['entry', V, changed]
    // The entries are read through the port: a port holding what the tampered records persisted.
    const port = new MemoryStorage()
    port.absorb(tampered)
    const r = restoreNode({ ...config, storage: port }, tampered)
    expect(r.problems).toEqual([])
    expect(r.checkpoints.get(V)).toMatchObject({ used: 32, tail: true })
    const findings = verifyNodeVolume({ ...config, storage: port }, r.state, V)
    expect(findings.some((f) => /^ledger /.test(f.where)), JSON.stringify(findings)).toBe(true)
    // Without the tail (as before v2 checkpoints): no checkpoint describes the disk, every
    // signature is checked, and the changed entry stops the restart.
    const full = restoreNode({ ...config, storage: port }, tampered, { noTail: true })
    expect(full.problems.length).toBeGreaterThan(0)
    expect(full.checkpoints.get(V)!.used).toBe(null)
    expect(full.checkpoints.get(V)!.rejected.length).toBeGreaterThan(0)
  })

  it('[CKPT-2] a checkpoint whose root replay does not reproduce stops the restart (fail-stop)', () => {
    const { config, records, driver } = build(40)
    const c = checkpointOf(volOf(driver.state))
    const wrongRoot = checkpointRecord(nodeCrypto, config.secretKey, { ...c, root: '22'.repeat(32) })
    const r = restoreNode(config, [...records, wrongRoot])
    expect(r.problems.map((p) => p.problem)).toEqual(['replay does not reproduce the state root the node had at that epoch'])
  })

  it('[CKPT-1] [CKPT-2] simulated clusters with crashes around checkpoints and forged checkpoints on their disks pass', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = runSim({ ...DEFAULT_SIM_CONFIG, seed, ops: 40, forgeCheckpoints: true })
      expect(r.violations, `seed ${seed}`).toEqual([])
    }
  })
})

describe('restart from the tail, seeds that found bugs', () => {
  it('[CKPT-5] seed 2057 (a chain with nothing delivered) and seed 1076 (a batch with image records lost to a bit flip: the image is rejected, never walked) restart from the tail as from genesis', () => {
    const r2057 = runSim({ ...DEFAULT_SIM_CONFIG, seed: 2057, ops: 100, volumes: 3 })
    expect(r2057.violations).toEqual([])
    const r1076 = runSim({ ...DEFAULT_SIM_CONFIG, seed: 1076, ops: 60 })
    expect(r1076.violations).toEqual([])
  })
})

describe('the runtime', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  it('[CKPT-4] a time before 1970 survives the past and the image: history, image restart and verify', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'paciofs-ckpt-'))
    dirs.push(dataDir)
    const opts = { dataDir, secretKey: nodeCrypto.sha256(new Uint8Array([4])), listen: { host: '127.0.0.1', port: 0 }, peers: [] }
    const a = await NodeHost.start(opts)
    await a.request({ type: 'create-volume', name: V, policy: 'majority' })
    const t = { sec: 1, nsec: 0 }
    expect((await a.request({ type: 'fs', volume: V, call: { type: 'create', path: '/old', mode: 0o644, cred, time: t } })).ok).toBe(true)
    const r = await a.request({ type: 'fs', volume: V, call: { type: 'utimens', path: '/old', atime: { sec: -315_619_200, nsec: 5 }, mtime: { sec: -1, nsec: 999_999_999 }, cred, time: t } })
    expect(r.ok).toBe(true)
    const root = stateRoot(volOf(a.state).fs)
    await a.stop()
    const b = await NodeHost.start(opts)
    try {
      expect(b.restoredFrom.get(V)!.image).toBe('used')
      const fs = volOf(b.state).fs
      expect(stateRoot(fs)).toBe(root)
      const ino = fs.inodes.get(1)!.entries!.get('old')!
      const versions = fs.past.versions(ino)
      expect(versions.map((v) => v.mtime.sec)).toEqual([1, -1])
      expect((fs.past as { damaged?: number }).damaged ?? 0).toBe(0)
    } finally {
      await b.stop()
    }
  })

  it('[CKPT-5] a node restarted after a checkpoint reads only the tail: no batch, log record, plain op or entry below it but one head per chain', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'paciofs-ckpt-'))
    dirs.push(dataDir)
    const opts = { dataDir, secretKey: nodeCrypto.sha256(new Uint8Array([5])), listen: { host: '127.0.0.1', port: 0 }, peers: [], params: { ...DEFAULT_VOLUME_PARAMS, checkpointEvery: 16 } }
    const a = await NodeHost.start(opts)
    await a.request({ type: 'create-volume', name: V, policy: 'majority' })
    const write = async (h: NodeHost, i: number): Promise<void> => {
      expect((await h.request({ type: 'fs', volume: V, call: { type: 'create', path: `/f${i}`, mode: 0o644, cred, time: { sec: i, nsec: 0 } } })).ok).toBe(true)
      expect((await h.request({ type: 'fs', volume: V, call: { type: 'write', path: `/f${i}`, writes: [{ offset: 0, data: new Uint8Array(100).fill(i) }], cred, time: { sec: i, nsec: 1 } } })).ok).toBe(true)
    }
    for (let i = 0; i < 50; i++) await write(a, i)
    const root = stateRoot(volOf(a.state).fs)
    const epoch = volOf(a.state).fs.epoch
    await a.stop()
    const b = await NodeHost.start(opts)
    try {
      expect(b.restoredFrom.get(V)).toMatchObject({ used: epoch, tail: true, image: 'used' })
      expect(stateRoot(volOf(b.state).fs)).toBe(root)
      // One entry read from disk: the head of the one chain (the checkpoint must describe the disk).
      expect(b.chunkStore.recordCounters.diskReads).toBe(1)
      expect(b.chunkStore.counters.reads).toBe(0) // no chunk
      expect(volOf(b.state).log.length).toBe(epoch)
      expect(volOf(b.state).log.held).toBe(0)
      // It goes on, and the log below reads back through the port.
      await write(b, 100)
      expect(volOf(b.state).log.at(3)?.kind).toBe('create')
      expect(volOf(b.state).fotb.chains.get(b.pid)!.view.hashes.base).toBeGreaterThan(0)
    } finally {
      await b.stop()
    }
  })

  it('[CKPT-1] a node stopped cleanly restarts from the checkpoint it wrote at shutdown', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'paciofs-ckpt-'))
    dirs.push(dataDir)
    const secretKey = nodeCrypto.sha256(new Uint8Array([3]))
    const opts = { dataDir, secretKey, listen: { host: '127.0.0.1', port: 0 }, peers: [] }
    const a = await NodeHost.start(opts)
    await a.request({ type: 'create-volume', name: V, policy: 'majority' })
    for (let i = 0; i < 30; i++) {
      const r = await a.request({ type: 'fs', volume: V, call: { type: 'mkdir', path: `/d${i}`, mode: 0o755, cred, time: { sec: 1, nsec: 0 } } })
      expect(r.ok).toBe(true)
    }
    const epoch = volOf(a.state).fs.epoch
    const root = stateRoot(volOf(a.state).fs)
    await a.stop()
    // The store keeps the images' fold under t: keys, not in the batches: loadAll hands on one
    // image record, the last one, holding every inode (the root and the 30 directories).
    const raw = await RecordStore.open(dataDir)
    try {
      const { records } = await raw.loadAll()
      const images = records.filter((r) => Array.isArray(r) && r[0] === 'image')
      expect(images).toHaveLength(1)
      expect(records.at(-1)).toBe(images[0])
      expect((images[0] as Value[])[2]).toBe(epoch)
      expect(((images[0] as Value[])[3] as Value[]).length).toBe(31)
    } finally {
      await raw.close()
    }
    const b = await NodeHost.start(opts)
    try {
      expect(b.restoredFrom.get(V)).toEqual({ used: epoch, rejected: [], image: 'used', tail: true })
      expect(stateRoot(volOf(b.state).fs)).toBe(root)
    } finally {
      await b.stop()
    }
  })
})
