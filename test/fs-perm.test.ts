// Who may do what (spec/fs.md): the Linux permission rules at apply. A table-driven matrix
// (owner / group member by primary gid / group member by a supplementary group / other / root x
// op kinds), a fast-check property against an independent reference model of the rules (written
// here from the kernel's rules, not by calling core/fs/perm.ts), attribution in the log (FS-13),
// and validation of cred.groups and client (FS-10).
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto } from '../core/crypto.ts'
import { decode, encode } from '../core/codec.ts'
import type { Value } from '../core/codec.ts'
import type { Pid } from '../core/types.ts'
import type { Cred, FsOp, FsResult, FsState, FsTime, UtimeSpec } from '../core/fs/index.ts'
import {
  applyOp, checkFsInvariants, checkPermInvariants, createFs, diffHistory, getattr, history, opToValue, stateRoot,
  validateOp, S_IFCHR, S_IFIFO,
} from '../core/fs/index.ts'
import type { MemoryFsPast } from '../core/fs/past.ts'

/** The in-memory op log of a state built by createFs (tests read and damage it). */
const logOf = (fs: FsState) => (fs.past as MemoryFsPast).log

const AUTHOR = '02'.padEnd(66, 'c') as Pid
const CLIENT = '03'.padEnd(66, 'd') as Pid
const ROOT: Cred = { uid: 0, gid: 0 }
const T: FsTime = { sec: 500, nsec: 7 }
let nextIno = 100

function run(fs: FsState, op: FsOp): FsResult {
  return applyOp(fs, op, { epoch: fs.epoch + 1, author: AUTHOR }).result
}
function must(fs: FsState, op: FsOp): void {
  const r = run(fs, op)
  if (!r.ok) throw new Error(`setup ${op.type} ${JSON.stringify(op)}: ${r.errno}`)
}
function attr(fs: FsState, path: string): { mode: number; uid: number; gid: number } | null {
  const a = getattr(fs, path)
  return a.ok ? { mode: a.value.mode & 0o7777, uid: a.value.uid, gid: a.value.gid } : null
}

// ---------------------------------------------------------------------------------------------
// The matrix. Objects belong to uid 1000, group 2000; the actors land in each class.

const OWNER_UID = 1000
const GROUP = 2000
const ACTORS = {
  owner: { uid: 1000, gid: 1000 },
  gPrimary: { uid: 1001, gid: 2000 },
  gSuppl: { uid: 1002, gid: 1002, groups: [1500, 2000] },
  other: { uid: 1003, gid: 1003, groups: [1500] },
  root: { uid: 0, gid: 0 },
} satisfies Record<string, Cred>
type Role = keyof typeof ACTORS
const ROLES = Object.keys(ACTORS) as Role[]

interface World {
  dm?: number // /d
  fm?: number // /d/f (a file; with fdir a directory)
  fdir?: boolean
  em?: number // /e, owned by root
}

/** /d (dm, 1000:2000) holding f (fm, 1000:2000) and sub (0755, 1000:2000, with a file x in it),
 *  /e (em, root:root). Built by root. */
function world(w: World): FsState {
  const fs = createFs(nobleCrypto)
  const mk = (op: FsOp, mode: number, path: string, uid = OWNER_UID, gid = GROUP): void => {
    must(fs, op)
    must(fs, { type: 'chown', path, uid, gid, cred: ROOT, time: T })
    must(fs, { type: 'chmod', path, mode, cred: ROOT, time: T })
  }
  mk({ type: 'mkdir', path: '/d', mode: 0o700, ino: nextIno++, cred: ROOT, time: T }, w.dm ?? 0o755, '/d')
  if (w.fdir) mk({ type: 'mkdir', path: '/d/f', mode: 0o700, ino: nextIno++, cred: ROOT, time: T }, w.fm ?? 0o755, '/d/f')
  else mk({ type: 'create', path: '/d/f', mode: 0o600, ino: nextIno++, cred: ROOT, time: T }, w.fm ?? 0o644, '/d/f')
  mk({ type: 'mkdir', path: '/d/sub', mode: 0o700, ino: nextIno++, cred: ROOT, time: T }, 0o755, '/d/sub')
  mk({ type: 'create', path: '/d/sub/x', mode: 0o600, ino: nextIno++, cred: ROOT, time: T }, 0o644, '/d/sub/x')
  mk({ type: 'mkdir', path: '/e', mode: 0o700, ino: nextIno++, cred: ROOT, time: T }, w.em ?? 0o777, '/e', 0, 0)
  return fs
}

type Expect = 'ok' | 'EACCES' | 'EPERM' | 'EISDIR' | 'ENOTDIR' | 'ENOENT' | 'ENODATA' | 'EEXIST' | 'ENOTEMPTY'
/** Expected outcome per role, in ROLES order: owner, group (primary), group (suppl), other, root. */
type Row = [name: string, w: World, op: (c: Cred) => FsOp, expect: [Expect, Expect, Expect, Expect, Expect], after?: (fs: FsState, role: Role) => void]

const base = (c: Cred) => ({ cred: c, time: T })
const ino = () => nextIno++
const MATRIX: Row[] = [
  // Search permission on the path.
  ['chmod through /d without x for group/other', { dm: 0o744 }, (c) => ({ type: 'chmod', path: '/d/f', mode: 0o600, ...base(c) }), ['ok', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  ['search: a missing name under a dir without x is EACCES, not ENOENT', { dm: 0o700 }, (c) => ({ type: 'unlink', path: '/d/nope', ...base(c) }), ['ENOENT', 'EACCES', 'EACCES', 'EACCES', 'ENOENT']],
  ['search: x for the group only', { dm: 0o710 }, (c) => ({ type: 'utimens', path: '/d/f', atime: 'omit', mtime: 'omit', ...base(c) }), ['ok', 'ok', 'ok', 'EACCES', 'ok']],
  // Creating names.
  ['create in 0755', { dm: 0o755 }, (c) => ({ type: 'create', path: '/d/n', mode: 0o644, ino: ino(), ...base(c) }), ['ok', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  ['create in 0775', { dm: 0o775 }, (c) => ({ type: 'create', path: '/d/n', mode: 0o644, ino: ino(), ...base(c) }), ['ok', 'ok', 'ok', 'EACCES', 'ok']],
  ['mkdir in 0557 (other class only: one class applies, never the best)', { dm: 0o557 }, (c) => ({ type: 'mkdir', path: '/d/n', mode: 0o755, ino: ino(), ...base(c) }), ['EACCES', 'EACCES', 'EACCES', 'ok', 'ok']],
  ['mkdir in 0773: write without search', { dm: 0o773 }, (c) => ({ type: 'mkdir', path: '/d/n', mode: 0o755, ino: ino(), ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok']],
  ['create in 0766: write without search', { dm: 0o766 }, (c) => ({ type: 'create', path: '/d/n', mode: 0o644, ino: ino(), ...base(c) }), ['ok', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  ['create over an existing name is EEXIST before EACCES', { dm: 0o755 }, (c) => ({ type: 'create', path: '/d/f', mode: 0o644, ino: ino(), ...base(c) }), ['EEXIST', 'EEXIST', 'EEXIST', 'EEXIST', 'EEXIST']],
  ['mknod fifo in 0777', { dm: 0o777 }, (c) => ({ type: 'mknod', path: '/d/n', mode: S_IFIFO | 0o644, rdev: 0, ino: ino(), ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok']],
  ['mknod chr in 0777: root only', { dm: 0o777 }, (c) => ({ type: 'mknod', path: '/d/n', mode: S_IFCHR | 0o644, rdev: 259, ino: ino(), ...base(c) }), ['EPERM', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['symlink in 0775', { dm: 0o775 }, (c) => ({ type: 'symlink', path: '/d/n', target: 'f', ino: ino(), ...base(c) }), ['ok', 'ok', 'ok', 'EACCES', 'ok']],
  // Removing names.
  ['unlink in 0755', { dm: 0o755 }, (c) => ({ type: 'unlink', path: '/d/f', ...base(c) }), ['ok', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  ['unlink in 0777', { dm: 0o777 }, (c) => ({ type: 'unlink', path: '/d/f', ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok']],
  ['unlink in sticky 1777: only the entry owner, the dir owner or root', { dm: 0o1777 }, (c) => ({ type: 'unlink', path: '/d/f', ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['unlink of a dir is EACCES before EISDIR', { dm: 0o755, fdir: true }, (c) => ({ type: 'unlink', path: '/d/f', ...base(c) }), ['EISDIR', 'EACCES', 'EACCES', 'EACCES', 'EISDIR']],
  ['rmdir in 0775', { dm: 0o775, fdir: true }, (c) => ({ type: 'rmdir', path: '/d/f', ...base(c) }), ['ok', 'ok', 'ok', 'EACCES', 'ok']],
  ['rmdir of a non-empty dir without permission is EACCES', { dm: 0o755 }, (c) => ({ type: 'rmdir', path: '/d/sub', ...base(c) }), ['ENOTEMPTY', 'EACCES', 'EACCES', 'EACCES', 'ENOTEMPTY']],
  // Rename.
  ['rename within 0775', { dm: 0o775 }, (c) => ({ type: 'rename', from: '/d/f', to: '/d/g', ...base(c) }), ['ok', 'ok', 'ok', 'EACCES', 'ok']],
  ['rename out of 0755 into /e 0777', { dm: 0o755 }, (c) => ({ type: 'rename', from: '/d/f', to: '/e/g', ...base(c) }), ['ok', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  ['rename into /e 0755 (root-owned)', { dm: 0o777, em: 0o755 }, (c) => ({ type: 'rename', from: '/d/f', to: '/e/g', ...base(c) }), ['EACCES', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  ['rename a dir to another parent needs write on the dir itself (0755 dir)', { dm: 0o777, fdir: true, fm: 0o755 }, (c) => ({ type: 'rename', from: '/d/f', to: '/e/g', ...base(c) }), ['ok', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  ['rename a dir within its parent needs no write on the dir', { dm: 0o777, fdir: true, fm: 0o555 }, (c) => ({ type: 'rename', from: '/d/f', to: '/d/g', ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok']],
  ['rename replacing an entry in sticky 1777', { dm: 0o1777 }, (c) => ({ type: 'rename', from: '/d/sub/x', to: '/d/f', ...base(c) }), ['ok', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  ['rename onto a hard link of itself: success before any permission check', { dm: 0o755 }, (c) => ({ type: 'rename', from: '/d/f', to: '/d/f', ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok']],
  // Link (protected_hardlinks = 1).
  ['link a 0644 file: non-owners may not (no write)', { dm: 0o755 }, (c) => ({ type: 'link', from: '/d/f', to: '/e/l', ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['link a 0666 file', { fm: 0o666 }, (c) => ({ type: 'link', from: '/d/f', to: '/e/l', ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok']],
  ['link a 0664 file: the group may, other may not', { fm: 0o664 }, (c) => ({ type: 'link', from: '/d/f', to: '/e/l', ...base(c) }), ['ok', 'ok', 'ok', 'EPERM', 'ok']],
  ['link a setuid 04666 file', { fm: 0o4666 }, (c) => ({ type: 'link', from: '/d/f', to: '/e/l', ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['link a setgid+gx 02676 file', { fm: 0o2676 }, (c) => ({ type: 'link', from: '/d/f', to: '/e/l', ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['link a setgid 02666 file without gx', { fm: 0o2666 }, (c) => ({ type: 'link', from: '/d/f', to: '/e/l', ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok']],
  ['link into /e 0755: may create', { fm: 0o666, em: 0o755 }, (c) => ({ type: 'link', from: '/d/f', to: '/e/l', ...base(c) }), ['EACCES', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  // chmod.
  ['chmod: owner or root', {}, (c) => ({ type: 'chmod', path: '/d/f', mode: 0o600, ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['chmod to the same mode by a non-owner is EPERM', { fm: 0o666 }, (c) => ({ type: 'chmod', path: '/d/f', mode: 0o666, ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['chmod only clearing S_ISUID: anyone who may write (kill privileges)', { fm: 0o4664 }, (c) => ({ type: 'chmod', path: '/d/f', mode: 0o664, ...base(c) }), ['ok', 'ok', 'ok', 'EPERM', 'ok']],
  ['chmod clearing S_ISUID and adding a bit: owner or root', { fm: 0o4666 }, (c) => ({ type: 'chmod', path: '/d/f', mode: 0o667, ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['chmod 02755 by the owner, not in group 2000: S_ISGID dropped', {}, (c) => ({ type: 'chmod', path: '/d/f', mode: 0o2755, ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok'],
    (fs, role) => { if (role === 'owner') expect(attr(fs, '/d/f')!.mode).toBe(0o755); if (role === 'root') expect(attr(fs, '/d/f')!.mode).toBe(0o2755) }],
  // chown.
  ['chown to another uid: root only', {}, (c) => ({ type: 'chown', path: '/d/f', uid: 1003, gid: -1, ...base(c) }), ['EPERM', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['chown to the current uid: the owner may', {}, (c) => ({ type: 'chown', path: '/d/f', uid: OWNER_UID, gid: -1, ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['chgrp to 1000 (the owner\'s primary group)', {}, (c) => ({ type: 'chown', path: '/d/f', uid: -1, gid: 1000, ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['chgrp to 1500 (nobody\'s but other\'s and gSuppl\'s group; they do not own it)', {}, (c) => ({ type: 'chown', path: '/d/f', uid: -1, gid: 1500, ...base(c) }), ['EPERM', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['chown -1 -1 of a plain file: anyone (ctime only)', {}, (c) => ({ type: 'chown', path: '/d/f', uid: -1, gid: -1, ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok']],
  ['chown -1 -1 of a setuid file: clearing S_ISUID is the owner\'s or root\'s', { fm: 0o4755 }, (c) => ({ type: 'chown', path: '/d/f', uid: -1, gid: -1, ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok'],
    (fs, role) => { if (role === 'root' || role === 'owner') expect(attr(fs, '/d/f')!.mode).toBe(0o755) }],
  ['chown by root clears S_ISUID and S_ISGID+S_IXGRP of a file', { fm: 0o6755 }, (c) => ({ type: 'chown', path: '/d/f', uid: 5, gid: -1, ...base(c) }), ['EPERM', 'EPERM', 'EPERM', 'EPERM', 'ok'],
    (fs, role) => { if (role === 'root') expect(attr(fs, '/d/f')).toEqual({ mode: 0o755, uid: 5, gid: GROUP }) }],
  ['chown of a directory keeps its set-id bits', { fdir: true, fm: 0o2755 }, (c) => ({ type: 'chown', path: '/d/f', uid: 5, gid: -1, ...base(c) }), ['EPERM', 'EPERM', 'EPERM', 'EPERM', 'ok'],
    (fs, role) => { if (role === 'root') expect(attr(fs, '/d/f')!.mode).toBe(0o2755) }],
  // utimens.
  ['utimens now/now on 0644: owner, root (a writer would do)', {}, (c) => ({ type: 'utimens', path: '/d/f', atime: 'now', mtime: 'now', ...base(c) }), ['ok', 'EACCES', 'EACCES', 'EACCES', 'ok']],
  ['utimens now/now on 0664: writers too', { fm: 0o664 }, (c) => ({ type: 'utimens', path: '/d/f', atime: 'now', mtime: 'now', ...base(c) }), ['ok', 'ok', 'ok', 'EACCES', 'ok']],
  ['utimens now/omit on 0666: owner or root (EPERM)', { fm: 0o666 }, (c) => ({ type: 'utimens', path: '/d/f', atime: 'now', mtime: 'omit', ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['utimens explicit on 0666: owner or root (EPERM)', { fm: 0o666 }, (c) => ({ type: 'utimens', path: '/d/f', atime: { sec: 1, nsec: 0 }, mtime: 'omit', ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['utimens omit/omit: a no-op for anyone who can resolve the path', { dm: 0o750 }, (c) => ({ type: 'utimens', path: '/d/f', atime: 'omit', mtime: 'omit', ...base(c) }), ['ok', 'ok', 'ok', 'EACCES', 'ok']],
  // xattrs.
  ['setxattr user.* on 0664: writers', { fm: 0o664 }, (c) => ({ type: 'setxattr', path: '/d/f', name: 'user.k', value: new Uint8Array([1]), flags: 0, ...base(c) }), ['ok', 'ok', 'ok', 'EACCES', 'ok']],
  ['setxattr user.* on a sticky 1777 dir: owner or root', { fdir: true, fm: 0o1777 }, (c) => ({ type: 'setxattr', path: '/d/f', name: 'user.k', value: new Uint8Array([1]), flags: 0, ...base(c) }), ['ok', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['setxattr trusted.*: root only', { fm: 0o666 }, (c) => ({ type: 'setxattr', path: '/d/f', name: 'trusted.k', value: new Uint8Array([1]), flags: 0, ...base(c) }), ['EPERM', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['setxattr security.*: root only', { fm: 0o666 }, (c) => ({ type: 'setxattr', path: '/d/f', name: 'security.k', value: new Uint8Array([1]), flags: 0, ...base(c) }), ['EPERM', 'EPERM', 'EPERM', 'EPERM', 'ok']],
  ['removexattr user.* absent: EACCES before ENODATA', { fm: 0o664 }, (c) => ({ type: 'removexattr', path: '/d/f', name: 'user.k', ...base(c) }), ['ENODATA', 'ENODATA', 'ENODATA', 'EACCES', 'ENODATA']],
  // write and truncate: no permission check, but set-id bits go.
  ['write to a 0444 file: not checked at apply', { fm: 0o444 }, (c) => ({ type: 'write', path: '/d/f', size: 3, blocks: [], ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok']],
  ['truncate of a 06775 file clears set-id bits unless root', { fm: 0o6775 }, (c) => ({ type: 'truncate', path: '/d/f', size: 0, ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok'],
    (fs, role) => expect(attr(fs, '/d/f')!.mode).toBe(role === 'root' ? 0o6775 : 0o775)],
  ['write to a 02664 file (S_ISGID without S_IXGRP) clears it for callers outside the group', { fm: 0o2666 }, (c) => ({ type: 'write', path: '/d/f', size: 1, blocks: [], ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok'],
    (fs, role) => expect(attr(fs, '/d/f')!.mode).toBe(role === 'gPrimary' || role === 'gSuppl' || role === 'root' ? 0o2666 : 0o666)],
  // New nodes in a setgid directory.
  ['create 02775 in a setgid 02777 dir: S_ISGID kept only by members of its group and root', { dm: 0o2777 }, (c) => ({ type: 'create', path: '/d/n', mode: 0o2775, ino: ino(), ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok'],
    (fs, role) => expect(attr(fs, '/d/n')).toEqual({ mode: role === 'owner' || role === 'other' ? 0o775 : 0o2775, uid: ACTORS[role].uid, gid: GROUP })],
  ['mkdir in a setgid 02777 dir: the parent\'s gid and S_ISGID', { dm: 0o2777 }, (c) => ({ type: 'mkdir', path: '/d/n', mode: 0o755, ino: ino(), ...base(c) }), ['ok', 'ok', 'ok', 'ok', 'ok'],
    (fs, role) => expect(attr(fs, '/d/n')).toEqual({ mode: 0o2755, uid: ACTORS[role].uid, gid: GROUP })],
]

describe('[FS-12] who may do what: the permission matrix', () => {
  for (const [name, w, op, expected, after] of MATRIX) {
    it(`[FS-12] ${name}`, () => {
      ROLES.forEach((role, i) => {
        const fs = world(w)
        const before = stateRoot(fs)
        const theOp = op(ACTORS[role])
        const result = run(fs, theOp)
        const want = expected[i]!
        expect(result.ok ? 'ok' : result.errno, `${role}`).toBe(want)
        const line = logOf(fs)[logOf(fs).length - 1]!
        expect(line.errno).toBe(result.ok ? null : result.errno)
        if (!result.ok) expect(stateRoot(fs), `${role}: a denied op changed the tree`).toBe(before)
        expect(checkPermInvariants(fs)).toEqual([])
        expect(checkFsInvariants(fs)).toEqual([])
        after?.(fs, role)
      })
    })
  }
})

// ---------------------------------------------------------------------------------------------
// The reference model: the rules written out plainly for a small world, independent of perm.ts.
//   /      1777 root:root
//   /d     dm   du:dg        holding f and g
//   /d/f   kind fk, fm, fu:fg (empty if a directory)
//   /d/g   file 0644 gu:1000
//   /e     em   eu:eg        (empty)

interface Obj { kind: 'file' | 'dir' | 'fifo'; mode: number; uid: number; gid: number }
interface RefWorld { d: Obj; f: Obj; g: Obj; e: Obj }

function member(c: Cred, gid: number): boolean {
  return c.gid === gid || (c.groups ?? []).includes(gid)
}
/** May c do all of `want` ('r', 'w', 'x' letters) on o? */
function may(c: Cred, o: Obj, want: string): boolean {
  if (c.uid === 0) {
    if (!want.includes('x') || o.kind === 'dir') return true
    return (o.mode & 0o111) !== 0
  }
  let shift = 0
  if (c.uid === o.uid) shift = 6
  else if (member(c, o.gid)) shift = 3
  const bits = (o.mode >> shift) & 7
  return (!want.includes('r') || (bits & 4) !== 0) && (!want.includes('w') || (bits & 2) !== 0) && (!want.includes('x') || (bits & 1) !== 0)
}
const owns = (c: Cred, o: Obj): boolean => c.uid === 0 || c.uid === o.uid
const sticky = (dir: Obj, victim: Obj, c: Cred): boolean => (dir.mode & 0o1000) !== 0 && c.uid !== 0 && c.uid !== victim.uid && c.uid !== dir.uid
/** Unlinking victim from dir: '' when allowed. */
function del(c: Cred, dir: Obj, victim: Obj): string {
  if (!may(c, dir, 'wx')) return 'EACCES'
  if (sticky(dir, victim, c)) return 'EPERM'
  return ''
}
function dropSgid(c: Cred, o: Obj): boolean {
  if ((o.mode & 0o2000) === 0) return false
  return (o.mode & 0o010) !== 0 || !(c.uid === 0 || member(c, o.gid))
}

type RefOp =
  | { k: 'unlink' } | { k: 'rmdir' } | { k: 'create'; mode: number } | { k: 'mkdir' } | { k: 'chr' }
  | { k: 'link'; same: boolean } | { k: 'renameAway' } | { k: 'renameOver' }
  | { k: 'chmod'; mode: number } | { k: 'chown'; uid: number; gid: number } | { k: 'utimens'; a: UtimeSpec; m: UtimeSpec }
  | { k: 'setxattr'; name: string } | { k: 'removexattr' } | { k: 'write' }

interface RefOut { result: string; f?: { mode: number; uid: number; gid: number } | null; n?: { mode: number; uid: number; gid: number } }

/** The expected outcome: 'ok' or the errno; the new attributes of /d/f, and of /d/n when made. */
function reference(w: RefWorld, c: Cred, op: RefOp): RefOut {
  const { d, f, g, e } = w
  const fattr = (o: Obj) => ({ mode: o.mode & 0o7777, uid: o.uid, gid: o.gid })
  // Everything resolves /d/... (the root is 1777: search always allowed), but a write: it is the
  // data of an open file, no permission is checked.
  if (op.k !== 'write' && !may(c, d, 'x')) return { result: 'EACCES' }
  const same = { result: 'ok', f: fattr(f) }
  switch (op.k) {
    case 'unlink': {
      const r = del(c, d, f)
      if (r) return { result: r }
      if (f.kind === 'dir') return { result: 'EISDIR' }
      return { result: 'ok', f: null }
    }
    case 'rmdir': {
      const r = del(c, d, f)
      if (r) return { result: r }
      if (f.kind !== 'dir') return { result: 'ENOTDIR' }
      return { result: 'ok', f: null }
    }
    case 'create': case 'mkdir': case 'chr': {
      if (!may(c, d, 'wx')) return { result: 'EACCES' }
      if (op.k === 'chr' && c.uid !== 0) return { result: 'EPERM' }
      const sg = (d.mode & 0o2000) !== 0
      let mode = op.k === 'create' ? op.mode : op.k === 'mkdir' ? 0o755 : 0o600
      if (sg && op.k === 'mkdir') mode |= 0o2000
      if (sg && op.k !== 'mkdir' && (mode & 0o2010) === 0o2010 && !(c.uid === 0 || member(c, d.gid))) mode &= ~0o2000
      return { result: 'ok', f: fattr(f), n: { mode, uid: c.uid, gid: sg ? d.gid : c.gid } }
    }
    case 'link': {
      const target = op.same ? d : e
      if (!op.same && !may(c, e, 'x')) return { result: 'EACCES' }
      if (!owns(c, f)) {
        const safe = f.kind === 'file' && (f.mode & 0o4000) === 0 && (f.mode & 0o2010) !== 0o2010 && may(c, f, 'rw')
        if (!safe) return { result: 'EPERM' }
      }
      if (!may(c, target, 'wx')) return { result: 'EACCES' }
      if (f.kind === 'dir') return { result: 'EPERM' }
      return same
    }
    case 'renameAway': { // /d/f -> /e/n
      if (!may(c, e, 'x')) return { result: 'EACCES' }
      const r = del(c, d, f)
      if (r) return { result: r }
      if (!may(c, e, 'wx')) return { result: 'EACCES' }
      if (f.kind === 'dir' && !may(c, f, 'w')) return { result: 'EACCES' }
      return { result: 'ok', f: null }
    }
    case 'renameOver': { // /d/f -> /d/g
      const r = del(c, d, f) || del(c, d, g)
      if (r) return { result: r }
      if (f.kind === 'dir') return { result: 'ENOTDIR' }
      return { result: 'ok', f: null }
    }
    case 'chmod': {
      const old = f.mode & 0o7777
      let mode = op.mode
      if (owns(c, f)) {
        if (c.uid !== 0 && !member(c, f.gid)) mode &= ~0o2000
        return { result: 'ok', f: { ...fattr(f), mode } }
      }
      const onlyClears = mode !== old && (mode & ~0o6000) === (old & ~0o6000) && (mode & ~old) === 0
      if (onlyClears && may(c, f, 'w')) return { result: 'ok', f: { ...fattr(f), mode } }
      return { result: 'EPERM' }
    }
    case 'chown': {
      if (op.uid !== -1 && c.uid !== 0 && !(c.uid === f.uid && op.uid === f.uid)) return { result: 'EPERM' }
      if (op.gid !== -1 && c.uid !== 0 && !(c.uid === f.uid && (op.gid === f.gid || member(c, op.gid)))) return { result: 'EPERM' }
      let mode = f.mode & 0o7777
      if (f.kind !== 'dir') {
        mode &= ~0o4000
        if (dropSgid(c, f)) mode &= ~0o2000
      }
      if (mode !== (f.mode & 0o7777) && !owns(c, f)) return { result: 'EPERM' }
      return { result: 'ok', f: { mode, uid: op.uid === -1 ? f.uid : op.uid, gid: op.gid === -1 ? f.gid : op.gid } }
    }
    case 'utimens': {
      if (op.a === 'omit' && op.m === 'omit') return same
      if (owns(c, f)) return same
      if (op.a === 'now' && op.m === 'now') return may(c, f, 'w') ? same : { result: 'EACCES' }
      return { result: 'EPERM' }
    }
    case 'setxattr': case 'removexattr': {
      const name = op.k === 'setxattr' ? op.name : 'user.absent'
      if (name.startsWith('trusted.') || name.startsWith('security.')) return c.uid === 0 ? same : { result: 'EPERM' }
      if (name.startsWith('system.')) return { result: 'EOPNOTSUPP' } // no ACLs: the handler refuses
      if (f.kind !== 'file' && f.kind !== 'dir') return { result: 'EPERM' }
      if (f.kind === 'dir' && (f.mode & 0o1000) !== 0 && !owns(c, f)) return { result: 'EPERM' }
      if (!may(c, f, 'w')) return { result: 'EACCES' }
      return op.k === 'removexattr' ? { result: 'ENODATA' } : same
    }
    case 'write': {
      if (f.kind === 'dir') return { result: 'EISDIR' }
      if (f.kind !== 'file') return { result: 'EINVAL' }
      let mode = f.mode & 0o7777
      if (c.uid !== 0) {
        mode &= ~0o4000
        if (dropSgid(c, f)) mode &= ~0o2000
      }
      return { result: 'ok', f: { ...fattr(f), mode } }
    }
  }
}

function toFsOp(op: RefOp, c: Cred): FsOp {
  const b = { cred: c, time: T }
  switch (op.k) {
    case 'unlink': return { type: 'unlink', path: '/d/f', ...b }
    case 'rmdir': return { type: 'rmdir', path: '/d/f', ...b }
    case 'create': return { type: 'create', path: '/d/n', mode: op.mode, ino: 9000, ...b }
    case 'mkdir': return { type: 'mkdir', path: '/d/n', mode: 0o755, ino: 9000, ...b }
    case 'chr': return { type: 'mknod', path: '/d/n', mode: S_IFCHR | 0o600, rdev: 7, ino: 9000, ...b }
    case 'link': return { type: 'link', from: '/d/f', to: op.same ? '/d/n' : '/e/n', ...b }
    case 'renameAway': return { type: 'rename', from: '/d/f', to: '/e/n', ...b }
    case 'renameOver': return { type: 'rename', from: '/d/f', to: '/d/g', ...b }
    case 'chmod': return { type: 'chmod', path: '/d/f', mode: op.mode, ...b }
    case 'chown': return { type: 'chown', path: '/d/f', uid: op.uid, gid: op.gid, ...b }
    case 'utimens': return { type: 'utimens', path: '/d/f', atime: op.a, mtime: op.m, ...b }
    case 'setxattr': return { type: 'setxattr', path: '/d/f', name: op.name, value: new Uint8Array([9]), flags: 0, ...b }
    case 'removexattr': return { type: 'removexattr', path: '/d/f', name: 'user.absent', ...b }
    case 'write': return { type: 'write', path: '/d/f', size: 10, blocks: [], ...b }
  }
}

function buildWorld(w: RefWorld): FsState {
  const fs = createFs(nobleCrypto)
  const put = (path: string, o: Obj, n: number): void => {
    const op: FsOp = o.kind === 'dir'
      ? { type: 'mkdir', path, mode: 0o700, ino: n, cred: ROOT, time: T }
      : o.kind === 'fifo'
        ? { type: 'mknod', path, mode: S_IFIFO | 0o600, rdev: 0, ino: n, cred: ROOT, time: T }
        : { type: 'create', path, mode: 0o600, ino: n, cred: ROOT, time: T }
    must(fs, op)
    must(fs, { type: 'chown', path, uid: o.uid, gid: o.gid, cred: ROOT, time: T })
    must(fs, { type: 'chmod', path, mode: o.mode, cred: ROOT, time: T })
  }
  put('/d', w.d, 2)
  put('/d/f', w.f, 3)
  put('/d/g', w.g, 4)
  put('/e', w.e, 5)
  return fs
}

const UIDS = [0, 1000, 1001, 1002]
const GIDS = [1000, 1001, 2000]
const modeArb = fc.oneof(
  fc.integer({ min: 0, max: 0o7777 }),
  fc.constantFrom(0o755, 0o775, 0o777, 0o1777, 0o2775, 0o2777, 0o700, 0o711, 0o644, 0o664, 0o666, 0o4755, 0o6775, 0o2664),
)
const objArb = (kinds: Obj['kind'][]): fc.Arbitrary<Obj> =>
  fc.record({ kind: fc.constantFrom(...kinds), mode: modeArb, uid: fc.constantFrom(...UIDS), gid: fc.constantFrom(...GIDS) })
const worldArb: fc.Arbitrary<RefWorld> = fc.record({
  d: objArb(['dir']), f: objArb(['file', 'file', 'dir', 'fifo']), g: objArb(['file']), e: objArb(['dir']),
})
const credArb: fc.Arbitrary<Cred> = fc.record({
  uid: fc.constantFrom(...UIDS), gid: fc.constantFrom(...GIDS, 1500),
  groups: fc.subarray([1000, 1001, 1500, 2000]),
}).map(({ uid, gid, groups }) => (groups.length > 0 ? { uid, gid, groups } : { uid, gid }))
const utimeArb: fc.Arbitrary<UtimeSpec> = fc.constantFrom<UtimeSpec>('omit', 'now', { sec: 3, nsec: 4 })
const refOpArb: fc.Arbitrary<RefOp> = fc.oneof(
  fc.constant({ k: 'unlink' as const }), fc.constant({ k: 'rmdir' as const }),
  modeArb.map((mode) => ({ k: 'create' as const, mode })), fc.constant({ k: 'mkdir' as const }), fc.constant({ k: 'chr' as const }),
  fc.boolean().map((same) => ({ k: 'link' as const, same })), fc.constant({ k: 'renameAway' as const }), fc.constant({ k: 'renameOver' as const }),
  modeArb.map((mode) => ({ k: 'chmod' as const, mode })),
  fc.record({ uid: fc.constantFrom(-1, ...UIDS, 5), gid: fc.constantFrom(-1, ...GIDS, 1500) }).map((x) => ({ k: 'chown' as const, ...x })),
  fc.record({ a: utimeArb, m: utimeArb }).map((x) => ({ k: 'utimens' as const, ...x })),
  fc.constantFrom('user.k', 'trusted.k', 'security.k', 'system.k').map((name) => ({ k: 'setxattr' as const, name })),
  fc.constant({ k: 'removexattr' as const }), fc.constant({ k: 'write' as const }),
)

describe('[FS-12] apply() against an independent reference model of the rules', () => {
  it('[FS-12] random modes, owners, callers and ops: the same result, the same attributes, and a denied op changes nothing', () => {
    fc.assert(fc.property(worldArb, credArb, refOpArb, (w, c, op) => {
      const fs = buildWorld(w)
      const before = stateRoot(fs)
      const want = reference(w, c, op)
      const got = run(fs, toFsOp(op, c))
      expect(got.ok ? 'ok' : got.errno).toBe(want.result)
      if (!got.ok) {
        expect(stateRoot(fs)).toBe(before)
        return
      }
      if (want.f !== undefined) expect(attr(fs, '/d/f')).toEqual(want.f)
      if (want.n !== undefined) expect(attr(fs, '/d/n')).toEqual(want.n)
      expect(checkPermInvariants(fs)).toEqual([])
    }), { numRuns: 4000 })
  })

  it('[FS-12] a denied op is denied identically on every replica: two replicas of the same ops have equal logs and roots', () => {
    fc.assert(fc.property(worldArb, fc.array(fc.tuple(credArb, refOpArb), { minLength: 1, maxLength: 12 }), (w, ops) => {
      const a = buildWorld(w)
      const b = buildWorld(w)
      ops.forEach(([c, op], i) => {
        const x = toFsOp(op, c)
        const fresh = { ...x, ...('ino' in x ? { ino: 9000 + i } : {}) } as FsOp
        const decoded = validateOp(decode(encode(opToValue(fresh))))
        expect(decoded.ok).toBe(true)
        if (!decoded.ok) return
        expect(run(a, fresh)).toEqual(run(b, decoded.op))
        expect(stateRoot(a)).toBe(stateRoot(b))
      })
      expect(logOf(a)).toEqual(logOf(b))
      expect(diffHistory(a, b)).toEqual([])
      expect(checkPermInvariants(a)).toEqual([])
    }), { numRuns: 300 })
  })

  it('[FS-12] the checker finds a denied op that changed the tree', () => {
    const fs = world({ dm: 0o755 })
    expect(run(fs, { type: 'unlink', path: '/d/f', cred: ACTORS.other, time: T })).toEqual({ ok: false, errno: 'EACCES' })
    expect(checkPermInvariants(fs)).toEqual([])
    // Pretend the denied unlink had happened anyway: the name event carries the denied epoch.
    const d = fs.inodes.get(getattr(fs, '/d').ok ? (getattr(fs, '/d') as { value: { ino: number } }).value.ino : 0)!
    const events = (fs.past as MemoryFsPast).eventsOf.get(d.ino)!
    events.get('f')!.push({ epoch: fs.epoch, ino: 0 })
    expect(checkPermInvariants(fs).map((v) => v.id)).toContain('FS-12')
  })
})

// ---------------------------------------------------------------------------------------------
// Attribution and validation.

describe('[FS-13] attribution', () => {
  it('[FS-13] every log line names author, uid, gid, groups (when any) and client (when any); history reports them', () => {
    const fs = createFs(nobleCrypto)
    const alice: Cred = { uid: 1000, gid: 1000, groups: [4, 27, 1000] }
    const bob: Cred = { uid: 1001, gid: 1001 }
    must(fs, { type: 'mkdir', path: '/a', mode: 0o777, ino: 2, cred: alice, time: T })
    must(fs, { type: 'create', path: '/a/f', mode: 0o644, ino: 3, cred: bob, time: T, client: CLIENT })
    expect(run(fs, { type: 'chmod', path: '/a/f', mode: 0o600, cred: alice, time: T, client: CLIENT })).toEqual({ ok: false, errno: 'EPERM' })
    expect(logOf(fs)).toEqual([
      { author: AUTHOR, kind: 'mkdir', uid: 1000, gid: 1000, groups: [4, 27, 1000], errno: null },
      { author: AUTHOR, kind: 'create', uid: 1001, gid: 1001, client: CLIENT, errno: null },
      { author: AUTHOR, kind: 'chmod', uid: 1000, gid: 1000, groups: [4, 27, 1000], client: CLIENT, errno: 'EPERM' },
    ])
    const h = history(fs, '/a/f')
    expect(h.ok && h.value[0]).toMatchObject({ epoch: 2, author: AUTHOR, op: 'create', cred: bob, client: CLIENT })
    const ha = history(fs, '/a')
    expect(ha.ok && ha.value[0]).toMatchObject({ epoch: 1, cred: alice })
    expect(ha.ok && 'client' in ha.value[0]!).toBe(false)
    expect(checkPermInvariants(fs)).toEqual([])
  })

  it('[FS-13] the checker and diffHistory notice a log line whose attribution is wrong', () => {
    const make = (): FsState => {
      const fs = createFs(nobleCrypto)
      must(fs, { type: 'mkdir', path: '/a', mode: 0o777, ino: 2, cred: { uid: 1000, gid: 1000, groups: [5] }, time: T, client: CLIENT })
      return fs
    }
    const good = make()
    const bad = make()
    logOf(bad)[0] = { ...logOf(bad)[0]!, groups: [6] }
    expect(diffHistory(good, bad).map((f) => f.what)).toEqual(['history: op'])
    const noClient = make()
    const { client: _dropped, ...rest } = logOf(noClient)[0]!
    logOf(noClient)[0] = rest
    expect(diffHistory(good, noClient).map((f) => f.what)).toEqual(['history: op'])
    const broken = make()
    logOf(broken)[0] = { ...logOf(broken)[0]!, groups: [7, 7], client: 'xyz' as Pid }
    expect(checkPermInvariants(broken).map((v) => v.id)).toEqual(['FS-13', 'FS-13'])
  })
})

describe('[FS-10] validation of cred.groups, client and utimens now', () => {
  const op = (cred: unknown, extra: Record<string, unknown> = {}): unknown => ({ type: 'unlink', path: '/f', cred, time: T, ...extra })
  it('[FS-10] accepts sorted unique groups (1..256), a node id as client, and "now"; encodes no groups field when there are none', () => {
    expect(validateOp(op({ uid: 1, gid: 1, groups: [0, 5, 0xfffffffe] })).ok).toBe(true)
    expect(validateOp(op({ uid: 1, gid: 1, groups: Array.from({ length: 256 }, (_, i) => i) })).ok).toBe(true)
    expect(validateOp(op({ uid: 1, gid: 1 }, { client: CLIENT })).ok).toBe(true)
    const u = { type: 'utimens', path: '/f', atime: 'now', mtime: 'omit', cred: { uid: 1, gid: 1 }, time: T }
    expect(validateOp(decode(encode(u as unknown as Value)))).toEqual({ ok: true, op: u })
    // An op without groups and client encodes exactly as before the fields existed.
    const plain: FsOp = { type: 'unlink', path: '/f', cred: { uid: 1, gid: 2 }, time: T }
    expect(encode(opToValue(plain))).toEqual(encode({ type: 'unlink', path: '/f', cred: { uid: 1, gid: 2 }, time: { sec: 500, nsec: 7 } }))
  })

  it('[FS-10] rejects empty, unsorted, duplicated, too many or out-of-range groups, and a malformed client, with a reason', () => {
    const bad: unknown[] = [
      op({ uid: 1, gid: 1, groups: [] }),
      op({ uid: 1, gid: 1, groups: [5, 3] }),
      op({ uid: 1, gid: 1, groups: [3, 3] }),
      op({ uid: 1, gid: 1, groups: Array.from({ length: 257 }, (_, i) => i) }),
      op({ uid: 1, gid: 1, groups: [-1] }),
      op({ uid: 1, gid: 1, groups: [0xffffffff] }),
      op({ uid: 1, gid: 1, groups: [1.5] }),
      op({ uid: 1, gid: 1, groups: 'x' }),
      op({ uid: 1, gid: 1 }, { client: CLIENT.toUpperCase() }),
      op({ uid: 1, gid: 1 }, { client: CLIENT.slice(2) }),
      op({ uid: 1, gid: 1 }, { client: 7 }),
      { type: 'utimens', path: '/f', atime: 'later', mtime: 'omit', cred: { uid: 1, gid: 1 }, time: T },
    ]
    for (const v of bad) {
      const r = validateOp(v)
      expect(r.ok, JSON.stringify(v).slice(0, 80)).toBe(false)
      if (!r.ok) expect(r.reason.length).toBeGreaterThan(0)
    }
  })
})
