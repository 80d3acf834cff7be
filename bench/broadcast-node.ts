// One node of bench/broadcast-bench.ts, in a child process of its own: a NodeHost with nodeCrypto
// on loopback, steered by the parent over the IPC channel (child_process.fork). Not run alone.
//
// Parent -> child: init, peers, create, join, prepare, start, progress, report, stop (see Command).
// Child -> parent: ready, genesis, joined, members, prepared, progress, result, stopped, error.
//
// What it records (clock: performance.timeOrigin + performance.now(), a wall clock in ms that
// processes on one machine share):
// - submit: for every fs request, the time of its host.request call; own ops are matched to their
//   submits in order (the host steps requests in the order they came, and each author's ops are
//   logged in seq order, in fotb at once, in totb once applied in the order);
// - own: for every own op logged (its 'logged' VolumeUp, performed right after the step's records
//   are durable, just before the request's reply): the seq and the time = "the author's fsync
//   returned" (fotb: the step that took the request; totb: the step that applied it in the order);
// - applied: for every op of another author logged here (fetched and applied: remote_get done,
//   applyOp run, records durable): the author, seq and time.
import { rmSync } from 'node:fs'
import { NodeHost } from '../runtime/host.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import { fromHex } from '../core/bytes.ts'
import { membersOf, type Genesis, type VolumeUp } from '../core/volume/index.ts'
import type { NodeReply } from '../core/node.ts'
import type { Pid, VolumeName } from '../core/types.ts'

export type Command =
  | { readonly type: 'init'; readonly index: number; readonly dataDir: string; readonly secretKeyHex: string }
  | { readonly type: 'peers'; readonly peers: readonly { host: string; port: number }[] }
  | { readonly type: 'create'; readonly volume: string; readonly order: 'fotb' | 'totb'; readonly founders: readonly string[] }
  | { readonly type: 'join'; readonly genesis: Genesis; readonly contacts: readonly string[] }
  | { readonly type: 'prepare' }
  | { readonly type: 'start'; readonly startAt: number; readonly endAt: number; readonly writers: number; readonly op: 'write' | 'create'; readonly payloadBytes: number }
  | { readonly type: 'progress' }
  | { readonly type: 'report' }
  | { readonly type: 'stop' }

export interface NodeResult {
  readonly pid: string
  /** Own ops: seq and durable time, in log order, and the time of the host.request call. */
  readonly ownSeqs: number[]
  readonly ownTimes: number[]
  readonly ownSubmitTimes: number[]
  /** Submits of requests never logged here by the report (not ordered or applied yet, failed, or
   *  given up while queued). */
  readonly unloggedSubmitTimes: number[]
  /** Ops of other authors applied here: author index (into `authors`), seq, time. */
  readonly authors: string[]
  readonly appliedAuthor: number[]
  readonly appliedSeqs: number[]
  readonly appliedTimes: number[]
  readonly requests: number
  readonly failures: number
  /** Requests not answered within the host's request timeout (REQUEST_TIMEOUT_MS). */
  readonly timeouts: number
  readonly hostStats: Record<string, number>
  readonly transportStats: Record<string, number>
  readonly coreStats: Record<string, number>
  readonly volumeStats: Record<string, number>
  readonly fotbStats: Record<string, number>
  /** totb volumes: totb's counters and where the order got to. */
  readonly totbStats: Record<string, number>
  readonly rssMiB: number
  readonly cpuUserS: number
  readonly cpuSystemS: number
}

export type Reply =
  | { readonly type: 'ready'; readonly pid: string; readonly port: number }
  | { readonly type: 'genesis'; readonly genesis: Genesis }
  | { readonly type: 'joined'; readonly members: number }
  | { readonly type: 'members'; readonly count: number }
  | { readonly type: 'prepared' }
  /** The last own seq logged, and per other author the highest seq applied here. */
  | { readonly type: 'progress'; readonly pid: string; readonly ownLast: number; readonly inFlight: number; readonly appliedMax: Record<string, number> }
  | { readonly type: 'result'; readonly result: NodeResult }
  | { readonly type: 'stopped' }
  | { readonly type: 'error'; readonly message: string }

const cred = { uid: 1000, gid: 1000 }
/** A closed-loop writer waits for its reply: longer than the host's default of 10 s, since an
 *  overloaded node can keep a request queued that long (counted in `timeouts` if it does). */
const REQUEST_TIMEOUT_MS = 60_000
const LOCAL = '127.0.0.1'
const wall = (): number => performance.timeOrigin + performance.now()

let host: NodeHost | undefined
let index = 0
let volume = 'bench' as VolumeName
let dataDir = ''
const ownSeqs: number[] = []
const ownTimes: number[] = []
const authorIndex = new Map<string, number>()
const authors: string[] = []
const appliedAuthor: number[] = []
const appliedSeqs: number[] = []
const appliedTimes: number[] = []
const appliedMax = new Map<string, number>()
let requests = 0
let failures = 0
let timeouts = 0
let writing: Promise<void> | undefined
let order: 'fotb' | 'totb' = 'fotb'
/** Every fs request in submission order; own logged ops consume it in that order. */
interface Submit { readonly t: number; failed: boolean }
const submits: Submit[] = []
let submitCursor = 0
const ownSubmitTimes: number[] = []
let inFlight = 0

/** An fs call through host.request, its submit time noted for the own op it becomes. */
async function fsRequest(call: Extract<Parameters<NodeHost['request']>[0], { type: 'fs' }>['call']): Promise<NodeReply> {
  const s: Submit = { t: wall(), failed: false }
  submits.push(s)
  inFlight++
  try {
    const r = await host!.request({ type: 'fs', volume, call })
    // totb: a call that fails in planning is answered at once and logged nowhere.
    if (!r.ok && order === 'totb') s.failed = true
    return r
  } finally {
    inFlight--
  }
}

function nextSubmit(): number {
  while (submitCursor < submits.length && submits[submitCursor]!.failed) submitCursor++
  const s = submits[submitCursor++]
  return s === undefined ? NaN : s.t
}

function send(msg: Reply): void {
  process.send!(msg)
}

function fail(err: unknown): void {
  send({ type: 'error', message: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) })
}

function onUp(_v: VolumeName, up: VolumeUp): void {
  if (up.type === 'members') {
    send({ type: 'members', count: up.members.length })
    return
  }
  if (up.type !== 'logged') return
  const t = wall()
  const r = up.record
  if (r.seq === null) {
    // fotb: a local call that failed, logged without a ledger entry: it used its submit.
    if (r.author === host!.pid) nextSubmit()
    return
  }
  if (r.author === host!.pid) {
    ownSeqs.push(r.seq)
    ownTimes.push(t)
    ownSubmitTimes.push(nextSubmit())
    return
  }
  let a = authorIndex.get(r.author)
  if (a === undefined) {
    a = authors.length
    authors.push(r.author)
    authorIndex.set(r.author, a)
  }
  if (r.seq! > (appliedMax.get(r.author) ?? 0)) appliedMax.set(r.author, r.seq!)
  appliedAuthor.push(a)
  appliedSeqs.push(r.seq!)
  appliedTimes.push(t)
}

function fsTime(): { sec: number; nsec: number } {
  const now = Date.now()
  return { sec: Math.floor(now / 1000), nsec: (now % 1000) * 1_000_000 }
}

function check(r: NodeReply, what: string): void {
  if (!r.ok) throw new Error(`node ${index}: ${what} failed: ${JSON.stringify(r)}`)
}

/** One closed-loop writer: one request at a time, the next once the reply came. */
async function writer(w: number, endAt: number, op: 'write' | 'create', payloadBytes: number): Promise<void> {
  const data = new Uint8Array(payloadBytes)
  let i = 0
  while (wall() < endAt) {
    i++
    let r: NodeReply | undefined
    if (op === 'write') {
      // Distinct bytes every time, so that each write makes a new chunk (no dedup).
      data[0] = i & 0xff
      data[1] = (i >>> 8) & 0xff
      data[2] = (i >>> 16) & 0xff
      data[3] = w & 0xff
      r = await orTimeout(fsRequest({ type: 'write', path: `/n${index}/w${w}`, writes: [{ offset: 0, data: data.slice() }], cred, time: fsTime() }))
    } else {
      r = await orTimeout(fsRequest({ type: 'create', path: `/n${index}/c${w}-${i}`, mode: 0o644, cred, time: fsTime() }))
    }
    requests++
    if (r !== undefined && !r.ok) failures++
  }
}

/** A request that the host gave up on (HOST_REQUEST_TIMEOUT) stays queued and takes effect later;
 *  the writer counts it and goes on. Anything else is a failure of the run. */
async function orTimeout(p: Promise<NodeReply>): Promise<NodeReply | undefined> {
  try {
    return await p
  } catch (err) {
    if ((err as { code?: string }).code === 'HOST_REQUEST_TIMEOUT') {
      timeouts++
      return undefined
    }
    throw err
  }
}

function record(m: ReadonlyMap<string, number> | undefined): Record<string, number> {
  return m ? Object.fromEntries(m) : {}
}

async function handle(cmd: Command): Promise<void> {
  switch (cmd.type) {
    case 'init': {
      index = cmd.index
      dataDir = cmd.dataDir
      host = await NodeHost.start({
        dataDir,
        secretKey: fromHex(cmd.secretKeyHex)!,
        listen: { host: LOCAL, port: 0 },
        peers: [],
        crypto: nodeCrypto,
        reconnectMaxMs: 500,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
      })
      host.on('up', onUp)
      host.on('halt', (err) => fail(new Error(`node ${index} halted: ${err.message}`)))
      send({ type: 'ready', pid: host.pid, port: host.port })
      return
    }
    case 'peers':
      for (const p of cmd.peers) host!.addPeer(p)
      return
    case 'create': {
      volume = cmd.volume as VolumeName
      order = cmd.order
      const r = await host!.request(
        cmd.order === 'totb'
          ? { type: 'create-volume', name: volume, policy: 'majority', order: 'totb', founders: cmd.founders as Pid[] }
          : { type: 'create-volume', name: volume, policy: 'majority' },
      )
      if (!r.ok || !('genesis' in r)) throw new Error(`create-volume: ${JSON.stringify(r)}`)
      send({ type: 'genesis', genesis: r.genesis })
      return
    }
    case 'join': {
      volume = cmd.genesis.name
      order = cmd.genesis.order === 'totb' ? 'totb' : 'fotb'
      const r = await host!.request({ type: 'join-volume', genesis: cmd.genesis, contacts: cmd.contacts as Pid[] })
      check(r, 'join-volume')
      // A founder of the genesis is a member at once (no join entry, no members event).
      send({ type: 'joined', members: membersOf(host!.state.volumes.get(volume)!).length })
      return
    }
    case 'prepare': {
      check(await fsRequest({ type: 'mkdir', path: `/n${index}`, mode: 0o755, cred, time: fsTime() }), 'mkdir')
      send({ type: 'prepared' })
      return
    }
    case 'start': {
      const { startAt, endAt, writers, op, payloadBytes } = cmd
      writing = (async () => {
        await new Promise((r) => setTimeout(r, Math.max(0, startAt - wall())))
        if (op === 'write') {
          for (let w = 0; w < writers; w++) {
            check(await fsRequest({ type: 'create', path: `/n${index}/w${w}`, mode: 0o644, cred, time: fsTime() }), 'create')
          }
        }
        await Promise.all(Array.from({ length: writers }, (_, w) => writer(w, endAt, op, payloadBytes)))
      })()
      writing.catch(fail)
      return
    }
    case 'progress':
      send({ type: 'progress', pid: host!.pid, ownLast: ownSeqs[ownSeqs.length - 1] ?? 0, inFlight, appliedMax: Object.fromEntries(appliedMax) })
      return
    case 'report': {
      await writing
      const h = host!
      const v = h.state.volumes.get(volume)
      const usage = process.resourceUsage()
      send({
        type: 'result',
        result: {
          pid: h.pid,
          ownSeqs,
          ownTimes,
          ownSubmitTimes,
          unloggedSubmitTimes: submits.slice(submitCursor).filter((s) => !s.failed).map((s) => s.t),
          authors,
          appliedAuthor,
          appliedSeqs,
          appliedTimes,
          requests,
          failures,
          timeouts,
          hostStats: record(h.stats),
          transportStats: record(h.transportStats),
          coreStats: record(h.state.stats),
          volumeStats: record(v?.stats),
          fotbStats: record(v?.fotb.stats),
          totbStats: v?.order
            ? {
              ...record(v.order.totb.counters),
              position: v.order.totb.position,
              epoch: v.order.totb.epoch,
              orderedLeaderRound: v.order.totb.orderedLeaderRound,
              ownRound: v.order.totb.ownRound,
              leadersOrdered: v.order.waves,
              queue: v.order.queue.length,
              waiting: v.order.waiting.size,
            }
            : {},
          rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
          cpuUserS: usage.userCPUTime / 1e6,
          cpuSystemS: usage.systemCPUTime / 1e6,
        },
      })
      return
    }
    case 'stop': {
      await host?.stop()
      rmSync(dataDir, { recursive: true, force: true })
      send({ type: 'stopped' })
      // Exit on our own (a --cpu-prof profile is written at a normal exit).
      process.disconnect()
      setTimeout(() => process.exit(0), 50)
      return
    }
  }
}

// Commands run one after another, in the order they came.
let chain: Promise<void> = Promise.resolve()
process.on('message', (cmd: Command) => {
  chain = chain.then(() => handle(cmd)).catch(fail)
})
process.on('disconnect', () => {
  // The parent went away: do not linger.
  void host?.stop().finally(() => process.exit(0))
})
