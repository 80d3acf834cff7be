// The store's index of the file system's past (runtime/past-index.ts) against MemoryPastStore,
// the model of the port: random past records written in random batches, read back while staged,
// once durable and after a restart (a fresh index over the same keys, which re-indexes the
// records its pages do not hold yet), pages crossed, pages flushed at random bounds.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { Value } from '../core/codec.ts'
import type { VolumeName } from '../core/types.ts'
import { MemoryPastStore, pastRecord } from '../core/volume/past.ts'
import { PAST_PAGE, PastIndex, type PastLevel } from '../runtime/past-index.ts'

/** level as a Map: getSync, and an ascending scan of [gte, lt). */
function mapLevel(level: Map<string, Uint8Array>): PastLevel {
  return {
    getSync: (k) => level.get(k),
    scan: async function* (gte, lt) {
      for (const k of [...level.keys()].filter((k) => k >= gte && k < lt).sort()) yield [k, level.get(k)!] as const
    },
  }
}

const V = 'v' as VolumeName
const names = ['a', 'b', 'c:d', 'ü', '']

describe('the past index', () => {
  it('[STORE-6] answers like MemoryPastStore while staged, once durable and after a restart', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ inos: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }), events: fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.constantFrom(...names)), { maxLength: 2, selector: ([d, n]) => `${d}/${n}` }) }), { minLength: 1, maxLength: 60 }),
      fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 60, maxLength: 60 }),
      fc.integer({ min: 1, max: 25 }),
      async (epochs, batchSizes, flushEpochs) => {
        const level = new Map<string, Uint8Array>()
        const index = new PastIndex(mapLevel(level), flushEpochs)
        const model = new MemoryPastStore()
        const records: Value[] = epochs.map((e, i) => pastRecord(V, i + 1, e.inos.sort((a, b) => a - b).map((ino) => [ino, ['v', i + 1]]), e.events.map(([d, n]) => [d, n, i + 1]), ['line', i + 1]))
        const check = (port: ReturnType<PastIndex['asPort']>): void => {
          for (let ino = 1; ino <= 6; ino++) expect(port.versionEpochs(V, ino)).toEqual(model.versionEpochs(V, ino))
          for (let d = 1; d <= 3; d++) {
            expect([...port.dirNames(V, d)].sort()).toEqual([...model.dirNames(V, d)].sort())
            for (const n of names) expect(port.nameEpochs(V, d, n)).toEqual(model.nameEpochs(V, d, n))
          }
          for (let e = 1; e <= records.length; e++) expect(port.pastRecord(V, e)).toEqual(model.pastRecord(V, e))
        }
        // Pipelined as the host does: the next batch is staged before the previous one is durable.
        let i = 0
        let b = 0
        let inFlight: Value[] | undefined
        while (i < records.length || inFlight !== undefined) {
          const batch = records.slice(i, i + batchSizes[b++ % batchSizes.length]!)
          i += batch.length
          if (batch.length > 0) {
            index.stage(batch)
            model.absorb(batch)
            check(index.asPort())
          }
          if (inFlight !== undefined) {
            for (const op of index.ops(inFlight)) level.set(op.key, op.value)
            index.durable(inFlight)
            check(index.asPort())
            // Only the batch still in flight is held in memory, and the unpaged ones are bounded.
            expect(index.stagedRecords).toBe(batch.length)
            expect(index.unpagedRecords).toBeLessThan(flushEpochs)
          }
          inFlight = batch.length > 0 ? batch : undefined
        }
        // Nothing stays in memory once every batch is durable, although one was always in flight.
        expect(index.stagedRecords).toBe(0)
        const reopened = new PastIndex(mapLevel(level), flushEpochs)
        expect(await reopened.recover()).toBe(index.unpagedRecords)
        check(reopened.asPort())
        // Pages were written only when the bound was reached: a flush per flushEpochs records.
        const marks = [...level.keys()].filter((k) => k.startsWith('h:i:'))
        expect(marks.length).toBe(records.length >= flushEpochs ? 1 : 0)
      }), { numRuns: 150 })
  })

  it('an inode with more versions than a page spans pages, each written back bounded', () => {
    const level = new Map<string, Uint8Array>()
    const index = new PastIndex(mapLevel(level), 1)
    const n = PAST_PAGE * 2 + 5
    let largest = 0
    for (let e = 1; e <= n; e++) {
      const batch = [pastRecord(V, e, [[7, ['v']]], [], ['l'])]
      for (const op of index.ops(batch)) {
        level.set(op.key, op.value)
        largest = Math.max(largest, op.value.length)
      }
      index.durable(batch)
    }
    expect(index.asPort().versionEpochs(V, 7)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    expect(level.get('h:v:v:7:00000002')).toBeDefined()
    expect(largest).toBeLessThan(PAST_PAGE * 8)
  })
})
