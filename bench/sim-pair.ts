// Simulator A/B in one process: every seed is run on each tree in turn (the order rotating from
// seed to seed), and the CPU time of each run is summed per tree. Why beside sim-ab.ts: on this
// shared machine (load 8-11 on 2 cores) one tree's whole child process often meets other load than
// the other's, and sim-ab's rounds of the same tree differed by up to 25 %; interleaving seed by
// seed in one process spreads the load over every tree alike.
//   node --import tsx bench/sim-pair.ts <treeA> <treeB> [<treeC> ...] [--seeds 1..10] [--rounds 1] [--ops 500]
// Trees must lie inside this repository (e.g. tmp/t/base from `git archive <commit> | tar -x -C
// tmp/t/base`) so that their imports resolve to its node_modules. Each tree is warmed by three
// 150-op runs first. Prints the speed of each tree against the first, per seed and in total, and
// whether the trace hashes of all trees agree seed by seed.
import path from 'node:path'

interface SimModule {
  runSim: (config: Record<string, unknown>) => { events: number; traceHash: string }
  DEFAULT_SIM_CONFIG: Record<string, unknown>
}

const args = process.argv.slice(2)
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1]! : dflt
}
const trees = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1]!.startsWith('--')))
const [lo, hi] = opt('seeds', '1..10').split('..').map(Number) as [number, number]
const ops = Number(opt('ops', '500'))
const rounds = Number(opt('rounds', '1'))

const mods: SimModule[] = []
for (const t of trees) mods.push((await import(path.resolve(t, 'sim/run.ts'))) as SimModule)
for (const m of mods) for (const seed of [997, 998, 999]) m.runSim({ ...m.DEFAULT_SIM_CONFIG, seed, ops: 150 })

const cpuMs = trees.map(() => 0)
const events = trees.map(() => 0)
const perSeed = new Map<number, number[]>()
let turn = 0
for (let r = 0; r < rounds; r++) {
  for (let seed = lo; seed <= hi; seed++) {
    const hashes = new Set<string>()
    const ms = perSeed.get(seed) ?? trees.map(() => 0)
    for (let j = 0; j < trees.length; j++) {
      const i = (j + turn) % trees.length
      const m = mods[i]!
      const c0 = process.cpuUsage()
      const res = m.runSim({ ...m.DEFAULT_SIM_CONFIG, seed, ops })
      const c = process.cpuUsage(c0)
      cpuMs[i]! += (c.user + c.system) / 1000
      ms[i]! += (c.user + c.system) / 1000
      events[i]! += res.events
      hashes.add(res.traceHash)
    }
    perSeed.set(seed, ms)
    turn++
    if (hashes.size !== 1) console.log(`seed ${seed}: trace hashes differ: ${[...hashes].join(' ')}`)
  }
}
for (const [seed, ms] of perSeed) console.log(`seed ${seed}: ${ms.map((x) => `${(ms[0]! / x).toFixed(2)}x`).join(' ')}`)
const base = events[0]! / cpuMs[0]!
trees.forEach((t, i) => console.log(`${t}: ${events[i]} events in ${(cpuMs[i]! / 1000).toFixed(1)} CPU s = ${Math.round((events[i]! / cpuMs[i]!) * 1000)} events per CPU s (${(events[i]! / cpuMs[i]! / base).toFixed(3)}x)`))
