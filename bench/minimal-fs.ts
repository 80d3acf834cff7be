// The limit of our own FUSE stack: a minimal in-memory file system on fuse-native, mounted with
// exactly the options of a PacioFS mount (runtime/fuse.ts). bench/mount-bench.ts measures it beside
// PacioFS and a plain directory; whatever PacioFS loses against it is ours, the rest is the stack.
//
//   npx tsx bench/minimal-fs.ts <mountdir>     prints `mounted` once mounted; SIGTERM/SIGINT unmount
//
// Files are growable Buffers (capacity doubles, so appending is amortized O(1)); handlers answer at
// once, no I/O. It implements what fio and the archive workload use, plus the handlers whose mere
// presence changes what the kernel sends (opendir, xattrs: a mount with getxattr gets asked for
// security.capability on writes), so both file systems see the same request stream.
// Like every serving process, this one never touches its own mount (../shared/DESIGN.md).
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import { MOUNT_FSNAME, MOUNT_TIMEOUT_MS, cleanupStaleMount } from '../runtime/fuse.ts'


type Cb = (err: number, ...rest: unknown[]) => void
interface FuseInstance {
  mount(cb: (err: Error | null) => void): void
  unmount(cb: (err: Error | null) => void): void
}
type FuseNative = new (mnt: string, ops: Record<string, unknown>, opts: Record<string, unknown>) => FuseInstance

const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const E = { ENOENT: -2, EBADF: -9, EEXIST: -17, ENOTDIR: -20, EISDIR: -21, EINVAL: -22, ENOTEMPTY: -39, ENODATA: -61 }

interface Node {
  readonly ino: number
  mode: number
  nlink: number
  /** Content bytes [0, size) of `data`; beyond `size` the buffer is always zero. */
  size: number
  data: Buffer
  atime: number
  mtime: number
  ctime: number
  readonly children?: Map<string, Node>
  readonly xattrs: Map<string, Buffer>
}

const uid = process.getuid?.() ?? 0
const gid = process.getgid?.() ?? 0
let nextIno = 2

function newNode(mode: number, ino = nextIno++): Node {
  const now = Date.now()
  const dir = (mode & S_IFMT) === S_IFDIR
  return { ino, mode, nlink: dir ? 2 : 1, size: 0, data: Buffer.alloc(0), atime: now, mtime: now, ctime: now, xattrs: new Map(), ...(dir ? { children: new Map<string, Node>() } : {}) }
}

const root = newNode(S_IFDIR | 0o755, 1)

function split(path: string): string[] {
  return path.split('/').filter((p) => p.length > 0)
}

function lookup(path: string): Node | undefined {
  let n: Node | undefined = root
  for (const name of split(path)) n = n?.children?.get(name)
  return n
}

/** The parent directory and the last name of `path`, or an errno. */
function parentOf(path: string): { dir: Node; name: string } | number {
  const parts = split(path)
  const name = parts.pop()
  if (name === undefined) return E.EINVAL
  const dir = lookup('/' + parts.join('/'))
  if (dir === undefined) return E.ENOENT
  if (dir.children === undefined) return E.ENOTDIR
  return { dir, name }
}

function statOf(n: Node): Record<string, unknown> {
  return { mode: n.mode, uid, gid, size: n.size, nlink: n.nlink, ino: n.ino, rdev: 0, blksize: 4096, blocks: Math.ceil(n.size / 512), atime: n.atime, mtime: n.mtime, ctime: n.ctime }
}

/** Grows the buffer to hold `bytes`, doubling its capacity so that appends are amortized O(1). */
function reserve(n: Node, bytes: number): void {
  if (bytes <= n.data.length) return
  const grown = Buffer.alloc(Math.max(bytes, n.data.length * 2, 4096))
  n.data.copy(grown, 0, 0, n.size)
  n.data = grown
}

function resize(n: Node, size: number): void {
  if (size < n.size) n.data.fill(0, size, n.size)
  else reserve(n, size)
  n.size = size
  n.mtime = n.ctime = Date.now()
}

/** Adds `node` as `name` in `dir` (the caller checked it is free). */
function link(dir: Node, name: string, node: Node): void {
  dir.children!.set(name, node)
  if (node.children) dir.nlink++
  dir.mtime = dir.ctime = Date.now()
}

function unlinkName(dir: Node, name: string): void {
  const node = dir.children!.get(name)
  if (node === undefined) return
  dir.children!.delete(name)
  if (node.children) dir.nlink--
  dir.mtime = dir.ctime = Date.now()
}

const fds = new Map<number, Node>()
let nextFd = 1
const opCounts = new Map<string, number>()

function create(path: string, mode: number, cb: Cb): void {
  const p = parentOf(path)
  if (typeof p === 'number') return cb(p)
  let node = p.dir.children!.get(p.name)
  if (node === undefined) {
    node = newNode(mode)
    link(p.dir, p.name, node)
  }
  return openNode(node, cb)
}

function openNode(node: Node, cb: Cb): void {
  const fd = nextFd++
  fds.set(fd, node)
  cb(0, fd)
}

function withNode(path: string, cb: Cb, fn: (n: Node) => void): void {
  const n = lookup(path)
  if (n === undefined) return cb(E.ENOENT)
  fn(n)
}

const ops: Record<string, (...args: never[]) => void> = {
  init: (cb: Cb) => cb(0),
  statfs: (_path: string, cb: Cb) => {
    const total = 2 ** 31
    cb(0, { bsize: 4096, frsize: 4096, blocks: total, bfree: total, bavail: total, files: total, ffree: total, favail: total, fsid: 0, flag: 0, namemax: 255 })
  },
  getattr: (path: string, cb: Cb) => withNode(path, cb, (n) => cb(0, statOf(n))),
  // fuse-native 2.2.6 routes fgetattr to ops.getattr; implemented anyway, as PacioFS does.
  fgetattr: (path: string, fd: number, cb: Cb) => {
    const n = fds.get(fd) ?? lookup(path)
    return n === undefined ? cb(E.ENOENT) : cb(0, statOf(n))
  },
  access: (path: string, _mode: number, cb: Cb) => withNode(path, cb, () => cb(0)),
  readdir: (path: string, cb: Cb) =>
    withNode(path, cb, (n) => (n.children ? cb(0, ['.', '..', ...n.children.keys()]) : cb(E.ENOTDIR))),
  opendir: (path: string, _flags: number, cb: Cb) => withNode(path, cb, (n) => (n.children ? cb(0, 0) : cb(E.ENOTDIR))),
  releasedir: (_path: string, _fd: number, cb: Cb) => cb(0),

  open: (path: string, flags: number, cb: Cb) =>
    withNode(path, cb, (n) => (n.children && (flags & 3) !== 0 ? cb(E.EISDIR) : openNode(n, cb))),
  create: (path: string, mode: number, cb: Cb) => create(path, S_IFREG | (mode & 0o7777), cb),
  read: (_path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb) => {
    const n = fds.get(fd)
    if (n === undefined) return cb(E.EBADF)
    const end = Math.min(n.size, pos + len)
    cb(end > pos ? n.data.copy(buf, 0, pos, end) : 0)
  },
  write: (_path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb) => {
    const n = fds.get(fd)
    if (n === undefined) return cb(E.EBADF)
    reserve(n, pos + len)
    // fuse-native reuses `buf` for the next request: copy out now.
    buf.copy(n.data, pos, 0, len)
    n.size = Math.max(n.size, pos + len)
    n.mtime = n.ctime = Date.now()
    cb(len)
  },
  truncate: (path: string, size: number, cb: Cb) => withNode(path, cb, (n) => (resize(n, size), cb(0))),
  ftruncate: (path: string, fd: number, size: number, cb: Cb) => {
    const n = fds.get(fd) ?? lookup(path)
    if (n === undefined) return cb(E.EBADF)
    resize(n, size)
    cb(0)
  },
  flush: (_path: string, _fd: number, cb: Cb) => cb(0),
  fsync: (_path: string, _datasync: number, _fd: number, cb: Cb) => cb(0),
  fsyncdir: (_path: string, _datasync: number, _fd: number, cb: Cb) => cb(0),
  release: (_path: string, fd: number, cb: Cb) => {
    fds.delete(fd)
    cb(0)
  },

  unlink: (path: string, cb: Cb) => {
    const p = parentOf(path)
    if (typeof p === 'number') return cb(p)
    const n = p.dir.children!.get(p.name)
    if (n === undefined) return cb(E.ENOENT)
    if (n.children) return cb(E.EISDIR)
    unlinkName(p.dir, p.name)
    n.nlink = 0
    cb(0)
  },
  mkdir: (path: string, mode: number, cb: Cb) => {
    const p = parentOf(path)
    if (typeof p === 'number') return cb(p)
    if (p.dir.children!.has(p.name)) return cb(E.EEXIST)
    link(p.dir, p.name, newNode(S_IFDIR | (mode & 0o7777)))
    cb(0)
  },
  rmdir: (path: string, cb: Cb) => {
    const p = parentOf(path)
    if (typeof p === 'number') return cb(p)
    const n = p.dir.children!.get(p.name)
    if (n === undefined) return cb(E.ENOENT)
    if (!n.children) return cb(E.ENOTDIR)
    if (n.children.size > 0) return cb(E.ENOTEMPTY)
    unlinkName(p.dir, p.name)
    cb(0)
  },
  rename: (from: string, to: string, cb: Cb) => {
    const src = parentOf(from)
    const dst = parentOf(to)
    if (typeof src === 'number') return cb(src)
    if (typeof dst === 'number') return cb(dst)
    const n = src.dir.children!.get(src.name)
    if (n === undefined) return cb(E.ENOENT)
    if (n.children && (to + '/').startsWith(from + '/')) return cb(E.EINVAL) // into itself
    const old = dst.dir.children!.get(dst.name)
    if (old === n) return cb(0)
    if (old !== undefined) {
      if (old.children && !n.children) return cb(E.EISDIR)
      if (!old.children && n.children) return cb(E.ENOTDIR)
      if (old.children && old.children.size > 0) return cb(E.ENOTEMPTY)
      unlinkName(dst.dir, dst.name)
    }
    unlinkName(src.dir, src.name)
    link(dst.dir, dst.name, n)
    n.ctime = Date.now()
    cb(0)
  },
  utimens: (path: string, atime: number, mtime: number, cb: Cb) =>
    withNode(path, cb, (n) => {
      n.atime = atime
      n.mtime = mtime
      n.ctime = Date.now()
      cb(0)
    }),
  chmod: (path: string, mode: number, cb: Cb) =>
    withNode(path, cb, (n) => {
      n.mode = (n.mode & S_IFMT) | (mode & 0o7777)
      n.ctime = Date.now()
      cb(0)
    }),
  chown: (path: string, _uid: number, _gid: number, cb: Cb) => withNode(path, cb, () => cb(0)),

  setxattr: (path: string, name: string, value: Buffer, _position: number, _flags: number, cb: Cb) =>
    withNode(path, cb, (n) => (n.xattrs.set(name, Buffer.from(value)), cb(0))),
  getxattr: (path: string, name: string, _position: number, cb: Cb) =>
    withNode(path, cb, (n) => {
      const v = n.xattrs.get(name)
      return v === undefined ? cb(E.ENODATA) : cb(0, v)
    }),
  listxattr: (path: string, cb: Cb) => withNode(path, cb, (n) => cb(0, [...n.xattrs.keys()])),
  removexattr: (path: string, name: string, cb: Cb) =>
    withNode(path, cb, (n) => (n.xattrs.delete(name) ? cb(0) : cb(E.ENODATA))),
}

/** Counts requests per operation (printed on exit: shows what the kernel asked for). */
function counted(table: typeof ops): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, fn] of Object.entries(table)) {
    out[name] = (...args: never[]) => {
      opCounts.set(name, (opCounts.get(name) ?? 0) + 1)
      fn(...args)
    }
  }
  return out
}

async function main(): Promise<void> {
  const dir = process.argv[2]
  if (dir === undefined) {
    process.stderr.write('usage: npx tsx bench/minimal-fs.ts <mountdir>\n')
    process.exit(2)
  }
  const mountpoint = resolve(dir)
  const Fuse = createRequire(import.meta.url)('fuse-native') as FuseNative
  await cleanupStaleMount(mountpoint)
  // The very options of PacioMount.mount() (runtime/fuse.ts).
  const fuse = new Fuse(mountpoint, counted(ops), { fsname: MOUNT_FSNAME, timeout: MOUNT_TIMEOUT_MS, mkdir: true, force: false })
  await new Promise<void>((ok, fail) => fuse.mount((err) => (err ? fail(err) : ok())))
  process.stdout.write(`mounted\n`)

  let stopping = false
  const stop = (sig: string): void => {
    if (stopping) return
    stopping = true
    const counts = [...opCounts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ')
    process.stderr.write(`minimal-fs: ${sig}: unmounting ${mountpoint}; requests: ${counts}\n`)
    fuse.unmount((err) => {
      if (err) process.stderr.write(`minimal-fs: unmount failed: ${err.message}\n`)
      process.exit(err ? 1 : 0)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  process.stderr.write(`minimal-fs: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
