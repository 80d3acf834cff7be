// Broadcast end to end (issue 5, item 3; issue 13 for totb): 3 (or --nodes N, or a list 3,4) nodes
// on loopback, one volume, each node a NodeHost with nodeCrypto in a child process of its own
// (bench/broadcast-node.ts), like test/host.test.ts but across processes. --order fotb|totb|both
// (default fotb): the volume's order; `both` and node lists measure every (order, nodes)
// configuration once per run, one after another (side by side in one session). fotb: node 0
// creates the volume, the others join with the genesis (passed through this parent) and node 0
// as contact. totb: node 0 creates it with every node a founder, the others take the genesis and
// are members at once. Node i dials nodes 0..i-1.
//
// Each node runs a closed-loop writer (default: 1 per node): one fs request at a time through
// host.request, the next one once the reply came — by default a 256-byte write at offset 0 of the
// node's own file, new bytes every time (`--op create`: creates of new files instead). A reply
// means the op's records are durable: "the author's fsync returned".
//
// Measured over a fixed window after a warm-up (full 20 s, quick 5 s), on one wall clock shared
// by the processes (performance.timeOrigin + performance.now()):
// - delivered ops/s at each node: ops of the other authors logged there (plain op fetched through
//   remote_get and applied, records durable: VolumeUp 'logged' of another author) in the window;
// - latency from submit (the author's host.request call) to the op's application at each other
//   node, for every op submitted in the window, p50/p99 (`latency_submit_*`: the figure to compare
//   orders by: in totb the author's own reply comes only once the op is applied in the order);
// - submit to the author's own reply (`reply_latency_*`);
// - (the older figure, `latency_*`) from the author's own 'logged' up event (fotb: durable, right
//   before the reply; totb: applied in the order) to the op's application at each other node,
//   for every op logged by its author in the window, p50/p99. After the window the nodes drain until every op is applied everywhere, at most
//   `--drain` seconds (full 15, quick 10); an op still not applied then counts with the time until
//   the cap (so the latency figures of that run are lower bounds, marked >= in the table) and in
//   `undelivered_after_drain`.
// The prototype's published figures are printed beside ours for reference.
//
//   npx tsx bench/broadcast-bench.ts [--quick] [--runs N] [--duration S] [--warmup S]
//       [--drain S] [--writers W] [--op write|create] [--bytes B] [--profile I]   (npm run bench:broadcast)
//       [--order fotb|totb|both] [--nodes N|N,M,...] (--writers takes a list too: W,V,...)
//       [--checkout DIR] [--results NAME]
// --checkout DIR runs the nodes from another checkout of the project (DIR/bench/broadcast-node.ts
// and the runtime and core beside it, with DIR's node_modules), measured by this parent: an A/B
// of two commits side by side in one session (bench/README.md). --results NAME writes
// bench/results/NAME.json instead of broadcast.json.
// --profile I runs node I under `node --cpu-prof` in the first run (of the first totb
// configuration when several run) and prints the top of its profile. Writes bench/results/broadcast.json and prints a markdown table; progress to stderr.
import { execFileSync, fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fmt, machine, markdownTable, summarize, writeResults, type Summary } from './bench-util.ts'
import type { Command, NodeResult, Reply } from './broadcast-node.ts'
import type { Genesis } from '../core/volume/index.ts'

type Order = 'fotb' | 'totb'
/** One configuration measured: the volume's order and how many nodes. */
interface Config {
  readonly order: Order
  readonly nodes: number
  /** Closed-loop writers per node. */
  readonly writers: number
}
const configKey = (c: Config): string => `${c.order}-${c.nodes}-w${c.writers}`
const VOLUME = 'bcast'
const GOAL_OPS_PER_S = 10_000
const GOAL_P99_MS = 100
/** Issue 13's goal for totb (on loopback). */
const GOAL_TOTB_OPS_PER_S = 5_000
const GOAL_TOTB_P99_MS = 200
const SETUP_TIMEOUT_MS = 60_000
const wall = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const progress = (s: string): void => void process.stderr.write(`[broadcast] ${s}\n`)

/** Spenger, MSc thesis, 2020 (the prototype): per-process message rates and mean latencies. */
const PROTOTYPE = [
  { system: 'fotb on MultiChain (prototype)', msgPerS: '740–898 per process', latency: '11.6–68.5 s (mean)' },
  { system: 'fotb on etcd (prototype variant)', msgPerS: '4,529–11,253', latency: '68–107 ms' },
  { system: 'totb (prototype)', msgPerS: '445–542', latency: '79–114 s (mean)' },
]

interface Options {
  quick: boolean
  runs: number
  durationS: number
  warmupS: number
  drainS: number
  writers: number[]
  /** The configurations, in the order they run within each run (alternating). */
  configs: Config[]
  op: 'write' | 'create'
  bytes: number
  profile: number | undefined
  /** The project root whose nodes run (this checkout unless --checkout). */
  checkout: string
  results: string
}

function argValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag)
  return i >= 0 ? argv[i + 1] : undefined
}

function parseArgs(argv: readonly string[]): Options {
  const quick = argv.includes('--quick')
  const num = (flag: string, dflt: number): number => {
    const v = Number(argValue(argv, flag) ?? dflt)
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} takes a positive number`)
    return v
  }
  const op = argValue(argv, '--op') ?? 'write'
  if (op !== 'write' && op !== 'create') throw new Error('--op is write or create')
  const p = argValue(argv, '--profile')
  const profile = p === undefined ? undefined : Number(p)
  const orderArg = argValue(argv, '--order') ?? 'fotb'
  if (orderArg !== 'fotb' && orderArg !== 'totb' && orderArg !== 'both') throw new Error('--order is fotb, totb or both')
  const orders: Order[] = orderArg === 'both' ? ['fotb', 'totb'] : [orderArg]
  const nodeCounts = (argValue(argv, '--nodes') ?? '3').split(',').map(Number)
  if (nodeCounts.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) throw new Error('--nodes takes a count or a list of counts, e.g. 3,4')
  const writers = (argValue(argv, '--writers') ?? '1').split(',').map(Number)
  if (writers.some((w) => !Number.isInteger(w) || w < 1)) throw new Error('--writers takes a count or a list of counts, e.g. 1,16')
  const configs = writers.flatMap((w) => nodeCounts.flatMap((nodes) => orders.map((order) => ({ order, nodes, writers: w }))))
  if (profile !== undefined && !(Number.isInteger(profile) && profile >= 0 && profile < Math.min(...nodeCounts))) throw new Error(`--profile takes a node index 0..${Math.min(...nodeCounts) - 1}`)
  return {
    quick,
    runs: Math.round(num('--runs', quick ? 1 : 3)),
    durationS: num('--duration', quick ? 5 : 20),
    warmupS: num('--warmup', quick ? 2 : 3),
    drainS: num('--drain', quick ? 10 : 15),
    writers,
    configs,
    op,
    bytes: Math.round(num('--bytes', 256)),
    profile,
    checkout: resolve(argValue(argv, '--checkout') ?? fileURLToPath(new URL('..', import.meta.url))),
    results: argValue(argv, '--results') ?? 'broadcast',
  }
}

function commitOf(dir: string): string {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

// ---------------------------------------------------------------------------------------------
// Children

class Child {
  readonly proc: ChildProcess
  private readonly waiters: { type: Reply['type']; resolve: (r: Reply) => void; reject: (err: Error) => void }[] = []
  members = 0
  error: string | undefined
  pid = ''
  port = 0

  constructor(readonly index: number, profileDir: string | undefined, checkout: string) {
    const script = join(checkout, 'bench', 'broadcast-node.ts')
    const execArgv = ['--import', 'tsx', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])]
    this.proc = fork(script, [], { execArgv, cwd: checkout, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.proc.on('message', (m: Reply) => {
      if (m.type === 'members') this.members = m.count
      if (m.type === 'error') {
        this.error = m.message
        progress(`node ${index}: ${m.message}`)
        for (const w of this.waiters.splice(0)) w.reject(new Error(`node ${index}: ${m.message}`))
      }
      const i = this.waiters.findIndex((w) => w.type === m.type)
      if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(m)
    })
    this.proc.on('exit', (code, signal) => {
      if (code !== 0 && code !== null) this.error ??= `exited with ${code}`
      if (signal) this.error ??= `killed by ${signal}`
    })
  }

  send(cmd: Command): void {
    this.proc.send(cmd)
  }

  wait<T extends Reply['type']>(type: T, timeoutMs = SETUP_TIMEOUT_MS): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${this.index}: no ${type} within ${timeoutMs} ms${this.error ? ` (${this.error})` : ''}`)), timeoutMs)
      this.waiters.push({
        type,
        resolve: (r) => {
          clearTimeout(timer)
          resolve(r as Extract<Reply, { type: T }>)
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
    })
  }

  async request<T extends Reply['type']>(cmd: Command, type: T, timeoutMs?: number): Promise<Extract<Reply, { type: T }>> {
    const p = this.wait(type, timeoutMs)
    this.send(cmd)
    return p
  }

  exited(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve()
    return new Promise((r) => this.proc.once('exit', () => r()))
  }
}

function secretKeyHex(i: number): string {
  const k = new Uint8Array(32)
  k[30] = 0xbc
  k[31] = i + 1
  return Buffer.from(k).toString('hex')
}

async function until(what: string, cond: () => boolean, children: readonly Child[]): Promise<number> {
  const t0 = Date.now()
  while (!cond()) {
    const failed = children.find((c) => c.error !== undefined)
    if (failed) throw new Error(`node ${failed.index} failed while waiting for ${what}: ${failed.error}`)
    if (Date.now() - t0 > SETUP_TIMEOUT_MS) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
  return Date.now() - t0
}

// ---------------------------------------------------------------------------------------------
// One run

interface RunFigures {
  deliveredPerNode: number[]
  /** From the author's host.request call to the op applied at each other node. */
  latenciesFromSubmitMs: number[]
  /** From the author's host.request call to its own reply (fotb: durable; totb: applied in the order). */
  replyLatenciesMs: number[]
  undeliveredFromSubmit: number
  pairsFromSubmit: number
  authoredPerNode: number[]
  latenciesMs: number[]
  undelivered: number
  pairs: number
  results: NodeResult[]
  setupMs: number
  timeline: { applied: number[]; authored: number[] }[]
  /** Seconds after the window until every node had applied every op (or the drain cap). */
  drainS: number
}

async function oneRun(opts: Options, cfg: Config, run: number, profileDir: string | undefined): Promise<RunFigures> {
  const NODES = cfg.nodes
  const tag = `${configKey(cfg)} run ${run}`
  const root = mkdtempSync(join(os.tmpdir(), 'paciofs-broadcast-bench-'))
  const children: Child[] = []
  const t0 = Date.now()
  try {
    for (let i = 0; i < NODES; i++) children.push(new Child(i, opts.profile === i ? profileDir : undefined, opts.checkout))
    await Promise.all(
      children.map(async (c) => {
        const r = await c.request({ type: 'init', index: c.index, dataDir: join(root, `n${c.index}`), secretKeyHex: secretKeyHex(c.index) }, 'ready')
        c.pid = r.pid
        c.port = r.port
      }),
    )
    for (const c of children) c.send({ type: 'peers', peers: children.filter((o) => o.index < c.index).map((o) => ({ host: '127.0.0.1', port: o.port })) })
    // fotb: node 0 creates the volume and the others join (voted in); totb: every node is a
    // founder (the genesis names them all), each takes the genesis and is a member at once.
    const founders = cfg.order === 'totb' ? children.slice(1).map((c) => c.pid) : []
    const { genesis } = await children[0]!.request({ type: 'create', volume: VOLUME, order: cfg.order, founders }, 'genesis')
    if (cfg.order === 'totb') children[0]!.members = Math.max(children[0]!.members, NODES)
    await Promise.all(
      children.slice(1).map(async (c) => {
        const r = await c.request({ type: 'join', genesis: genesis as Genesis, contacts: [children[0]!.pid] }, 'joined')
        c.members = Math.max(c.members, r.members)
      }),
    )
    const ms = await until(`${NODES} members on every node`, () => children.every((c) => c.members === NODES), children)
    await Promise.all(children.map((c) => c.request({ type: 'prepare' }, 'prepared')))
    const setupMs = Date.now() - t0
    progress(`${tag}: processes up, volume of ${NODES} members agreed after ${ms} ms (setup ${(setupMs / 1000).toFixed(1)} s); writing for ${opts.warmupS} s warm-up + ${opts.durationS} s`)

    const startAt = wall() + 300
    const windowStart = startAt + opts.warmupS * 1000
    const endAt = windowStart + opts.durationS * 1000
    for (const c of children) c.send({ type: 'start', startAt, endAt, writers: cfg.writers, op: opts.op, payloadBytes: opts.bytes })
    while (wall() < endAt) {
      const failed = children.find((c) => c.error !== undefined)
      if (failed) throw new Error(`node ${failed.index} failed: ${failed.error}`)
      await sleep(100)
    }
    // Drain: until every node applied every op the others authored (FIFO per author: the
    // highest applied seq tells), at most drainS seconds after the window.
    let drainedAt = Infinity
    for (let last: Extract<Reply, { type: 'progress' }>[] = []; ; ) {
      await sleep(200)
      last = await Promise.all(children.map((c) => c.request({ type: 'progress' }, 'progress', 30_000)))
      const done = last.every((a, i) => a.inFlight === 0 && (a.ownLast === 0 || last.every((r, j) => j === i || (r.appliedMax[a.pid] ?? 0) >= a.ownLast)))
      if (done) {
        drainedAt = wall()
        break
      }
      if (wall() >= endAt + opts.drainS * 1000) break
    }
    const drainEnd = Math.min(drainedAt, wall())
    const results = await Promise.all(children.map(async (c) => (await c.request({ type: 'report' }, 'result', 30_000)).result))
    await Promise.all(children.map((c) => c.request({ type: 'stop' }, 'stopped', 30_000)))
    await Promise.all(children.map((c) => c.exited()))

    // Join: the author's durable time against the apply time at every other node.
    const applied = results.map((r) => {
      const m = new Map<string, number>()
      for (let k = 0; k < r.appliedSeqs.length; k++) m.set(`${r.authors[r.appliedAuthor[k]!]}/${r.appliedSeqs[k]}`, r.appliedTimes[k]!)
      return m
    })
    const inWindow = (t: number): boolean => t >= windowStart && t < endAt
    const latenciesMs: number[] = []
    let undelivered = 0
    let pairs = 0
    results.forEach((author, a) => {
      for (let k = 0; k < author.ownSeqs.length; k++) {
        const t = author.ownTimes[k]!
        if (!inWindow(t)) continue
        const key = `${author.pid}/${author.ownSeqs[k]}`
        results.forEach((_, r) => {
          if (r === a) return
          pairs++
          const at = applied[r]!.get(key)
          if (at === undefined) {
            // Not applied by the end of the drain: at least this late (the figures become
            // lower bounds, and the table says so).
            undelivered++
            latenciesMs.push(drainEnd - t)
          } else latenciesMs.push(at - t)
        })
      }
    })
    // The same from the author's host.request call (the submit), for ops submitted in the window;
    // an op its author has not logged either counts as undelivered at every other node.
    const latenciesFromSubmitMs: number[] = []
    const replyLatenciesMs: number[] = []
    let undeliveredFromSubmit = 0
    let pairsFromSubmit = 0
    results.forEach((author, a) => {
      const others = results.length - 1
      for (let k = 0; k < author.ownSeqs.length; k++) {
        const s = author.ownSubmitTimes[k]!
        if (!inWindow(s)) continue
        replyLatenciesMs.push(author.ownTimes[k]! - s)
        const key = `${author.pid}/${author.ownSeqs[k]}`
        results.forEach((_, r) => {
          if (r === a) return
          pairsFromSubmit++
          const at = applied[r]!.get(key)
          if (at === undefined) {
            undeliveredFromSubmit++
            latenciesFromSubmitMs.push(drainEnd - s)
          } else latenciesFromSubmitMs.push(at - s)
        })
      }
      for (const s of author.unloggedSubmitTimes) {
        if (!inWindow(s)) continue
        replyLatenciesMs.push(drainEnd - s)
        for (let r = 0; r < others; r++) {
          pairsFromSubmit++
          undeliveredFromSubmit++
          latenciesFromSubmitMs.push(drainEnd - s)
        }
      }
    })
    // Per second from the writers' start to the end of the drain: what each node applied of
    // others' ops, and authored (to see backlogs build and drain).
    const buckets = Math.ceil((endAt + opts.drainS * 1000 - startAt) / 1000)
    const perSecond = (times: readonly number[]): number[] => {
      const b = new Array<number>(buckets).fill(0)
      for (const t of times) {
        const k = Math.floor((t - startAt) / 1000)
        if (k >= 0 && k < buckets) b[k]!++
      }
      return b
    }
    const timeline = results.map((r) => ({ applied: perSecond(r.appliedTimes), authored: perSecond(r.ownTimes) }))
    const deliveredPerNode = results.map((r) => r.appliedTimes.filter(inWindow).length / opts.durationS)
    const authoredPerNode = results.map((r) => r.ownTimes.filter(inWindow).length / opts.durationS)
    return { deliveredPerNode, latenciesFromSubmitMs, replyLatenciesMs, undeliveredFromSubmit, pairsFromSubmit, authoredPerNode, latenciesMs, undelivered, pairs, results, setupMs, timeline, drainS: (drainEnd - endAt) / 1000 }
  } finally {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL')
    rmSync(root, { recursive: true, force: true })
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

// ---------------------------------------------------------------------------------------------
// The top of a CPU profile (self time by function)

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

/** Self and inclusive time by function, in % of the busy (non-idle) samples. */
function profileTop(file: string, top: number): { self: { fn: string; pct: number }[]; inclusive: { fn: string; pct: number }[]; seconds: number; busySeconds: number } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const label = (n: ProfileNode): string => {
    const url = n.callFrame.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules\/)/, '$1').replace(/^.*\/(core|runtime|bench|sim)\//, '$1/')
    return `${n.callFrame.functionName || '(anonymous)'} ${url}${url ? `:${n.callFrame.lineNumber + 1}` : ''}`
  }
  const perNode = new Map<number, number>()
  let total = 0
  p.samples.forEach((id, i) => {
    const d = p.timeDeltas[i] ?? 0
    perNode.set(id, (perNode.get(id) ?? 0) + d)
    total += d
  })
  const self = new Map<string, number>()
  const incl = new Map<string, number>()
  for (const [id, t] of perNode) {
    const l = label(byId.get(id)!)
    self.set(l, (self.get(l) ?? 0) + t)
    const seen = new Set<string>()
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const ll = label(byId.get(x)!)
      if (seen.has(ll)) continue
      seen.add(ll)
      incl.set(ll, (incl.get(ll) ?? 0) + t)
    }
  }
  const idle = self.get('(idle) ') ?? 0
  self.delete('(idle) ')
  incl.delete('(idle) ')
  const busy = total - idle
  const list = (m: Map<string, number>) =>
    [...m]
      .filter(([fn]) => !/^\((root|program)\)/.test(fn))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, t]) => ({ fn, pct: Math.round((1000 * t) / busy) / 10 }))
  return { self: list(self), inclusive: list(incl), seconds: total / 1e6, busySeconds: busy / 1e6 }
}

// ---------------------------------------------------------------------------------------------

interface ConfigData {
  figures: Record<string, number[]>
  perRun: unknown[]
}

function newFigures(): Record<string, number[]> {
  return {
    delivered_ops_per_s_min_node: [],
    delivered_ops_per_s_mean_node: [],
    authored_ops_per_s_total: [],
    latency_submit_p50_ms: [],
    latency_submit_p99_ms: [],
    latency_submit_mean_ms: [],
    latency_submit_max_ms: [],
    reply_latency_p50_ms: [],
    reply_latency_p99_ms: [],
    latency_p50_ms: [],
    latency_p99_ms: [],
    latency_mean_ms: [],
    latency_max_ms: [],
    undelivered_after_drain: [],
    undelivered_from_submit_after_drain: [],
    drain_s: [],
    request_timeouts: [],
    request_failures: [],
    cpu_s_per_node_mean: [],
    setup_s: [],
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  const m = machine()
  const started = performance.now()
  const data = new Map<string, ConfigData>(opts.configs.map((c) => [configKey(c), { figures: newFigures(), perRun: [] }]))
  let profile: (ReturnType<typeof profileTop> & { config: string }) | undefined
  for (let run = 1; run <= opts.runs; run++) {
    // Within a run, the configurations one after another (fotb and totb alternate).
    for (const cfg of opts.configs) {
      const key = configKey(cfg)
      const { figures, perRun } = data.get(key)!
      const NODES = cfg.nodes
      const profileDir = opts.profile !== undefined && run === 1 && profile === undefined && (opts.configs.length === 1 || cfg.order === 'totb') ? mkdtempSync(join(os.tmpdir(), 'paciofs-broadcast-prof-')) : undefined
      const r = await oneRun(opts, cfg, run, profileDir)
      const pct = (a: readonly number[]) => {
        const sorted = [...a].sort((x, y) => x - y)
        return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: sorted.reduce((x, y) => x + y, 0) / Math.max(1, sorted.length), max: sorted[sorted.length - 1] ?? NaN }
      }
      const old = pct(r.latenciesMs)
      const sub = pct(r.latenciesFromSubmitMs)
      const rep = pct(r.replyLatenciesMs)
      const cpu = r.results.map((n) => n.cpuUserS + n.cpuSystemS)
      figures.delivered_ops_per_s_min_node!.push(Math.min(...r.deliveredPerNode))
      figures.delivered_ops_per_s_mean_node!.push(r.deliveredPerNode.reduce((a, b) => a + b, 0) / NODES)
      figures.authored_ops_per_s_total!.push(r.authoredPerNode.reduce((a, b) => a + b, 0))
      figures.latency_submit_p50_ms!.push(sub.p50)
      figures.latency_submit_p99_ms!.push(sub.p99)
      figures.latency_submit_mean_ms!.push(sub.mean)
      figures.latency_submit_max_ms!.push(sub.max)
      figures.reply_latency_p50_ms!.push(rep.p50)
      figures.reply_latency_p99_ms!.push(rep.p99)
      figures.latency_p50_ms!.push(old.p50)
      figures.latency_p99_ms!.push(old.p99)
      figures.latency_mean_ms!.push(old.mean)
      figures.latency_max_ms!.push(old.max)
      figures.undelivered_after_drain!.push(r.undelivered)
      figures.undelivered_from_submit_after_drain!.push(r.undeliveredFromSubmit)
      figures.drain_s!.push(r.drainS)
      figures.request_timeouts!.push(r.results.reduce((a, n) => a + n.timeouts, 0))
      figures.request_failures!.push(r.results.reduce((a, n) => a + n.failures, 0))
      figures.cpu_s_per_node_mean!.push(cpu.reduce((a, b) => a + b, 0) / NODES)
      figures.setup_s!.push(r.setupMs / 1000)
      perRun.push({
        run,
        deliveredOpsPerSPerNode: r.deliveredPerNode,
        authoredOpsPerSPerNode: r.authoredPerNode,
        latencyPairs: r.pairs,
        latencyPairsFromSubmit: r.pairsFromSubmit,
        timelinePerSecondFromStart: r.timeline,
        undelivered: r.undelivered,
        undeliveredFromSubmit: r.undeliveredFromSubmit,
        nodes: r.results.map((n) => ({
          pid: n.pid.slice(0, 16),
          requests: n.requests,
          failures: n.failures,
          timeouts: n.timeouts,
          unloggedSubmits: n.unloggedSubmitTimes.length,
          rssMiB: n.rssMiB,
          cpuUserS: n.cpuUserS,
          cpuSystemS: n.cpuSystemS,
          hostStats: n.hostStats,
          transportStats: n.transportStats,
          volumeStats: n.volumeStats,
          fotbStats: n.fotbStats,
          totbStats: n.totbStats,
        })),
      })
      progress(
        `${key} run ${run}/${opts.runs}: delivered ops/s per node ${r.deliveredPerNode.map(fmt).join(' / ')}; authored ${r.authoredPerNode.map(fmt).join(' / ')}; ` +
          `submit -> applied elsewhere p50 ${fmt(sub.p50)} ms, p99 ${fmt(sub.p99)} ms; submit -> own reply p50 ${fmt(rep.p50)} ms, p99 ${fmt(rep.p99)} ms; ` +
          `author logged -> applied elsewhere p50 ${fmt(old.p50)} ms, p99 ${fmt(old.p99)} ms; ${r.undeliveredFromSubmit} of ${r.pairsFromSubmit} (op, node) pairs not applied within ${opts.drainS} s; all applied ${fmt(r.drainS)} s after the window; ` +
          `cpu s per node ${cpu.map(fmt).join(' / ')}`,
      )
      if (profileDir) {
        const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))
        if (files.length > 0) {
          profile = { config: key, ...profileTop(join(profileDir, files[0]!), 25) }
          progress(`profile of node ${opts.profile} in ${key} (${fmt(profile.seconds)} s sampled, ${fmt(profile.busySeconds)} s busy; % of busy time, start-up included), self time:`)
          for (const x of profile.self) progress(`  ${String(x.pct).padStart(5)} %  ${x.fn}`)
          progress('inclusive:')
          for (const x of profile.inclusive) progress(`  ${String(x.pct).padStart(5)} %  ${x.fn}`)
        } else progress('no profile was written')
        rmSync(profileDir, { recursive: true, force: true })
      }
    }
  }

  const summaries = new Map<string, Record<string, Summary>>()
  for (const [key, d] of data) {
    const results: Record<string, Summary> = {}
    for (const [k, a] of Object.entries(d.figures)) results[k] = summarize(a)
    summaries.set(key, results)
  }
  const seconds = (performance.now() - started) / 1000
  const first = configKey(opts.configs[0]!)
  const single = opts.configs.length === 1
  const path = writeResults(opts.results, {
    name: 'broadcast',
    checkout: { dir: opts.checkout, commit: commitOf(opts.checkout) },
    date: new Date().toISOString(),
    machine: m,
    config: {
      quick: opts.quick,
      runs: opts.runs,
      configs: opts.configs.map(configKey),
      ...(single ? { nodes: opts.configs[0]!.nodes, order: opts.configs[0]!.order } : {}),
      alternation: 'each run measures every configuration once, one after another, in this order',
      processes: 'one child process per node (bench/broadcast-node.ts), NodeHost on 127.0.0.1, nodeCrypto',
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      drainS: opts.drainS,
      writersPerNode: opts.writers,
      ...(single ? { writers: opts.configs[0]!.writers } : {}),
      op: opts.op === 'write' ? `write of ${opts.bytes} bytes at offset 0 of the writer's own file` : 'create of a new file',
      goals: {
        fotb: { delivered_ops_per_s_each_node: GOAL_OPS_PER_S, latency_p99_ms: GOAL_P99_MS },
        totb: { delivered_ops_per_s_each_node: GOAL_TOTB_OPS_PER_S, latency_submit_p99_ms: GOAL_TOTB_P99_MS },
      },
      figures: {
        latency_submit: "from the author's host.request call to the op applied at each other node (both orders; issue 13's figure)",
        reply_latency: "from the author's host.request call to its reply (fotb: records durable; totb: applied in the order)",
        latency: "(the older figure) from the author's own 'logged' event (fotb: durable, right before the reply; totb: applied in the order) to applied at each other node",
      },
    },
    prototype: PROTOTYPE,
    seconds,
    // The first configuration's figures, where `npm run bench`'s summary reads them.
    results: summaries.get(first),
    byConfig: Object.fromEntries(opts.configs.map((c) => [configKey(c), { order: c.order, nodes: c.nodes, writers: c.writers, results: summaries.get(configKey(c)), perRun: data.get(configKey(c))!.perRun }])),
    ...(profile ? { profile: { node: opts.profile, ...profile } } : {}),
  })
  progress(`wrote ${path} (${seconds.toFixed(1)} s)`)

  const cell = (key: string, fig: string): string => {
    const s = summaries.get(key)![fig]!
    const bounded = fig.startsWith('latency_submit') || fig.startsWith('reply_')
      ? summaries.get(key)!.undelivered_from_submit_after_drain!.max > 0
      : fig.startsWith('latency_') && summaries.get(key)!.undelivered_after_drain!.max > 0
    const v = `${fmt(s.median)}${opts.runs > 1 ? ` (${fmt(s.min)}–${fmt(s.max)})` : ''}`
    return bounded ? `>= ${v}` : v
  }
  console.log(`## Broadcast end to end: fotb and totb on loopback, one process per node (${opts.quick ? 'quick' : 'full'}, ${opts.runs} run${opts.runs > 1 ? 's' : ''} of each configuration)\n`)
  console.log(`${m.model} x${m.cpus}, node ${m.node}, ${m.platform}, load ${m.loadavg.join(' ')}; ${seconds.toFixed(1)} s in all`)
  console.log(`closed-loop writers per node as in the table, ${opts.op === 'write' ? `${opts.bytes}-byte writes` : 'creates'}, ${opts.warmupS} s warm-up, ${opts.durationS} s measured, ${opts.drainS} s drain; median (min–max) of runs\n`)
  const rows: (string | number)[][] = [['order', 'nodes', 'writers/node', 'applied ops/s, slowest node', 'submit -> applied elsewhere p50 ms', 'p99 ms', 'submit -> own reply p50 / p99 ms', 'author logged -> applied elsewhere p99 ms', 'cpu s/node', 'goal (ops/s, p99)']]
  for (const c of opts.configs) {
    const k = configKey(c)
    const s = summaries.get(k)!
    const goal = c.order === 'totb'
      ? `>= ${fmt(GOAL_TOTB_OPS_PER_S)}, <= ${GOAL_TOTB_P99_MS} ms: ${s.delivered_ops_per_s_min_node!.median >= GOAL_TOTB_OPS_PER_S && s.latency_submit_p99_ms!.median <= GOAL_TOTB_P99_MS ? 'met' : 'missed'}`
      : `>= ${fmt(GOAL_OPS_PER_S)}, <= ${GOAL_P99_MS} ms: ${s.delivered_ops_per_s_min_node!.median >= GOAL_OPS_PER_S && s.latency_submit_p99_ms!.median <= GOAL_P99_MS ? 'met' : 'missed'}`
    rows.push([c.order, c.nodes, c.writers, cell(k, 'delivered_ops_per_s_min_node'), cell(k, 'latency_submit_p50_ms'), cell(k, 'latency_submit_p99_ms'), `${cell(k, 'reply_latency_p50_ms')} / ${cell(k, 'reply_latency_p99_ms')}`, cell(k, 'latency_p99_ms'), cell(k, 'cpu_s_per_node_mean'), goal])
  }
  for (const p of PROTOTYPE) rows.push([`${p.system}`, '', '', p.msgPerS, '', '', '', p.latency, '', 'reference'])
  console.log(markdownTable(rows, [false, true, true, true, true, true, true, true, true, false]))
  const missing = [...summaries].filter(([, s]) => s.undelivered_from_submit_after_drain!.max > 0 || s.request_timeouts!.max > 0 || s.request_failures!.max > 0)
  for (const [k, s] of missing) console.log(`\n${k}: up to ${s.undelivered_from_submit_after_drain!.max} (op, node) pairs not applied within the drain (latencies marked >= are lower bounds), ${s.request_timeouts!.max} request timeouts, ${s.request_failures!.max} failed requests in a run`)
  console.log('\nThe prototype as published (Spenger, MSc thesis, 2020; other machine, other setup) is for reference only.')
}

await main()
