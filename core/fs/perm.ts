// Who may do what (spec/fs.md "Who may do what"): the Linux VFS permission rules as a local
// ext4/tmpfs applies them, as pure functions of an inode's mode/uid/gid and the caller's cred.
// Names follow the kernel's (generic_permission, may_create, may_delete, check_sticky,
// may_linkat, setattr_prepare, setattr_should_drop_suidgid, xattr_permission, mode_strip_sgid),
// so each rule can be compared with fs/namei.c, fs/attr.c, fs/xattr.c and fs/inode.c.
// Also the executable checker of FS-12 and FS-13 over a state.
import type { Pid } from '../types.ts'
import { isPid } from '../types.ts'
import type { FsState } from './state.ts'
import type { Cred, Errno, NodeKind, Violation } from './types.ts'
import { ID_MAX } from './ops.ts'
import { GROUPS_MAX, PERM_MASK, S_ISGID, S_ISUID, S_ISVTX, S_IXGRP } from './types.ts'

export const MAY_EXEC = 1
export const MAY_WRITE = 2
export const MAY_READ = 4

/** What the rules need to know of an inode. */
export interface Owned {
  readonly kind: NodeKind
  readonly mode: number
  readonly uid: number
  readonly gid: number
}

/** uid 0 has the capabilities that matter here (DAC override, FOWNER, CHOWN, FSETID, MKNOD,
 *  SYS_ADMIN); nobody else has any. */
export function isRoot(cred: Cred): boolean {
  return cred.uid === 0
}

/** in_group_p: the primary gid or one of the supplementary groups. */
export function inGroup(cred: Cred, gid: number): boolean {
  if (cred.gid === gid) return true
  const groups = cred.groups
  if (groups === undefined) return false
  let lo = 0
  let hi = groups.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const g = groups[mid]!
    if (g === gid) return true
    if (g < gid) lo = mid + 1
    else hi = mid - 1
  }
  return false
}

/** inode_owner_or_capable: the owner, or root (CAP_FOWNER). */
export function ownerOrRoot(v: Owned, cred: Cred): boolean {
  return v.uid === cred.uid || isRoot(cred)
}

/** in_group_or_capable: a member of `gid`, or root (CAP_FSETID). */
function inGroupOrRoot(cred: Cred, gid: number): boolean {
  return inGroup(cred, gid) || isRoot(cred)
}

/** generic_permission: the owner class if the caller owns the inode, else the group class if he
 *  is in its group, else the other class (one class only, never the best of them); then root's
 *  override: read and write always, execute/search only on a directory or when some x bit is set. */
export function permits(v: Owned, cred: Cred, mask: number): boolean {
  if (isRoot(cred)) {
    if ((mask & MAY_EXEC) === 0 || v.kind === 'dir') return true
    return (v.mode & 0o111) !== 0
  }
  const bits = v.uid === cred.uid ? (v.mode >> 6) & 7 : inGroup(cred, v.gid) ? (v.mode >> 3) & 7 : v.mode & 7
  return (bits & mask) === mask
}

/** may_lookup: search permission on a directory a path walks through. */
export function mayLookup(dir: Owned, cred: Cred): Errno | null {
  return permits(dir, cred, MAY_EXEC) ? null : 'EACCES'
}

/** may_create: write and search permission on the parent directory. */
export function mayCreate(dir: Owned, cred: Cred): Errno | null {
  return permits(dir, cred, MAY_WRITE | MAY_EXEC) ? null : 'EACCES'
}

/** check_sticky: in a sticky directory only the entry's owner, the directory's owner or root
 *  may remove or replace an entry. */
export function stickyDenies(dir: Owned, victim: Owned, cred: Cred): boolean {
  if ((dir.mode & S_ISVTX) === 0) return false
  return victim.uid !== cred.uid && dir.uid !== cred.uid && !isRoot(cred)
}

/** may_delete (its permission part): write and search on the directory (EACCES), then the
 *  sticky rule (EPERM). The kind checks (EISDIR/ENOTDIR) stay with the op. */
export function mayDelete(dir: Owned, victim: Owned, cred: Cred): Errno | null {
  if (!permits(dir, cred, MAY_WRITE | MAY_EXEC)) return 'EACCES'
  if (stickyDenies(dir, victim, cred)) return 'EPERM'
  return null
}

/** may_linkat with fs.protected_hardlinks = 1: the source's owner and root link anything; anybody
 *  else only a regular file that is not setuid, not setgid-and-group-executable, and that he may
 *  read and write (safe_hardlink_source). */
export function mayLink(src: Owned, cred: Cred): Errno | null {
  if (ownerOrRoot(src, cred)) return null
  if (src.kind !== 'file') return 'EPERM'
  if ((src.mode & S_ISUID) !== 0) return 'EPERM'
  if ((src.mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP)) return 'EPERM'
  if (!permits(src, cred, MAY_READ | MAY_WRITE)) return 'EPERM'
  return null
}

/** setattr_should_drop_sgid: S_ISGID goes when the group may execute, or (a "mandatory locking"
 *  S_ISGID without S_IXGRP) when the caller is neither in the file's group nor root. */
function shouldDropSgid(v: Owned, cred: Cred): boolean {
  if ((v.mode & S_ISGID) === 0) return false
  if ((v.mode & S_IXGRP) !== 0) return true
  return !inGroupOrRoot(cred, v.gid)
}

/** `v`'s mode without S_ISUID, and without S_ISGID when shouldDropSgid says so. */
function withoutSetIds(v: Owned, cred: Cred): number {
  const mode = v.mode & ~S_ISUID
  return shouldDropSgid(v, cred) ? mode & ~S_ISGID : mode
}

/** The mode after chown(2) on `v` (chown_common: ATTR_KILL_SUID and setattr_should_drop_sgid
 *  for non-directories, for every caller, root included). */
export function modeAfterChown(v: Owned, cred: Cred): number {
  return v.kind === 'dir' ? v.mode : withoutSetIds(v, cred)
}

/** The mode after a write or truncate by `cred` (file_remove_privs ->
 *  setattr_should_drop_suidgid: only for regular files and callers without CAP_FSETID). */
export function modeAfterWrite(v: Owned, cred: Cred): number {
  return v.kind !== 'file' || isRoot(cred) ? v.mode : withoutSetIds(v, cred)
}

/** chown: setattr_prepare's chown_ok and chgrp_ok, then the mode change's owner check.
 *  Returns the new [uid, gid, mode] or the errno. */
export function chownResult(v: Owned, cred: Cred, uid: number, gid: number): { ok: true; uid: number; gid: number; mode: number } | { ok: false; errno: Errno } {
  const owner = v.uid === cred.uid
  const root = isRoot(cred)
  // chown_ok: the owner may "change" the uid to itself; only root to anything else.
  if (uid !== -1 && !root && !(owner && uid === v.uid)) return { ok: false, errno: 'EPERM' }
  // chgrp_ok: the owner may set the gid to the current one or a group he is in; root anything.
  if (gid !== -1 && !root && !(owner && (gid === v.gid || inGroup(cred, gid)))) return { ok: false, errno: 'EPERM' }
  const mode = modeAfterChown(v, cred)
  // Clearing S_ISUID/S_ISGID is a mode change: only the owner or root (inode_owner_or_capable).
  if (mode !== v.mode && !owner && !root) return { ok: false, errno: 'EPERM' }
  return { ok: true, uid: uid === -1 ? v.uid : uid, gid: gid === -1 ? v.gid : gid, mode }
}

/** chmod: the owner or root (setattr_prepare), S_ISGID dropped for a non-root caller outside the
 *  file's group. A chmod that only clears S_ISUID/S_ISGID is what the kernel sends for a writer
 *  (FUSE's "kill privileges"), so it is allowed to anyone with write permission. */
export function chmodResult(v: Owned, cred: Cred, requested: number): { ok: true; mode: number } | { ok: false; errno: Errno } {
  const typeBits = v.mode & ~PERM_MASK
  let perm = requested & PERM_MASK
  const old = v.mode & PERM_MASK
  if (ownerOrRoot(v, cred)) {
    if (!inGroupOrRoot(cred, v.gid)) perm &= ~S_ISGID
    return { ok: true, mode: typeBits | perm }
  }
  const onlyClears = perm !== old && (perm | (old & (S_ISUID | S_ISGID))) === old
  if (onlyClears && permits(v, cred, MAY_WRITE)) return { ok: true, mode: typeBits | perm }
  return { ok: false, errno: 'EPERM' }
}

/** utimensat: both 'now' (ATTR_TOUCH) needs the owner, root or write permission (EACCES); any
 *  other change (ATTR_TIMES_SET: a given time, or one 'now' with one 'omit') the owner or root
 *  (EPERM). Both 'omit' never gets here. */
export function utimensCheck(v: Owned, cred: Cred, bothNow: boolean): Errno | null {
  if (ownerOrRoot(v, cred)) return null
  if (!bothNow) return 'EPERM'
  return permits(v, cred, MAY_WRITE) ? null : 'EACCES'
}

/** xattr_permission for writing (setxattr, removexattr) plus the capability rule for
 *  security.* (cap_inode_setxattr): trusted.* and security.* root only (EPERM); user.* only on
 *  regular files and directories (EPERM), on a sticky directory only by its owner or root
 *  (EPERM), and with write permission (EACCES); system.* no rule (the volume then refuses it);
 *  any other name write permission (EACCES), before the volume refuses its namespace. */
export function xattrWriteCheck(v: Owned, cred: Cred, name: string): Errno | null {
  if (name.startsWith('trusted.') || name.startsWith('security.')) return isRoot(cred) ? null : 'EPERM'
  if (name.startsWith('user.')) {
    if (v.kind !== 'file' && v.kind !== 'dir') return 'EPERM'
    if (v.kind === 'dir' && (v.mode & S_ISVTX) !== 0 && !ownerOrRoot(v, cred)) return 'EPERM'
    return permits(v, cred, MAY_WRITE) ? null : 'EACCES'
  }
  // system.* is left to the file system (which refuses it: no ACLs); any other name needs write
  // permission before the file system refuses its unknown namespace (xattrNamespaceCheck).
  if (name.startsWith('system.')) return null
  return permits(v, cred, MAY_WRITE) ? null : 'EACCES'
}

/** inode_init_owner and mode_strip_sgid: the new node's gid and mode. In a setgid directory the
 *  node takes the directory's gid and a new directory S_ISGID; a new non-directory with S_ISGID
 *  and S_IXGRP loses S_ISGID unless its creator is in that group or root. */
export function newNodeOwner(parent: Owned, cred: Cred, kind: NodeKind, mode: number): { gid: number; mode: number } {
  if ((parent.mode & S_ISGID) === 0) return { gid: cred.gid, mode }
  if (kind === 'dir') return { gid: parent.gid, mode: mode | S_ISGID }
  if ((mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && !inGroupOrRoot(cred, parent.gid)) return { gid: parent.gid, mode: mode & ~S_ISGID }
  return { gid: parent.gid, mode }
}

// ---------------------------------------------------------------------------------------------
// Executable checker of FS-12 (a denied op changed nothing) and FS-13 (attribution).

/** FS-12: no inode version and no name event carries the epoch of a denied (EACCES/EPERM) op —
 *  checked over the whole history, so it holds for every op ever applied to this replica.
 *  FS-13: every log line names a well-formed author, uid and gid (and groups, client). */
export function checkPermInvariants(fs: FsState): Violation[] {
  const out: Violation[] = []
  const denied = new Set<number>()
  for (let i = 0; i < fs.past.logLength; i++) {
    const epoch = fs.baseEpoch + i + 1
    const line = fs.past.logLine(epoch)!
    if (line.errno === 'EACCES' || line.errno === 'EPERM') denied.add(epoch)
    const what = `log line of epoch ${epoch}`
    if (!isPid(line.author)) out.push({ id: 'FS-13', message: `${what}: author ${JSON.stringify(line.author)} is not a node id` })
    if (!isId(line.uid) || !isId(line.gid)) out.push({ id: 'FS-13', message: `${what}: uid ${line.uid} / gid ${line.gid} out of range` })
    if (line.groups !== undefined && !isGroups(line.groups)) out.push({ id: 'FS-13', message: `${what}: groups not a non-empty ascending list of ids` })
    if (line.client !== undefined && !isPid(line.client as Pid)) out.push({ id: 'FS-13', message: `${what}: client ${JSON.stringify(line.client)} is not a node id` })
  }
  if (denied.size === 0) return out
  // Every inode ever, deleted ones too (they are only in the past); only directories have names.
  for (const ino of fs.past.everInodes()) {
    for (const v of fs.past.versions(ino)) if (denied.has(v.epoch)) out.push({ id: 'FS-12', message: `inode ${ino} changed at epoch ${v.epoch}, whose op was denied` })
    for (const [name, hist] of fs.past.names(ino)) {
      for (const e of hist) if (denied.has(e.epoch)) out.push({ id: 'FS-12', message: `directory ${ino}: name ${JSON.stringify(name)} changed at epoch ${e.epoch}, whose op was denied` })
    }
  }
  return out
}

function isId(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= ID_MAX
}

function isGroups(groups: readonly number[]): boolean {
  if (groups.length === 0 || groups.length > GROUPS_MAX) return false
  return groups.every((g, i) => isId(g) && (i === 0 || g > groups[i - 1]!))
}
