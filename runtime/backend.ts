// What a mount needs from a volume, whoever serves it: reads answered from a replica's state and
// state-changing calls handed to a node. Two implementations: LocalBackend (the node runs in this
// process: reads come straight from its state between steps) and RemoteBackend
// (runtime/client.ts: a node serves the volume over TCP).
import type { CallResult, FsCall } from '../core/volume/index.ts'
import { chunkReader } from '../core/volume/index.ts'
import type { Attr, DirEntry, Lookup } from '../core/fs/index.ts'
import { currentView, snapshotAt, type FsView } from '../core/fs/view.ts'
import { BLOCK_SIZE } from '../core/fs/types.ts'
import type { ChunkHash, VolumeName } from '../core/types.ts'
import type { NodeHost } from './host.ts'

/** How far ahead of a sequential read its chunks are asked for (bytes; runtime/readahead.ts
 *  bounds what is held). */
export const READAHEAD_WINDOW_BYTES = 4 * 1024 * 1024
/** Files whose read position is followed at once (oldest forgotten first). */
export const READAHEAD_FILES_MAX = 256
/** A read starting this close to the furthest read of its file continues it. */
export const READAHEAD_NEAR_BYTES = 1024 * 1024
/** Reads that continue a file's reads before read-ahead starts. */
export const READAHEAD_RUN_MIN = 2

/** Where the reads of one file got to: `next` the offset right after the furthest read, `ahead`
 *  the first block not yet asked for, `run` the reads that continued it. */
interface ReadCursor {
  next: number
  ahead: number
  run: number
}

export interface VolumeUsage {
  /** Inodes that exist now. */
  readonly files: number
  /** Bytes of content chunks the replica holds (all versions). */
  readonly bytes: number
}

export interface VolumeBackend {
  /** A mount of a past epoch, or of a volume this node only reads. */
  readonly readOnly: boolean
  getattr(path: string): Promise<Lookup<Attr>>
  readdir(path: string): Promise<Lookup<DirEntry[]>>
  /** Up to `length` bytes from `offset` (fewer at the end of the file). */
  read(path: string, offset: number, length: number): Promise<Lookup<Uint8Array>>
  /** Optional fast path of an open file: read inode `ino` straight into `target`; the count read. */
  readInto?(ino: number, offset: number, length: number, target: Uint8Array): Lookup<number>
  readlink(path: string): Promise<Lookup<string>>
  listxattr(path: string): Promise<Lookup<string[]>>
  getxattr(path: string, name: string): Promise<Lookup<Uint8Array>>
  usage(): Promise<VolumeUsage>
  /** A state-changing call; resolves once its records are durable at the serving node, or, with
   *  `early`, as soon as the node applied it (then `sync()` makes it durable). */
  call(call: FsCall, opts?: { readonly early?: boolean }): Promise<CallResult>
  /** Resolves once every call answered before is durable at the serving node. */
  sync(): Promise<void>
}

/** Read-only answers from one replica's state (shared by LocalBackend and the server side of
 *  client/server mode). `at` pins the view to the state right after that epoch. */
export class VolumeReader {
  /** Sequential-read detection for read-ahead, per inode (bounded: READAHEAD_FILES_MAX). */
  private readonly cursors = new Map<number, ReadCursor>()

  constructor(
    private readonly host: NodeHost,
    readonly volume: VolumeName,
    private readonly at?: number,
  ) {}

  private state() {
    const v = this.host.state.volumes.get(this.volume)
    if (v === undefined) throw new Error(`this node does not serve volume '${this.volume}'`)
    return v
  }

  view(): FsView {
    const fs = this.state().fs
    return this.at === undefined ? currentView(fs) : snapshotAt(fs, this.at)
  }

  getattr(path: string): Lookup<Attr> {
    return this.view().getattr(path)
  }
  readdir(path: string): Lookup<DirEntry[]> {
    return this.view().readdir(path)
  }
  read(path: string, offset: number, length: number): Lookup<Uint8Array> {
    return this.view().readFile(chunkReader(this.state(), this.host.chunkStore), path, offset, length)
  }
  readInto(ino: number, offset: number, length: number, target: Uint8Array): Lookup<number> {
    const view = this.view()
    this.readAhead(view, ino, offset, length)
    // readInodeInto copies each chunk into `target` before it asks for the next: it may borrow.
    const written = this.state().written
    const store = this.host.chunkStore
    return view.readInodeInto((h) => written.get(h) ?? store.borrowChunk(this.volume, h), ino, offset, length, target)
  }

  /** A read that continues the previous one of the same file asks the store for the chunks of
   *  the next READAHEAD_WINDOW_BYTES, and then for the next half window each time the read gets
   *  within half a window of what was asked for, so that chunks are read and checked in a
   *  second thread while this and the next reads are served. Asked before the read itself: the
   *  worker starts on them at once. */
  private readAhead(view: FsView, ino: number, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0) return
    const cur = this.cursors.get(ino)
    const end = offset + length
    // Near the furthest read counts as sequential: the kernel's read-ahead has several requests
    // out at once and FUSE's threads may hand them over out of order. Only a run of such reads
    // reads ahead: random reads land near each other now and then, and reading 4 MiB ahead for
    // them cost random 4 KiB reads a third of their IOPS (bench/README).
    if (cur === undefined || offset < cur.next - READAHEAD_NEAR_BYTES || offset > cur.next + READAHEAD_NEAR_BYTES) {
      // A first read, or a jump: follow it from here, read nothing ahead yet.
      this.cursors.delete(ino)
      if (this.cursors.size >= READAHEAD_FILES_MAX) this.cursors.delete(this.cursors.keys().next().value!)
      this.cursors.set(ino, { next: end, ahead: -1, run: 0 })
      return
    }
    cur.next = Math.max(cur.next, end)
    if (++cur.run < READAHEAD_RUN_MIN) return
    const window = READAHEAD_WINDOW_BYTES / BLOCK_SIZE
    const first = Math.floor(offset / BLOCK_SIZE)
    if (cur.ahead - first > window / 2) return
    const v = view.version(ino)
    if (v === undefined || v.kind !== 'file') return
    const from = Math.max(cur.ahead, first)
    const stop = Math.min(Math.ceil(v.size / BLOCK_SIZE), cur.ahead < first ? first + window : from + window / 2)
    if (from >= stop) return
    const wanted: { hash: ChunkHash; length: number }[] = []
    for (const [, ref] of v.blocks.list(from, stop)) wanted.push({ hash: ref.hash, length: ref.len })
    cur.ahead = stop
    this.host.chunkStore.prefetch(this.volume, wanted)
  }
  readlink(path: string): Lookup<string> {
    return this.view().readlink(path)
  }
  listxattr(path: string): Lookup<string[]> {
    return this.view().listxattr(path)
  }
  getxattr(path: string, name: string): Lookup<Uint8Array> {
    return this.view().getxattr(path, name)
  }
  usage(): VolumeUsage {
    const v = this.state()
    // The current state holds live inodes only (a deleted one leaves it).
    const files = v.fs.inodes.size
    // The store keeps the volume's chunk total: statfs never walks the chunks.
    return { files, bytes: this.host.chunkStore.chunkStats(this.volume).bytes }
  }
}

export class LocalBackend implements VolumeBackend {
  readonly readOnly: boolean
  private readonly reader: VolumeReader

  constructor(
    private readonly host: NodeHost,
    readonly volume: VolumeName,
    at?: number,
  ) {
    this.reader = new VolumeReader(host, volume, at)
    this.readOnly = at !== undefined
  }

  async getattr(path: string) {
    return this.reader.getattr(path)
  }
  async readdir(path: string) {
    return this.reader.readdir(path)
  }
  async read(path: string, offset: number, length: number) {
    return this.reader.read(path, offset, length)
  }
  readInto(ino: number, offset: number, length: number, target: Uint8Array) {
    return this.reader.readInto(ino, offset, length, target)
  }
  async readlink(path: string) {
    return this.reader.readlink(path)
  }
  async listxattr(path: string) {
    return this.reader.listxattr(path)
  }
  async getxattr(path: string, name: string) {
    return this.reader.getxattr(path, name)
  }
  async usage() {
    return this.reader.usage()
  }
  async sync(): Promise<void> {
    if (!this.readOnly) await this.host.sync()
  }
  async call(call: FsCall, opts: { readonly early?: boolean } = {}): Promise<CallResult> {
    if (this.readOnly) return { ok: false, errno: 'EROFS', detail: 'a mount of a past epoch is read-only' }
    const reply = await this.host.request({ type: 'fs', volume: this.volume, call }, opts)
    if (reply.ok && 'genesis' in reply) throw new Error('an fs request was answered with a genesis (a bug in core/node.ts)')
    return reply as CallResult
  }
}
