// Retention periods and legal holds (spec/fs.md "Retention and legal hold"): the records, where
// they live, the protection rule every changing op consults, the three retention ops, and the
// checkers of FS-14 and FS-15. Pure: the time is always the op's time, never a clock.
//
// Why the records are reserved xattrs (`paciofs.retention` on a protected inode,
// `paciofs.retention.volume` on the root): xattrs are hashed into the inode's node hash, so the
// records are part of the state root (replicas must agree on them), of every version (history,
// snapshots) and of tree images, checkpoints and restore, with no new format. No user op can set
// or remove them: the `paciofs.` namespace is not one a volume stores (EOPNOTSUPP, spec/fs.md).
import { decode, encode, type Value } from '../codec.ts'
import type { Epoch, Pid } from '../types.ts'
import { isPid } from '../types.ts'
import type { Cred, Errno, FsTime, InodeVersion, Violation } from './types.ts'
import { ROOT_INO } from './types.ts'

export const RETENTION_XATTR = 'paciofs.retention'
export const VOLUME_RETENTION_XATTR = 'paciofs.retention.volume'

export type RetentionMode = 'governance' | 'compliance'

/** Who changed a record last: the op's author (a node id). Not the epoch: with fotb, epochs are
 *  local to a replica (spec/paciofs.md), and the record is part of the replicated state. */
export type SetBy = Pid

/** The retention record of one inode (a file, or a directory: then its whole subtree). */
export interface Retention {
  /** Protected while `until` is later than the effective time; null = no period. */
  readonly until: FsTime | null
  /** The latest op time any retention op on this inode claimed: the effective time of an op on
   *  it is never earlier (the monotone rule, spec/fs.md). */
  readonly since: FsTime
  readonly hold: boolean
  /** A new file that got its record from the volume default or a protected directory and has
   *  not been written yet: its first write is allowed and closes it. */
  readonly open: boolean
  readonly untilBy: SetBy | null
  readonly holdBy: SetBy | null
}

/** The volume's retention configuration (a record on the root). */
export interface VolumeRetention {
  readonly mode: RetentionMode
  /** Seconds of retention every new regular file gets (0 = none). */
  readonly defaultSec: number
  /** Governance: the members that may shorten or lift a period. Compliance: empty. */
  readonly governors: readonly Pid[]
  readonly since: FsTime
  readonly by: SetBy
}

export function timeCmp(a: FsTime, b: FsTime): number {
  return a.sec !== b.sec ? (a.sec < b.sec ? -1 : 1) : a.nsec - b.nsec
}

export function maxTime(a: FsTime, b: FsTime): FsTime {
  return timeCmp(a, b) >= 0 ? a : b
}

// ---------------------------------------------------------------------------------------------
// Byte forms (canonical CBOR arrays, so that the xattr value, hence the root, is one byte string).
//   retention: [untilSec|null, untilNsec|null, sinceSec, sinceNsec, hold, open, untilBy|null, holdBy|null]
//   volume:    [mode, defaultSec, [governor...], sinceSec, sinceNsec, by]   (by: node id text)

const byValue = (b: SetBy | null): Value => b

export function encodeRetention(r: Retention): Uint8Array {
  return encode([r.until?.sec ?? null, r.until?.nsec ?? null, r.since.sec, r.since.nsec, r.hold, r.open, byValue(r.untilBy), byValue(r.holdBy)])
}

export function encodeVolumeRetention(c: VolumeRetention): Uint8Array {
  return encode([c.mode, c.defaultSec, [...c.governors], c.since.sec, c.since.nsec, c.by])
}

function setBy(v: unknown): SetBy | null {
  if (v === null) return null
  if (typeof v !== 'string' || !isPid(v)) throw new Error('bad setBy')
  return v
}

const cache = new WeakMap<Uint8Array, Retention | null>()

/** The record in a version, or null. A malformed value (only a broken image could hold one, no
 *  op writes one) protects nothing and is reported by checkRetentionInvariants. */
export function retentionOf(v: InodeVersion): Retention | null {
  if (v.xattrs.size === 0) return null
  const bytes = v.xattrs.get(RETENTION_XATTR)
  if (bytes === undefined) return null
  const hit = cache.get(bytes)
  if (hit !== undefined) return hit
  let r: Retention | null = null
  try {
    const a = decode(bytes)
    if (Array.isArray(a) && a.length === 8 && typeof a[4] === 'boolean' && typeof a[5] === 'boolean' &&
      Number.isSafeInteger(a[2]) && Number.isSafeInteger(a[3])) {
      const until = a[0] === null ? null : { sec: a[0] as number, nsec: a[1] as number }
      r = { until, since: { sec: a[2] as number, nsec: a[3] as number }, hold: a[4], open: a[5], untilBy: setBy(a[6]), holdBy: setBy(a[7]) }
    }
  } catch {
    r = null
  }
  cache.set(bytes, r)
  return r
}

export function volumeRetentionOf(root: InodeVersion): VolumeRetention | null {
  const bytes = root.xattrs.get(VOLUME_RETENTION_XATTR)
  if (bytes === undefined) return null
  try {
    const a = decode(bytes)
    if (!Array.isArray(a) || a.length !== 6 || (a[0] !== 'governance' && a[0] !== 'compliance') || !Array.isArray(a[2])) return null
    const governors = (a[2] as unknown[]).filter((g): g is Pid => typeof g === 'string' && isPid(g))
    return { mode: a[0], defaultSec: a[1] as number, governors, since: { sec: a[3] as number, nsec: a[4] as number }, by: setBy(a[5])! }
  } catch {
    return null
  }
}

// ---------------------------------------------------------------------------------------------
// The protection rule.

/** Whether a record protects its inode for an op of time `t`: a hold always; a period while
 *  `until` is later than max(t, since) — a false early time cannot go behind `since`. */
export function recordActive(r: Retention | null, t: FsTime): boolean {
  if (r === null || r.open) return false
  if (r.hold) return true
  return r.until !== null && timeCmp(r.until, maxTime(t, r.since)) > 0
}

/** What the rule needs of the state: versions and parents of live inodes (kept abstract so that
 *  the checker can ask it of a snapshot as well as of the current state). */
export interface Tree {
  version(ino: number): InodeVersion | undefined
  parents(ino: number): Iterable<number>
}

/** Whether `ino` is protected for an op of time `t`: its own record, or (unless its own record
 *  is open) a record of any directory above any of its names. Bounded by the tree's depth times
 *  its names; the walk stops at the root. */
export function isProtected(tree: Tree, ino: number, t: FsTime): boolean {
  const v = tree.version(ino)
  if (v === undefined) return false
  const own = retentionOf(v)
  if (own?.open === true) return false
  if (recordActive(own, t)) return true
  const seen = new Set<number>([ino])
  const stack = [...tree.parents(ino)]
  while (stack.length > 0) {
    const d = stack.pop()!
    if (seen.has(d)) continue
    seen.add(d)
    const dv = tree.version(d)
    if (dv !== undefined && recordActive(retentionOf(dv), t)) return true
    if (d !== ROOT_INO) stack.push(...tree.parents(d))
  }
  return false
}

/** Whether a new node made in `parent` at time `t` is born protected, and the record it gets:
 *  regular files get an open record (one write allowed) when the volume has a default period or
 *  the directory is protected; other nodes are protected by their directory alone. */
export function recordForNewFile(tree: Tree, parent: number, t: FsTime, epoch: Epoch, author: Pid): Retention | null {
  const cfg = volumeRetentionOf(tree.version(ROOT_INO)!)
  const inProtected = isProtected(tree, parent, t)
  if ((cfg === null || cfg.defaultSec === 0) && !inProtected) return null
  const since = cfg === null ? t : maxTime(t, cfg.since)
  // Clamped: a claimed time near the largest safe second must not make an unsafe one.
  const until = cfg === null || cfg.defaultSec === 0 ? null : { sec: Math.min(since.sec + cfg.defaultSec, Number.MAX_SAFE_INTEGER), nsec: since.nsec }
  return { until, since, hold: false, open: true, untilBy: until === null ? null : author, holdBy: null }
}

// ---------------------------------------------------------------------------------------------
// The retention ops' decisions (state.ts resolves the path and writes the new record).

const ownerOrRoot = (v: InodeVersion, cred: Cred): boolean => cred.uid === 0 || cred.uid === v.uid

export interface RetainArgs {
  readonly until: FsTime
  readonly override: boolean
  readonly time: FsTime
  readonly cred: Cred
  readonly author: Pid
  readonly epoch: Epoch
}

const mayOverride = (cfg: VolumeRetention | null, author: Pid): boolean =>
  cfg !== null && cfg.mode === 'governance' && cfg.governors.includes(author)

/** `retain`: the new record of the inode at the path, or the errno (order: EPERM owner-or-root,
 *  EPERM override not permitted, EPERM shortening, EINVAL a period that is already over). */
export function retain(v: InodeVersion, root: InodeVersion, a: RetainArgs): { ok: true; record: Retention } | { ok: false; errno: Errno } {
  if (!ownerOrRoot(v, a.cred)) return { ok: false, errno: 'EPERM' }
  const cfg = volumeRetentionOf(root)
  if (a.override && !mayOverride(cfg, a.author)) return { ok: false, errno: 'EPERM' }
  const old = retentionOf(v)
  const since = old === null ? a.time : maxTime(old.since, a.time)
  if (!a.override) {
    if (old?.until != null && timeCmp(a.until, old.until) < 0) return { ok: false, errno: 'EPERM' }
    if (timeCmp(a.until, since) <= 0) return { ok: false, errno: 'EINVAL' }
  }
  return {
    ok: true,
    record: { until: a.until, since, hold: old?.hold ?? false, open: false, untilBy: a.author, holdBy: old?.holdBy ?? null },
  }
}

/** `hold`: on or off, by the owner or root of any member (a legal hold is independent of the
 *  mode, as S3's: it is the litigation switch, not a period). */
export function hold(v: InodeVersion, on: boolean, time: FsTime, cred: Cred, author: Pid, epoch: Epoch): { ok: true; record: Retention } | { ok: false; errno: Errno } {
  if (!ownerOrRoot(v, cred)) return { ok: false, errno: 'EPERM' }
  const old = retentionOf(v)
  const since = old === null ? time : maxTime(old.since, time)
  return {
    ok: true,
    record: { until: old?.until ?? null, since, hold: on, open: on ? false : old?.open ?? false, untilBy: old?.untilBy ?? null, holdBy: author },
  }
}

export interface ConfigArgs {
  readonly mode: RetentionMode
  readonly defaultSec: number
  readonly governors: readonly Pid[]
  readonly time: FsTime
  readonly cred: Cred
  readonly author: Pid
  readonly epoch: Epoch
}

/** `retention-config`: root only (EPERM); compliance lists no governors (EINVAL); a first
 *  configuration is free; then governance may be changed by a governor only, compliance never
 *  back to governance, never to a shorter default, and governance->compliance is final (EPERM). */
export function configure(root: InodeVersion, a: ConfigArgs): { ok: true; config: VolumeRetention } | { ok: false; errno: Errno } {
  if (a.cred.uid !== 0) return { ok: false, errno: 'EPERM' }
  if (a.mode === 'compliance' && a.governors.length > 0) return { ok: false, errno: 'EINVAL' }
  const old = volumeRetentionOf(root)
  if (old !== null) {
    if (old.mode === 'governance' && !old.governors.includes(a.author)) return { ok: false, errno: 'EPERM' }
    if (old.mode === 'compliance' && (a.mode !== 'compliance' || a.defaultSec < old.defaultSec)) return { ok: false, errno: 'EPERM' }
  }
  const since = old === null ? a.time : maxTime(old.since, a.time)
  return { ok: true, config: { mode: a.mode, defaultSec: a.defaultSec, governors: a.governors, since, by: a.author } }
}
