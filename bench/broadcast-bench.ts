// Broadcast end to end (issue 5, item 3): 3 nodes on loopback, one volume, each node a NodeHost
// with nodeCrypto in a child process of its own (bench/broadcast-node.ts), like
// test/host.test.ts but across processes. Node 0 creates the volume; nodes 1 and 2 join with the
// genesis (passed through this parent) and node 0 as contact; node i dials nodes 0..i-1.
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
// - latency from the author's durable reply (its own 'logged' up event, performed right before
//   the reply) to the op's application at each other node, for every op authored in the window,
//   p50/p99. After the window the nodes drain until every op is applied everywhere, at most
//   `--drain` seconds (full 15, quick 10); an op still not applied then counts with the time until
//   the cap (so the latency figures of that run are lower bounds, marked >= in the table) and in
//   `undelivered_after_drain`.
// The prototype's published figures are printed beside ours for reference.
//
//   npx tsx bench/broadcast-bench.ts [--quick] [--runs N] [--duration S] [--warmup S]
//       [--drain S] [--writers W] [--op write|create] [--bytes B] [--profile I]   (npm run bench:broadcast)
//       [--checkout DIR] [--results NAME]
// --checkout DIR runs the nodes from another checkout of the project (DIR/bench/broadcast-node.ts
// and the runtime and core beside it, with DIR's node_modules), measured by this parent: an A/B
// of two commits side by side in one session (bench/README.md). --results NAME writes
// bench/results/NAME.json instead of broadcast.json.
// --profile I runs node I under `node --cpu-prof` in the first run and prints the top of its
// profile. Writes bench/results/broadcast.json and prints a markdown table; progress to stderr.
import { execFileSync, fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fmt, machine, markdownTable, summarize, writeResults, type Summary } from './bench-util.ts'
import type { Command, NodeResult, Reply } from './broadcast-node.ts'
import type { Genesis } from '../core/volume/index.ts'

const NODES = 3
const VOLUME = 'bcast'
const GOAL_OPS_PER_S = 10_000
const GOAL_P99_MS = 100
const SETUP_TIMEOUT_MS = 60_000
const wall = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const progress = (s: string): void => void process.stderr.write(`[broadcast] ${s}\n`)

/** Spenger, MSc thesis, 2020 (the prototype): per-process message rates and mean latencies. */
const PROTOTYPE = [
  { system: 'fotb on MultiChain (prototype)', msgPerS: '740–898 per process', latency: '11.6–68.5 s (mean)' },
  { system: 'fotb on etcd (prototype variant)', msgPerS: '4,529–11,253', latency: '68–107 ms' },
]

interface Options {
  quick: boolean
  runs: number
  durationS: number
  warmupS: number
  drainS: number
  writers: number
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
  if (profile !== undefined && !(Number.isInteger(profile) && profile >= 0 && profile < NODES)) throw new Error(`--profile takes a node index 0..${NODES - 1}`)
  return {
    quick,
    runs: Math.round(num('--runs', quick ? 1 : 3)),
    durationS: num('--duration', quick ? 5 : 20),
    warmupS: num('--warmup', quick ? 2 : 3),
    drainS: num('--drain', quick ? 10 : 15),
    writers: Math.round(num('--writers', 1)),
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

async function oneRun(opts: Options, run: number, profileDir: string | undefined): Promise<RunFigures> {
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
    const { genesis } = await children[0]!.request({ type: 'create', volume: VOLUME }, 'genesis')
    await Promise.all(children.slice(1).map((c) => c.request({ type: 'join', genesis: genesis as Genesis, contacts: [children[0]!.pid] }, 'joined')))
    const ms = await until('three members on every node', () => children.every((c) => c.members === NODES), children)
    await Promise.all(children.map((c) => c.request({ type: 'prepare' }, 'prepared')))
    const setupMs = Date.now() - t0
    progress(`run ${run}: processes up, volume of ${NODES} members agreed after ${ms} ms (setup ${(setupMs / 1000).toFixed(1)} s); writing for ${opts.warmupS} s warm-up + ${opts.durationS} s`)

    const startAt = wall() + 300
    const windowStart = startAt + opts.warmupS * 1000
    const endAt = windowStart + opts.durationS * 1000
    for (const c of children) c.send({ type: 'start', startAt, endAt, writers: opts.writers, op: opts.op, payloadBytes: opts.bytes })
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
      const done = last.every((a, i) => a.ownLast === 0 || last.every((r, j) => j === i || (r.appliedMax[a.pid] ?? 0) >= a.ownLast))
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
    return { deliveredPerNode, authoredPerNode, latenciesMs, undelivered, pairs, results, setupMs, timeline, drainS: (drainEnd - endAt) / 1000 }
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

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  const m = machine()
  const started = performance.now()
  const figures: Record<string, number[]> = {
    delivered_ops_per_s_min_node: [],
    delivered_ops_per_s_mean_node: [],
    authored_ops_per_s_total: [],
    latency_p50_ms: [],
    latency_p99_ms: [],
    latency_mean_ms: [],
    latency_max_ms: [],
    undelivered_after_drain: [],
    drain_s: [],
    request_timeouts: [],
    setup_s: [],
  }
  const perRun: unknown[] = []
  let profile: ReturnType<typeof profileTop> | undefined
  for (let run = 1; run <= opts.runs; run++) {
    const profileDir = opts.profile !== undefined && run === 1 ? mkdtempSync(join(os.tmpdir(), 'paciofs-broadcast-prof-')) : undefined
    const r = await oneRun(opts, run, profileDir)
    const sorted = [...r.latenciesMs].sort((a, b) => a - b)
    const p50 = percentile(sorted, 50)
    const p99 = percentile(sorted, 99)
    const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)
    figures.delivered_ops_per_s_min_node!.push(Math.min(...r.deliveredPerNode))
    figures.delivered_ops_per_s_mean_node!.push(r.deliveredPerNode.reduce((a, b) => a + b, 0) / NODES)
    figures.authored_ops_per_s_total!.push(r.authoredPerNode.reduce((a, b) => a + b, 0))
    figures.latency_p50_ms!.push(p50)
    figures.latency_p99_ms!.push(p99)
    figures.latency_mean_ms!.push(mean)
    figures.latency_max_ms!.push(sorted[sorted.length - 1] ?? NaN)
    figures.undelivered_after_drain!.push(r.undelivered)
    figures.drain_s!.push(r.drainS)
    figures.request_timeouts!.push(r.results.reduce((a, n) => a + n.timeouts, 0))
    figures.setup_s!.push(r.setupMs / 1000)
    perRun.push({
      run,
      deliveredOpsPerSPerNode: r.deliveredPerNode,
      authoredOpsPerSPerNode: r.authoredPerNode,
      latencyPairs: r.pairs,
      timelinePerSecondFromStart: r.timeline,
      undelivered: r.undelivered,
      nodes: r.results.map((n) => ({
        pid: n.pid.slice(0, 16),
        requests: n.requests,
        failures: n.failures,
        timeouts: n.timeouts,
        rssMiB: n.rssMiB,
        cpuUserS: n.cpuUserS,
        cpuSystemS: n.cpuSystemS,
        hostStats: n.hostStats,
        transportStats: n.transportStats,
        volumeStats: n.volumeStats,
        fotbStats: n.fotbStats,
      })),
    })
    progress(
      `run ${run}/${opts.runs}: delivered ops/s per node ${r.deliveredPerNode.map(fmt).join(' / ')}; authored ${r.authoredPerNode.map(fmt).join(' / ')}; ` +
        `latency p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms, mean ${fmt(mean)} ms; ${r.undelivered} of ${r.pairs} (op, node) pairs not applied within ${opts.drainS} s; all applied ${fmt(r.drainS)} s after the window; ` +
        `cpu s per node ${r.results.map((n) => fmt(n.cpuUserS + n.cpuSystemS)).join(' / ')}`,
    )
    if (profileDir) {
      const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))
      if (files.length > 0) {
        profile = profileTop(join(profileDir, files[0]!), 25)
        progress(`profile of node ${opts.profile} (${fmt(profile.seconds)} s sampled, ${fmt(profile.busySeconds)} s busy; % of busy time, start-up included), self time:`)
        for (const x of profile.self) progress(`  ${String(x.pct).padStart(5)} %  ${x.fn}`)
        progress('inclusive:')
        for (const x of profile.inclusive) progress(`  ${String(x.pct).padStart(5)} %  ${x.fn}`)
      } else progress('no profile was written')
      rmSync(profileDir, { recursive: true, force: true })
    }
  }

  const results: Record<string, Summary> = {}
  for (const [k, a] of Object.entries(figures)) results[k] = summarize(a)
  const seconds = (performance.now() - started) / 1000
  const path = writeResults(opts.results, {
    name: 'broadcast',
    checkout: { dir: opts.checkout, commit: commitOf(opts.checkout) },
    date: new Date().toISOString(),
    machine: m,
    config: {
      quick: opts.quick,
      runs: opts.runs,
      nodes: NODES,
      processes: 'one child process per node (bench/broadcast-node.ts), NodeHost on 127.0.0.1, nodeCrypto',
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      drainS: opts.drainS,
      writersPerNode: opts.writers,
      op: opts.op === 'write' ? `write of ${opts.bytes} bytes at offset 0 of the node's own file` : 'create of a new file',
      goals: { delivered_ops_per_s_each_node: GOAL_OPS_PER_S, latency_p99_ms: GOAL_P99_MS },
    },
    prototype: PROTOTYPE,
    seconds,
    results,
    perRun,
    ...(profile ? { profile: { node: opts.profile, ...profile } } : {}),
  })
  progress(`wrote ${path} (${seconds.toFixed(1)} s)`)

  const lowerBound = results.undelivered_after_drain!.max > 0
  const row = (label: string, key: string, goal?: string): (string | number)[] => {
    const s = results[key]!
    if (lowerBound && key.startsWith('latency_')) {
      // Some runs left ops unapplied at the drain cap: their latency is only known to be at least
      // the time until then.
      const ge = (v: number, run: boolean): string => (run ? `>= ${fmt(v)}` : fmt(v))
      const bounded = (v: number): boolean => figures.undelivered_after_drain![figures[key]!.indexOf(v)]! > 0
      return [label, ge(s.median, bounded(s.median)), ge(s.min, bounded(s.min)), ge(s.max, bounded(s.max)), goal ?? '']
    }
    return [label, s.median, s.min, s.max, goal ?? '']
  }
  const ops = results.delivered_ops_per_s_min_node!.median
  const p99 = results.latency_p99_ms!.median
  console.log(`## Broadcast end to end: ${NODES} nodes on loopback, one process each (${opts.quick ? 'quick' : 'full'}, ${opts.runs} run${opts.runs > 1 ? 's' : ''})\n`)
  console.log(`${m.model} x${m.cpus}, node ${m.node}, ${m.platform}, load ${m.loadavg.join(' ')}; ${seconds.toFixed(1)} s in all`)
  console.log(`${opts.writers} closed-loop writer(s) per node, ${opts.op === 'write' ? `${opts.bytes}-byte writes` : 'creates'}, ${opts.warmupS} s warm-up, ${opts.durationS} s measured, ${opts.drainS} s drain\n`)
  console.log(
    markdownTable(
      [
        ['figure', 'median', 'min', 'max', 'goal'],
        row('delivered ops/s, the slowest node', 'delivered_ops_per_s_min_node', `>= ${fmt(GOAL_OPS_PER_S)} (${fmt((100 * ops) / GOAL_OPS_PER_S)} %)`),
        row('delivered ops/s, mean of nodes', 'delivered_ops_per_s_mean_node'),
        row('authored ops/s, all nodes', 'authored_ops_per_s_total'),
        row('latency p50, author durable -> applied elsewhere (ms)', 'latency_p50_ms'),
        row('latency p99 (ms)', 'latency_p99_ms', `<= ${GOAL_P99_MS} (${fmt(p99 / GOAL_P99_MS)}x)`),
        row('latency mean (ms)', 'latency_mean_ms'),
        row('latency max (ms)', 'latency_max_ms'),
        row(`(op, node) pairs not applied within ${opts.drainS} s after the window`, 'undelivered_after_drain'),
        row('seconds after the window until all were applied (capped)', 'drain_s'),
        row('writer requests not answered within 60 s (all nodes)', 'request_timeouts'),
      ],
      [false, true, true, true, true],
    ),
  )
  console.log('\nFor reference, the prototype as published (Spenger, MSc thesis, 2020; other machine, other setup):\n')
  console.log(markdownTable([['system', 'msg/s', 'latency'], ...PROTOTYPE.map((p) => [p.system, p.msgPerS, p.latency])], [false, true, true]))
}

await main()
