// npm run bench:mount [-- --quick] [-- --runs N] — mount throughput side by side, in one run, on
// three targets: a PacioFS local mount, the minimal in-memory fuse-native file system of
// bench/minimal-fs.ts (same mount options: the limit of our own stack) and a plain directory on the
// same disk. Figures: fio sequential write/read (1 MiB blocks) and random 4 KiB read/write, and an
// archive workload (create+write+close, stat, read back, rename N small documents).
// Repetitions alternate the targets (A B C, A B C, ...) figure by figure, so machine drift hits all
// three alike. Writes bench/results/mount.json and prints a markdown table; progress on stderr.
//
// The mounts are served by child processes; this process touches them only asynchronously (fio and
// the archive workload run in children of their own: a process must never block on a mount its
// own event loop serves, and keeping all synchronous I/O out of here keeps that obvious).
import { execFile } from 'node:child_process'
import { closeSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { cleanupStaleMount, findMount } from '../runtime/fuse.ts'
import { alive, fmt, liveProcs, machine, markdownTable, prng, runChild, startProc, summarize, writeResults, type Proc, type Summary } from './bench-util.ts'

const run = promisify(execFile)
const SELF = fileURLToPath(import.meta.url)
const BIN = fileURLToPath(new URL('../bin/paciofs.js', import.meta.url))
const MINIMAL_FS = fileURLToPath(new URL('./minimal-fs.ts', import.meta.url))

const TARGETS = ['paciofs', 'minimal', 'plain'] as const
type TargetName = (typeof TARGETS)[number]
const TARGET_LABEL: Record<TargetName, string> = { paciofs: 'paciofs', minimal: 'minimal fuse-native', plain: 'plain dir' }

const FIGURES = {
  seq_write_MB_per_s: 'fio sequential write, 1 MiB blocks (MB/s)',
  seq_read_MB_per_s: 'fio sequential read, 1 MiB blocks (MB/s)',
  rand_read_4k_iops: 'fio random read, 4 KiB (IOPS)',
  rand_write_4k_iops: 'fio random write, 4 KiB (IOPS)',
  archive_docs_per_s: 'archive: create+write+close (docs/s)',
  archive_stat_per_s: 'archive: stat (ops/s)',
  archive_read_per_s: 'archive: read back + verify (docs/s)',
  archive_rename_per_s: 'archive: rename (ops/s)',
} as const
type Figure = keyof typeof FIGURES

// ---- the archive workload (runs in a child process: `--archive-worker`) ------------------------


/** N documents of 4–64 KiB: slices of one random pool, each stamped with its index. */
function documents(n: number, seed: number): Buffer[] {
  const rand = prng(seed)
  const pool = Buffer.alloc(256 * 1024)
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE(Math.floor(rand() * 2 ** 32), i)
  const docs: Buffer[] = []
  for (let i = 0; i < n; i++) {
    const size = 4096 + Math.floor(rand() * (65536 - 4096 + 1))
    const off = Math.floor(rand() * (pool.length - size))
    const d = Buffer.from(pool.subarray(off, off + size))
    d.writeUInt32LE(i, 0)
    docs.push(d)
  }
  return docs
}

/** Synchronous calls on purpose: this child does nothing else, and each call is one FS round trip. */
function archiveWorker(dir: string, n: number, seed: number): Record<string, number> {
  const docs = documents(n, seed)
  const name = (i: number): string => join(dir, `doc-${String(i).padStart(6, '0')}.bin`)
  const perSecond = (t0: number): number => n / ((performance.now() - t0) / 1000)
  let t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const fd = openSync(name(i), 'wx')
    const d = docs[i]!
    for (let off = 0; off < d.length; ) off += writeSync(fd, d, off, d.length - off)
    closeSync(fd)
  }
  const archive_docs_per_s = perSecond(t0)
  t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const size = statSync(name(i)).size
    if (size !== docs[i]!.length) throw new Error(`${name(i)}: size ${size}, wrote ${docs[i]!.length}`)
  }
  const archive_stat_per_s = perSecond(t0)
  t0 = performance.now()
  for (let i = 0; i < n; i++) {
    if (!readFileSync(name(i)).equals(docs[i]!)) throw new Error(`${name(i)}: read back other bytes than written`)
  }
  const archive_read_per_s = perSecond(t0)
  t0 = performance.now()
  for (let i = 0; i < n; i++) renameSync(name(i), name(i).replace(/\.bin$/, '.archived'))
  const archive_rename_per_s = perSecond(t0)
  return { archive_docs_per_s, archive_stat_per_s, archive_read_per_s, archive_rename_per_s }
}

// ---- child processes and mounts ----------------------------------------------------------------

async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Waits until a mount server printed `mounted` and its mount answers (fuse-native reports the
 *  mount before the kernel's INIT completed: test/support/procs.ts). */
async function untilMounted(p: Proc, dir: string): Promise<void> {
  await waitFor(`${p.name} to mount ${dir}`, async () => {
    if (!alive(p)) throw new Error(`${p.name} exited before mounting; stderr: ${p.stderr.slice(-2000)}`)
    return /^mounted/m.test(p.stdout) && (await findMount(dir)) !== undefined && (await stat(dir).then(() => true, () => false))
  }, 60_000)
}

/** SIGTERM (the server unmounts itself), SIGKILL after a grace period, then `fusermount -uz`
 *  (cleanupStaleMount) for whatever is left. */
async function stopMount(p: Proc | undefined, dir: string): Promise<void> {
  if (p !== undefined && alive(p)) {
    p.child.kill('SIGTERM')
    const t = setTimeout(() => p.child.kill('SIGKILL'), 30_000)
    await p.exited
    clearTimeout(t)
  }
  await cleanupStaleMount(dir).catch((err: unknown) => log(`cleanup of ${dir} failed: ${(err as Error).message}`))
}

function log(line: string): void {
  process.stderr.write(line + '\n')
}

// ---- the measurements ----------------------------------------------------------------------------

interface Config {
  quick: boolean
  runs: number
  fileMiB: number
  randSeconds: number
  docs: number
  seed: number
}

const FIO_COMMON = ['--ioengine=psync', '--direct=0', '--numjobs=1', '--fallocate=none', '--output-format=json']

/** One fio job on `file`; returns the job's read or write side. */
async function fio(name: string, file: string, cfg: Config, side: 'read' | 'write', args: readonly string[]): Promise<{ bw_bytes: number; iops: number }> {
  const out = await runChild(`fio ${name}`, 'fio', [`--name=${name}`, `--filename=${file}`, `--size=${cfg.fileMiB}M`, ...FIO_COMMON, ...args])
  // fio may print notes before its JSON.
  const json = JSON.parse(out.slice(out.indexOf('{'))) as { jobs: { error: number; read: { bw_bytes: number; iops: number }; write: { bw_bytes: number; iops: number } }[] }
  const job = json.jobs[0]!
  if (job.error !== 0) throw new Error(`fio ${name} on ${file}: error ${job.error}`)
  return job[side]
}

/** Drops the page cache (so the plain directory reads from disk); false when not permitted. */
async function dropCaches(): Promise<boolean> {
  try {
    await run('sync')
    await writeFile('/proc/sys/vm/drop_caches', '3')
    return true
  } catch {
    return false
  }
}

function parseCli(): { cfg: Config; worker?: { dir: string } } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      'archive-worker': { type: 'string' },
      docs: { type: 'string' },
      seed: { type: 'string' },
    },
    strict: true,
  })
  const quick = values.quick ?? false
  const runs = values.runs !== undefined ? Number(values.runs) : quick ? 1 : 3
  const docs = values.docs !== undefined ? Number(values.docs) : quick ? 300 : 2000
  const seed = values.seed !== undefined ? Number(values.seed) : 42
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`bad --runs '${values.runs}': a whole number >= 1`)
  if (!Number.isSafeInteger(docs) || docs < 1 || !Number.isSafeInteger(seed)) throw new Error('bad --docs or --seed: whole numbers')
  const cfg: Config = { quick, runs, fileMiB: quick ? 64 : 256, randSeconds: quick ? 2 : 5, docs, seed }
  const w = values['archive-worker']
  return w !== undefined ? { cfg, worker: { dir: w } } : { cfg }
}

async function main(cfg: Config): Promise<void> {
  const started = performance.now()
  const host = machine() // its load average as the run starts
  const base = await mkdtemp(join(os.tmpdir(), 'paciofs-mount-bench-'))
  const dirs: Record<TargetName, string> = { paciofs: join(base, 'mnt-paciofs'), minimal: join(base, 'mnt-minimal'), plain: join(base, 'plain') }
  const procs: Partial<Record<TargetName, Proc>> = {}
  let cleaning: Promise<void> | undefined
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const p of liveProcs) if (!Object.values(procs).includes(p)) p.child.kill('SIGKILL') // fio, workers
      await Promise.all([stopMount(procs.paciofs, dirs.paciofs), stopMount(procs.minimal, dirs.minimal)])
      // Never recurse into a mount that is still there.
      if ((await findMount(dirs.paciofs)) === undefined && (await findMount(dirs.minimal)) === undefined) await rm(base, { recursive: true, force: true })
      else log(`left ${base} in place: a mount is still there`)
    })())
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`mount-bench: ${sig}: cleaning up`)
    void cleanup().finally(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const results = Object.fromEntries(Object.keys(FIGURES).map((f) => [f, { paciofs: [] as number[], minimal: [] as number[], plain: [] as number[] }])) as Record<Figure, Record<TargetName, number[]>>
  let cachesDropped: boolean | undefined
  try {
    log(`mount-bench: ${cfg.quick ? 'quick' : 'full'}, ${cfg.runs} run(s), fio file ${cfg.fileMiB} MiB, random I/O ${cfg.randSeconds} s, ${cfg.docs} documents; in ${base}`)
    await mkdir(dirs.plain)
    // Started together; kept in `procs` at once, so that cleanup stops them whatever happens next.
    procs.paciofs = startProc('paciofs mount', process.execPath, [BIN, 'mount', dirs.paciofs, '--data', join(base, 'paciofs-data')])
    procs.minimal = startProc('minimal-fs', process.execPath, ['--import', 'tsx', MINIMAL_FS, dirs.minimal])
    await Promise.all([untilMounted(procs.paciofs, dirs.paciofs), untilMounted(procs.minimal, dirs.minimal)])
    log(`mount-bench: mounted (${((performance.now() - started) / 1000).toFixed(1)} s)`)

    const checkMounts = (): void => {
      for (const t of ['paciofs', 'minimal'] as const) {
        if (!alive(procs[t]!)) throw new Error(`the ${t} mount process exited; stderr: ${procs[t]!.stderr.slice(-2000)}`)
      }
    }
    const record = (fig: Figure, t: TargetName, value: number, rep: number): void => {
      results[fig][t].push(value)
      log(`  [${rep + 1}/${cfg.runs}] ${FIGURES[fig]} ${TARGET_LABEL[t]}: ${Math.round(value).toLocaleString('en-US')}`)
    }
    const fioFigures: [Figure, string[], (r: { bw_bytes: number; iops: number }) => number][] = [
      ['seq_write_MB_per_s', ['--rw=write', '--bs=1M', '--fsync_on_close=1', '--end_fsync=1'], (r) => r.bw_bytes / 1e6],
      ['seq_read_MB_per_s', ['--rw=read', '--bs=1M'], (r) => r.bw_bytes / 1e6],
      ['rand_read_4k_iops', ['--rw=randread', '--bs=4k', `--runtime=${cfg.randSeconds}`, '--time_based'], (r) => r.iops],
      ['rand_write_4k_iops', ['--rw=randwrite', '--bs=4k', `--runtime=${cfg.randSeconds}`, '--time_based', '--fsync_on_close=1'], (r) => r.iops],
    ]

    for (let rep = 0; rep < cfg.runs; rep++) {
      // A fresh file per repetition: the reads read what this repetition wrote.
      const file = (t: TargetName): string => join(dirs[t], `fio-${rep}.dat`)
      for (const [fig, args, value] of fioFigures) {
        for (const t of TARGETS) {
          // The FUSE targets read through their handlers anyway (no kernel_cache: the page cache
          // is dropped on open); the plain directory would read from memory unless dropped.
          if (t === 'plain' && !fig.includes('write')) cachesDropped = (await dropCaches()) && (cachesDropped ?? true)
          record(fig, t, value(await fio(fig, file(t), cfg, fig.includes('write') ? 'write' : 'read', args)), rep)
          checkMounts()
        }
      }
      for (const t of TARGETS) {
        const dir = join(dirs[t], `archive-${rep}`)
        await mkdir(dir)
        const out = await runChild(`archive ${t}`, process.execPath, ['--import', 'tsx', SELF, '--archive-worker', dir, '--docs', String(cfg.docs), '--seed', String(cfg.seed + rep)])
        const r = JSON.parse(out.trim().split('\n').pop()!) as Record<Figure, number>
        for (const fig of Object.keys(r) as Figure[]) record(fig, t, r[fig], rep)
        checkMounts()
      }
      // Cleaning up is not measured; it keeps the minimal fs's memory and the plain dir's disk flat.
      for (const t of TARGETS) {
        await rm(file(t), { force: true })
        await rm(join(dirs[t], `archive-${rep}`), { recursive: true, force: true })
      }
    }
  } finally {
    // The servers' own accounts (e.g. minimal-fs prints its request counts) before they go.
    await cleanup()
    for (const t of ['paciofs', 'minimal'] as const) {
      const errs = procs[t]?.stderr.trim()
      if (errs) log(`-- ${t} stderr (tail):\n${errs.slice(-4000)}`)
    }
  }

  const figures = {} as Record<Figure, Record<TargetName, Summary> & { paciofs_over_minimal_pct: number; minimal_over_plain_pct: number }>
  for (const fig of Object.keys(FIGURES) as Figure[]) {
    const s = { paciofs: summarize(results[fig].paciofs), minimal: summarize(results[fig].minimal), plain: summarize(results[fig].plain) }
    figures[fig] = { ...s, paciofs_over_minimal_pct: (100 * s.paciofs.median) / s.minimal.median, minimal_over_plain_pct: (100 * s.minimal.median) / s.plain.median }
  }
  const seconds = (performance.now() - started) / 1000
  const path = writeResults('mount', {
    machine: host,
    date: new Date().toISOString(),
    config: {
      ...cfg,
      docSizes: '4–64 KiB, seeded (seed + repetition)',
      fio: FIO_COMMON,
      targets: {
        paciofs: 'node bin/paciofs.js mount <dir> --data <fresh dir> (local mode)',
        minimal: 'bench/minimal-fs.ts: in-memory, fuse-native, the mount options of runtime/fuse.ts',
        plain: `a directory under ${os.tmpdir()} (same disk as the PacioFS data directory)`,
      },
      plainDirCachesDropped: cachesDropped ?? false,
      order: 'per figure and repetition: paciofs, minimal, plain',
    },
    seconds: Math.round(seconds),
    figures,
  })

  const cell = (s: Summary): string =>
    cfg.runs > 1 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median)
  const rows: (string | number)[][] = [['figure', 'paciofs', 'minimal fuse-native', 'plain dir', 'paciofs/minimal %', 'minimal/plain %']]
  for (const fig of Object.keys(FIGURES) as Figure[]) {
    const f = figures[fig]
    rows.push([FIGURES[fig], cell(f.paciofs), cell(f.minimal), cell(f.plain), Math.round(f.paciofs_over_minimal_pct), Math.round(f.minimal_over_plain_pct)])
  }
  process.stdout.write(markdownTable(rows, [false, true, true, true, true, true]))
  process.stdout.write(`\n${cfg.runs > 1 ? `median (min–max) of ${cfg.runs} runs` : '1 run'}; plain dir page cache ${cachesDropped ? 'dropped before each read' : 'NOT dropped (not permitted): its reads may come from memory'}; ${Math.round(seconds)} s\n`)
  log(`mount-bench: wrote ${path} (${seconds.toFixed(0)} s)`)
}

const { cfg, worker } = parseCli()
if (worker !== undefined) {
  process.stdout.write(JSON.stringify(archiveWorker(worker.dir, cfg.docs, cfg.seed)) + '\n')
} else {
  await main(cfg).catch((err: unknown) => {
    log(`mount-bench: FAILED: ${(err as Error).stack ?? String(err)}`)
    process.exitCode = 1
  })
}
