// The storage port (spec/storage.md): chunk bytes live in the host's store, not in the core's
// state. The runtime's RecordStore as a port (staged reads, the chunk index across reopen,
// damage never served, the read counters a restart leaves at zero, the format check), and the
// simulator's checkers STORE-1 and STORE-3 on a cluster, each shown to fire when broken.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { decode, encode, type Value } from '../core/codec.ts'
import { fromHex, toHex } from '../core/bytes.ts'
import { chunkRecord, cutRecord, MemoryStorage, plainRecord, type Storage } from '../core/storage.ts'
import { append, encodeEntry, encodeSeal, entryHash, headerOf, newOwnChain, signSeal, type Entry } from '../core/ledger/index.ts'
import type { Mutation } from '../core/mutations.ts'
import { DEFAULT_VOLUME_PARAMS } from '../core/volume/index.ts'
import type { ChunkHash, ObfHash, Pid, VolumeName } from '../core/types.ts'
import { RecordStore, CHUNK_INLINE_MAX, encodeBatch, segmentDir, segmentName, StoreError } from '../runtime/store.ts'
import { NodeHost } from '../runtime/host.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import { Cluster } from '../sim/cluster.ts'
import { InvariantChecker } from '../sim/invariants.ts'
import { insecureTestCrypto } from '../sim/test-crypto.ts'
import { genesisOf, key } from './support/nodes.ts'

const V = 'v' as VolumeName
const cred = { uid: 1000, gid: 1000 }
const dirs: string[] = []
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'paciofs-storage-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const sha = (b: Uint8Array): ChunkHash => toHex(nodeCrypto.sha256(b)) as ChunkHash
function chunk(size: number, fill: number): { hash: ChunkHash; bytes: Uint8Array; record: Value } {
  const bytes = new Uint8Array(size).fill(fill)
  bytes[0] = size & 0xff
  const hash = sha(bytes)
  return { hash, bytes, record: chunkRecord(V, fromHex(hash)!, bytes) }
}

describe('RecordStore as the storage port', () => {
  it('a staged chunk is readable before its batch is durable, and from the index after reopen; loadAll hands no chunk bytes to the core', async () => {
    const dir = freshDir()
    const small = chunk(1000, 1)
    const large = chunk(CHUNK_INLINE_MAX + 10, 2)
    const store = await RecordStore.open(dir)
    expect(store.hasChunk(V, small.hash)).toBe(false)
    store.stage([small.record, large.record, ['plain', V, new Uint8Array(32)]])
    expect(store.hasChunk(V, small.hash)).toBe(true)
    expect(store.chunk(V, large.hash)).toEqual(large.bytes)
    const write = store.append([small.record, large.record, ['plain', V, new Uint8Array(32)]])
    expect(store.chunk(V, small.hash)).toEqual(small.bytes) // still staged while writing
    await write
    expect(store.chunkStats(V)).toEqual({ chunks: 2, bytes: small.bytes.length + large.bytes.length })
    // The same chunk persisted again is noted in the batch but counted once.
    await store.append([small.record])
    expect(store.chunkStats(V).chunks).toBe(2)
    await store.close()

    const again = await RecordStore.open(dir)
    try {
      const { records, problems } = await again.loadAll()
      expect(problems).toEqual([])
      expect(records).toEqual([['plain', V, new Uint8Array(32)]])
      expect(again.counters).toEqual({ reads: 0, cacheHits: 0, bytesRead: 0, damaged: 0 })
      expect(again.chunk(V, small.hash)).toEqual(small.bytes)
      expect(again.chunk(V, large.hash)).toEqual(large.bytes)
      expect(again.counters).toMatchObject({ reads: 2, cacheHits: 0, bytesRead: small.bytes.length + large.bytes.length })
      expect(again.chunk(V, large.hash)).toEqual(large.bytes)
      expect(again.counters).toMatchObject({ reads: 3, cacheHits: 1 })
      expect(again.chunk('other' as VolumeName, small.hash)).toBeUndefined() // chunks are per volume
      expect(again.chunkStats(V)).toEqual({ chunks: 2, bytes: small.bytes.length + large.bytes.length })
    } finally {
      await again.close()
    }
  })

  it('[STORE-2] a chunk changed in its segment, changed in its index entry or cut short reads as absent, counted, and its audit says why', async () => {
    const dir = freshDir()
    const small = chunk(500, 3)
    const large = chunk(CHUNK_INLINE_MAX * 2, 4)
    const other = chunk(CHUNK_INLINE_MAX * 2, 5)
    const store = await RecordStore.open(dir)
    await store.append([small.record, large.record, other.record])
    await store.close()
    // Flip a byte of `large` in the segment; change `small` in its index entry; cut `other` off.
    const seg = join(segmentDir(dir), segmentName(1))
    const bytes = readFileSync(seg)
    bytes[7] = bytes[7]! ^ 1
    writeFileSync(seg, bytes.subarray(0, large.bytes.length + 100))
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    const entry = decode((await db.get(`c:${V}:${small.hash}`))!) as [string, Uint8Array]
    const changed = entry[1].slice()
    changed[3] = changed[3]! ^ 1
    await db.put(`c:${V}:${small.hash}`, encode(['inline', changed]))
    await db.close()

    const s = await RecordStore.open(dir)
    try {
      for (const c of [small, large, other]) expect(s.chunk(V, c.hash)).toBeUndefined()
      expect(s.counters.damaged).toBe(3)
      expect(s.auditChunk(V, small.hash)).toEqual({ ok: false, problem: 'does not hash to its name (damaged)', actual: sha(changed) })
      expect(s.auditChunk(V, large.hash)).toMatchObject({ ok: false, problem: 'does not hash to its name (damaged)' })
      expect(s.auditChunk(V, other.hash)).toEqual({ ok: false, problem: 'is cut short or missing in segment seg-000001' })
      expect(s.auditChunk(V, sha(new Uint8Array([9])))).toEqual({ ok: false, problem: 'is missing from the chunk store' })
    } finally {
      await s.close()
    }
  })

  it('a store of the format before this one (batch keys without a prefix) is refused with STORE_FORMAT and what to do', async () => {
    const dir = freshDir()
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.put('0000000000000001', new Uint8Array([1, 2, 3]))
    await db.close()
    const err = await RecordStore.open(dir).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect(err).toMatchObject({ code: 'STORE_FORMAT' })
    expect((err as Error).message).toMatch(/written by another version of paciofs \(format 1.*this version reads only paciofs-store\/3, paciofs-store\/4 and paciofs-store\/5.*join the volume again/)
    // Refused means untouched: the old key is still there, no format key was written.
    const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    expect(await raw.keys().all()).toEqual(['0000000000000001'])
    await raw.close()
  })

  it('a store of format 2 (plain ops and entries inside the batches) is refused with STORE_FORMAT: there is no migration', async () => {
    const dir = freshDir()
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.put('m:format', new TextEncoder().encode('paciofs-store/2'))
    await db.close()
    const err = await RecordStore.open(dir).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'STORE_FORMAT' })
    expect((err as Error).message).toMatch(/\("paciofs-store\/2"\); this version reads only paciofs-store\/3, paciofs-store\/4 and paciofs-store\/5/)
  })

  it('a store of format 4 (log records only in the batch bodies) is made format 5 at open: every log record gets its g: key and is read by epoch (and every seal its q: key)', async () => {
    const dir = freshDir()
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.put('m:format', new TextEncoder().encode('paciofs-store/4'))
    const pid = fromHex('02' + '11'.repeat(32))!
    const log = (volume: string, epoch: number): Value => ['log', volume, epoch, pid, null, null, null, 'mkdir', 'EEXIST', new Uint8Array([epoch])]
    await db.put('b:0000000000000001', encodeBatch(1, [log('a', 1), ['skip-like', 'a'], log('b', 1)]))
    await db.put('b:0000000000000002', encodeBatch(2, [log('a', 2)]))
    await db.close()
    const store = await RecordStore.open(dir)
    try {
      expect(store.logRecord('a' as VolumeName, 1)).toEqual(log('a', 1))
      expect(store.logRecord('a' as VolumeName, 2)).toEqual(log('a', 2))
      expect(store.logRecord('b' as VolumeName, 1)).toEqual(log('b', 1))
      expect(store.logRecord('a' as VolumeName, 3)).toBeUndefined()
    } finally {
      await store.close()
    }
    const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      expect(new TextDecoder().decode((await raw.get('m:format'))!)).toBe('paciofs-store/5')
      expect(await raw.keys({ gte: 'g:', lt: 'g;' }).all()).toEqual(['g:a:0000000000000001', 'g:a:0000000000000002', 'g:b:0000000000000001'])
    } finally {
      await raw.close()
    }
  })

  it('a store of format 3 (past pages written with every batch) is made format 5 at open: each volume marked up to its newest past record', async () => {
    const dir = freshDir()
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.put('m:format', new TextEncoder().encode('paciofs-store/3'))
    // Two volumes whose keys interleave ('a-b' sorts inside 'a''s range of keys), as format 3 wrote them.
    const body = encode([[], [], ['line']])
    for (const [vol, epochs] of [['a', 7], ['a-b', 3], ['z', 1]] as const) {
      for (let e = 1; e <= epochs; e++) await db.put(`h:r:${vol}:${String(e).padStart(16, '0')}`, body)
    }
    await db.close()
    const store = await RecordStore.open(dir)
    await store.close()
    const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
    try {
      expect(new TextDecoder().decode((await raw.get('m:format'))!)).toBe('paciofs-store/5')
      const marks = await raw.iterator({ gte: 'h:i:', lt: 'h:i;' }).all()
      expect(marks.map(([k, v]) => [k, decode(v)])).toEqual([['h:i:a', 7], ['h:i:a-b', 3], ['h:i:z', 1]])
    } finally {
      await raw.close()
    }
  })

  it('a node restarted on a store with content reads no chunk until one is asked for', async () => {
    const dir = freshDir()
    const sk = key(1)
    const host = await NodeHost.start({ dataDir: dir, secretKey: sk, listen: { host: '127.0.0.1', port: 0 }, peers: [] })
    genesisOf(await host.request({ type: 'create-volume', name: V, policy: 'majority' }))
    const data = new Uint8Array(300_000).map((_, i) => Math.imul(i, 2654435761) >>> 24)
    for (const [i, call] of [
      { type: 'create', path: '/big', mode: 0o644, cred, time: { sec: 1, nsec: 0 } },
      { type: 'write', path: '/big', writes: [{ offset: 0, data }], cred, time: { sec: 2, nsec: 0 } },
      { type: 'write', path: '/big', writes: [{ offset: 70_000, data: new Uint8Array(10).fill(1) }], cred, time: { sec: 3, nsec: 0 } },
    ].entries()) expect((await host.request({ type: 'fs', volume: V, call: call as never })).ok, `call ${i}`).toBe(true)
    // The partial overwrite read the old block through the port (planWrite), not from the state.
    expect(host.chunkStore.counters.reads).toBeGreaterThan(0)
    await host.stop()

    const again = await NodeHost.start({ dataDir: dir, secretKey: sk, listen: { host: '127.0.0.1', port: 0 }, peers: [] })
    try {
      expect(again.chunkStore.counters).toEqual({ reads: 0, cacheHits: 0, bytesRead: 0, damaged: 0 })
      expect(again.chunkStore.chunkStats(V).chunks).toBe(6) // 5 blocks of the first write + the changed block 1
      const v = again.state.volumes.get(V)!
      const block = [...v.fs.inodes.values()].find((r) => r.cur.size === 300_000)!.cur.blocks.get(1)!
      const b = again.chunkStore.chunk(V, block.hash)!
      expect(b.subarray(70_000 - 65_536, 70_000 - 65_536 + 10)).toEqual(new Uint8Array(10).fill(1))
      expect(again.chunkStore.counters).toMatchObject({ reads: 1, bytesRead: 65_536, damaged: 0 })
    } finally {
      await again.stop()
    }
  })
})

describe('the simulator checks the storage port', () => {
  function world(opts: { mutation?: Mutation } = {}): { cluster: Cluster; checker: InvariantChecker; a: Pid; b: Pid } {
    const checker = new InvariantChecker({ correct: () => true })
    const params = { ...DEFAULT_VOLUME_PARAMS, ...(opts.mutation ? { mutation: opts.mutation, fotb: { ...DEFAULT_VOLUME_PARAMS.fotb, mutation: opts.mutation } } : {}) }
    const cluster = new Cluster({ crypto: insecureTestCrypto, params, observe: (o, c) => checker.observe(o, c) })
    const [a, b] = [1, 2].map((i) => cluster.addNode(key(i))) as [Pid, Pid]
    const g = genesisOf(cluster.request(a, { type: 'create-volume', name: V, policy: 'majority' }))
    cluster.request(b, { type: 'join-volume', genesis: g, contacts: [a] })
    cluster.runFor(2000)
    const write = (p: Pid, path: string, n: number, t: number) => {
      expect(cluster.request(p, { type: 'fs', volume: V, call: { type: 'create', path, mode: 0o644, cred, time: { sec: t, nsec: 0 } } }).ok).toBe(true)
      expect(cluster.request(p, { type: 'fs', volume: V, call: { type: 'write', path, writes: [{ offset: 0, data: new Uint8Array(n).fill(t) }], cred, time: { sec: t + 1, nsec: 0 } } }).ok).toBe(true)
    }
    write(a, '/a', 100_000, 10)
    write(b, '/b', 3000, 20)
    cluster.runFor(5000)
    return { cluster, checker, a, b }
  }

  it('[STORE-1] [STORE-3] hold on a cluster with content written on two nodes, also after a crash and restart', () => {
    const w = world()
    w.cluster.crash(w.b)
    w.cluster.restart(w.b)
    w.cluster.runFor(3000)
    expect(w.checker.checkQuiesced(w.cluster, { equalRoots: true })).toEqual([])
    expect(w.checker.violations).toEqual([])
    // b fetched a's chunks from a (remote_get) and stores them itself.
    expect(w.cluster.node(w.b).chunks.chunkStats(V).chunks).toBe(w.cluster.node(w.a).chunks.chunkStats(V).chunks)
  })

  it('[STORE-1] a referenced chunk missing from a node\'s port is a violation naming the node', () => {
    const w = world()
    const store = w.cluster.node(w.b).chunks
    const [victim] = store.entries(V)[0]!
    store.overwrite(V, victim, undefined)
    const found = w.checker.checkQuiesced(w.cluster, { equalRoots: true }).filter((x) => x.id === 'STORE-1')
    expect(found).toHaveLength(1)
    expect(found[0]!.message).toContain(`at ${w.b.slice(0, 8)}: 1 referenced chunks not in its store`)
  })

  it('[STORE-3] a core that keeps chunk bytes in the state after a step is caught (mutation keep-chunk-bytes)', () => {
    const w = world({ mutation: 'keep-chunk-bytes' })
    expect(w.checker.violations.map((x) => x.id)).toContain('STORE-3')
    expect(w.checker.violations.every((x) => x.id === 'STORE-3')).toBe(true)
  })

  it('[STORE-1] a core that does not persist fetched chunks is caught (mutation forget-fetched-chunks)', () => {
    const w = world({ mutation: 'forget-fetched-chunks' })
    const found = w.checker.checkQuiesced(w.cluster, { equalRoots: true })
    expect(found.map((x) => x.id)).toContain('STORE-1')
  })

  it('[STORE-4] [STORE-5] hold on the same cluster: no plain op or entry stays in the state, every one is in the port', () => {
    const w = world()
    expect(w.checker.checkQuiesced(w.cluster, { equalRoots: true })).toEqual([])
    expect(w.checker.violations).toEqual([])
    const v = w.cluster.node(w.a).state.volumes.get(V)!
    expect(v.writtenPlain.size).toBe(0)
    expect(v.fotb.written.size).toBe(0)
    // b's ops reached a: their plain ops and b's entries are in a's port, not in a's state.
    const fromB = v.log.toArray().filter((r) => r.author === w.b && r.obf !== null)
    expect(fromB.length).toBeGreaterThan(0)
    for (const r of fromB) expect(w.cluster.node(w.a).chunks.plain(V, r.obf!)).toBeDefined()
    expect(w.cluster.node(w.a).chunks.entry(V, w.b, v.fotb.chains.get(w.b)!.view.seq)).toBeDefined()
  })

  it('[STORE-5] an accepted entry missing from a node\'s port, or one beyond its chain, is a violation naming the node', () => {
    const w = world()
    const store = w.cluster.node(w.b).chunks
    const seq = w.cluster.node(w.b).state.volumes.get(V)!.fotb.chains.get(w.a)!.view.seq
    const last = store.entry(V, w.a, seq)!
    store.overwriteEntry(V, w.a, seq + 1, { ...last, seq: seq + 1 })
    const found = w.checker.checkQuiesced(w.cluster, { equalRoots: true }).filter((x) => x.id === 'STORE-5')
    expect(found.map((x) => x.message)).toEqual([`${V} at ${w.b.slice(0, 8)}: its store holds ${w.a.slice(0, 8)}#${seq + 1}, beyond the accepted chain`])
    store.overwriteEntry(V, w.a, 1, { ...last, payload: new Uint8Array([1]) })
    const again = w.checker.checkQuiesced(w.cluster, { equalRoots: true }).filter((x) => x.id === 'STORE-5')
    expect(again.map((x) => x.message)).toContain(`${V} at ${w.b.slice(0, 8)}: entry ${w.a.slice(0, 8)}#1 of the accepted chain is another one in its store`)
  })

  it('[STORE-4] a core that keeps plain ops in the state after a step is caught (mutation keep-plain-ops)', () => {
    const w = world({ mutation: 'keep-plain-ops' })
    expect(w.checker.violations.map((x) => x.id)).toContain('STORE-4')
    expect(w.checker.violations.every((x) => x.id === 'STORE-4')).toBe(true)
  })

  it('[STORE-5] a core that does not persist fetched plain ops or accepted entries is caught (mutations forget-fetched-plain, forget-fetched-entries)', () => {
    for (const mutation of ['forget-fetched-plain', 'forget-fetched-entries'] as const) {
      const w = world({ mutation })
      w.checker.checkQuiesced(w.cluster, { equalRoots: true })
      expect(w.checker.violations.map((x) => x.id), mutation).toContain('STORE-5')
    }
  })
})

describe('[STORE-5] the port honours cut records (a branch switch drops the entries and seals above its base)', () => {
  const sk = key(7)
  const author = toHex(nodeCrypto.publicKey(sk)) as Pid
  // Author's chain 1..6, and a second branch from seq 3 on (an equivocator's other branch).
  function chains(): { main: Entry[]; other: Entry[] } {
    let c = newOwnChain(V, author)
    const main: Entry[] = []
    let at2: typeof c | undefined
    for (let i = 1; i <= 6; i++) {
      const r = append(nodeCrypto, c, new Uint8Array([i]))
      c = r.chain
      main.push(r.entry)
      if (i === 2) at2 = c
    }
    const other: Entry[] = []
    c = at2!
    for (let i = 3; i <= 4; i++) {
      const r = append(nodeCrypto, c, new Uint8Array([100 + i]))
      c = r.chain
      other.push(r.entry)
    }
    return { main, other }
  }
  const rec = (e: Entry): Value => ['entry', V, encodeEntry(e)]
  const cut = (base: number): Value => cutRecord(V, fromHex(author)!, base)
  const payloads = (port: Storage): (number | undefined)[] => [1, 2, 3, 4, 5, 6].map((s) => port.entry(V, author, s)?.payload[0])
  // Seals: of the main branch at 2, 4 and 6, of the other at 4 (Storage.seal, cut like the entries).
  const sealOf = (e: Entry): Value => ['seal', V, encodeSeal(signSeal(nodeCrypto, sk, V, author, e.seq, entryHash(nodeCrypto, headerOf(nodeCrypto, e))))]
  const seals = (port: Storage): (number | undefined)[] => [1, 2, 3, 4, 5, 6].map((s) => {
    const sl = port.seal(V, author, s)
    return sl === undefined ? undefined : port.entry(V, author, s) !== undefined && sl.head === entryHash(nodeCrypto, headerOf(nodeCrypto, port.entry(V, author, s)!)) ? s : -s
  })

  it('MemoryStorage: a cut drops what lies above its base, earlier in the same effect too; later entries count', () => {
    const { main, other } = chains()
    const m = new MemoryStorage()
    m.absorb([...main.slice(0, 5).map(rec), sealOf(main[1]!), sealOf(main[3]!)])
    expect(seals(m)).toEqual([undefined, 2, undefined, 4, undefined, undefined])
    m.absorb([rec(main[5]!), sealOf(main[5]!), cut(2), ...other.map(rec), sealOf(other[1]!)])
    expect(payloads(m)).toEqual([1, 2, 103, 104, undefined, undefined])
    expect(seals(m)).toEqual([undefined, 2, undefined, 4, undefined, undefined]) // 4: the other branch's
  })

  it('RecordStore: the same, while staged, once durable, and after reopen (the e: keys above the base are deleted)', async () => {
    const dir = freshDir()
    const { main, other } = chains()
    const s = await RecordStore.open(dir)
    try {
      const first = [...main.slice(0, 5).map(rec), sealOf(main[1]!), sealOf(main[3]!)]
      s.stage(first)
      expect(seals(s)).toEqual([undefined, 2, undefined, 4, undefined, undefined]) // staged
      await s.append(first)
      expect(payloads(s)).toEqual([1, 2, 3, 4, 5, undefined])
      expect(seals(s)).toEqual([undefined, 2, undefined, 4, undefined, undefined])
      const second = [rec(main[5]!), sealOf(main[5]!), cut(2), ...other.map(rec), sealOf(other[1]!)]
      s.stage(second)
      const write = s.append(second)
      expect(payloads(s)).toEqual([1, 2, 103, 104, undefined, undefined]) // staged
      expect(seals(s)).toEqual([undefined, 2, undefined, 4, undefined, undefined])
      await write
      expect(payloads(s)).toEqual([1, 2, 103, 104, undefined, undefined]) // durable (and cached)
      expect(seals(s)).toEqual([undefined, 2, undefined, 4, undefined, undefined])
    } finally {
      await s.close()
    }
    const again = await RecordStore.open(dir)
    try {
      expect(payloads(again)).toEqual([1, 2, 103, 104, undefined, undefined])
      expect(again.recordCounters.diskReads).toBe(4)
      expect(seals(again)).toEqual([undefined, 2, undefined, 4, undefined, undefined])
      const { records } = await again.loadAll()
      // Entries live under their e: keys only; seals under q: keys and in the bodies.
      expect(records.filter((r) => Array.isArray(r) && r[0] !== 'seal')).toEqual([cut(2)])
    } finally {
      await again.close()
    }
  })

  it('RecordStore: a plain op is readable staged, durable and after reopen, counted once per volume', async () => {
    const dir = freshDir()
    const obf = new Uint8Array(32).fill(3)
    const plain = plainRecord(V, obf, new Uint8Array(32).fill(1), new Uint8Array([0x80]))
    const s = await RecordStore.open(dir)
    try {
      s.stage([plain])
      expect(s.plain(V, toHex(obf) as ObfHash)?.opBytes).toEqual(new Uint8Array([0x80]))
      await s.append([plain])
      await s.append([plain]) // the same op again (a late duplicate): stored once, counted once
    } finally {
      await s.close()
    }
    const again = await RecordStore.open(dir)
    try {
      expect(again.plain(V, toHex(obf) as ObfHash)).toEqual({ salt: new Uint8Array(32).fill(1), opBytes: new Uint8Array([0x80]) })
      expect(again.plain(V, toHex(new Uint8Array(32)) as ObfHash)).toBeUndefined()
      expect(again.plainCount(V)).toBe(1)
    } finally {
      await again.close()
    }
  })
})

describe('the log behind the port', () => {
  it('[STORE-7] a cluster keeps fewer than logKeep log records in memory after every step, reads the others back through the port at their epochs, also after a restart; a core that keeps them is caught', () => {
    const run = (mutation?: Mutation) => {
      const checker = new InvariantChecker({ correct: () => true })
      const params = { ...DEFAULT_VOLUME_PARAMS, logKeep: 3, ...(mutation ? { mutation } : {}) }
      const cluster = new Cluster({ crypto: insecureTestCrypto, params, observe: (o, c) => checker.observe(o, c) })
      const [a, b] = [1, 2].map((i) => cluster.addNode(key(i))) as [Pid, Pid]
      const g = genesisOf(cluster.request(a, { type: 'create-volume', name: V, policy: 'majority' }))
      cluster.request(b, { type: 'join-volume', genesis: g, contacts: [a] })
      cluster.runFor(2000)
      for (let i = 0; i < 12; i++) {
        const p = i % 2 === 0 ? a : b
        expect(cluster.request(p, { type: 'fs', volume: V, call: { type: 'create', path: `/f${i}`, mode: 0o644, cred, time: { sec: i + 1, nsec: 0 } } }).ok).toBe(true)
        cluster.runFor(300)
      }
      cluster.runFor(3000)
      return { checker, cluster, a, b }
    }
    const w = run()
    const v = w.cluster.node(w.a).state.volumes.get(V)!
    expect(v.log.length).toBe(12)
    expect(v.log.held).toBeLessThan(3)
    expect(v.log.toArray().map((r) => r.epoch)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    expect(w.cluster.node(w.a).chunks.logRecord(V, 1)).toBeDefined()
    w.cluster.crash(w.b)
    w.cluster.restart(w.b)
    w.cluster.runFor(3000)
    const vb = w.cluster.node(w.b).state.volumes.get(V)!
    expect(vb.log.held).toBe(0)
    expect(vb.log.toArray().map((r) => [r.epoch, r.kind])).toEqual(v.log.toArray().map((r) => [r.epoch, r.kind]))
    expect(w.checker.checkQuiesced(w.cluster, { equalRoots: true })).toEqual([])
    expect(w.checker.violations).toEqual([])
    const broken = run('keep-log-records')
    expect(broken.checker.violations.map((x) => x.id)).toContain('STORE-7')
  })
})
