// runtime/store.ts on real level databases: round trip across close/reopen, damage detection
// (VOL-12), the lock, open errors, a node rebuilt from its store, and a SIGKILL'd writer that
// keeps every batch it acknowledged.
import { afterEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import type { Value } from '../core/codec.ts'
import { nobleCrypto } from '../core/crypto.ts'
import { createNode, nodeConfig, restoreNode, step, type NodeInput } from '../core/node.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import type { VolumeName } from '../core/types.ts'
import { batchKey, RecordStore, StoreError } from '../runtime/store.ts'

const dirs: string[] = []
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'paciofs-store-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const recordArb: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.maxSafeInteger(),
    fc.string({ maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 10 }),
    fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('value'), { maxLength: 4 }),
  ),
})).value
const batchesArb = fc.array(fc.array(recordArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 12 })

async function withStore<T>(dir: string, f: (store: RecordStore) => Promise<T>): Promise<T> {
  const store = await RecordStore.open(dir)
  try {
    return await f(store)
  } finally {
    await store.close()
  }
}

async function rawUpdate(dir: string, f: (db: Level<string, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  try {
    await f(db)
  } finally {
    await db.close()
  }
}

describe('RecordStore', () => {
  it('records come back in append order and equal, across close/reopen in the middle', async () => {
    await fc.assert(
      fc.asyncProperty(batchesArb, fc.nat(), async (batches, cut) => {
        const dir = freshDir()
        const split = cut % (batches.length + 1)
        await withStore(dir, async (s) => {
          for (const b of batches.slice(0, split)) await s.append(b)
        })
        // Reopening restores the sequence number: later batches follow, nothing is overwritten.
        await withStore(dir, async (s) => {
          await Promise.all(batches.slice(split).map((b) => s.append(b)))
        })
        const loaded = await withStore(dir, (s) => s.loadAll())
        expect(loaded.problems).toEqual([])
        expect(loaded.records).toEqual(batches.flat())
        rmSync(dir, { recursive: true, force: true })
      }),
      { numRuns: 25 },
    )
  })

  it('[VOL-12] any changed byte of a stored batch is reported for exactly that key, and every other batch still loads', async () => {
    const batches: Value[][] = Array.from({ length: 5 }, (_, i) => [['rec', i], new Uint8Array(40).fill(i)])
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 4 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (victim, at, mask) => {
        const dir = freshDir()
        await withStore(dir, async (s) => {
          for (const b of batches) await s.append(b)
        })
        const key = batchKey(victim + 1)
        await rawUpdate(dir, async (db) => {
          const value = new Uint8Array(await db.get(key) as Uint8Array)
          value[at % value.length]! ^= mask
          await db.put(key, value)
        })
        const loaded = await withStore(dir, (s) => s.loadAll())
        expect(loaded.problems).toEqual([{ key, problem: expect.any(String) }])
        expect(loaded.records).toEqual(batches.filter((_, i) => i !== victim).flat())
        rmSync(dir, { recursive: true, force: true })
      }),
      { numRuns: 30 },
    )
  })

  it('[VOL-12] a batch moved to another key, a missing batch and a foreign key are each named', async () => {
    const dir = freshDir()
    await withStore(dir, async (s) => {
      for (let i = 1; i <= 5; i++) await s.append([['rec', i]])
    })
    await rawUpdate(dir, async (db) => {
      await db.put(batchKey(4), (await db.get(batchKey(2)))!) // copy 2 over 4
      await db.del(batchKey(3))
      await db.put('junk', new Uint8Array([1]))
    })
    const loaded = await withStore(dir, (s) => s.loadAll())
    expect(loaded.problems).toEqual([
      { key: batchKey(4), problem: 'batch 3 before this one is missing' },
      { key: batchKey(4), problem: 'the body belongs to batch 2, not to this key' },
      { key: 'junk', problem: expect.stringContaining('not a batch sequence number') },
    ])
    expect(loaded.records).toEqual([['rec', 1], ['rec', 2], ['rec', 5]])
  })

  it('opening a store that is already open reports STORE_LOCKED with what to do; after close it opens', async () => {
    const dir = freshDir()
    const first = await RecordStore.open(dir)
    const err = await RecordStore.open(dir).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as StoreError).code).toBe('STORE_LOCKED')
    expect((err as StoreError).message).toMatch(/in use by another paciofs process.*stop that process/)
    await first.close()
    await (await RecordStore.open(dir)).close()
  })

  it('a directory that cannot be created reports STORE_OPEN_FAILED with what to do', async () => {
    const file = join(freshDir(), 'a-file')
    writeFileSync(file, 'not a directory')
    const err = await RecordStore.open(join(file, 'db')).catch((e: unknown) => e)
    expect((err as StoreError).code).toBe('STORE_OPEN_FAILED')
    expect((err as StoreError).message).toMatch(/ENOTDIR.*check that the directory/)
  })

  it('a closed store refuses appends with STORE_CLOSED', async () => {
    const store = await RecordStore.open(freshDir())
    await store.close()
    await expect(store.append([1])).rejects.toMatchObject({ code: 'STORE_CLOSED' })
  })

  it('a node rebuilt from its store has no problems and the same state root', async () => {
    const dir = freshDir()
    const sk = new Uint8Array(32).fill(7)
    const config = nodeConfig(nobleCrypto, sk)
    const state = createNode(config)
    const vol = 'vol' as VolumeName
    const cred = { uid: 1000, gid: 1000 }
    const inputs: NodeInput[] = [
      { type: 'request', now: 0, req: 1, request: { type: 'create-volume', name: vol, policy: 'majority' } },
      ...['/a', '/b', '/c'].map((path, i): NodeInput => ({
        type: 'request', now: 10 + i, req: 2 + i,
        request: { type: 'fs', volume: vol, call: { type: 'create', path, mode: 0o644, cred, time: { sec: i, nsec: 0 } } },
      })),
    ]
    await withStore(dir, async (store) => {
      for (const input of inputs) {
        const { effects } = step(config, state, input)
        for (const e of effects) {
          if (e.type === 'persist') await store.append(e.records)
          if (e.type === 'reply') expect(e.result).toMatchObject({ ok: true })
        }
      }
    })
    // Restored as the host does: the records of loadAll, the plain ops and entries through the
    // store as the storage port (spec/storage.md).
    const restored = await withStore(dir, async (s) => {
      const loaded = await s.loadAll()
      expect(loaded.problems).toEqual([])
      expect(loaded.records.some((r) => Array.isArray(r) && (r[0] === 'plain' || r[0] === 'entry'))).toBe(false)
      return restoreNode({ ...config, storage: s }, loaded.records)
    })
    expect(restored.problems).toEqual([])
    const root = stateRoot(state.volumes.get(vol)!.fs)
    expect(stateRoot(restored.state.volumes.get(vol)!.fs)).toBe(root)
  })

  it('a writer killed with SIGKILL loses no acknowledged batch and leaves no partial one (three kills)', async () => {
    const dir = freshDir()
    const script = join(import.meta.dirname, 'support', 'store-appender.ts')
    let acked = 0
    for (const killAfter of [15, 40, 7]) {
      const child = spawn(process.execPath, ['--import', 'tsx', script, dir], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)))
      let buffered = ''
      let acksNow = 0
      const unexpected: string[] = [] // collected, not thrown: a throw in a stream handler would leave the child running
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString()
        const lines = buffered.split('\n')
        buffered = lines.pop()!
        for (const line of lines) {
          const n = Number(/^ack (\d+)$/.exec(line)?.[1])
          // A restarted writer continues after what is on disk, which may include batches that
          // were durable but killed before their ack was printed: its first ack may skip ahead.
          const ok = acksNow === 0 ? n >= acked + 1 : n === acked + 1
          if (!ok) unexpected.push(`after ack ${acked}: '${line}'`)
          acked = n
          if (++acksNow === killAfter || unexpected.length > 0) child.kill('SIGKILL')
        }
      })
      expect(await exited, stderr).toBe('SIGKILL')
      expect(unexpected).toEqual([])
      expect(acksNow).toBeGreaterThanOrEqual(killAfter)
    }
    const { records, problems } = await withStore(dir, (s) => s.loadAll())
    expect(problems).toEqual([])
    expect(records.length % 2).toBe(0)
    expect(records.length / 2).toBeGreaterThanOrEqual(acked)
    records.forEach((r, i) => expect((r as Value[]).slice(0, 3)).toEqual(['batch', Math.floor(i / 2) + 1, i % 2]))
  })
})
