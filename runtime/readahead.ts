// Read-ahead of content chunks for sequential reads (issue 11): a worker thread reads a span of
// consecutive chunks of one segment file in one readSync and checks each against its SHA-256
// name, while the main thread serves FUSE. The store (runtime/store.ts) asks for it through
// `submit`; `take` hands out a verified chunk, waiting for it synchronously when it is still
// being read (the core's storage port is synchronous).
//
// Why a worker: SHA-256 of a 64 KiB chunk costs ~65 µs here (node's OpenSSL, ~1 GB/s), more than
// everything else a sequential read through the mount costs per chunk; on the one JS thread it
// cut sequential reads to a third. In a second thread it overlaps with serving the chunks before.
//
// Memory: one SharedArrayBuffer of READAHEAD_BYTES_MAX, in slots of READAHEAD_SPAN_BYTES_MAX, made
// once (no buffer per read: a fresh buffer per span made GC ~13 % of the main thread's profile).
// A slot is written by the worker only between `submit` handing it out and the worker's result,
// and handed out again only once none of its chunks is kept (oldest chunks dropped first), so the
// main thread never reads bytes the worker is writing.
//
// Integrity (STORE-2): a chunk is kept only if the bytes the worker read into the slot hash to its
// name, and nothing writes the slot until it is free again: every byte handed out was checked
// since it was last read from disk. A chunk cut short, unreadable or hashing to another name is
// not kept; the store's synchronous path then reads it through the index, finds any damage and
// counts it (a wrong guess of where a chunk is costs a wasted read, never wrong bytes).
//
// Bounds: READAHEAD_BYTES_MAX of slots, READAHEAD_FDS_MAX segment descriptors in the worker. A
// worker that fails or does not answer within READAHEAD_WAIT_MS_MAX is given up: the store reads
// on its own thread as before.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads'

/** Bytes of the read-ahead slots (chunks verified and waiting, or being read). */
export const READAHEAD_BYTES_MAX = 16 * 1024 * 1024
/** One read of the worker: at most this many bytes (consecutive chunks of one segment). */
export const READAHEAD_SPAN_BYTES_MAX = 2 * 1024 * 1024
const SLOTS = READAHEAD_BYTES_MAX / READAHEAD_SPAN_BYTES_MAX
/** Segment file descriptors the worker keeps open. */
export const READAHEAD_FDS_MAX = 64
/** How long `take` waits for the worker before giving it up. */
export const READAHEAD_WAIT_MS_MAX = 10_000

/** A chunk of a span: its key in the store, its hash (hex), where it is in the span. */
export interface SpanChunk {
  readonly key: string
  readonly hash: string
  /** Offset inside the span. */
  readonly at: number
  readonly length: number
}

/** Consecutive bytes of one segment file, read in one go, and the chunks expected in them. */
export interface Span {
  readonly path: string
  readonly offset: number
  readonly length: number
  readonly chunks: readonly SpanChunk[]
}

export interface ReadAheadCounters {
  /** spans handed to the worker */
  spans: number
  /** bytes the worker read from segments */
  bytesRead: number
  /** chunks verified and kept */
  verified: number
  /** chunks cut short, unreadable or not hashing to their name (left to the synchronous path) */
  rejected: number
  /** take() found its chunk still being read and waited */
  waits: number
  /** verified chunks dropped to free a slot (served or not) */
  dropped: number
  /** spans not read ahead: every slot was being read */
  refused: number
}

type Job = { id: number; slot: number; path: string; offset: number; length: number; chunks: { hash: string; at: number; length: number }[] }
type Result = { id: number; got: number; ok: boolean[] }

// The worker, as CommonJS source (an eval worker needs no TypeScript loader). `done` counts the
// spans it finished, so that a main thread waiting in Atomics.wait wakes.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { openSync, readSync, closeSync } = require('node:fs')
const { createHash } = require('node:crypto')
const { port, slots, slotBytes, fdsMax } = workerData
const done = new Int32Array(workerData.done)
const fds = new Map()
function fdOf(path) {
  let fd = fds.get(path)
  if (fd !== undefined) return fd
  if (fds.size >= fdsMax) {
    const [oldPath, oldFd] = fds.entries().next().value
    fds.delete(oldPath)
    try { closeSync(oldFd) } catch {}
  }
  fd = openSync(path, 'r')
  fds.set(path, fd)
  return fd
}
parentPort.on('message', (job) => {
  const view = new Uint8Array(slots, job.slot * slotBytes, job.length)
  let got = 0
  try {
    const fd = fdOf(job.path)
    while (got < job.length) {
      const n = readSync(fd, view, got, job.length - got, job.offset + got)
      if (n === 0) break
      got += n
    }
  } catch {
    // unreadable: every chunk past 'got' is rejected below
  }
  const ok = job.chunks.map((c) => c.at + c.length <= got && createHash('sha256').update(view.subarray(c.at, c.at + c.length)).digest('hex') === c.hash)
  port.postMessage({ id: job.id, got, ok })
  Atomics.add(done, 0, 1)
  Atomics.notify(done, 0)
})
`

export class ReadAhead {
  private worker: Worker | undefined
  private readonly port: MessagePort
  private readonly slots: SharedArrayBuffer
  /** [0]: spans the worker has finished (it only grows). */
  private readonly done: Int32Array
  private nextId = 1
  /** Spans handed to the worker and not yet absorbed: id -> the span and its slot. */
  private readonly pending = new Map<number, { span: Span; slot: number }>()
  /** Chunk key -> id of the span reading it. */
  private readonly inFlight = new Map<string, number>()
  /** Verified chunks, oldest first: views into their slot. */
  private readonly ready = new Map<string, { bytes: Uint8Array; slot: number }>()
  /** Per slot: chunks of it kept in `ready`. */
  private readonly live = new Int32Array(SLOTS)
  /** Slots neither being read nor holding kept chunks. */
  private readonly free: number[] = []
  /** Set once the worker failed or hung: no more read-ahead. */
  private broken = false
  readonly counters: ReadAheadCounters = { spans: 0, bytesRead: 0, verified: 0, rejected: 0, waits: 0, dropped: 0, refused: 0 }

  constructor() {
    this.slots = new SharedArrayBuffer(READAHEAD_BYTES_MAX)
    this.done = new Int32Array(new SharedArrayBuffer(4))
    for (let s = SLOTS - 1; s >= 0; s--) this.free.push(s)
    const { port1, port2 } = new MessageChannel()
    this.port = port1
    // One worker: a second one (spans round robin) measured slower on the 2-core machine of
    // bench/README, where the main thread, FUSE's threads and the reader share the cores.
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { port: port2, slots: this.slots, slotBytes: READAHEAD_SPAN_BYTES_MAX, done: this.done.buffer, fdsMax: READAHEAD_FDS_MAX },
      transferList: [port2],
    })
    worker.unref() // read-ahead never keeps the process alive
    worker.on('error', () => this.giveUp())
    worker.on('exit', () => this.giveUp())
    this.worker = worker
  }

  get usable(): boolean {
    return !this.broken
  }

  /** Whether `key` is verified here or being read. */
  has(key: string): boolean {
    return this.ready.has(key) || this.inFlight.has(key)
  }

  /** Hands a span to the worker; false (nothing happens) when every slot is being read. */
  submit(span: Span): boolean {
    if (this.broken || span.chunks.length === 0) return false
    if (!(span.length > 0 && span.length <= READAHEAD_SPAN_BYTES_MAX)) throw new Error(`read-ahead: a span of ${span.length} bytes (at most READAHEAD_SPAN_BYTES_MAX)`)
    this.drain()
    while (this.free.length === 0 && this.ready.size > 0) this.dropOldest()
    const slot = this.free.pop()
    if (slot === undefined) {
      this.counters.refused++
      return false
    }
    const id = this.nextId++
    const job: Job = { id, slot, path: span.path, offset: span.offset, length: span.length, chunks: span.chunks.map((c) => ({ hash: c.hash, at: c.at, length: c.length })) }
    this.pending.set(id, { span, slot })
    for (const c of span.chunks) this.inFlight.set(c.key, id)
    this.counters.spans++
    this.worker!.postMessage(job)
    return true
  }

  /** The verified bytes of `key`, waiting for the worker if it is reading them; undefined when
   *  read-ahead does not have them (never asked, dropped, or rejected). The bytes are a view
   *  into a slot that is reused later: valid until the next `submit`; a caller that keeps them
   *  copies them. */
  take(key: string): Uint8Array | undefined {
    if (this.pending.size > 0) this.drain()
    const hit = this.ready.get(key)
    if (hit !== undefined) return hit.bytes
    const id = this.inFlight.get(key)
    if (id === undefined) return undefined
    this.counters.waits++
    this.waitFor(id)
    return this.ready.get(key)?.bytes
  }

  /** Stops the worker and forgets everything. */
  close(): void {
    this.giveUp()
  }

  private waitFor(id: number): void {
    const deadline = Date.now() + READAHEAD_WAIT_MS_MAX
    while (this.pending.has(id) && !this.broken) {
      const seen = Atomics.load(this.done, 0)
      this.drain()
      if (!this.pending.has(id)) return
      // The worker posts its result before it counts the span done: once `done` moved past
      // `seen`, the message is there to receive.
      Atomics.wait(this.done, 0, seen, 50)
      if (Date.now() > deadline) this.giveUp()
    }
  }

  /** Absorbs every result the worker has posted (synchronously: no event loop turn needed). */
  private drain(): void {
    for (;;) {
      const m = receiveMessageOnPort(this.port)
      if (m === undefined) return
      this.absorb(m.message as Result)
    }
  }

  private absorb(r: Result): void {
    const p = this.pending.get(r.id)
    if (p === undefined) return
    this.pending.delete(r.id)
    this.counters.bytesRead += r.got
    const base = p.slot * READAHEAD_SPAN_BYTES_MAX
    for (let i = 0; i < p.span.chunks.length; i++) {
      const c = p.span.chunks[i]!
      if (this.inFlight.get(c.key) === r.id) this.inFlight.delete(c.key)
      if (r.ok[i] !== true) {
        this.counters.rejected++
        continue
      }
      this.counters.verified++
      if (this.ready.has(c.key)) continue
      this.ready.set(c.key, { bytes: new Uint8Array(this.slots, base + c.at, c.length), slot: p.slot })
      this.live[p.slot]!++
    }
    if (this.live[p.slot] === 0) this.free.push(p.slot)
  }

  private dropOldest(): void {
    const first = this.ready.entries().next()
    if (first.done === true) return
    const [key, { slot }] = first.value
    this.ready.delete(key)
    this.counters.dropped++
    if (--this.live[slot]! === 0) this.free.push(slot)
  }

  private giveUp(): void {
    if (this.broken) return
    this.broken = true
    const w = this.worker
    this.worker = undefined
    void w?.terminate()
    this.port.close()
    this.pending.clear()
    this.inFlight.clear()
    this.ready.clear()
    this.free.length = 0
  }
}
