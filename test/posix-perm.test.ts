// A permission matrix: each operation x actor (the owner, a member of the group through their
// primary gid, a member through a supplementary group, another user, root) x a few modes, set up
// identically (by root, chown'ed to the intended owner) under a PacioFS mount and under a plain
// directory in /tmp (the oracle), run as the actor from a separate process with that actor's
// credentials (test/support/posix-oracle.ts), and expected to give the same success or errno
// and the same resulting stat (type, mode incl. set-id/sticky bits, owner, group, links, size).
// One test per operation; a failing one prints its rows, and the whole matrix is printed at the
// end when anything differed (always with PACIOFS_POSIX_MATRIX=1). Needs root (to be the other users); skipped otherwise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  FOREIGN_GID, USERS, brief, differ, isRoot, openPair, table,
  type Entry, type Op, type Res, type Setup, type User, type UserName,
} from './support/posix-oracle.ts'

interface Role {
  readonly role: string
  readonly actor: UserName
  /** The group of the objects for this role: decides which class of the mode bits applies. */
  readonly group: number
}

/** The objects belong to alice (1000); the group varies so that each actor lands in its class. */
const OWNER = USERS.alice.uid
const ROLES: readonly Role[] = [
  { role: 'owner', actor: 'alice', group: 1001 }, // alice is not in 1001: only the owner bits apply
  { role: 'group(primary)', actor: 'carol', group: 1002 },
  { role: 'group(suppl)', actor: 'bob', group: 1000 },
  { role: 'other', actor: 'carol', group: 1000 },
  { role: 'root', actor: 'root', group: 1000 },
]

interface Variant {
  /** Mode of the directory d (default 0755) and of the second directory e (made only if given). */
  dm?: number
  em?: number
  /** Owner of d (default alice). */
  dirUid?: number
  /** Mode of d/f (default 0644). */
  fm?: number
}

interface PermCase {
  readonly name: string
  readonly variants: readonly Variant[]
  /** The operation, paths relative to the case directory. */
  op(actor: User, role: Role): Op
  /** Paths lstat'ed (as root) afterwards and compared. */
  readonly after: readonly string[]
  /** Requests run as root afterwards and compared (e.g. reading an xattr back). */
  readonly check?: readonly Op[]
  /** Requests run as root after the layout is made (extra setup). */
  readonly prep?: readonly Op[]
  /** Compare atime/mtime of these paths exactly when the operation succeeded on both. */
  readonly timesOf?: readonly string[]
}

const ownGroup = (u: User): number => u.groups[0] ?? u.gid
const T_A = 1_700_000_000_123_456_789n
const T_M = 1_600_000_000_987_654_321n

const CASES: readonly PermCase[] = [
  { name: 'open O_RDONLY', variants: [{ fm: 0o640 }, { fm: 0o604 }, { fm: 0o400 }], op: () => ({ op: 'open', path: 'd/f', flags: ['O_RDONLY'] }), after: ['d/f'] },
  { name: 'open O_WRONLY', variants: [{ fm: 0o660 }, { fm: 0o606 }, { fm: 0o644 }], op: () => ({ op: 'open', path: 'd/f', flags: ['O_WRONLY'] }), after: ['d/f'] },
  { name: 'open O_RDWR|O_TRUNC', variants: [{ fm: 0o666 }, { fm: 0o644 }], op: () => ({ op: 'open', path: 'd/f', flags: ['O_RDWR', 'O_TRUNC'] }), after: ['d/f'] },
  { name: 'read content', variants: [{ fm: 0o640 }, { fm: 0o604 }], op: () => ({ op: 'read', path: 'd/f' }), after: ['d/f'] },
  { name: 'lookup (stat) in a dir without x', variants: [{ dm: 0o754 }, { dm: 0o745 }], op: () => ({ op: 'stat', path: 'd/f' }), after: ['d/f'] },
  { name: 'listdir', variants: [{ dm: 0o751 }, { dm: 0o715 }, { dm: 0o755 }], op: () => ({ op: 'listdir', path: 'd' }), after: ['d'] },
  { name: 'access R', variants: [{ fm: 0o741 }, { fm: 0o174 }], op: () => ({ op: 'access', path: 'd/f', mode: 'R' }), after: [] },
  { name: 'access W', variants: [{ fm: 0o741 }, { fm: 0o327 }], op: () => ({ op: 'access', path: 'd/f', mode: 'W' }), after: [] },
  { name: 'access X', variants: [{ fm: 0o741 }, { fm: 0o644 }], op: () => ({ op: 'access', path: 'd/f', mode: 'X' }), after: [] },
  { name: 'create in dir', variants: [{ dm: 0o755 }, { dm: 0o775 }, { dm: 0o757 }, { dm: 0o773 }], op: () => ({ op: 'create', path: 'd/new', mode: 0o644, flags: ['O_EXCL'], data: 'n' }), after: ['d/new', 'd'] },
  { name: 'mkdir', variants: [{ dm: 0o775 }, { dm: 0o757 }, { dm: 0o755 }], op: () => ({ op: 'mkdir', path: 'd/nd', mode: 0o755 }), after: ['d/nd', 'd'] },
  { name: 'unlink', variants: [{ dm: 0o755 }, { dm: 0o775 }, { dm: 0o757 }], op: () => ({ op: 'unlink', path: 'd/f' }), after: ['d/f', 'd'] },
  { name: 'rmdir', variants: [{ dm: 0o755 }, { dm: 0o777 }], op: () => ({ op: 'rmdir', path: 'd/sub' }), after: ['d/sub', 'd'] },
  { name: 'rename within dir', variants: [{ dm: 0o755 }, { dm: 0o775 }, { dm: 0o757 }], op: () => ({ op: 'rename', path: 'd/f', path2: 'd/g' }), after: ['d/f', 'd/g'] },
  {
    name: 'rename file across dirs',
    variants: [{ dm: 0o777, em: 0o755 }, { dm: 0o755, em: 0o777 }, { dm: 0o775, em: 0o775 }, { dm: 0o757, em: 0o757 }],
    op: () => ({ op: 'rename', path: 'd/f', path2: 'e/f' }),
    after: ['d/f', 'e/f', 'd', 'e'],
  },
  // Moving a directory to another parent rewrites its '..': needs write permission on it (sub is 0755).
  { name: 'rename dir across dirs', variants: [{ dm: 0o777, em: 0o777 }], op: () => ({ op: 'rename', path: 'd/sub', path2: 'e/sub' }), after: ['d/sub', 'e/sub', 'd', 'e'] },
  // fs.protected_hardlinks=1 (the default): linking a file one does not own needs read+write on it.
  { name: 'link', variants: [{ dm: 0o777, fm: 0o644 }, { dm: 0o777, fm: 0o666 }, { dm: 0o755, fm: 0o644 }], op: () => ({ op: 'link', path: 'd/f', path2: 'd/h' }), after: ['d/f', 'd/h'] },
  { name: 'symlink', variants: [{ dm: 0o755 }, { dm: 0o777 }], op: () => ({ op: 'symlink', path: 'd/s', target: 'f' }), after: ['d/s'] },
  { name: 'readlink', variants: [{ dm: 0o755 }, { dm: 0o750 }], op: () => ({ op: 'readlink', path: 'd/ln' }), after: ['d/ln'] },
  { name: 'chmod', variants: [{ fm: 0o644 }], op: () => ({ op: 'chmod', path: 'd/f', mode: 0o600 }), after: ['d/f'] },
  // Setting S_ISGID on a file of a group one is not in: silently dropped (unless CAP_FSETID).
  { name: 'chmod g+s', variants: [{ fm: 0o755 }], op: () => ({ op: 'chmod', path: 'd/f', mode: 0o2755 }), after: ['d/f'] },
  { name: 'chmod dir +t', variants: [{ dm: 0o777 }], op: () => ({ op: 'chmod', path: 'd', mode: 0o1777 }), after: ['d'] },
  { name: 'chown to other user', variants: [{ fm: 0o644 }], op: () => ({ op: 'chown', path: 'd/f', uid: USERS.carol.uid }), after: ['d/f'] },
  { name: 'chown to oneself (no-op)', variants: [{ fm: 0o644 }], op: () => ({ op: 'chown', path: 'd/f', uid: OWNER }), after: ['d/f'] },
  { name: 'chgrp to own (suppl) group', variants: [{ fm: 0o644 }], op: (a) => ({ op: 'chown', path: 'd/f', gid: ownGroup(a) }), after: ['d/f'] },
  { name: 'chgrp to foreign group', variants: [{ fm: 0o644 }], op: () => ({ op: 'chown', path: 'd/f', gid: FOREIGN_GID }), after: ['d/f'] },
  { name: 'lchown symlink', variants: [{ dm: 0o777 }], op: (a) => ({ op: 'lchown', path: 'd/ln', gid: ownGroup(a) }), after: ['d/ln', 'd/f'] },
  {
    name: 'utime explicit',
    variants: [{ fm: 0o646 }, { fm: 0o666 }, { fm: 0o644 }],
    op: () => ({ op: 'utime', path: 'd/f', atime: T_A, mtime: T_M }),
    after: ['d/f'],
    timesOf: ['d/f'],
  },
  { name: 'utime now (NULL)', variants: [{ fm: 0o646 }, { fm: 0o666 }, { fm: 0o644 }], op: () => ({ op: 'utime', path: 'd/f' }), after: ['d/f'] },
  { name: 'utime UTIME_NOW both', variants: [{ fm: 0o666 }, { fm: 0o644 }], op: () => ({ op: 'utime', path: 'd/f', atime: 'now', mtime: 'now' }), after: ['d/f'] },
  { name: 'utime now+omit (touch -a)', variants: [{ fm: 0o666 }, { fm: 0o644 }], op: () => ({ op: 'utime', path: 'd/f', atime: 'now', mtime: 'omit' }), after: ['d/f'] },
  { name: 'truncate', variants: [{ fm: 0o644 }, { fm: 0o666 }, { fm: 0o646 }], op: () => ({ op: 'truncate', path: 'd/f', length: 2 }), after: ['d/f'], check: [{ op: 'read', path: 'd/f' }] },
  { name: 'write at offset', variants: [{ fm: 0o644 }, { fm: 0o666 }], op: () => ({ op: 'write', path: 'd/f', data: 'XY', offset: 3 }), after: ['d/f'], check: [{ op: 'read', path: 'd/f' }] },
  {
    name: 'setxattr user.*',
    variants: [{ fm: 0o644 }, { fm: 0o666 }],
    op: () => ({ op: 'setxattr', path: 'd/f', name: 'user.k', value: 'v' }),
    after: ['d/f'],
    check: [{ op: 'getxattr', path: 'd/f', name: 'user.k' }],
  },
  { name: 'getxattr user.*', variants: [{ fm: 0o640 }, { fm: 0o600 }], op: () => ({ op: 'getxattr', path: 'd/f', name: 'user.pre' }), after: [] },
  // A value larger than the caller's first buffer: the file system must answer the size probe
  // (ERANGE, then the caller retries with the size), not fail.
  { name: 'getxattr of a 4000-byte value', variants: [{ fm: 0o644 }], prep: [{ op: 'setxattr', path: 'd/f', name: 'user.big', valueHex: 'ab'.repeat(4000) }], op: () => ({ op: 'getxattr', path: 'd/f', name: 'user.big' }), after: [] },
  // trusted.* is root's (CAP_SYS_ADMIN): others can neither set it nor read it, nor see it listed.
  { name: 'listxattr (trusted.* listed for root only)', variants: [{ fm: 0o644 }], prep: [{ op: 'setxattr', path: 'd/f', name: 'trusted.t', value: 't' }], op: () => ({ op: 'listxattr', path: 'd/f' }), after: [] },
  { name: 'getxattr trusted.*', variants: [{ fm: 0o644 }], prep: [{ op: 'setxattr', path: 'd/f', name: 'trusted.t', value: 't' }], op: () => ({ op: 'getxattr', path: 'd/f', name: 'trusted.t' }), after: [] },
  { name: 'setxattr trusted.*', variants: [{ fm: 0o666 }], op: () => ({ op: 'setxattr', path: 'd/f', name: 'trusted.n', value: 'v' }), after: [], check: [{ op: 'listxattr', path: 'd/f' }] },
  // Names outside the known namespaces, and an empty name after the prefix, are refused.
  { name: 'setxattr unknown namespace', variants: [{ fm: 0o666 }], op: () => ({ op: 'setxattr', path: 'd/f', name: 'bogus.x', value: 'v' }), after: [], check: [{ op: 'listxattr', path: 'd/f' }] },
  { name: 'setxattr empty user. name', variants: [{ fm: 0o666 }], op: () => ({ op: 'setxattr', path: 'd/f', name: 'user.', value: 'v' }), after: [], check: [{ op: 'listxattr', path: 'd/f' }] },
  // Sticky directory owned by root: only the file's owner (or the dir's owner, or root) may remove or rename.
  { name: 'sticky dir: unlink by non-owner', variants: [{ dm: 0o1777, dirUid: 0, fm: 0o666 }], op: () => ({ op: 'unlink', path: 'd/f' }), after: ['d/f'] },
  { name: 'sticky dir: rename by non-owner', variants: [{ dm: 0o1777, dirUid: 0, fm: 0o666 }], op: () => ({ op: 'rename', path: 'd/f', path2: 'd/g' }), after: ['d/f', 'd/g'] },
  { name: 'sticky dir: rmdir by non-owner', variants: [{ dm: 0o1777, dirUid: 0 }], op: () => ({ op: 'rmdir', path: 'd/sub' }), after: ['d/sub'] },
  { name: 'setgid dir: new file gets the dir group', variants: [{ dm: 0o2777 }, { dm: 0o2775 }], op: () => ({ op: 'create', path: 'd/new', mode: 0o644 }), after: ['d/new'] },
  { name: 'setgid dir: new subdir gets group and S_ISGID', variants: [{ dm: 0o2777 }], op: () => ({ op: 'mkdir', path: 'd/nd', mode: 0o755 }), after: ['d/nd'] },
  // A new file asking for S_ISGID in a group its creator is not in loses the bit.
  { name: 'setgid dir: create file mode 02755', variants: [{ dm: 0o2777 }], op: () => ({ op: 'create', path: 'd/new', mode: 0o2755 }), after: ['d/new'] },
  { name: 'mkfifo in dir', variants: [{ dm: 0o777 }, { dm: 0o755 }], op: () => ({ op: 'mkfifo', path: 'd/p', mode: 0o644 }), after: ['d/p'] },
  // A write by someone without CAP_FSETID clears S_ISUID, and S_ISGID when group-exec is set.
  { name: 'write clears set-id bits', variants: [{ fm: 0o6777 }, { fm: 0o6767 }, { fm: 0o4766 }], op: () => ({ op: 'write', path: 'd/f', data: 'x', offset: 0 }), after: ['d/f'] },
  { name: 'truncate clears set-id bits', variants: [{ fm: 0o6777 }], op: () => ({ op: 'truncate', path: 'd/f', length: 1 }), after: ['d/f'] },
  // chown by a non-root owner (to its own group) clears S_ISUID, and S_ISGID when group-exec is set.
  { name: 'chgrp clears set-id bits', variants: [{ fm: 0o6755 }, { fm: 0o6745 }], op: (a) => ({ op: 'chown', path: 'd/f', gid: ownGroup(a) }), after: ['d/f'] },
  // A file created 0444 stays writable through the fd that created it.
  {
    name: 'create 0444, write+read via its fd',
    variants: [{ dm: 0o777 }],
    op: () => ({
      op: 'script',
      path: 'd/ro',
      flags: ['O_CREAT', 'O_EXCL', 'O_RDWR'],
      mode: 0o444,
      steps: [{ op: 'write', data: 'abc' }, { op: 'read', offset: 0 }, { op: 'fstat' }],
    }),
    after: ['d/ro'],
    check: [{ op: 'read', path: 'd/ro' }],
  },
]

const variantLabel = (v: Variant): string =>
  [v.dm !== undefined ? `d=${v.dm.toString(8)}${v.dirUid === 0 ? '(root)' : ''}` : '', v.em !== undefined ? `e=${v.em.toString(8)}` : '', v.fm !== undefined ? `f=${v.fm.toString(8)}` : '']
    .filter((x) => x !== '')
    .join(' ')

function layout(base: string, v: Variant, role: Role): Entry[] {
  const g = role.group
  const e: Entry[] = [
    { type: 'dir', path: `${base}/d`, mode: v.dm ?? 0o755, uid: v.dirUid ?? OWNER, gid: g },
    { type: 'file', path: `${base}/d/f`, mode: v.fm ?? 0o644, uid: OWNER, gid: g, data: 'hello\n' },
    { type: 'dir', path: `${base}/d/sub`, mode: 0o755, uid: OWNER, gid: g },
    { type: 'symlink', path: `${base}/d/ln`, target: 'f', uid: OWNER, gid: g },
  ]
  if (v.em !== undefined) e.push({ type: 'dir', path: `${base}/e`, mode: v.em, uid: OWNER, gid: g })
  return e
}

function prefix(op: Op, base: string): Op {
  return { ...op, path: `${base}/${op.path}`, ...(op.path2 !== undefined ? { path2: `${base}/${op.path2}` } : {}) }
}

interface Row {
  op: string
  variant: string
  role: string
  actor: string
  target: string
  oracle: string
  diffs: string[]
}

const root = isRoot()
if (!root) console.warn('posix-perm.test.ts: skipped, needs root (it acts as several users through setuid workers)')

describe.skipIf(!root)('permission matrix: mount vs. local directory, as several users', () => {
  let s: Setup
  const rows: Row[] = []

  beforeAll(async () => {
    s = await openPair('paciofs-perm-')
  }, 90_000)

  afterAll(async () => {
    const bad = rows.filter((r) => r.diffs.length > 0)
    if (bad.length > 0 || process.env.PACIOFS_POSIX_MATRIX === '1') {
      const label = s.target.root.label
      // The compact matrix: one row per operation and variant, one column per role; a cell is the
      // oracle's outcome, or "<target>≠<oracle>" / "stat≠" where they differ.
      const keys = [...new Set(rows.map((r) => `${r.op} ${r.variant}`.trim()))]
      const cells = keys.map((k) => [
        k,
        ...ROLES.map((ro) => {
          const r = rows.find((x) => `${x.op} ${x.variant}`.trim() === k && x.role === ro.role)
          if (r === undefined) return ''
          if (r.diffs.length === 0) return r.oracle
          return r.target !== r.oracle ? `${r.target}≠${r.oracle}` : 'stat≠'
        }),
      ])
      console.log(`\n[posix-perm] ${bad.length} of ${rows.length} cases differ (cell: oracle outcome, or ${label}≠oracle)\n` + table(['op / variant', ...ROLES.map((r) => `${r.role} ${r.actor}`)], cells))
    }
    await s?.close()
  }, 60_000)

  it('the workers run with the intended credentials', async () => {
    expect(await s.oracle.whoami('bob')).toEqual({ uid: 1001, gid: 1001, groups: [1000], umask: 0o022 })
    expect(await s.oracle.whoami('carol')).toMatchObject({ uid: 1002, gid: 1002, groups: [] })
    expect(await s.oracle.whoami('root')).toMatchObject({ uid: 0, gid: 0 })
  })

  for (const c of CASES) {
    it(c.name, async () => {
      const mine: Row[] = []
      for (const v of c.variants) {
        for (const role of ROLES) {
          const base = await s.fresh('c')
          await s.oracle.setup(layout(base, v, role))
          await s.oracle.must({ op: 'setxattr', path: `${base}/d/f`, name: 'user.pre', value: 'p' })
          for (const p of c.prep ?? []) await s.oracle.must(prefix(p, base))
          const actor = USERS[role.actor]
          const op = prefix(c.op(actor, role), base)
          const [t, o] = (await s.oracle.run(role.actor, op)) as [Res, Res]
          const diffs: string[] = []
          const d0 = differ(t, o)
          if (d0 !== undefined) diffs.push(`result: ${d0}`)
          for (const p of c.after) {
            const [ts, os] = await s.oracle.run('root', { op: 'lstat', path: `${base}/${p}` })
            const d = differ(ts, os)
            if (d !== undefined) diffs.push(`${p}: ${brief(ts)} vs ${brief(os)}`)
            if (c.timesOf?.includes(p) && t.ok && o.ok && ts?.ok && os?.ok) {
              const [a, b] = [ts.value as { atime_ns: bigint; mtime_ns: bigint }, os.value as { atime_ns: bigint; mtime_ns: bigint }]
              if (a.atime_ns !== b.atime_ns || a.mtime_ns !== b.mtime_ns) diffs.push(`${p} times: a=${a.atime_ns} m=${a.mtime_ns} vs a=${b.atime_ns} m=${b.mtime_ns}`)
            }
          }
          for (const chk of c.check ?? []) {
            const [tc, oc] = await s.oracle.run('root', prefix(chk, base))
            if (differ(tc, oc) !== undefined) diffs.push(`${chk.op} ${chk.path}: ${brief(tc)} vs ${brief(oc)}`)
          }
          const row = { op: c.name, variant: variantLabel(v), role: role.role, actor: role.actor, target: brief(t).split(' ')[0]!, oracle: brief(o).split(' ')[0]!, diffs }
          mine.push(row)
          rows.push(row)
        }
      }
      const bad = mine.filter((r) => r.diffs.length > 0)
      if (bad.length > 0) {
        const msg = table(
          ['variant', 'role', 'actor', s.target.root.label, 'oracle', 'differences'],
          mine.map((r) => [r.variant, r.role, r.actor, r.target, r.oracle, r.diffs.length === 0 ? '=' : r.diffs.join('; ')]),
        )
        expect.fail(`${c.name}: ${bad.length} of ${mine.length} cases differ from the oracle\n${msg}`)
      }
    })
  }
})
