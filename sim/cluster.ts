// The simulator's host of core/node.ts: virtual time, one event queue, a network model that may
// lose, duplicate, delay and reorder, partitions, crashes (also in the middle of a step, tearing
// its persist), bit rot on disk, skewed timer clocks, and hooks for Byzantine behaviour.
// Effects are performed as the runtime performs them: the step's persist first, then sends,
// timers, replies. Everything random comes from the caller's models, which draw from seeded
// PRNGs: a run replays bit for bit.
import type { Crypto } from '../core/crypto.ts'
import { decode, encode, tryDecode, type Value } from '../core/codec.ts'
import type { RequestId } from '../core/effects.ts'
import {
  createNode,
  nodeConfig,
  restoreNode,
  step,
  type CheckpointUse,
  type NodeConfig,
  type NodeEffect,
  type NodeInput,
  type NodeReply,
  type NodeRequest,
  type NodeRestoreProblem,
  type NodeState,
} from '../core/node.ts'
import type { VolumeParams, VolumeUp } from '../core/volume/index.ts'
import { DEFAULT_VOLUME_PARAMS, foldImages, membersOf } from '../core/volume/index.ts'
import type { Pid, TimeMs, VolumeName } from '../core/types.ts'
import { fromHex, toHex } from '../core/bytes.ts'
import { MemoryStorage, parseEntryRecord, parseSealRecord } from '../core/storage.ts'
import { recoverNode, recoverVolume } from '../core/recover.ts'
import { chunkHash } from '../core/fs/content.ts'

/** Inputs a node with a held batch keeps waiting (beyond: dropped, like a full input queue). */
const WAITING_MAX = 10_000

/** A process. Usually one per pid; a Byzantine twin is a second process with the same key. */
export type NodeId = string

export interface SimNode {
  readonly id: NodeId
  readonly pid: Pid
  readonly config: NodeConfig
  state: NodeState
  /** The node's disk: canonical bytes of every persisted record, in write order. */
  readonly disk: Uint8Array[]
  /** The tail witness (runtime/tail-witness.ts, RT-9): how many batches were durable. A restart
   *  on a disk with fewer finds its tail lost and recovers its own chain from the members. */
  witness: number
  /** The host's genesis index (as the runtime's v: keys, spec/runtime.md "Record store"): for each volume,
   *  the disk batch that holds its first genesis record. Written with that batch, so it lasts as
   *  long as the batch does; it tells a restart whether a truncation at a damaged batch would
   *  drop a volume the node holds (then it cannot be repaired). */
  readonly genesisAt: Map<VolumeName, number>
  /** Beside it, the member index: for each volume, the disk batch written by the step in which
   *  the node's member set of it last gained a member (or an earlier one). A cut at or below it
   *  would make the node forget a member that may hold its own entries, and recovery waits only
   *  for the members it knows (spec/storage.md "A damaged batch"; simulation seed 37: a founder
   *  cut back to its genesis knew no other member and sealed a second entry #1). A forgotten
   *  removal only makes recovery wait until the node delivers it again. */
  readonly membersAt: Map<VolumeName, number>
  /** The member sets the host last saw the node deliver, to tell a gain (host memory: set again
   *  from the restored state at every restart). */
  readonly membersSeen: Map<VolumeName, ReadonlySet<Pid>>
  /** What a cut at a damaged batch kept of the intact batches behind it (spec/storage.md "A
   *  damaged batch"): their plain operations and chunks (`port`, absorbed again at every restart,
   *  as the runtime's p: and c: keys stay), and per volume the own sealed entries and seals not yet
   *  handed back to the recovering node (`own`). Disk state: survives a crash. */
  readonly salvage: { port: Value[]; own: Map<VolumeName, { entries: Map<number, Uint8Array>; seals: { seq: number; bytes: Uint8Array }[] }> }
  /** The storage port over the disk's chunk, plain, entry, cut and past records (spec/storage.md):
   *  what `config.storage` reads. */
  readonly chunks: MemoryStorage
  up: boolean
  /** Stopped for good because its disk failed a check at restart (fail-stop, never silent). */
  halted: boolean
  /** Incremented at each crash and restart; timers of an older incarnation are ignored. */
  incarnation: number
  restoreProblems: NodeRestoreProblem[]
  /** Multiplies timer delays: a skewed clock (1 = exact). */
  timerSkew: number
  /** Set by `crashDuringNextStep`: the next step persists only this share of its records. */
  tearNextStep: number | null
  /** The disk is full (RT-10): 'reserve' refuses fs requests ENOSPC before stepping them; either
   *  way a step whose batch meets the full disk is held. */
  diskFull: 'reserve' | 'no-reserve' | null
  /** A step whose batch met the full disk: none of its effects performed yet. */
  held: NodeEffect[] | null
  /** Inputs that came while a batch was held: stepped, in order, once it is written. */
  readonly waiting: NodeInput[]
}

/** Where copies of a message go and when; an empty list drops it. */
export interface NetworkModel {
  route(from: NodeId, to: NodeId, now: TimeMs): { delays: number[]; drop?: 'loss' | 'partition' }
}

export function losslessNetwork(latencyMs = 5): NetworkModel {
  return { route: () => ({ delays: [latencyMs] }) }
}

/** What a Byzantine process does with a message its core wants to send: rewrite it, drop it,
 *  add others. Correct processes have no hook. */
export type SendHook = (node: SimNode, to: Pid, bytes: Uint8Array, cluster: Cluster) => { to: Pid; bytes: Uint8Array }[]

export type TraceEvent =
  | { at: TimeMs; t: 'send'; id: number; from: NodeId; to: NodeId; kind: string; size: number }
  | { at: TimeMs; t: 'recv'; id: number; from: NodeId; to: NodeId }
  | { at: TimeMs; t: 'drop'; id: number; from: NodeId; to: NodeId; why: string }
  | { at: TimeMs; t: 'fault'; node?: NodeId; what: string }
  | { at: TimeMs; t: 'byz'; node: NodeId; what: string }
  | { at: TimeMs; t: 'request'; node: NodeId; what: string; result: string }
  | { at: TimeMs; t: 'up'; node: NodeId; volume: VolumeName; what: string }
  | { at: TimeMs; t: 'violation'; id: string; message: string }

/** Everything observable that checkers need, in the order it happened. */
export type Observation =
  | { at: TimeMs; type: 'up'; node: Pid; nodeId: NodeId; volume: VolumeName; up: VolumeUp }
  | { at: TimeMs; type: 'send'; from: Pid; fromId: NodeId; to: Pid; bytes: Uint8Array }
  /** `records`: what the restart restored from; `checkpoints`: which checkpoint it used;
   *  `halted`: the restart found damage and the node stopped for good. */
  | { at: TimeMs; type: 'restart'; node: Pid; nodeId: NodeId; records: readonly Value[]; checkpoints: ReadonlyMap<VolumeName, CheckpointUse>; halted: boolean }
  /** A checkpoint record the node just persisted (CKPT-3). */
  | { at: TimeMs; type: 'checkpoint'; node: Pid; nodeId: NodeId; record: Value }
  /** A restart found its tail lost (fewer batches than its witness) and recovers (FOTB-8). */
  | { at: TimeMs; type: 'tail-lost'; node: Pid; nodeId: NodeId }
  /** A state-changing fs request answered ok: its own entry is `seq` with `hash` (FOTB-9). */
  | { at: TimeMs; type: 'acked'; node: Pid; nodeId: NodeId; volume: VolumeName; seq: number; hash: string }

type Event =
  | { at: TimeMs; order: number; type: 'message'; id: number; from: NodeId; fromPid: Pid; to: NodeId; bytes: Uint8Array }
  | { at: TimeMs; order: number; type: 'timer'; to: NodeId; incarnation: number }

export interface ClusterOptions {
  readonly crypto: Crypto
  readonly network?: NetworkModel
  /** Fixed latency of the default lossless network. */
  readonly latencyMs?: number
  readonly params?: VolumeParams
  readonly tickMs?: number
  /** Called after every effect it observes (for invariant checkers). */
  readonly observe?: (o: Observation, cluster: Cluster) => void
  /** A simple Byzantine hook: rewrite (or drop, with undefined) what a node sends. */
  readonly tamper?: (from: Pid, to: Pid, bytes: Uint8Array) => Uint8Array | undefined
  /** Keep the full trace in memory (for the HTML diagram); the trace hash is kept always. */
  readonly keepTrace?: boolean
  /** Before every restart, a forged checkpoint batch (newer than any, badly signed) is written
   *  to the node's disk, as by someone with access to it: restart must not use it (CKPT-2). */
  readonly forgeCheckpoints?: boolean
  /** Chooses among several processes of one pid (twins); default: the first. */
  readonly chooseProcess?: (candidates: readonly SimNode[]) => SimNode
}

export class Cluster {
  readonly nodes = new Map<NodeId, SimNode>()
  now: TimeMs = 0
  events = 0
  /** Bumped whenever a node's state or storage port may change (a step, a perform, a persist):
   *  a checker may skip a check it already passed at the same value (invariants.ts observe). */
  changes = 0
  readonly trace: TraceEvent[] = []
  // A running 64-bit FNV-1a-style hash of the trace (two 32-bit lanes): the trace hash only has
  // to tell runs apart, and hashing every event with SHA-256 was 6% of the simulator's time.
  private h1 = 0x811c9dc5
  private h2 = 0x01000193
  private readonly queue: Event[] = []
  private order = 0
  private messageId = 0
  private nextReq: RequestId = 1
  private readonly replies = new Map<RequestId, NodeReply>()
  /** Calls of totb volumes answered by a later step (spec/totb.md "Local calls"): by request. */
  private readonly deferred = new Map<RequestId, { readonly nodeId: NodeId; readonly volume: VolumeName; readonly what: string }>()
  private readonly network: NetworkModel
  readonly sendHooks = new Map<NodeId, SendHook>()
  /** Messages decoded once (by the checker at the send, or at the first delivery), handed to the
   *  receiving nodes as `decoded` so that a message is decoded once, not at every delivery too. */
  private readonly decodedMessages = new WeakMap<Uint8Array, Value>()

  constructor(readonly options: ClusterOptions) {
    this.network = options.network ?? losslessNetwork(options.latencyMs ?? 5)
  }

  addNode(secretKey: Uint8Array, opts: { id?: NodeId; timerSkew?: number } = {}): Pid {
    const chunks = new MemoryStorage((bytes) => chunkHash(this.options.crypto, bytes))
    const config = nodeConfig(this.options.crypto, secretKey, this.options.params ?? DEFAULT_VOLUME_PARAMS, this.options.tickMs, chunks)
    const state = createNode(config)
    const id = opts.id ?? state.me
    if (this.nodes.has(id)) throw new Error(`node id ${id} exists`)
    const node: SimNode = {
      id,
      pid: state.me,
      config,
      state,
      disk: [],
      witness: 0,
      genesisAt: new Map(),
      membersAt: new Map(),
      membersSeen: new Map(),
      salvage: { port: [], own: new Map() },
      chunks,
      up: true,
      halted: false,
      incarnation: 0,
      restoreProblems: [],
      timerSkew: opts.timerSkew ?? 1,
      tearNextStep: null,
      diskFull: null,
      held: null,
      waiting: [],
    }
    this.nodes.set(id, node)
    this.input(node, { type: 'tick', now: this.now })
    return node.pid
  }

  /** The process with this id (by default the id is the pid). */
  node(id: NodeId): SimNode {
    const n = this.nodes.get(id)
    if (!n) throw new Error(`no node ${id}`)
    return n
  }

  processesOf(pid: Pid): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.pid === pid)
  }

  /** Hands a request to a node now and returns its reply (the core answers within the step). */
  request(id: NodeId, request: NodeRequest): NodeReply {
    const node = this.node(id)
    if (!node.up) return { ok: false, errno: 'ENOENT', detail: 'node is down' }
    if (request.type === 'fs' && (node.held !== null || node.diskFull === 'reserve')) {
      // The runtime's check before stepping (RT-10): never stepped, so nothing of it happened.
      this.record({ at: this.now, t: 'request', node: id, what: describeRequest(request), result: 'ENOSPC' })
      return { ok: false, errno: 'ENOSPC', detail: 'the disk is full' }
    }
    const req = this.nextReq++
    this.input(node, { type: 'request', now: this.now, req, request })
    const reply = this.replies.get(req)
    this.replies.delete(req)
    if (reply === undefined && request.type === 'fs' && node.up && node.held === null && node.state.volumes.get(request.volume)?.order !== undefined) {
      // A totb volume answers once the op is applied in the order: accepted now, the reply
      // (and its acknowledgement, FOTB-9) comes with a later step (perform 'reply').
      this.deferred.set(req, { nodeId: id, volume: request.volume, what: describeRequest(request) })
      this.record({ at: this.now, t: 'request', node: id, what: describeRequest(request), result: 'deferred' })
      return { ok: true }
    }
    if (reply?.ok && request.type === 'fs' && node.up) {
      const own = node.state.volumes.get(request.volume)?.fotb.chains.get(node.pid)?.view
      const seq = node.state.volumes.get(request.volume)?.fotb.own.seq ?? 0
      if (own && seq > 0 && seq <= own.seq) this.options.observe?.({ at: this.now, type: 'acked', node: node.pid, nodeId: id, volume: request.volume, seq, hash: own.hashes.get(seq - 1)! }, this)
    }
    const result = reply === undefined ? (node.held !== null ? 'held (disk full)' : 'lost (crashed in the step)') : reply.ok ? 'ok' : reply.errno
    this.record({ at: this.now, t: 'request', node: id, what: describeRequest(request), result })
    return reply ?? { ok: false, errno: 'ENOENT', detail: 'node crashed during the request' }
  }

  /** Crash: volatile state and in-flight timers are lost; the disk stays. */
  crash(id: NodeId): void {
    const n = this.node(id)
    // Calls in flight die with the process: their replies never come.
    for (const [req, d] of this.deferred) if (d.nodeId === id) this.deferred.delete(req)
    if (!n.up) return
    n.up = false
    n.incarnation++
    // A held batch never reached the disk: it is lost with the volatile state, like its inputs.
    n.held = null
    n.waiting.length = 0
    this.record({ at: this.now, t: 'fault', node: id, what: 'crash' })
  }

  /** The node's disk fills up (`reserve`: the host refuses fs requests before stepping them) or
   *  gets space again (null): then the held batch is written, its effects performed, and the
   *  inputs that waited are stepped in order. */
  setDiskFull(id: NodeId, full: 'reserve' | 'no-reserve' | null): void {
    const n = this.node(id)
    n.diskFull = full
    this.record({ at: this.now, t: 'fault', node: id, what: full === null ? 'disk has space again' : `disk full (${full === 'reserve' ? 'ENOSPC before stepping' : 'batches held'})` })
    if (full !== null || n.held === null || !n.up) return
    const held = n.held
    n.held = null
    this.perform(n, held)
    const waiting = n.waiting.splice(0)
    for (let i = 0; i < waiting.length; i++) {
      this.input(n, waiting[i]!)
      // Full again meanwhile: the rest waits behind the new held batch.
      if (n.held !== null) {
        n.waiting.push(...waiting.slice(i + 1))
        break
      }
    }
  }

  /** Crash in the middle of the node's next step: only `share` (0..1) of its records reach the
   *  disk, the last of them possibly cut short; none of its sends or replies leave. */
  crashDuringNextStep(id: NodeId, share: number): void {
    this.node(id).tearNextStep = share
  }

  /** Bit rot: flips one bit of one stored batch on a node's disk. */
  flipDiskBit(id: NodeId, recordIndex: number, bit: number): void {
    const n = this.node(id)
    if (n.disk.length === 0) return
    const i = recordIndex % n.disk.length
    const rec = n.disk[i]!.slice()
    const b = bit % (rec.length * 8)
    rec[b >> 3]! ^= 1 << (b & 7)
    n.disk[i] = rec
    this.record({ at: this.now, t: 'fault', node: id, what: `flip disk batch ${i} bit ${b}` })
  }

  /** The newest `count` durable batches vanish while the node is down, leaving no trace in the
   *  disk itself — as LevelDB skips a damaged newest log record at open. */
  loseTail(id: NodeId, count: number): void {
    const n = this.node(id)
    const lost = Math.min(count, n.disk.length)
    if (lost === 0) return
    n.disk.splice(n.disk.length - lost, lost)
    // The genesis index went with the batches (the runtime writes a v: key in its batch's level batch).
    for (const [v, at] of n.genesisAt) if (at >= n.disk.length) n.genesisAt.delete(v)
    // The member index's newest key went too; the change before it is in a batch that is left
    // (or lost as well): the newest batch left is an upper bound, which is all a cut needs.
    for (const [v, at] of n.membersAt) if (at >= n.disk.length) n.membersAt.set(v, n.disk.length - 1)
    this.record({ at: this.now, t: 'fault', node: id, what: `the newest ${lost} durable batch(es) lost` })
  }

  /** Restart from disk: every record is checked and decoded, as the runtime does. A damaged batch
   *  cuts the disk there (it and the batches after it are treated as lost, a lost tail the node
   *  recovers from); a node whose disk fails any other check stops for good (fail-stop) and says
   *  why; it never runs on bad data. */
  restart(id: NodeId): void {
    const n = this.node(id)
    if (n.up || n.halted) return
    if (this.options.forgeCheckpoints) {
      for (const name of n.state.volumes.keys()) {
        // v2 (with an empty state), so that the restart from the tail is what rejects it.
        const body = encode(['paciofs/checkpoint/v2', name, fromHex(n.pid)!, 1_000_000_000, new Uint8Array(32), [], [[], [], [], [], 0, [], [], null, []]])
        n.disk.push(writeBatch(this.options.crypto, [['checkpoint', name, body, new Uint8Array(64)]]))
        n.witness++ // written like any batch: it does not hide a lost tail
      }
      this.record({ at: this.now, t: 'fault', node: id, what: 'forged checkpoint written to the disk' })
    }
    const records: Value[] = []
    const problems: NodeRestoreProblem[] = []
    const batches: Value[][] = []
    for (const [i, bytes] of n.disk.entries()) {
      const batch = readBatch(this.options.crypto, bytes)
      if (Array.isArray(batch)) {
        records.push(...batch)
        batches.push(batch)
        continue
      }
      if (batch === 'torn' && i === n.disk.length - 1) {
        // A torn last batch: the crash hit its write, so none of its effects left the node.
        n.disk.pop()
        this.record({ at: this.now, t: 'fault', node: id, what: 'restart discards a torn last batch' })
        break
      }
      // A damaged batch (bit rot) is treated as not persisted (spec/README.md, fault model), and
      // with it every batch after it, which may build on it: the disk is cut at the first damaged
      // batch, as if its tail had been lost, and the restart below recovers the own chains from
      // the members (spec/storage.md "A damaged batch"). Unless the cut would drop a volume's
      // genesis (the genesis index says which batch holds it): a node that forgets a volume it is
      // a member of cannot be repaired from its peers; it stops for good (fail-stop, VOL-12).
      const why = batch === 'torn' ? 'a short write that is not the last one' : 'checksum, length or encoding does not match'
      const lost = [...n.genesisAt].filter(([, at]) => at >= i).map(([v]) => v).sort()
      const forgot = [...n.membersAt].filter(([v, at]) => at >= i && !lost.includes(v)).map(([v]) => v).sort()
      if (lost.length > 0 || forgot.length > 0 || problems.length > 0) {
        // The node stops for good: every other batch is read on, as before, so that its port
        // still holds what its (kept) state refers to, and every damaged batch is named.
        problems.push(
          lost.length > 0 ? { volume: lost[0]!, record: `disk batch ${i}`, problem: `${why}; the batch holds or precedes the genesis of ${lost.join(', ')} (batch ${n.genesisAt.get(lost[0]!)}), so the node cannot be repaired by cutting its disk there` }
          : forgot.length > 0 ? { volume: forgot[0]!, record: `disk batch ${i}`, problem: `${why}; the batch holds or precedes the newest gain of a member of ${forgot.join(', ')} (batch ${n.membersAt.get(forgot[0]!)}): cut there, the node would not know every member that may hold its entries, so it cannot be repaired by cutting its disk there` }
          : { volume: '?', record: `disk batch ${i}`, problem: why },
        )
        continue
      }
      // What the batches after the damaged one hold that checks itself survives the cut: plain
      // operations (checked against their obf), chunks (their hash) and the own sealed entries
      // (our seal), as the runtime's p:, c: and e:/q: keys do (spec/storage.md "A damaged batch").
      const salvage: Value[] = []
      for (const later of n.disk.slice(i + 1)) {
        const b = readBatch(this.options.crypto, later)
        if (Array.isArray(b)) salvage.push(...b)
      }
      this.keepSalvage(n, salvage)
      this.record({ at: this.now, t: 'fault', node: id, what: `restart cuts the disk at damaged batch ${i} (${why}): ${n.disk.length - i} batch(es) treated as lost` })
      n.disk.length = i
      break
    }
    // The port holds exactly what the surviving batches persisted.
    n.chunks.clear()
    n.chunks.absorb(n.salvage.port)
    n.chunks.absorb(records)
    // As the runtime does (spec/checkpoint.md "Restart from the tail"): the genesis records and
    // the batches from each volume's newest checkpoint on; every record only if a volume needs it.
    const tail = tailRecords(batches)
    let r = restoreNode(n.config, tail, { tail: true })
    if (r.needsFull.length > 0) r = restoreNode(n.config, records)
    problems.push(...r.problems)
    n.restoreProblems = problems
    n.incarnation++
    if (problems.length > 0) {
      n.halted = true
      this.record({ at: this.now, t: 'fault', node: id, what: `halted at restart: ${problems.length} damaged records detected` })
      this.options.observe?.({ at: this.now, type: 'restart', node: n.pid, nodeId: id, records, checkpoints: r.checkpoints, halted: true }, this)
      return
    }
    n.state = r.state
    n.membersSeen.clear()
    for (const [name, v] of n.state.volumes) n.membersSeen.set(name, new Set(membersOf(v)))
    n.up = true
    // The tail witness names batches the disk no longer holds: the runtime refuses to start
    // (HOST_TAIL_LOST) until told to recover; the simulated operator always does.
    const tailLost = n.disk.length < n.witness
    n.witness = n.disk.length
    this.record({ at: this.now, t: 'fault', node: id, what: tailLost ? 'restart on a lost tail: recovering the own chains from the members' : 'restart' })
    this.options.observe?.({ at: this.now, type: 'restart', node: n.pid, nodeId: id, records, checkpoints: r.checkpoints, halted: false }, this)
    if (tailLost) {
      this.options.observe?.({ at: this.now, type: 'tail-lost', node: n.pid, nodeId: id }, this)
      const rec = recoverNode(n.config, n.state)
      n.state = rec.state
      this.perform(n, rec.effects)
    }
    this.trySalvage(n)
    this.input(n, { type: 'tick', now: this.now })
  }

  /** After a cut at a damaged batch (restart): the self-checking records of the intact batches
   *  behind it are not thrown away. Plain operations and chunks go back to the port (a regained
   *  own op is then applied from there, core/volume/fetch.ts advanceQueue); the own sealed
   *  entries and seals are kept for `trySalvage`. */
  private keepSalvage(n: SimNode, records: readonly Value[]): void {
    n.salvage.port.push(...records.filter((r) => Array.isArray(r) && (r[0] === 'plain' || r[0] === 'chunk')))
    n.salvage.own.clear()
    for (const r of records) {
      const e = parseEntryRecord(r)
      const sl = e === undefined ? parseSealRecord(r) : undefined
      const volume = e?.volume ?? sl?.volume
      if (volume === undefined || (e?.entry.author ?? sl?.seal.author) !== n.pid) continue
      let own = n.salvage.own.get(volume)
      if (own === undefined) n.salvage.own.set(volume, (own = { entries: new Map(), seals: [] }))
      if (e !== undefined) own.entries.set(e.entry.seq, (r as Value[])[2] as Uint8Array)
      else own.seals.push({ seq: sl!.seal.seq, bytes: (r as Value[])[2] as Uint8Array })
    }
    for (const own of n.salvage.own.values()) own.seals.sort((x, y) => x.seq - y.seq)
  }

  private salvaging = false

  /** Hands kept own entries back to the node once its chain reaches them (spec/storage.md "A
   *  damaged batch"): as a BATCH of its own entries, as a member would send them back while it
   *  recovers (spec/fotb.md "Recovering the own chain", step 3), validated against the chain it
   *  holds, so only a run that continues it up to one of its seals is taken. The gap below them
   *  (what the damaged batch held) comes from the members; when recovery ended at the gap with
   *  nothing appended since, it is started again for the run (core/recover.ts recoverVolume).
   *  Once the node has appended past the gap the kept entries are void: they are dropped (their
   *  seqs are sealed anew, as after any lost tail; FOTB-8, FOTB-9). */
  private trySalvage(n: SimNode): void {
    if (n.salvage.own.size === 0 || this.salvaging || !n.up || n.held !== null) return
    this.salvaging = true
    try {
      for (const [name, own] of [...n.salvage.own].sort(([a], [b]) => (a < b ? -1 : 1))) {
        for (;;) {
          const f = n.state.volumes.get(name)?.fotb
          const at = f?.chains.get(n.pid)?.view.seq ?? 0
          const seal = f === undefined ? undefined : own.seals.find((x) => x.seq > at)
          if (f === undefined || seal === undefined) {
            n.salvage.own.delete(name)
            break
          }
          const run: Uint8Array[] = []
          for (let q = at + 1; q <= seal.seq && own.entries.has(q); q++) run.push(own.entries.get(q)!)
          const complete = run.length === seal.seq - at && run.length <= n.config.params.fotb.maxBatchEntries
          if (f.recovering === undefined) {
            // Recovery ended: the run must start right after the own chain, with nothing appended.
            if (!complete || f.own.seq !== at) {
              this.record({ at: this.now, t: 'fault', node: n.id, what: `kept own entries of ${name} above #${at} dropped: the chain went on without them` })
              n.salvage.own.delete(name)
              break
            }
            const rec = recoverVolume(n.config, n.state, name)
            n.state = rec.state
            this.perform(n, rec.effects)
          } else if (!complete) break // the members may still fill the gap
          this.record({ at: this.now, t: 'fault', node: n.id, what: `own entries ${name}#${at + 1}..${seal.seq} handed back from the intact batches behind the cut` })
          this.input(n, { type: 'receive', now: this.now, from: n.pid, bytes: encode(['fotb/batch', name, run, seal.bytes]) })
          const now = n.state.volumes.get(name)?.fotb.chains.get(n.pid)?.view.seq ?? 0
          if (now !== seal.seq) {
            n.salvage.own.delete(name)
            break
          }
        }
      }
    } finally {
      this.salvaging = false
    }
  }

  /** Injects raw bytes as if `fromId` had sent them to `to` (Byzantine replays, forgeries). */
  inject(fromId: NodeId, to: Pid, bytes: Uint8Array, what: string): void {
    const from = this.node(fromId)
    this.record({ at: this.now, t: 'byz', node: fromId, what })
    this.route(from, to, bytes)
  }

  private input(node: SimNode, input: NodeInput): void {
    if (!node.up) return
    if (node.held !== null) {
      // Nothing after a held batch is stepped (runtime/host.ts); a bounded wait, as the
      // runtime's input queue (peers repeat what is dropped).
      if (node.waiting.length < WAITING_MAX) node.waiting.push(input)
      return
    }
    this.events++
    this.changes++
    const { state, effects } = step(node.config, node.state, input)
    node.state = state
    if (node.tearNextStep !== null) return this.tear(node, effects)
    if (node.diskFull !== null && effects.some((e) => e.type === 'persist' && e.records.length > 0)) {
      node.held = effects
      this.record({ at: this.now, t: 'fault', node: node.id, what: 'a batch met the full disk: held' })
      return
    }
    this.perform(node, effects)
    if (node.salvage.own.size > 0) this.trySalvage(node)
  }

  /** A crash while the step's records were being written. A step's records are one atomic
   *  batch (the runtime writes them as one level batch), so none of them counts; what reached
   *  the disk is a torn tail — `share` of the batch's bytes — that restart must recognise and
   *  discard. None of the step's sends or replies left (persist before send). */
  private tear(node: SimNode, effects: NodeEffect[]): void {
    const share = node.tearNextStep!
    node.tearNextStep = null
    const persist = effects.find((e) => e.type === 'persist')
    if (persist && persist.type === 'persist' && share > 0) {
      const batch = writeBatch(this.options.crypto, persist.records)
      node.disk.push(batch.slice(0, Math.max(1, Math.floor(batch.length * share))))
    }
    node.up = false
    node.incarnation++
    this.record({ at: this.now, t: 'fault', node: node.id, what: `crash during a step (persist torn at ${Math.round(share * 100)}%)` })
  }

  private perform(node: SimNode, effects: NodeEffect[]): void {
    let membersChanged: VolumeName[] | undefined // volumes whose member set gained a member
    this.changes++
    for (const e of effects) {
      switch (e.type) {
        case 'persist':
          this.changes++
          node.disk.push(writeBatch(this.options.crypto, e.records))
          node.witness = node.disk.length
          for (const r of e.records) {
            if (Array.isArray(r) && r[0] === 'genesis' && typeof r[1] === 'string' && !node.genesisAt.has(r[1] as VolumeName)) node.genesisAt.set(r[1] as VolumeName, node.disk.length - 1)
          }
          node.chunks.absorb(e.records)
          for (const r of e.records) {
            if (Array.isArray(r) && r[0] === 'checkpoint') this.options.observe?.({ at: this.now, type: 'checkpoint', node: node.pid, nodeId: node.id, record: r }, this)
          }
          break
        case 'send': {
          this.options.observe?.({ at: this.now, type: 'send', from: node.pid, fromId: node.id, to: e.to, bytes: e.bytes }, this)
          const hook = this.sendHooks.get(node.id)
          const outs = hook ? hook(node, e.to, e.bytes, this) : [{ to: e.to, bytes: e.bytes }]
          for (const o of outs) {
            const bytes = this.options.tamper ? this.options.tamper(node.pid, o.to, o.bytes) : o.bytes
            if (bytes) this.route(node, o.to, bytes)
          }
          break
        }
        case 'setTimer':
          this.push({
            at: this.now + Math.max(1, Math.round((e.at - this.now) * node.timerSkew)),
            order: 0,
            type: 'timer',
            to: node.id,
            incarnation: node.incarnation,
          })
          break
        case 'reply': {
          const d = this.deferred.get(e.req)
          if (d === undefined) {
            this.replies.set(e.req, e.result)
            break
          }
          this.deferred.delete(e.req)
          this.record({ at: this.now, t: 'request', node: node.id, what: `${d.what} (answered)`, result: e.result.ok ? 'ok' : e.result.errno })
          const own = node.state.volumes.get(d.volume)?.fotb.chains.get(node.pid)?.view
          const seq = node.state.volumes.get(d.volume)?.fotb.own.seq ?? 0
          if (e.result.ok && own && seq > 0 && seq <= own.seq) this.options.observe?.({ at: this.now, type: 'acked', node: node.pid, nodeId: node.id, volume: d.volume, seq, hash: own.hashes.get(seq - 1)! }, this)
          break
        }
        case 'deliver':
          if (e.up.type === 'members') {
            const seen = node.membersSeen.get(e.volume)
            if (e.up.members.some((m) => !seen?.has(m))) (membersChanged ??= []).push(e.volume)
            node.membersSeen.set(e.volume, new Set(e.up.members))
          }
          this.record({ at: this.now, t: 'up', node: node.id, volume: e.volume, what: describeUp(e.up) })
          this.options.observe?.({ at: this.now, type: 'up', node: node.pid, nodeId: node.id, volume: e.volume, up: e.up }, this)
          break
        case 'trace':
          break
      }
    }
    // Written with the step's batch (or, if the step wrote none, bounded by the batch before).
    if (membersChanged !== undefined && node.disk.length > 0) for (const v of membersChanged) node.membersAt.set(v, node.disk.length - 1)
  }

  /** processesOf for route, kept while the set of processes stays (nodes are only ever added):
   *  filtering every process for every message was measurable. */
  private targets = new Map<Pid, readonly SimNode[]>()
  private targetsFor = 0

  private targetsOf(pid: Pid): readonly SimNode[] {
    if (this.targetsFor !== this.nodes.size) {
      this.targets.clear()
      this.targetsFor = this.nodes.size
    }
    let t = this.targets.get(pid)
    if (t === undefined) this.targets.set(pid, (t = this.processesOf(pid)))
    return t
  }

  private route(from: SimNode, to: Pid, bytes: Uint8Array): void {
    const targets = this.targetsOf(to)
    if (targets.length === 0) return
    const target = targets.length === 1 ? targets[0]! : (this.options.chooseProcess ?? ((c) => c[0]!))(targets)
    const id = ++this.messageId
    this.record({ at: this.now, t: 'send', id, from: from.id, to: target.id, kind: messageKind(bytes), size: bytes.length })
    const { delays, drop } = this.network.route(from.id, target.id, this.now)
    if (delays.length === 0) {
      this.record({ at: this.now, t: 'drop', id, from: from.id, to: target.id, why: drop ?? 'loss' })
      return
    }
    for (const d of delays) {
      this.push({ at: this.now + Math.max(0, d), order: 0, type: 'message', id, from: from.id, fromPid: from.pid, to: target.id, bytes })
    }
  }

  private push(e: Event): void {
    e.order = this.order++
    // Binary insertion keeps (at, order) ascending: deterministic, FIFO among equal times.
    let lo = 0
    let hi = this.queue.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const m = this.queue[mid]!
      if (m.at < e.at || (m.at === e.at && m.order < e.order)) lo = mid + 1
      else hi = mid
    }
    this.queue.splice(lo, 0, e)
  }

  record(e: TraceEvent): void {
    const text = JSON.stringify(e)
    let h1 = this.h1
    let h2 = this.h2
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      h1 = Math.imul(h1 ^ c, 0x01000193)
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h1 >>> 15)
    }
    this.h1 = h1
    this.h2 = h2
    if (this.options.keepTrace) this.trace.push(e)
  }

  /** Hash of every trace event so far: equal hashes = identical runs (not a cryptographic hash). */
  traceHash(): string {
    const word = (x: number) => (x >>> 0).toString(16).padStart(8, '0')
    return word(this.h1) + word(this.h2) + word(Math.imul(this.h1 ^ this.h2, 0x27d4eb2d)) + word(this.events)
  }

  /** Runs events until virtual time `until` (inclusive). */
  runUntil(until: TimeMs): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= until) {
      const e = this.queue.shift()!
      this.now = e.at
      const n = this.nodes.get(e.to)
      if (!n || !n.up) {
        if (e.type === 'message') this.record({ at: this.now, t: 'drop', id: e.id, from: e.from, to: e.to, why: 'down' })
        continue
      }
      if (e.type === 'timer') {
        if (e.incarnation !== n.incarnation) continue
        this.input(n, { type: 'tick', now: this.now })
      } else {
        this.record({ at: this.now, t: 'recv', id: e.id, from: e.from, to: e.to })
        this.input(n, { type: 'receive', now: this.now, from: e.fromPid, bytes: e.bytes, decoded: this.decodeMessage(e.bytes) })
      }
    }
    this.now = Math.max(this.now, until)
  }

  /** `decode(bytes)` of a message, once per byte string (undefined when it does not decode: the
   *  receiving node then decodes it itself and rejects it as it would). Message bytes are never
   *  changed after they are sent (the Byzantine hooks change copies). */
  decodeMessage(bytes: Uint8Array): Value | undefined {
    const known = this.decodedMessages.get(bytes)
    if (known !== undefined) return known
    const r = tryDecode(bytes)
    if (!r.ok) return undefined
    this.decodedMessages.set(bytes, r.value)
    return r.value
  }

  runFor(ms: TimeMs): void {
    this.runUntil(this.now + ms)
  }

  pendingEvents(): number {
    return this.queue.length
  }
}

// The simulated disk holds one frame per step: a header with the body length twice (once
// inverted, so that a flipped header bit is told apart from a short write), then the checksummed
// batch. A frame shorter than its header says is a torn write; anything else that does not check
// out is corruption.
export function writeBatch(crypto: Crypto, records: readonly Value[]): Uint8Array {
  const inner = encode(records as Value[])
  const sum = crypto.sha256(inner)
  if (sum.length !== 32) throw new Error('writeBatch: a 32-byte checksum')
  // The body is encode([sum, inner]), written in place: an array head, the 32-byte sum, then
  // inner as a byte string. Every step writes a batch, and the chunks in it made encoding the
  // body (a copy of inner) and copying it into the frame measurable.
  const bodyHead = byteStringHead(inner.length)
  const bodyLength = 1 + 2 + sum.length + bodyHead.length + inner.length
  const frame = new Uint8Array(8 + bodyLength)
  const view = new DataView(frame.buffer)
  view.setUint32(0, bodyLength)
  view.setUint32(4, ~bodyLength >>> 0)
  frame[8] = 0x82 // array of 2
  frame[9] = 0x58 // byte string, 1-byte length
  frame[10] = 32
  frame.set(sum, 11)
  frame.set(bodyHead, 11 + sum.length)
  frame.set(inner, 11 + sum.length + bodyHead.length)
  return frame
}

/** The canonical CBOR head of a byte string of `n` bytes (major type 2, shortest length). */
function byteStringHead(n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0x40 | n)
  if (n < 0x100) return Uint8Array.of(0x58, n)
  if (n < 0x10000) return Uint8Array.of(0x59, n >>> 8, n & 0xff)
  return Uint8Array.of(0x5a, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
}

function readBatch(crypto: Crypto, bytes: Uint8Array): Value[] | 'torn' | 'corrupt' {
  if (bytes.length < 8) return 'torn'
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const length = view.getUint32(0)
  if ((~length >>> 0) !== view.getUint32(4)) return 'corrupt'
  if (bytes.length - 8 < length) return 'torn'
  if (bytes.length - 8 > length) return 'corrupt'
  try {
    const outer = decode(bytes.subarray(8))
    if (!Array.isArray(outer) || outer.length !== 2) return 'corrupt'
    const [sum, inner] = outer as Value[]
    if (!(sum instanceof Uint8Array) || !(inner instanceof Uint8Array)) return 'corrupt'
    if (toHex(crypto.sha256(inner)) !== toHex(sum)) return 'corrupt'
    const records = decode(inner)
    return Array.isArray(records) ? (records as Value[]) : 'corrupt'
  } catch {
    return 'corrupt'
  }
}

/** One decoder for every tag peek: creating a TextDecoder per sent message cost more than the peek. */
const TAG_DECODER = new TextDecoder()

function messageKind(bytes: Uint8Array): string {
  // Cheap peek at the tag (a short text right after the array head) without a full decode.
  const head = bytes[0]
  const t = bytes[1]
  if (head === undefined || t === undefined || (head & 0xe0) !== 0x80 || (t & 0xe0) !== 0x60) return 'bytes'
  const len = t & 0x1f
  if (len > 23) return 'bytes'
  return TAG_DECODER.decode(bytes.subarray(2, 2 + len))
}

function describeRequest(r: NodeRequest): string {
  switch (r.type) {
    case 'fs':
      return `${r.volume}: ${r.call.type} ${'path' in r.call ? r.call.path : 'from' in r.call ? `${r.call.from} -> ${r.call.to}` : '/'}`
    case 'create-volume':
      return `create volume ${r.name} (${r.policy}${r.admission !== undefined ? `, ${r.admission}` : ''})`
    case 'join-volume':
      return `join ${r.genesis.name}${r.invite !== undefined ? ' with an invite' : ''}`
    case 'admit':
      return `admit ${r.target.slice(0, 8)} to ${r.volume}`
    case 'invite':
      return `invite ${r.invitee === null ? 'anyone' : r.invitee.slice(0, 8)} to ${r.volume} until ${r.expiresS} s`
    case 'leave-volume':
      return `leave ${r.volume}`
    case 'kick':
      return `vote kick ${r.target.slice(0, 8)} in ${r.volume}`
    case 'checkpoint':
      return 'checkpoint'
  }
}

function describeUp(up: VolumeUp): string {
  switch (up.type) {
    case 'entries':
      return `deliver ${up.author.slice(0, 8)}#${up.from}${up.hashes.length > 1 ? `..${up.from + up.hashes.length - 1}` : ''}`
    case 'logged':
      return `log e${up.record.epoch} ${up.record.kind} ${up.record.result}`
    case 'skipped':
      return `skip ${up.record.author.slice(0, 8)}#${up.record.seq} ${up.record.why}`
    case 'members':
      return `members ${up.members.map((m) => m.slice(0, 8)).join(',')}`
    case 'ordered':
      return `ordered ${up.entries.length} at ${up.entries[0]!.position}`
  }
}

/** The records a restart from the tail reads: every genesis record, and every record from the
 *  first batch that holds the newest checkpoint of some volume on (from the first batch when a
 *  volume has none). The runtime reads the same from its index keys (spec/runtime.md). */
export function tailRecords(batches: readonly (readonly Value[])[]): Value[] {
  const newest = new Map<string, number>()
  const volumes = new Set<string>()
  batches.forEach((b, i) => {
    for (const r of b) {
      if (!Array.isArray(r) || typeof r[1] !== 'string') continue
      volumes.add(r[1])
      if (r[0] === 'checkpoint') newest.set(r[1], i)
    }
  })
  let from = batches.length
  for (const v of volumes) from = Math.min(from, newest.get(v) ?? 0)
  const out: Value[] = []
  const all: Value[] = []
  batches.forEach((b, i) => {
    all.push(...b)
    // Images are folded below (the runtime keeps the fold under its t: keys, not the records).
    if (i >= from) out.push(...b.filter((r) => !(Array.isArray(r) && r[0] === 'image')))
    else for (const r of b) if (Array.isArray(r) && r[0] === 'genesis') out.push(r)
  })
  for (const v of [...volumes].sort()) {
    const fold = foldImages(v as VolumeName, all)
    if (fold === undefined) continue
    // A fold that is bad stays bad: its records go on as they were, and the core names why.
    if ('bad' in fold) out.push(...all.filter((r) => Array.isArray(r) && r[0] === 'image' && r[1] === v))
    else out.push(['image', v, fold.epoch, [...fold.inodes].sort(([a], [b]) => a - b).map(([ino, x]) => [ino, x])])
  }
  return out
}
