// Read-ahead of sequential reads (runtime/readahead.ts, RecordStore.prefetch, VolumeReader's
// cursor): every chunk comes back with its own bytes wherever the worker's guess of its place was
// right or wrong (span limits, a second segment, inline and short chunks, a chunk stored once and
// referenced twice); a damaged chunk inside a span is never served and is counted on each read,
// its neighbours are served; a worker that is gone leaves reads to the store's own path; bytes
// handed out by chunk() survive the reuse of their slot; and through a real mount, a remounted
// file reads back equal, and a flipped byte in its segment fails only the reads of that block
// (STORE-2).
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fromHex, toHex } from '../core/bytes.ts'
import { chunkRecord } from '../core/storage.ts'
import type { ChunkHash, VolumeName } from '../core/types.ts'
import { READAHEAD_BYTES_MAX, READAHEAD_SPAN_BYTES_MAX } from '../runtime/readahead.ts'
import { CHUNK_INLINE_MAX, RecordStore, segmentDir, segmentName } from '../runtime/store.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import { cleanupAll, mountPaciofs, runPaciofs, stopProc } from './support/procs.ts'

const V = 'v' as VolumeName
const BLOCK = 65536
const dirs: string[] = []
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'paciofs-readahead-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

interface TestChunk {
  readonly hash: ChunkHash
  readonly bytes: Uint8Array
}
const sha = (b: Uint8Array): ChunkHash => toHex(nodeCrypto.sha256(b)) as ChunkHash
function chunkOf(size: number): TestChunk {
  const bytes = new Uint8Array(randomBytes(size))
  return { hash: sha(bytes), bytes }
}
/** Byte equality without vitest's element-by-element deep equality (slow on 64 KiB arrays). */
const same = (a: Uint8Array | undefined, b: Uint8Array): boolean => a !== undefined && Buffer.compare(a, b) === 0
const records = (cs: readonly TestChunk[]) => cs.map((c) => chunkRecord(V, fromHex(c.hash)!, c.bytes))
const wanted = (cs: readonly TestChunk[]) => cs.map((c) => ({ hash: c.hash, length: c.bytes.length }))

/** Reads `cs` in order as a sequential reader does: asks for a window ahead, then reads. */
function readInOrder(store: RecordStore, cs: readonly TestChunk[], window = 64): (Uint8Array | undefined)[] {
  const out: (Uint8Array | undefined)[] = []
  let ahead = 0
  for (let i = 0; i < cs.length; i++) {
    if (ahead - i <= window / 2) {
      const stop = Math.min(cs.length, Math.max(ahead, i) + window)
      store.prefetch(V, wanted(cs.slice(Math.max(ahead, i), stop)))
      ahead = stop
    }
    out.push(store.chunk(V, cs[i]!.hash))
  }
  return out
}

describe('RecordStore read-ahead', () => {
  it('serves every chunk its own bytes across span limits, a second segment, inline and short chunks and a chunk referenced twice; nothing counted damaged', async () => {
    const dir = freshDir()
    const first = Array.from({ length: 40 }, () => chunkOf(BLOCK)) // 2.5 MiB: more than one span
    const inline = chunkOf(1000) // in the index, not in the segment: the guess after it is wrong
    const short = chunkOf(CHUNK_INLINE_MAX + 123) // a file's short last block
    const second = Array.from({ length: 10 }, () => chunkOf(BLOCK))
    let s = await RecordStore.open(dir)
    await s.append(records([...first.slice(0, 20), inline, ...first.slice(20), short]))
    await s.close()
    // The store appends to the highest segment it finds: an empty seg-000002 starts a new one.
    writeFileSync(join(segmentDir(dir), segmentName(2)), new Uint8Array(0))
    s = await RecordStore.open(dir)
    await s.append(records(second))
    await s.close()

    s = await RecordStore.open(dir)
    try {
      // File order: the first run, the inline chunk, the rest with the short chunk, the second
      // segment's run, then a chunk of the first run again (its place is back in seg-000001).
      const order = [...first.slice(0, 20), inline, ...first.slice(20), short, ...second, first[3]!, ...second.slice(0, 2)]
      order.splice(5, 0, first[4]!) // a repeated block inside a span: its chunk is stored once
      const got = readInOrder(s, order)
      got.forEach((b, i) => expect(same(b, order[i]!.bytes), `chunk ${i}`).toBe(true))
      expect(s.counters.damaged).toBe(0)
      // Each chunk in a segment was read ahead (a guess that failed was looked up one by one; the
      // last three may be read again if their slots were reused meanwhile).
      const ra = s.readAheadCounters!
      expect(ra.verified).toBeGreaterThanOrEqual(first.length + 1 + second.length)
      expect(ra.rejected).toBe(0)
      expect(ra.spans).toBeGreaterThan(2) // 2.5 MiB of the first run alone needs two spans
    } finally {
      await s.close()
    }
  })

  it('[STORE-2] a damaged chunk inside a read-ahead span is not served and is counted on every read; the chunks around it are served', async () => {
    const dir = freshDir()
    const cs = Array.from({ length: 24 }, () => chunkOf(BLOCK))
    let s = await RecordStore.open(dir)
    await s.append(records(cs))
    await s.close()
    const seg = join(segmentDir(dir), segmentName(1))
    const bytes = readFileSync(seg)
    const at = Buffer.from(bytes).indexOf(Buffer.from(cs[7]!.bytes))
    expect(at).toBeGreaterThanOrEqual(0)
    bytes[at + 5000] = bytes[at + 5000]! ^ 0x01
    writeFileSync(seg, bytes)

    s = await RecordStore.open(dir)
    try {
      const got = readInOrder(s, cs)
      got.forEach((b, i) => (i === 7 ? expect(b).toBeUndefined() : expect(same(b, cs[i]!.bytes), `chunk ${i}`).toBe(true)))
      expect(s.counters.damaged).toBe(1)
      expect(s.readAheadCounters!.rejected).toBe(1)
      expect(s.chunk(V, cs[7]!.hash)).toBeUndefined()
      expect(s.counters.damaged).toBe(2)
      expect(s.auditChunk(V, cs[7]!.hash)).toMatchObject({ ok: false, problem: 'does not hash to its name (damaged)' })
    } finally {
      await s.close()
    }
  })

  it('a segment cut short inside a span: the chunks before the cut are served, the others read as absent and counted', async () => {
    const dir = freshDir()
    const cs = Array.from({ length: 12 }, () => chunkOf(BLOCK))
    let s = await RecordStore.open(dir)
    await s.append(records(cs))
    await s.close()
    const seg = join(segmentDir(dir), segmentName(1))
    const bytes = readFileSync(seg)
    const at = Buffer.from(bytes).indexOf(Buffer.from(cs[8]!.bytes))
    writeFileSync(seg, bytes.subarray(0, at + 100))
    s = await RecordStore.open(dir)
    try {
      const got = readInOrder(s, cs)
      got.forEach((b, i) => (i >= 8 ? expect(b).toBeUndefined() : expect(same(b, cs[i]!.bytes), `chunk ${i}`).toBe(true)))
      expect(s.counters.damaged).toBe(4)
    } finally {
      await s.close()
    }
  })

  it('a worker that is gone (spans still being read) leaves every read to the store\'s own path: right bytes, no read-ahead after it', async () => {
    const dir = freshDir()
    const cs = Array.from({ length: 64 }, () => chunkOf(BLOCK))
    let s = await RecordStore.open(dir)
    await s.append(records(cs))
    await s.close()
    s = await RecordStore.open(dir)
    try {
      s.prefetch(V, wanted(cs))
      // As when the worker exits or hangs (ReadAhead gives it up): stop it with spans in flight.
      ;(s as unknown as { readAhead: { close(): void } }).readAhead.close()
      const spans = s.readAheadCounters!.spans
      const got = readInOrder(s, cs)
      got.forEach((b, i) => expect(same(b, cs[i]!.bytes), `chunk ${i}`).toBe(true))
      expect(s.readAheadCounters!.spans).toBe(spans)
      expect(s.counters).toMatchObject({ reads: cs.length, damaged: 0 })
    } finally {
      await s.close()
    }
  })

  it('bytes handed out by chunk() stay as they were after read-ahead reuses their slot; borrowChunk is what FUSE reads use', async () => {
    const dir = freshDir()
    const n = Math.ceil((READAHEAD_BYTES_MAX * 1.5) / BLOCK) // more than the slots hold: slots are reused
    const cs = Array.from({ length: n }, () => chunkOf(BLOCK))
    let s = await RecordStore.open(dir)
    for (let i = 0; i < n; i += 64) await s.append(records(cs.slice(i, i + 64)))
    await s.close()
    s = await RecordStore.open(dir)
    try {
      s.prefetch(V, wanted(cs.slice(0, READAHEAD_SPAN_BYTES_MAX / BLOCK)))
      const kept = s.chunk(V, cs[0]!.hash)!
      const borrowed = s.borrowChunk(V, cs[1]!.hash)!
      expect(same(borrowed, cs[1]!.bytes)).toBe(true)
      const got = readInOrder(s, cs.slice(2))
      got.forEach((b, i) => expect(same(b, cs[i + 2]!.bytes), `chunk ${i + 2}`).toBe(true))
      expect(s.readAheadCounters!.dropped).toBeGreaterThan(0)
      expect(same(kept, cs[0]!.bytes)).toBe(true)
      expect(s.counters.damaged).toBe(0)
    } finally {
      await s.close()
    }
  })
})

describe('read-ahead through a mount', () => {
  const root = mkdtempSync(join(tmpdir(), 'paciofs-readahead-mnt-'))
  const data = join(root, 'data')
  const mnt = join(root, 'mnt')
  afterAll(async () => {
    await cleanupAll([mnt])
    rmSync(root, { recursive: true, force: true })
  })

  /** Reads [from, to) of `path` in 128 KiB reads, as the kernel asks a sequential reader's. */
  async function readRange(path: string, from: number, to: number): Promise<Buffer> {
    const fh = await fs.open(path, 'r')
    try {
      const out = Buffer.alloc(to - from)
      for (let off = from; off < to; off += 131072) {
        const n = Math.min(131072, to - off)
        const { bytesRead } = await fh.read(out, off - from, n, off)
        expect(bytesRead).toBe(n)
      }
      return out
    } finally {
      await fh.close()
    }
  }

  it('[STORE-2] a remounted 8 MiB file reads back equal; after a byte of one block is flipped on disk only reads of that block fail (EIO), before and after it the bytes are right', async () => {
    const content = randomBytes(8 * 1024 * 1024)
    let p = await mountPaciofs(mnt, ['--data', data])
    await fs.writeFile(join(mnt, 'big.bin'), content)
    expect(await stopProc(p)).toBe(0)

    // From disk (a fresh mount holds no chunk in memory): read-ahead serves the sequential read.
    p = await mountPaciofs(mnt, ['--data', data])
    expect(Buffer.compare(await readRange(join(mnt, 'big.bin'), 0, content.length), content)).toBe(0)
    expect(await stopProc(p)).toBe(0)

    // Flip a byte of block 40 (2.5 MiB in): within the window a read of the first 2 MiB asks for.
    const bad = 40
    const seg = join(segmentDir(join(data, 'store')), segmentName(1))
    const bytes = readFileSync(seg)
    const at = Buffer.from(bytes).indexOf(content.subarray(bad * BLOCK, (bad + 1) * BLOCK))
    expect(at).toBeGreaterThanOrEqual(0)
    bytes[at + 777] = bytes[at + 777]! ^ 0x01
    writeFileSync(seg, bytes)

    p = await mountPaciofs(mnt, ['--data', data])
    try {
      const file = join(mnt, 'big.bin')
      expect(Buffer.compare(await readRange(file, 0, 2 * 1024 * 1024), content.subarray(0, 2 * 1024 * 1024))).toBe(0)
      const err = await readRange(file, bad * BLOCK, (bad + 1) * BLOCK).then(() => 'ok', (e: NodeJS.ErrnoException) => e.code)
      expect(err).toBe('EIO')
      const after = 3 * 1024 * 1024
      expect(Buffer.compare(await readRange(file, after, content.length), content.subarray(after))).toBe(0)
      const status = await runPaciofs(['status', '--json', '--data', data])
      expect(status.code).toBe(0)
      expect((JSON.parse(status.stdout) as { chunkReads: { damaged: number } }).chunkReads.damaged).toBeGreaterThanOrEqual(1)
    } finally {
      expect(await stopProc(p)).toBe(0)
    }
  }, 120_000)
})
