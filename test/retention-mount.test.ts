// Retention and legal hold through a real mount and the CLI (spec/fs.md "Retention and legal
// hold"): after `paciofs retain`, every changing call answers EPERM, as root and as the owner
// (separate processes with their own credentials, test/support/posix-oracle.ts); extend allowed,
// shorten refused; a hold blocks deletion after the period expired; governance override by the
// listed node works, compliance has none. Needs root (to be the other users); skipped otherwise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { PosixOracle, USERS, isRoot, reachableTempDir, removeTree, type Op, type UserName } from './support/posix-oracle.ts'
import { cleanupAll, mountPaciofs, runPaciofs, stopProc, type Proc } from './support/procs.ts'

const root = isRoot()
if (!root) console.warn('retention-mount.test.ts: skipped, needs root (it acts as several users)')

describe.skipIf(!root)('retention through the mount', () => {
  let base: string
  let mnt: string
  let data: string
  let proc: Proc
  let posix: PosixOracle
  let pid: string

  const cli = async (...args: string[]) => runPaciofs([...args, '--data', data])
  const as = async (user: UserName, op: Op): Promise<string> => {
    const [r] = await posix.run(user, op)
    return r!.ok ? 'ok' : r!.errno
  }
  /** Every changing call of the issue on `f` (in directory `d`), as `user`: all must be EPERM. */
  const changing = (d: string, f: string): Op[] => [
    { op: 'write', path: f, data: 'changed', offset: 0 },
    { op: 'write', path: f, data: 'changed', flags: ['O_WRONLY', 'O_TRUNC'] },
    { op: 'truncate', path: f, length: 0 },
    { op: 'unlink', path: f },
    { op: 'rename', path: f, path2: `${d}/away` },
    { op: 'rename', path: `${d}/spare`, path2: f },
    { op: 'chmod', path: f, mode: 0o600 },
    { op: 'chown', path: f, uid: 1002 },
    { op: 'setxattr', path: f, name: 'user.k', value: 'v' },
    { op: 'removexattr', path: f, name: 'user.k' },
    { op: 'utime', path: f, atime: 'now', mtime: 'now' },
    { op: 'link', path: f, path2: `${d}/alias` },
  ]
  const setupDir = async (d: string) => {
    await posix.must({ op: 'mkdir', path: d, mode: 0o777 })
    await posix.must({ op: 'chmod', path: d, mode: 0o777 }) // the worker's umask took 0o022
    await posix.must({ op: 'create', path: `${d}/doc`, mode: 0o644, data: 'the books of 2026\n' }, 'alice')
    await posix.must({ op: 'create', path: `${d}/spare`, mode: 0o666, data: 'x' }, 'alice')
    await posix.must({ op: 'setxattr', path: `${d}/doc`, name: 'user.k', value: 'v' }, 'alice')
  }

  beforeAll(async () => {
    base = reachableTempDir('paciofs-retention-')
    mnt = join(base, 'mnt')
    data = join(base, 'data')
    proc = await mountPaciofs(mnt, ['--data', data])
    posix = new PosixOracle([{ label: 'mount', dir: mnt }])
    const st = await cli('status')
    pid = /\b0[23][0-9a-f]{64}\b/.exec(st.stdout)![0]
  }, 90_000)

  afterAll(async () => {
    await posix?.close()
    if (proc) await stopProc(proc).catch(() => undefined)
    await cleanupAll([mnt])
    removeTree(base)
  }, 60_000)

  it('[FS-14] a retained file refuses every changing call with EPERM, as root and as its owner, and stays readable', async () => {
    await setupDir('r1')
    const r = await cli('retain', '/r1/doc', '--for', '1h')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    for (const user of ['root', 'alice'] as const) {
      for (const op of changing('r1', 'r1/doc')) expect(`${user} ${op.op} ${op.path2 ?? ''}: ${await as(user, op)}`).toBe(`${user} ${op.op} ${op.path2 ?? ''}: EPERM`)
    }
    const [read] = await posix.run('carol', { op: 'read', path: 'r1/doc' })
    expect(read!.ok).toBe(true)
    const shown = await cli('retention', '/r1/doc')
    expect(shown.stdout).toContain('until ')
    expect(shown.stdout).toContain(pid)
  }, 120_000)

  it('[FS-14] a retained directory: its files are refused, and rmdir of it is EPERM', async () => {
    await setupDir('r2')
    await posix.must({ op: 'mkdir', path: 'r2/sub', mode: 0o777 })
    expect((await cli('retain', '/r2', '--for', '1h')).code).toBe(0)
    expect(await as('root', { op: 'unlink', path: 'r2/doc' })).toBe('EPERM')
    expect(await as('root', { op: 'rmdir', path: 'r2/sub' })).toBe('EPERM')
    expect(await as('root', { op: 'rename', path: 'r2', path2: 'r2-away' })).toBe('EPERM')
    // rmdir of the parent of a retained file: refused (it is not empty, and it is retained).
    expect(await as('root', { op: 'rmdir', path: 'r2' })).not.toBe('ok')
  }, 120_000)

  it('[FS-15] a period is extended, never shortened', async () => {
    await setupDir('r3')
    expect((await cli('retain', '/r3/doc', '--for', '1h')).code).toBe(0)
    expect((await cli('retain', '/r3/doc', '--for', '2h')).code).toBe(0)
    const short = await cli('retain', '/r3/doc', '--for', '10m')
    expect(short.code).toBe(1)
    expect(short.stderr).toContain('EPERM')
    // Without governance configured, there is no override either.
    expect((await cli('retain', '/r3/doc', '--for', '1s', '--override')).stderr).toContain('EPERM')
  }, 120_000)

  it('[FS-14] a legal hold blocks deletion after the period expired, until it is lifted', async () => {
    await setupDir('r4')
    expect((await cli('retain', '/r4/doc', '--for', '2s')).code).toBe(0)
    expect((await cli('hold', '/r4/doc', 'on')).code).toBe(0)
    await new Promise((ok) => setTimeout(ok, 2500))
    expect(await as('alice', { op: 'unlink', path: 'r4/doc' })).toBe('EPERM')
    expect((await cli('retention', '/r4/doc')).stdout).toContain('legal hold ON')
    expect((await cli('hold', '/r4/doc', 'off')).code).toBe(0)
    expect(await as('alice', { op: 'unlink', path: 'r4/doc' })).toBe('ok')
  }, 120_000)

  it('[FS-15] governance: the listed node overrides; after the switch to compliance nobody can', async () => {
    await setupDir('r5')
    const cfg = await cli('retain', '--default', '0', '--mode', 'governance', '--governor', pid)
    expect(cfg.stderr).toBe('')
    expect((await cli('retain', '/r5/doc', '--for', '1h')).code).toBe(0)
    expect(await as('root', { op: 'unlink', path: 'r5/doc' })).toBe('EPERM')
    const soon = new Date(Date.now() + 1500).toISOString()
    const over = await cli('retain', '/r5/doc', '--until', soon, '--override')
    expect(over.stderr).toBe('')
    await new Promise((ok) => setTimeout(ok, 2000))
    expect(await as('alice', { op: 'unlink', path: 'r5/doc' })).toBe('ok')
    // Compliance with a default: new files get a period, and no override exists any more.
    expect((await cli('retain', '--default', '1h', '--mode', 'compliance')).code).toBe(0)
    await posix.must({ op: 'create', path: 'r5/inv', mode: 0o644, data: 'invoice\n' }, 'alice')
    expect(await as('alice', { op: 'unlink', path: 'r5/inv' })).toBe('EPERM')
    expect((await cli('retain', '/r5/inv', '--for', '1s', '--override')).stderr).toContain('EPERM')
    expect((await cli('retain', '--default', '0', '--mode', 'governance', '--governor', pid)).stderr).toContain('EPERM')
    void USERS
  }, 120_000)

  it('[FS-14] verify reports the retention state and finds no violation in the history', async () => {
    const v = await cli('verify')
    expect(v.stdout).toMatch(/verify: retention default: compliance, default 3600 s; \d+ retained \(latest until [^)]+\), \d+ held, \d+ expired/)
    expect(v.stdout).toContain('verify: clean')
    expect(v.code).toBe(0)
  }, 120_000)

  it('[FS-14] after a restart from the store the records are still there and still refuse', async () => {
    await posix.close()
    await stopProc(proc)
    await cleanupAll([mnt])
    proc = await mountPaciofs(mnt, ['--data', data])
    posix = new PosixOracle([{ label: 'mount', dir: mnt }])
    expect(await as('root', { op: 'unlink', path: 'r1/doc' })).toBe('EPERM')
    expect(await as('root', { op: 'write', path: 'r2/doc', data: 'x', offset: 0 })).toBe('EPERM')
    expect((await cli('retention', '/r1/doc')).stdout).toContain('until ')
  }, 120_000)
})
