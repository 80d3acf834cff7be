// The runtime's host of core/node.ts, twin of the simulator's (sim/cluster.ts): the same core,
// driven by real inputs and performing its effects with real I/O. No protocol decisions here.
//
// The loop (as raft's Ready loop), with group commit: inputs — transport messages, timer ticks,
// requests — wait in one bounded queue. The loop steps every input waiting (up to a bound) as one
// group (core/node.ts stepGroup: each input handled in order, then one seal per volume), makes
// the group's records durable in ONE fsync'd level batch, then performs its sends, timers,
// replies, deliveries and traces in order:
//   stepGroup([i1, i2, ...]) -> await store.append(records)  -> effects
// While that batch is written, new inputs queue up and form the next group: under load, many
// inputs share one signature and one fsync. Nothing of a step leaves the node before its records are durable
// (core/effects.ts; spec/runtime.md RT-1). A request may ask for an early answer (`early`): it
// is answered right after its step, before its records are durable, and `sync()` waits until
// everything stepped before it is durable — as a local file system answers mkdir at once and
// makes it durable by fsync. The clock enters the core only as the `now` of an input
// (Date.now(), held non-decreasing).
//
// Fail-stop: a store that reports damaged batches, a lost tail (RT-9) or a restore with problems
// refuses to start (spec VOL-12); a failed write, or a throw from the core (our bug), halts the
// node: it stops stepping, rejects every pending request and closes its transport. It never runs on.
//
// A full disk is not a failure (RT-10): a state-changing request is answered ENOSPC before it is
// stepped when the free space (statfs) minus what is staged would fall below a reserve; a batch
// that meets a full disk anyway is held — nothing of it is performed, no request of it answered,
// no input stepped after it — and written again, with its own number, once space is freed. Reads
// never wait for the disk: they are answered from the state between steps.
import type { Crypto } from '../core/crypto.ts'
import {
  createNode,
  DEFAULT_TICK_MS,
  nodeConfig,
  restoreNode,
  settleStep,
  stepGroup,
  type CheckpointUse,
  type NodeConfig,
  type NodeEffect,
  type NodeInput,
  type NodeReply,
  type NodeRequest,
  type NodeState,
} from '../core/node.ts'
import { DEFAULT_VOLUME_PARAMS, type VolumeParams, type VolumeUp } from '../core/volume/index.ts'
import type { RequestId } from '../core/effects.ts'
import type { Value } from '../core/codec.ts'
import type { Pid, TimeMs, VolumeName } from '../core/types.ts'
import { nodeCrypto } from './node-crypto.ts'
import { RecordStore, StoreError } from './store.ts'
import { recoverNode } from '../core/recover.ts'
import { Transport } from './transport.ts'
import type { Intent } from '../core/channel/index.ts'
import { CodedError } from './errors.ts'

/** Inputs waiting to be stepped; beyond this, transport messages are dropped (never requests). */
export const INPUT_QUEUE_MAX_DEFAULT = 10_000
export const REQUEST_TIMEOUT_MS_DEFAULT = 10_000

export type HostErrorCode = 'HOST_RESTORE_FAILED' | 'HOST_TAIL_LOST' | 'HOST_REQUEST_TIMEOUT' | 'HOST_STOPPED' | 'HOST_HALTED'

/** Free disk space below which state-changing requests are refused with ENOSPC (RT-10): room for
 *  LevelDB's log, its compactions and one more batch, so that a batch rarely meets a full disk. */
export const DISK_RESERVE_BYTES_DEFAULT = 8 * 1024 * 1024
/** How often a node with a batch waiting for space looks again (statfs, then a retry). */
export const DISK_RETRY_MS = 200

/** An error a user can meet: a stable code and a sentence that says what to do. */
export class HostError extends CodedError<HostErrorCode> {}

export interface HostAddress {
  readonly host: string
  readonly port: number
}

export interface NodeHostOptions {
  readonly dataDir: string
  /** 32-byte secp256k1 secret key: the node's identity. */
  readonly secretKey: Uint8Array
  /** port 0 picks a free port; `NodeHost.port` tells which. */
  readonly listen: HostAddress
  /** Nodes to keep a connection to (redialed with backoff until stop). */
  readonly peers: readonly HostAddress[]
  /** Default: nodeCrypto (runtime/node-crypto.ts). */
  readonly crypto?: Crypto
  readonly params?: VolumeParams
  readonly tickMs?: number
  readonly requestTimeoutMs?: number
  readonly inputQueueMax?: number
  /** Passed through to the Transport (tests shorten the redial backoff). */
  readonly reconnectMinMs?: number
  readonly reconnectMaxMs?: number
  /** Free bytes kept in reserve (RT-10); default DISK_RESERVE_BYTES_DEFAULT. 0 turns the check
   *  before stepping off (tests of a batch meeting a full disk). */
  readonly diskReserveBytes?: number
  /** Start on a lost tail (RT-9): accept what the store holds and recover the own chains from
   *  the members before appending (core/recover.ts; spec/fotb.md). */
  readonly recoverTail?: boolean
}

/** Host counters (the core keeps its own in `state.stats`, the transport in `transportStats`). */
export type HostStat =
  | 'input:dropped-queue-full' // a transport message refused because the input queue was full
  | 'request:timeout' // a request whose reply did not come within requestTimeoutMs
  | 'send:refused' // transport.send returned false (no connection, or its queue full)
  | 'step' // steps performed (groups of inputs)
  | 'step:inputs' // inputs stepped
  | 'persist:batches' // store appends
  | 'request:enospc' // a state-changing request refused before stepping: the disk is (nearly) full
  | 'input:dropped-disk-short' // a large peer message not stepped while the disk is short (peers repeat)
  | 'persist:full' // a batch that met a full disk (held, then written again)
  | `trace:${string}` // trace effects, by kind

type QueuedInput =
  | { readonly type: 'barrier'; readonly done: () => void }
  | { readonly type: 'tick' }
  | { readonly type: 'receive'; readonly from: Pid; readonly bytes: Uint8Array }
  | { readonly type: 'request'; readonly req: RequestId; readonly request: NodeRequest }

/** How long a batch that nobody waits for (only early answers, ticks, peer messages) may wait
 *  for company before it is written: a create answered early and the write that follows it at
 *  close then share one fsync instead of taking two (as a database's commit delay). */
export const COMMIT_DELAY_MS = 2

/** Inputs stepped into one group, and the records of one group, at most (one level batch). */
export const GROUP_INPUTS_MAX = 1_000
export const GROUP_BYTES_MAX = 32 * 1024 * 1024

interface PendingRequest {
  readonly early: boolean
  resolve(reply: NodeReply): void
  reject(err: Error): void
  timer: NodeJS.Timeout
}

type UpListener = (volume: VolumeName, up: VolumeUp) => void
/** Sees every authenticated frame before the core; returns true when it took the frame (runtime
 *  messages such as client requests, which are not protocol messages of the core). */
export type FrameFilter = (from: Pid, bytes: Uint8Array) => boolean
type HaltListener = (err: Error) => void

export class NodeHost {
  readonly config: NodeConfig
  readonly pid: Pid
  /** The port the transport listens on (the chosen one when `listen.port` was 0). */
  readonly port: number
  readonly stats = new Map<HostStat, number>()
  private nodeState: NodeState
  private readonly store: RecordStore
  private readonly transport: Transport
  private readonly opts: NodeHostOptions
  private readonly queue: QueuedInput[] = []
  private readonly pending = new Map<RequestId, PendingRequest>()
  private readonly timers = new Map<string, { at: TimeMs; handle: NodeJS.Timeout }>()
  private readonly upListeners: UpListener[] = []
  private readonly haltListeners: HaltListener[] = []
  private readonly frameFilters: FrameFilter[] = []
  /** Rejecters of sync() calls not yet resolved (called when the node stops or halts). */
  private readonly barrierWaiters = new Set<() => void>()
  private nextReq: RequestId = 1
  private lastNow: TimeMs = 0
  /** The running drain of the queue, if any. */
  private pumping: Promise<void> | undefined
  /** Stepped groups whose batch is not written yet, and the write in flight. */
  private staged: Stage = emptyStage()
  private writing: Promise<void> | undefined
  private delayTimer: NodeJS.Timeout | undefined
  private stopping: Promise<void> | undefined
  /** Set first thing in stop(): no more inputs, timers or requests. */
  private closing = false
  private transportClosed: Promise<void> | undefined
  private haltedBy: Error | undefined
  /** Free bytes at the last statfs, bytes staged since, and the statfs in flight (RT-10). */
  private freeBytes: number | undefined
  private stagedSinceFree = 0
  private freeCheck: Promise<void> | undefined
  private freeCheckedAt = 0
  /** whileQuiet() callers: while > 0 nothing is stepped (inputs wait in the queue). */
  private holds = 0

  private constructor(opts: NodeHostOptions, config: NodeConfig, state: NodeState, store: RecordStore, transport: Transport, port: number) {
    this.opts = opts
    this.config = config
    this.nodeState = state
    this.pid = state.me
    this.store = store
    this.transport = transport
    this.port = port
  }

  /** Opens the store, rebuilds the node from it (refusing damaged data), starts the transport
   *  and feeds the first tick. Throws HostError HOST_RESTORE_FAILED, or a StoreError. */
  static async start(opts: NodeHostOptions): Promise<NodeHost> {
    const crypto = opts.crypto ?? nodeCrypto
    const store = await RecordStore.open(opts.dataDir)
    // The store is the core's storage port: chunks are read back from it, never held in the state.
    const config = nodeConfig(crypto, opts.secretKey, opts.params ?? DEFAULT_VOLUME_PARAMS, opts.tickMs ?? DEFAULT_TICK_MS, store)
    let state: NodeState
    let checkpoints = new Map<VolumeName, CheckpointUse>()
    let recover = false
    try {
      // From the tail first (spec/checkpoint.md "Restart from the tail"): the records after each
      // volume's newest checkpoint; every record only when a volume cannot start from it.
      let loaded = await store.loadAll({ tail: true })
      let problems = loaded.problems
      const tail = problems.filter((p) => p.tail)
      if (tail.length > 0 && !opts.recoverTail) {
        throw new HostError('HOST_TAIL_LOST', `The store in ${opts.dataDir} lost its newest batches: ${tail.map((p) => p.problem).join('; ')}. The node refuses to start (fail-stop, RT-9): starting one batch back would lose acknowledged writes and seal new entries at sequence numbers it already sealed. Keep a copy of the directory; then start it with --recover-tail and --peer <a member>: it takes no write until it has learnt its own chains back from the members.`)
      }
      if (tail.length > 0) {
        problems = problems.filter((p) => !p.tail)
        recover = true
      }
      if (problems.length > 0) {
        throw new HostError('HOST_RESTORE_FAILED', `The store in ${opts.dataDir} has ${problems.length} damaged batch(es): ${problems.map((p) => `${p.key}: ${p.problem}`).join('; ')}. The node refuses to start (fail-stop); keep a copy of the directory and rebuild the node from its peers.`)
      }
      if (loaded.records.length === 0) {
        state = createNode(config)
      } else {
        let restored = store.passThrough(() => restoreNode(config, loaded.records, { tail: loaded.from > 1 }))
        if (restored.needsFull.length > 0) {
          loaded = await store.loadAll()
          const damaged = loaded.problems.filter((p) => !p.tail)
          if (damaged.length > 0) {
            throw new HostError('HOST_RESTORE_FAILED', `The store in ${opts.dataDir} has ${damaged.length} damaged batch(es): ${damaged.map((p) => `${p.key}: ${p.problem}`).join('; ')}. The node refuses to start (fail-stop); keep a copy of the directory and rebuild the node from its peers.`)
          }
          restored = store.passThrough(() => restoreNode(config, loaded.records))
        }
        checkpoints = restored.checkpoints
        if (restored.problems.length > 0) {
          throw new HostError('HOST_RESTORE_FAILED', `The records in ${opts.dataDir} do not rebuild a node: ${restored.problems.map((p) => `${p.volume}/${p.record}: ${p.problem}`).join('; ')}. The node refuses to start (fail-stop); keep a copy of the directory and rebuild the node from its peers.`)
        }
        state = restored.state
      }
      // The operator chose to go on after a lost tail, and nothing else is damaged: the core
      // learns the own chains from the members before it appends (FOTB-8). Its 'recovering'
      // records are durable before the witness stops naming the loss: a crash in between finds
      // the loss again, never a node that forgot it must recover.
      if (recover) {
        await store.acceptTail(loaded.highest)
        const r = recoverNode(config, state)
        state = r.state
        const records = r.effects.flatMap((e) => (e.type === 'persist' ? e.records : []))
        if (records.length > 0) await store.append(records)
        await store.resetWitness()
      }
    } catch (err) {
      await store.close()
      throw err
    }
    let host: NodeHost | undefined
    const transport = new Transport({
      crypto,
      secretKey: opts.secretKey,
      listen: opts.listen,
      volumes: [...state.volumes.keys()],
      ...(opts.reconnectMinMs !== undefined ? { reconnectMinMs: opts.reconnectMinMs } : {}),
      ...(opts.reconnectMaxMs !== undefined ? { reconnectMaxMs: opts.reconnectMaxMs } : {}),
      // The transport is created before the host exists; messages only arrive after listen().
      onMessage: (from, bytes) => {
        if (host === undefined) return
        for (const f of host.frameFilters) if (f(from, bytes)) return
        host.enqueue({ type: 'receive', from, bytes })
      },
    })
    let port: number
    try {
      port = (await transport.listen()).port
    } catch (err) {
      await transport.close()
      await store.close()
      throw err
    }
    host = new NodeHost(opts, config, state, store, transport, port)
    host.restoredFrom = checkpoints
    for (const p of opts.peers) transport.connect(p.host, p.port)
    host.checkFree()
    host.enqueue({ type: 'tick' })
    return host
  }

  /** Which checkpoint the start used per volume, and the ones it skipped (spec/checkpoint.md). */
  restoredFrom: ReadonlyMap<VolumeName, CheckpointUse> = new Map()

  /** The store as the core's storage port: chunk reads, read counters, per-volume totals. */
  get chunkStore(): RecordStore {
    return this.store
  }

  /** The node's state as of the last completed step. Read it; never change it. */
  get state(): NodeState {
    return this.nodeState
  }

  /** The error that halted the node, if one did. */
  get halted(): Error | undefined {
    return this.haltedBy
  }

  /** Rejection counters of the transport (runtime/transport.ts TransportStat). */
  get transportStats(): ReadonlyMap<string, number> {
    return this.transport.stats
  }

  /** What the peer's connection was opened for (runtime/transport.ts channelOf). */
  channelOf(pid: Pid): Intent | undefined {
    return this.transport.channelOf(pid)
  }

  connectedPeers(): Pid[] {
    return this.transport.connectedPeers()
  }

  /** Keeps a connection to one more node (redialed with backoff until stop). */
  addPeer(peer: HostAddress): void {
    this.transport.connect(peer.host, peer.port)
  }

  /** Runtime frames (not the core's): see FrameFilter. */
  addFrameFilter(filter: FrameFilter): void {
    this.frameFilters.push(filter)
  }

  /** Sends a runtime frame to an authenticated peer; false when not connected or its queue is full. */
  sendFrame(to: Pid, bytes: Uint8Array): boolean {
    if (this.closing || this.haltedBy) return false
    return this.transport.send(to, bytes)
  }

  /** 'up': what the core delivered (VolumeUp), called within the step, after its persist.
   *  'halt': the node stopped for good (failed write, or a throw from the core or from an 'up'
   *  listener: a bug, and the node does not run on after one). */
  on(event: 'up', listener: UpListener): this
  on(event: 'halt', listener: HaltListener): this
  on(event: 'up' | 'halt', listener: UpListener | HaltListener): this {
    if (event === 'up') this.upListeners.push(listener as UpListener)
    else this.haltListeners.push(listener as HaltListener)
    return this
  }

  /** Hands a request to the node; resolves with its reply once the step's records are durable.
   *  Rejects with HostError HOST_REQUEST_TIMEOUT, HOST_STOPPED or HOST_HALTED. A timed-out
   *  request may still take effect later: it stays queued. */
  request(request: NodeRequest, opts: { readonly early?: boolean } = {}): Promise<NodeReply> {
    if (this.haltedBy) return Promise.reject(this.haltError())
    if (this.closing) return Promise.reject(stoppedError())
    if (request.type === 'fs' && this.diskShort(requestBytes(request))) {
      // A reading older than DISK_RETRY_MS / 2 is being taken again (diskShort): answer from the
      // new one, so that the first call after space was freed is not refused on a stale figure.
      const check = this.freeCheck
      if (check !== undefined) return check.then(() => (this.diskShort(requestBytes(request)) ? this.refuseFull() : this.request(request, opts)))
      return Promise.resolve(this.refuseFull())
    }
    const req = this.nextReq++
    const timeoutMs = this.opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT
    return new Promise<NodeReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(req)
        this.bump('request:timeout')
        reject(new HostError('HOST_REQUEST_TIMEOUT', `The node did not answer a ${request.type} request within ${timeoutMs} ms; it may be overloaded or its disk slow. The request may still take effect: check before retrying.`))
      }, timeoutMs)
      this.pending.set(req, { early: opts.early === true, resolve, reject, timer })
      this.enqueue({ type: 'request', req, request })
    })
  }

  /** Resolves once everything stepped before this call is durable (requests answered `early`
   *  included). Rejects like request() when the node stops or halts first. */
  sync(): Promise<void> {
    if (this.haltedBy) return Promise.reject(this.haltError())
    if (this.closing) return Promise.reject(stoppedError())
    return new Promise<void>((resolve, reject) => {
      const onHalt = (): void => reject(this.haltedBy ? this.haltError() : stoppedError())
      this.barrierWaiters.add(onHalt)
      this.enqueue({
        type: 'barrier',
        done: () => {
          this.barrierWaiters.delete(onHalt)
          resolve()
        },
      })
    })
  }

  /** Runs `fn` while the node steps nothing and everything stepped before is durable (unless a
   *  batch waits for disk space: then `fn` runs with what is durable, `settled` false). Inputs
   *  arriving meanwhile wait in the queue. For audits that read the store's files (live verify). */
  async whileQuiet<T>(fn: (settled: boolean) => Promise<T>): Promise<T> {
    this.holds++
    try {
      // The pump steps nothing once it sees the hold; while a batch waits for space it waits for
      // that batch, which may take long: then run with what is durable.
      if (!this.store.waitingForSpace) await this.pumping
      this.startWriter(true)
      while (this.writing && !this.store.waitingForSpace) {
        await Promise.race([this.writing, new Promise((r) => setTimeout(r, DISK_RETRY_MS))])
        this.startWriter(true)
      }
      return await fn(!this.store.waitingForSpace && this.writing === undefined)
    } finally {
      this.holds--
      if (this.holds === 0 && this.queue.length > 0 && !this.closing && !this.haltedBy) this.pumping ??= this.pump()
    }
  }

  /** The store's directory (the level database; segments and the tail witness beside it). */
  get storeDir(): string {
    return this.opts.dataDir
  }

  /** Stops taking inputs, finishes the step in progress (its records stay durable), rejects the
   *  requests still waiting, and closes timers, transport and store. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown()
    return this.stopping
  }

  private async shutdown(): Promise<void> {
    // (Not while a batch waits for disk space: nothing more could be written.)
    if (!this.haltedBy && !this.closing && !this.store.waitingForSpace) {
      // A clean stop ends with a checkpoint (spec/checkpoint.md): the next start checks no
      // signature again that this run checked. Queued peer messages are dropped first (peers
      // repeat what matters); queued requests are still answered.
      for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.type === 'receive') this.queue.splice(i, 1)
      await this.request({ type: 'checkpoint' }).catch(() => undefined)
    }
    this.closing = true
    for (const t of this.timers.values()) clearTimeout(t.handle)
    this.timers.clear()
    this.queue.length = 0
    await this.pumping
    await this.drainWriter()
    this.failPending(stoppedError())
    for (const w of [...this.barrierWaiters]) w()
    this.barrierWaiters.clear()
    await this.closeTransport()
    await this.store.close()
  }

  private enqueue(input: QueuedInput): void {
    if (this.closing || this.haltedBy) return
    const max = this.opts.inputQueueMax ?? INPUT_QUEUE_MAX_DEFAULT
    if (input.type === 'receive' && this.queue.length >= max) {
      // The core tolerates lost messages (spec/fotb.md) and repeats what matters; requests are
      // never dropped: their callers wait for a reply.
      this.bump('input:dropped-queue-full')
      return
    }
    if (input.type === 'receive' && input.bytes.length > RECEIVE_BYTES_WHEN_SHORT && this.diskShort(input.bytes.length)) {
      // What a peer sends with content would fill the disk further; fotb and remote_get repeat it.
      this.bump('input:dropped-disk-short')
      return
    }
    this.queue.push(input)
    this.pumping ??= this.pump()
  }

  /** Drains the queue group by group; the only place where the core is stepped. Stepping does
   *  not wait for the disk: groups stepped while a batch is being written are staged and written
   *  together as the next batch (pipelined group commit); only when the staged records exceed
   *  GROUP_BYTES_MAX does stepping wait for the writer (backpressure). */
  private async pump(): Promise<void> {
    // Yield once: the caller's `pumping ??= pump()` must see this promise before the loop can
    // end, and inputs arriving in the same turn of the event loop join the first group.
    await new Promise<void>((r) => setImmediate(r))
    try {
      while (this.queue.length > 0) {
        if (this.closing || this.haltedBy || this.holds > 0) break
        // A batch waits for disk space: nothing after it is stepped until it is durable.
        if (this.store.waitingForSpace && this.writing) {
          await this.writing
          continue
        }
        if (this.staged.bytes >= GROUP_BYTES_MAX && this.writing) {
          await this.writing
          continue
        }
        this.stepWaiting()
        this.startWriter()
      }
    } catch (err) {
      this.halt(err instanceof Error ? err : new Error(String(err)))
    } finally {
      this.pumping = undefined
    }
  }

  /** Steps the waiting inputs (bounded) as one group — one seal per volume (core/node.ts
   *  stepGroup) — answers early requests, and stages the group's records and other effects. */
  private stepWaiting(): void {
    const inputs: NodeInput[] = []
    let bytes = 0
    while (inputs.length < GROUP_INPUTS_MAX && bytes < GROUP_BYTES_MAX) {
      const q = this.queue.shift()
      if (q === undefined) break
      if (q.type === 'barrier') {
        // Everything stepped before it is staged before it: it resolves with the same batch.
        if (inputs.length > 0) this.stage(inputs.splice(0))
        this.staged.barriers.push(q.done)
        this.staged.urgent = true
        continue
      }
      const input = this.inputOf(q)
      if (input === undefined) continue
      inputs.push(input)
      bytes += inputBytes(input)
    }
    if (inputs.length > 0) this.stage(inputs)
  }

  private stage(inputs: readonly NodeInput[]): void {
    // Unsettled: the group's new entries are sealed once, when their batch is written.
    const { state, effects } = stepGroup(this.config, this.nodeState, inputs, { settle: false })
    this.nodeState = state
    this.bump('step')
    this.bump('step:inputs', inputs.length)
    this.stageEffects(effects)
  }

  private stageEffects(effects: NodeEffect[]): void {
    for (const e of effects) {
      if (e.type === 'persist') {
        // Performed: the port serves this step's chunks from now on (spec/storage.md).
        this.store.stage(e.records)
        for (const r of e.records) this.staged.records.push(r)
        const n = recordsBytes(e.records)
        this.staged.bytes += n
        this.stagedSinceFree += n
      } else if (e.type === 'reply') {
        // An early request learns its answer now; its records become durable with the batch.
        const p = this.pending.get(e.req)
        if (p?.early) this.answer(e.req, p, e.result)
        else if (p !== undefined) this.staged.urgent = true // someone waits for durability
      }
    }
    this.staged.effects.push(effects)
  }

  /** Writes the staged batch unless a write is in flight (then the writer takes it next). A batch
   *  nobody waits for is held up to COMMIT_DELAY_MS for company, unless `now`. */
  private startWriter(now = false): void {
    if (this.writing || this.haltedBy) return
    const batch = this.staged
    if (batch.effects.length === 0 && batch.barriers.length === 0) return
    if (!now && !batch.urgent && batch.bytes < GROUP_BYTES_MAX && !this.closing) {
      this.delayTimer ??= setTimeout(() => {
        this.delayTimer = undefined
        this.startWriter(true)
      }, COMMIT_DELAY_MS)
      return
    }
    if (this.delayTimer !== undefined) {
      clearTimeout(this.delayTimer)
      this.delayTimer = undefined
    }
    // One seal per volume for everything this batch holds (core/node.ts settleStep).
    const settled = settleStep(this.config, this.nodeState, (this.lastNow = Math.max(this.lastNow, Date.now())))
    this.nodeState = settled.state
    this.stageEffects(settled.effects)
    this.staged = emptyStage()
    this.writing = (async () => {
      if (batch.records.length > 0) {
        // Everything after this await may leave the node (persist before send).
        await this.appendHeld(batch.records)
        this.bump('persist:batches')
        this.checkFree()
      }
      for (const effects of batch.effects) this.perform(effects)
      for (const done of batch.barriers) done()
    })().then(
      () => {
        this.writing = undefined
        this.startWriter()
      },
      (err: unknown) => {
        this.writing = undefined
        // Stopped while a batch waited for space: its requests are rejected by stop(), not a halt.
        if (err instanceof HostError && err.code === 'HOST_STOPPED') return
        this.halt(err instanceof Error ? err : new Error(String(err)))
      },
    )
  }

  /** Appends a batch; on a full disk holds it and writes it again, with its number, once space
   *  is freed (RT-10). Throws HOST_STOPPED when the node stops while it waits. */
  private async appendHeld(records: readonly Value[]): Promise<void> {
    try {
      await this.store.append(records)
      return
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'STORE_FULL')) throw err
      this.bump('persist:full')
    }
    for (;;) {
      await new Promise<void>((r) => setTimeout(r, DISK_RETRY_MS))
      if (this.closing) throw stoppedError()
      if (this.haltedBy) throw this.haltedBy
      await this.refreshFree()
      // Reopening LevelDB and writing need room: wait until the reserve's half is free again.
      if (this.freeBytes !== undefined && this.freeBytes < this.reserve() / 2) continue
      if (await this.store.retryFull()) return
    }
  }

  /** A request refused before it was stepped, so nothing of it happened: ENOSPC is the whole
   *  truth (RT-10). */
  private refuseFull(): NodeReply {
    this.bump('request:enospc')
    return { ok: false, errno: 'ENOSPC', detail: `the disk of ${this.opts.dataDir} is full (less than ${this.reserve()} bytes free); free space and try again` }
  }

  private reserve(): number {
    return this.opts.diskReserveBytes ?? DISK_RESERVE_BYTES_DEFAULT
  }

  /** Whether `bytes` more would take the disk below the reserve (RT-10). A batch waiting for
   *  space: always. Looks again (statfs, at most every DISK_RETRY_MS / 2) when short; `request`
   *  waits for that reading before it refuses, so freed space is noticed by the next request. */
  private diskShort(bytes: number): boolean {
    if (this.store.waitingForSpace) return true
    const reserve = this.reserve()
    if (reserve === 0 || this.freeBytes === undefined) return false
    // Twice the bytes: LevelDB writes a value to its log and again into a table.
    const short = this.freeBytes - this.stagedSinceFree - 2 * bytes < reserve
    if (short && Date.now() - this.freeCheckedAt > DISK_RETRY_MS / 2) this.checkFree()
    return short
  }

  /** Starts a statfs unless one is in flight. */
  private checkFree(): void {
    void this.refreshFree()
  }

  private refreshFree(): Promise<void> {
    this.freeCheck ??= (async () => {
      const before = this.stagedSinceFree
      try {
        this.freeBytes = await this.store.freeBytes()
        // What was staged while statfs ran is not yet in its answer.
        this.stagedSinceFree = Math.max(0, this.stagedSinceFree - before)
        this.freeCheckedAt = Date.now()
      } catch {
        this.freeBytes = undefined // unknown: the batch write itself tells
      } finally {
        this.freeCheck = undefined
      }
    })()
    return this.freeCheck
  }

  /** Resolves when nothing is staged or being written. */
  private async drainWriter(): Promise<void> {
    this.startWriter(true)
    while (this.writing) {
      await this.writing
      this.startWriter(true)
    }
  }

  /** The core's input for a queued one; undefined for a request whose caller gave up. */
  private inputOf(q: Exclude<QueuedInput, { type: 'barrier' }>): NodeInput | undefined {
    // Date.now() may step back (NTP); the core sees a non-decreasing clock.
    const now = (this.lastNow = Math.max(this.lastNow, Date.now()))
    switch (q.type) {
      case 'tick':
        return { type: 'tick', now }
      case 'receive':
        return { type: 'receive', now, from: q.from, bytes: q.bytes }
      case 'request':
        if (!this.pending.has(q.req)) return undefined // timed out while queued: its caller has given up
        return { type: 'request', now, req: q.req, request: q.request }
    }
  }

  private answer(req: RequestId, p: PendingRequest, result: NodeReply): void {
    this.pending.delete(req)
    clearTimeout(p.timer)
    p.resolve(result)
  }

  /** The effects of one step other than persist (already durable), in the core's order. */
  private perform(effects: readonly NodeEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'persist':
          break
        case 'send':
          if (!this.transport.send(e.to, e.bytes)) this.bump('send:refused')
          break
        case 'setTimer':
          this.setTimer(e.id, e.at)
          break
        case 'reply': {
          const p = this.pending.get(e.req)
          if (p === undefined) break // answered early, or timed out: the caller was told so
          this.answer(e.req, p, e.result)
          break
        }
        case 'deliver':
          for (const l of this.upListeners) l(e.volume, e.up)
          break
        case 'trace':
          this.bump(`trace:${e.event.kind}`)
          break
      }
    }
  }

  /** One timer per id; a later setTimer replaces the earlier one. Every timer of the node is
   *  a tick (the core's only timed input). */
  private setTimer(id: string, at: TimeMs): void {
    if (this.closing || this.haltedBy) return
    const old = this.timers.get(id)
    if (old !== undefined) clearTimeout(old.handle)
    const handle = setTimeout(() => {
      this.timers.delete(id)
      this.enqueue({ type: 'tick' })
    }, Math.max(0, at - Date.now()))
    this.timers.set(id, { at, handle })
  }

  private halt(cause: Error): void {
    if (this.haltedBy) return
    this.haltedBy = cause
    for (const t of this.timers.values()) clearTimeout(t.handle)
    this.timers.clear()
    this.queue.length = 0
    this.staged = emptyStage() // never performed: nothing of it was durable
    if (this.delayTimer !== undefined) clearTimeout(this.delayTimer)
    this.failPending(this.haltError())
    for (const w of [...this.barrierWaiters]) w()
    this.barrierWaiters.clear()
    // Nothing more may leave the node; stop() still closes the store.
    void this.closeTransport()
    for (const l of this.haltListeners) l(cause)
  }

  private closeTransport(): Promise<void> {
    this.transportClosed ??= this.transport.close()
    return this.transportClosed
  }

  private haltError(): HostError {
    return new HostError('HOST_HALTED', `The node halted (${this.haltedBy?.message}); it takes no more requests. Fix the cause, then restart it from its data directory.`, this.haltedBy)
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.pending.clear()
  }

  private bump(stat: HostStat, by = 1): void {
    this.stats.set(stat, (this.stats.get(stat) ?? 0) + by)
  }
}

function stoppedError(): HostError {
  return new HostError('HOST_STOPPED', 'The node is stopping or stopped; start it again to send it requests.')
}

interface Stage {
  readonly effects: NodeEffect[][]
  readonly records: Value[]
  readonly barriers: (() => void)[]
  bytes: number
  /** A caller waits for this batch to be durable (a request not answered early, or a sync()). */
  urgent: boolean
}

function emptyStage(): Stage {
  return { effects: [], records: [], barriers: [], bytes: 0, urgent: false }
}

/** Bytes of records' byte strings, to bound a batch (chunks dominate; the rest is small). */
function recordsBytes(records: readonly Value[]): number {
  let n = 0
  for (const r of records) {
    n += 32
    if (Array.isArray(r)) for (const x of r) if (x instanceof Uint8Array) n += x.length
  }
  return n
}

/** A peer message larger than this is not stepped while the disk is short (RT-10). */
const RECEIVE_BYTES_WHEN_SHORT = 64 * 1024

function requestBytes(request: NodeRequest): number {
  return inputBytes({ type: 'request', now: 0, req: 0, request })
}

/** Bytes an input may add to the group's batch (content dominates; the rest is small). */
function inputBytes(input: NodeInput): number {
  if (input.type === 'receive') return input.bytes.length
  if (input.type === 'request' && input.request.type === 'fs' && input.request.call.type === 'write') {
    let n = 256
    for (const w of input.request.call.writes) n += 'data' in w ? w.data.length : 0
    return n
  }
  return 256
}
