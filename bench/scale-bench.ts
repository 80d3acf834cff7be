// npm run bench:scale [-- --quick] [-- --content-gib N --files K --history-ops H] [-- --checkout DIR]...
// An archive larger than memory (issue 11): what a mount costs in memory and time as content,
// live files and history grow. Not a timed test; figures go to bench/results/scale.json (or
// --results NAME) and a markdown table on stdout (and --markdown FILE).
//
// Per checkout (default: this one; several --checkout for A/B in one run: every phase runs for
// each checkout in turn before the next phase starts), on a fresh data directory:
//   (a) content: `paciofs mount` (local mode, the checkout's bin/paciofs.js, its own process);
//       N GiB written through the mount as files of --content-file-mib (1 GiB) by a child process,
//       every 4 KiB stamped with file and offset (no chunk deduplicates); the mount process's
//       VmRSS / VmHWM from /proc/<pid>/status after a settle pause.
//   (b) live files: K files of 1 KiB created through the mount, in two halves with a settled RSS
//       between them; RSS per live file raw = (RSS after - RSS before) / K, and per half (the
//       second half's slope: the margin, without what fills once in the first). Then stat of the K files (stats/s), read back and compare
//       (files/s), and read back + compare of the first content file (MB/s): the "before" figures.
//   (c) history: the mount stopped, H small-file operations (create / 1 KB write / rename /
//       unlink, at most 1000 of them liveProcs) applied through the checkout's node host without FUSE
//       (bench/scale-history.ts imports the checkout's runtime/node-service.ts by path).
//   (d) remount: `paciofs mount` again, timed from spawn until a stat of the first content file
//       from this process answers with its size; RSS after remount; the stat / read figures of
//       (b) again ("after").
//   (f) append: 4 KiB + fsync at the end of a 1 MiB file and of the first content file (1 GiB),
//       alternating, median µs each; then the mount is stopped.
//   (e) verify: `paciofs verify --data DIR` (node stopped) under /usr/bin/time: wall time, peak
//       RSS, clean or not. It runs last so that (f)'s mount is not a third start; it then also
//       covers (f)'s appends.
//
// This process serves no mount: everything touching a mount runs in child processes (workers of
// this file: `--worker <kind>`), synchronous I/O there is safe (../shared/DESIGN.md).
import { spawnSync } from 'node:child_process'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cleanupStaleMount, findMount } from '../runtime/fuse.ts'
import { alive, fmt, liveProcs, machine, markdownTable, prng, runChild, startProc, writeResults, type Proc } from './bench-util.ts'

const SELF = fileURLToPath(import.meta.url)
const HERE = dirname(SELF)
const HISTORY = join(HERE, 'scale-history.ts')
const MiB = 2 ** 20
const GiB = 2 ** 30
const SMALL_FILE_BYTES = 1024
const SMALL_DIRS = 100
const APPEND_BYTES = 4096
const APPEND_SMALL_FILE_BYTES = MiB
const STAMP_MAGIC = 0x5ca1eb0b

// ---- content: a seeded pool, every 4 KiB stamped with (file, offset) ---------------------------


function pool(bytes: number, seed: number): Buffer {
  const rand = prng(seed)
  const b = Buffer.alloc(bytes)
  for (let i = 0; i + 4 <= bytes; i += 4) b.writeUInt32LE(Math.floor(rand() * 2 ** 32), i)
  return b
}

/** Writes the stamps of the bytes at file offset `at` into `buf` (4 KiB aligned, 16 bytes each). */
function stamp(buf: Buffer, file: number, at: number, length = buf.length): void {
  for (let b = 0; b + 16 <= length; b += 4096) {
    const off = at + b
    buf.writeUInt32LE(file, b)
    buf.writeUInt32LE(STAMP_MAGIC, b + 4)
    buf.writeUInt32LE(off % 2 ** 32, b + 8)
    buf.writeUInt32LE(Math.floor(off / 2 ** 32), b + 12)
  }
}

// ---- workers (child processes; synchronous I/O on the mount is safe here) -----------------------

function perSecond(n: number, t0: number): number {
  return n / ((performance.now() - t0) / 1000)
}

function writeAll(fd: number, buf: Buffer, length: number, position: number | null): void {
  for (let off = 0; off < length; ) off += writeSync(fd, buf, off, length - off, position === null ? null : position + off)
}

function workerWriteContent(path: string, bytes: number, file: number): Record<string, number> {
  const buf = pool(MiB, 1)
  const t0 = performance.now()
  const fd = openSync(path, 'wx')
  for (let at = 0; at < bytes; at += MiB) {
    const n = Math.min(MiB, bytes - at)
    stamp(buf, file, at, n)
    writeAll(fd, buf, n, null)
  }
  fsyncSync(fd)
  closeSync(fd)
  return { bytes, seconds: (performance.now() - t0) / 1000 }
}

function workerReadContent(path: string, file: number): Record<string, number> {
  const want = pool(MiB, 1)
  const got = Buffer.alloc(MiB)
  const t0 = performance.now()
  const fd = openSync(path, 'r')
  let at = 0
  for (;;) {
    let n = 0
    while (n < MiB) {
      const r = readSync(fd, got, n, MiB - n, at + n)
      if (r === 0) break
      n += r
    }
    if (n === 0) break
    stamp(want, file, at, n)
    if (!got.subarray(0, n).equals(want.subarray(0, n))) throw new Error(`${path}: other bytes than written at ${at}..${at + n}`)
    at += n
    if (n < MiB) break
  }
  closeSync(fd)
  return { bytes: at, seconds: (performance.now() - t0) / 1000 }
}

const smallName = (dir: string, i: number): string => join(dir, `d${i % SMALL_DIRS}`, `f${i}`)

function smallContent(base: Buffer, i: number): Buffer {
  const b = Buffer.from(base)
  b.writeUInt32LE(i, 0)
  b.writeUInt32LE(STAMP_MAGIC, 4)
  return b
}

/** Files [from, files) of the small-file set (create makes the directories when from is 0). */
function workerSmall(kind: 'create' | 'stat' | 'read', dir: string, files: number, from = 0): Record<string, number> {
  const base = pool(SMALL_FILE_BYTES, 2)
  if (kind === 'create' && from === 0) for (let d = 0; d < Math.min(SMALL_DIRS, files); d++) mkdirSync(join(dir, `d${d}`), { recursive: true })
  const t0 = performance.now()
  for (let i = from; i < files; i++) {
    const name = smallName(dir, i)
    if (kind === 'create') {
      const fd = openSync(name, 'wx')
      writeAll(fd, smallContent(base, i), SMALL_FILE_BYTES, null)
      closeSync(fd)
    } else if (kind === 'stat') {
      const size = statSync(name).size
      if (size !== SMALL_FILE_BYTES) throw new Error(`${name}: size ${size}, wrote ${SMALL_FILE_BYTES}`)
    } else if (!readFileSync(name).equals(smallContent(base, i))) throw new Error(`${name}: read back other bytes than written`)
  }
  return { files: files - from, per_s: perSecond(files - from, t0), seconds: (performance.now() - t0) / 1000 }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}

/** 4 KiB + fsync at the end of a fresh 1 MiB file and of `big`, alternating (which goes first
 *  alternates too), after a few unmeasured ones each. */
function workerAppend(small: string, big: string, appends: number): Record<string, number> {
  const init = pool(APPEND_SMALL_FILE_BYTES, 3)
  stamp(init, 1_000_000, 0)
  let fd = openSync(small, 'wx')
  writeAll(fd, init, init.length, null)
  fsyncSync(fd)
  closeSync(fd)
  const files = [small, big].map((path, k) => ({ path, fd: openSync(path, 'r+'), pos: statSync(path).size, us: [] as number[], file: 1_000_001 + k }))
  const buf = pool(APPEND_BYTES, 4)
  const WARMUP = 5
  for (let i = 0; i < appends + WARMUP; i++) {
    const order = i % 2 === 0 ? files : [files[1]!, files[0]!]
    for (const f of order) {
      stamp(buf, f.file, f.pos)
      const t0 = performance.now()
      writeAll(f.fd, buf, APPEND_BYTES, f.pos)
      fsyncSync(f.fd)
      const us = (performance.now() - t0) * 1000
      f.pos += APPEND_BYTES
      if (i >= WARMUP) f.us.push(us)
    }
  }
  for (const f of files) closeSync(f.fd)
  const [s, b] = files as [(typeof files)[0], (typeof files)[0]]
  return {
    appends,
    small_file_bytes: APPEND_SMALL_FILE_BYTES,
    big_file_bytes: b.pos - APPEND_BYTES * (appends + WARMUP),
    small_median_us: median(s.us),
    small_p90_us: quantile(s.us, 0.9),
    big_median_us: median(b.us),
    big_p90_us: quantile(b.us, 0.9),
  }
}

// ---- child processes --------------------------------------------------------------------------

/** A worker of this file in a child process; its last stdout line as JSON. */
async function worker(kind: string, args: readonly string[]): Promise<Record<string, number>> {
  const out = await runChild(`worker ${kind}`, process.execPath, ['--import', 'tsx', SELF, '--worker', kind, ...args])
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>
}

function log(line: string): void {
  process.stderr.write(line + '\n')
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function load1(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ')
}

// ---- memory of a process ------------------------------------------------------------------------

interface Mem {
  rss_MB: number
  hwm_MB: number
  rss_anon_MB: number
  rss_file_MB: number
}

/** VmRSS, VmHWM, RssAnon, RssFile of a live process, in MB (10^6 bytes, as the goals count). */
async function memOf(pid: number): Promise<Mem> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8')
  const mb = (k: string): number => (Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024) / 1e6
  return { rss_MB: mb('VmRSS'), hwm_MB: mb('VmHWM'), rss_anon_MB: mb('RssAnon'), rss_file_MB: mb('RssFile') }
}

// ---- configuration ------------------------------------------------------------------------------

interface Config {
  quick: boolean
  contentGiB: number
  contentFileMiB: number
  files: number
  historyOps: number
  historyWindow: number
  appends: number
  settleMs: number
  checkouts: string[]
  work: string | undefined
  keep: boolean
  results: string
  markdown: string | undefined
}

function parseCli(): { cfg: Config; worker?: { kind: string; args: string[] } } {
  const { values, positionals } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      'content-gib': { type: 'string' },
      'content-file-mib': { type: 'string' },
      files: { type: 'string' },
      'history-ops': { type: 'string' },
      'history-window': { type: 'string' },
      appends: { type: 'string' },
      'settle-ms': { type: 'string' },
      checkout: { type: 'string', multiple: true },
      work: { type: 'string' },
      keep: { type: 'boolean', default: false },
      results: { type: 'string' },
      markdown: { type: 'string' },
      worker: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  if (values.worker !== undefined) return { cfg: undefined as never, worker: { kind: values.worker, args: positionals } }
  const quick = values.quick ?? false
  const num = (flag: string, v: string | undefined, dflt: number, min: number, whole = true): number => {
    const n = v === undefined ? dflt : Number(v)
    if (!Number.isFinite(n) || n < min || (whole && !Number.isSafeInteger(n))) throw new Error(`bad --${flag} '${v}': a ${whole ? 'whole ' : ''}number >= ${min}`)
    return n
  }
  const cfg: Config = {
    quick,
    contentGiB: num('content-gib', values['content-gib'], quick ? 0.25 : 20, 1 / 1024, false),
    contentFileMiB: num('content-file-mib', values['content-file-mib'], 1024, 1),
    files: num('files', values.files, quick ? 300 : 10_000, 1),
    historyOps: num('history-ops', values['history-ops'], quick ? 2_000 : 1_000_000, 0),
    historyWindow: num('history-window', values['history-window'], 16, 1),
    appends: num('appends', values.appends, quick ? 50 : 200, 1),
    settleMs: num('settle-ms', values['settle-ms'], quick ? 1_000 : 3_000, 0),
    checkouts: (values.checkout ?? [resolve(HERE, '..')]).map((c) => resolve(c)),
    work: values.work,
    keep: values.keep ?? false,
    results: values.results ?? (quick ? 'scale-quick' : 'scale'),
    markdown: values.markdown,
  }
  return { cfg }
}

// ---- one checkout under test --------------------------------------------------------------------

interface Target {
  readonly label: string
  readonly checkout: string
  readonly bin: string
  readonly commit: string
  readonly dirty: boolean
  readonly root: string
  readonly data: string
  readonly mnt: string
  mount: Proc | undefined
  /** Every figure, by key (units last). */
  readonly figures: Record<string, number | boolean>
  /** The load average as each phase ended ("uptime" with every figure). */
  readonly loads: Record<string, string>
}

function gitOf(dir: string): { commit: string; dirty: boolean } {
  const rev = spawnSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8' })
  const st = spawnSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' })
  return { commit: rev.status === 0 ? rev.stdout.trim() : 'unknown', dirty: st.status === 0 && st.stdout.trim() !== '' }
}

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

/** Starts the checkout's `paciofs mount`; resolves with the seconds from spawn until `probe`
 *  (a stat from this process) answers as expected. */
async function startMount(t: Target, probe: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now()
  t.mount = startProc(`${t.label} mount`, process.execPath, [t.bin, 'mount', t.mnt, '--data', t.data], t.checkout)
  const p = t.mount
  await waitFor(`${t.label}'s mount of ${t.mnt}`, async () => {
    if (!alive(p)) throw new Error(`${p.name} exited before mounting; stderr: ${p.stderr.slice(-2000)}`)
    return (await findMount(t.mnt)) !== undefined && (await probe())
  }, 60 * 60_000)
  return (performance.now() - t0) / 1000
}

/** SIGTERM (the mount commits its sessions, unmounts and stops its node), SIGKILL after a grace
 *  period, then `fusermount -uz` for whatever is left. Resolves with the seconds it took. */
async function stopMount(t: Target): Promise<number> {
  const t0 = performance.now()
  const p = t.mount
  if (p !== undefined && alive(p)) {
    p.child.kill('SIGTERM')
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 5 * 60_000)
    await p.exited
    clearTimeout(timer)
  }
  t.mount = undefined
  await cleanupStaleMount(t.mnt).catch((err: unknown) => log(`cleanup of ${t.mnt} failed: ${(err as Error).message}`))
  return (performance.now() - t0) / 1000
}

function mountPid(t: Target): number {
  const p = t.mount
  if (p === undefined || !alive(p) || p.child.pid === undefined) throw new Error(`${t.label}: the mount process is not running${p ? `; stderr: ${p.stderr.slice(-2000)}` : ''}`)
  return p.child.pid
}

/** The mount's memory after a pause for its commits and GC to settle. */
async function settledMem(t: Target, cfg: Config): Promise<Mem> {
  await sleep(cfg.settleMs)
  return memOf(mountPid(t))
}

function contentFiles(cfg: Config): number[] {
  const total = Math.round(cfg.contentGiB * GiB)
  const per = cfg.contentFileMiB * MiB
  const sizes: number[] = []
  for (let left = total; left > 0; left -= per) sizes.push(Math.min(per, left))
  return sizes
}

const contentPath = (t: Target, i: number): string => join(t.mnt, 'content', `c${i}.bin`)

function record(t: Target, phase: string, figures: Record<string, number | boolean>): void {
  Object.assign(t.figures, figures)
  t.loads[phase] = load1()
  const shown = Object.entries(figures).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : String(v)}`).join(', ')
  log(`  ${t.label} (${phase}): ${shown}  [load ${t.loads[phase]}]`)
}

async function statReadFigures(t: Target, cfg: Config, when: 'before' | 'after'): Promise<Record<string, number>> {
  const dir = join(t.mnt, 'live')
  const st = await worker('small-stat', [dir, String(cfg.files)])
  const rd = await worker('small-read', [dir, String(cfg.files)])
  const big = await worker('read-content', [contentPath(t, 0), '0'])
  return {
    [`stat_${when}_per_s`]: st.per_s!,
    [`small_read_${when}_files_per_s`]: rd.per_s!,
    [`content_read_${when}_MB_per_s`]: big.bytes! / 1e6 / big.seconds!,
  }
}

/** The JSON line of bench/scale-history.ts. */
interface HistoryOutput {
  ops: number
  counts: Record<string, number>
  live_files_left: number
  ops_per_s: number
  store_batches: number
  start_ms: number
  rss_MB: number
}

// ---- the phases -------------------------------------------------------------------------------

type Phase = (t: Target, cfg: Config) => Promise<void>

const PHASES: readonly [string, Phase][] = [
  ['a content', async (t, cfg) => {
    const mount_fresh_s = await startMount(t, () => stat(t.mnt).then(() => true, () => false))
    const fresh = await settledMem(t, cfg)
    await mkdir(join(t.mnt, 'content'))
    const sizes = contentFiles(cfg)
    let bytes = 0
    let seconds = 0
    for (const [i, size] of sizes.entries()) {
      const r = await worker('write-content', [contentPath(t, i), String(size), String(i)])
      bytes += r.bytes!
      seconds += r.seconds!
      log(`    ${t.label}: wrote ${contentPath(t, i)} (${(size / MiB).toFixed(0)} MiB, ${fmt(r.bytes! / 1e6 / r.seconds!)} MB/s; mount RSS ${fmt((await memOf(mountPid(t))).rss_MB)} MB)  [load ${load1()}]`)
    }
    const m = await settledMem(t, cfg)
    record(t, 'a content', {
      mount_fresh_s,
      rss_fresh_MB: fresh.rss_MB,
      content_GiB: bytes / GiB,
      content_files: sizes.length,
      content_write_MB_per_s: bytes / 1e6 / seconds,
      rss_after_content_MB: m.rss_MB,
      rss_anon_after_content_MB: m.rss_anon_MB,
      hwm_after_content_MB: m.hwm_MB,
      rss_per_content_GiB_MB: (m.rss_MB - fresh.rss_MB) / (bytes / GiB),
    })
  }],
  ['b live files', async (t, cfg) => {
    // Two halves with a settled RSS between them: the raw figure (whole delta / K) counts what
    // fills once (the chunk cache, 64 MiB, and the record cache, 16 MiB, runtime/store.ts; V8's
    // and malloc's first growth) as if every file cost it; the second half's slope is closer to
    // the cost of one more live file (bench/README.md "RSS per live file: raw and margin").
    const before = await memOf(mountPid(t))
    const dir = join(t.mnt, 'live')
    await mkdir(dir)
    const half = Math.floor(cfg.files / 2)
    const c1 = await worker('small-create', [dir, String(half), '0'])
    const mid = await settledMem(t, cfg)
    const c2 = await worker('small-create', [dir, String(cfg.files), String(half)])
    const after = await settledMem(t, cfg)
    record(t, 'b live files', {
      live_files: cfg.files,
      small_create_files_per_s: cfg.files / (c1.seconds! + c2.seconds!),
      rss_mid_files_MB: mid.rss_MB,
      rss_after_files_MB: after.rss_MB,
      rss_per_live_file_bytes: ((after.rss_MB - before.rss_MB) * 1e6) / cfg.files,
      rss_per_live_file_first_half_bytes: ((mid.rss_MB - before.rss_MB) * 1e6) / half,
      rss_per_live_file_second_half_bytes: ((after.rss_MB - mid.rss_MB) * 1e6) / (cfg.files - half),
      ...(await statReadFigures(t, cfg, 'before')),
    })
  }],
  ['c history', async (t, cfg) => {
    const stop_s = await stopMount(t)
    const out = await runChild(`${t.label} history`, process.execPath, ['--import', 'tsx', HISTORY, '--checkout', t.checkout, '--data', t.data, '--ops', String(cfg.historyOps), '--window', String(cfg.historyWindow)])
    const h = JSON.parse(out.trim().split('\n').pop()!) as HistoryOutput
    record(t, 'c history', {
      unmount_s: stop_s,
      history_ops: h.ops,
      ...Object.fromEntries(Object.entries(h.counts).map(([k, n]) => [`history_${k}s`, n])),
      history_live_files_left: h.live_files_left,
      history_ops_per_s: h.ops_per_s,
      history_store_batches: h.store_batches,
      history_node_start_s: h.start_ms / 1000,
      history_process_rss_MB: h.rss_MB,
    })
  }],
  ['d remount', async (t, cfg) => {
    const size0 = contentFiles(cfg)[0]!
    const remount_s = await startMount(t, () => stat(contentPath(t, 0)).then((s) => s.size === size0, () => false))
    const m = await settledMem(t, cfg)
    record(t, 'd remount', {
      remount_s,
      rss_after_remount_MB: m.rss_MB,
      hwm_remount_MB: m.hwm_MB,
      ...(await statReadFigures(t, cfg, 'after')),
    })
  }],
  ['f append', async (t, cfg) => {
    const a = await worker('append', [join(t.mnt, 'append-1m.bin'), contentPath(t, 0), String(cfg.appends)])
    const m = await memOf(mountPid(t))
    const unmount_s = await stopMount(t)
    record(t, 'f append', {
      append_big_file_MiB: a.big_file_bytes! / MiB,
      append_1MiB_median_us: a.small_median_us!,
      append_big_median_us: a.big_median_us!,
      append_1MiB_p90_us: a.small_p90_us!,
      append_big_p90_us: a.big_p90_us!,
      append_big_over_small_pct: (100 * a.big_median_us!) / a.small_median_us!,
      rss_end_MB: m.rss_MB,
      hwm_end_MB: m.hwm_MB,
      unmount_end_s: unmount_s,
    })
  }],
  ['e verify', async (t) => {
    const p = startProc(`${t.label} verify`, '/usr/bin/time', ['-f', 'SCALEBENCH %e %M', process.execPath, t.bin, 'verify', '--data', t.data], t.checkout)
    const code = await p.exited
    const m = /SCALEBENCH ([\d.]+) (\d+)/.exec(p.stderr)
    if (!m) throw new Error(`${p.name}: no /usr/bin/time figures (exit ${code}); stderr: ${p.stderr.slice(-2000)}`)
    if (code !== 0 && code !== 1) throw new Error(`${p.name} failed (exit ${code}); stderr: ${p.stderr.slice(-2000)}`)
    if (code === 1) log(`    ${t.label}: verify found differences: ${p.stdout.slice(-2000)}`)
    record(t, 'e verify', { verify_s: Number(m[1]), verify_peak_rss_MB: (Number(m[2]) * 1024) / 1e6, verify_clean: code === 0 })
  }],
]

// ---- the table ----------------------------------------------------------------------------------

interface Row {
  readonly key: string
  readonly label: string
  readonly goal?: string
  readonly met?: (v: number) => boolean
}

const ROWS: readonly Row[] = [
  { key: 'content_GiB', label: 'content written through the mount (GiB)' },
  { key: 'content_write_MB_per_s', label: 'content write, 1 MiB writes (MB/s)' },
  { key: 'rss_fresh_MB', label: 'mount RSS, fresh volume (MB)' },
  { key: 'rss_after_content_MB', label: 'mount RSS after the content (MB)', goal: '<= 400', met: (v) => v <= 400 },
  { key: 'hwm_after_content_MB', label: 'mount peak RSS (VmHWM) while writing it (MB)' },
  { key: 'live_files', label: 'live 1 KiB files created through the mount' },
  { key: 'small_create_files_per_s', label: 'their creates (files/s)' },
  { key: 'rss_per_live_file_bytes', label: 'mount RSS per live file, raw: RSS delta / files (bytes)', goal: '<= 1,000', met: (v) => v <= 1000 },
  { key: 'rss_per_live_file_first_half_bytes', label: 'the same over the first half of the files (bytes)' },
  { key: 'rss_per_live_file_second_half_bytes', label: 'the same over the second half: the margin (bytes)', goal: '<= 1,000', met: (v) => v <= 1000 },
  { key: 'history_ops', label: 'history: small-file ops through the node host' },
  { key: 'history_ops_per_s', label: 'history ops/s (node host, no FUSE)' },
  { key: 'history_node_start_s', label: 'node start before the history, no FUSE (s)' },
  { key: 'remount_s', label: 'remount: spawn until a stat answers (s)', goal: '<= 3 (after 1M ops)', met: (v) => v <= 3 },
  { key: 'rss_after_remount_MB', label: 'mount RSS after remount (MB)', goal: '<= 400', met: (v) => v <= 400 },
  { key: 'verify_s', label: 'verify, node stopped (s)' },
  { key: 'verify_peak_rss_MB', label: 'verify peak RSS (MB)', goal: '<= 500', met: (v) => v <= 500 },
  { key: 'append_1MiB_median_us', label: 'append 4 KiB + fsync, 1 MiB file (median µs)' },
  { key: 'append_big_median_us', label: 'append 4 KiB + fsync, big file (median µs)' },
  { key: 'append_big_file_MiB', label: 'big file size (MiB)' },
  { key: 'append_big_over_small_pct', label: 'append: big file / 1 MiB file (%)', goal: '<= 120 %', met: (v) => v <= 120 },
  { key: 'stat_before_per_s', label: 'stat of the live files, before history (stats/s)' },
  { key: 'stat_after_per_s', label: 'the same after history + remount (stats/s)' },
  { key: 'small_read_before_files_per_s', label: 'read back the live files, before (files/s)' },
  { key: 'small_read_after_files_per_s', label: 'the same after (files/s)' },
  { key: 'content_read_before_MB_per_s', label: 'read back the first content file, before (MB/s)' },
  { key: 'content_read_after_MB_per_s', label: 'the same after (MB/s)' },
]

function table(targets: readonly Target[]): string {
  const header = ['figure', 'goal', ...targets.flatMap((t) => (targets.length > 1 ? [t.label, 'met'] : ['measured', 'met']))]
  if (targets.length === 2) header.push('B / A')
  const rows: (string | number)[][] = [header]
  for (const r of ROWS) {
    const row: (string | number)[] = [r.label, r.goal ?? '']
    for (const t of targets) {
      const v = t.figures[r.key]
      row.push(typeof v === 'number' ? v : 'n/a', typeof v === 'number' && r.met ? (r.met(v) ? 'yes' : 'no') : '')
    }
    if (targets.length === 2) {
      const [a, b] = targets.map((t) => t.figures[r.key])
      row.push(typeof a === 'number' && typeof b === 'number' && a !== 0 ? `${Math.round((100 * b) / a)} %` : '')
    }
    rows.push(row)
  }
  const clean = targets.map((t) => `${t.label}: ${t.figures.verify_clean === true ? 'clean' : t.figures.verify_clean === false ? 'FINDINGS' : 'n/a'}`).join(', ')
  return markdownTable(rows, [false, true, ...targets.flatMap(() => [true, false]), ...(targets.length === 2 ? [true] : [])]) + `\nverify result: ${clean}\n`
}

// ---- main ---------------------------------------------------------------------------------------

async function main(cfg: Config): Promise<void> {
  const started = performance.now()
  const host = machine()
  if (cfg.work !== undefined) await mkdir(cfg.work, { recursive: true })
  const base = await mkdtemp(join(cfg.work !== undefined ? resolve(cfg.work) : os.tmpdir(), 'paciofs-scale-'))
  const sizes = contentFiles(cfg)
  // Room for the content of every checkout (its chunks), with 5 GiB to spare.
  const fsStat = statfsSync(base)
  const freeBytes = fsStat.bavail * fsStat.bsize
  const needBytes = cfg.contentGiB * GiB * cfg.checkouts.length * 1.1 + 5 * GiB
  if (freeBytes < needBytes) throw new Error(`${base} has ${(freeBytes / GiB).toFixed(1)} GiB free; this run needs about ${(needBytes / GiB).toFixed(1)} GiB`)

  const targets: Target[] = cfg.checkouts.map((checkout, i) => {
    const { commit, dirty } = gitOf(checkout)
    const label = `${String.fromCharCode(65 + i)} ${basename(checkout)}@${commit.slice(0, 7)}${dirty ? '+dirty' : ''}`
    const root = join(base, String.fromCharCode(65 + i))
    return { label, checkout, bin: join(checkout, 'bin', 'paciofs.js'), commit, dirty, root, data: join(root, 'data'), mnt: join(root, 'mnt'), mount: undefined, figures: {}, loads: {} }
  })

  let cleaning: Promise<void> | undefined
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const p of liveProcs) if (!targets.some((t) => t.mount === p)) p.child.kill('SIGKILL') // workers, history, verify
      await Promise.all(targets.map((t) => stopMount(t)))
      const stillMounted = (await Promise.all(targets.map((t) => findMount(t.mnt)))).some((m) => m !== undefined)
      if (stillMounted) log(`left ${base} in place: a mount is still there`)
      else if (cfg.keep) log(`kept ${base} (--keep)`)
      else await rm(base, { recursive: true, force: true })
    })())
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`scale-bench: ${sig}: cleaning up`)
    void cleanup().finally(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  let failure: Error | undefined
  try {
    log(`scale-bench: ${cfg.quick ? 'quick' : 'full'}: ${cfg.contentGiB} GiB of content in ${sizes.length} file(s), ${cfg.files} live files, ${cfg.historyOps} history ops (window ${cfg.historyWindow}), ${cfg.appends} appends; in ${base}; load ${load1()}`)
    for (const t of targets) {
      await mkdir(t.mnt, { recursive: true })
      log(`  ${t.label}: ${t.checkout}`)
    }
    for (const [name, phase] of PHASES) {
      log(`scale-bench: phase ${name}`)
      for (const t of targets) await phase(t, cfg)
    }
  } catch (err) {
    failure = err as Error
    log(`scale-bench: FAILED: ${failure.stack ?? String(failure)}`)
  } finally {
    await cleanup()
  }

  const seconds = (performance.now() - started) / 1000
  const command = `npm run bench:scale --${process.argv.slice(2).map((a) => ` ${a}`).join('')}`
  const path = writeResults(cfg.results, {
    machine: host,
    loadavg_end: os.loadavg().map((l) => Math.round(l * 100) / 100),
    date: new Date().toISOString(),
    command,
    config: { ...cfg, contentFileSizes: sizes, smallFileBytes: SMALL_FILE_BYTES, appendBytes: APPEND_BYTES, units: 'MB = 10^6 bytes; GiB/MiB = 2^30/2^20 bytes; RSS = VmRSS of /proc/<pid>/status' },
    seconds: Math.round(seconds),
    ...(failure !== undefined ? { failed: failure.message } : {}),
    targets: targets.map((t) => ({ label: t.label, checkout: t.checkout, commit: t.commit, dirty: t.dirty, figures: t.figures, load_after_phase: t.loads })),
  })
  const text = `## Scale benchmark (issue 11): ${new Date().toISOString().slice(0, 10)}\n\n` +
    `\`${command}\` — ${Math.round(seconds / 60)} min${failure ? ` — FAILED: ${failure.message}` : ''}\n\n` +
    `Machine: ${host.cpus} × ${host.model}, ${host.memGiB} GiB, Node ${host.node}, ${host.platform}; load ${host.loadavg.join(' ')} at the start, ${load1()} at the end.\n` +
    targets.map((t) => `- ${t.label}: ${t.checkout}, commit ${t.commit}${t.dirty ? ' (uncommitted changes)' : ''}; load after each phase: ${Object.entries(t.loads).map(([k, v]) => `${k.split(' ')[0]} ${v}`).join(', ')}\n`).join('') +
    `- ${fmt(cfg.contentGiB)} GiB of content as ${sizes.length} file(s) of up to ${cfg.contentFileMiB} MiB, ${cfg.files} live files of 1 KiB, ${cfg.historyOps} history ops (window ${cfg.historyWindow}), ${cfg.appends} appends per file; MB = 10^6 bytes\n\n` +
    table(targets)
  process.stdout.write(text)
  if (cfg.markdown !== undefined) writeFileSync(resolve(cfg.markdown), text)
  log(`scale-bench: wrote ${path} (${seconds.toFixed(0)} s)`)
  if (failure) process.exitCode = 1
}

const { cfg, worker: w } = parseCli()
if (w !== undefined) {
  const [a, b, c] = w.args
  const out =
    w.kind === 'write-content' ? workerWriteContent(a!, Number(b), Number(c))
    : w.kind === 'read-content' ? workerReadContent(a!, Number(b))
    : w.kind === 'small-create' || w.kind === 'small-stat' || w.kind === 'small-read' ? workerSmall(w.kind.slice(6) as 'create' | 'stat' | 'read', a!, Number(b), Number(c ?? 0))
    : w.kind === 'append' ? workerAppend(a!, b!, Number(c))
    : undefined
  if (out === undefined) throw new Error(`unknown worker '${w.kind}'`)
  process.stdout.write(JSON.stringify(out) + '\n')
} else {
  await main(cfg)
}
