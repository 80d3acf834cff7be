// Per-write cost against file and directory size, before and after a change, side by side:
// `node --import tsx bench/fs-append-ab.ts --base <checkout> [--rounds 5] [--ops 256] [--crypto node]`.
// Measures, with core/fs of this checkout and of <checkout> (e.g. a `git worktree` of main),
// alternating, each measurement in a fresh child process (so that no code version pays for the
// other's heap or JIT state): a 4 KiB append (fake chunk hashes: block references only) to a 1 MiB
// and to a 1 GiB file, applyOp alone and applyOp + state root; a create + state root in a
// directory of 100 and of 10,000 files; and benchFs's small-file figures (ops/s). Each child first
// warms up on the small cases. Prints the medians in markdown tables and the load average. Goal
// (issue 11): the 1 GiB append within 20 % of the 1 MiB one.
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { nobleCrypto } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import type { FsApi } from './fs-bench.ts'
import { machine, markdownTable, summarize } from './bench-util.ts'

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    ops: { type: 'string', default: '256' },
    crypto: { type: 'string', default: 'noble' },
    child: { type: 'string' },
    case: { type: 'string' },
  },
})
const ops = Number(values.ops)
const CASES = ['append 1 MiB', 'append 1 GiB', 'create in 100', 'create in 10000', 'benchFs'] as const
type Case = (typeof CASES)[number]
type Figures = Record<string, number>

/** Child: one measurement with the checkout at `dir`, printed as JSON. */
async function child(dir: string, what: Case): Promise<Figures> {
  const crypto: Crypto = values.crypto === 'node' ? nodeCrypto : nobleCrypto
  const api = (await import(pathToFileURL(resolve(dir, 'core/fs/index.ts')).href)) as FsApi
  const own = (await import(pathToFileURL(resolve(dir, 'bench/fs-bench.ts')).href)) as { benchFs: (c: Crypto) => Promise<Figures> }
  // The measuring functions are this checkout's, so that both code versions run the same bench.
  const { appendUs, createInDirUs } = await import('./fs-bench.ts')
  appendUs(api, crypto, 2 ** 20, ops)
  createInDirUs(api, crypto, 100, ops)
  switch (what) {
    case 'append 1 MiB': return appendUs(api, crypto, 2 ** 20, ops)
    case 'append 1 GiB': return appendUs(api, crypto, 2 ** 30, ops)
    case 'create in 100': return createInDirUs(api, crypto, 100, ops)
    case 'create in 10000': return createInDirUs(api, crypto, 10_000, ops)
    case 'benchFs': {
      const f = await own.benchFs(crypto)
      return Object.fromEntries(Object.entries(f).filter(([k]) => k.endsWith('_ops_per_s')))
    }
  }
}

if (values.child !== undefined) {
  console.log(JSON.stringify(await child(values.child, values.case as Case)))
  process.exit(0)
}

const rounds = Number(values.rounds)
const self = fileURLToPath(import.meta.url)
const codes: [string, string][] = [['this checkout', resolve(self, '../..')]]
if (values.base !== undefined) codes.unshift([`base (${values.base})`, resolve(values.base)])
const runs = new Map<string, Figures[]>()
const m = machine()
process.stderr.write(`${m.model} x${m.cpus}, node ${m.node}, load ${m.loadavg.join(' ')}, crypto ${values.crypto}, ${rounds} rounds, ${ops} ops per measurement\n`)
for (let r = 0; r < rounds; r++) {
  for (const what of CASES) {
    for (const [name, dir] of codes) {
      const p = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', dir, '--case', what, '--ops', String(ops), '--crypto', values.crypto!],
        { stdio: ['ignore', 'pipe', 'inherit'], cwd: resolve(self, '../..') })
      if (p.status !== 0) throw new Error(`bench child ${name} ${what} failed (exit ${p.status})`)
      const f = JSON.parse(p.stdout.toString()) as Figures
      runs.set(`${name}|${what}`, [...(runs.get(`${name}|${what}`) ?? []), f])
      process.stderr.write(`round ${r + 1}: ${name}, ${what}: ${JSON.stringify(f)}\n`)
    }
  }
}
const med = (name: string, what: Case, key: string): number => summarize(runs.get(`${name}|${what}`)!.map((f) => f[key]!)).median
const range = (name: string, what: Case, key: string): string => {
  const s = summarize(runs.get(`${name}|${what}`)!.map((f) => f[key]!))
  return `${s.min.toFixed(1)}–${s.max.toFixed(1)}`
}
const pct = (a: number, b: number): string => `${Math.round((b / a) * 100)} %`

const appendRows: string[][] = []
for (const [key, label] of [['apply_us', 'applyOp (µs)'], ['apply_root_us', 'applyOp + stateRoot (µs)'], ['root_sha256_calls', 'sha256 calls of it'], ['root_sha256_bytes', 'bytes they hash']] as const) {
  for (const [name] of codes) {
    const a = med(name, 'append 1 MiB', key)
    const b = med(name, 'append 1 GiB', key)
    appendRows.push([label, name, a.toFixed(1), b.toFixed(1), pct(a, b), `${range(name, 'append 1 MiB', key)} / ${range(name, 'append 1 GiB', key)}`])
  }
}
console.log(markdownTable([['per 4 KiB append', 'code', '1 MiB file', '1 GiB file', '1 GiB / 1 MiB', 'min–max (1 MiB / 1 GiB)'], ...appendRows], [false, false, true, true, true, false]))
const dirRows: string[][] = []
for (const [key, label] of [['create_us', 'create + stateRoot (µs)'], ['sha256_calls', 'sha256 calls of it'], ['sha256_bytes', 'bytes they hash']] as const) {
  for (const [name] of codes) {
    const a = med(name, 'create in 100', key)
    const b = med(name, 'create in 10000', key)
    dirRows.push([label, name, a.toFixed(1), b.toFixed(1), pct(a, b)])
  }
}
console.log('\n' + markdownTable([['per create', 'code', 'dir of 100', 'dir of 10,000', 'large / small'], ...dirRows], [false, false, true, true, true]))
const keys = Object.keys(runs.get(`${codes[0]![0]}|benchFs`)![0]!)
const smallRows = keys.map((k) => {
  const v = codes.map(([name]) => med(name, 'benchFs', k))
  return [k, ...v.map((x) => String(Math.round(x))), ...(v.length === 2 ? [pct(v[0]!, v[1]!)] : [])]
})
console.log('\n' + markdownTable([['benchFs (100 dirs x 50 files, ops/s)', ...codes.map(([n]) => n), ...(codes.length === 2 ? ['after / before'] : [])], ...smallRows], [false, true, true, true]))
console.log(`\n${m.model} x${m.cpus}, node ${m.node}, crypto ${values.crypto}, medians of ${rounds} rounds, ${ops} ops per measurement, each in its own process; load average at the start ${m.loadavg.join(' ')}, at the end ${machine().loadavg.join(' ')}`)
