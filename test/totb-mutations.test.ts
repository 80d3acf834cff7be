// Proving the TOTB checks can fail: each deliberately broken totb rule (core/totb/state.ts
// TOTB_MUTATIONS) must be caught by sim/totb's checkers within 1,000 seeds, by the invariant that
// guards against it, on a seed where the unbroken core passes (as test/mutations.test.ts does for
// the rest of the core).
import { describe, expect, it } from 'vitest'
import { TOTB_MUTATIONS, type TotbMutation } from '../core/totb/index.ts'
import { DEFAULT_DAG_CONFIG, runDagSim, type DagSimConfig } from '../sim/totb/dag.ts'

const MAX_SEEDS = 1000

const CASES: Record<TotbMutation, { config: Partial<DagSimConfig>; caughtBy: string[] }> = {
  'totb-commit-with-f': { config: {}, caughtBy: ['TOTB-1'] },
  'totb-skip-indirect': { config: {}, caughtBy: ['TOTB-1'] },
  // Needs a Byzantine leader whose q - 1 refs avoid every vote, with the network splitting the
  // members on the leader before it: rarer, so more operations give it more leader rounds.
  'totb-accept-fewer-refs': { config: { strategies: ['avoid-leader'], ops: 200 }, caughtBy: ['TOTB-1'] },
  'totb-trust-leader-time': { config: { strategies: ['lie-time'] }, caughtBy: ['TOTB-6'] },
}

describe('every deliberately broken totb rule is caught by the DAG simulator', () => {
  it('covers every totb mutation', () => {
    expect(Object.keys(CASES).sort()).toEqual([...TOTB_MUTATIONS].sort())
  })

  for (const mutation of TOTB_MUTATIONS) {
    const { config, caughtBy } = CASES[mutation]
    it(`[TOTB-1] [TOTB-6] ${mutation} is caught by ${caughtBy.join(' or ')} within ${MAX_SEEDS} seeds`, () => {
      let caughtAt: number | undefined
      for (let seed = 1; seed <= MAX_SEEDS && caughtAt === undefined; seed++) {
        const base: DagSimConfig = { ...DEFAULT_DAG_CONFIG, seed, ...config }
        const broken = runDagSim({ ...base, mutation })
        if (!broken.violations.some((v) => caughtBy.includes(v.id))) continue
        if (runDagSim(base).violations.length === 0) caughtAt = seed
      }
      expect(caughtAt).toBeDefined()
    })
  }
})
