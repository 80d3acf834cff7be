// The storage port: what the core may read back of what its host persisted (spec/storage.md).
//
// Bulk data (content chunks) does not live in the core's state: the core persists it with a
// `persist` effect and reads it back through this read-only port, as etcd raft's core reads its
// log through `Storage`. The port's contents are a function of the persist effects the host has
// performed for this node (durable or handed to the disk and not yet lost in a crash), so a step
// stays a function of (state, input, port) and the simulator reproduces it exactly.
//
// Two implementations: MemoryChunkStore here (the simulator, tests, and the model of the spec),
// and runtime/store.ts (level + segment files, a bounded cache).
import type { Value } from './codec.ts'
import { toHex } from './bytes.ts'
import type { ChunkHash, Epoch, VolumeName } from './types.ts'
import { MemoryPastStore, type PastStore } from './volume/past.ts'

/** Read side of a node's stored chunks, per volume. */
export interface ChunkStore {
  /** The bytes of chunk `hash` of `volume` as this node persisted them; undefined when the node
   *  never persisted it, or (runtime) when the stored bytes are unreadable or do not hash to
   *  `hash` — the store counts and reports that, the core treats it as absent. */
  chunk(volume: VolumeName, hash: ChunkHash): Uint8Array | undefined
  /** Whether chunk(volume, hash) would be found, without reading it. */
  hasChunk(volume: VolumeName, hash: ChunkHash): boolean
}

/** The whole port a node reads: its chunks and its replicas' past (spec/storage.md). */
export interface NodeStorage extends ChunkStore, PastStore {}

/** What an audit read of one stored chunk found. */
export type ChunkAudit =
  | { readonly ok: true; readonly bytes: number }
  /** `actual`: the hash of the bytes found, when they were read but hash to another name. */
  | { readonly ok: false; readonly problem: string; readonly actual?: string }

/** The persisted form of a chunk: `['chunk', volume, hash (32 bytes), bytes]` (spec/storage.md). */
export function chunkRecord(volume: VolumeName, hash: Uint8Array, bytes: Uint8Array): Value {
  return ['chunk', volume, hash, bytes]
}

/** The (volume, hash, bytes) of a chunk record; undefined for any other record. */
export function parseChunkRecord(r: Value): { volume: VolumeName; hash: ChunkHash; bytes: Uint8Array } | undefined {
  if (!Array.isArray(r) || r.length !== 4 || r[0] !== 'chunk') return undefined
  const [, volume, hash, bytes] = r
  if (typeof volume !== 'string' || !(hash instanceof Uint8Array) || hash.length !== 32 || !(bytes instanceof Uint8Array)) return undefined
  return { volume: volume as VolumeName, hash: toHex(hash) as ChunkHash, bytes }
}

/** Chunks in memory, filled from the persist effects a host performs (`absorb`). The simulator
 *  keeps one per node and rebuilds it from the durable records at restart. */
export class MemoryChunkStore implements NodeStorage {
  private readonly byKey = new Map<string, Uint8Array>()
  private readonly past = new MemoryPastStore()

  /** `hash` (e.g. chunkHash with a Crypto) lets auditChunk check bytes; without it only presence. */
  constructor(private readonly hash?: (bytes: Uint8Array) => string) {}

  chunk(volume: VolumeName, hash: ChunkHash): Uint8Array | undefined {
    return this.byKey.get(`${volume}/${hash}`)
  }
  hasChunk(volume: VolumeName, hash: ChunkHash): boolean {
    return this.byKey.has(`${volume}/${hash}`)
  }
  chunkStats(volume: VolumeName): { chunks: number; bytes: number } {
    let chunks = 0
    let bytes = 0
    for (const [, b] of this.entries(volume)) {
      chunks++
      bytes += b.length
    }
    return { chunks, bytes }
  }
  auditChunk(volume: VolumeName, hash: ChunkHash): ChunkAudit {
    const b = this.chunk(volume, hash)
    if (b === undefined) return { ok: false, problem: 'is missing from the chunk store' }
    const actual = this.hash?.(b)
    if (actual !== undefined && actual !== hash) return { ok: false, problem: 'does not hash to its name (damaged)', actual }
    return { ok: true, bytes: b.length }
  }
  pastRecord(volume: VolumeName, epoch: Epoch): Value | undefined {
    return this.past.pastRecord(volume, epoch)
  }
  versionEpochs(volume: VolumeName, ino: number): readonly Epoch[] {
    return this.past.versionEpochs(volume, ino)
  }
  nameEpochs(volume: VolumeName, dir: number, name: string): readonly Epoch[] {
    return this.past.nameEpochs(volume, dir, name)
  }
  dirNames(volume: VolumeName, dir: number): readonly string[] {
    return this.past.dirNames(volume, dir)
  }
  /** Takes the chunk and past records of one performed persist effect; others are ignored. */
  absorb(records: readonly Value[]): void {
    this.past.absorb(records)
    for (const r of records) {
      const c = parseChunkRecord(r)
      if (c === undefined) continue
      const key = `${c.volume}/${c.hash}`
      if (this.byKey.has(key)) continue
      this.byKey.set(key, c.bytes)
    }
  }
  /** Every stored chunk of `volume`, hash order (audits, tests). */
  entries(volume: VolumeName): [ChunkHash, Uint8Array][] {
    const prefix = `${volume}/`
    const out: [ChunkHash, Uint8Array][] = []
    for (const [k, b] of this.byKey) if (k.startsWith(prefix)) out.push([k.slice(prefix.length) as ChunkHash, b])
    return out.sort(([a], [b]) => (a < b ? -1 : 1))
  }
  /** Replaces a stored chunk's bytes (tests of damage: the core must notice, never trust it). */
  overwrite(volume: VolumeName, hash: ChunkHash, bytes: Uint8Array | undefined): void {
    const key = `${volume}/${hash}`
    if (bytes === undefined) this.byKey.delete(key)
    else this.byKey.set(key, bytes)
  }
  /** Forgets everything (a crash of the host's memory; the simulator re-absorbs the disk). */
  clear(): void {
    this.byKey.clear()
    this.past.clear()
  }
}
