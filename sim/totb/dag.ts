// A simulator of totb alone (spec/totb.md), over a model of what fotb guarantees: every author
// has one chain (FOTB-5: no correct members deliver different entries at one seq), each member
// receives each author's entries in seq order (FOTB-3), after delays the network and Byzantine
// relays choose, and eventually all of them (FOTB-5 after heal). On this model the real core/totb
// reducers of n members run in virtual time, Byzantine members shape their vertices
// (sim/totb/byzantine.ts), and sim/totb/check.ts checks every TOTB invariant.
// The whole stack (volume, fotb, totb) under the full fault model is sim/run.ts's job.
import { sha256 } from '@noble/hashes/sha2.js'
import { decode, encode } from '../../core/codec.ts'
import { concatBytes, toHex, utf8 } from '../../core/bytes.ts'
import type { EntryHash, Pid } from '../../core/types.ts'
import * as totb from '../../core/totb/index.ts'
import { Prng } from '../prng.ts'
import { TotbChecker, type ChainEntry, type TotbViolation } from './check.ts'
import { BYZANTINE_VERTEX_STRATEGIES, shapeVertex, type ByzantineVertexStrategy } from './byzantine.ts'

export interface DagSimConfig {
  readonly seed: number
  readonly nodes: number
  /** Byzantine members, at most floor((nodes - 1) / 3) for the promises to hold. */
  readonly byzantine: number
  /** Operations appended in the fault phase, spread over the members (Byzantine ones too). */
  readonly ops: number
  /** Delay spikes, partitions and adversarial delivery of Byzantine chains in the fault phase. */
  readonly faults: boolean
  /** Byzantine strategies to choose from (one per Byzantine member, by the seed). */
  readonly strategies: readonly ByzantineVertexStrategy[]
  readonly leaderTimeoutMs: number
  /** Committee changes: one correct member starts outside the committee, and correct members
   *  append up to three changes (add a member, remove a correct one while f < n/3 still holds),
   *  which take effect where the order puts them (a new epoch). */
  readonly reconfigure: boolean
  /** totb's epoch length in rounds (its garbage collection); short here so that runs cross it. */
  readonly epochRounds: number
  /** Keep what sim/totb/trace-html.ts draws (one correct member's DAG, commits, epochs). */
  readonly keepTrace?: boolean
  readonly mutation?: totb.TotbMutation
}

/** One correct member's view, for the diagram. */
export interface DagTrace {
  readonly viewer: Pid
  readonly members: readonly Pid[]
  readonly byzantine: readonly Pid[]
  readonly vertices: { epoch: number; round: number; author: Pid; seq: number; strong: Pid[]; at: number }[]
  readonly commits: { epoch: number; round: number; author: Pid; direct: boolean; at: number }[]
  readonly epochs: { epoch: number; committee: readonly Pid[]; at: number }[]
}

export const DEFAULT_DAG_CONFIG: DagSimConfig = {
  seed: 1, nodes: 4, byzantine: 1, ops: 60, faults: true, strategies: BYZANTINE_VERTEX_STRATEGIES, leaderTimeoutMs: 150, reconfigure: false, epochRounds: 15,
}

const FAULT_PHASE_MS = 8_000
const HEAL_PHASE_MS = 20_000
const TICK_MS = 10

export interface DagSimResult {
  readonly config: DagSimConfig
  readonly violations: TotbViolation[]
  /** Per correct member: entries ordered. */
  readonly ordered: number[]
  readonly rounds: number
  readonly vertices: number
  readonly rejections: Record<string, number>
  readonly strategies: Record<string, ByzantineVertexStrategy>
  readonly events: number
  /** Crashed members restarted (restoreTotb). */
  readonly restarts: number
  /** Epochs begun (committee changes and rotations), at the first correct member. */
  readonly epochs: number
  /** Most valid vertices a correct member holds at the end (one epoch's at most). */
  readonly held: number
  readonly trace?: DagTrace
  /** Virtual ms from an op's append to its ordering at the last correct member, over the ops
   *  every correct member ordered (a restarted member's re-derived prefix is not counted again). */
  readonly latencyMs: { readonly p50: number; readonly p99: number }
  /** A digest of every member's order, equal for equal configs (replay is exact). */
  readonly orderHash: string
}

type Event =
  | { kind: 'deliver'; to: number; author: number; seq: number }
  | { kind: 'tick'; node: number }
  | { kind: 'op'; node: number }
  | { kind: 'crash'; node: number; until: number }
  | { kind: 'restart'; node: number }
  | { kind: 'cfg'; node: number; target: number; add: boolean }

/** A binary heap of events by (time, insertion), so equal times keep their order. */
class Queue {
  private readonly items: { at: number; n: number; e: Event }[] = []
  private count = 0
  get size(): number {
    return this.items.length
  }
  push(at: number, e: Event): void {
    const items = this.items
    items.push({ at, n: this.count++, e })
    let i = items.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (before(items[p]!, items[i]!)) break
      ;[items[p], items[i]] = [items[i]!, items[p]!]
      i = p
    }
  }
  pop(): { at: number; e: Event } {
    const items = this.items
    const top = items[0]!
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < items.length && before(items[l]!, items[m]!)) m = l
        if (r < items.length && before(items[r]!, items[m]!)) m = r
        if (m === i) break
        ;[items[m], items[i]] = [items[i]!, items[m]!]
        i = m
      }
    }
    return top
  }
}

function before(a: { at: number; n: number }, b: { at: number; n: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.n < b.n)
}

export function runDagSim(config: DagSimConfig): DagSimResult {
  const prng = new Prng(config.seed)
  const net = prng.fork()
  const byzRng = prng.fork()
  const n = config.nodes
  const pids: Pid[] = []
  for (let i = 0; i < n; i++) pids.push(('02' + toHex(prng.bytes(32))) as Pid)
  const byzantine = new Set<number>()
  while (byzantine.size < Math.min(config.byzantine, n)) byzantine.add(prng.int(n))
  const strategies = new Map<number, ByzantineVertexStrategy>()
  for (const b of byzantine) strategies.set(b, prng.pick(config.strategies))
  const params: totb.TotbParams = { ...totb.DEFAULT_TOTB_PARAMS, leaderTimeoutMs: config.leaderTimeoutMs, epochRounds: config.epochRounds, mutation: config.mutation }
  // The genesis committee: everyone, or all but one correct member (the spare) when reconfiguring
  // and the committee without it still has fewer than a third Byzantine.
  const spare = config.reconfigure && byzantine.size <= totb.faultBound(n - 1) && n > 1 ? pids.findIndex((_, i) => !byzantine.has(i)) : -1
  const genesis = pids.filter((_, i) => i !== spare)
  /** The host's rule, applied in the order at each member: a change authored by a correct member
   *  takes effect if it leaves fewer than a third of the committee Byzantine (an abstraction of
   *  the volume's vote rule, which a Byzantine member cannot pass alone). */
  function hooks(): totb.TotbHooks {
    const committee = new Set(genesis)
    return {
      committeeAfter: (e) => {
        const author = pids.indexOf(e.author)
        if (byzantine.has(author)) return undefined
        const v = decode(chains.get(e.author)![e.seq - 1]!.payload)
        if (!Array.isArray(v) || v[0] !== 'cfg') return undefined
        const target = pids[v[2] as number]!
        const next = new Set(committee)
        if (v[1] === 'add') next.add(target)
        else next.delete(target)
        const byz = [...next].filter((p) => byzantine.has(pids.indexOf(p))).length
        if (next.size === committee.size || next.size === 0 || byz > totb.faultBound(next.size)) return undefined
        committee.clear()
        for (const p of next) committee.add(p)
        return [...committee]
      },
    }
  }
  const states = pids.map((p) => totb.newTotb(p, genesis, params, hooks()))
  const chains = new Map<Pid, ChainEntry[]>(pids.map((p) => [p, []]))
  const correct = pids.filter((_, i) => !byzantine.has(i))
  const checker = new TotbChecker(chains, correct)
  const queue = new Queue()
  /** Per receiver and author: the time of the last scheduled delivery (FIFO per pair). */
  const lastAt = pids.map(() => new Array<number>(n).fill(0))
  const isolated: { node: number; from: number; to: number }[] = []
  if (config.faults) {
    for (let k = prng.int(3); k > 0; k--) {
      const from = prng.range(0, FAULT_PHASE_MS - 1000)
      isolated.push({ node: prng.int(n), from, to: from + prng.range(300, 3000) })
    }
  }

  // Crashes (fault phase): a member stops for 0.2-3 s; what fotb delivered to it and its own
  // chain are durable, its totb state is not: it restarts with restoreTotb. Deliveries that come
  // while it is down wait for the restart (fotb fetches them then). Own stream of randomness, so
  // the other choices of a run do not move.
  const crashRng = new Prng((config.seed * 2654435761) >>> 0)
  const down = new Map<number, Event[]>()
  const crashes: { node: number; at: number; until: number }[] = []
  if (config.faults) {
    for (let k = crashRng.int(3); k > 0; k--) {
      const at = crashRng.range(0, FAULT_PHASE_MS - 500)
      crashes.push({ node: crashRng.int(n), at, until: at + crashRng.range(200, 3000) })
    }
  }
  /** Per member and author: entries fotb delivered to it (durable). */
  const deliveredTo = pids.map(() => new Array<number>(n).fill(0))

  const slowLinks = new Map<string, boolean>()
  if (config.faults) {
    for (let w = 0; w < FAULT_PHASE_MS / 500; w++) {
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b) slowLinks.set(`${a}:${b}:${w}`, prng.chance(0.05))
    }
  }

  function delay(author: number, to: number, now: number): number {
    if (author === to) return net.range(0, 2)
    let d = net.range(1, 12)
    const slowAuthor = strategies.get(author) === 'slow'
    if (slowAuthor) d += Math.round(config.leaderTimeoutMs * 1.5)
    if (config.faults && now < FAULT_PHASE_MS) {
      if (net.chance(0.05)) d += net.range(50, 600)
      // Asymmetric knowledge: in each 500 ms window some links are slow, the others not.
      if (slowLinks.get(`${author}:${to}:${Math.floor(now / 500)}`) ?? false) d += 300
      if (byzantine.has(author) && net.chance(0.5)) d += net.range(0, 1500) // a relay that holds back
      for (const w of isolated) if ((w.node === to || w.node === author) && now >= w.from && now < w.to) d = Math.max(d, w.to - now + net.range(1, 20))
    }
    return d
  }

  // The network on the side of an 'avoid-leader' member b in the fault phase, when b leads round
  // R + 1 (R even): the correct leader of round R - 1 reaches one correct member late (so it does
  // not vote), and every vote of round R but the first reaches the others late (so they see f + 1
  // votes only later). A member that holds both votes commits that leader directly; the others
  // then commit b's vertex, which must still reach the leader through its q refs.
  const splitter = [...strategies].find(([, s]) => s === 'avoid-leader')?.[0]
  const firstVoter = new Map<number, number>()
  const slowed = new Map<number, number>()
  function splitHold(node: number, payload: Uint8Array, to: number, now: number): number {
    if (splitter === undefined || !config.faults || now >= FAULT_PHASE_MS || byzantine.has(node) || to === node || !totb.claimsVertex(payload)) return 0
    const v = totb.decodeVertex(payload)
    if (v === undefined) return 0
    const b = pids[splitter]!
    const hold = config.leaderTimeoutMs * 2
    if (v.round % 2 === 1 && totb.leaderOf(states[0]!, v.round + 2) === b && totb.leaderOf(states[0]!, v.round) === pids[node]) {
      if (!slowed.has(v.round)) slowed.set(v.round, byzRng.pick(correct.map((p) => pids.indexOf(p)).filter((i) => i !== node)))
      return slowed.get(v.round) === to ? hold : 0
    }
    if (v.round % 2 === 0 && totb.leaderOf(states[0]!, v.round + 1) === b) {
      const leader = totb.leaderOf(states[0]!, v.round - 1)
      if (!v.strong.some((r) => r.author === leader)) return 0
      if (!firstVoter.has(v.round)) firstVoter.set(v.round, node)
      return firstVoter.get(v.round) === node ? 0 : hold
    }
    return 0
  }

  function append(node: number, payload: Uint8Array, now: number): void {
    const pid = pids[node]!
    const chain = chains.get(pid)!
    const seq = chain.length + 1
    const hash = toHex(sha256(concatBytes(utf8(`${pid}:${seq}:`), payload))) as EntryHash
    chain.push({ seq, hash, payload })
    appendedAt.set(`${pid}:${seq}`, now)
    if (strategies.get(node) === 'silent') return
    for (let to = 0; to < n; to++) {
      const at = Math.max(lastAt[to]![node]!, now + delay(node, to, now) + splitHold(node, payload, to, now))
      lastAt[to]![node] = at
      queue.push(at, { kind: 'deliver', to, author: node, seq })
    }
  }

  /** Per op: when it was appended, and the latest time a correct member ordered it so far. */
  const appendedAt = new Map<string, number>()
  const orderedLast = new Map<string, { at: number; members: number }>()
  const viewer = pids.findIndex((_, i) => !byzantine.has(i))
  const trace: DagTrace | undefined = config.keepTrace
    ? { viewer: pids[viewer]!, members: [...pids].sort(), byzantine: pids.filter((_, i) => byzantine.has(i)).sort(), vertices: [], commits: [], epochs: [{ epoch: 0, committee: [...genesis].sort(), at: 0 }] }
    : undefined
  function handle(node: number, out: totb.TotbOut, now: number): void {
    if (trace !== undefined && node === viewer) {
      for (const v of out.accepted) trace.vertices.push({ epoch: v.epoch, round: v.round, author: v.author, seq: v.seq, strong: v.strong.map((u) => u.author), at: now })
      for (const l of out.leaders) trace.commits.push({ ...l, at: now })
      for (const e of out.epochs) trace.epochs.push({ ...e, at: now })
    }
    if (!byzantine.has(node)) {
      checker.onOrdered(pids[node]!, out.ordered, now)
      for (const e of out.ordered) {
        const key = `${e.author}:${e.seq}`
        const seen = orderedLast.get(key)
        orderedLast.set(key, { at: now, members: (seen?.members ?? 0) + 1 })
      }
    }
    for (const payload of out.vertices) {
      const shaped = byzantine.has(node) ? shapeVertex(strategies.get(node)!, states[node]!, payload, byzRng) : [payload]
      for (const p of shaped) append(node, p, now)
    }
  }

  function deliver(e: Extract<Event, { kind: 'deliver' }>, at: number): void {
    const author = pids[e.author]!
    const entry = chains.get(author)![e.seq - 1]!
    deliveredTo[e.to]![e.author] = e.seq
    handle(e.to, totb.onDelivered(states[e.to]!, at, { author, seq: entry.seq, hash: entry.hash, payload: entry.payload }), at)
  }

  function restart(node: number, at: number): void {
    const delivered = new Map(pids.map((p, a) => [p, chains.get(p)!.slice(0, deliveredTo[node]![a]!).map((c) => ({ author: p, seq: c.seq, hash: c.hash, payload: c.payload }))]))
    const own = chains.get(pids[node]!)!.map((c) => c.payload)
    const { state, out } = totb.restoreTotb(pids[node]!, genesis, params, delivered, own, at, hooks())
    states[node] = state
    restarts++
    if (byzantine.has(node)) return
    // The order derived again must be the order output before the crash, then maybe more.
    const before = checker.order(pids[node]!)
    const again = out.ordered
    for (let i = 0; i < Math.min(before.length, again.length); i++) {
      if (before[i]!.author !== again[i]!.author || before[i]!.seq !== again[i]!.seq) {
        checker.violations.push({ id: 'TOTB-1', message: `${pids[node]!.slice(2, 10)} restarted and ordered ${again[i]!.author.slice(2, 10)}#${again[i]!.seq} at position ${i + 1}, before the crash ${before[i]!.author.slice(2, 10)}#${before[i]!.seq}`, at })
        return
      }
    }
    if (again.length < before.length) {
      checker.violations.push({ id: 'TOTB-1', message: `${pids[node]!.slice(2, 10)} restarted and derived ${again.length} ordered entries, ${before.length} before the crash`, at })
    }
    handle(node, { ...out, ordered: again.slice(before.length), accepted: [], leaders: [], epochs: [] }, at)
  }

  // The workload: each op at a random time of the fault phase by a random member.
  for (let i = 0; i < config.ops; i++) queue.push(prng.range(0, FAULT_PHASE_MS), { kind: 'op', node: prng.int(n) })
  // Committee changes (own randomness): the spare is added, correct members removed or re-added.
  const cfgRng = new Prng((config.seed * 40503 + 7) >>> 0)
  if (spare >= 0) {
    const changes = 1 + cfgRng.int(3)
    for (let k = 0; k < changes; k++) {
      const author = cfgRng.pick(correct.filter((p) => p !== pids[spare]))
      const target = k === 0 ? spare : cfgRng.pick(correct.map((p) => pids.indexOf(p)))
      queue.push(cfgRng.range(500, FAULT_PHASE_MS), { kind: 'cfg', node: pids.indexOf(author), target, add: k === 0 || cfgRng.chance(0.5) })
    }
  }
  for (let i = 0; i < n; i++) queue.push(prng.range(0, TICK_MS), { kind: 'tick', node: i })
  for (const c of crashes) queue.push(c.at, { kind: 'crash', node: c.node, until: c.until })
  let opCount = 0
  let events = 0
  let restarts = 0
  const end = FAULT_PHASE_MS + HEAL_PHASE_MS
  while (queue.size > 0) {
    const { at, e } = queue.pop()
    if (at > end) break
    events++
    if (e.kind === 'crash') {
      // The member stops until its restart (a second crash while it is down changes nothing).
      if (!down.has(e.node)) {
        down.set(e.node, [])
        queue.push(e.until, { kind: 'restart', node: e.node })
      }
      continue
    }
    if (e.kind === 'restart') {
      const buffered = down.get(e.node) ?? []
      down.delete(e.node)
      restart(e.node, at)
      for (const b of buffered) if (b.kind === 'deliver') deliver(b, at)
      continue
    }
    const target = e.kind === 'deliver' ? e.to : e.node
    if (down.has(target)) {
      if (e.kind === 'deliver') down.get(target)!.push(e)
      else if (e.kind === 'tick') queue.push(at + TICK_MS, e)
      continue // an op for a member that is down is not made
    }
    if (e.kind === 'tick') {
      handle(e.node, totb.onTick(states[e.node]!, at), at)
      queue.push(at + TICK_MS, e)
    } else if (e.kind === 'op') {
      // Conflicting writes: few keys, every member writes them (the order decides the value).
      append(e.node, encode(['op', `k${opCount % 5}`, opCount++]), at)
      totb.noteOwnEntry(states[e.node]!)
      handle(e.node, totb.onTick(states[e.node]!, at), at)
    } else if (e.kind === 'cfg') {
      append(e.node, encode(['cfg', e.add ? 'add' : 'remove', e.target]), at)
      totb.noteOwnEntry(states[e.node]!)
      handle(e.node, totb.onTick(states[e.node]!, at), at)
    } else {
      deliver(e, at)
    }
  }
  const correctStates = new Map(correct.map((p) => [p, states[pids.indexOf(p)]!]))
  // Validity covers the correct members of the final committee (a removed member's entries after
  // its removal are never ordered; a joined member's are, from seq 1).
  const finalCommittee = new Set([...correctStates.values()][0]?.committee ?? [])
  checker.atEnd(correctStates, correct.filter((p) => finalCommittee.has(p)), end)

  // Virtual time from append to ordered at every correct member, for ops every one ordered.
  const latencies = [...orderedLast].filter(([, o]) => o.members >= correct.length).map(([k, o]) => o.at - appendedAt.get(k)!).sort((a, b) => a - b)
  const pct = (p: number): number => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!)
  const rejections: Record<string, number> = {}
  for (const s of correctStates.values()) for (const [k, v] of s.counters) if (k.startsWith('reject:')) rejections[k] = Math.max(rejections[k] ?? 0, v)
  const digest = sha256(utf8(correct.map((p) => checker.order(p).map((e) => `${e.author}${e.seq}`).join(',')).join(';')))
  return {
    config,
    violations: checker.violations,
    ordered: correct.map((p) => checker.order(p).length),
    rounds: Math.max(...[...correctStates.values()].map((s) => s.quorumRound)),
    vertices: Math.max(...[...correctStates.values()].map((s) => s.counters.get('totb:vertices') ?? 0)),
    rejections,
    strategies: Object.fromEntries([...strategies].map(([i, s]) => [pids[i]!.slice(2, 10), s])),
    events,
    restarts,
    epochs: [...correctStates.values()][0]?.epoch ?? 0,
    ...(trace !== undefined ? { trace } : {}),
    latencyMs: { p50: pct(0.5), p99: pct(0.99) },
    held: Math.max(0, ...[...correctStates.values()].map((s) => [...s.authors.values()].reduce((k, a) => k + a.vertices.size, 0))),
    orderHash: toHex(digest),
  }
}
