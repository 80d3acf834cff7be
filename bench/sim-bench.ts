// npm run bench:sim — simulator throughput for a 5-node, 2-volume run with all faults and one
// Byzantine node: events/s and seeds/min, with the fast test-only crypto and with real
// secp256k1/SHA-256 (noble), measured side by side in one run. Prints JSON to stdout and a
// table to stderr.
import os from 'node:os'
import { DEFAULT_SIM_CONFIG, runSim, type SimConfig } from '../sim/run.ts'

interface Figure {
  crypto: string
  ops: number
  seeds: number
  events: number
  seconds: number
  eventsPerSecond: number
  seedsPerMinute: number
}

function measure(crypto: SimConfig['crypto'], ops: number, seeds: number[]): Figure {
  let events = 0
  const t0 = performance.now()
  for (const seed of seeds) events += runSim({ ...DEFAULT_SIM_CONFIG, seed, ops, crypto }).events
  const seconds = (performance.now() - t0) / 1000
  return {
    crypto,
    ops,
    seeds: seeds.length,
    events,
    seconds: Math.round(seconds * 100) / 100,
    eventsPerSecond: Math.round(events / seconds),
    seedsPerMinute: Math.round((60 * seeds.length) / seconds * 10) / 10,
  }
}

const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()} ${os.arch()}` }
// Warm up the JIT once so both sides are measured hot.
runSim({ ...DEFAULT_SIM_CONFIG, seed: 999, ops: 50 })
const results: Figure[] = []
// --quick: one round of fewer ops (npm run bench:quick); default: two rounds of 500 ops.
const quick = process.argv.includes('--quick')
const OPS = quick ? 150 : 500
// Alternate the two crypto implementations so that machine drift hits both alike.
for (const round of quick ? [0] : [0, 1]) {
  results.push(measure('test', OPS, [1 + round * 2, 2 + round * 2]))
  results.push(measure('real', OPS, [1 + round * 2]))
}
const summary = (crypto: string) => {
  const rs = results.filter((r) => r.crypto === crypto)
  const events = rs.reduce((s, r) => s + r.events, 0)
  const seconds = rs.reduce((s, r) => s + r.seconds, 0)
  const seeds = rs.reduce((s, r) => s + r.seeds, 0)
  return { crypto, seeds, events, seconds: Math.round(seconds * 100) / 100, eventsPerSecond: Math.round(events / seconds), seedsPerMinute: Math.round((60 * seeds) / seconds * 10) / 10 }
}
const out = { machine, config: { ...DEFAULT_SIM_CONFIG, ops: OPS, quick }, runs: results, summary: [summary('test'), summary('real')] }
console.log(JSON.stringify(out, null, 2))
console.error('| crypto | seeds | events | s | events/s | seeds/min |\n|---|---|---|---|---|---|')
for (const s of out.summary) console.error(`| ${s.crypto} | ${s.seeds} | ${s.events} | ${s.seconds} | ${s.eventsPerSecond} | ${s.seedsPerMinute} |`)
