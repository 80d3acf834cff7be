// Types of the file system state machine: attributes, inode versions, results. See spec/fs.md.
import type { ChunkHash, Epoch, Pid } from '../types.ts'
import type { BlockTree } from './blocks.ts'
import type { Mutation } from '../mutations.ts'

export const BLOCK_SIZE = 65536
/** Largest file size (1 PiB); larger sizes are EFBIG. Keeps block indices far inside safe integers. */
export const MAX_FILE_SIZE = 2 ** 50
export const NAME_MAX_BYTES = 255
export const PATH_MAX_BYTES = 4096
/** Largest link count of one inode (ext4's value); more is EMLINK. */
export const LINK_MAX = 65000
export const XATTR_NAME_MAX_BYTES = 255
export const XATTR_VALUE_MAX_BYTES = 65536
/** Most block references one write op may carry (4 GiB of content per op). */
export const MAX_WRITE_BLOCKS = 65536
export const ROOT_INO = 1

export const S_IFMT = 0o170000
export const S_IFSOCK = 0o140000
export const S_IFLNK = 0o120000
export const S_IFREG = 0o100000
export const S_IFBLK = 0o060000
export const S_IFDIR = 0o040000
export const S_IFCHR = 0o020000
export const S_IFIFO = 0o010000
export const S_ISUID = 0o4000
export const S_ISGID = 0o2000
export const S_ISVTX = 0o1000
export const S_IXGRP = 0o010
export const PERM_MASK = 0o7777

export const XATTR_CREATE = 1
export const XATTR_REPLACE = 2

export type NodeKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'chr' | 'blk' | 'sock'

export function kindOfMode(mode: number): NodeKind | undefined {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file'
    case S_IFDIR: return 'dir'
    case S_IFLNK: return 'symlink'
    case S_IFIFO: return 'fifo'
    case S_IFCHR: return 'chr'
    case S_IFBLK: return 'blk'
    case S_IFSOCK: return 'sock'
    default: return undefined
  }
}

/** A point in time as the operation's author saw it: seconds and nanoseconds, both integers. */
export interface FsTime {
  readonly sec: number
  readonly nsec: number
}

/** Most supplementary groups one op may carry (what fuse reports; Linux NGROUPS_MAX is larger). */
export const GROUPS_MAX = 256

/** The caller's credentials as the kernel reports them: fs uid, fs gid and the supplementary
 *  groups (sorted ascending, unique, at most GROUPS_MAX; absent = none). uid 0 is root. */
export interface Cred {
  readonly uid: number
  readonly gid: number
  readonly groups?: readonly number[]
}

/** One block reference in the state: the chunk's hash and how many of its bytes are valid
 *  (bytes of the block at or beyond `len` read as zeros; see spec/fs.md "Content"). */
export interface BlockRef {
  readonly hash: ChunkHash
  readonly len: number
}

/** One immutable version of an inode. A new version is made (copy-on-write, once per epoch)
 *  whenever an op changes the inode; maps are shared between versions until changed, and the
 *  block tree shares every subtree a write did not touch. */
export interface InodeVersion {
  readonly epoch: Epoch
  readonly kind: NodeKind
  readonly mode: number
  readonly uid: number
  readonly gid: number
  /** Files: content length; symlinks: target length in UTF-8 bytes; others: 0. */
  readonly size: number
  readonly nlink: number
  readonly atime: FsTime
  readonly mtime: FsTime
  readonly ctime: FsTime
  readonly rdev: number
  readonly xattrs: ReadonlyMap<string, Uint8Array>
  /** Files only (empty otherwise): block index -> reference; absent index = hole. A persistent
   *  tree (core/fs/blocks.ts): get, size, entries/keys in index order. */
  readonly blocks: BlockTree
  /** Symlinks only ('' otherwise). */
  readonly target: string
  /** True for the tombstone version made when the last name went away (nlink 0). */
  readonly deleted: boolean
}

/** The xattrs of a version without any: one map shared by all of them (never mutated; a change
 *  makes a new map). */
export const EMPTY_XATTRS: ReadonlyMap<string, Uint8Array> = new Map()

/** An entry of a directory's name history: from `epoch` on, the name refers to `ino` (0 = absent). */
export interface EntryEvent {
  readonly epoch: Epoch
  readonly ino: number
}

/** An inode's current names by directory: dir ino -> how many names in it, with the part of
 *  Map's interface the reducer uses. Nearly every inode has its names in one directory: that
 *  entry is kept inline, a Map only for the others (a Map per inode cost ~180 bytes of heap per
 *  live file). Iteration order is not insertion order; no caller depends on it. */
export class Parents {
  /** The inline entry: a directory ino (>= 1; 0 = none) and its count. */
  private dir = 0
  private n = 0
  private more: Map<number, number> | null = null

  get size(): number {
    return (this.dir === 0 ? 0 : 1) + (this.more?.size ?? 0)
  }

  get(dir: number): number | undefined {
    return dir === this.dir && dir !== 0 ? this.n : this.more?.get(dir)
  }

  has(dir: number): boolean {
    return this.get(dir) !== undefined
  }

  set(dir: number, n: number): this {
    if (dir === this.dir || (this.dir === 0 && this.more?.has(dir) !== true)) {
      this.dir = dir
      this.n = n
    } else (this.more ??= new Map()).set(dir, n)
    return this
  }

  delete(dir: number): boolean {
    if (dir !== this.dir || dir === 0) return this.more?.delete(dir) ?? false
    this.dir = 0
    this.n = 0
    // Keep an entry inline while there is one.
    if (this.more !== null) {
      for (const [d, k] of this.more) {
        this.more.delete(d)
        this.dir = d
        this.n = k
        break
      }
      if (this.more.size === 0) this.more = null
    }
    return true
  }

  *keys(): IterableIterator<number> {
    for (const [d] of this) yield d
  }

  *[Symbol.iterator](): IterableIterator<[number, number]> {
    if (this.dir !== 0) yield [this.dir, this.n]
    if (this.more !== null) yield* this.more
  }
}

export interface InodeRec {
  readonly ino: number
  /** The current version (a tombstone once deleted); every version is in FsState.past. */
  cur: InodeVersion
  /** Current names of this inode: parent dir ino -> how many names in it (hard links). */
  readonly parents: Parents
  /** Directories only: current entries, name -> ino. */
  readonly entries: Map<string, number> | null
  /** Volatile: the inode's cached node hash as a 32-character one-byte string, undefined when
   *  not cached (read and written only through FsState.hashCache, core/fs/hashcache.ts). */
  hash: string | undefined
  /** Volatile: one of the inode's leaves in a live directory tree (core/fs/dirtree.ts LeafHome),
   *  so that a file of one name costs the tree no Map entry; opaque outside the tree. */
  leaf: unknown
}

/** The record of a live inode: its Parents inline (the record is its own `parents`), its
 *  cached node hash and its directory-tree leaf in fields, instead of a Parents object and an
 *  entry of a Map of hashes and of the directory tree's Map per inode (issue 11). */
export class InodeRecord extends Parents implements InodeRec {
  hash: string | undefined = undefined
  leaf: unknown = undefined
  constructor(
    readonly ino: number,
    public cur: InodeVersion,
    readonly entries: Map<string, number> | null,
  ) {
    super()
  }

  get parents(): Parents {
    return this
  }
}

export type Errno =
  | 'ENOENT' | 'EEXIST' | 'EACCES' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY' | 'EINVAL' | 'ENAMETOOLONG'
  | 'ENODATA' | 'EMLINK' | 'EPERM' | 'EBUSY' | 'EFBIG' | 'ERANGE' | 'E2BIG' | 'EOPNOTSUPP' | 'EIO'

export type FsResult = { readonly ok: true; readonly ino?: number } | { readonly ok: false; readonly errno: Errno }

export interface ApplyCtx {
  readonly epoch: Epoch
  readonly author: Pid
  /** The time the total order gives the op (a totb volume, spec/totb.md TOTB-6): retention
   *  judges by it where the author's claim could shorten a period (spec/fs.md "False times").
   *  Absent (a fotb volume): the claim alone. */
  readonly orderTime?: FsTime
  /** Test only (core/mutations.ts): a deliberately broken rule, to prove a checker catches it. */
  readonly mutation?: Mutation
}

/** One line of the op log kept in the state: who did what at each epoch, and how it ended.
 *  `groups` only when the op carried supplementary groups, `client` only when a server applied
 *  the op for a client node (spec/fs.md FS-13). */
export interface LogLine {
  readonly author: Pid
  readonly kind: string
  readonly uid: number
  readonly gid: number
  readonly groups?: readonly number[]
  readonly client?: Pid
  readonly errno: Errno | null
}

/** Reads a chunk's bytes by hash; undefined when the chunk is not available. */
export type ChunkReader = (hash: ChunkHash) => Uint8Array | undefined

/** Attributes as stat(2) reports them. */
export interface Attr {
  readonly ino: number
  readonly kind: NodeKind
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly size: number
  readonly nlink: number
  readonly atime: FsTime
  readonly mtime: FsTime
  readonly ctime: FsTime
  readonly rdev: number
}

export type Lookup<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errno: Errno }

/** An invariant violation found by a checker: the spec ID and what is wrong. */
export interface Violation {
  readonly id: string
  readonly message: string
}
