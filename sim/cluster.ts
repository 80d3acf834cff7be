// A deterministic in-process cluster: the host of core/node.ts for tests and the simulator.
// Virtual time, one event queue, a lossless network with fixed latency (faults come with the
// simulator issue), persisted records kept as canonical bytes per node so that a restart
// rebuilds from exactly what "disk" holds. Effects are performed as the runtime will: the step's
// persist first, then sends, timers, replies.
import type { Crypto } from '../core/crypto.ts'
import { decode, encode, type Value } from '../core/codec.ts'
import type { RequestId } from '../core/effects.ts'
import {
  createNode,
  nodeConfig,
  restoreNode,
  step,
  type NodeConfig,
  type NodeEffect,
  type NodeInput,
  type NodeReply,
  type NodeRequest,
  type NodeRestoreProblem,
  type NodeState,
} from '../core/node.ts'
import type { VolumeParams, VolumeUp } from '../core/paciofs.ts'
import { DEFAULT_VOLUME_PARAMS } from '../core/paciofs.ts'
import type { Pid, TimeMs, VolumeName } from '../core/types.ts'

export interface SimNode {
  readonly pid: Pid
  readonly config: NodeConfig
  state: NodeState
  /** The node's disk: canonical bytes of every persisted record, in write order. */
  readonly disk: Uint8Array[]
  up: boolean
  /** Incremented at each restart; timers of an older incarnation are ignored. */
  incarnation: number
  restoreProblems: NodeRestoreProblem[]
}

type Event =
  | { at: TimeMs; order: number; type: 'message'; from: Pid; to: Pid; bytes: Uint8Array }
  | { at: TimeMs; order: number; type: 'timer'; to: Pid; incarnation: number }

/** Everything observable that checkers need, in the order it happened. */
export type Observation =
  | { at: TimeMs; type: 'up'; node: Pid; volume: VolumeName; up: VolumeUp }
  | { at: TimeMs; type: 'send'; from: Pid; to: Pid; bytes: Uint8Array }
  | { at: TimeMs; type: 'restart'; node: Pid }

export interface ClusterOptions {
  readonly crypto: Crypto
  readonly latencyMs?: number
  readonly params?: VolumeParams
  readonly tickMs?: number
  /** Called after every step with what it observed (for invariant checkers). */
  readonly observe?: (o: Observation, cluster: Cluster) => void
  /** A Byzantine hook: rewrite (or drop, with undefined) what a node sends. */
  readonly tamper?: (from: Pid, to: Pid, bytes: Uint8Array) => Uint8Array | undefined
}

export class Cluster {
  readonly nodes = new Map<Pid, SimNode>()
  now: TimeMs = 0
  events = 0
  private readonly queue: Event[] = []
  private order = 0
  private nextReq: RequestId = 1
  private readonly replies = new Map<RequestId, NodeReply>()
  readonly latencyMs: number

  constructor(readonly options: ClusterOptions) {
    this.latencyMs = options.latencyMs ?? 5
  }

  addNode(secretKey: Uint8Array): Pid {
    const config = nodeConfig(this.options.crypto, secretKey, this.options.params ?? DEFAULT_VOLUME_PARAMS, this.options.tickMs)
    const state = createNode(config)
    const node: SimNode = { pid: state.me, config, state, disk: [], up: true, incarnation: 0, restoreProblems: [] }
    this.nodes.set(node.pid, node)
    this.input(node, { type: 'tick', now: this.now })
    return node.pid
  }

  node(pid: Pid): SimNode {
    const n = this.nodes.get(pid)
    if (!n) throw new Error(`no node ${pid}`)
    return n
  }

  /** Hands a request to a node now and returns its reply (the core answers within the step). */
  request(pid: Pid, request: NodeRequest): NodeReply {
    const req = this.nextReq++
    this.input(this.node(pid), { type: 'request', now: this.now, req, request })
    const reply = this.replies.get(req)
    this.replies.delete(req)
    if (reply === undefined) throw new Error('the core did not reply within the step')
    return reply
  }

  /** Crash: volatile state and in-flight timers are lost; the disk stays. */
  crash(pid: Pid): void {
    const n = this.node(pid)
    n.up = false
    n.incarnation++
  }

  /** Restart from disk: every record is decoded from its bytes, as the runtime will. */
  restart(pid: Pid): void {
    const n = this.node(pid)
    const records: Value[] = []
    for (const bytes of n.disk) {
      try {
        records.push(decode(bytes))
      } catch {
        n.restoreProblems.push({ volume: '?', record: 'disk', problem: 'undecodable record' })
      }
    }
    const r = restoreNode(n.config, records)
    n.state = r.state
    n.restoreProblems.push(...r.problems)
    n.up = true
    n.incarnation++
    this.options.observe?.({ at: this.now, type: 'restart', node: pid }, this)
    this.input(n, { type: 'tick', now: this.now })
  }

  private input(node: SimNode, input: NodeInput): void {
    if (!node.up) return
    this.events++
    const { state, effects } = step(node.config, node.state, input)
    node.state = state
    this.perform(node, effects)
  }

  private perform(node: SimNode, effects: NodeEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'persist':
          for (const r of e.records) node.disk.push(encode(r))
          break
        case 'send': {
          this.options.observe?.({ at: this.now, type: 'send', from: node.pid, to: e.to, bytes: e.bytes }, this)
          const bytes = this.options.tamper ? this.options.tamper(node.pid, e.to, e.bytes) : e.bytes
          if (bytes) this.push({ at: this.now + this.latencyMs, order: 0, type: 'message', from: node.pid, to: e.to, bytes })
          break
        }
        case 'setTimer':
          this.push({ at: e.at, order: 0, type: 'timer', to: node.pid, incarnation: node.incarnation })
          break
        case 'reply':
          this.replies.set(e.req, e.result)
          break
        case 'deliver':
          this.options.observe?.({ at: this.now, type: 'up', node: node.pid, volume: e.volume, up: e.up }, this)
          break
        case 'trace':
          break
      }
    }
  }

  private push(e: Event): void {
    e.order = this.order++
    // Binary insertion keeps (at, order) ascending: deterministic, FIFO per link at equal latency.
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

  /** Runs events until virtual time `until` (inclusive). */
  runUntil(until: TimeMs): void {
    while (this.queue.length > 0 && this.queue[0]!.at <= until) {
      const e = this.queue.shift()!
      this.now = e.at
      const n = this.nodes.get(e.to)
      if (!n || !n.up) continue
      if (e.type === 'timer') {
        if (e.incarnation !== n.incarnation) continue
        this.input(n, { type: 'tick', now: this.now })
      } else {
        this.input(n, { type: 'receive', now: this.now, from: e.from, bytes: e.bytes })
      }
    }
    this.now = Math.max(this.now, until)
  }

  runFor(ms: TimeMs): void {
    this.runUntil(this.now + ms)
  }
}
