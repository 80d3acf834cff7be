// Retention periods and legal holds (spec/fs.md "Retention and legal hold"): every changing op on
// a retained or held file and directory subtree is EPERM for root and owner alike, extend-only by
// value with true and false times, holds outlast periods, governance override by governors only,
// compliance by nobody, default periods with the one open write, and the checkers FS-14/FS-15
// both pass honest histories and catch forged ones.
import { describe, expect, it } from 'vitest'
import { nobleCrypto } from '../core/crypto.ts'
import { decode, encode } from '../core/codec.ts'
import type { Pid } from '../core/types.ts'
import type { Cred, FsOp, FsResult, FsState, FsTime } from '../core/fs/index.ts'
import { applyOp, checkPermInvariants, createFs, exportTree, getattr, importTree, opToValue, stateRoot, validateOp } from '../core/fs/index.ts'
import { checkRetentionInvariants, futureTimedChanges, retentionSummary } from '../core/fs/retention-check.ts'
import { RETENTION_XATTR, retentionOf } from '../core/fs/retention.ts'

const ALICE = '02'.padEnd(66, 'a') as Pid
const BOB = '03'.padEnd(66, 'b') as Pid
const ROOT: Cred = { uid: 0, gid: 0 }
const OWNER: Cred = { uid: 1000, gid: 1000 }
const at = (sec: number): FsTime => ({ sec, nsec: 0 })
let nextIno = 100

function run(fs: FsState, op: FsOp, author: Pid = ALICE): FsResult {
  return applyOp(fs, op, { epoch: fs.epoch + 1, author }).result
}
function errnoOf(r: FsResult): string {
  return r.ok ? 'ok' : r.errno
}
function must(fs: FsState, op: FsOp, author: Pid = ALICE): void {
  const r = run(fs, op, author)
  if (!r.ok) throw new Error(`setup ${op.type}: ${r.errno}`)
}

/** A volume with /a (dir of OWNER) holding /a/doc (written) and /a/other. */
function volume(): FsState {
  const fs = createFs(nobleCrypto)
  const t = at(100)
  must(fs, { type: 'mkdir', path: '/a', mode: 0o777, ino: nextIno++, cred: OWNER, time: t })
  for (const name of ['doc', 'other']) {
    must(fs, { type: 'create', path: `/a/${name}`, mode: 0o666, ino: nextIno++, cred: OWNER, time: t })
    must(fs, { type: 'write', path: `/a/${name}`, size: 3, blocks: [[0, 'ab'.repeat(32) as never]], cred: OWNER, time: t })
  }
  must(fs, { type: 'setxattr', path: '/a/doc', name: 'user.k', value: new Uint8Array([1]), flags: 0, cred: OWNER, time: t })
  return fs
}

/** Every changing op on `path` (a file), by `cred` at `t`. */
function changingOps(path: string, cred: Cred, t: FsTime): FsOp[] {
  const b = { cred, time: t }
  return [
    { type: 'write', path, size: 9, blocks: [], ...b },
    { type: 'truncate', path, size: 0, ...b },
    { type: 'unlink', path, ...b },
    { type: 'rename', from: path, to: '/moved', ...b },
    { type: 'rename', from: '/a/other', to: path, ...b },
    { type: 'link', from: path, to: '/alias', ...b },
    { type: 'chmod', path, mode: 0o600, ...b },
    { type: 'chown', path, uid: 0, gid: 0, ...b },
    { type: 'utimens', path, atime: 'now', mtime: 'now', ...b },
    { type: 'setxattr', path, name: 'user.k', value: new Uint8Array([2]), flags: 0, ...b },
    { type: 'removexattr', path, name: 'user.k', ...b },
  ]
}

function expectAllRefused(fs: FsState, path: string, t: FsTime): void {
  for (const cred of [ROOT, OWNER]) {
    for (const op of changingOps(path, cred, t)) {
      const root = stateRoot(fs)
      expect(`${op.type} as ${cred.uid}: ${errnoOf(run(fs, op))}`).toBe(`${op.type} as ${cred.uid}: EPERM`)
      expect(stateRoot(fs)).toBe(root)
    }
  }
}

describe('retention of a file', () => {
  it('[FS-14] every changing op on a retained file is EPERM, as root and as owner, and it stays readable', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a/doc', until: at(1000), override: false, cred: OWNER, time: at(200) })
    expectAllRefused(fs, '/a/doc', at(300))
    expect(getattr(fs, '/a/doc').ok).toBe(true)
    expect(checkRetentionInvariants(fs)).toEqual([])
    expect(checkPermInvariants(fs)).toEqual([])
  })

  it('[FS-14] once the period is over, the same ops are allowed again', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a/doc', until: at(1000), override: false, cred: ROOT, time: at(200) })
    expect(errnoOf(run(fs, { type: 'chmod', path: '/a/doc', mode: 0o600, cred: OWNER, time: at(999) }))).toBe('EPERM')
    expect(errnoOf(run(fs, { type: 'chmod', path: '/a/doc', mode: 0o600, cred: OWNER, time: at(1000) }))).toBe('ok')
    expect(errnoOf(run(fs, { type: 'unlink', path: '/a/doc', cred: OWNER, time: at(1001) }))).toBe('ok')
    expect(checkRetentionInvariants(fs)).toEqual([])
  })

  it('[FS-15] a period is extended, never shortened, with true or false times', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a/doc', until: at(1000), override: false, cred: ROOT, time: at(200) })
    expect(errnoOf(run(fs, { type: 'retain', path: '/a/doc', until: at(2000), override: false, cred: ROOT, time: at(300) }))).toBe('ok')
    expect(errnoOf(run(fs, { type: 'retain', path: '/a/doc', until: at(1500), override: false, cred: ROOT, time: at(400) }))).toBe('EPERM')
    // A Byzantine author's false early time: still shortening by value.
    expect(errnoOf(run(fs, { type: 'retain', path: '/a/doc', until: at(50), override: false, cred: ROOT, time: at(10) }, BOB))).toBe('EPERM')
    // Nor does an early time get behind the record's time: at 10 the op counts as at 300.
    expect(errnoOf(run(fs, { type: 'unlink', path: '/a/doc', cred: ROOT, time: at(10) }, BOB))).toBe('EPERM')
    expect(retentionOf(getVersion(fs, '/a/doc'))!.until).toEqual(at(2000))
    expect(checkRetentionInvariants(fs)).toEqual([])
  })

  it('[FS-15] a period already over is EINVAL, and only the owner or root may retain (EPERM)', () => {
    const fs = volume()
    expect(errnoOf(run(fs, { type: 'retain', path: '/a/doc', until: at(100), override: false, cred: ROOT, time: at(200) }))).toBe('EINVAL')
    expect(errnoOf(run(fs, { type: 'retain', path: '/a/doc', until: at(900), override: false, cred: { uid: 1002, gid: 1002 }, time: at(200) }))).toBe('EPERM')
    expect(errnoOf(run(fs, { type: 'hold', path: '/a/doc', on: true, cred: { uid: 1002, gid: 1002 }, time: at(200) }))).toBe('EPERM')
  })

  it('[FS-14] a legal hold blocks every change after the period expired, until it is lifted', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a/doc', until: at(300), override: false, cred: ROOT, time: at(200) })
    must(fs, { type: 'hold', path: '/a/doc', on: true, cred: ROOT, time: at(210) })
    expectAllRefused(fs, '/a/doc', at(5000))
    must(fs, { type: 'hold', path: '/a/doc', on: false, cred: OWNER, time: at(5001) }, BOB)
    expect(errnoOf(run(fs, { type: 'unlink', path: '/a/doc', cred: OWNER, time: at(5002) }))).toBe('ok')
    expect(checkRetentionInvariants(fs)).toEqual([])
  })

  it('[FS-14] a new name may be made for an unprotected file in a protected directory, not for a protected file', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a/doc', until: at(1000), override: false, cred: ROOT, time: at(200) })
    expect(errnoOf(run(fs, { type: 'link', from: '/a/doc', to: '/a/doc2', cred: ROOT, time: at(300) }))).toBe('EPERM')
  })
})

function getVersion(fs: FsState, path: string) {
  const a = getattr(fs, path)
  if (!a.ok) throw new Error(path)
  return fs.inodes.get(a.value.ino)!.cur
}

describe('retention of a directory subtree', () => {
  it('[FS-14] a retained directory protects what is in it, and rmdir of it or of a parent is refused', () => {
    const fs = volume()
    must(fs, { type: 'mkdir', path: '/a/sub', mode: 0o777, ino: nextIno++, cred: OWNER, time: at(100) })
    must(fs, { type: 'retain', path: '/a', until: at(1000), override: false, cred: ROOT, time: at(200) })
    expectAllRefused(fs, '/a/doc', at(300))
    expect(errnoOf(run(fs, { type: 'rmdir', path: '/a/sub', cred: ROOT, time: at(300) }))).toBe('EPERM')
    expect(errnoOf(run(fs, { type: 'rmdir', path: '/a', cred: ROOT, time: at(300) }))).toBe('EPERM')
    expect(errnoOf(run(fs, { type: 'rename', from: '/a', to: '/b', cred: ROOT, time: at(300) }))).toBe('EPERM')
    expect(checkRetentionInvariants(fs)).toEqual([])
  })

  it('[FS-14] a new file in a protected directory gets one write (open), then is protected', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a', until: at(1000), override: false, cred: ROOT, time: at(200) })
    must(fs, { type: 'create', path: '/a/new', mode: 0o644, ino: nextIno++, cred: OWNER, time: at(300) })
    expect(retentionOf(getVersion(fs, '/a/new'))!.open).toBe(true)
    must(fs, { type: 'write', path: '/a/new', size: 5, blocks: [], cred: OWNER, time: at(301) })
    expect(errnoOf(run(fs, { type: 'write', path: '/a/new', size: 1, blocks: [], cred: OWNER, time: at(302) }))).toBe('EPERM')
    expect(errnoOf(run(fs, { type: 'unlink', path: '/a/new', cred: ROOT, time: at(302) }))).toBe('EPERM')
    expect(checkRetentionInvariants(fs)).toEqual([])
  })
})

describe('volume default and modes', () => {
  it('[FS-14] the volume default gives each new file a period from its creation (one open write)', () => {
    const fs = volume()
    must(fs, { type: 'retention-config', mode: 'compliance', defaultSec: 600, governors: [], cred: ROOT, time: at(200) })
    must(fs, { type: 'create', path: '/a/inv', mode: 0o644, ino: nextIno++, cred: OWNER, time: at(300) })
    must(fs, { type: 'write', path: '/a/inv', size: 5, blocks: [], cred: OWNER, time: at(301) })
    expect(retentionOf(getVersion(fs, '/a/inv'))!.until).toEqual(at(900))
    expectAllRefused(fs, '/a/inv', at(899))
    expect(errnoOf(run(fs, { type: 'unlink', path: '/a/inv', cred: OWNER, time: at(900) }))).toBe('ok')
    // Old files are not touched by a default.
    expect(errnoOf(run(fs, { type: 'unlink', path: '/a/other', cred: OWNER, time: at(300) }))).toBe('ok')
    // A false early create time does not escape the default: it counts from the configuration.
    must(fs, { type: 'create', path: '/a/early', mode: 0o644, ino: nextIno++, cred: OWNER, time: at(1) }, BOB)
    expect(retentionOf(getVersion(fs, '/a/early'))!.until).toEqual(at(800))
  })

  it('[FS-15] governance: a listed member may shorten or lift; anybody else, and any member in compliance, may not', () => {
    const fs = volume()
    must(fs, { type: 'retention-config', mode: 'governance', defaultSec: 0, governors: [ALICE], cred: ROOT, time: at(150) })
    must(fs, { type: 'retain', path: '/a/doc', until: at(1000), override: false, cred: ROOT, time: at(200) })
    expect(errnoOf(run(fs, { type: 'retain', path: '/a/doc', until: at(250), override: true, cred: ROOT, time: at(240) }, BOB))).toBe('EPERM')
    expect(errnoOf(run(fs, { type: 'retain', path: '/a/doc', until: at(250), override: true, cred: ROOT, time: at(240) }, ALICE))).toBe('ok')
    expect(errnoOf(run(fs, { type: 'unlink', path: '/a/doc', cred: OWNER, time: at(260) }))).toBe('ok')
    // A non-governor may not reconfigure; the governor may go to compliance, and that is final.
    expect(errnoOf(run(fs, { type: 'retention-config', mode: 'governance', defaultSec: 0, governors: [BOB], cred: ROOT, time: at(270) }, BOB))).toBe('EPERM')
    must(fs, { type: 'retention-config', mode: 'compliance', defaultSec: 10, governors: [], cred: ROOT, time: at(280) }, ALICE)
    expect(errnoOf(run(fs, { type: 'retention-config', mode: 'governance', defaultSec: 10, governors: [ALICE], cred: ROOT, time: at(290) }, ALICE))).toBe('EPERM')
    expect(errnoOf(run(fs, { type: 'retention-config', mode: 'compliance', defaultSec: 5, governors: [], cred: ROOT, time: at(290) }, ALICE))).toBe('EPERM')
    must(fs, { type: 'retain', path: '/a/other', until: at(1000), override: false, cred: ROOT, time: at(300) })
    expect(errnoOf(run(fs, { type: 'retain', path: '/a/other', until: at(301), override: true, cred: ROOT, time: at(300) }, ALICE))).toBe('EPERM')
    expect(checkRetentionInvariants(fs)).toEqual([])
  })

  it('[FS-14] the reserved xattrs cannot be set or removed by a user op', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a/doc', until: at(1000), override: false, cred: ROOT, time: at(200) })
    expect(errnoOf(run(fs, { type: 'removexattr', path: '/a/other', name: RETENTION_XATTR, cred: ROOT, time: at(300) }))).toBe('EOPNOTSUPP')
    expect(errnoOf(run(fs, { type: 'setxattr', path: '/a/other', name: RETENTION_XATTR, value: new Uint8Array(), flags: 0, cred: ROOT, time: at(300) }))).toBe('EOPNOTSUPP')
  })
})

describe('the checkers and the formats', () => {
  it('[FS-14] the checker names a change of a retained file made behind the rule', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a/doc', until: at(1000), override: false, cred: ROOT, time: at(200) })
    // The broken rule of the mutation 'retention-unlink' lets an unlink through.
    const r = applyOp(fs, { type: 'unlink', path: '/a/doc', cred: ROOT, time: at(300) }, { epoch: fs.epoch + 1, author: ALICE, mutation: 'retention-unlink' }).result
    expect(r.ok).toBe(true)
    expect(checkRetentionInvariants(fs).map((v) => v.id)).toContain('FS-14')
  })

  it('[FS-15] the checker names a period shortened without an override', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a/doc', until: at(1000), override: false, cred: ROOT, time: at(200) })
    // Forge a shorter record as a plain xattr write would (no user op can: this is a broken replica).
    const rec = fs.inodes.get(getattr(fs, '/a/doc').ok ? (getattr(fs, '/a/doc') as { value: { ino: number } }).value.ino : 0)!
    const bytes = rec.cur.xattrs.get(RETENTION_XATTR)!
    const a = decode(bytes) as unknown[]
    a[0] = 500
    const xattrs = new Map(rec.cur.xattrs)
    xattrs.set(RETENTION_XATTR, encode(a as never))
    const forged = { ...rec.cur, epoch: fs.epoch + 1, xattrs }
    fs.past.putVersion(rec.ino, forged, rec.cur)
    rec.cur = forged
    fs.epoch += 1
    fs.past.putLogLine({ author: BOB, kind: 'setxattr', uid: 0, gid: 0, errno: null })
    expect(checkRetentionInvariants(fs).map((v) => v.id)).toContain('FS-15')
  })

  it('[FS-14] records travel in tree images and the state root, and the ops validate after a round trip', () => {
    const fs = volume()
    must(fs, { type: 'retention-config', mode: 'governance', defaultSec: 60, governors: [ALICE, BOB].sort(), cred: ROOT, time: at(150) })
    must(fs, { type: 'retain', path: '/a', until: at(1000), override: false, cred: ROOT, time: at(200) })
    must(fs, { type: 'hold', path: '/a/doc', on: true, cred: ROOT, time: at(200) })
    const img = importTree(exportTree(fs), nobleCrypto)
    expect(img.ok).toBe(true)
    if (!img.ok) return
    expect(stateRoot(img.fs)).toBe(stateRoot(fs))
    const copy = img.fs
    expect(errnoOf(run(copy, { type: 'unlink', path: '/a/doc', cred: ROOT, time: at(5000) }))).toBe('EPERM')
    const ops: FsOp[] = [
      { type: 'retain', path: '/x', until: at(9), override: true, cred: ROOT, time: at(1) },
      { type: 'hold', path: '/x', on: false, cred: ROOT, time: at(1) },
      { type: 'retention-config', mode: 'compliance', defaultSec: 0, governors: [], cred: ROOT, time: at(1) },
    ]
    for (const op of ops) expect(validateOp(decode(encode(opToValue(op))))).toEqual({ ok: true, op })
    expect(validateOp({ type: 'retention-config', mode: 'strict', defaultSec: 0, governors: [], cred: ROOT, time: at(1) }).ok).toBe(false)
    expect(validateOp({ type: 'retention-config', mode: 'governance', defaultSec: 0, governors: [BOB, ALICE], cred: ROOT, time: at(1) }).ok).toBe(false)
    expect(validateOp({ type: 'hold', path: '/x', on: 1, cred: ROOT, time: at(1) }).ok).toBe(false)
  })

  it('[FS-14] a false late time can end a period early; verify-side report names it while the clock is behind', () => {
    const fs = volume()
    must(fs, { type: 'retain', path: '/a/doc', until: at(1000), override: false, cred: ROOT, time: at(200) })
    // The honest limit: an author claiming t = 5000 is judged after expiry.
    expect(errnoOf(run(fs, { type: 'unlink', path: '/a/doc', cred: ROOT, time: at(5000) }, BOB))).toBe('ok')
    expect(checkRetentionInvariants(fs)).toEqual([])
    const found = futureTimedChanges(fs, at(300), 600)
    expect(found.length).toBe(1)
    expect(found[0]!.message).toContain('claimed time 5000')
    expect(futureTimedChanges(fs, at(6000), 600)).toEqual([])
    expect(retentionSummary(fs, at(300))).toMatchObject({ retained: 0, held: 0, mode: null })
  })
})

describe('a property over random histories', () => {
  // Random retention ops (true and false times, overrides, holds, a governance configuration by
  // ALICE) mixed with every changing op on a few files and a directory. Independently of
  // core/fs/retention.ts, the test keeps each path's period and hold as the ops it saw succeed
  // set them, and requires: a changing op on a path whose period (compared with the latest time a
  // retention op on it claimed) or hold is active is EPERM; a period never shrinks without a
  // governor's override; and the checkers find nothing.
  it('[FS-14] [FS-15] changing ops on protected paths are EPERM and periods only grow, over random histories', async () => {
    const fc = (await import('fast-check')).default
    const paths = ['/a/doc', '/a/other', '/a/sub/f']
    const opArb = fc.record({
      kind: fc.constantFrom('retain', 'retain', 'override', 'hold-on', 'hold-off', 'write', 'truncate', 'unlink', 'rename', 'chmod', 'setxattr', 'link', 'utimens'),
      path: fc.constantFrom(...paths),
      t: fc.integer({ min: 0, max: 2000 }),
      until: fc.integer({ min: 0, max: 3000 }),
      author: fc.constantFrom(ALICE, BOB),
    })
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (steps) => {
      const fs = volume()
      must(fs, { type: 'mkdir', path: '/a/sub', mode: 0o777, ino: nextIno++, cred: OWNER, time: at(100) })
      must(fs, { type: 'create', path: '/a/sub/f', mode: 0o666, ino: nextIno++, cred: OWNER, time: at(100) })
      must(fs, { type: 'retention-config', mode: 'governance', defaultSec: 0, governors: [ALICE], cred: ROOT, time: at(100) })
      const model = new Map<string, { until: number; since: number; hold: boolean }>()
      for (const s of steps) {
        const b = { cred: ROOT, time: at(s.t) }
        const m = model.get(s.path)
        const active = m !== undefined && (m.hold || m.until > Math.max(s.t, m.since))
        let op: FsOp
        switch (s.kind) {
          case 'retain': case 'override': op = { type: 'retain', path: s.path, until: at(s.until), override: s.kind === 'override', ...b }; break
          case 'hold-on': case 'hold-off': op = { type: 'hold', path: s.path, on: s.kind === 'hold-on', ...b }; break
          case 'write': op = { type: 'write', path: s.path, size: 7, blocks: [], ...b }; break
          case 'truncate': op = { type: 'truncate', path: s.path, size: 1, ...b }; break
          case 'unlink': op = { type: 'unlink', path: s.path, ...b }; break
          case 'rename': op = { type: 'rename', from: s.path, to: `${s.path}-moved`, ...b }; break
          case 'chmod': op = { type: 'chmod', path: s.path, mode: 0o600, ...b }; break
          case 'setxattr': op = { type: 'setxattr', path: s.path, name: 'user.p', value: new Uint8Array([1]), flags: 0, ...b }; break
          case 'link': op = { type: 'link', from: s.path, to: `${s.path}-link${nextIno++}`, ...b }; break
          default: op = { type: 'utimens', path: s.path, atime: 'now', mtime: 'now', ...b }
        }
        const r = run(fs, op, s.author)
        const changing = !['retain', 'override', 'hold-on', 'hold-off'].includes(s.kind)
        if (changing && active && getattr(fs, s.path).ok) expect(`${s.kind} ${s.path}: ${errnoOf(r)}`).toBe(`${s.kind} ${s.path}: EPERM`)
        if (r.ok && (s.kind === 'unlink' || s.kind === 'rename')) model.delete(s.path)
        if (r.ok && !changing) {
          const old = model.get(s.path) ?? { until: -Infinity, since: s.t, hold: false }
          const since = Math.max(old.since, s.t)
          if (s.kind === 'retain' || s.kind === 'override') {
            if (s.kind === 'retain') expect(s.until).toBeGreaterThanOrEqual(old.until)
            else expect(s.author).toBe(ALICE)
            model.set(s.path, { until: s.until, since, hold: old.hold })
          } else model.set(s.path, { until: old.until, since, hold: s.kind === 'hold-on' })
        }
      }
      expect(checkRetentionInvariants(fs)).toEqual([])
      expect(checkPermInvariants(fs)).toEqual([])
    }), { numRuns: 300, seed: 14 })
  })
})
