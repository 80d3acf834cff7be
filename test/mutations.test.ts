// Proving the checks can fail: each deliberately broken variant of the core (core/mutations.ts)
// must be caught by the simulator's invariant checks within 1,000 seeds, by the invariant that
// guards against it, on a seed where the unbroken core passes. A weakened oracle fails here.
import { describe, expect, it } from 'vitest'
import { DEFAULT_SIM_CONFIG, runSim, type SimConfig } from '../sim/run.ts'
import { MUTATIONS, type Mutation } from '../core/mutations.ts'

const MAX_SEEDS = 1000

/** The configuration that gives each mutation a chance to show, and the IDs that must catch it. */
const CASES: Record<Mutation, { config: Partial<SimConfig>; caughtBy: string[] }> = {
  'accept-unsealed': { config: { strategies: ['forge'] }, caughtBy: ['FOTB-1', 'FOTB-2', 'VOL-8'] },
  'deliver-out-of-order': { config: {}, caughtBy: ['FOTB-3'] },
  'skip-obf-check': { config: { strategies: ['lie'] }, caughtBy: ['VOL-4'] },
  'quorum-off-by-one': { config: { strategies: ['equivocate'] }, caughtBy: ['FOTB-4'] },
  'apply-own-twice': { config: {}, caughtBy: ['VOL-3'] },
  'verify-top-only': { config: {}, caughtBy: ['VOL-9'] },
  'keep-chunk-bytes': { config: {}, caughtBy: ['STORE-3'] },
  'forget-fetched-chunks': { config: {}, caughtBy: ['STORE-1'] },
  'keep-plain-ops': { config: {}, caughtBy: ['STORE-4'] },
  'forget-fetched-plain': { config: {}, caughtBy: ['STORE-5'] },
  'forget-fetched-entries': { config: {}, caughtBy: ['STORE-5'] },
  'trust-any-checkpoint': { config: { forgeCheckpoints: true }, caughtBy: ['CKPT-2'] },
  'stale-image': { config: {}, caughtBy: ['CKPT-4'] },
  'keep-past-records': { config: {}, caughtBy: ['STORE-6'] },
  'keep-log-records': { config: {}, caughtBy: ['STORE-7'] },
  'skip-tail-recovery': { config: {}, caughtBy: ['FOTB-8', 'FOTB-9'] },
  'accept-reused-invite': { config: { admission: 'closed' }, caughtBy: ['VOL-14'] },
  'admit-anyone': { config: { admission: 'closed' }, caughtBy: ['VOL-13'] },
  'retention-unlink': { config: { retention: true }, caughtBy: ['FS-14'] },
  'totb-apply-on-arrival': { config: { order: 'totb', volumes: 1 }, caughtBy: ['TOTB-7'] },
  'totb-stale-committee': { config: { order: 'totb', volumes: 1 }, caughtBy: ['TOTB-8'] },
}

describe('every deliberately broken core is caught by the simulator', () => {
  it('covers every mutation the core offers', () => {
    expect(Object.keys(CASES).sort()).toEqual([...MUTATIONS].sort())
  })

  for (const mutation of MUTATIONS) {
    const { config, caughtBy } = CASES[mutation]
    it(`${mutation} is caught by ${caughtBy.join(' or ')} within ${MAX_SEEDS} seeds`, () => {
      let caughtAt: number | undefined
      for (let seed = 1; seed <= MAX_SEEDS && caughtAt === undefined; seed++) {
        const base: SimConfig = { ...DEFAULT_SIM_CONFIG, seed, ops: 40, ...config }
        const broken = runSim({ ...base, mutation })
        if (!broken.violations.some((v) => caughtBy.includes(v.id))) continue
        // Only a seed on which the correct core passes shows that the mutation was caught.
        if (runSim(base).violations.length === 0) caughtAt = seed
      }
      expect(caughtAt).toBeDefined()
    })
  }
})
