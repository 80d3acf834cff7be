// Executable checkers of FS-14 (nothing changes a retained or held object) and FS-15 (retention
// only grows), over the whole past of one replica. The simulator runs them after every step.
import type { FsState } from './state.ts'
import type { InodeVersion, Violation } from './types.ts'
import { ROOT_INO } from './types.ts'
import {
  recordActive, retentionOf, RETENTION_XATTR, timeCmp, volumeRetentionOf, VOLUME_RETENTION_XATTR, type Retention,
} from './retention.ts'

const RETENTION_KINDS = new Set(['retain', 'hold', 'retention-config'])

/** Same version but for the two retention records (times, content, names, xattrs, liveness). */
function sameDocument(p: InodeVersion, v: InodeVersion): boolean {
  if (p.kind !== v.kind || p.mode !== v.mode || p.uid !== v.uid || p.gid !== v.gid || p.size !== v.size ||
    p.rdev !== v.rdev || p.target !== v.target || p.deleted !== v.deleted || p.blocks !== v.blocks ||
    timeCmp(p.atime, v.atime) !== 0 || timeCmp(p.mtime, v.mtime) !== 0 || timeCmp(p.ctime, v.ctime) !== 0) return false
  if (p.kind !== 'dir' && p.nlink !== v.nlink) return false
  const names = (x: InodeVersion) => [...x.xattrs.keys()].filter((k) => k !== RETENTION_XATTR && k !== VOLUME_RETENTION_XATTR).sort()
  const a = names(p)
  const b = names(v)
  if (a.length !== b.length) return false
  return a.every((k, i) => k === b[i] && equalBytes(p.xattrs.get(k)!, v.xattrs.get(k)!))
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** A directory under its own record may gain names (an archive grows) and so its nlink, mtime
 *  and ctime move; nothing else of it may change. */
function dirOnlyGrew(p: InodeVersion, v: InodeVersion): boolean {
  return sameDocument({ ...p, nlink: v.nlink, mtime: v.mtime, ctime: v.ctime }, v)
}

/** FS-14 and FS-15 over every version of every inode that ever had a retention record. The
 *  time of a changing op is its version's ctime (every changing op of a file sets it to the op's
 *  time; a directory's is at least that, which can only make the check more lenient, never
 *  report a permitted op). Checks each inode's own record; protection inherited from a
 *  directory above is checked by test/fs-retention.test.ts. */
export function checkRetentionInvariants(fs: FsState): Violation[] {
  const out: Violation[] = []
  let any = false
  for (let e = fs.baseEpoch + 1; e <= fs.epoch && !any; e++) any = RETENTION_KINDS.has(fs.past.logLine(e)?.kind ?? '')
  if (!any) return out
  const rootVersions = fs.past.versions(ROOT_INO)
  const configBefore = (epoch: number) => {
    let found: InodeVersion | undefined
    for (const r of rootVersions) if (r.epoch < epoch) found = r
    return found === undefined ? null : volumeRetentionOf(found)
  }
  for (const ino of fs.past.everInodes()) {
    const versions = fs.past.versions(ino)
    for (let i = 1; i < versions.length; i++) {
      const p = versions[i - 1]!
      const v = versions[i]!
      const rp = retentionOf(p)
      const line = fs.past.logLine(v.epoch)
      const kind = line?.kind ?? ''
      if (rp !== null && !RETENTION_KINDS.has(kind) && recordActive(rp, v.ctime)) {
        const ok = p.kind === 'dir' ? dirOnlyGrew(p, v) : sameDocument(p, v)
        if (!ok) out.push({ id: 'FS-14', message: `inode ${ino} ${v.deleted ? 'deleted' : 'changed'} at epoch ${v.epoch} by ${kind} while under ${rp.hold ? 'a legal hold' : `retention until ${rp.until!.sec}`}` })
      }
      if (RETENTION_KINDS.has(kind) && !sameDocument(p, v)) out.push({ id: 'FS-14', message: `inode ${ino}: the ${kind} at epoch ${v.epoch} changed more than the retention record` })
      const rv = retentionOf(v)
      if (rp !== null) out.push(...shrinks(ino, v.epoch, rp, rv, kind, line?.author, configBefore(v.epoch)))
      if (ino === ROOT_INO) {
        const cp = volumeRetentionOf(p)
        const cv = volumeRetentionOf(v)
        if (cp !== null && cp.mode === 'compliance' && (cv === null || cv.mode !== 'compliance' || cv.defaultSec < cp.defaultSec)) {
          out.push({ id: 'FS-15', message: `epoch ${v.epoch}: a compliance volume's configuration was weakened` })
        }
      }
    }
  }
  return out
}

function shrinks(ino: number, epoch: number, rp: Retention, rv: Retention | null, kind: string, author: string | undefined,
  cfg: ReturnType<typeof volumeRetentionOf>): Violation[] {
  const out: Violation[] = []
  const governor = kind === 'retain' && cfg !== null && cfg.mode === 'governance' && author !== undefined && cfg.governors.includes(author as never)
  if (rp.until !== null && (rv === null || rv.until === null || timeCmp(rv.until, rp.until) < 0) && !governor) {
    out.push({ id: 'FS-15', message: `inode ${ino}: retention until ${rp.until.sec} shortened at epoch ${epoch} by ${kind}${author !== undefined ? ` of ${author.slice(0, 8)}` : ''}` })
  }
  if (rp.hold && (rv === null || !rv.hold) && kind !== 'hold') out.push({ id: 'FS-15', message: `inode ${ino}: legal hold dropped at epoch ${epoch} by ${kind}` })
  if (rv !== null && timeCmp(rv.since, rp.since) < 0) out.push({ id: 'FS-15', message: `inode ${ino}: the record's time went back at epoch ${epoch}` })
  return out
}

/** What verify reports of a volume's retention state at time `now` (the auditor's clock: a
 *  report, not a rule). Walks the live inodes once. */
export interface RetentionSummary {
  readonly mode: 'governance' | 'compliance' | null
  readonly defaultSec: number
  readonly governors: number
  /** Objects with a period still running at `now` (a directory counts once for its subtree). */
  readonly retained: number
  readonly held: number
  /** Periods that ended (the objects may change again unless held or below a protected directory). */
  readonly expired: number
  readonly open: number
  readonly latestUntilSec: number | null
}

export function retentionSummary(fs: FsState, now: { sec: number; nsec: number }): RetentionSummary {
  let retained = 0
  let held = 0
  let expired = 0
  let open = 0
  let latest: number | null = null
  for (const rec of fs.inodes.values()) {
    const r = retentionOf(rec.cur)
    if (r === null) continue
    if (r.hold) held++
    if (r.open) open++
    if (r.until !== null) {
      if (timeCmp(r.until, now) > 0) retained++
      else expired++
      latest = latest === null ? r.until.sec : Math.max(latest, r.until.sec)
    }
  }
  const cfg = volumeRetentionOf(fs.inodes.get(ROOT_INO)!.cur)
  return { mode: cfg?.mode ?? null, defaultSec: cfg?.defaultSec ?? 0, governors: cfg?.governors.length ?? 0, retained, held, expired, open, latestUntilSec: latest }
}

/** Changes of objects that had a retention record, made by ops whose claimed time is later than
 *  `now` plus `slackSec`: the one thing a false time can do (claim a time after a period's end to
 *  change a document early, spec/fs.md "False times") leaves this trace while the auditor's clock
 *  is still before that claimed time. A report for verify; the core's rule cannot use a clock. */
export function futureTimedChanges(fs: FsState, now: { sec: number; nsec: number }, slackSec: number): Violation[] {
  const out: Violation[] = []
  let any = false
  for (let e = fs.baseEpoch + 1; e <= fs.epoch && !any; e++) any = RETENTION_KINDS.has(fs.past.logLine(e)?.kind ?? '')
  if (!any) return out
  const limit = { sec: now.sec + slackSec, nsec: now.nsec }
  for (const ino of fs.past.everInodes()) {
    const versions = fs.past.versions(ino)
    for (let i = 1; i < versions.length; i++) {
      const p = versions[i - 1]!
      const v = versions[i]!
      if (retentionOf(p) === null || timeCmp(v.ctime, limit) <= 0) continue
      const line = fs.past.logLine(v.epoch)
      if (RETENTION_KINDS.has(line?.kind ?? '')) continue
      out.push({ id: 'FS-14', message: `inode ${ino} ${v.deleted ? 'deleted' : 'changed'} at epoch ${v.epoch} by ${line?.kind ?? '?'} of ${line?.author ?? '?'} with a claimed time ${v.ctime.sec} later than the auditor's clock ${now.sec}: a false time may have ended its retention early` })
    }
  }
  return out
}
