// History for bench/scale-bench.ts phase (c): H small-file operations (seeded: 30 % create while
// fewer than 1000 are live, 30 % 1 KB write, 20 % rename, 20 % unlink of files under /history) applied through the node host of a checkout, without FUSE, on a
// stopped node's data directory. Imports the node service of the checkout given (by path, so one
// script drives this checkout and a baseline one alike) and uses only what every checkout since
// the runtime offers: PacioNode.start({ dataDir, listen }), node.host.request({ type: 'fs', ... })
// and node.stop().
//   node --import tsx bench/scale-history.ts --checkout DIR --data DIR --ops H [--window W] [--create]
// Prints one JSON line: ops, seconds, ops_per_s, the time the node took to start (restore from
// its store, no FUSE), store batches written, the process's RSS.
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { prng } from './bench-util.ts'

/** The little of a checkout's runtime this script needs (structural: checkouts differ). */
interface FsReply {
  readonly ok: boolean
  readonly errno?: string
  readonly detail?: string
}
interface HostLike {
  request(request: unknown, opts?: { readonly early?: boolean }): Promise<FsReply>
  readonly stats?: ReadonlyMap<string, number>
}
interface NodeLike {
  readonly host: HostLike
  stop(): Promise<void>
}
interface NodeServiceModule {
  PacioNode: { start(opts: { dataDir: string; listen: { host: string; port: number }; create?: readonly string[] }): Promise<NodeLike> }
}

const DIRS = 100
const FILE_BYTES = 1000
/** Live history files at most: at the cap a create becomes a write, so the live set stays small
 *  and the ops add history, not live files (phase (b) measures live files). With the default
 *  seed, 100k ops are 21,144 creates, 38,714 writes, 19,997 renames, 20,145 unlinks. */
const LIVE_MAX = 1000
const cred = { uid: 0, gid: 0 }


function rssMB(): { rss_MB: number; hwm_MB: number } {
  const s = readFileSync('/proc/self/status', 'utf8')
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN)
  return { rss_MB: (kb('VmRSS') * 1024) / 1e6, hwm_MB: (kb('VmHWM') * 1024) / 1e6 }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      checkout: { type: 'string' },
      data: { type: 'string' },
      ops: { type: 'string' },
      window: { type: 'string', default: '16' },
      volume: { type: 'string', default: 'default' },
      seed: { type: 'string', default: '11' },
      // make the volume first (a data directory made by `paciofs init --data DIR`; for use by
      // hand: the scale bench mounts first)
      create: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.checkout === undefined || values.data === undefined || values.ops === undefined) throw new Error('give --checkout, --data and --ops')
  const ops = Number(values.ops)
  const window = Number(values.window)
  if (!Number.isSafeInteger(ops) || ops < 0 || !Number.isSafeInteger(window) || window < 1) throw new Error('bad --ops or --window')
  const volume = values.volume!
  const mod = (await import(pathToFileURL(join(resolve(values.checkout), 'runtime/node-service.ts')).href)) as NodeServiceModule

  const t0 = performance.now()
  const node = await mod.PacioNode.start({ dataDir: resolve(values.data), listen: { host: '127.0.0.1', port: 0 }, ...(values.create ? { create: [volume] } : {}) })
  const start_ms = performance.now() - t0
  const rssStarted = rssMB()
  const batches0 = node.host.stats?.get('persist:batches') ?? 0

  const now = (): { sec: number; nsec: number } => {
    const ms = Date.now()
    return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 }
  }
  /** Up to `window` requests in flight: the host steps them in order, so an op may follow one
   *  on the same file that is still queued; the model below is updated as each is issued. */
  const inFlight = new Set<Promise<void>>()
  let failed: Error | undefined
  const issue = async (call: Record<string, unknown>): Promise<void> => {
    while (inFlight.size >= window) await Promise.race(inFlight)
    if (failed) throw failed
    const p: Promise<void> = node.host.request({ type: 'fs', volume, call: { ...call, cred, time: now() } }).then(
      (r) => {
        if (!r.ok) failed ??= new Error(`${String(call.type)} ${String(call.path ?? call.from)}: ${r.errno ?? '?'} ${r.detail ?? ''}`)
      },
      (err: unknown) => {
        failed ??= err as Error
      },
    ).finally(() => inFlight.delete(p))
    inFlight.add(p)
  }

  try {
    // Set-up (not counted): the directories, made unless an earlier run made them.
    const mk = async (path: string): Promise<void> => {
      const r = await node.host.request({ type: 'fs', volume, call: { type: 'mkdir', path, mode: 0o755, cred, time: now() } })
      if (!r.ok && r.errno !== 'EEXIST') throw new Error(`mkdir ${path}: ${r.errno ?? '?'}`)
    }
    await mk('/history')
    for (let d = 0; d < DIRS; d++) await mk(`/history/d${d}`)

    const rand = prng(Number(values.seed))
    const run = Date.now().toString(36) // names unique across repeated runs on one data dir
    const live: string[] = []
    const data = new Uint8Array(FILE_BYTES)
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256)
    const counts = { create: 0, write: 0, rename: 0, unlink: 0 }
    let made = 0
    const t1 = performance.now()
    for (let k = 0; k < ops; k++) {
      const x = rand()
      const pick = (): number => Math.floor(rand() * live.length)
      if (live.length === 0 || (x < 0.3 && live.length < LIVE_MAX)) {
        const path = `/history/d${made % DIRS}/${run}-${made}`
        made++
        live.push(path)
        counts.create++
        await issue({ type: 'create', path, mode: 0o644 })
      } else if (x < 0.6) {
        // distinct bytes per write: no chunk is deduplicated
        const d = data.slice()
        new DataView(d.buffer).setUint32(0, k)
        counts.write++
        await issue({ type: 'write', path: live[pick()]!, writes: [{ offset: 0, data: d }] })
      } else if (x < 0.8) {
        const i = pick()
        const from = live[i]!
        const to = `${from.replace(/\.r\d+$/, '')}.r${k}`
        live[i] = to
        counts.rename++
        await issue({ type: 'rename', from, to })
      } else {
        const i = pick()
        const path = live[i]!
        live[i] = live[live.length - 1]!
        live.pop()
        counts.unlink++
        await issue({ type: 'unlink', path })
      }
      if (k > 0 && k % 100_000 === 0) process.stderr.write(`scale-history: ${k} ops, ${Math.round(k / ((performance.now() - t1) / 1000))} ops/s\n`)
    }
    await Promise.all(inFlight)
    if (failed) throw failed
    const seconds = (performance.now() - t1) / 1000
    const batches = (node.host.stats?.get('persist:batches') ?? 0) - batches0
    process.stdout.write(JSON.stringify({ ops, window, counts, live_files_left: live.length, seconds, ops_per_s: ops / seconds, start_ms, store_batches: batches, rss_after_start_MB: rssStarted.rss_MB, ...rssMB() }) + '\n')
  } finally {
    await node.stop()
  }
}

await main()
