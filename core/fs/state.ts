// The file system state and its reducer: applyOp(fs, op, ctx) mutates fs in place.
// Every change makes a new immutable inode version stamped with the op's epoch (history), and
// invalidates the cached Merkle hashes of the changed inodes and their ancestors.
// Rule for every op: all checks first, then the mutation; a failed op changes nothing but the
// epoch counter and the log. See spec/fs.md for the errno order of each op.
import type { Crypto } from '../crypto.ts'
import type { ChunkHash, Epoch } from '../types.ts'
import { assert } from '../types.ts'
import type { FsOp, UtimeSpec } from './ops.ts'
import type { BlockChange } from './blocks.ts'
import { BlockTree } from './blocks.ts'
import type { DirTree } from './dirtree.ts'
import { HashCache } from './hashcache.ts'
import { MemoryFsPast, type FsPast } from './past.ts'
import { checkName, FS_PATH_MAX_BYTES, isWellFormed, parsePath, utf8Length } from './paths.ts'
import {
  chmodResult, chownResult, isRoot, mayCreate, mayDelete, mayLink, mayLookup, MAY_WRITE, modeAfterWrite, newNodeOwner,
  permits, utimensCheck, xattrWriteCheck,
} from './perm.ts'
import type {
  ApplyCtx, Cred, Errno, FsResult, FsTime, InodeRec, InodeVersion, LogLine, NodeKind,
} from './types.ts'
import { EMPTY_XATTRS, InodeRecord } from './types.ts'
import {
  configure, encodeRetention, encodeVolumeRetention, hold, isProtected, recordForNewFile, retain, retentionOf, timeCmp,
  RETENTION_XATTR, VOLUME_RETENTION_XATTR, type Retention, type Tree,
} from './retention.ts'
import {
  BLOCK_SIZE, LINK_MAX, MAX_FILE_SIZE, PATH_MAX_BYTES, PERM_MASK, ROOT_INO, S_IFBLK, S_IFCHR, S_IFDIR,
  S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, XATTR_CREATE, XATTR_NAME_MAX_BYTES, XATTR_REPLACE,
  XATTR_VALUE_MAX_BYTES,
} from './types.ts'

export interface FsState {
  readonly crypto: Crypto
  /** Epoch of the last applied op (baseEpoch when none). */
  epoch: Epoch
  /** Epoch of the initial tree (0 for createFs, the image's epoch for importTree). */
  readonly baseEpoch: Epoch
  /** Every live inode with its current version; a deleted inode leaves (its versions, the
   *  tombstone last, stay in the past). */
  readonly inodes: Map<number, InodeRec>
  /** Every version, name history and log line (core/fs/past.ts): written by applyOp, read by
   *  history queries, snapshots and checkers, and by an op only for the ino rule (FS-6). */
  readonly past: FsPast
  /** Cached Merkle hashes of current inodes. Invariant: a cached dir has all its children cached. */
  readonly hashCache: HashCache
  /** Entry trees of current directories (volatile, built on a directory's first hash, then kept
   *  up to date by bind/unbind and invalidate). Invariant: an uncached child's leaves are dirty. */
  readonly dirTrees: Map<number, DirTree>
  /** Inodes whose record changed since the last tree image took them (spec/checkpoint.md "The
   *  tree image"): the next image's contents. Emptied by core/volume/image.ts imageRecord. */
  readonly dirty: Set<number>
}

const ZERO_TIME: FsTime = { sec: 0, nsec: 0 }

export interface RootOptions {
  readonly mode?: number
  readonly uid?: number
  readonly gid?: number
  readonly time?: FsTime
}

export function newVersion(epoch: Epoch, kind: NodeKind, fields: Partial<InodeVersion>): InodeVersion {
  return versionWith({
    epoch, kind, mode: 0, uid: 0, gid: 0, size: 0, nlink: 1, atime: ZERO_TIME, mtime: ZERO_TIME, ctime: ZERO_TIME,
    rdev: 0, xattrs: EMPTY_XATTRS, blocks: BlockTree.EMPTY, target: '', deleted: false,
  }, fields, epoch)
}

/** `v` with `patch` applied, at `epoch`: one object literal of every field, so that each version
 *  has its fields in the object itself (an object spread gave every version an out-of-object
 *  property array: ~110 bytes more per live inode). A patch never sets a field to undefined. */
function versionWith(v: InodeVersion, patch: Partial<InodeVersion>, epoch: Epoch): InodeVersion {
  return {
    epoch, kind: patch.kind ?? v.kind, mode: patch.mode ?? v.mode, uid: patch.uid ?? v.uid, gid: patch.gid ?? v.gid,
    size: patch.size ?? v.size, nlink: patch.nlink ?? v.nlink, atime: patch.atime ?? v.atime, mtime: patch.mtime ?? v.mtime,
    ctime: patch.ctime ?? v.ctime, rdev: patch.rdev ?? v.rdev, xattrs: patch.xattrs ?? v.xattrs, blocks: patch.blocks ?? v.blocks,
    target: patch.target ?? v.target, deleted: patch.deleted ?? v.deleted,
  }
}

/** A new inode's record; its first version goes to the past as well (callers: `past.putVersion`). */
export function newInodeRec(ino: number, first: InodeVersion): InodeRec {
  const dir = first.kind === 'dir'
  return new InodeRecord(ino, first, dir ? new Map() : null)
}

/** The default mode of a volume's root: like /tmp, every user may make entries in it, and only
 *  an entry's owner (or root) may remove or rename it (sticky). A volume is shared by the users
 *  of all member nodes and has no administrator step that could hand its root to one of them. */
export const DEFAULT_ROOT_MODE = 0o1777

/** A fresh volume: only the root directory (ino 1) at epoch 0. */
export function createFs(crypto: Crypto, root: RootOptions = {}, past: FsPast = new MemoryFsPast(0)): FsState {
  const t = root.time ?? ZERO_TIME
  const v = newVersion(0, 'dir', {
    mode: S_IFDIR | ((root.mode ?? DEFAULT_ROOT_MODE) & PERM_MASK), uid: root.uid ?? 0, gid: root.gid ?? 0, nlink: 2,
    atime: t, mtime: t, ctime: t,
  })
  const inodes = new Map<number, InodeRec>([[ROOT_INO, newInodeRec(ROOT_INO, v)]])
  past.putVersion(ROOT_INO, v)
  return { crypto, epoch: 0, baseEpoch: 0, inodes, past, hashCache: new HashCache(inodes), dirTrees: new Map(), dirty: new Set(inodes.keys()) }
}

export function currentVersion(fs: FsState, ino: number): InodeVersion | undefined {
  const rec = fs.inodes.get(ino)
  if (rec === undefined) return undefined
  const v = rec.cur
  return v.deleted ? undefined : v
}

/** The parent of a live directory (the root is its own parent). */
export function dirParent(fs: FsState, ino: number): number {
  if (ino === ROOT_INO) return ROOT_INO
  const rec = fs.inodes.get(ino)
  assert(rec !== undefined, `dirParent: no inode ${ino}`)
  for (const p of rec.parents.keys()) return p
  assert(false, `dirParent: directory ${ino} has no parent`)
}

/** Invalidates the cached hash of ino and of every ancestor, and marks ino's leaves in its
 *  parents' entry trees dirty (stops where nothing is cached, because an uncached node never has
 *  a cached ancestor, and its leaves were marked when it lost its hash). */
export function invalidate(fs: FsState, ino: number): void {
  const stack = [ino]
  while (stack.length > 0) {
    const i = stack.pop()!
    if (!fs.hashCache.delete(i)) continue
    const rec = fs.inodes.get(i)
    if (rec === undefined) continue
    for (const p of rec.parents.keys()) {
      fs.dirTrees.get(p)?.markDirty(i)
      stack.push(p)
    }
  }
}

type Res<T> = { ok: true; value: T } | { ok: false; errno: Errno }
const err = (errno: Errno): { ok: false; errno: Errno } => ({ ok: false, errno })

/** One op's mutation context: copy-on-write of inode versions, once per epoch. */
class Tx {
  readonly touched = new Set<number>()
  constructor(readonly fs: FsState, readonly epoch: Epoch, readonly ctx: ApplyCtx) {}

  private treeView: Tree | undefined

  /** The current state as the retention rule reads it (core/fs/retention.ts). One per Tx: it
   *  reads `fs` live, and making its two closures on every guard was measurable (tsx keeps
   *  function names: a defineProperty per closure). */
  tree(): Tree {
    const fs = this.fs
    return (this.treeView ??= { version: (ino) => currentVersion(fs, ino), parents: (ino) => fs.inodes.get(ino)?.parents.keys() ?? [] })
  }

  /** EPERM when `ino` is under retention or a legal hold at the op's time (spec/fs.md
   *  "Retention and legal hold"): checked right after the path resolves, for every caller. */
  guard(ino: number, t: FsTime): { ok: false; errno: Errno } | null {
    return isProtected(this.tree(), ino, this.noLater(t)) ? err('EPERM') : null
  }

  /** The op's time where a later claim would shorten protection (expiry, a record's `since`):
   *  never later than the order's time, when the volume has one (ApplyCtx.orderTime). */
  noLater(t: FsTime): FsTime {
    const o = this.ctx.orderTime
    return o !== undefined && timeCmp(o, t) < 0 ? o : t
  }

  /** The op's time where an earlier claim would shorten protection (a new file's default
   *  period starts): never earlier than the order's time, when the volume has one. */
  noEarlier(t: FsTime): FsTime {
    const o = this.ctx.orderTime
    return o !== undefined && timeCmp(o, t) > 0 ? o : t
  }

  cur(ino: number): InodeVersion {
    const v = currentVersion(this.fs, ino)
    assert(v !== undefined, `Tx.cur: inode ${ino} is not live`)
    return v
  }

  rec(ino: number): InodeRec {
    const rec = this.fs.inodes.get(ino)
    assert(rec !== undefined, `Tx.rec: no inode ${ino}`)
    return rec
  }

  mut(ino: number, patch: Partial<InodeVersion>): void {
    const rec = this.rec(ino)
    const last = rec.cur
    assert(!last.deleted, `Tx.mut: inode ${ino} is not live`)
    const next = versionWith(last, patch, this.epoch)
    rec.cur = next
    this.fs.past.putVersion(ino, next, last)
    this.touched.add(ino)
    this.fs.dirty.add(ino)
  }

  /** A directory's entries changed at `time`. Its mtime and ctime advance to the later of their
   *  value and `time`: concurrent creates in one directory by different authors then commute, so
   *  replicas that apply them in different orders converge (spec/fs.md, "Directory times"). */
  touchDir(ino: number, time: FsTime, patch: Partial<InodeVersion> = {}): void {
    const cur = this.cur(ino)
    this.mut(ino, { mtime: laterOf(cur.mtime, time), ctime: laterOf(cur.ctime, time), ...patch })
  }

  create(ino: number, v: InodeVersion): void {
    assert(!this.fs.inodes.has(ino), `Tx.create: inode ${ino} exists`)
    this.fs.inodes.set(ino, newInodeRec(ino, v))
    this.fs.past.putVersion(ino, v)
    this.touched.add(ino)
    this.fs.dirty.add(ino)
  }

  bind(dir: number, name: string, ino: number): void {
    const d = this.rec(dir)
    assert(d.entries !== null, 'bind: not a directory')
    assert(!d.entries.has(name), `bind: ${name} exists`)
    d.entries.set(name, ino)
    this.fs.dirTrees.get(dir)?.insert(name, ino)
    this.event(d, name, ino)
    const child = this.rec(ino)
    child.parents.set(dir, (child.parents.get(dir) ?? 0) + 1)
    this.touched.add(dir)
    this.fs.dirty.add(dir).add(ino)
  }

  unbind(dir: number, name: string): number {
    const d = this.rec(dir)
    assert(d.entries !== null, 'unbind: not a directory')
    const ino = d.entries.get(name)
    assert(ino !== undefined, `unbind: ${name} absent`)
    // Invalidate before the parent link goes away, so the old ancestors are reached.
    invalidate(this.fs, ino)
    d.entries.delete(name)
    this.fs.dirTrees.get(dir)?.remove(name, ino)
    this.event(d, name, 0)
    const child = this.rec(ino)
    const n = child.parents.get(dir)
    assert(n !== undefined, 'unbind: parent link missing')
    if (n === 1) child.parents.delete(dir)
    else child.parents.set(dir, n - 1)
    this.touched.add(dir)
    this.fs.dirty.add(dir).add(ino)
    return ino
  }

  private event(d: InodeRec, name: string, ino: number): void {
    this.fs.past.putEvent(d.ino, name, { epoch: this.epoch, ino })
  }

  /** Drops one link of a non-directory (or the directory itself); deletes at zero. */
  dropLink(ino: number, time: FsTime): void {
    const v = this.cur(ino)
    if (v.kind === 'dir' || v.nlink <= 1) this.mut(ino, { nlink: 0, ctime: time, deleted: true })
    else this.mut(ino, { nlink: v.nlink - 1, ctime: time })
  }

  finish(): void {
    for (const ino of this.touched) invalidate(this.fs, ino)
    for (const ino of this.touched) {
      const v = currentVersion(this.fs, ino)
      if (v === undefined) {
        // Deleted: its tombstone is in the past (putVersion), the current state keeps live
        // inodes only, so that memory follows the live tree, not everything ever deleted. It
        // stays dirty: the next tree image drops it (null).
        this.fs.hashCache.delete(ino)
        this.fs.dirTrees.delete(ino)
        this.fs.inodes.delete(ino)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Resolution over the current state. With a cred, every directory a lookup happens in needs
// search permission (may_lookup, EACCES), checked after ENOTDIR and before ENOENT of the name;
// without one (write and truncate act on an open file) nothing is checked.

function resolveNames(fs: FsState, names: readonly string[], cred: Cred | null): Res<number> {
  let ino = ROOT_INO
  for (const name of names) {
    const rec = fs.inodes.get(ino)!
    if (rec.entries === null) return err('ENOTDIR')
    if (cred !== null) {
      const denied = mayLookup(currentVersion(fs, ino)!, cred)
      if (denied !== null) return err(denied)
    }
    const next = rec.entries.get(name)
    if (next === undefined) return err('ENOENT')
    ino = next
  }
  return { ok: true, value: ino }
}

interface Slot {
  readonly parent: number
  readonly name: string
  /** The inode at the slot, if any. */
  readonly ino: number | undefined
}

/** Resolves the parent of a path and looks up its last name. '/' has no slot. */
function resolveSlot(fs: FsState, path: string, cred: Cred): Res<Slot | null> {
  const parsed = parsePath(path)
  if (!parsed.ok) return parsed
  const names = parsed.names
  if (names.length === 0) return { ok: true, value: null }
  const parent = resolveNames(fs, names.slice(0, -1), cred)
  if (!parent.ok) return parent
  const rec = fs.inodes.get(parent.value)!
  if (rec.entries === null) return err('ENOTDIR')
  const denied = mayLookup(currentVersion(fs, parent.value)!, cred)
  if (denied !== null) return err(denied)
  const name = names[names.length - 1]!
  return { ok: true, value: { parent: parent.value, name, ino: rec.entries.get(name) } }
}

function resolvePath(fs: FsState, path: string, cred: Cred | null): Res<number> {
  const parsed = parsePath(path)
  if (!parsed.ok) return parsed
  return resolveNames(fs, parsed.names, cred)
}

/** `ino` must have been reached by a path: then it has at most FS_PATH_MAX_BYTES / 2 ancestors
 *  (a name and its '/' take 2 bytes or more), whatever the depth of the tree below it. */
function isSelfOrAncestor(fs: FsState, ancestor: number, ino: number): boolean {
  let cur = ino
  for (let depth = 0; depth <= FS_PATH_MAX_BYTES / 2; depth++) {
    if (cur === ancestor) return true
    if (cur === ROOT_INO) return false
    cur = dirParent(fs, cur)
  }
  assert(false, 'isSelfOrAncestor: parent chain longer than any path')
}

// ---------------------------------------------------------------------------------------------
// The ops.

type Out = FsResult

function newNode(tx: Tx, op: { cred: Cred; time: FsTime; ino: number }, parent: number,
  name: string, kind: NodeKind, fields: Partial<InodeVersion>): Out {
  const p = tx.cur(parent)
  const { gid, mode } = newNodeOwner(p, op.cred, kind, fields.mode ?? 0)
  const t = op.time
  const record = kind === 'file' ? recordForNewFile(tx.tree(), parent, tx.noEarlier(t), tx.epoch, tx.ctx.author) : null
  const born = record === null ? {} : { xattrs: new Map([[RETENTION_XATTR, encodeRetention(record)]]) }
  tx.create(op.ino, newVersion(tx.epoch, kind, {
    uid: op.cred.uid, gid, atime: t, mtime: t, ctime: t, ...fields, mode, ...born,
  }))
  tx.bind(parent, name, op.ino)
  tx.touchDir(parent, t, { nlink: kind === 'dir' ? p.nlink + 1 : p.nlink })
  return { ok: true, ino: op.ino }
}

/** Shared checks of the creating ops after the op's own argument checks: the slot, EEXIST,
 *  may_create (EACCES), mknod of a device by a non-root caller (EPERM, CAP_MKNOD), EMLINK. */
function creatable(fs: FsState, path: string, ino: number, kind: NodeKind, cred: Cred): Res<Slot> {
  const slot = resolveSlot(fs, path, cred)
  if (!slot.ok) return slot
  if (slot.value === null) return err('EEXIST')
  if (slot.value.ino !== undefined) return err('EEXIST')
  // FS-6: an ino that exists or ever existed (its versions are in the past) is never reused.
  if (fs.inodes.has(ino) || fs.past.existedBy(ino, fs.epoch)) return err('EEXIST')
  const parent = currentVersion(fs, slot.value.parent)!
  const denied = mayCreate(parent, cred)
  if (denied !== null) return err(denied)
  if ((kind === 'chr' || kind === 'blk') && !isRoot(cred)) return err('EPERM')
  if (kind === 'dir' && parent.nlink >= LINK_MAX) return err('EMLINK')
  return { ok: true, value: slot.value }
}

/** The namespaces a volume stores (Linux's xattr handlers of ext4 without ACLs: system.* and
 *  unknown prefixes are EOPNOTSUPP; a prefix alone is EINVAL). */
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.']

/** What the syscall checks before it looks the path up. */
function checkXattrName(name: string): Errno | null {
  const n = utf8Length(name)
  if (n === 0 || n > XATTR_NAME_MAX_BYTES) return 'ERANGE'
  if (name.includes('\0') || !isWellFormed(name)) return 'EINVAL'
  return null
}

/** What the file system's xattr handler checks, after the permission checks. */
function xattrNamespaceCheck(name: string): Errno | null {
  const ns = XATTR_NAMESPACES.find((p) => name.startsWith(p))
  if (ns === undefined) return 'EOPNOTSUPP'
  return name.length === ns.length ? 'EINVAL' : null
}

/** New block tree after replacing `listed` and setting `size` (spec/fs.md "Content"). Costs
 *  O(listed x height) new tree nodes, whatever the file's size: nothing beyond the new end is
 *  walked, and untouched subtrees are shared with `old`. */
export function resizeBlocks(old: BlockTree, listed: readonly (readonly [number, ChunkHash | null])[],
  size: number): BlockTree {
  const count = Math.ceil(size / BLOCK_SIZE)
  const cut = size % BLOCK_SIZE
  const last = count - 1
  // A listed block at the new end gets its clipped length right away (one path copy, not two).
  const changes: BlockChange[] = listed.map(([index, hash]) =>
    [index, hash === null ? null : { hash, len: cut !== 0 && index === last ? cut : BLOCK_SIZE }])
  let blocks = old.update(changes).truncate(count)
  if (cut !== 0) {
    const len = blocks.lenAt(last)
    if (len !== undefined && len > cut) blocks = blocks.update([[last, { hash: blocks.get(last)!.hash, len: cut }]])
  }
  return blocks
}

function apply(tx: Tx, op: FsOp): Out {
  const fs = tx.fs
  const t = op.time
  switch (op.type) {
    case 'create': {
      const type = op.mode & S_IFMT
      if (type !== 0 && type !== S_IFREG) return err('EINVAL')
      const slot = creatable(fs, op.path, op.ino, 'file', op.cred)
      if (!slot.ok) return slot
      return newNode(tx, op, slot.value.parent, slot.value.name, 'file', { mode: S_IFREG | (op.mode & PERM_MASK) })
    }
    case 'mkdir': {
      const type = op.mode & S_IFMT
      if (type !== 0 && type !== S_IFDIR) return err('EINVAL')
      const slot = creatable(fs, op.path, op.ino, 'dir', op.cred)
      if (!slot.ok) return slot
      return newNode(tx, op, slot.value.parent, slot.value.name, 'dir', { mode: S_IFDIR | (op.mode & PERM_MASK), nlink: 2 })
    }
    case 'mknod': {
      const type = op.mode & S_IFMT
      let kind: NodeKind
      if (type === 0 || type === S_IFREG) kind = 'file'
      else if (type === S_IFIFO) kind = 'fifo'
      else if (type === S_IFCHR) kind = 'chr'
      else if (type === S_IFBLK) kind = 'blk'
      else if (type === S_IFSOCK) kind = 'sock'
      else if (type === S_IFDIR) return err('EPERM')
      else return err('EINVAL')
      const slot = creatable(fs, op.path, op.ino, kind, op.cred)
      if (!slot.ok) return slot
      const typeBits = kind === 'file' ? S_IFREG : type
      const rdev = kind === 'chr' || kind === 'blk' ? op.rdev : 0
      return newNode(tx, op, slot.value.parent, slot.value.name, kind, { mode: typeBits | (op.mode & PERM_MASK), rdev })
    }
    case 'symlink': {
      if (op.target === '') return err('ENOENT')
      if (op.target.includes('\0') || !isWellFormed(op.target)) return err('EINVAL')
      const size = utf8Length(op.target)
      if (size > PATH_MAX_BYTES) return err('ENAMETOOLONG')
      const slot = creatable(fs, op.path, op.ino, 'symlink', op.cred)
      if (!slot.ok) return slot
      return newNode(tx, op, slot.value.parent, slot.value.name, 'symlink', { mode: S_IFLNK | 0o777, target: op.target, size })
    }
    case 'link': {
      const src = resolvePath(fs, op.from, op.cred)
      if (!src.ok) return src
      const slot = resolveSlot(fs, op.to, op.cred)
      if (!slot.ok) return slot
      if (slot.value === null || slot.value.ino !== undefined) return err('EEXIST')
      const kept = tx.guard(src.value, t)
      if (kept !== null) return kept
      const v = tx.cur(src.value)
      const denied = mayLink(v, op.cred) ?? mayCreate(tx.cur(slot.value.parent), op.cred)
      if (denied !== null) return err(denied)
      if (v.kind === 'dir') return err('EPERM')
      if (v.nlink >= LINK_MAX) return err('EMLINK')
      tx.bind(slot.value.parent, slot.value.name, src.value)
      tx.mut(src.value, { nlink: v.nlink + 1, ctime: t })
      tx.touchDir(slot.value.parent, t)
      return { ok: true, ino: src.value }
    }
    case 'write':
    case 'truncate': {
      if (op.size > MAX_FILE_SIZE) return err('EFBIG')
      // No permission check: the data of an open file (its opener was checked by the kernel).
      const ino = resolvePath(fs, op.path, null)
      if (!ino.ok) return ino
      const kept = tx.guard(ino.value, t)
      if (kept !== null) return kept
      const v = tx.cur(ino.value)
      if (v.kind === 'dir') return err('EISDIR')
      if (v.kind !== 'file') return err('EINVAL')
      const blocks = resizeBlocks(v.blocks, op.type === 'write' ? op.blocks : [], op.size)
      // The first write of a file born under a default or in a protected directory closes it.
      const own = retentionOf(v)
      const closed = op.type === 'write' && own?.open === true ? { xattrs: withRecord(v.xattrs, { ...own, open: false }) } : {}
      tx.mut(ino.value, { size: op.size, blocks, mode: modeAfterWrite(v, op.cred), mtime: t, ctime: t, ...closed })
      return { ok: true }
    }
    case 'unlink': {
      const slot = resolveSlot(fs, op.path, op.cred)
      if (!slot.ok) return slot
      if (slot.value === null) return err('EISDIR')
      const { parent, name, ino } = slot.value
      if (ino === undefined) return err('ENOENT')
      const kept = tx.ctx.mutation === 'retention-unlink' ? null : tx.guard(ino, t)
      if (kept !== null) return kept
      const denied = mayDelete(tx.cur(parent), tx.cur(ino), op.cred)
      if (denied !== null) return err(denied)
      if (tx.cur(ino).kind === 'dir') return err('EISDIR')
      tx.unbind(parent, name)
      tx.dropLink(ino, t)
      tx.touchDir(parent, t)
      return { ok: true }
    }
    case 'rmdir': {
      const slot = resolveSlot(fs, op.path, op.cred)
      if (!slot.ok) return slot
      if (slot.value === null) return err('EBUSY')
      const { parent, name, ino } = slot.value
      if (ino === undefined) return err('ENOENT')
      const kept = tx.guard(ino, t)
      if (kept !== null) return kept
      const denied = mayDelete(tx.cur(parent), tx.cur(ino), op.cred)
      if (denied !== null) return err(denied)
      if (tx.cur(ino).kind !== 'dir') return err('ENOTDIR')
      if (tx.rec(ino).entries!.size > 0) return err('ENOTEMPTY')
      tx.unbind(parent, name)
      tx.dropLink(ino, t)
      tx.touchDir(parent, t, { nlink: tx.cur(parent).nlink - 1 })
      return { ok: true }
    }
    case 'rename': {
      const from = resolveSlot(fs, op.from, op.cred)
      if (!from.ok) return from
      const to = resolveSlot(fs, op.to, op.cred)
      if (!to.ok) return to
      if (from.value === null || to.value === null) return err('EBUSY')
      const src = from.value.ino
      if (src === undefined) return err('ENOENT')
      const dst = to.value.ino
      if (dst === src) return { ok: true } // same entry or a hard link of the same inode: POSIX no-op
      const kept = tx.guard(src, t) ?? (dst === undefined ? null : tx.guard(dst, t))
      if (kept !== null) return kept
      const sv = tx.cur(src)
      const srcDir = sv.kind === 'dir'
      if (srcDir && isSelfOrAncestor(fs, src, to.value.parent)) return err('EINVAL')
      const sp = from.value.parent
      const dp = to.value.parent
      // vfs_rename: may_delete of the source, may_create or may_delete of the target (whose kind
      // checks follow its permission checks), write on a directory whose '..' changes.
      const denied = mayDelete(tx.cur(sp), sv, op.cred) ?? (dst === undefined ? mayCreate(tx.cur(dp), op.cred) : mayDelete(tx.cur(dp), tx.cur(dst), op.cred))
      if (denied !== null) return err(denied)
      let dstDir = false
      if (dst !== undefined) {
        dstDir = tx.cur(dst).kind === 'dir'
        if (srcDir && !dstDir) return err('ENOTDIR')
        if (!srcDir && dstDir) return err('EISDIR')
      }
      if (srcDir && sp !== dp && !permits(sv, op.cred, MAY_WRITE)) return err('EACCES')
      if (dstDir && tx.rec(dst!).entries!.size > 0) return err('ENOTEMPTY')
      if (srcDir && sp !== dp && dst === undefined && tx.cur(dp).nlink >= LINK_MAX) return err('EMLINK')
      tx.unbind(sp, from.value.name)
      if (dst !== undefined) {
        tx.unbind(dp, to.value.name)
        tx.dropLink(dst, t)
      }
      tx.bind(dp, to.value.name, src)
      // nlink of the parents: a moved dir's '..' leaves sp and joins dp; a replaced dir leaves dp.
      const spDelta = srcDir && sp !== dp ? -1 : 0
      const dpDelta = (srcDir && sp !== dp ? 1 : 0) - (dstDir ? 1 : 0)
      tx.touchDir(sp, t, { nlink: tx.cur(sp).nlink + spDelta })
      tx.touchDir(dp, t, { nlink: tx.cur(dp).nlink + dpDelta })
      tx.mut(src, { ctime: t })
      return { ok: true }
    }
    case 'chmod': {
      const ino = resolvePath(fs, op.path, op.cred)
      if (!ino.ok) return ino
      const kept = tx.guard(ino.value, t)
      if (kept !== null) return kept
      const v = tx.cur(ino.value)
      if (v.kind === 'symlink') return err('EOPNOTSUPP')
      const r = chmodResult(v, op.cred, op.mode)
      if (!r.ok) return r
      tx.mut(ino.value, { mode: r.mode, ctime: t })
      return { ok: true }
    }
    case 'chown': {
      const ino = resolvePath(fs, op.path, op.cred)
      if (!ino.ok) return ino
      const kept = tx.guard(ino.value, t)
      if (kept !== null) return kept
      const r = chownResult(tx.cur(ino.value), op.cred, op.uid, op.gid)
      if (!r.ok) return r
      tx.mut(ino.value, { uid: r.uid, gid: r.gid, mode: r.mode, ctime: t })
      return { ok: true }
    }
    case 'utimens': {
      const ino = resolvePath(fs, op.path, op.cred)
      if (!ino.ok) return ino
      if (op.atime === 'omit' && op.mtime === 'omit') return { ok: true }
      const kept = tx.guard(ino.value, t)
      if (kept !== null) return kept
      const denied = utimensCheck(tx.cur(ino.value), op.cred, op.atime === 'now' && op.mtime === 'now')
      if (denied !== null) return err(denied)
      const at = (x: UtimeSpec): FsTime | undefined => (x === 'omit' ? undefined : x === 'now' ? t : x)
      const patch: { atime?: FsTime; mtime?: FsTime; ctime: FsTime } = { ctime: t }
      const a = at(op.atime)
      const m = at(op.mtime)
      if (a !== undefined) patch.atime = a
      if (m !== undefined) patch.mtime = m
      tx.mut(ino.value, patch)
      return { ok: true }
    }
    case 'setxattr': {
      if (op.flags !== 0 && op.flags !== XATTR_CREATE && op.flags !== XATTR_REPLACE) return err('EINVAL')
      const bad = checkXattrName(op.name)
      if (bad !== null) return err(bad)
      if (op.value.length > XATTR_VALUE_MAX_BYTES) return err('E2BIG')
      const ino = resolvePath(fs, op.path, op.cred)
      if (!ino.ok) return ino
      const kept = tx.guard(ino.value, t)
      if (kept !== null) return kept
      const v = tx.cur(ino.value)
      const denied = xattrWriteCheck(v, op.cred, op.name) ?? xattrNamespaceCheck(op.name)
      if (denied !== null) return err(denied)
      const exists = v.xattrs.has(op.name)
      if (op.flags === XATTR_CREATE && exists) return err('EEXIST')
      if (op.flags === XATTR_REPLACE && !exists) return err('ENODATA')
      const xattrs = new Map(v.xattrs)
      xattrs.set(op.name, op.value.slice()) // own copy: the op's buffer belongs to the caller
      tx.mut(ino.value, { xattrs, ctime: t })
      return { ok: true }
    }
    case 'removexattr': {
      const bad = checkXattrName(op.name)
      if (bad !== null) return err(bad)
      const ino = resolvePath(fs, op.path, op.cred)
      if (!ino.ok) return ino
      const kept = tx.guard(ino.value, t)
      if (kept !== null) return kept
      const v = tx.cur(ino.value)
      const denied = xattrWriteCheck(v, op.cred, op.name) ?? xattrNamespaceCheck(op.name)
      if (denied !== null) return err(denied)
      if (!v.xattrs.has(op.name)) return err('ENODATA')
      const xattrs = new Map(v.xattrs)
      xattrs.delete(op.name)
      tx.mut(ino.value, { xattrs, ctime: t })
      return { ok: true }
    }
    // Retention ops change the record only, no time of the inode: they are not changes of the
    // document (spec/fs.md "Retention and legal hold").
    case 'retain':
    case 'hold': {
      const ino = resolvePath(fs, op.path, op.cred)
      if (!ino.ok) return ino
      const v = tx.cur(ino.value)
      const r = op.type === 'retain'
        ? retain(v, tx.cur(ROOT_INO), { until: op.until, override: op.override, time: tx.noLater(t), cred: op.cred, author: tx.ctx.author, epoch: tx.epoch })
        : hold(v, op.on, tx.noLater(t), op.cred, tx.ctx.author, tx.epoch)
      if (!r.ok) return r
      tx.mut(ino.value, { xattrs: withRecord(v.xattrs, r.record) })
      return { ok: true }
    }
    case 'retention-config': {
      const root = tx.cur(ROOT_INO)
      const r = configure(root, { mode: op.mode, defaultSec: op.defaultSec, governors: op.governors, time: tx.noLater(t), cred: op.cred, author: tx.ctx.author, epoch: tx.epoch })
      if (!r.ok) return r
      const xattrs = new Map(root.xattrs)
      xattrs.set(VOLUME_RETENTION_XATTR, encodeVolumeRetention(r.config))
      tx.mut(ROOT_INO, { xattrs })
      return { ok: true }
    }
  }
}

function withRecord(xattrs: ReadonlyMap<string, Uint8Array>, r: Retention): Map<string, Uint8Array> {
  const next = new Map(xattrs)
  next.set(RETENTION_XATTR, encodeRetention(r))
  return next
}

/** Applies one validated op at ctx.epoch (must be fs.epoch + 1). Mutates and returns fs. */
function laterOf(a: FsTime, b: FsTime): FsTime {
  return a.sec > b.sec || (a.sec === b.sec && a.nsec >= b.nsec) ? a : b
}

export function applyOp(fs: FsState, op: FsOp, ctx: ApplyCtx): { fs: FsState; result: FsResult } {
  assert(ctx.epoch === fs.epoch + 1, `applyOp: epoch ${ctx.epoch} does not follow ${fs.epoch}`)
  const tx = new Tx(fs, ctx.epoch, ctx)
  const result = apply(tx, op)
  assert(result.ok || tx.touched.size === 0, `applyOp: failed ${op.type} mutated the state`)
  tx.finish()
  fs.epoch = ctx.epoch
  fs.past.putLogLine(logLine(op, ctx, result))
  return { fs, result }
}

/** The log line of an op: author, kind, the caller's uid and gid, groups and client when the op
 *  has them (FS-13), and the outcome. */
function logLine(op: FsOp, ctx: ApplyCtx, result: FsResult): LogLine {
  const line: { -readonly [K in keyof LogLine]: LogLine[K] } = {
    author: ctx.author, kind: op.type, uid: op.cred.uid, gid: op.cred.gid, errno: result.ok ? null : result.errno,
  }
  if (op.cred.groups !== undefined && op.cred.groups.length > 0) line.groups = op.cred.groups
  if (op.client !== undefined) line.client = op.client
  return line
}

export { checkName }
