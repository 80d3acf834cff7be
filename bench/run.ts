// `npm run bench` (full) and `npm run bench:quick`: every benchmark of the issue in one run, one
// after another in child processes (each starts clean; none runs while another measures), then
// one summary table of the figures the goals are about, written to bench/results/summary.md.
// Each suite writes its own bench/results/<name>.json with every run, median, min and max.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { fmt, machine, markdownTable } from './bench-util.ts'

const quick = process.argv.includes('--quick')
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url))
const tsx = here('../node_modules/.bin/tsx')

interface Suite {
  readonly name: string
  readonly script: string
  /** The suite prints its JSON on stdout instead of writing results/<name>.json itself. */
  readonly jsonOnStdout?: boolean
}

const SUITES: readonly Suite[] = [
  { name: 'mount', script: 'mount-bench.ts' },
  { name: 'broadcast', script: 'broadcast-bench.ts' },
  { name: 'persist', script: 'persist-bench.ts' },
  { name: 'verify', script: 'verify-bench.ts' },
  { name: 'sim', script: 'sim-bench.ts', jsonOnStdout: true },
]

const started = performance.now()
const failed: string[] = []
for (const s of SUITES) {
  process.stderr.write(`\n=== ${s.name} (${quick ? 'quick' : 'full'}) ===\n`)
  const t0 = performance.now()
  const r = spawnSync(tsx, [here(s.script), ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 })
  const out = r.stdout?.toString() ?? ''
  if (r.status !== 0) {
    failed.push(s.name)
    process.stderr.write(`${s.name} failed (exit ${r.status})\n`)
    continue
  }
  if (s.jsonOnStdout) writeFileSync(here(`results/${s.name}.json`), out)
  else process.stdout.write(out)
  process.stderr.write(`${s.name}: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`)
}

// ---- summary: the figures the goals name ---------------------------------------------------------

type Json = Record<string, unknown>
const load = (name: string): Json | undefined => {
  try {
    return JSON.parse(readFileSync(here(`results/${name}.json`), 'utf8')) as Json
  } catch {
    return undefined
  }
}
/** The median of a figure found by key anywhere in a results object ({median} objects). */
function median(obj: unknown, key: string): number | undefined {
  if (obj === null || typeof obj !== 'object') return undefined
  const o = obj as Json
  const v = o[key]
  if (v !== null && typeof v === 'object' && typeof (v as Json).median === 'number') return (v as Json).median as number
  for (const x of Object.values(o)) {
    const m = median(x, key)
    if (m !== undefined) return m
  }
  return undefined
}

const rows: (string | number)[][] = [['figure', 'measured (median)', 'goal', 'met']]
const add = (figure: string, value: number | undefined, goal: string, met?: (v: number) => boolean): void => {
  rows.push([figure, value === undefined ? 'n/a' : fmt(value), goal, met === undefined ? '' : value === undefined ? 'n/a' : met(value) ? 'yes' : 'no'])
}
const mount = load('mount')
const ratio = (fig: string): number | undefined => {
  const f = (mount?.figures as Json | undefined)?.[fig] as Json | undefined
  const p = median(f, 'paciofs')
  const m = median(f, 'minimal')
  return p !== undefined && m !== undefined && m > 0 ? (100 * p) / m : undefined
}
add('mount: sequential write, % of minimal fuse-native', ratio('seq_write_MB_per_s'), '>= 50 %', (v) => v >= 50)
add('mount: sequential read, % of minimal fuse-native', ratio('seq_read_MB_per_s'), '>= 70 %', (v) => v >= 70)
add('mount: archive creates, % of minimal fuse-native', ratio('archive_docs_per_s'), '>= 30 %', (v) => v >= 30)
const bc = load('broadcast')
add('broadcast: ops/s delivered at the slowest of 3 nodes', median(bc, 'delivered_ops_per_s_min_node'), '>= 10,000', (v) => v >= 10_000)
add('broadcast: latency p99 (ms)', median(bc, 'latency_p99_ms'), '<= 100', (v) => v <= 100)
const pe = load('persist')
add('ledger: append+seal+persist, batch 1024 (entries/s)', median(pe, 'batch1024_append_seal_persist_entries_per_s'), '>= 100,000', (v) => v >= 100_000)
add('ledger: validate, batch 1024 (entries/s)', median(pe, 'batch1024_validate_entries_per_s'), '>= 200,000', (v) => v >= 200_000)
const ve = load('verify')
add('verify: content hashing (MiB/s)', median(ve, 'content_hash_MiB_per_s'), '>= 1,024', (v) => v >= 1024)
add('verify: replay (ops/s)', median(ve, 'replay_only_ops_per_s'), '>= 50,000', (v) => v >= 50_000)
add('verify: whole volume, content over total time (MiB/s)', median(ve, 'verify_content_MiB_per_s'), '')
const sim = load('sim') as { summary?: { crypto: string; eventsPerSecond: number }[] } | undefined
for (const c of ['test', 'real']) add(`simulator: events/s, ${c} crypto`, sim?.summary?.find((x) => x.crypto === c)?.eventsPerSecond, '')

const m = machine()
const table = `${quick ? 'Quick' : 'Full'} run of \`npm run ${quick ? 'bench:quick' : 'bench'}\`, ${new Date().toISOString().slice(0, 10)}, ${m.cpus} × ${m.model}, ${m.memGiB} GiB, Node ${m.node}, ${m.platform}, load ${m.loadavg.map((x) => x.toFixed(1)).join('/')} at the end; ${((performance.now() - started) / 60_000).toFixed(1)} min.\n\n${markdownTable(rows)}\n`
writeFileSync(here(`results/summary${quick ? '-quick' : ''}.md`), table)
process.stdout.write(`\n${table}`)
if (failed.length > 0) {
  process.stderr.write(`failed suites: ${failed.join(', ')}\n`)
  process.exitCode = 1
}
