// The record store on a full disk and with a lost tail (spec/runtime.md RT-10, RT-9), on a real
// tmpfs (root only): a batch that meets a full disk is refused with STORE_FULL, nothing of it is
// referenced, every earlier batch stays readable (reads go on while the disk is full), and once
// space is freed the same batch is written with its own number — no reopen by the caller, no gap.
// Then the tail witness: a store whose newest batch went missing behind its back is reported.
import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { fromHex, toHex } from '../core/bytes.ts'
import { chunkRecord } from '../core/storage.ts'
import type { Value } from '../core/codec.ts'
import type { ChunkHash, VolumeName } from '../core/types.ts'
import { batchKey, RecordStore, StoreError } from '../runtime/store.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import { DISK_RETRY_MS, NodeHost } from '../runtime/host.ts'
import { currentView } from '../core/fs/view.ts'
import { chunkReader } from '../core/volume/index.ts'
import { genesisOf, key } from './support/nodes.ts'

const isRoot = process.getuid?.() === 0
const root = mkdtempSync(join(tmpdir(), 'paciofs-storefull-'))
const mounted: string[] = []
afterAll(() => {
  for (const m of mounted) execFileSync('umount', ['-l', m], { stdio: 'ignore' })
  rmSync(root, { recursive: true, force: true })
})

const V = 'v' as VolumeName
function chunk(n: number, size: number): { hash: ChunkHash; bytes: Uint8Array; record: Value } {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = Math.imul(i + 1 + n * 1_000_003, 2654435761) >>> 24
  const hash = toHex(nodeCrypto.sha256(bytes)) as ChunkHash
  return { hash, bytes, record: chunkRecord(V, fromHex(hash)!, bytes) }
}

describe.skipIf(!isRoot)('a full disk under the record store', () => {
  // Segment chunks (>= 16 KiB) meet the full disk in the segment file, inline ones in LevelDB's
  // log (whose write error is sticky until the database is opened again).
  it.each([['segment', 300_000], ['level', 9000]])('[RT-10] a full %s write: STORE_FULL, every durable batch stays readable, and the same batch is written once space is freed', async (kind, size) => {
    const disk = join(root, `disk-${kind}`)
    mkdirSync(disk)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', disk])
    mounted.push(disk)
    const dir = join(disk, 'store')
    const store = await RecordStore.open(dir)
    const durable: ReturnType<typeof chunk>[] = []
    let full: { n: number; c: ReturnType<typeof chunk> } | undefined
    for (let n = 0; n < 5000 && full === undefined; n++) {
      // Alternate segment chunks (>= 16 KiB) and inline ones, so both paths meet the full disk.
      const c = chunk(n, size)
      store.stage([c.record])
      try {
        await store.append([c.record, ['plain', V, new Uint8Array([n & 0xff])]])
        durable.push(c)
      } catch (err) {
        expect(err).toBeInstanceOf(StoreError)
        expect((err as StoreError).code).toBe('STORE_FULL')
        full = { n, c }
      }
    }
    expect(full).toBeDefined()
    expect(durable.length).toBeGreaterThan(3)
    expect(store.waitingForSpace).toBe(true)
    // Another append must wait for the stuck batch: refused, and it takes no number.
    await expect(store.append([['plain', V, new Uint8Array([1])]])).rejects.toMatchObject({ code: 'STORE_FULL' })
    // Reads go on while the disk is full: every durable chunk, read from disk and hashed.
    for (const c of durable) expect(store.auditChunk(V, c.hash)).toEqual({ ok: true, bytes: c.bytes.length })
    expect(await store.retryFull()).toBe(false) // still full
    execFileSync('mount', ['-o', 'remount,size=64m', disk])
    expect(await store.retryFull()).toBe(true)
    expect(store.waitingForSpace).toBe(false)
    await store.append([['plain', V, new Uint8Array([0xee])]])
    await store.close()

    const again = await RecordStore.open(dir)
    const { records, problems } = await again.loadAll()
    expect(problems).toEqual([])
    // Every batch once, in order, the stuck one under its own number: durable + 1 + 1 plain records.
    const plains = records.filter((r) => Array.isArray(r) && r[0] === 'plain')
    expect(plains.length).toBe(durable.length + 2)
    for (const c of [...durable, full!.c]) expect(Buffer.from(again.chunk(V, c.hash) ?? []).equals(c.bytes), c.hash).toBe(true)
    await again.close()
  }, 60_000)
})

const cred = { uid: 0, gid: 0 }
const time = { sec: 1_700_000_000, nsec: 0 }
async function fill(host: NodeHost, max: number): Promise<{ acked: number[]; refused: number | undefined; pending: Promise<unknown> | undefined }> {
  const acked: number[] = []
  for (let i = 0; i < max; i++) {
    const path = `/f${i}`
    const c = await host.request({ type: 'fs', volume: V, call: { type: 'create', path, mode: 0o644, cred, time } })
    if (!c.ok) return { acked, refused: i, pending: undefined }
    const w = host.request({ type: 'fs', volume: V, call: { type: 'write', path, writes: [{ offset: 0, data: chunk(i, 200_000).bytes }], cred, time } })
    // A write held with its batch (the disk filled under it) does not answer: it waits for space.
    const held = new Promise((ok) => {
      const t = setInterval(() => (host.stats.get('persist:full') ?? 0) > 0 && (clearInterval(t), ok('held')), 20)
      w.then(() => clearInterval(t), () => clearInterval(t))
    })
    const r = await Promise.race([w, held])
    if (r === 'held') return { acked, refused: undefined, pending: w }
    if (!(r as { ok: boolean }).ok) return { acked, refused: i, pending: undefined }
    acked.push(i)
  }
  return { acked, refused: undefined, pending: undefined }
}
function readBack(host: NodeHost, i: number): boolean {
  const v = host.state.volumes.get(V)!
  const r = currentView(v.fs).readFile(chunkReader(v, host.chunkStore), `/f${i}`, 0, 300_000)
  return r.ok && Buffer.from(r.value).equals(chunk(i, 200_000).bytes)
}

describe.skipIf(!isRoot)('a full disk under a running node (NodeHost)', () => {
  it('[RT-10] with the reserve: a write is refused ENOSPC before it is stepped, reads go on, and writes succeed again once space is freed, without a restart', async () => {
    const disk = join(root, 'host-reserve')
    mkdirSync(disk)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', disk])
    mounted.push(disk)
    const host = await NodeHost.start({ dataDir: join(disk, 'data'), secretKey: key(41), listen: { host: '127.0.0.1', port: 0 }, peers: [], diskReserveBytes: 4 * 1024 * 1024 })
    try {
      genesisOf(await host.request({ type: 'create-volume', name: V, policy: 'majority' }))
      const { acked, refused, pending } = await fill(host, 500)
      expect(pending).toBeUndefined()
      expect(refused).toBeDefined()
      expect(acked.length).toBeGreaterThan(5)
      expect(host.stats.get('request:enospc')).toBeGreaterThan(0)
      expect(host.stats.get('persist:full') ?? 0).toBe(0) // the check came first: no batch met the full disk
      for (const i of acked) expect(readBack(host, i), `f${i}`).toBe(true)
      execFileSync('mount', ['-o', 'remount,size=64m', disk])
      // Once the last reading is older than the re-check interval, the very first call after the
      // space was freed succeeds: it waits for a fresh statfs instead of being refused on the old one.
      await new Promise((r) => setTimeout(r, DISK_RETRY_MS))
      const enospcBefore = host.stats.get('request:enospc')
      expect(await host.request({ type: 'fs', volume: V, call: { type: 'create', path: '/after', mode: 0o644, cred, time } })).toMatchObject({ ok: true })
      expect(host.stats.get('request:enospc')).toBe(enospcBefore)
      expect(host.halted).toBeUndefined()
    } finally {
      await host.stop()
    }
  }, 60_000)

  it('[RT-10] without the reserve: a batch that meets the full disk is held, nothing of it answered, and written once space is freed', async () => {
    const disk = join(root, 'host-held')
    mkdirSync(disk)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', disk])
    mounted.push(disk)
    const data = join(disk, 'data')
    const host = await NodeHost.start({ dataDir: data, secretKey: key(42), listen: { host: '127.0.0.1', port: 0 }, peers: [], diskReserveBytes: 0, requestTimeoutMs: 60_000 })
    let acked: number[] = []
    try {
      genesisOf(await host.request({ type: 'create-volume', name: V, policy: 'majority' }))
      const filled = await fill(host, 500)
      acked = filled.acked
      expect(filled.pending).toBeDefined()
      expect(host.stats.get('persist:full')).toBe(1)
      // While held: reads of everything acknowledged go on; a new write is refused, not stepped.
      for (const i of acked) expect(readBack(host, i), `f${i}`).toBe(true)
      expect(await host.request({ type: 'fs', volume: V, call: { type: 'create', path: '/while-full', mode: 0o644, cred, time } })).toMatchObject({ ok: false, errno: 'ENOSPC' })
      execFileSync('mount', ['-o', 'remount,size=64m', disk])
      expect(await filled.pending).toMatchObject({ ok: true })
      acked.push(acked.length)
      expect((await host.request({ type: 'fs', volume: V, call: { type: 'create', path: '/after', mode: 0o644, cred, time } })).ok).toBe(true)
      expect(host.halted).toBeUndefined()
    } finally {
      await host.stop()
    }
    // A restart holds everything, the held batch under its own number (no gap, no damage).
    const again = await NodeHost.start({ dataDir: data, secretKey: key(42), listen: { host: '127.0.0.1', port: 0 }, peers: [] })
    try {
      for (const i of acked) expect(readBack(again, i), `f${i}`).toBe(true)
    } finally {
      await again.stop()
    }
  }, 60_000)
})

describe.skipIf(!isRoot)('stopping a node whose batch waits for space', () => {
  it('[RT-10] stop() returns, the waiting request is rejected HOST_STOPPED, and a restart holds everything acknowledged before', async () => {
    const disk = join(root, 'host-stop')
    mkdirSync(disk)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', disk])
    mounted.push(disk)
    const data = join(disk, 'data')
    const host = await NodeHost.start({ dataDir: data, secretKey: key(43), listen: { host: '127.0.0.1', port: 0 }, peers: [], diskReserveBytes: 0, requestTimeoutMs: 60_000 })
    genesisOf(await host.request({ type: 'create-volume', name: V, policy: 'majority' }))
    const { acked, pending } = await fill(host, 500)
    const waiting = pending?.catch((e: unknown) => e)
    expect(waiting).toBeDefined()
    await host.stop()
    expect(await waiting).toMatchObject({ code: 'HOST_STOPPED' })
    execFileSync('mount', ['-o', 'remount,size=64m', disk])
    const again = await NodeHost.start({ dataDir: data, secretKey: key(43), listen: { host: '127.0.0.1', port: 0 }, peers: [] })
    try {
      const v = again.state.volumes.get(V)!
      for (const i of acked) expect(readBack(again, i), `f${i}`).toBe(true)
      expect(v.fs.epoch).toBeGreaterThan(0)
    } finally {
      await again.stop()
    }
  }, 60_000)
})

describe('[RT-9] the tail witness', () => {
  it('a store whose newest batch vanished behind its back (as LevelDB skips a damaged newest record) is reported, naming the lost batch', async () => {
    const dir = join(root, 'tail')
    const store = await RecordStore.open(dir)
    for (let n = 1; n <= 3; n++) await store.append([['plain', V, new Uint8Array([n])]])
    await store.close()
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.del(batchKey(3))
    await db.close()
    const again = await RecordStore.open(dir)
    const { problems } = await again.loadAll()
    expect(problems).toEqual([expect.objectContaining({ tail: true, problem: expect.stringMatching(/batch 3 was durable, the store ends at batch 2: batch 3 is lost/) })])
    // Numbering never goes back to a witnessed batch.
    await again.close()
  })

  it('after an accepted loss the witness names the loss until it is reset: numbering goes on from the real end, no gap', async () => {
    const dir = join(root, 'tail3')
    const store = await RecordStore.open(dir)
    for (let n = 1; n <= 4; n++) await store.append([['plain', V, new Uint8Array([n])]])
    await store.close()
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.del(batchKey(4))
    await db.del(batchKey(3))
    await db.close()
    const a = await RecordStore.open(dir)
    const first = await a.loadAll()
    expect(first.problems).toEqual([expect.objectContaining({ tail: true })])
    await a.acceptTail(first.highest)
    await a.append([['recovering', V, 1]])
    await a.close() // a crash before resetWitness: the loss is still on record
    const b = await RecordStore.open(dir)
    const second = await b.loadAll()
    expect(second.highest).toBe(3)
    expect(second.problems).toEqual([expect.objectContaining({ tail: true })])
    await b.acceptTail(second.highest)
    await b.resetWitness()
    await b.close()
    const c = await RecordStore.open(dir)
    expect((await c.loadAll()).problems).toEqual([])
    await c.close()
  })

  it('a newest batch replaced by another valid one is reported; a store one batch beyond its witness (a crash between the two writes) is not', async () => {
    const dir = join(root, 'tail2')
    const store = await RecordStore.open(dir)
    for (let n = 1; n <= 2; n++) await store.append([['plain', V, new Uint8Array([n])]])
    await store.close()
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    const { encodeBatch } = await import('../runtime/store.ts')
    await db.put(batchKey(3), encodeBatch(3, [['plain', V, new Uint8Array([3])]]))
    await db.close()
    const ahead = await RecordStore.open(dir)
    expect((await ahead.loadAll()).problems).toEqual([])
    await ahead.close()
    const db2 = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db2.put(batchKey(2), encodeBatch(2, [['plain', V, new Uint8Array([0x42])]]))
    await db2.close()
    const swapped = await RecordStore.open(dir)
    expect((await swapped.loadAll()).problems).toEqual([expect.objectContaining({ tail: true, problem: expect.stringMatching(/batch 2 differs/) })])
    await swapped.close()
  })
})
