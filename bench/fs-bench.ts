// Throughput of the file system reducer: ops/s for applyOp (creates, small-file writes, renames)
// and reads (getattr), each followed by a state root where a replica would compute one.
// Wired into `npm run bench:core` by bench/core.ts; returns figures, prints nothing.
import { nobleCrypto } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import type { ChunkHash, Pid } from '../core/types.ts'
import type { FsOp, FsState } from '../core/fs/index.ts'
import * as fsApi from '../core/fs/index.ts'
import { applyOp, createFs, getattr, planWrite, stateRoot } from '../core/fs/index.ts'

const AUTHOR = '02'.padEnd(66, 'e') as Pid
const cred = { uid: 1000, gid: 1000 }

function opsPerSec(count: number, fn: (i: number) => void): number {
  const start = performance.now()
  for (let i = 0; i < count; i++) fn(i)
  const ms = performance.now() - start
  return Math.round(count / (ms / 1000))
}

/** 100 directories of up to 100 files each: realistic fan-out for an archive volume. */
export async function benchFs(crypto: Crypto = nobleCrypto): Promise<Record<string, number>> {
  const fs: FsState = createFs(crypto)
  const run = (op: FsOp): void => {
    const { result } = applyOp(fs, op, { epoch: fs.epoch + 1, author: AUTHOR })
    if (!result.ok) throw new Error(`bench: ${op.type} failed with ${result.errno}`)
  }
  const time = (): { sec: number; nsec: number } => ({ sec: 1_700_000_000 + fs.epoch, nsec: 0 })
  const DIRS = 100
  const FILES = 50
  let ino = 2
  for (let d = 0; d < DIRS; d++) run({ type: 'mkdir', path: `/d${d}`, mode: 0o755, ino: ino++, cred, time: time() })

  const create_ops_per_s = opsPerSec(DIRS * FILES, (i) => {
    run({ type: 'create', path: `/d${i % DIRS}/f${Math.floor(i / DIRS)}`, mode: 0o644, ino: ino++, cred, time: time() })
    stateRoot(fs)
  })

  const chunks = new Map<string, Uint8Array>()
  const data = new Uint8Array(4096)
  const small_write_ops_per_s = opsPerSec(DIRS * FILES, (i) => {
    data[0] = i & 0xff
    data[1] = i >> 8
    const path = `/d${i % DIRS}/f${Math.floor(i / DIRS)}`
    const plan = planWrite(fs, (h) => chunks.get(h), path, [{ offset: 0, data }], undefined, crypto, { cred, time: time() })
    if (!plan.ok) throw new Error(plan.errno)
    for (const [h, c] of plan.value.chunks) chunks.set(h, c)
    run(plan.value.op)
    stateRoot(fs)
  })

  const rename_ops_per_s = opsPerSec(DIRS * FILES, (i) => {
    const f = Math.floor(i / DIRS)
    run({ type: 'rename', from: `/d${i % DIRS}/f${f}`, to: `/d${(i + 1) % DIRS}/r${f}-${i % DIRS}`, cred, time: time() })
    stateRoot(fs)
  })

  const chmod_ops_per_s = opsPerSec(DIRS * FILES, (i) => {
    run({ type: 'chmod', path: `/d${i % DIRS}`, mode: 0o700 + (i % 64), cred, time: time() })
    stateRoot(fs)
  })

  const paths = Array.from({ length: DIRS }, (_, d) => `/d${d}`)
  const getattr_ops_per_s = opsPerSec(100_000, (i) => {
    if (!getattr(fs, paths[i % DIRS]!).ok) throw new Error('bench: getattr')
  })

  const small = appendUs(fsApi, crypto, 2 ** 20, 256)
  const big = appendUs(fsApi, crypto, 2 ** 30, 256)
  return {
    create_ops_per_s, small_write_ops_per_s, rename_ops_per_s, chmod_ops_per_s, getattr_ops_per_s,
    append_4k_to_1MiB_apply_us: small.apply_us, append_4k_to_1GiB_apply_us: big.apply_us,
    append_4k_to_1MiB_apply_root_us: small.apply_root_us, append_4k_to_1GiB_apply_root_us: big.apply_root_us,
  }
}

/** Median over batches of the mean µs per op: `batch` runs `n` timed ops (and may undo them
 *  untimed), repeated until at least `opsMin` ops and `msMin` ms were timed. A median of batches
 *  shrugs off a GC pause or a preemption by another process that would skew one long mean. */
function medianBatchUs(batch: () => { ms: number; n: number }, opsMin: number, msMin: number): number {
  const means: number[] = []
  let ops = 0
  let ms = 0
  while (ops < opsMin || ms < msMin) {
    const b = batch()
    means.push((b.ms * 1000) / b.n)
    ops += b.n
    ms += b.ms
  }
  means.sort((a, b) => a - b)
  return Math.round(means[means.length >> 1]! * 10) / 10
}

/**
 * Microseconds per create (applyOp + state root) of a file in a directory that holds `entries`
 * files: batches of 16 creates, each batch unlinked again untimed (the directory keeps its size),
 * after one untimed batch; at least `opsMin` creates and `msMin` ms. The directory's node hash
 * covered all its entries before issue 11 (O(entries) per create), its entry tree's path after.
 */
export function createInDirUs(api: FsApi, crypto: Crypto, entries: number, opsMin: number, msMin = 300):
  { create_us: number; sha256_calls: number; sha256_bytes: number } {
  const counter = counting(crypto)
  const fs = api.createFs(counter.crypto)
  const run = (op: FsOp): void => {
    if (!api.applyOp(fs, op, { epoch: fs.epoch + 1, author: AUTHOR }).result.ok) throw new Error(`bench: ${op.type} failed`)
  }
  const time = (): { sec: number; nsec: number } => ({ sec: 1_700_000_000 + fs.epoch, nsec: 0 })
  run({ type: 'mkdir', path: '/d', mode: 0o755, ino: 2, cred, time: time() })
  let ino = 3
  for (let i = 0; i < entries; i++) run({ type: 'create', path: `/d/doc-${String(i).padStart(8, '0')}`, mode: 0o644, ino: ino++, cred, time: time() })
  api.stateRoot(fs)
  const batch = (): { ms: number; n: number } => {
    const first = ino
    const start = performance.now()
    for (let i = 0; i < 16; i++) {
      run({ type: 'create', path: `/d/new-${ino}`, mode: 0o644, ino: ino++, cred, time: time() })
      api.stateRoot(fs)
    }
    const ms = performance.now() - start
    for (let i = first; i < ino; i++) run({ type: 'unlink', path: `/d/new-${i}`, cred, time: time() })
    api.stateRoot(fs)
    return { ms, n: 16 }
  }
  batch()
  const create_us = medianBatchUs(batch, opsMin, msMin)
  const { calls, bytes } = counter.during(batch)
  return { create_us, sha256_calls: calls, sha256_bytes: bytes }
}

/** What appendUs needs of core/fs: the API of this checkout or of another one (bench/fs-append-ab.ts
 *  passes an older checkout's module to compare before and after). */
export interface FsApi {
  createFs(crypto: Crypto): FsState
  applyOp(fs: FsState, op: FsOp, ctx: { epoch: number; author: Pid }): { result: { ok: boolean } }
  stateRoot(fs: FsState): string
}

const BLOCK = 65536
const fakeChunk = (n: number): ChunkHash => n.toString(16).padStart(64, '0') as ChunkHash

/**
 * Microseconds per 4 KiB append to a file of `fileBytes` (a multiple of 64 KiB) in /d:
 * `apply_us` the applyOp of the grouped write alone, `apply_root_us` the applyOp followed by the
 * state root a replica computes after it. Batches of 16 appends (one new 64 KiB block, each append
 * re-listing it with a new chunk hash, as planWrite does for a partial last block), each batch
 * truncated back untimed (the file keeps its size), after one untimed batch; at least `opsMin`
 * appends and `msMin` ms each. Block references only: chunk hashes are fake, so a 1 GiB file needs
 * no 1 GiB of bytes.
 */
export function appendUs(api: FsApi, crypto: Crypto, fileBytes: number, opsMin: number, msMin = 300):
  { apply_us: number; apply_root_us: number; root_sha256_calls: number; root_sha256_bytes: number } {
  const counter = counting(crypto)
  const fs = api.createFs(counter.crypto)
  let chunk = 0
  const run = (op: FsOp): void => {
    if (!api.applyOp(fs, op, { epoch: fs.epoch + 1, author: AUTHOR }).result.ok) throw new Error(`bench: ${op.type} failed`)
  }
  const time = (): { sec: number; nsec: number } => ({ sec: 1_700_000_000 + fs.epoch, nsec: 0 })
  run({ type: 'mkdir', path: '/d', mode: 0o755, ino: 2, cred, time: time() })
  run({ type: 'create', path: '/d/f', mode: 0o644, ino: 3, cred, time: time() })
  const count = Math.ceil(fileBytes / BLOCK)
  // At most 65536 (MAX_WRITE_BLOCKS) references per op: 4 GiB per op.
  for (let first = 0; first < count; first += 65536) {
    const n = Math.min(65536, count - first)
    const blocks = Array.from({ length: n }, (_, i) => [first + i, fakeChunk(chunk++)] as const)
    run({ type: 'write', path: '/d/f', size: Math.min(fileBytes, (first + n) * BLOCK), blocks, cred, time: time() })
  }
  api.stateRoot(fs)
  const batch = (withRoot: boolean): { ms: number; n: number } => {
    const start = performance.now()
    for (let size = fileBytes + 4096; size <= fileBytes + BLOCK; size += 4096) {
      run({ type: 'write', path: '/d/f', size, blocks: [[count, fakeChunk(chunk++)]], cred, time: time() })
      if (withRoot) api.stateRoot(fs)
    }
    const ms = performance.now() - start
    run({ type: 'truncate', path: '/d/f', size: fileBytes, cred, time: time() })
    api.stateRoot(fs)
    return { ms, n: BLOCK / 4096 }
  }
  batch(false)
  batch(true)
  const apply_us = medianBatchUs(() => batch(false), opsMin, msMin)
  const apply_root_us = medianBatchUs(() => batch(true), opsMin, msMin)
  const { calls, bytes } = counter.during(() => batch(true))
  return { apply_us, apply_root_us, root_sha256_calls: calls, root_sha256_bytes: bytes }
}

/** A crypto that counts sha256 calls and bytes while `during` runs (per op of the batch): the
 *  hashing work, which unlike time does not drift with the machine's load. */
function counting(crypto: Crypto): { crypto: Crypto; during: (batch: () => { n: number }) => { calls: number; bytes: number } } {
  let on = false
  let calls = 0
  let bytes = 0
  const sha256 = (b: Uint8Array): Uint8Array => {
    if (on) {
      calls++
      bytes += b.length
    }
    return crypto.sha256(b)
  }
  return {
    crypto: { ...crypto, sha256 },
    during(batch) {
      calls = 0
      bytes = 0
      on = true
      const { n } = batch()
      on = false
      return { calls: Math.round((calls / n) * 10) / 10, bytes: Math.round(bytes / n) }
    },
  }
}
