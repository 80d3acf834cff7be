// Memory per file, for issue 11, of any checkout (imported by path, so one script measures this
// checkout and a baseline alike). Prints one JSON line per measurement point. Run each checkout
// in its own process, one after the other or alternating:
//   node --expose-gc --import tsx bench/memory-probe.ts tree  <checkout> [files=50000]
//     the core's current tree alone: applyOp of create + 1 KiB write (one block) per file into an
//     FsState whose past goes to a sink, a state root every 64 files (as a node's steps take
//     them); heap after GC per live file between measurement points. Every 1024 epochs the
//     dirty set is emptied, as a node's checkpoint (every 1024 epochs, core/node.ts) takes it into
//     a tree image; PROBE_KEEP_DIRTY=1 keeps it (the probe before session 28: the set then holds
//     every inode, ~35 B per file that no node keeps).
//   node --expose-gc --import tsx bench/memory-probe.ts image <checkout> [files=50000]
//     `tree`, then the tree as a restart builds it: a tree image of every inode (each inode's
//     encoding, as the store hands it on), the live tree dropped, the inodes decoded
//     (core/volume/image.ts inodesOf) into a fresh state and its root computed (equal to the
//     first); heap after GC per live file of the fresh tree and of the restored one.
//   node --expose-gc --import tsx bench/memory-probe.ts churn <checkout> [files=20000]
//     a node host on a fresh data dir (no FUSE): create + 1 KiB write + unlink per file; heap per
//     deleted file, then the restart's time and heap (nothing is live: what is left is history).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const [mode, checkoutArg, nArg] = process.argv.slice(2)
if ((mode !== 'tree' && mode !== 'image' && mode !== 'churn') || checkoutArg === undefined) throw new Error('usage: memory-probe.ts tree|image|churn <checkout> [files]')
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')
const checkout = resolve(checkoutArg)
const N = Number(nArg ?? (mode === 'tree' ? 50_000 : 20_000))
const imp = (p: string): Promise<any> => import(pathToFileURL(join(checkout, p)).href) // eslint-disable-line @typescript-eslint/no-explicit-any
const heap = (): number => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
const out = (x: Record<string, unknown>): void => void process.stdout.write(JSON.stringify({ mode, checkout, ...x }) + '\n')
const POINTS = 5
/** PROBE_SNAPSHOTS=<dir>: a heap snapshot at every measurement point (bench/heap-diff.ts). */
const snapDir = process.env.PROBE_SNAPSHOTS
const { writeHeapSnapshot } = await import('node:v8')
const snapshot = (n: number): void => {
  if (snapDir !== undefined) writeHeapSnapshot(join(snapDir, `${mode}-${n}.heapsnapshot`))
}

if (mode === 'tree' || mode === 'image') {
  const { createFs, applyOp, stateRoot } = await imp('core/fs/index.ts')
  const { StoredFsPast } = await imp('core/volume/past.ts')
  const { nobleCrypto } = await imp('core/crypto.ts')
  const sink = { pastRecord: () => undefined, versionEpochs: () => [], nameEpochs: () => [], dirNames: () => [] }
  const past = new StoredFsPast('v', sink)
  const fs = createFs(nobleCrypto, {}, past)
  const cred = { uid: 0, gid: 0 }
  const author = '02'.padEnd(66, 'a')
  let ino = 1_000_000_000_000
  const keepDirty = process.env.PROBE_KEEP_DIRTY === '1'
  const run = (op: Record<string, unknown>): void => {
    const r = applyOp(fs, op, { epoch: fs.epoch + 1, author }).result
    past.drain()
    past.endStep()
    if (!r.ok) throw new Error(JSON.stringify(r))
    if (!keepDirty && fs.epoch % 1024 === 0) fs.dirty.clear()
  }
  for (let d = 0; d < 100; d++) run({ type: 'mkdir', path: `/d${d}`, mode: 0o755, ino: ino++, cred, time: { sec: 1, nsec: 0 } })
  let prev = heap()
  const start = prev
  let prevN = 0
  for (let i = 0; i < N; i++) {
    const path = `/d${i % 100}/f${i}`
    const time = { sec: 1_700_000_000 + i, nsec: 0 }
    run({ type: 'create', path, mode: 0o644, ino: ino++, cred, time })
    const seed = new Uint8Array(8)
    new DataView(seed.buffer).setUint32(0, i)
    run({ type: 'write', path, blocks: [[0, Buffer.from(nobleCrypto.sha256(seed)).toString('hex')]], size: 1024, cred, time })
    if (i % 64 === 0) stateRoot(fs)
    if ((i + 1) % Math.ceil(N / POINTS) === 0 || i === N - 1) {
      stateRoot(fs)
      const h = heap()
      out({ keep_dirty: keepDirty, live_files: i + 1, heap_MB: h / 1e6, heap_per_live_file_bytes: Math.round((h - prev) / (i + 1 - prevN)), since: prevN })
      snapshot(i + 1)
      prev = h
      prevN = i + 1
    }
  }
  if (mode === 'image') {
    const { imageRecord, inodesOf } = await imp('core/volume/image.ts')
    const { encode } = await imp('core/codec.ts')
    const fresh = heap()
    const root = stateRoot(fs)
    for (const i of fs.inodes.keys()) fs.dirty.add(i)
    const record = imageRecord('v', fs) as [string, string, number, [number, unknown][]]
    const fold = { epoch: record[2], inodes: new Map<number, unknown>(record[3].map(([i, v]) => [i, v === null ? null : encode(v)])) }
    record[3].length = 0
    fs.inodes.clear()
    fs.dirTrees.clear()
    const built = inodesOf(fold)
    if (!built.ok) throw new Error(built.why)
    fold.inodes.clear()
    const fs2 = createFs(nobleCrypto, {}, new StoredFsPast('v', sink))
    fs2.inodes.clear()
    for (const [i, rec] of built.inodes) fs2.inodes.set(i, rec)
    built.inodes.clear()
    fs2.epoch = fold.epoch
    fs2.hashCache.clear()
    fs2.dirty.clear()
    if (stateRoot(fs2) !== root) throw new Error('image: the restored root differs')
    const restored = heap()
    fs2.inodes.clear()
    fs2.dirTrees.clear()
    const empty = heap()
    out({ live_files: N, fresh_heap_per_live_file_bytes: Math.round((fresh - start) / N), restored_heap_per_live_file_bytes: Math.round((restored - empty) / N), restored_heap_MB: (restored - empty) / 1e6 })
  }
} else {
  const { PacioNode } = await imp('runtime/node-service.ts')
  const { initDataDir } = await imp('runtime/datadir.ts')
  const dir = mkdtempSync(join(tmpdir(), 'paciofs-churn-'))
  try {
    initDataDir(dir)
    const node = await PacioNode.start({ dataDir: dir, listen: { host: '127.0.0.1', port: 0 }, create: ['default'] })
    const cred = { uid: 0, gid: 0 }
    const now = (): { sec: number; nsec: number } => {
      const ms = Date.now()
      return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 }
    }
    const req = async (call: Record<string, unknown>): Promise<void> => {
      const r = await node.host.request({ type: 'fs', volume: 'default', call: { ...call, cred, time: now() } })
      if (!r.ok) throw new Error(`${String(call.type)}: ${r.errno}`)
    }
    for (let d = 0; d < 100; d++) await req({ type: 'mkdir', path: `/d${d}`, mode: 0o755 })
    let prev = heap()
    let prevN = 0
    const t0 = performance.now()
    for (let i = 0; i < N; i++) {
      const path = `/d${i % 100}/f${i}`
      const data = new Uint8Array(1024)
      new DataView(data.buffer).setUint32(0, i)
      await req({ type: 'create', path, mode: 0o644 })
      await req({ type: 'write', path, writes: [{ offset: 0, data }] })
      await req({ type: 'unlink', path })
      if ((i + 1) % Math.ceil(N / POINTS) === 0 || i === N - 1) {
        const h = heap()
        out({ deleted_files: i + 1, heap_MB: h / 1e6, heap_per_deleted_file_bytes: Math.round((h - prev) / (i + 1 - prevN)), since: prevN, ops_per_s: Math.round(((i + 1) * 3) / ((performance.now() - t0) / 1000)) })
        prev = h
        prevN = i + 1
      }
    }
    await node.stop()
    const t1 = performance.now()
    const again = await PacioNode.start({ dataDir: dir, listen: { host: '127.0.0.1', port: 0 } })
    const restart_s = (performance.now() - t1) / 1000
    out({ restart_s, heap_after_restart_MB: heap() / 1e6 })
    await again.stop()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
