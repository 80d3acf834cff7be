// diffTrees completeness/soundness on tampered disk images, the tree image round trip, and
// path proofs against the state root.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto } from '../core/crypto.ts'
import { decode, encode } from '../core/codec.ts'
import type { Value } from '../core/codec.ts'
import type { Pid } from '../core/types.ts'
import type { FsOp, FsState } from '../core/fs/index.ts'
import {
  applyOp, checkFsInvariants, compareNames, createFs, diffTrees, exportTree, importTree, planWrite, provePath,
  stateRoot, verifyPathProof, inodeHash, lookup,
} from '../core/fs/index.ts'

const AUTHOR = '02'.padEnd(66, 'd') as Pid
const cred = { uid: 7, gid: 8 }

/** A tree with depth, hard links, a symlink, a fifo, xattrs and multi-block content. */
function buildTree(): { fs: FsState; chunks: Map<string, Uint8Array> } {
  const fs = createFs(nobleCrypto)
  const chunks = new Map<string, Uint8Array>()
  const time = (): { sec: number; nsec: number } => ({ sec: 100 + fs.epoch, nsec: 5 })
  const run = (op: FsOp): void => {
    expect(applyOp(fs, op, { epoch: fs.epoch + 1, author: AUTHOR }).result.ok).toBe(true)
  }
  const write = (path: string, n: number, fill: number): void => {
    const p = planWrite(fs, (h) => chunks.get(h), path, [{ offset: 10, data: new Uint8Array(n).fill(fill) }], undefined, nobleCrypto, { cred, time: time() })
    if (!p.ok) throw new Error(p.errno)
    for (const [h, d] of p.value.chunks) chunks.set(h, d)
    run(p.value.op)
  }
  let ino = 2
  for (const d of ['/a', '/a/b', '/a/b/c', '/z']) run({ type: 'mkdir', path: d, mode: 0o755, ino: ino++, cred, time: time() })
  for (const f of ['/top', '/a/f1', '/a/b/f2', '/a/b/c/deep']) {
    run({ type: 'create', path: f, mode: 0o640, ino: ino++, cred, time: time() })
    write(f, f.length * 20000, f.length)
  }
  run({ type: 'link', from: '/a/b/c/deep', to: '/z/hard', cred, time: time() })
  run({ type: 'symlink', path: '/a/b/c/ln', target: '../f2', ino: ino++, cred, time: time() })
  run({ type: 'mknod', path: '/a/b/fifo', mode: 0o010644, rdev: 0, ino: ino++, cred, time: time() })
  run({ type: 'setxattr', path: '/a/b/c/deep', name: 'user.k', value: new Uint8Array([1, 2]), flags: 0, cred, time: time() })
  run({ type: 'setxattr', path: '/a/b', name: 'user.d', value: new Uint8Array([3]), flags: 0, cred, time: time() })
  return { fs, chunks }
}

type Rec = Record<string, Value> & { ino: number; entries: [string, number][]; xattrs: [string, Uint8Array][]; blocks: [number, string, number][] }

function pathsOf(nodes: Rec[]): Map<number, string[]> {
  const out = new Map<number, string[]>([[1, ['/']]])
  const byIno = new Map(nodes.map((n) => [n.ino, n]))
  const walk = (ino: number, path: string): void => {
    for (const [name, child] of byIno.get(ino)!.entries) {
      const p = path === '/' ? `/${name}` : `${path}/${name}`
      out.set(child, [...(out.get(child) ?? []), p])
      walk(child, p)
    }
  }
  walk(1, '/')
  return out
}

const MUTATIONS = ['mode', 'uid', 'gid', 'size', 'nlink', 'atime', 'mtime', 'ctime', 'rdev', 'xattr-add', 'xattr-change', 'block', 'target', 'entry-remove', 'entry-add'] as const

/** Applies one mutation to a node of the image; returns the paths the diff must name. */
function mutate(nodes: Rec[], k: number, kind: (typeof MUTATIONS)[number]): string[] | null {
  const paths = pathsOf(nodes)
  const n = nodes[k % nodes.length]!
  const here = paths.get(n.ino)!
  const kindOf = (r: Rec): number => (r.mode as number) & 0o170000
  switch (kind) {
    case 'mode': n.mode = (n.mode as number) ^ 0o001; return here
    case 'uid': n.uid = (n.uid as number) + 1; return here
    case 'gid': n.gid = (n.gid as number) + 1; return here
    case 'size': n.size = (n.size as number) + 1; return here
    case 'nlink': n.nlink = (n.nlink as number) + 1; return here
    case 'rdev': n.rdev = (n.rdev as number) + 1; return here
    case 'atime': case 'mtime': case 'ctime': {
      const [s, ns] = n[kind] as [number, number]
      n[kind] = [s, (ns + 1) % 1e9]
      return here
    }
    case 'xattr-add': n.xattrs = [...n.xattrs, ['zzz', new Uint8Array([9])]]; return here
    case 'xattr-change': {
      if (n.xattrs.length === 0) return null
      const [name, v] = n.xattrs[0]!
      n.xattrs = [[name, new Uint8Array([...v, 0])], ...n.xattrs.slice(1)]
      return here
    }
    case 'block': {
      if (n.blocks.length === 0) return null
      const [i, h, len] = n.blocks[n.blocks.length - 1]!
      n.blocks = [...n.blocks.slice(0, -1), [i, (h[0] === 'a' ? 'b' : 'a') + h.slice(1), len]]
      return here
    }
    case 'target': if (kindOf(n) !== 0o120000) return null; n.target = 'elsewhere'; return here
    case 'entry-remove': {
      if (n.entries.length === 0) return null
      const [name, child] = n.entries[0]!
      n.entries = n.entries.slice(1)
      // Drop what became unreachable, so the image stays importable.
      const reach = pathsOf(nodes)
      for (let i = nodes.length - 1; i >= 0; i--) if (!reach.has(nodes[i]!.ino)) nodes.splice(i, 1)
      void child
      return [here[0] === '/' ? `/${name}` : `${here[0]}/${name}`]
    }
    case 'entry-add': {
      if (kindOf(n) !== 0o040000) return null
      const ino = Math.max(...nodes.map((x) => x.ino)) + 1
      nodes.push({ ...nodes.find((x) => kindOf(x) === 0o100000)!, ino, entries: [], blocks: [], size: 0, nlink: 1 } as Rec)
      n.entries = [...n.entries, ['new-one', ino] as [string, number]].sort((a, b) => compareNames(a[0], b[0]))
      return [here[0] === '/' ? '/new-one' : `${here[0]}/new-one`]
    }
  }
}

describe('diffTrees', () => {
  const { fs, chunks } = buildTree()
  const image = exportTree(fs)
  const get = (h: string): Uint8Array | undefined => chunks.get(h)

  it('[FS-9][FS-11] an exported and re-imported image has the same root and no differences', () => {
    const back = importTree(decode(encode(image)), nobleCrypto)
    expect(back.ok).toBe(true)
    if (!back.ok) return
    expect(stateRoot(back.fs)).toBe(stateRoot(fs))
    expect(diffTrees(fs, back.fs, get)).toEqual([])
    expect(checkFsInvariants(back.fs, { deep: true })).toEqual([])
  })

  it('[FS-9] finds every single mutation of the disk image, at any depth, and names its path', () => {
    fc.assert(fc.property(fc.nat(), fc.constantFrom(...MUTATIONS), (k, kind) => {
      const img = structuredClone(image) as { nodes: Rec[] }
      const nodes = img.nodes
      const mustName = mutate(nodes, k, kind)
      fc.pre(mustName !== null)
      const back = importTree(img as unknown as Value, nobleCrypto)
      expect(back.ok, back.ok ? '' : back.reason).toBe(true)
      if (!back.ok) return
      const findings = diffTrees(fs, back.fs)
      expect(findings.length, kind).toBeGreaterThan(0)
      expect(findings.some((f) => mustName!.includes(f.path)), `${kind} ${JSON.stringify(findings)} ${mustName}`).toBe(true)
      for (const f of findings) expect(f.expected).not.toBe(f.found)
      expect(stateRoot(back.fs)).not.toBe(stateRoot(fs))
    }), { numRuns: 400 })
  })

  it('[FS-9] reports missing, tampered and oversized chunks by path and block', () => {
    const [victim, bytes] = [...chunks].find(([, d]) => d.length > 1000)!
    for (const [store, found] of [
      [new Map([...chunks].filter(([h]) => h !== victim)), 'missing'],
      [new Map([...chunks, [victim, Uint8Array.from(bytes, (b, i) => (i === 500 ? b ^ 1 : b))]]), 'hashing'],
      [new Map([...chunks, [victim, new Uint8Array(70000)]]), 'more than a block'],
    ] as const) {
      const findings = diffTrees(fs, fs, (h) => store.get(h))
      expect(findings.length).toBeGreaterThan(0)
      expect(findings.every((f) => f.what.startsWith('chunk of content block') && f.found.includes(found))).toBe(true)
      expect(findings.every((f) => lookup(fs, f.path).ok)).toBe(true)
    }
  })

  it('[FS-11] importTree rejects malformed and structurally broken images without throwing', () => {
    fc.assert(fc.property(fc.anything(), (v) => {
      expect(importTree(v as Value, nobleCrypto).ok).toBe(false)
    }), { numRuns: 500 })
    const broken = (f: (nodes: Rec[]) => void): boolean => {
      const img = structuredClone(image) as { nodes: Rec[] }
      f(img.nodes)
      return importTree(img as unknown as Value, nobleCrypto).ok
    }
    expect(broken(() => {})).toBe(true)
    expect(broken((n) => { n.splice(n.length - 1, 1) })).toBe(false) // an entry points to a missing inode
    expect(broken((n) => { n[1]!.entries = [...n[1]!.entries, ['zz', 1]] })).toBe(false) // the root as a child
    expect(broken((n) => { n.push({ ...n[n.length - 1]!, ino: 999 }) })).toBe(false) // unreachable inode
    expect(broken((n) => { n[0]!.entries = [...n[0]!.entries].reverse() })).toBe(false) // unsorted entries
  })
})

describe('path proofs', () => {
  const { fs } = buildTree()
  const root = stateRoot(fs)
  const all = [...pathsOf((exportTree(fs) as { nodes: Rec[] }).nodes).values()].flat()

  it('[FS-8] every path proves against the state root; a wrong leaf, path or step does not', () => {
    for (const p of all) {
      const proof = provePath(fs, p)
      expect(proof.ok).toBe(true)
      if (!proof.ok) continue
      expect(verifyPathProof(nobleCrypto, root, p, proof.value.leaf, proof.value), p).toBe(true)
      const other = inodeHash(fs, 1)
      if (p !== '/') expect(verifyPathProof(nobleCrypto, root, p, other, proof.value)).toBe(false)
      if (proof.value.steps.length > 0) {
        const bad = structuredClone(proof.value)
        bad.steps[bad.steps.length - 1]!.head[2] = 0o777
        expect(verifyPathProof(nobleCrypto, root, p, proof.value.leaf, bad)).toBe(false)
        expect(verifyPathProof(nobleCrypto, root, p + 'x', proof.value.leaf, proof.value)).toBe(false)
      }
    }
    expect(provePath(fs, '/nope')).toEqual({ ok: false, errno: 'ENOENT' })
  })
})
