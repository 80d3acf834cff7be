// Shared by the seed-swarm test files: runs a range of seeds of the default configuration and
// reports which fault classes and Byzantine strategies the range exercised.
import { DEFAULT_SIM_CONFIG, runSim, type SimConfig, type SimResult } from '../../sim/run.ts'
import type { FaultClass, ByzStrategy } from '../../sim/faults.ts'

export const SWARM_OPS = 40

/** A swarm's shape: what differs from the default configuration (nodes, Byzantine, policy). */
export type Shape = Partial<Pick<SimConfig, 'nodes' | 'byzantine' | 'policy' | 'ops'>>

export function runSeeds(from: number, to: number, shape: Shape = {}): { results: SimResult[]; faults: Set<FaultClass>; strategies: Set<ByzStrategy> } {
  const results: SimResult[] = []
  const faults = new Set<FaultClass>()
  const strategies = new Set<ByzStrategy>()
  for (let seed = from; seed <= to; seed++) {
    const r = runSim({ ...DEFAULT_SIM_CONFIG, seed, ops: SWARM_OPS, ...shape })
    results.push(r)
    const p = r.plan
    if (p.lossPct > 0) faults.add('loss')
    if (p.dupPct > 0) faults.add('dup')
    if (p.delayMaxMs > p.delayMinMs) faults.add('delay')
    if (p.partitions.length > 0) faults.add('partition')
    if (p.crashes.length > 0) faults.add('crash')
    if (p.crashes.some((c) => c.torn !== null)) faults.add('torn')
    if (p.crashes.some((c) => c.flips.length > 0)) faults.add('corrupt')
    if (p.crashes.some((c) => c.lostTail > 0)) faults.add('tail')
    if ((p.diskFull ?? []).length > 0) faults.add('full')
    if (p.skew.some((x) => x !== 1)) faults.add('skew')
    for (const s of p.byzantine) strategies.add(s)
  }
  return { results, faults, strategies }
}

/** One line per failing seed, with its replay command, for a readable test failure. */
export function failures(results: readonly SimResult[]): string[] {
  return results
    .filter((r) => r.violations.length > 0)
    .map((r) => `seed ${r.seed} (${r.plan.byzantine.join(',')}): ${r.violations.slice(0, 3).map((v) => `${v.id} ${v.message}`).join(' | ')} — replay: npx paciofs sim --seed ${r.seed} --nodes ${r.config.nodes} --byzantine ${r.config.byzantine} --policy ${r.config.policy} --ops ${r.config.ops}`)
}

/** One line per run that checked no liveness somewhere, with the reason (issue 16: under policy
 *  majority the simulator keeps every run's faults within the fault model, so there should be
 *  none). */
export function livenessUnchecked(results: readonly SimResult[]): string[] {
  return results.flatMap((r) => r.notes.filter((n) => n.includes('liveness not checked')).map((n) => `seed ${r.seed}: ${n}`))
}
