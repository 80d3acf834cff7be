// Seeds 1..100 of the default simulation (5 nodes, 1 Byzantine, 2 volumes, every fault
// class, policy majority): every invariant of spec/ must hold on every one. Split over two files
// so that vitest runs the halves on both cores.
import { describe, expect, it } from 'vitest'
import { failures, livenessUnchecked, runSeeds } from './support/sim-seeds.ts'
import { FAULT_CLASSES, BYZ_STRATEGIES } from '../sim/faults.ts'

describe('simulation seeds 1..100', () => {
  const swarm = runSeeds(1, 100)

  it('[FOTB-1] [FOTB-2] [FOTB-3] [FOTB-4] [FOTB-5] [FOTB-6] [FOTB-8] [FOTB-9] [VOL-1] [VOL-2] [VOL-3] [VOL-4] [VOL-5] [VOL-6] [VOL-7] [VOL-8] [VOL-9] [VOL-10] [VOL-11] [VOL-12] hold on every seed under faults and Byzantine peers', () => {
    expect(failures(swarm.results)).toEqual([])
  })

  it('[FOTB-5] [VOL-2] [VOL-5] liveness is checked on every seed: the faults stay within the fault model at the end (sim/run.ts roomToLose)', () => {
    expect(livenessUnchecked(swarm.results)).toEqual([])
  })

  it('the range exercises every fault class and every Byzantine strategy', () => {
    expect([...swarm.faults].sort()).toEqual([...FAULT_CLASSES].sort())
    expect([...swarm.strategies].sort()).toEqual([...BYZ_STRATEGIES].sort())
  })
})
