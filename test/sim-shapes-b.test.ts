// CI swarms of other shapes than the default (issue 16): n = 7 with f = 2 Byzantine members, and
// policy any (whose promise is spec/paciofs.md "What each guarantees": safety always, liveness
// where the member set that is left keeps its Byzantine members within f). See sim-shapes-a.
import { describe, expect, it } from 'vitest'
import { failures, livenessUnchecked, runSeeds } from './support/sim-seeds.ts'

describe('simulation swarm, 7 nodes, 2 Byzantine (f = 2), seeds 1..12', () => {
  const swarm = runSeeds(1, 12, { nodes: 7, byzantine: 2 })
  it('[FOTB-4] [FOTB-5] [VOL-2] [VOL-5] [VOL-6] hold on every seed, liveness checked on every one', () => {
    expect(failures(swarm.results)).toEqual([])
    expect(livenessUnchecked(swarm.results)).toEqual([])
  })
})

describe('simulation swarm, policy any, 5 nodes, 1 Byzantine, seeds 1..20', () => {
  const swarm = runSeeds(1, 20, { policy: 'any' })
  it('[FOTB-4] [FOTB-5] [VOL-1] [VOL-2] [VOL-5] hold on every seed, as far as policy any promises them', () => {
    expect(failures(swarm.results)).toEqual([])
    // A vote abuser kicks correct members; some seeds still check liveness.
    expect(swarm.results.some((r) => !r.notes.some((n) => n.includes('liveness not checked')))).toBe(true)
  })
})
