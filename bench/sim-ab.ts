// Simulator A/B: events/s of two source trees on the same seeds, alternating A and B in one run so
// that machine load hits both alike (the machine is shared). Each round runs each tree in a fresh
// child process (JIT warmed on one small run first) on every seed; prints events/s per round and
// tree, the totals, and whether the trace hashes of A and B are equal seed by seed.
//   node --import tsx bench/sim-ab.ts <treeA> <treeB> [--rounds 3] [--seeds 1..10] [--ops 500]
// A tree is a checkout of this repository (e.g. a `git worktree add --detach` of the baseline).
// Besides wall time, each child reports the CPU time it used (user + system): on a machine shared
// with other jobs (load 10 on 2 cores) wall time mostly measures the others, CPU time much less.
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1]! : dflt
}

if (args[0] === '--child') {
  const root = args[1]!
  const seeds = args[2]!.split(',').map(Number)
  const ops = Number(args[3])
  const { runSim, DEFAULT_SIM_CONFIG } = await import(path.join(root, 'sim/run.ts'))
  runSim({ ...DEFAULT_SIM_CONFIG, seed: 999, ops: 50 })
  let events = 0
  const hashes: string[] = []
  let violations = 0
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  for (const seed of seeds) {
    const r = runSim({ ...DEFAULT_SIM_CONFIG, seed, ops })
    events += r.events
    hashes.push(r.traceHash)
    violations += r.violations.length
  }
  const seconds = (performance.now() - t0) / 1000
  const c1 = process.cpuUsage(c0)
  const cpuSeconds = (c1.user + c1.system) / 1e6
  console.log(JSON.stringify({ events, seconds, cpuSeconds, hashes, violations }))
} else {
  const [a, b] = [path.resolve(args[0]!), path.resolve(args[1]!)]
  const rounds = Number(opt('rounds', '3'))
  const [lo, hi] = opt('seeds', '1..10').split('..').map(Number) as [number, number]
  const seeds = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i)
  const ops = Number(opt('ops', '500'))
  const self = fileURLToPath(import.meta.url)
  const total = { A: { events: 0, seconds: 0, cpuSeconds: 0 }, B: { events: 0, seconds: 0, cpuSeconds: 0 } }
  const hashes: Record<'A' | 'B', string[]> = { A: [], B: [] }
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model}, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`A = ${a}\nB = ${b}\nseeds ${lo}..${hi}, ops ${ops}, rounds ${rounds}`)
  for (let r = 0; r < rounds; r++) {
    const order: ('A' | 'B')[] = r % 2 === 0 ? ['A', 'B'] : ['B', 'A']
    for (const side of order) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--child', side === 'A' ? a : b, seeds.join(','), String(ops)], { cwd: side === 'A' ? a : b, encoding: 'utf8', maxBuffer: 1 << 26 })
      const res = JSON.parse(out.trim().split('\n').pop()!) as { events: number; seconds: number; cpuSeconds: number; hashes: string[]; violations: number }
      total[side].events += res.events
      total[side].seconds += res.seconds
      total[side].cpuSeconds += res.cpuSeconds
      hashes[side] = res.hashes
      console.log(`round ${r + 1} ${side}: ${res.events} events in ${res.seconds.toFixed(2)} s = ${Math.round(res.events / res.seconds)} events/s, ${Math.round(res.events / res.cpuSeconds)} per CPU s (violations ${res.violations}, load ${os.loadavg()[0]!.toFixed(2)})`)
    }
  }
  for (const side of ['A', 'B'] as const) console.log(`total ${side}: ${total[side].events} events in ${total[side].seconds.toFixed(2)} s = ${Math.round(total[side].events / total[side].seconds)} events/s; ${total[side].cpuSeconds.toFixed(2)} CPU s = ${Math.round(total[side].events / total[side].cpuSeconds)} events per CPU s`)
  console.log(`speed-up B/A: ${((total.B.events / total.B.seconds) / (total.A.events / total.A.seconds)).toFixed(2)}x wall, ${((total.B.events / total.B.cpuSeconds) / (total.A.events / total.A.cpuSeconds)).toFixed(2)}x CPU`)
  const diff = seeds.filter((_, i) => hashes.A[i] !== hashes.B[i])
  console.log(diff.length === 0 ? `trace hashes: equal for all ${seeds.length} seeds` : `trace hashes differ for seeds ${diff.join(', ')}`)
}
