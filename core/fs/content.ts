// Author-side content planning: turns the writes of one open..close session into one `write`
// op plus the new chunks. Pure: reads existing blocks through a ChunkReader, never mutates fs.
import type { Crypto } from '../crypto.ts'
import { toHex } from '../bytes.ts'
import type { ChunkHash, Pid } from '../types.ts'
import type { WriteOp } from './ops.ts'
import type { FsState } from './state.ts'
import type { ChunkReader, Cred, Errno, FsTime, InodeVersion } from './types.ts'
import { BLOCK_SIZE, MAX_FILE_SIZE } from './types.ts'
import { currentView } from './view.ts'

/** One step of a session: bytes at an offset, or a truncate (ftruncate) to a size. */
export type WriteStep = { readonly offset: number; readonly data: Uint8Array } | { readonly truncate: number }

export interface WritePlan {
  readonly op: WriteOp
  /** New chunks the op references, by hash (deduplicated). */
  readonly chunks: Map<ChunkHash, Uint8Array>
}

/** Reads block k of a version with its valid length applied; zeros for holes. */
function loadBlock(v: InodeVersion, chunks: ChunkReader, k: number): Uint8Array | 'EIO' {
  const out = new Uint8Array(BLOCK_SIZE)
  const ref = v.blocks.get(k)
  if (ref === undefined) return out
  const data = chunks(ref.hash)
  if (data === undefined) return 'EIO'
  out.set(data.subarray(0, Math.min(ref.len, data.length, BLOCK_SIZE)))
  return out
}

function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}

/**
 * Computes the `write` op for a session: optional truncateTo first (O_TRUNC or an initial
 * ftruncate), then the steps in order. Blocks that become all zeros are written as holes.
 */
export function planWrite(fs: FsState, chunks: ChunkReader, path: string, writes: readonly WriteStep[],
  truncateTo: number | undefined, crypto: Crypto, stamp: { cred: Cred; time: FsTime; client?: Pid }):
  { ok: true; value: WritePlan } | { ok: false; errno: Errno } {
  const view = currentView(fs)
  const found = view.lookup(path)
  if (!found.ok) return found
  const v = view.version(found.value)!
  if (v.kind === 'dir') return { ok: false, errno: 'EISDIR' }
  if (v.kind !== 'file') return { ok: false, errno: 'EINVAL' }

  let size = v.size
  let minSize = v.size
  const dirty = new Map<number, Uint8Array>()
  const block = (k: number): Uint8Array | 'EIO' => {
    let b = dirty.get(k)
    if (b === undefined) {
      const loaded = k * BLOCK_SIZE < minSize ? loadBlock(v, chunks, k) : new Uint8Array(BLOCK_SIZE)
      if (loaded === 'EIO') return 'EIO'
      b = loaded
      dirty.set(k, b)
    }
    return b
  }
  const truncate = (n: number): Errno | null => {
    if (!Number.isSafeInteger(n) || n < 0) return 'EINVAL'
    if (n > MAX_FILE_SIZE) return 'EFBIG'
    if (n < size) {
      for (const k of [...dirty.keys()]) if (k * BLOCK_SIZE >= n) dirty.delete(k)
      if (n % BLOCK_SIZE !== 0) {
        const b = block(Math.floor(n / BLOCK_SIZE))
        if (b === 'EIO') return 'EIO'
        b.fill(0, n % BLOCK_SIZE)
      }
      minSize = Math.min(minSize, n)
    }
    size = n
    return null
  }
  const steps: WriteStep[] = truncateTo === undefined ? [...writes] : [{ truncate: truncateTo }, ...writes]
  for (const step of steps) {
    if ('truncate' in step) {
      const e = truncate(step.truncate)
      if (e !== null) return { ok: false, errno: e }
      continue
    }
    const { offset, data } = step
    if (!Number.isSafeInteger(offset) || offset < 0) return { ok: false, errno: 'EINVAL' }
    if (offset + data.length > MAX_FILE_SIZE) return { ok: false, errno: 'EFBIG' }
    let pos = 0
    while (pos < data.length) {
      const at = offset + pos
      const k = Math.floor(at / BLOCK_SIZE)
      const within = at - k * BLOCK_SIZE
      const n = Math.min(BLOCK_SIZE - within, data.length - pos)
      const b = block(k)
      if (b === 'EIO') return { ok: false, errno: 'EIO' }
      b.set(data.subarray(pos, pos + n), within)
      pos += n
    }
    if (data.length > 0) size = Math.max(size, offset + data.length)
  }

  const count = Math.ceil(size / BLOCK_SIZE)
  const listed = new Map<number, ChunkHash | null>()
  // Existing blocks a shrink removed must not come back when the session grows the file again:
  // those with k * BLOCK_SIZE >= minSize and k < count (only that range of the tree is walked).
  for (const k of v.blocks.keys(Math.ceil(minSize / BLOCK_SIZE), count)) {
    if (!dirty.has(k)) listed.set(k, null)
  }
  const newChunks = new Map<ChunkHash, Uint8Array>()
  for (const [k, b] of dirty) {
    if (k >= count) continue
    const bytes = b.subarray(0, Math.min(BLOCK_SIZE, size - k * BLOCK_SIZE))
    if (isZero(bytes)) {
      listed.set(k, null)
      continue
    }
    // A full block's buffer is ours alone (fresh, or a copy by loadBlock): no second copy.
    const data = bytes.length === b.length ? b : bytes.slice()
    const hash = toHex(crypto.sha256(data)) as ChunkHash
    newChunks.set(hash, data)
    listed.set(k, hash)
  }
  const blocks = [...listed.entries()].sort((a, b) => a[0] - b[0]).map(([k, h]) => [k, h] as const)
  const op: WriteOp = { type: 'write', path, size, blocks, cred: stamp.cred, time: stamp.time, ...(stamp.client !== undefined ? { client: stamp.client } : {}) }
  return { ok: true, value: { op, chunks: newChunks } }
}

/** Hex sha256 of a chunk's bytes: its name in the chunk store. */
export function chunkHash(crypto: Crypto, data: Uint8Array): ChunkHash {
  return toHex(crypto.sha256(data)) as ChunkHash
}
