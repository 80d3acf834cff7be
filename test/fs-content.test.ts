// planWrite/readFile against a plain byte-array model, across block boundaries, holes, truncates.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto } from '../core/crypto.ts'
import type { Pid } from '../core/types.ts'
import type { WriteStep } from '../core/fs/index.ts'
import { BLOCK_SIZE, applyOp, checkFsInvariants, createFs, getattr, planWrite, readFile } from '../core/fs/index.ts'

const AUTHOR = '02'.padEnd(66, 'c') as Pid
const cred = { uid: 1, gid: 1 }

const offsetArb = fc.oneof(
  fc.integer({ min: 0, max: 3 * BLOCK_SIZE + 100 }),
  fc.integer({ min: -3, max: 3 }).chain((d) => fc.integer({ min: 1, max: 3 }).map((k) => Math.max(0, k * BLOCK_SIZE + d))),
)
const stepArb: fc.Arbitrary<WriteStep> = fc.oneof(
  { arbitrary: fc.record({ offset: offsetArb, data: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 2 * BLOCK_SIZE }).map((n) => new Uint8Array(n).fill(7))) }), weight: 4 },
  { arbitrary: offsetArb.map((n) => ({ truncate: n })), weight: 1 },
)

function modelApply(data: Uint8Array, steps: WriteStep[]): Uint8Array {
  for (const s of steps) {
    if ('truncate' in s) {
      const next = new Uint8Array(s.truncate)
      next.set(data.subarray(0, s.truncate))
      data = next
    } else if (s.data.length > 0) {
      const next = new Uint8Array(Math.max(data.length, s.offset + s.data.length))
      next.set(data)
      next.set(s.data, s.offset)
      data = next
    }
  }
  return data
}

describe('planWrite / readFile', () => {
  it('[FS-5] sessions of random writes and truncates read back exactly like a byte array (holes read as zeros)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ steps: fc.array(stepArb, { maxLength: 5 }), truncateTo: fc.option(offsetArb, { nil: undefined }) }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 5 }),
      (sessions, reads) => {
        const fs = createFs(nobleCrypto)
        const chunks = new Map<string, Uint8Array>()
        const get = (h: string): Uint8Array | undefined => chunks.get(h)
        applyOp(fs, { type: 'create', path: '/f', mode: 0o644, ino: 2, cred, time: { sec: 1, nsec: 0 } }, { epoch: 1, author: AUTHOR })
        let model: Uint8Array = new Uint8Array(0)
        for (const { steps, truncateTo } of sessions) {
          const plan = planWrite(fs, get, '/f', steps, truncateTo, nobleCrypto, { cred, time: { sec: fs.epoch, nsec: 0 } })
          expect(plan.ok).toBe(true)
          if (!plan.ok) return
          for (const [h, d] of plan.value.chunks) {
            expect(d.length).toBeLessThanOrEqual(BLOCK_SIZE)
            chunks.set(h, d)
          }
          expect(applyOp(fs, plan.value.op, { epoch: fs.epoch + 1, author: AUTHOR }).result).toEqual({ ok: true })
          model = modelApply(model, truncateTo === undefined ? steps : [{ truncate: truncateTo }, ...steps])
          const all = readFile(fs, get, '/f', 0, model.length + 5)
          expect(all.ok && Buffer.from(all.value).equals(Buffer.from(model))).toBe(true)
          const a = getattr(fs, '/f')
          expect(a.ok && a.value.size).toBe(model.length)
          expect(checkFsInvariants(fs)).toEqual([])
        }
        for (const [o, l] of reads) {
          const off = o % (model.length + 2)
          const r = readFile(fs, get, '/f', off, l % 70000)
          expect(r.ok && Buffer.from(r.value).equals(Buffer.from(model.subarray(off, off + (l % 70000))))).toBe(true)
        }
      }), { numRuns: 150 })
  })

  it('[FS-5] a plain truncate op down into a block and back up exposes zeros, not the old bytes', () => {
    const fs = createFs(nobleCrypto)
    const chunks = new Map<string, Uint8Array>()
    const get = (h: string): Uint8Array | undefined => chunks.get(h)
    const time = { sec: 1, nsec: 0 }
    applyOp(fs, { type: 'create', path: '/f', mode: 0o644, ino: 2, cred, time }, { epoch: 1, author: AUTHOR })
    const plan = planWrite(fs, get, '/f', [{ offset: 0, data: new Uint8Array(100).fill(9) }], undefined, nobleCrypto, { cred, time })
    if (!plan.ok) throw new Error('plan')
    for (const [h, d] of plan.value.chunks) chunks.set(h, d)
    applyOp(fs, plan.value.op, { epoch: 2, author: AUTHOR })
    applyOp(fs, { type: 'truncate', path: '/f', size: 10, cred, time }, { epoch: 3, author: AUTHOR })
    applyOp(fs, { type: 'truncate', path: '/f', size: 100, cred, time }, { epoch: 4, author: AUTHOR })
    const r = readFile(fs, get, '/f', 0, 100)
    expect(r.ok && [...r.value]).toEqual([...new Uint8Array(10).fill(9), ...new Uint8Array(90)])
    expect(readFile(fs, () => undefined, '/f', 0, 10)).toEqual({ ok: false, errno: 'EIO' })
  })

  it('[FS-5] all-zero blocks are written as holes and planWrite refuses non-files', () => {
    const fs = createFs(nobleCrypto)
    const time = { sec: 1, nsec: 0 }
    applyOp(fs, { type: 'create', path: '/f', mode: 0o644, ino: 2, cred, time }, { epoch: 1, author: AUTHOR })
    applyOp(fs, { type: 'mkdir', path: '/d', mode: 0o755, ino: 3, cred, time }, { epoch: 2, author: AUTHOR })
    const plan = planWrite(fs, () => undefined, '/f', [{ offset: 0, data: new Uint8Array(3 * BLOCK_SIZE) }], undefined, nobleCrypto, { cred, time })
    expect(plan.ok && plan.value.op.blocks.every(([, h]) => h === null) && plan.value.chunks.size).toBe(0)
    expect(planWrite(fs, () => undefined, '/d', [], undefined, nobleCrypto, { cred, time })).toEqual({ ok: false, errno: 'EISDIR' })
    expect(planWrite(fs, () => undefined, '/x', [], undefined, nobleCrypto, { cred, time })).toEqual({ ok: false, errno: 'ENOENT' })
  })
})
