// The workload of a simulated run (totb runs add conflicting calls on shared names: conflictingCall): file system operations from the correct members of every
// volume, drawn from the run's PRNG. Each member works in its own directory of each volume, so
// operations of different members never conflict and replicas must converge to equal state roots
// (spec/paciofs.md VOL-6); inside its directory a member creates, writes (varied sizes), renames,
// deletes, links, symlinks and changes attributes.
//
// Every call carries a caller identity drawn from a small set (root; uid 1000; uid 1001 whose
// supplementary group is 1000; uid 1002), so the permission rules of spec/fs.md "Who may do what"
// permit most calls and deny some (chmod, chown, utimens, xattrs of others' files, protected hard
// links). Directories are made 0777 so that structural calls (create, rename, unlink) are
// permitted and the member's model of its directory stays right.
import type { FsCall } from '../core/volume/index.ts'
import type { Cred } from '../core/fs/types.ts'
import type { Prng } from './prng.ts'

/** The identities the workload acts as. */
export const IDENTITIES: readonly Cred[] = [
  { uid: 0, gid: 0 },
  { uid: 1000, gid: 1000 },
  { uid: 1001, gid: 1001, groups: [1000] },
  { uid: 1002, gid: 1002 },
]
/** The identity that made the member's directory (sim/run.ts makes it as uid 1000, mode 0755). */
const DIR_OWNER: Cred = { uid: 1000, gid: 1000 }

export interface MemberDir {
  /** Paths that exist (files) and directories, as this member believes. */
  readonly files: string[]
  readonly dirs: string[]
  counter: number
  /** Whether the member's directory was opened up (chmod 0777) for the other identities. */
  open: boolean
  /** Files this member put under retention or a hold (retention workloads only). */
  readonly kept: string[]
}

/** The retention part of a workload (sim --retention): its own PRNG, so that runs without it
 *  draw exactly what they drew before; `governor`: this member may override (the founder). */
export interface RetentionWork {
  readonly prng: Prng
  readonly governor: boolean
}

const ROOT: Cred = { uid: 0, gid: 0 }

/** A retention call on one of the member's files or directories: set or extend a period, set or
 *  lift a hold, try to shorten with a false early time (what a Byzantine author could claim:
 *  refused by value), override as a governor, or retain a whole directory. */
function retentionCall(ret: RetentionWork, dir: MemberDir, time: { sec: number; nsec: number }): FsCall {
  const p = ret.prng
  const file = p.pick(dir.files)
  const keep = (path: string) => { if (!dir.kept.includes(path)) dir.kept.push(path) }
  const roll = p.int(100)
  const later = (s: number) => ({ sec: time.sec + s, nsec: time.nsec })
  if (roll < 35) {
    keep(file)
    return { type: 'retain', path: file, until: later(20 + p.int(200)), override: false, cred: ROOT, time }
  }
  if (roll < 50) {
    keep(file)
    return { type: 'hold', path: file, on: true, cred: ROOT, time }
  }
  if (roll < 62) return { type: 'hold', path: p.pick(dir.kept.length > 0 ? dir.kept : dir.files), on: false, cred: ROOT, time }
  if (roll < 80) {
    // A false time years back and a period that ends before the recorded one: shortening.
    const lie = { sec: time.sec - 100_000_000 - p.int(1000), nsec: 0 }
    return { type: 'retain', path: p.pick(dir.kept.length > 0 ? dir.kept : dir.files), until: { sec: lie.sec + 5, nsec: 0 }, override: p.chance(0.5), cred: ROOT, time: lie }
  }
  if (roll < 90 && ret.governor) return { type: 'retain', path: p.pick(dir.kept.length > 0 ? dir.kept : dir.files), until: later(1), override: true, cred: ROOT, time }
  const d = p.pick(dir.dirs.slice(1).length > 0 ? dir.dirs.slice(1) : dir.dirs)
  keep(d)
  return { type: 'retain', path: d, until: later(30 + p.int(100)), override: false, cred: ROOT, time }
}

const SIZES = [0, 1, 100, 4096, 65_535, 65_536, 65_537, 200_000]

export function newMemberDir(root: string): MemberDir {
  return { files: [], dirs: [root], counter: 0, open: false, kept: [] }
}

/** The next call of a member in its directory; the directory model is updated optimistically
 *  (a call that fails on the node leaves the model slightly off, which only makes later calls
 *  fail with an errno — also worth exercising). */
export function nextCall(prng: Prng, dir: MemberDir, time: { sec: number; nsec: number }, ret?: RetentionWork): FsCall {
  const root = dir.dirs[0]!
  if (!dir.open) {
    dir.open = true
    return { type: 'chmod', path: root, mode: 0o777, cred: DIR_OWNER, time }
  }
  const cred = prng.pick(IDENTITIES)
  const base = { cred, time }
  const name = () => `${prng.pick(dir.dirs)}/f${dir.counter++}`
  const roll = prng.int(100)
  if (dir.files.length === 0 || roll < 20) {
    const path = name()
    dir.files.push(path)
    return { type: 'create', path, mode: prng.pick([0o644, 0o664, 0o666, 0o600]), ...base }
  }
  if (ret !== undefined && ret.prng.chance(0.12)) return retentionCall(ret, dir, time)
  // With retention, a third of the changing calls aim at a kept file (every changing op tried).
  const keptFiles = ret === undefined ? [] : dir.kept.filter((k) => dir.files.includes(k))
  const file = keptFiles.length > 0 && ret!.prng.chance(0.33) ? ret!.prng.pick(keptFiles) : prng.pick(dir.files)
  if (roll < 50) {
    const size = prng.pick(SIZES)
    const data = prng.bytes(Math.min(size, 4096))
    const writes = size <= 4096 ? [{ offset: prng.int(3) * 1000, data }] : [{ offset: 0, data }, { offset: size - data.length, data }]
    return { type: 'write', path: file, writes, ...base }
  }
  if (roll < 58 && dir.dirs.length < 4) {
    const path = `${root}/d${dir.counter++}`
    dir.dirs.push(path)
    return { type: 'mkdir', path, mode: 0o777, ...base }
  }
  if (roll < 66) {
    const to = name()
    dir.files.splice(dir.files.indexOf(file), 1, to)
    return { type: 'rename', from: file, to, ...base }
  }
  if (roll < 72) {
    dir.files.splice(dir.files.indexOf(file), 1)
    return { type: 'unlink', path: file, ...base }
  }
  if (roll < 77) {
    const to = name()
    dir.files.push(to)
    return { type: 'link', from: file, to, ...base }
  }
  if (roll < 81) {
    const path = name()
    return { type: 'symlink', path, target: file, ...base }
  }
  if (roll < 85) return { type: 'chmod', path: file, mode: prng.pick([0o600, 0o640, 0o644, 0o664, 0o666, 0o444, 0o4755, 0o2775]), ...base }
  if (roll < 87) return { type: 'chown', path: file, uid: prng.pick([-1, -1, 1000, 1001]), gid: prng.pick([-1, 1000, 1001, 1002]), ...base }
  if (roll < 91) return { type: 'truncate', path: file, size: prng.int(70_000), ...base }
  if (roll < 96) return { type: 'setxattr', path: file, name: prng.pick(['user.k0', 'user.k1', 'user.k2', 'trusted.k']), value: prng.bytes(prng.int(40)), flags: 0, ...base }
  const now = prng.chance(0.5)
  return { type: 'utimens', path: file, atime: now ? 'now' : time, mtime: now ? 'now' : prng.chance(0.5) ? 'omit' : time, ...base }
}

/** The shared directory of a totb run's conflicting calls (sim/run.ts makes it, mode 0777). */
export const SHARED_DIR = '/shared'
const SHARED_NAMES = ['a', 'b', 'c', 'd'].map((n) => `${SHARED_DIR}/${n}`)

/** A call that conflicts with the other members' (totb runs, spec/totb.md TOTB-7): every member
 *  creates, writes, truncates, renames, links, unlinks and chmods the same four names of one
 *  shared directory, so that which one wins — and every errno — depends on the order alone. */
export function conflictingCall(prng: Prng, time: { sec: number; nsec: number }): FsCall {
  const cred = prng.pick(IDENTITIES)
  const base = { cred, time }
  const path = prng.pick(SHARED_NAMES)
  const other = prng.pick(SHARED_NAMES)
  const roll = prng.int(100)
  if (roll < 25) return { type: 'create', path, mode: 0o666, ...base }
  if (roll < 55) {
    // Partial writes of one block at different offsets: the order decides whose bytes are where.
    const data = prng.bytes(1 + prng.int(3000))
    return { type: 'write', path, writes: [{ offset: prng.int(3) * 1500, data }], ...base }
  }
  if (roll < 65) return { type: 'truncate', path, size: prng.int(5000), ...base }
  if (roll < 75) return { type: 'rename', from: path, to: other, ...base }
  if (roll < 80) return { type: 'link', from: path, to: other, ...base }
  if (roll < 92) return { type: 'unlink', path, ...base }
  return { type: 'chmod', path, mode: prng.pick([0o600, 0o644, 0o666]), ...base }
}
