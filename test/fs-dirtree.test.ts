// The directory entry tree (core/fs/dirtree.ts) and the directory part of the state root: the
// tree against a plain Map under random inserts, removals and child changes, its hash equal to the
// spec's layout computed independently and to a fresh build in another order; in a volume, the
// incrementally kept root equals a full recomputation after every op in a big directory, proofs
// verify through multi-level trees, and a create in a big directory hashes O(log n) nodes.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import { encode, type Value } from '../core/codec.ts'
import { utf8 } from '../core/bytes.ts'
import type { ChunkHash, Pid } from '../core/types.ts'
import type { FsOp } from '../core/fs/index.ts'
import { applyOp, checkFsInvariants, createFs, inodeHash, provePath, stateRoot, stateRootUncached, verifyPathProof } from '../core/fs/index.ts'
import { DirTree, type LeafHome } from '../core/fs/dirtree.ts'

const AUTHOR = '02'.padEnd(66, 'd') as Pid
const cred = { uid: 1, gid: 1 }
const h32 = (n: number): Uint8Array => nobleCrypto.sha256(utf8(`child ${n}`))

/** The spec's root entries of a directory, straight from (name, child hash) pairs with the codec. */
function specEntries(crypto: Crypto, pairs: readonly (readonly [string, Uint8Array])[]): Value[] {
  const keyed = pairs.map(([name, h]) => ({ name, h, key: crypto.sha256(utf8(name)) }))
  const nib = (k: Uint8Array, d: number): number => (d % 2 === 0 ? k[d >> 1]! >> 4 : k[d >> 1]! & 15)
  const node = (d: number, list: typeof keyed): Value[] => {
    const out: Value[] = []
    for (let s = 0; s < 16; s++) {
      const part = list.filter((x) => nib(x.key, d) === s)
      if (part.length === 1) out.push([s, part[0]!.name, part[0]!.h])
      else if (part.length > 1) out.push([s, crypto.sha256(encode(node(d + 1, part)))])
    }
    return out
  }
  return node(0, keyed)
}

/** An op without cred and time (filled in by run). */
type Call = FsOp extends unknown ? (FsOp extends infer T ? (T extends unknown ? Omit<T, 'cred' | 'time'> : never) : never) : never

/** remove's optional child: given or not, by the pick. */
const pickChild = (pick: number, child: number): number | undefined => (pick % 2 === 0 ? child : undefined)

type Step = { t: 'insert'; name: string; child: number } | { t: 'remove'; pick: number } | { t: 'change'; pick: number }

/** sha256 with its first 8 bytes zero: every two names' keys share 16 nibbles, so every node
 *  below depth 14 is reached, where a leaf recomputes its key (it keeps only 14 nibbles). */
const shallowKeys: Crypto = {
  ...nobleCrypto,
  sha256: (b: Uint8Array): Uint8Array => {
    const out = new Uint8Array(32)
    out.set(nobleCrypto.sha256(b).subarray(0, 24), 8)
    return out
  },
}

describe('directory entry tree', () => {
  for (const [what, crypto, withHomes] of [['', nobleCrypto, false], [' (keys sharing 16 nibbles: below the kept ones)', shallowKeys, false], [' (leaves in the children\'s homes, two trees sharing them: hard links across directories)', nobleCrypto, true]] as const) it(`behaves like a plain Map under random inserts, removals and child changes, and hashes as the spec layout and a fresh build in another order${what}`, () => {
    const nobleCrypto = crypto
    const nameArb = fc.oneof(fc.string({ minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 400 }).map((i) => `f${i}`))
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ t: fc.constant('insert' as const), name: nameArb, child: fc.integer({ min: 2, max: 60 }) }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('remove' as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('change' as const), pick: fc.nat() }) },
    )
    fc.assert(fc.property(fc.array(stepArb, { minLength: 1, maxLength: 120 }), (steps) => {
      const homes = new Map<number, LeafHome>()
      const home = withHomes ? (c: number): LeafHome => homes.get(c) ?? (homes.set(c, { leaf: undefined }), homes.get(c)!) : undefined
      const tree = new DirTree(nobleCrypto, home)
      // With homes, a second tree of the same names shares them (it inserts a child of an even
      // number before the first tree does, an odd one after it), as two directories with hard
      // links between them do.
      const twin = withHomes ? new DirTree(nobleCrypto, home) : undefined
      const model = new Map<string, number>()
      const version = new Map<number, number>() // child -> how often its hash changed
      const childHash = (c: number): Uint8Array => h32(c * 1000 + (version.get(c) ?? 0))
      for (const step of steps) {
        if (step.t === 'insert') {
          if (model.has(step.name)) continue
          model.set(step.name, step.child)
          if (twin !== undefined && step.child % 2 === 0) twin.insert(step.name, step.child)
          tree.insert(step.name, step.child)
          if (twin !== undefined && step.child % 2 === 1) twin.insert(step.name, step.child)
        } else if (model.size > 0) {
          const name = [...model.keys()][step.pick % model.size]!
          if (step.t === 'remove') {
            const c = model.get(name)!
            model.delete(name)
            tree.remove(name, pickChild(step.pick, c))
            twin?.remove(name, pickChild(step.pick + 1, c))
          } else {
            const c = model.get(name)!
            version.set(c, (version.get(c) ?? 0) + 1)
            tree.markDirty(c)
            twin?.markDirty(c)
          }
        }
        expect(tree.shapeProblems()).toEqual([])
        expect(tree.size).toBe(model.size)
        const got = encode(tree.rootEntries(childHash))
        expect(got).toEqual(encode(specEntries(nobleCrypto, [...model].map(([n, c]) => [n, childHash(c)] as const))))
        expect(got).toEqual(encode(DirTree.of(nobleCrypto, [...model].reverse()).rootEntries(childHash)))
        for (const [n, c] of model) expect(tree.namesOf(c)).toContain(n)
        if (twin !== undefined) {
          expect(twin.shapeProblems()).toEqual([])
          expect(encode(twin.rootEntries(childHash))).toEqual(got)
          for (const [n, c] of model) expect(twin.namesOf(c)).toContain(n)
        }
      }
    }), { numRuns: 60 })
  })

  it('[FS-8] in a directory of 3000 names, the kept root equals a full recomputation after every op, proofs verify through the deeper tree, and a create hashes O(log n) nodes', () => {
    let calls = 0
    const counting: Crypto = { ...nobleCrypto, sha256: (b: Uint8Array) => (calls++, nobleCrypto.sha256(b)) }
    const fs = createFs(counting)
    let sec = 1
    const run = (op: Call): void => {
      const full = { ...op, cred, time: { sec: sec++, nsec: 0 } } as FsOp
      expect(applyOp(fs, full, { epoch: fs.epoch + 1, author: AUTHOR }).result.ok).toBe(true)
    }
    run({ type: 'mkdir', path: '/big', mode: 0o777, ino: 2 })
    let ino = 3
    for (let i = 0; i < 3000; i++) run({ type: 'create', path: `/big/n${i}`, mode: 0o644, ino: ino++ })
    run({ type: 'mkdir', path: '/big/sub', mode: 0o777, ino: ino++ })
    stateRoot(fs)
    const ops: Call[] = [
      { type: 'create', path: '/big/new', mode: 0o644, ino: ino++ },
      { type: 'unlink', path: '/big/n7' },
      { type: 'rename', from: '/big/n8', to: '/big/sub/n8' },
      { type: 'rename', from: '/big/n9', to: '/big/n10' },
      { type: 'link', from: '/big/n11', to: '/big/n11-link' },
      { type: 'link', from: '/big/n11', to: '/big/sub/n11-link' },
      { type: 'write', path: '/big/n11', size: 5, blocks: [[0, 'ab'.repeat(32) as ChunkHash]] },
      { type: 'chmod', path: '/big/n12', mode: 0o600 },
      { type: 'rename', from: '/big/sub', to: '/moved' },
      { type: 'create', path: '/moved/deep', mode: 0o644, ino: ino++ },
      { type: 'rmdir', path: '/moved' },
    ]
    for (const op of ops) {
      if (op.type === 'rmdir') {
        run({ type: 'unlink', path: '/moved/deep' })
        run({ type: 'unlink', path: '/moved/n8' })
        run({ type: 'unlink', path: '/moved/n11-link' })
      }
      calls = 0
      run(op)
      const root = stateRoot(fs)
      // The name's key, the tree nodes on one path of /big (~log16 3000 + 1) and the nodes of
      // the changed objects and of / : nothing proportional to the 3000 names.
      if (op.type === 'create' && op.path === '/big/new') expect(calls).toBeLessThanOrEqual(8)
      expect(stateRootUncached(fs)).toBe(root)
      expect(checkFsInvariants(fs, { deep: true })).toEqual([])
      for (const p of ['/big/n0', '/big/n2999', '/big/n11-link', '/big/new', '/big/n10']) {
        const proof = provePath(fs, p)
        if (!proof.ok) {
          expect(proof.errno, p).toBe('ENOENT') // not made yet
          continue
        }
        expect(proof.value.steps[0]!.nodes.length).toBeGreaterThan(1) // a multi-level tree
        expect(verifyPathProof(nobleCrypto, root, p, proof.value.leaf, proof.value)).toBe(true)
        expect(verifyPathProof(nobleCrypto, root, p.replace('/big/', '/big/x'), proof.value.leaf, proof.value)).toBe(false)
        expect(verifyPathProof(nobleCrypto, root, p, inodeHash(fs, 1), proof.value)).toBe(false)
        const bad = structuredClone(proof.value)
        const deep = bad.steps[0]!.nodes[bad.steps[0]!.nodes.length - 1]!
        const other = deep.findIndex((e) => e[e.length - 1] !== null)
        if (other >= 0) {
          const e = deep[other]! as unknown as Value[]
          const h = (e[e.length - 1] as Uint8Array).slice()
          h[0] = h[0]! ^ 1
          e[e.length - 1] = h
          expect(verifyPathProof(nobleCrypto, root, p, proof.value.leaf, bad)).toBe(false)
        }
      }
    }
  })
})
