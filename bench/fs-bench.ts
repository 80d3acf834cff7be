// Throughput of the file system reducer: ops/s for applyOp (creates, small-file writes, renames)
// and reads (getattr), each followed by a state root where a replica would compute one.
// Wired into `npm run bench:core` by bench/core.ts; returns figures, prints nothing.
import { nobleCrypto } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import type { Pid } from '../core/types.ts'
import type { FsOp, FsState } from '../core/fs/index.ts'
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

  return { create_ops_per_s, small_write_ops_per_s, rename_ops_per_s, chmod_ops_per_s, getattr_ops_per_s }
}
