// Op validation (untrusted input), name/path limits and the POSIX corner cases of rename/link.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto } from '../core/crypto.ts'
import { decode, encode } from '../core/codec.ts'
import type { Value } from '../core/codec.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { MemoryFsPast } from '../core/fs/past.ts'
import { Parents } from '../core/fs/types.ts'
import { MemoryPastStore, StoredFsPast } from '../core/volume/past.ts'
import type { FsOp, FsState, FsResult } from '../core/fs/index.ts'
import {
  applyOp, checkFsInvariants, createFs, diffTrees, exportTree, getattr, history, importTree, opKind, opPaths, opToValue,
  provePath, readdir, readlink, snapshotAt, stateRoot, stateRootUncached, validateOp, verifyPathProof, FS_PATH_MAX_BYTES, OP_KINDS,
  PATH_MAX_BYTES,
} from '../core/fs/index.ts'

const AUTHOR = '03'.padEnd(66, 'b') as Pid
const cred = { uid: 1000, gid: 1000 }

function fsWith(...ops: ((t: { sec: number; nsec: number }) => FsOp)[]): { fs: FsState; run: (op: FsOp) => FsResult } {
  const fs = createFs(nobleCrypto)
  const run = (op: FsOp): FsResult => applyOp(fs, op, { epoch: fs.epoch + 1, author: AUTHOR }).result
  for (const make of ops) expect(run(make({ sec: fs.epoch + 1, nsec: 0 })).ok).toBe(true)
  return { fs, run }
}
const t = { sec: 99, nsec: 1 }
const mkdir = (path: string, ino: number) => (time: { sec: number; nsec: number }): FsOp => ({ type: 'mkdir', path, mode: 0o755, ino, cred, time })
const create = (path: string, ino: number) => (time: { sec: number; nsec: number }): FsOp => ({ type: 'create', path, mode: 0o644, ino, cred, time })
const link = (from: string, to: string) => (time: { sec: number; nsec: number }): FsOp => ({ type: 'link', from, to, cred, time })
const rename = (from: string, to: string): FsOp => ({ type: 'rename', from, to, cred, time: t })

// Valid ops of every kind, for round trips.
const pathArb = fc.stringMatching(/^(\/[a-z]{1,3}){1,3}$/)
const timeArb = fc.record({ sec: fc.integer({ min: -1e12, max: 1e12 }), nsec: fc.integer({ min: 0, max: 999_999_999 }) })
const credArb = fc.record({ uid: fc.integer({ min: 0, max: 0xfffffffe }), gid: fc.integer({ min: 0, max: 0xfffffffe }) })
const inoArb = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })
const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))
const base = { cred: credArb, time: timeArb }
const validOpArb: fc.Arbitrary<FsOp> = fc.oneof(
  fc.record({ type: fc.constant('create'), path: pathArb, mode: fc.integer({ min: 0, max: 0o177777 }), ino: inoArb, ...base }),
  fc.record({ type: fc.constant('mkdir'), path: pathArb, mode: fc.integer({ min: 0, max: 0o177777 }), ino: inoArb, ...base }),
  fc.record({ type: fc.constant('mknod'), path: pathArb, mode: fc.integer({ min: 0, max: 0o177777 }), rdev: fc.integer({ min: 0, max: 0xffffffff }), ino: inoArb, ...base }),
  fc.record({ type: fc.constant('symlink'), path: pathArb, target: fc.string(), ino: inoArb, ...base }),
  fc.record({ type: fc.constant('link'), from: pathArb, to: pathArb, ...base }),
  fc.record({ type: fc.constant('rename'), from: pathArb, to: pathArb, ...base }),
  fc.integer({ min: 0, max: 10 * 65536 }).chain((size) =>
    fc.record({
      type: fc.constant('write'), path: pathArb, size: fc.constant(size),
      blocks: fc.uniqueArray(fc.integer({ min: 0, max: Math.max(0, Math.ceil(size / 65536) - 1) }), { maxLength: size === 0 ? 0 : 4 })
        .chain((idx) => fc.tuple(...idx.sort((a, b) => a - b).map((i) => fc.tuple(fc.constant(i), fc.option(hashArb, { nil: null }))))),
      ...base,
    })),
  fc.record({ type: fc.constant('truncate'), path: pathArb, size: fc.nat(), ...base }),
  fc.record({ type: fc.constantFrom('unlink', 'rmdir'), path: pathArb, ...base }),
  fc.record({ type: fc.constant('chmod'), path: pathArb, mode: fc.integer({ min: 0, max: 0o177777 }), ...base }),
  fc.record({ type: fc.constant('chown'), path: pathArb, uid: fc.integer({ min: -1, max: 5000 }), gid: fc.integer({ min: -1, max: 5000 }), ...base }),
  fc.record({ type: fc.constant('utimens'), path: pathArb, atime: fc.oneof(fc.constant('omit'), timeArb), mtime: fc.oneof(fc.constant('omit'), timeArb), ...base }),
  fc.record({ type: fc.constant('setxattr'), path: pathArb, name: fc.string(), value: fc.uint8Array({ maxLength: 16 }), flags: fc.constantFrom(0, 1, 2), ...base }),
  fc.record({ type: fc.constant('removexattr'), path: pathArb, name: fc.string(), ...base }),
) as fc.Arbitrary<FsOp>

describe('validateOp', () => {
  it('[FS-10] round-trips every valid op through encode -> decode -> validateOp unchanged', () => {
    fc.assert(fc.property(validOpArb, (op) => {
      const v = validateOp(decode(encode(opToValue(op))))
      expect(v).toEqual({ ok: true, op })
      expect(OP_KINDS).toContain(opKind(op))
      expect(opPaths(op).length).toBeGreaterThan(0)
    }), { numRuns: 2000 })
  })

  it('[FS-10] rejects arbitrary values without throwing', () => {
    fc.assert(fc.property(fc.anything({ withTypedArray: true, withNullPrototype: true, withBigInt: true, withMap: true }), (value) => {
      const v = validateOp(value as Value)
      expect(typeof v.ok).toBe('boolean')
    }), { numRuns: 3000 })
  })

  it('[FS-10] rejects each single-field corruption of a valid op (wrong type, extra field, missing field, out of range)', () => {
    const corrupt = fc.constantFrom<(r: Record<string, unknown>) => void>(
      (r) => { r.extra = 1 },
      (r) => { delete r.cred },
      (r) => { r.time = { sec: 1, nsec: 1e9 } },
      (r) => { r.time = { sec: 1.5, nsec: 0 } },
      (r) => { r.cred = { uid: -1, gid: 0 } },
      (r) => { r.cred = { uid: 0, gid: 0, x: 1 } },
      (r) => { r.type = 'format' },
      (r) => { r.type = 7 },
      (r) => { const k = Object.keys(r).find((x) => x !== 'type' && x !== 'cred' && x !== 'time')!; r[k] = { bogus: true } },
      (r) => { const k = Object.keys(r).find((x) => x !== 'type' && x !== 'cred' && x !== 'time')!; delete r[k] },
    )
    fc.assert(fc.property(validOpArb, corrupt, (op, f) => {
      const r = structuredClone(op) as unknown as Record<string, unknown>
      f(r)
      expect(validateOp(r as Value).ok).toBe(false)
    }), { numRuns: 2000 })
  })

  it('[FS-10] rejects write ops whose blocks are unsorted, duplicated, beyond the size or badly hashed', () => {
    const h = 'ab'.repeat(32)
    const w = (size: number, blocks: unknown): unknown => ({ type: 'write', path: '/f', size, blocks, cred, time: t })
    expect(validateOp(w(200000, [[0, h], [1, null]])).ok).toBe(true)
    for (const bad of [w(200000, [[1, h], [0, h]]), w(200000, [[0, h], [0, h]]), w(65536, [[1, h]]), w(0, [[0, h]]),
      w(10, [[0, 'AB'.repeat(32)]]), w(10, [[0, h.slice(2)]]), w(10, [[0]]), w(10, [[-1, h]]), w(10, 'x')]) {
      expect(validateOp(bad as Value).ok).toBe(false)
    }
  })
})

describe('names and paths', () => {
  it('[FS-6] names up to 255 UTF-8 bytes and paths up to 16 x PATH_MAX bytes from the root; longer is ENAMETOOLONG; . .. NUL empty are EINVAL', () => {
    const { run } = fsWith()
    const c = (path: string, ino: number): FsResult => run({ type: 'create', path, mode: 0o644, ino, cred, time: t })
    expect(FS_PATH_MAX_BYTES).toBe(16 * PATH_MAX_BYTES)
    expect(c('/' + 'x'.repeat(255), 2).ok).toBe(true)
    expect(c('/' + 'x'.repeat(256), 3)).toEqual({ ok: false, errno: 'ENAMETOOLONG' })
    expect(c('/' + 'ä'.repeat(127), 4).ok).toBe(true) // 254 bytes
    expect(c('/' + 'ä'.repeat(128), 5)).toEqual({ ok: false, errno: 'ENAMETOOLONG' }) // 256 bytes
    // Longer than PATH_MAX is no error in itself (a mount sees such paths from a deep cwd): ENOENT
    // for the missing directories; beyond the limit ENAMETOOLONG, checked before the names.
    expect(c('/' + 'x/'.repeat(2048) + 'y', 6)).toEqual({ ok: false, errno: 'ENOENT' })
    expect(c('/' + 'x/'.repeat(FS_PATH_MAX_BYTES / 2 - 1) + 'y', 6)).toEqual({ ok: false, errno: 'ENOENT' }) // 65536 bytes
    expect(c('/' + 'x/'.repeat(FS_PATH_MAX_BYTES / 2 - 1) + 'yy', 6)).toEqual({ ok: false, errno: 'ENAMETOOLONG' })
    expect(c('/' + 'x/'.repeat(FS_PATH_MAX_BYTES / 2) + '.', 6)).toEqual({ ok: false, errno: 'ENAMETOOLONG' })
    for (const bad of ['', 'rel', '/a/', '//a', '/.', '/..', '/a\0b', '/\ud800']) expect(c(bad, 7)).toEqual({ ok: false, errno: 'EINVAL' })
    expect(c('/', 8)).toEqual({ ok: false, errno: 'EEXIST' })
  })

  it('[FS-6] every path-taking op takes a path of exactly 16 x PATH_MAX bytes of nested 255-byte names, and refuses one byte more with ENAMETOOLONG, changing nothing', () => {
    const { fs, run } = fsWith()
    // 254 directories named by 255 bytes, then 128 and 127 bytes: D has 65281 bytes, so a last
    // name of 254 bytes makes exactly FS_PATH_MAX_BYTES and one of 255 one byte more, with every
    // name within NAME_MAX (the error is the path's, not a name's).
    const names = [...Array.from({ length: 254 }, (_, i) => String.fromCharCode(0x41 + (i % 26)).repeat(255)), 'a'.repeat(128), 'b'.repeat(127)]
    let dir = ''
    let ino = 100
    for (const n of names) {
      dir += `/${n}`
      expect(run({ type: 'mkdir', path: dir, mode: 0o755, ino: ino++, cred, time: t })).toEqual({ ok: true, ino: ino - 1 })
    }
    const at = (c: string, len: 254 | 255) => `${dir}/${c.repeat(len)}`
    expect(Buffer.byteLength(dir)).toBe(65281)
    expect(Buffer.byteLength(at('z', 254))).toBe(FS_PATH_MAX_BYTES)
    expect(Buffer.byteLength(at('z', 255))).toBe(FS_PATH_MAX_BYTES + 1)
    const hash = 'cd'.repeat(32) as never
    const base = { cred, time: t }
    // [what, the op at a path of exactly the limit (must succeed), the same op with one path one byte longer]
    const f = at('z', 254)
    const cases: [string, FsOp, FsOp][] = [
      ['create', { type: 'create', path: f, mode: 0o644, ino: 2, ...base }, { type: 'create', path: at('z', 255), mode: 0o644, ino: 3, ...base }],
      ['write', { type: 'write', path: f, size: 1, blocks: [[0, hash]], ...base }, { type: 'write', path: at('z', 255), size: 1, blocks: [[0, hash]], ...base }],
      ['truncate', { type: 'truncate', path: f, size: 0, ...base }, { type: 'truncate', path: at('z', 255), size: 0, ...base }],
      ['chmod', { type: 'chmod', path: f, mode: 0o600, ...base }, { type: 'chmod', path: at('z', 255), mode: 0o600, ...base }],
      ['chown', { type: 'chown', path: f, uid: -1, gid: 1000, ...base }, { type: 'chown', path: at('z', 255), uid: -1, gid: 1000, ...base }],
      ['utimens', { type: 'utimens', path: f, atime: 'now', mtime: 'now', ...base }, { type: 'utimens', path: at('z', 255), atime: 'now', mtime: 'now', ...base }],
      ['setxattr', { type: 'setxattr', path: f, name: 'user.k', value: new Uint8Array([1]), flags: 0, ...base }, { type: 'setxattr', path: at('z', 255), name: 'user.k', value: new Uint8Array([1]), flags: 0, ...base }],
      ['removexattr', { type: 'removexattr', path: f, name: 'user.k', ...base }, { type: 'removexattr', path: at('z', 255), name: 'user.k', ...base }],
      ['link (new name)', { type: 'link', from: f, to: at('y', 254), ...base }, { type: 'link', from: f, to: at('y', 255), ...base }],
      ['link (source)', { type: 'link', from: f, to: at('w', 254), ...base }, { type: 'link', from: at('z', 255), to: at('v', 254), ...base }],
      ['rename (target)', { type: 'rename', from: at('y', 254), to: at('x', 254), ...base }, { type: 'rename', from: at('x', 254), to: at('x', 255), ...base }],
      ['rename (source)', { type: 'rename', from: at('x', 254), to: at('y', 254), ...base }, { type: 'rename', from: at('z', 255), to: at('u', 254), ...base }],
      ['unlink', { type: 'unlink', path: at('y', 254), ...base }, { type: 'unlink', path: at('z', 255), ...base }],
      ['mkdir', { type: 'mkdir', path: at('m', 254), mode: 0o755, ino: 4, ...base }, { type: 'mkdir', path: at('m', 255), mode: 0o755, ino: 5, ...base }],
      ['rmdir', { type: 'rmdir', path: at('m', 254), ...base }, { type: 'rmdir', path: at('m', 255), ...base }],
      ['mknod', { type: 'mknod', path: at('p', 254), mode: 0o010644, rdev: 0, ino: 6, ...base }, { type: 'mknod', path: at('p', 255), mode: 0o010644, rdev: 0, ino: 7, ...base }],
      ['symlink', { type: 'symlink', path: at('s', 254), target: 'z', ino: 8, ...base }, { type: 'symlink', path: at('s', 255), target: 'z', ino: 9, ...base }],
    ]
    for (const [what, ok, over] of cases) {
      expect(run(ok), `${what} at ${FS_PATH_MAX_BYTES} bytes`).toEqual(expect.objectContaining({ ok: true }))
      const before = stateRoot(fs)
      expect(run(over), `${what} at ${FS_PATH_MAX_BYTES + 1} bytes`).toEqual({ ok: false, errno: 'ENAMETOOLONG' })
      expect(stateRoot(fs), `${what}: a refused op changes nothing`).toBe(before)
    }
    // Reads, history and proofs take the same paths.
    expect(getattr(fs, f)).toEqual(expect.objectContaining({ ok: true }))
    expect(getattr(fs, at('z', 255))).toEqual({ ok: false, errno: 'ENAMETOOLONG' })
    expect(readlink(fs, at('s', 254))).toEqual({ ok: true, value: 'z' })
    expect((readdir(fs, dir) as { ok: true; value: { name: string }[] }).value.map((e) => e.name[0])).toEqual(['p', 's', 'w', 'z'])
    const h = history(fs, f)
    expect(h.ok && h.value.length).toBeGreaterThan(5)
    expect(history(fs, at('z', 255))).toEqual({ ok: false, errno: 'ENAMETOOLONG' })
    const proof = provePath(fs, f)
    expect(proof.ok && verifyPathProof(fs.crypto, stateRoot(fs), f, proof.value.leaf, proof.value)).toBe(true)
    expect(provePath(fs, at('z', 255))).toEqual({ ok: false, errno: 'ENAMETOOLONG' })
    expect(checkFsInvariants(fs, { deep: true })).toEqual([])
  })

  it('[FS-6][FS-8][FS-9] a tree as deep as the longest path allows (32768 names) and deeper (by renames): rename checks, state root, diff and images work', () => {
    const { fs, run } = fsWith(mkdir('/c', 2))
    // A chain /c/c/.../c built by moving the chain under a fresh /n and renaming /n to /c: each
    // step's paths are short, so the chain grows without paths as long as its depth.
    const DEPTH = FS_PATH_MAX_BYTES / 2 + 100
    let ino = 3
    let failed = 0
    for (let d = 1; d < DEPTH; d++) {
      if (!run({ type: 'mkdir', path: '/n', mode: 0o755, ino: ino++, cred, time: t }).ok) failed++
      if (!run(rename('/c', '/n/c')).ok) failed++
      if (!run(rename('/n', '/c')).ok) failed++
    }
    expect(failed).toBe(0)
    const deepest = '/c'.repeat(FS_PATH_MAX_BYTES / 2) // 65536 bytes: a directory 32768 levels down
    expect(getattr(fs, deepest).ok).toBe(true)
    expect(getattr(fs, deepest + '/c')).toEqual({ ok: false, errno: 'ENAMETOOLONG' })
    // Moving /c into its own subtree at the greatest depth a path reaches: EINVAL (the ancestor
    // walk covers every level a path can name), and one level deeper ENAMETOOLONG.
    expect(run(rename('/c', deepest.slice(0, -2) + '/x'))).toEqual({ ok: false, errno: 'EINVAL' })
    expect(run(rename('/c', deepest + '/x'))).toEqual({ ok: false, errno: 'ENAMETOOLONG' })
    expect(run({ type: 'create', path: deepest.slice(0, -2) + '/f', mode: 0o644, ino: ino++, cred, time: t }).ok).toBe(true)
    // The walks over the whole tree are iterative: no stack overflow at any depth (the recursive
    // ones overflowed at a few thousand levels). Each walk costs a second or so here.
    const root = stateRoot(fs) // nothing cached yet: the whole tree
    expect(stateRootUncached(fs)).toBe(root)
    expect(checkFsInvariants(fs)).toEqual([])
    const image = importTree(exportTree(fs), fs.crypto)
    expect(image.ok).toBe(true)
    if (!image.ok) return
    expect(stateRoot(image.fs)).toBe(root)
    expect(run({ type: 'chmod', path: deepest.slice(0, -2) + '/f', mode: 0o600, cred, time: t }).ok).toBe(true)
    expect(diffTrees(fs, image.fs)).toEqual([{ path: deepest.slice(0, -2) + '/f', what: 'mode', expected: '0o100600', found: '0o100644' }])
  })

  it('[FS-6] an ino that exists or ever existed cannot be created again (EEXIST)', () => {
    const { run } = fsWith(create('/a', 2))
    expect(run({ type: 'create', path: '/b', mode: 0o644, ino: 2, cred, time: t })).toEqual({ ok: false, errno: 'EEXIST' })
    expect(run({ type: 'create', path: '/b', mode: 0o644, ino: 1, cred, time: t })).toEqual({ ok: false, errno: 'EEXIST' })
    expect(run({ type: 'unlink', path: '/a', cred, time: t }).ok).toBe(true)
    expect(run({ type: 'mkdir', path: '/b', mode: 0o755, ino: 2, cred, time: t })).toEqual({ ok: false, errno: 'EEXIST' })
  })

  it('[FS-4] [FS-6] a deleted inode leaves the current state (its tombstone stays in the past, in memory or in the store) and its ino is still never reused', () => {
    for (const stored of [false, true]) {
      const port = new MemoryPastStore()
      const past = stored ? new StoredFsPast('v' as VolumeName, port) : new MemoryFsPast()
      const fs = createFs(nobleCrypto, {}, past)
      const run = (op: FsOp): FsResult => {
        const r = applyOp(fs, op, { epoch: fs.epoch + 1, author: AUTHOR }).result
        if (past instanceof StoredFsPast) {
          port.absorb(past.drain())
          past.endStep()
        }
        return r
      }
      expect(run(mkdir('/d', 2)(t)).ok).toBe(true)
      expect(run(create('/d/f', 3)(t)).ok).toBe(true)
      const before = fs.epoch
      expect(run({ type: 'unlink', path: '/d/f', cred, time: t }).ok).toBe(true)
      expect(run({ type: 'rmdir', path: '/d', cred, time: t }).ok).toBe(true)
      expect([...fs.inodes.keys()]).toEqual([1])
      expect(past.versions(3).map((v) => v.deleted)).toEqual([false, true])
      expect(checkFsInvariants(fs, { deep: true })).toEqual([])
      // The past still answers for the deleted directory and its file.
      const then = snapshotAt(fs, before)
      expect(then.lookup('/d/f')).toEqual({ ok: true, value: 3 })
      expect(then.children(2)).toEqual([['f', 3]])
      expect(run({ type: 'create', path: '/g', mode: 0o644, ino: 3, cred, time: t })).toEqual({ ok: false, errno: 'EEXIST' })
      expect(run({ type: 'mkdir', path: '/g', mode: 0o755, ino: 2, cred, time: t })).toEqual({ ok: false, errno: 'EEXIST' })
      expect(run({ type: 'create', path: '/g', mode: 0o644, ino: 4, cred, time: t }).ok).toBe(true)
    }
  })
})

describe('rename and link corner cases (POSIX)', () => {
  const setup = () => fsWith(mkdir('/d', 2), mkdir('/d/sub', 3), create('/d/sub/f', 4), mkdir('/e', 5), create('/g', 6), link('/g', '/d/h'), mkdir('/empty', 7))

  it('[FS-2] rename replaces a file, replaces an empty dir, and refuses the rest with the POSIX errno', () => {
    let s = setup()
    expect(s.run(rename('/d/sub/f', '/g'))).toEqual({ ok: true })
    expect(getattr(s.fs, '/d/h').ok && (getattr(s.fs, '/d/h') as { value: { nlink: number } }).value.nlink).toBe(1)
    s = setup()
    expect(s.run(rename('/e', '/empty'))).toEqual({ ok: true })
    expect(readdir(s.fs, '/').ok && (readdir(s.fs, '/') as { value: { name: string }[] }).value.map((e) => e.name)).toEqual(['d', 'empty', 'g'])
    expect(s.run(rename('/d', '/d/sub/x'))).toEqual({ ok: false, errno: 'EINVAL' })
    expect(s.run(rename('/d', '/d/sub'))).toEqual({ ok: false, errno: 'EINVAL' })
    expect(s.run(rename('/empty', '/d'))).toEqual({ ok: false, errno: 'ENOTEMPTY' })
    expect(s.run(rename('/g', '/empty'))).toEqual({ ok: false, errno: 'EISDIR' })
    expect(s.run(rename('/empty', '/g'))).toEqual({ ok: false, errno: 'ENOTDIR' })
    expect(s.run(rename('/d/sub', '/d'))).toEqual({ ok: false, errno: 'ENOTEMPTY' })
    expect(s.run(rename('/nope', '/x'))).toEqual({ ok: false, errno: 'ENOENT' })
    expect(s.run(rename('/g/x', '/x'))).toEqual({ ok: false, errno: 'ENOTDIR' })
    expect(s.run(rename('/', '/x'))).toEqual({ ok: false, errno: 'EBUSY' })
    expect(checkFsInvariants(s.fs, { deep: true })).toEqual([])
  })

  it('[FS-2][FS-3] rename onto itself or onto a hard link of the same inode succeeds and changes nothing', () => {
    const s = setup()
    const root = stateRoot(s.fs)
    expect(s.run(rename('/g', '/g'))).toEqual({ ok: true })
    expect(s.run(rename('/g', '/d/h'))).toEqual({ ok: true })
    expect(s.run(rename('/d', '/d'))).toEqual({ ok: true })
    expect(stateRoot(s.fs)).toBe(root)
    expect(getattr(s.fs, '/g').ok && getattr(s.fs, '/d/h').ok).toBe(true)
  })

  it('[FS-4] moving a directory moves one link count from the old parent to the new one', () => {
    const s = setup()
    const nl = (p: string): number => (getattr(s.fs, p) as { value: { nlink: number } }).value.nlink
    expect([nl('/'), nl('/d'), nl('/e')]).toEqual([5, 3, 2])
    expect(s.run(rename('/d/sub', '/e/sub'))).toEqual({ ok: true })
    expect([nl('/'), nl('/d'), nl('/e')]).toEqual([5, 2, 3])
    expect(s.run(rename('/e/sub', '/empty'))).toEqual({ ok: true }) // replaces an empty dir in another parent
    expect([nl('/'), nl('/e')]).toEqual([5, 2]) // root: +1 for sub, -1 for the replaced /empty
    expect(checkFsInvariants(s.fs, { deep: true })).toEqual([])
  })

  it('[FS-2] link: EPERM on directories, EEXIST on an existing name, nlink and ctime updated', () => {
    const s = setup()
    expect(s.run({ type: 'link', from: '/d', to: '/x', cred, time: t })).toEqual({ ok: false, errno: 'EPERM' })
    expect(s.run({ type: 'link', from: '/g', to: '/e', cred, time: t })).toEqual({ ok: false, errno: 'EEXIST' })
    expect(s.run({ type: 'link', from: '/g', to: '/e/g2', cred, time: t })).toEqual({ ok: true, ino: 6 })
    const a = getattr(s.fs, '/e/g2')
    expect(a.ok && [a.value.nlink, a.value.ctime]).toEqual([3, t])
  })
})

describe('Parents (an inode\'s names by directory, one entry inline)', () => {
  it('[FS-4] behaves as a Map<dir, count> under random set and delete', () => {
    const stepArb = fc.record({ del: fc.boolean(), dir: fc.integer({ min: 1, max: 5 }), n: fc.integer({ min: 1, max: 3 }) })
    fc.assert(fc.property(fc.array(stepArb, { maxLength: 60 }), (steps) => {
      const p = new Parents()
      const m = new Map<number, number>()
      for (const s of steps) {
        if (s.del) expect(p.delete(s.dir)).toBe(m.delete(s.dir))
        else {
          p.set(s.dir, s.n)
          m.set(s.dir, s.n)
        }
        expect(p.size).toBe(m.size)
        for (let d = 0; d <= 6; d++) {
          expect(p.get(d)).toBe(m.get(d))
          expect(p.has(d)).toBe(m.has(d))
        }
        expect([...p].sort((a, b) => a[0] - b[0])).toEqual([...m].sort((a, b) => a[0] - b[0]))
        expect([...p.keys()].sort()).toEqual([...m.keys()].sort())
      }
    }), { numRuns: 200 })
  })
})
