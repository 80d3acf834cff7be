// The core's overall figures: `npm run bench:core`. Runs the ledger, fs-reducer and node
// benchmarks with noble crypto, prints one JSON object to stdout
// ({machine, crypto, results: {ledger, fs, node}}) and a short table to stderr.
// Figures drift with machine load: compare runs side by side, in one session.
import os from 'node:os'
import { nobleCrypto } from '../core/crypto.ts'
import { benchLedger } from './ledger-bench.ts'
import { benchFs } from './fs-bench.ts'
import { benchNode } from './node-bench.ts'

type Figures = Record<string, number>

const cpus = os.cpus()
const machine = {
  cpus: cpus.length,
  model: cpus[0]?.model.trim() ?? 'unknown',
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
}

const suites: [string, () => Promise<Figures>][] = [
  ['ledger', () => benchLedger(nobleCrypto)],
  ['fs', () => benchFs(nobleCrypto)],
  ['node', () => benchNode(nobleCrypto)],
]

const results: Record<string, Figures> = {}
const seconds: Record<string, number> = {}
for (const [name, run] of suites) {
  const t0 = performance.now()
  results[name] = await run()
  seconds[name] = (performance.now() - t0) / 1000
}

console.log(JSON.stringify({ machine, crypto: nobleCrypto.name, results }, null, 2))

const lines: string[] = [`${machine.model} x${machine.cpus}, node ${machine.node}, ${machine.platform}, crypto ${nobleCrypto.name}`]
const width = Math.max(...Object.values(results).flatMap((f) => Object.keys(f).map((k) => k.length)))
for (const [name, figures] of Object.entries(results)) {
  lines.push(`-- ${name} (${seconds[name]!.toFixed(1)} s)`)
  for (const [k, v] of Object.entries(figures)) lines.push(`  ${k.padEnd(width)}  ${v.toLocaleString('en-US').padStart(12)}`)
}
process.stderr.write(lines.join('\n') + '\n')
