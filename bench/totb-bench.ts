// npm run bench:totb — what the total order (core/totb) costs and how fast it orders, before it is
// wired into the volume (issue 13): the DAG simulator (sim/totb/dag.ts) with every member's real
// reducer, 20,000 operations offered over 8 s of virtual time (2,500 ops/s), links of 1-12 ms.
// Per shape: CPU time of the whole run (the reducers of all members plus the simulator's own
// hashing and queue: an upper bound of the core's cost per ordered op), ordered ops per CPU
// second per member, and the virtual latency from an op's append to its ordering at the last
// correct member, p50/p99 (in rounds of the 1-12 ms links; over real fotb each round costs a
// fotb delivery instead). Not a substitute for `bench:broadcast --order totb`, which needs the
// volume to order by totb. Prints a markdown table and writes bench/results/totb.json.
import { performance } from 'node:perf_hooks'
import { faultBound } from '../core/totb/index.ts'
import { DEFAULT_DAG_CONFIG, runDagSim, type DagSimConfig } from '../sim/totb/dag.ts'
import { machine, markdownTable, writeResults } from './bench-util.ts'

const quick = process.argv.includes('--quick')
const OPS = quick ? 4000 : 20_000
const shapes: { label: string; config: Partial<DagSimConfig> }[] = [
  { label: '4 members, no faults', config: { nodes: 4, byzantine: 0, faults: false } },
  { label: '7 members, no faults', config: { nodes: 7, byzantine: 0, faults: false } },
  { label: '10 members, no faults', config: { nodes: 10, byzantine: 0, faults: false } },
  // The DAG runs' fault phase (5 % of entries 50-600 ms late, slow links, partitions, crashes,
  // Byzantine members): latency there is the faults', not the protocol's.
  { label: '4 members, 1 Byzantine, all faults', config: { nodes: 4, byzantine: faultBound(4), faults: true } },
  { label: '7 members, 2 Byzantine, all faults', config: { nodes: 7, byzantine: faultBound(7), faults: true } },
]

runDagSim({ ...DEFAULT_DAG_CONFIG, seed: 999, ops: 500 }) // warm up the JIT
const rows: (string | number)[][] = [['shape', 'ops ordered (per member)', 'CPU s', 'ordered ops / CPU s / member', 'rounds', 'latency p50 / p99 (virtual ms)']]
const results: unknown[] = []
for (const { label, config } of shapes) {
  const c: DagSimConfig = { ...DEFAULT_DAG_CONFIG, seed: 1, ops: OPS, epochRounds: 1000, ...config }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const r = runDagSim(c)
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const cpuS = (cpu.user + cpu.system) / 1e6
  const ordered = Math.min(...r.ordered)
  // Every member orders every op; one process ran all members, so a member's share of the CPU
  // is cpuS / members.
  const perCpu = Math.round((ordered * c.nodes) / cpuS)
  rows.push([label, ordered, cpuS.toFixed(2), perCpu, r.rounds, `${r.latencyMs.p50} / ${r.latencyMs.p99}`])
  results.push({ label, config: { ...c, strategies: undefined }, ordered, cpuSeconds: cpuS, wallSeconds: wall, orderedPerCpuSecondPerMember: perCpu, rounds: r.rounds, vertices: r.vertices, latencyMs: r.latencyMs, violations: r.violations.length })
  process.stderr.write(`[totb] ${label}: ${ordered} ordered, ${cpuS.toFixed(2)} CPU s, ${r.violations.length} violations\n`)
}
console.log(markdownTable(rows))
console.log(`\nmachine: ${JSON.stringify(machine())}`)
writeResults('totb', { machine: machine(), ops: OPS, results })
