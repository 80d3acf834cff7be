// The block tree (core/fs/blocks.ts) against a plain Map: random set/delete/truncate sequences,
// every old version unchanged, the hash a function of the contents alone (spec/fs.md "State
// root", computed here independently from the spec's layout), and structure sharing counted in
// nodes and hashes, never timed.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import { encode, type Value } from '../core/codec.ts'
import { fromHex, toHex } from '../core/bytes.ts'
import type { ChunkHash, Pid } from '../core/types.ts'
import type { BlockChange, BlockRef, FsState } from '../core/fs/index.ts'
import {
  BLOCK_SIZE, BlockTree, INDEX_LIMIT, applyOp, checkFsInvariants, createFs, currentView, hashInodeVersion, inodeHash,
  nodeHead, snapshotAt, stateRoot, stateRootAt, stateRootUncached,
} from '../core/fs/index.ts'
import { newVersion } from '../core/fs/state.ts'

const AUTHOR = '02'.padEnd(66, 'b') as Pid
const cred = { uid: 1, gid: 1 }

const fakeHash = (n: number): ChunkHash => n.toString(16).padStart(64, '0') as ChunkHash
const ref = (n: number, len = BLOCK_SIZE): BlockRef => ({ hash: fakeHash(n), len })

/** The spec's block tree root node [level, entries], computed straight from a sorted list with
 *  the codec (no tree code shared), null when empty. */
function specRoot(crypto: Crypto, entries: readonly [number, BlockRef][]): Value | null {
  if (entries.length === 0) return null
  const max = entries[entries.length - 1]![0]
  let level = 0
  while (max >= 16 ** (level + 1)) level++
  const node = (l: number, base: number, list: readonly [number, BlockRef][]): Value => {
    const out: Value[] = []
    for (let s = 0; s < 16; s++) {
      const lo = base + s * 16 ** l
      const part = list.filter(([i]) => i >= lo && i < lo + 16 ** l)
      if (part.length === 0) continue
      if (l === 0) out.push([s, fromHex(part[0]![1].hash)!, part[0]![1].len])
      else out.push([s, crypto.sha256(encode(node(l - 1, lo, part)))])
    }
    return [l, out]
  }
  return node(level, 0, entries)
}

function specHash(crypto: Crypto, entries: readonly [number, BlockRef][]): Uint8Array | null {
  const root = specRoot(crypto, entries)
  return root === null ? null : crypto.sha256(encode(root))
}

const sorted = (m: Map<number, BlockRef>): [number, BlockRef][] => [...m.entries()].sort((a, b) => a[0] - b[0])

// Indices from several scales, so trees of every height up to the largest appear, grow and shrink.
const indexArb = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.integer({ min: 0, max: 5000 }),
  fc.integer({ min: 0, max: INDEX_LIMIT - 1 }),
  fc.integer({ min: 2 ** 34 - 20, max: 2 ** 34 - 1 }),
)
type Step =
  | { t: 'update'; changes: [number, number | null][] }
  | { t: 'truncate'; count: number }
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.tuple(indexArb, fc.option(fc.nat({ max: 1000 }), { nil: null, freq: 3 })), { maxLength: 12 }).map((c) => ({ t: 'update' as const, changes: c })) },
  { weight: 1, arbitrary: fc.oneof(indexArb, fc.constant(0)).map((count) => ({ t: 'truncate' as const, count })) },
)

/** Valid lengths at every CBOR integer width (the tree writes its node bytes itself). */
const LENS = [1, 23, 24, 255, 256, 4096, 65535, BLOCK_SIZE]

function applyStep(tree: BlockTree, model: Map<number, BlockRef>, step: Step): BlockTree {
  if (step.t === 'truncate') {
    for (const k of [...model.keys()]) if (k >= step.count) model.delete(k)
    return tree.truncate(step.count)
  }
  const byIndex = new Map<number, BlockRef | null>()
  for (const [i, n] of step.changes) byIndex.set(i, n === null ? null : ref(n, LENS[n % LENS.length]))
  const changes: BlockChange[] = [...byIndex.entries()].sort((a, b) => a[0] - b[0])
  for (const [i, r] of changes) {
    if (r === null) model.delete(i)
    else model.set(i, r)
  }
  return tree.update(changes)
}

function expectSame(tree: BlockTree, model: Map<number, BlockRef>, probes: readonly number[]): void {
  const list = sorted(model)
  expect(tree.shapeProblems()).toEqual([])
  expect(tree.size).toBe(model.size)
  expect([...tree]).toEqual(list)
  expect(tree.lastIndex()).toBe(list.length === 0 ? -1 : list[list.length - 1]![0])
  for (const [i, r] of list) expect(tree.get(i)).toEqual(r)
  for (const p of probes) expect(tree.get(p)).toEqual(model.get(p))
  if (list.length > 0) {
    const [a, b] = [list[0]![0], list[Math.floor(list.length / 2)]![0] + 1]
    expect([...tree.entries(a + 1, b)]).toEqual(list.filter(([i]) => i >= a + 1 && i < b))
  }
}

describe('block tree', () => {
  it('behaves like a plain Map under random set/delete/truncate sequences, keeps old versions unchanged, and hashes as a fresh build of the same contents', () => {
    fc.assert(fc.property(fc.array(stepArb, { minLength: 1, maxLength: 25 }), fc.array(indexArb, { maxLength: 8 }), (steps, probes) => {
      let tree = BlockTree.EMPTY
      const model = new Map<number, BlockRef>()
      const versions: { tree: BlockTree; model: Map<number, BlockRef>; hash: string | null }[] = []
      for (const step of steps) {
        tree = applyStep(tree, model, step)
        expectSame(tree, model, probes)
        const h = tree.hash(nobleCrypto)
        const spec = specHash(nobleCrypto, sorted(model))
        expect(h === null ? null : toHex(h)).toBe(spec === null ? null : toHex(spec))
        // Another order of building the same contents: the same tree shape and hash.
        const fresh = BlockTree.fromEntries([...model.entries()].reverse())
        expect(fresh.hash(nobleCrypto)).toEqual(h)
        expect(fresh.height).toBe(tree.height)
        versions.push({ tree, model: new Map(model), hash: h === null ? null : toHex(h) })
        // A file's node covers the root node inline (spec/fs.md "State root").
        const v = newVersion(1, 'file', { mode: 0o100644, size: 2 ** 50, blocks: tree })
        expect(hashInodeVersion(nobleCrypto, 5, v)).toEqual(nobleCrypto.sha256(encode([...nodeHead(5, v), specRoot(nobleCrypto, sorted(model))])))
      }
      for (const v of versions) {
        expectSame(v.tree, v.model, probes)
        const h = v.tree.hash(nobleCrypto)
        expect(h === null ? null : toHex(h)).toBe(v.hash)
      }
    }), { numRuns: 150 })
  })

  it('a change of one block makes at most height new nodes and shares all others; so does a truncation', () => {
    const n = 16384 // a 1 GiB file
    const big = BlockTree.fromEntries(Array.from({ length: n }, (_, i) => [i, ref(i)] as const))
    expect(big.height).toBe(4)
    const before = big.nodes()
    const fresh = (t: BlockTree): number => [...t.nodes()].filter((x) => !before.has(x)).length
    expect(fresh(big.update([[5000, ref(1e6)]]))).toBe(4)
    expect(fresh(big.update([[n, ref(1e6)]]))).toBe(4) // append: a new leg below the root
    expect(fresh(big.update([[3, ref(1)], [4, ref(2)], [5, ref(3)]]))).toBe(4) // one leaf, one path
    expect(fresh(big.update([[0, ref(1)], [8000, ref(2)], [16000, ref(3)]]))).toBeLessThanOrEqual(3 * 4)
    expect(fresh(big.truncate(n - 1000))).toBeLessThanOrEqual(4)
    expect(fresh(big.truncate(n))).toBe(0)
    expect(big.truncate(n)).toBe(big)
    // Growing past a power of 16 adds one level above the shared old root.
    const grown = big.update([[65536, ref(7)]])
    expect(grown.height).toBe(5)
    expect(fresh(grown)).toBe(5)
    expect(grown.truncate(n).hash(nobleCrypto)).toEqual(big.hash(nobleCrypto))
  })

  it('[FS-8] after a write of one block to a 1 GiB file, the new state root hashes O(height) nodes, and the old root stays readable', () => {
    let calls = 0
    const counting: Crypto = { ...nobleCrypto, sha256: (b: Uint8Array) => (calls++, nobleCrypto.sha256(b)) }
    const fs: FsState = createFs(counting)
    const t = { sec: 1, nsec: 0 }
    const run = (op: Parameters<typeof applyOp>[1]): void => {
      expect(applyOp(fs, op, { epoch: fs.epoch + 1, author: AUTHOR }).result.ok).toBe(true)
    }
    run({ type: 'mkdir', path: '/d', mode: 0o755, ino: 2, cred, time: t })
    run({ type: 'create', path: '/d/big', mode: 0o644, ino: 3, cred, time: t })
    const n = 16384
    run({ type: 'write', path: '/d/big', size: n * BLOCK_SIZE, blocks: Array.from({ length: n }, (_, i) => [i, fakeHash(i)] as const), cred, time: t })
    const rootFull = stateRoot(fs)
    const epochFull = fs.epoch
    const v1 = currentView(fs).version(3)!
    for (const k of [n, n + 1, 7, 9999]) {
      calls = 0
      const size = Math.max(v1.size, (k + 1) * BLOCK_SIZE)
      run({ type: 'write', path: '/d/big', size, blocks: [[k, fakeHash(1e6 + k)]], cred, time: t })
      stateRoot(fs)
      // Tree nodes on one path below the root (<= 3; the root is inside the file's node) + the
      // file node + /d + / (small directories: one node each): nothing proportional to n.
      expect(calls).toBeLessThanOrEqual(3 + 3)
    }
    expect(checkFsInvariants(fs, { deep: true })).toEqual([])
    expect(stateRootUncached(fs)).toBe(stateRoot(fs))
    expect(stateRootAt(fs, epochFull)).toBe(rootFull)
    const old = snapshotAt(fs, epochFull).version(3)!
    expect(old).toBe(v1)
    expect(old.blocks.size).toBe(n)
    expect(old.blocks.get(7)).toEqual({ hash: fakeHash(7), len: BLOCK_SIZE })
    expect(currentView(fs).version(3)!.blocks.get(7)).toEqual({ hash: fakeHash(1e6 + 7), len: BLOCK_SIZE })
    expect(inodeHash(fs, 3)).not.toEqual(inodeHash(createFs(nobleCrypto), 1))
  })

  it('[FS-8] the cache soundness check recomputes the block trees too: a wrong hash cached in a tree node is found', () => {
    const fs = createFs(nobleCrypto)
    const t = { sec: 1, nsec: 0 }
    expect(applyOp(fs, { type: 'create', path: '/f', mode: 0o644, ino: 2, cred, time: t }, { epoch: 1, author: AUTHOR }).result.ok).toBe(true)
    const blocks = Array.from({ length: 300 }, (_, i) => [i, fakeHash(i)] as const)
    expect(applyOp(fs, { type: 'write', path: '/f', size: 300 * BLOCK_SIZE, blocks, cred, time: t }, { epoch: 2, author: AUTHOR }).result.ok).toBe(true)
    expect(checkFsInvariants(fs, { deep: true })).toEqual([])
    // Corrupt the hash cached in one node below the root, and drop the file's cached node hash.
    const tree = currentView(fs).version(2)!.blocks as unknown as { root: { slots: { hashed: Uint8Array }[] } }
    tree.root.slots[1]!.hashed = new Uint8Array(32)
    fs.hashCache.clear()
    expect(checkFsInvariants(fs, { deep: true }).map((x) => x.id)).toEqual(['FS-8'])
  })

  it('truncate and write on a file clip the last block and drop every block beyond, as the Map did', () => {
    const fs = createFs(nobleCrypto)
    const t = { sec: 1, nsec: 0 }
    const run = (op: Parameters<typeof applyOp>[1]): void => {
      expect(applyOp(fs, op, { epoch: fs.epoch + 1, author: AUTHOR }).result.ok).toBe(true)
    }
    run({ type: 'create', path: '/f', mode: 0o644, ino: 2, cred, time: t })
    run({ type: 'write', path: '/f', size: 300 * BLOCK_SIZE, blocks: [[0, fakeHash(1)], [17, fakeHash(2)], [299, fakeHash(3)]], cred, time: t })
    run({ type: 'truncate', path: '/f', size: 17 * BLOCK_SIZE + 10, cred, time: t })
    const v = currentView(fs).version(2)!
    expect([...v.blocks]).toEqual([[0, { hash: fakeHash(1), len: BLOCK_SIZE }], [17, { hash: fakeHash(2), len: 10 }]])
    expect(v.blocks.height).toBe(2)
    run({ type: 'truncate', path: '/f', size: 5, cred, time: t })
    expect([...currentView(fs).version(2)!.blocks]).toEqual([[0, { hash: fakeHash(1), len: 5 }]])
    expect(currentView(fs).version(2)!.blocks.height).toBe(1)
    run({ type: 'write', path: '/f', size: 2 * BLOCK_SIZE + 3, blocks: [[2, fakeHash(4)]], cred, time: t })
    expect([...currentView(fs).version(2)!.blocks]).toEqual([[0, { hash: fakeHash(1), len: 5 }], [2, { hash: fakeHash(4), len: 3 }]])
    expect(checkFsInvariants(fs, { deep: true })).toEqual([])
  })
})

describe('the changes between two versions (the past on disk stores them, spec/storage.md)', () => {
  const change = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 50 })).map(([i, n]) => ({ set: i, n })),
    fc.integer({ min: 0, max: 5000 }).map((i) => ({ hole: i })),
    fc.integer({ min: 0, max: 5000 }).map((i) => ({ truncate: i })),
  )
  it('prev.update(next.changesFrom(prev)) is next, for trees made from each other and for unrelated ones; only changed blocks are listed', () => {
    fc.assert(fc.property(fc.array(change, { maxLength: 40 }), fc.array(change, { maxLength: 10 }), (first, second) => {
      const apply = (t: BlockTree, cs: typeof first): BlockTree => {
        for (const c of cs) {
          if ('set' in c) t = t.update([[c.set, ref(c.set * 7 + c.n)]])
          else if ('hole' in c) t = t.update([[c.hole, null]])
          else t = t.truncate(c.truncate)
        }
        return t
      }
      const prev = apply(BlockTree.EMPTY, first)
      const next = apply(prev, second)
      const changes = next.changesFrom(prev)
      expect(prev.update(changes).list()).toEqual(next.list())
      // Nothing unchanged is listed: every listed index differs between the two.
      for (const [i, r] of changes) expect(prev.get(i)).not.toEqual(r ?? undefined)
      const unrelated = apply(BlockTree.EMPTY, second)
      expect(unrelated.update(prev.changesFrom(unrelated)).list()).toEqual(prev.list())
      expect(BlockTree.EMPTY.update(next.changesFrom(BlockTree.EMPTY)).list()).toEqual(next.list())
    }), { numRuns: 300 })
  })

  it('a one-block write to a 1 GiB file lists one change', () => {
    const big = BlockTree.fromEntries(Array.from({ length: 16384 }, (_, i) => [i, ref(i)] as const))
    const next = big.update([[9000, ref(1)]])
    expect(next.changesFrom(big)).toEqual([[9000, ref(1)]])
  })
})
