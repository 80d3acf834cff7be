// Model-based tests of the file system state machine against a small, obviously-correct model:
// a Map path -> ino and a Map ino -> node, no history, no caching, rename by re-keying paths.
// The ops run as root (uid 0, varying gid and groups), so the only permission rules in play are
// root's (chown clears S_ISUID/S_ISGID, user.* xattrs only on files and directories); the rules
// for everybody else are checked against their own reference model in test/fs-perm.test.ts.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto } from '../core/crypto.ts'
import { decode, encode } from '../core/codec.ts'
import type { Pid } from '../core/types.ts'
import type { FsOp, FsResult, FsState, FsView, NodeKind, Cred, FsTime, WriteStep } from '../core/fs/index.ts'
import { MemoryPastStore, StoredFsPast } from '../core/volume/past.ts'
import { MemoryFsPast } from '../core/fs/past.ts'
import { checkPermInvariants } from '../core/fs/perm.ts'
import type { VolumeName } from '../core/types.ts'
import {
  applyOp, checkFsInvariants, createFs, currentView, diffHistory, diffTrees, history, planWrite, snapshotAt, stateRoot,
  stateRootAt, validateOp, opToValue, S_IFMT, S_IFREG, S_IFDIR, S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK, S_IFLNK,
  S_ISGID, PERM_MASK, SummaryPast,
} from '../core/fs/index.ts'

const AUTHOR = '02'.padEnd(66, 'a') as Pid

// ---------------------------------------------------------------------------------------------
// The reference model.

interface MNode {
  ino: number
  kind: NodeKind
  mode: number
  uid: number
  gid: number
  data: Uint8Array
  target: string
  rdev: number
  atime: FsTime
  mtime: FsTime
  ctime: FsTime
  xattrs: Map<string, Uint8Array>
}

type R = FsResult
const E = (errno: string): R => ({ ok: false, errno } as R)
const OK: R = { ok: true }

function parentOf(p: string): string {
  const i = p.lastIndexOf('/')
  return i === 0 ? '/' : p.slice(0, i)
}
function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

class Model {
  paths = new Map<string, number>([['/', 1]])
  nodes = new Map<number, MNode>([[1, {
    ino: 1, kind: 'dir', mode: S_IFDIR | 0o1777, uid: 0, gid: 0, data: new Uint8Array(0), target: '', rdev: 0,
    atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 }, ctime: { sec: 0, nsec: 0 }, xattrs: new Map(),
  }]])
  used = new Set<number>([1])

  clone(): Model {
    const m = new Model()
    m.paths = new Map(this.paths)
    m.nodes = new Map([...this.nodes].map(([i, n]) => [i, { ...n, data: n.data.slice(), xattrs: new Map(n.xattrs) }]))
    m.used = new Set(this.used)
    return m
  }

  node(p: string): MNode {
    return this.nodes.get(this.paths.get(p)!)!
  }
  children(p: string): string[] {
    return [...this.paths.keys()].filter((q) => q !== '/' && parentOf(q) === p)
  }
  nlink(ino: number): number {
    const n = this.nodes.get(ino)!
    const names = [...this.paths].filter(([, i]) => i === ino).map(([p]) => p)
    if (n.kind === 'dir') return 2 + this.children(names[0]!).filter((c) => this.node(c).kind === 'dir').length
    return names.length
  }
  size(n: MNode): number {
    if (n.kind === 'file') return n.data.length
    if (n.kind === 'symlink') return new TextEncoder().encode(n.target).length
    return 0
  }

  /** Path syntax: the few invalid forms the generators produce. */
  checkPath(p: string): string | null {
    if (!p.startsWith('/')) return 'EINVAL'
    if (p === '/') return null
    for (const c of p.slice(1).split('/')) {
      if (c === '' || c === '.' || c === '..' || c.includes('\0')) return 'EINVAL'
      if (c.length > 255) return 'ENAMETOOLONG'
    }
    return null
  }
  /** Walks the names; returns an errno or the path reached. */
  walk(names: string[]): string | { errno: string } {
    let cur = '/'
    for (const name of names) {
      if (this.node(cur).kind !== 'dir') return { errno: 'ENOTDIR' }
      const next = join(cur, name)
      if (!this.paths.has(next)) return { errno: 'ENOENT' }
      cur = next
    }
    return cur
  }
  /** Resolves a path fully: errno or the path. */
  resolve(p: string): string | { errno: string } {
    const bad = this.checkPath(p)
    if (bad !== null) return { errno: bad }
    return this.walk(p === '/' ? [] : p.slice(1).split('/'))
  }
  /** Resolves the parent: errno, null for '/', or the path itself (which may not exist). */
  slot(p: string): string | null | { errno: string } {
    const bad = this.checkPath(p)
    if (bad !== null) return { errno: bad }
    if (p === '/') return null
    const names = p.slice(1).split('/')
    const dir = this.walk(names.slice(0, -1))
    if (typeof dir !== 'string') return dir
    if (this.node(dir).kind !== 'dir') return { errno: 'ENOTDIR' }
    return p
  }

  touch(p: string, t: FsTime): void {
    const n = this.node(p)
    n.mtime = t
    n.ctime = t
  }

  removePath(p: string, t: FsTime): void {
    const ino = this.paths.get(p)!
    this.paths.delete(p)
    if (![...this.paths.values()].includes(ino)) this.nodes.delete(ino)
    else this.nodes.get(ino)!.ctime = t
  }

  apply(op: FsOp): R {
    const t = op.time
    switch (op.type) {
      case 'create': case 'mkdir': case 'mknod': case 'symlink': {
        let kind: NodeKind
        let mode = 0
        let rdev = 0
        let target = ''
        const type = op.type === 'symlink' ? 0 : op.mode & S_IFMT
        if (op.type === 'create') {
          if (type !== 0 && type !== S_IFREG) return E('EINVAL')
          kind = 'file'
          mode = S_IFREG | (op.mode & PERM_MASK)
        } else if (op.type === 'mkdir') {
          if (type !== 0 && type !== S_IFDIR) return E('EINVAL')
          kind = 'dir'
          mode = S_IFDIR | (op.mode & PERM_MASK)
        } else if (op.type === 'mknod') {
          const kinds: Record<number, NodeKind> = { 0: 'file', [S_IFREG]: 'file', [S_IFIFO]: 'fifo', [S_IFCHR]: 'chr', [S_IFBLK]: 'blk', [S_IFSOCK]: 'sock' }
          if (type === S_IFDIR) return E('EPERM')
          const k = kinds[type]
          if (k === undefined) return E('EINVAL')
          kind = k
          mode = (k === 'file' ? S_IFREG : type) | (op.mode & PERM_MASK)
          rdev = k === 'chr' || k === 'blk' ? op.rdev : 0
        } else {
          if (op.target === '') return E('ENOENT')
          kind = 'symlink'
          mode = S_IFLNK | 0o777
          target = op.target
        }
        const s = this.slot(op.path)
        if (s === null) return E('EEXIST')
        if (typeof s !== 'string') return E(s.errno)
        if (this.paths.has(s)) return E('EEXIST')
        if (this.used.has(op.ino)) return E('EEXIST')
        const parent = this.node(parentOf(s))
        const sgid = (parent.mode & S_ISGID) !== 0
        if (kind === 'dir' && sgid) mode |= S_ISGID
        this.used.add(op.ino)
        this.nodes.set(op.ino, {
          ino: op.ino, kind, mode, uid: op.cred.uid, gid: sgid ? parent.gid : op.cred.gid, data: new Uint8Array(0),
          target, rdev, atime: t, mtime: t, ctime: t, xattrs: new Map(),
        })
        this.paths.set(s, op.ino)
        this.touch(parentOf(s), t)
        return { ok: true, ino: op.ino }
      }
      case 'link': {
        const from = this.resolve(op.from)
        if (typeof from !== 'string') return E(from.errno)
        const s = this.slot(op.to)
        if (s !== null && typeof s !== 'string') return E(s.errno)
        if (s === null || this.paths.has(s)) return E('EEXIST')
        const n = this.node(from)
        if (n.kind === 'dir') return E('EPERM')
        this.paths.set(s, n.ino)
        n.ctime = t
        this.touch(parentOf(s), t)
        return { ok: true, ino: n.ino }
      }
      case 'write': case 'truncate':
        throw new Error('model: writes go through modelWrite')
      case 'unlink': {
        const s = this.slot(op.path)
        if (s === null) return E('EISDIR')
        if (typeof s !== 'string') return E(s.errno)
        if (!this.paths.has(s)) return E('ENOENT')
        if (this.node(s).kind === 'dir') return E('EISDIR')
        this.removePath(s, t)
        this.touch(parentOf(s), t)
        return OK
      }
      case 'rmdir': {
        const s = this.slot(op.path)
        if (s === null) return E('EBUSY')
        if (typeof s !== 'string') return E(s.errno)
        if (!this.paths.has(s)) return E('ENOENT')
        if (this.node(s).kind !== 'dir') return E('ENOTDIR')
        if (this.children(s).length > 0) return E('ENOTEMPTY')
        this.removePath(s, t)
        this.touch(parentOf(s), t)
        return OK
      }
      case 'rename': {
        const from = this.slot(op.from)
        if (from !== null && typeof from !== 'string') return E(from.errno)
        const to = this.slot(op.to)
        if (to !== null && typeof to !== 'string') return E(to.errno)
        if (from === null || to === null) return E('EBUSY')
        if (!this.paths.has(from)) return E('ENOENT')
        const src = this.node(from)
        if (this.paths.get(to) === src.ino) return OK
        if (src.kind === 'dir' && to.startsWith(from + '/')) return E('EINVAL')
        if (this.paths.has(to)) {
          const dst = this.node(to)
          if (src.kind === 'dir' && dst.kind !== 'dir') return E('ENOTDIR')
          if (src.kind !== 'dir' && dst.kind === 'dir') return E('EISDIR')
          if (dst.kind === 'dir' && this.children(to).length > 0) return E('ENOTEMPTY')
          this.removePath(to, t)
        }
        const moved = [...this.paths].filter(([p]) => p === from || p.startsWith(from + '/'))
        for (const [p] of moved) this.paths.delete(p)
        for (const [p, ino] of moved) this.paths.set(to + p.slice(from.length), ino)
        this.touch(parentOf(from), t)
        this.touch(parentOf(to), t)
        src.ctime = t
        return OK
      }
      case 'chmod': {
        const p = this.resolve(op.path)
        if (typeof p !== 'string') return E(p.errno)
        const n = this.node(p)
        if (n.kind === 'symlink') return E('EOPNOTSUPP')
        n.mode = (n.mode & S_IFMT) | (op.mode & PERM_MASK)
        n.ctime = t
        return OK
      }
      case 'chown': {
        const p = this.resolve(op.path)
        if (typeof p !== 'string') return E(p.errno)
        const n = this.node(p)
        if (op.uid !== -1) n.uid = op.uid
        if (op.gid !== -1) n.gid = op.gid
        // Linux clears set-user-ID on every chown of a non-directory, root's too, and
        // set-group-ID when the group may execute.
        if (n.kind !== 'dir') {
          n.mode &= ~0o4000
          if (n.mode & 0o010) n.mode &= ~0o2000
        }
        n.ctime = t
        return OK
      }
      case 'utimens': {
        const p = this.resolve(op.path)
        if (typeof p !== 'string') return E(p.errno)
        if (op.atime === 'omit' && op.mtime === 'omit') return OK
        const n = this.node(p)
        if (op.atime !== 'omit') n.atime = op.atime === 'now' ? t : op.atime
        if (op.mtime !== 'omit') n.mtime = op.mtime === 'now' ? t : op.mtime
        n.ctime = t
        return OK
      }
      case 'setxattr': case 'removexattr': {
        if (op.type === 'setxattr' && op.flags !== 0 && op.flags !== 1 && op.flags !== 2) return E('EINVAL')
        if (op.name === '' || op.name.length > 255) return E('ERANGE')
        if (op.type === 'setxattr' && op.value.length > 65536) return E('E2BIG')
        const p = this.resolve(op.path)
        if (typeof p !== 'string') return E(p.errno)
        const n = this.node(p)
        // user.* attributes exist only on regular files and directories (root included).
        if (op.name.startsWith('user.') && n.kind !== 'file' && n.kind !== 'dir') return E('EPERM')
        const has = n.xattrs.has(op.name)
        if (op.type === 'removexattr') {
          if (!has) return E('ENODATA')
          n.xattrs.delete(op.name)
        } else {
          if (op.flags === 1 && has) return E('EEXIST')
          if (op.flags === 2 && !has) return E('ENODATA')
          n.xattrs.set(op.name, op.value.slice())
        }
        n.ctime = t
        return OK
      }
      // Retention is checked against its own model in test/fs-retention.test.ts.
      case 'retain': case 'hold': case 'retention-config':
        throw new Error(`the path-map model does not take ${op.type}`)
    }
  }

  /** A write session (or a plain truncate) on a byte array. */
  write(path: string, steps: WriteStep[], t: FsTime): R {
    const p = this.resolve(path)
    if (typeof p !== 'string') return E(p.errno)
    const n = this.node(p)
    if (n.kind === 'dir') return E('EISDIR')
    if (n.kind !== 'file') return E('EINVAL')
    let data = n.data
    for (const s of steps) {
      if ('truncate' in s) {
        const next = new Uint8Array(s.truncate)
        next.set(data.subarray(0, Math.min(data.length, s.truncate)))
        data = next
      } else if (s.data.length > 0) {
        const end = Math.max(data.length, s.offset + s.data.length)
        const next = new Uint8Array(end)
        next.set(data)
        next.set(s.data, s.offset)
        data = next
      }
    }
    n.data = data
    n.mtime = t
    n.ctime = t
    return OK
  }
}

// ---------------------------------------------------------------------------------------------
// Comparing a view with the model.

function compareWithModel(view: FsView, m: Model, chunks: Map<string, Uint8Array>): void {
  const read = (h: string): Uint8Array | undefined => chunks.get(h)
  const queue = ['/']
  let seen = 0
  while (queue.length > 0) {
    const p = queue.shift()!
    seen++
    const n = m.node(p)
    const a = view.getattr(p)
    expect(a.ok, `getattr ${p}`).toBe(true)
    if (!a.ok) return
    expect({ path: p, ...a.value }).toEqual({
      path: p, ino: n.ino, kind: n.kind, mode: n.mode, uid: n.uid, gid: n.gid, size: m.size(n), nlink: m.nlink(n.ino),
      atime: n.atime, mtime: n.mtime, ctime: n.ctime, rdev: n.rdev,
    })
    const xl = view.listxattr(p)
    expect(xl.ok && xl.value, `xattrs ${p}`).toEqual([...n.xattrs.keys()].sort())
    for (const [k, val] of n.xattrs) {
      const g = view.getxattr(p, k)
      expect(g.ok && [...g.value]).toEqual([...val])
    }
    if (n.kind === 'dir') {
      const d = view.readdir(p)
      expect(d.ok).toBe(true)
      if (!d.ok) return
      const kids = m.children(p).map((c) => c.slice(p === '/' ? 1 : p.length + 1)).sort()
      expect(d.value.map((e) => e.name), `readdir ${p}`).toEqual(kids)
      for (const c of m.children(p)) queue.push(c)
    } else if (n.kind === 'file') {
      const r = view.readFile(read as never, p, 0, n.data.length + 10)
      expect(r.ok, `read ${p}`).toBe(true)
      if (r.ok) expect(Buffer.from(r.value).equals(Buffer.from(n.data)), `content ${p}`).toBe(true)
    } else if (n.kind === 'symlink') {
      const l = view.readlink(p)
      expect(l.ok && l.value).toBe(n.target)
    }
  }
  expect(seen).toBe(m.paths.size)
}

// ---------------------------------------------------------------------------------------------
// Generators: op templates over a small path universe, so that collisions are frequent.

const NAMES = ['a', 'b', 'c']
const goodPath = fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }).map((n) => '/' + n.join('/'))
const badPath = fc.constantFrom('/', '', 'a', '/a/', '/a//b', '/.', '/a/..', '/' + 'n'.repeat(256), '/a\0b')

/** A path chosen when the command runs: an existing path, a new name in an existing directory,
 *  or a fixed (possibly invalid) path. Picking from the model keeps most ops on real objects. */
type PathPick = { t: 'exist'; k: number } | { t: 'file'; k: number } | { t: 'new'; k: number; name: string } | { t: 'raw'; path: string }
const pathArb: fc.Arbitrary<PathPick> = fc.oneof(
  { arbitrary: fc.nat().map((k) => ({ t: 'exist' as const, k })), weight: 10 },
  { arbitrary: fc.nat().map((k) => ({ t: 'file' as const, k })), weight: 5 },
  { arbitrary: fc.record({ t: fc.constant('new' as const), k: fc.nat(), name: fc.constantFrom(...NAMES) }), weight: 6 },
  { arbitrary: goodPath.map((path) => ({ t: 'raw' as const, path })), weight: 3 },
  { arbitrary: badPath.map((path) => ({ t: 'raw' as const, path })), weight: 1 },
)
function pickPath(m: Model, p: PathPick): string {
  if (p.t === 'raw') return p.path
  const all = [...m.paths.keys()].sort()
  if (p.t === 'exist' || p.t === 'file') {
    const real = all.filter((x) => x !== '/' && (p.t === 'exist' || m.node(x).kind === 'file'))
    return real.length === 0 ? '/a' : real[p.k % real.length]!
  }
  const dirs = all.filter((x) => m.node(x).kind === 'dir')
  return join(dirs[p.k % dirs.length]!, p.name)
}
const inoArb = fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.integer({ min: 1, max: 6 }), weight: 1 })
const bytes = (n: number, b: number): Uint8Array => new Uint8Array(n).fill(b)
const offsetArb = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 65400, max: 65700 }), fc.integer({ min: 130900, max: 131200 }))
const stepArb: fc.Arbitrary<WriteStep> = fc.oneof(
  { arbitrary: fc.record({ offset: offsetArb, len: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constant(65600)), b: fc.integer({ min: 0, max: 255 }) })
    .map(({ offset, len, b }) => ({ offset, data: bytes(len, b) })), weight: 4 },
  { arbitrary: offsetArb.map((n) => ({ truncate: n })), weight: 1 },
)

/** An op template: everything but cred, time and a fresh ino, which the runner fills in. */
interface Ctx { cred: Cred; time: FsTime; ino: number; p: (pick: PathPick) => string }
type Spec =
  | { k: 'op'; op: (c: Ctx) => FsOp; label: string }
  | { k: 'write'; path: PathPick; steps: WriteStep[]; truncateTo: number | undefined }
  | { k: 'truncate'; path: PathPick; size: number }

const opSpec = <T>(arb: fc.Arbitrary<T>, build: (v: T, c: Ctx) => FsOp): fc.Arbitrary<Spec> =>
  arb.map((v) => ({ k: 'op', op: (c) => build(v, c), label: JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? `bytes(${x.length})` : x)) }))

const specArb: fc.Arbitrary<Spec> = fc.oneof(
  opSpec(fc.tuple(pathArb, fc.constantFrom(0o644, 0o100600, 0o4755, 0o040755), inoArb), ([path, mode, ino], c) =>
    ({ type: 'create', path: c.p(path), mode, ino: ino || c.ino, cred: c.cred, time: c.time })),
  opSpec(fc.tuple(pathArb, fc.constantFrom(0o755, 0o040700, 0o2775, 0o100755), inoArb), ([path, mode, ino], c) =>
    ({ type: 'mkdir', path: c.p(path), mode, ino: ino || c.ino, cred: c.cred, time: c.time })),
  opSpec(fc.tuple(pathArb, fc.constantFrom(0, S_IFIFO | 0o644, S_IFCHR | 0o600, S_IFBLK | 0o660, S_IFSOCK | 0o777, S_IFDIR | 0o755, S_IFLNK | 0o777), fc.integer({ min: 0, max: 300 }), inoArb),
    ([path, mode, rdev, ino], c) => ({ type: 'mknod', path: c.p(path), mode, rdev, ino: ino || c.ino, cred: c.cred, time: c.time })),
  opSpec(fc.tuple(pathArb, fc.constantFrom('', 'x', '/a/b', 'ü/..'), inoArb), ([path, target, ino], c) =>
    ({ type: 'symlink', path: c.p(path), target, ino: ino || c.ino, cred: c.cred, time: c.time })),
  opSpec(fc.tuple(pathArb, pathArb), ([from, to], c) => ({ type: 'link', from: c.p(from), to: c.p(to), cred: c.cred, time: c.time })),
  { arbitrary: opSpec(fc.tuple(pathArb, pathArb), ([from, to], c) => ({ type: 'rename', from: c.p(from), to: c.p(to), cred: c.cred, time: c.time })), weight: 4 },
  opSpec(pathArb, (path, c) => ({ type: 'unlink', path: c.p(path), cred: c.cred, time: c.time })),
  opSpec(pathArb, (path, c) => ({ type: 'rmdir', path: c.p(path), cred: c.cred, time: c.time })),
  opSpec(fc.tuple(pathArb, fc.constantFrom(0o600, 0o2755, 0o170777)), ([path, mode], c) => ({ type: 'chmod', path: c.p(path), mode, cred: c.cred, time: c.time })),
  opSpec(fc.tuple(pathArb, fc.constantFrom(-1, 0, 1000), fc.constantFrom(-1, 0, 50)), ([path, uid, gid], c) =>
    ({ type: 'chown', path: c.p(path), uid, gid, cred: c.cred, time: c.time })),
  opSpec(fc.tuple(pathArb, fc.constantFrom('set', 'omit', 'now'), fc.constantFrom('set', 'omit', 'now')), ([path, a, m], c) =>
    ({ type: 'utimens', path: c.p(path), atime: a === 'set' ? { sec: 5, nsec: 6 } : a, mtime: m === 'set' ? { sec: 7, nsec: 8 } : m, cred: c.cred, time: c.time })),
  opSpec(fc.tuple(pathArb, fc.constantFrom('user.a', 'user.b', 'user.a', 'user.b', '', 'u'.repeat(256)), fc.uint8Array({ maxLength: 4 }), fc.constantFrom(0, 0, 1, 2, 3)),
    ([path, name, value, flags], c) => ({ type: 'setxattr', path: c.p(path), name, value, flags, cred: c.cred, time: c.time })),
  opSpec(fc.tuple(pathArb, fc.constantFrom('user.a', 'user.b', '')), ([path, name], c) => ({ type: 'removexattr', path: c.p(path), name, cred: c.cred, time: c.time })),
  fc.record({ k: fc.constant('write' as const), path: pathArb, steps: fc.array(stepArb, { maxLength: 4 }), truncateTo: fc.option(offsetArb, { nil: undefined }) }),
  fc.record({ k: fc.constant('truncate' as const), path: pathArb, size: offsetArb }),
)

const specs = specArb

// ---------------------------------------------------------------------------------------------
// The runner: applies one spec to the model and the state machine and checks they agree.

interface Real {
  fs: FsState
  chunks: Map<string, Uint8Array>
  models: Model[]
  roots: string[]
  ops: FsOp[]
}

function newReal(): Real {
  const fs = createFs(nobleCrypto)
  return { fs, chunks: new Map(), models: [new Model()], roots: [stateRoot(fs)], ops: [] }
}

function runSpec(m: Model, r: Real, spec: Spec): void {
  const epoch = r.fs.epoch + 1
  const cred: Cred = epoch % 3 === 0 ? { uid: 0, gid: 100 + (epoch % 2), groups: [7, 100] } : { uid: 0, gid: 100 + (epoch % 2) }
  const time = { sec: 1000 + epoch, nsec: (epoch * 7919) % 1_000_000_000 }
  let op: FsOp
  let expected: R
  if (spec.k === 'op') {
    op = spec.op({ cred, time, ino: 100 + epoch, p: (pick) => pickPath(m, pick) })
    expected = m.apply(op)
  } else {
    const path = pickPath(m, spec.path)
    const steps: WriteStep[] = spec.k === 'truncate' ? [{ truncate: spec.size }] : spec.steps
    const truncateTo = spec.k === 'truncate' ? undefined : spec.truncateTo
    const plan = planWrite(r.fs, (h) => r.chunks.get(h), path, steps, truncateTo, nobleCrypto, { cred, time })
    const all = truncateTo === undefined ? steps : [{ truncate: truncateTo }, ...steps]
    if (!plan.ok) {
      expect(plan.errno).toBe((m.write(path, all, time) as { errno: string }).errno)
      // A session that cannot be planned still becomes a (failing) truncate op in the log.
      op = { type: 'truncate', path, size: 0, cred, time }
      expected = { ok: false, errno: plan.errno }
    } else {
      for (const [h, d] of plan.value.chunks) r.chunks.set(h, d)
      op = spec.k === 'truncate' ? { type: 'truncate', path, size: spec.size, cred, time } : plan.value.op
      expected = m.write(path, all, time)
    }
  }
  const before = stateRoot(r.fs)
  const { result } = applyOp(r.fs, op, { epoch, author: AUTHOR })
  expect(result, `${op.type} ${JSON.stringify(op, (_, x) => (x instanceof Uint8Array ? [...x] : x))}`).toEqual(expected)
  if (!result.ok) expect(stateRoot(r.fs), 'a failed op changed the state').toBe(before)
  r.ops.push(op)
  r.models.push(m.clone())
  r.roots.push(stateRoot(r.fs))
}

class SpecCommand implements fc.Command<Model, Real> {
  private last = ''
  constructor(readonly spec: Spec) {}
  check(): boolean {
    return true
  }
  run(m: Model, r: Real): void {
    runSpec(m, r, this.spec)
    this.last = JSON.stringify(r.ops[r.ops.length - 1], (_, x) => (x instanceof Uint8Array ? `bytes(${x.length})` : x))
    compareWithModel(currentView(r.fs), m, r.chunks)
    const deep = r.fs.epoch % 5 === 0
    expect(checkFsInvariants(r.fs, { deep })).toEqual([])
  }
  toString(): string {
    return this.last || (this.spec.k === 'op' ? this.spec.label : this.spec.k)
  }
}

function replay(list: Spec[]): { m: Model; r: Real } {
  const m = new Model()
  const r = newReal()
  for (const s of list) runSpec(m, r, s)
  return { m, r }
}

// ---------------------------------------------------------------------------------------------

describe('fs state machine vs reference model', () => {
  it('[FS-2][FS-3][FS-4][FS-5] every op gives the model\'s result and state (errnos, rename corner cases, hard links, times)', () => {
    fc.assert(
      fc.property(fc.commands([specs.map((s) => new SpecCommand(s))], { maxCommands: 80, size: 'large' }), (cmds) => {
        fc.modelRun(() => ({ model: new Model(), real: newReal() }), cmds)
      }),
      { numRuns: 250 },
    )
  })

  it('[FS-7] every past epoch\'s snapshot equals the model at that epoch, and stateRootAt equals the root seen then', () => {
    fc.assert(
      fc.property(fc.array(specs, { minLength: 1, maxLength: 40 }), (list) => {
        const { r } = replay(list)
        for (let e = 0; e <= r.fs.epoch; e++) {
          compareWithModel(snapshotAt(r.fs, e), r.models[e]!, r.chunks)
          expect(stateRootAt(r.fs, e), `root at ${e}`).toBe(r.roots[e])
        }
        // Each snapshot also equals a fresh replay of the prefix, by diffTrees.
        const e = Math.floor(r.fs.epoch / 2)
        const fresh = createFs(nobleCrypto)
        r.ops.slice(0, e).forEach((op, i) => applyOp(fresh, op, { epoch: i + 1, author: AUTHOR }))
        expect(diffTrees(fresh, snapshotAt(r.fs, e))).toEqual([])
      }),
      { numRuns: 60 },
    )
  })

  it('[FS-7] history(path): the latest entry at or before each epoch describes what the path held then', () => {
    const universe = ['/a', '/b', '/a/b', '/b/a', '/a/b/c', '/c/a']
    fc.assert(
      fc.property(fc.array(specs, { minLength: 1, maxLength: 40 }), (list) => {
        const { r } = replay(list)
        for (const p of universe) {
          const h = history(r.fs, p)
          expect(h.ok).toBe(true)
          if (!h.ok) return
          const entries = h.value
          for (let i = 1; i < entries.length; i++) expect(entries[i]!.epoch).toBeGreaterThanOrEqual(entries[i - 1]!.epoch)
          for (let e = 0; e <= r.fs.epoch; e++) {
            const m = r.models[e]!
            const upTo = entries.filter((x) => x.epoch <= e)
            const last = upTo[upTo.length - 1]
            if (!m.paths.has(p)) {
              expect(last === undefined || last.kind === 'deleted', `${p} absent at ${e}`).toBe(true)
            } else {
              const n = m.node(p)
              expect(last, `${p} present at ${e}`).toBeDefined()
              expect({ ino: last!.ino, kind: last!.kind, size: last!.size, mode: last!.mode, uid: last!.uid, gid: last!.gid, mtime: last!.mtime })
                .toEqual({ ino: n.ino, kind: n.kind, size: m.size(n), mode: n.mode, uid: n.uid, gid: n.gid, mtime: n.mtime })
              if (last!.epoch > 0) expect(last!.author).toBe(AUTHOR)
            }
          }
        }
      }),
      { numRuns: 60 },
    )
  })

  it('[FS-7] [STORE-6] a replica whose past is in the store (StoredFsPast) has the same history, snapshots and checks as one with its past in memory, within a step and after', () => {
    const universe = ['/a', '/b', '/a/b', '/b/a', '/a/b/c', '/c/a']
    fc.assert(
      fc.property(fc.array(specs, { minLength: 1, maxLength: 40 }), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (list, stepEnds) => {
        const { r } = replay(list)
        const port = new MemoryPastStore()
        const past = new StoredFsPast('v' as VolumeName, port)
        const stored = createFs(nobleCrypto, {}, past)
        const held: ReturnType<typeof past.drain> = []
        const compare = (): void => {
          expect(diffHistory(r.fs, stored)).toEqual([])
          for (const p of universe) expect(history(stored, p)).toEqual(history(r.fs, p))
        }
        r.ops.forEach((op, i) => {
          applyOp(stored, op, { epoch: i + 1, author: AUTHOR })
          held.push(...past.drain())
          // A step ends here or not: within a step the records are not in the port yet.
          if (stepEnds[i]) {
            port.absorb(held.splice(0))
            past.endStep()
            expect(past.holdsStep).toBe(false)
          }
        })
        for (let e = 0; e <= stored.epoch; e++) expect(diffTrees(snapshotAt(r.fs, e), snapshotAt(stored, e)), `epoch ${e}`).toEqual([])
        compare()
        port.absorb(held.splice(0))
        past.endStep()
        compare()
        expect(checkFsInvariants(stored, { deep: true })).toEqual([])
        expect(checkPermInvariants(stored)).toEqual(checkPermInvariants(r.fs))
        expect(past.damaged).toBe(0)
      }),
      { numRuns: 60 },
    )
  })

  it('[FS-7] a replay whose past keeps only summaries (SummaryPast, verify) gives diffHistory the same findings as one with every version, on an intact and on a damaged replica', () => {
    fc.assert(
      fc.property(fc.array(specs, { minLength: 1, maxLength: 40 }), fc.nat(), (list, pick) => {
        const { r } = replay(list)
        const summary = createFs(nobleCrypto, {}, new SummaryPast(nobleCrypto))
        r.ops.forEach((op, i) => applyOp(summary, op, { epoch: i + 1, author: AUTHOR }))
        expect(diffHistory(summary, r.fs)).toEqual([])
        // Damage one version of the replica's past (its mode): both replays name the same things.
        const past = r.fs.past as MemoryFsPast
        const all = [...past.versionsOf].flatMap(([ino, vs]) => vs.map((_, i) => [ino, i] as const))
        const [ino, i] = all[pick % all.length]!
        const vs = past.versionsOf.get(ino)!
        vs[i] = { ...vs[i]!, mode: vs[i]!.mode ^ 0o001 }
        const full = createFs(nobleCrypto)
        r.ops.forEach((op, k) => applyOp(full, op, { epoch: k + 1, author: AUTHOR }))
        const expected = diffHistory(full, r.fs)
        expect(expected.length).toBeGreaterThan(0)
        expect(diffHistory(summary, r.fs)).toEqual(expected)
        expect(() => summary.past.versions(1)).toThrow(/keeps no versions/)
      }),
      { numRuns: 60 },
    )
  })

  it('[FS-1] replaying the same ops (through encode/decode/validateOp) gives byte-identical state roots after every op', () => {
    fc.assert(
      fc.property(fc.array(specs, { minLength: 1, maxLength: 40 }), (list) => {
        const { r } = replay(list)
        const other = createFs(nobleCrypto)
        r.ops.forEach((op, i) => {
          const v = validateOp(decode(encode(opToValue(op))))
          expect(v.ok).toBe(true)
          if (!v.ok) return
          applyOp(other, v.op, { epoch: i + 1, author: AUTHOR })
          expect(stateRoot(other), `root after op ${i + 1}`).toBe(r.roots[i + 1])
        })
      }),
      { numRuns: 60 },
    )
  })

  it('[FS-1][FS-8] different content, attributes or names give different state roots', () => {
    const cred = { uid: 1, gid: 1 }
    const time = { sec: 1, nsec: 0 }
    const base = (): FsState => {
      const fs = createFs(nobleCrypto)
      applyOp(fs, { type: 'mkdir', path: '/d', mode: 0o755, ino: 2, cred, time }, { epoch: 1, author: AUTHOR })
      applyOp(fs, { type: 'create', path: '/d/f', mode: 0o644, ino: 3, cred, time }, { epoch: 2, author: AUTHOR })
      return fs
    }
    const variants: FsOp[] = [
      { type: 'write', path: '/d/f', size: 1, blocks: [[0, 'aa'.repeat(32) as never]], cred, time },
      { type: 'write', path: '/d/f', size: 1, blocks: [[0, 'ab'.repeat(32) as never]], cred, time },
      { type: 'write', path: '/d/f', size: 2, blocks: [[0, 'aa'.repeat(32) as never]], cred, time },
      { type: 'chmod', path: '/d/f', mode: 0o600, cred, time },
      { type: 'chown', path: '/d/f', uid: 7, gid: -1, cred: { uid: 0, gid: 0 }, time },
      { type: 'rename', from: '/d/f', to: '/d/g', cred, time },
      { type: 'setxattr', path: '/d/f', name: 'user.x', value: new Uint8Array([1]), flags: 0, cred, time },
      { type: 'utimens', path: '/d/f', atime: { sec: 1, nsec: 1 }, mtime: 'omit', cred, time },
      { type: 'utimens', path: '/d/f', atime: 'omit', mtime: { sec: 1, nsec: 1 }, cred, time },
    ]
    const roots = variants.map((op) => {
      const fs = base()
      expect(applyOp(fs, op, { epoch: 3, author: AUTHOR }).result.ok).toBe(true)
      return stateRoot(fs)
    })
    expect(new Set(roots).size).toBe(variants.length)
    expect(roots).not.toContain(stateRoot(base()))
  })
})
