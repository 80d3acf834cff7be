// The FUSE binding: kernel file system requests (through fuse-native) turned into backend reads
// and FsCalls. No protocol decisions here; the volume's rules live in core/fs.
//
// Writes are grouped: every write between open and flush/fsync/release of a file is kept in a
// per-inode session and becomes ONE write operation (one ledger entry) when the file is flushed,
// fsynced or closed. While a session is open, reads and getattr of that file see its pending
// writes (an overlay), as POSIX requires. Any other state-changing call commits every open
// session first, so operations enter the ledger in the order the kernel issued them.
//
// Durability as on a local file system: namespace and attribute calls (mkdir, rename, chmod, ...)
// are answered as soon as the node applied them (`early`), and become durable with the node's
// next group commit; flush (close(2)), fsync and fsyncdir return only once everything this mount
// did before is durable in the serving node's ledger (spec/runtime.md RT-2, RT-6).
//
// Who did it: the patched binding (runtime/native/) tells every request its caller's uid, gid
// and pid; each operation carries that identity with the caller's supplementary groups (read
// from /proc), so the ledger attributes it and the core checks its rights (spec/fs.md). The
// kernel checks them first (`default_permissions`), and `allow_other` lets every user of the
// machine in.
//
// The serving process must never touch its own mount synchronously (it would deadlock: the
// kernel waits for this very event loop). Nothing here does; tests drive mounts from other
// processes.
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readFile as readFileAsync, writeFile as writeFileAsync } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Attr, Cred, Errno, FsTime, WriteStep } from '../core/fs/index.ts'
import { MAX_WRITE_BLOCKS, BLOCK_SIZE, S_IFMT } from '../core/fs/types.ts'
import type { CallResult, FsCall } from '../core/volume/index.ts'
import type { VolumeBackend } from './backend.ts'

const run = promisify(execFile)

// fuse-native ships no types; these are the parts of its API we use (build/fuse-native/index.js,
// the copy patched by runtime/native/fuse-native.patch).
type Cb<T = void> = T extends void ? (err: number) => void : (err: number, value?: T) => void
interface FuseNative {
  new (mnt: string, ops: Record<string, unknown>, opts: Record<string, unknown>): FuseInstance
  unmount(mnt: string, cb: (err: Error | null) => void): void
  readonly [errno: string]: unknown
}
interface FuseInstance {
  mount(cb: (err: Error | null) => void): void
  unmount(cb: (err: Error | null) => void): void
  /** The current request's caller (set by the patched binding before each handler runs). */
  readonly caller: Caller | undefined
}

/** What the kernel says about a request's caller (fuse_get_context()). */
export interface Caller {
  readonly uid: number
  readonly gid: number
  readonly pid: number
  readonly umask: number
}

/** Where bin/build-native.sh puts the patched binding. */
export const PATCHED_FUSE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'build', 'fuse-native')

let fuseNative: FuseNative | undefined
/** Loads the patched native addon on first use, with a clear message when it is not built or
 *  libfuse 2 is missing. The stock fuse-native cannot tell who the caller is, so it is refused. */
function loadFuse(): FuseNative {
  if (fuseNative) return fuseNative
  if (!existsSync(join(PATCHED_FUSE_DIR, 'build', 'Release', 'fuse.node'))) {
    throw new Error('The patched FUSE binding is not built (build/fuse-native). It passes each caller\'s uid/gid to the file system; build it with `npm run build:native` (needs Debian\'s libfuse-dev, g++, make, pkg-config, python3; `npm run setup` installs them).')
  }
  try {
    fuseNative = createRequire(import.meta.url)(PATCHED_FUSE_DIR) as FuseNative
  } catch (err) {
    throw new Error(`Cannot load the FUSE addon (build/fuse-native): ${(err as Error).message}. On Debian install the FUSE 2 library and tools: apt-get install -y fuse libfuse2, then rebuild it: npm run build:native (or run \`npm run setup\`).`, { cause: err })
  }
  return fuseNative
}

/** How long the groups read for one process are reused. Reading /proc/<pid>/status costs
 *  ~40 µs in a loop and more under load: once per operation it cost renames ~20 % (A/B).
 *  A process that changes its supplementary groups while keeping pid, uid and gid is seen with
 *  the old ones for up to this long by the core's re-check (the kernel's own check, which comes
 *  first, always sees the current ones). */
export const GROUPS_CACHE_MS = 1000
const GROUPS_CACHE_MAX = 4096
const groupsCache = new Map<string, { groups: readonly number[]; at: number }>()

/** The supplementary groups of a process, from /proc (none when it is gone). */
function groupsOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'latin1')
    const line = /^Groups:(.*)$/m.exec(text)?.[1] ?? ''
    return [...new Set(line.trim().split(/\s+/).filter((x) => x !== '').map(Number))]
      .filter((g) => Number.isSafeInteger(g) && g >= 0 && g <= 0xfffffffe)
      .sort((a, b) => a - b)
      .slice(0, 256)
  } catch {
    return [] // the process is gone already: its primary ids are all we know
  }
}

/** The caller's identity as the core records it: uid, gid and supplementary groups (from
 *  /proc/<pid>/status, reused for GROUPS_CACHE_MS; a request without a process, pid 0, has
 *  none). */
export function credOf(caller: Caller, nowMs: number = performance.now()): Cred {
  let groups: readonly number[] = []
  if (caller.pid > 0) {
    const key = `${caller.pid}:${caller.uid}:${caller.gid}`
    const hit = groupsCache.get(key)
    if (hit !== undefined && nowMs - hit.at < GROUPS_CACHE_MS) groups = hit.groups
    else {
      groups = groupsOf(caller.pid)
      if (groupsCache.size >= GROUPS_CACHE_MAX) groupsCache.clear()
      groupsCache.set(key, { groups, at: nowMs })
    }
  }
  return groups.length > 0 ? { uid: caller.uid, gid: caller.gid, groups } : { uid: caller.uid, gid: caller.gid }
}

function sameCred(a: Cred, b: Cred): boolean {
  const ga = a.groups ?? []
  const gb = b.groups ?? []
  return a.uid === b.uid && a.gid === b.gid && ga.length === gb.length && ga.every((g, i) => g === gb[i])
}

/** May this process pass `allow_other`? root may; others only when /etc/fuse.conf allows it. */
function mayAllowOther(): boolean {
  if (process.getuid?.() === 0) return true
  try {
    return /^\s*user_allow_other\s*$/m.test(readFileSync('/etc/fuse.conf', 'utf8'))
  } catch {
    return false
  }
}

/** errno numbers as Linux defines them (fuse-native wants them negated). */
const ERRNO: Record<string, number> = {
  EPERM: 1, ENOENT: 2, EIO: 5, E2BIG: 7, EBADF: 9, EACCES: 13, EBUSY: 16, EEXIST: 17, EXDEV: 18,
  ENOTDIR: 20, EISDIR: 21, EINVAL: 22, EFBIG: 27, ENOSPC: 28, EROFS: 30, EMLINK: 31, ERANGE: 34,
  ENAMETOOLONG: 36, ENOSYS: 38, ENOTEMPTY: 39, ENODATA: 61, EOPNOTSUPP: 95, ETIMEDOUT: 110,
}
export function errnoNumber(name: string): number {
  return ERRNO[name] ?? ERRNO.EIO!
}

/** Mount options. fuse-native has no option for big writes, but pastes `fsname` unescaped into
 *  the option string (../shared/DESIGN.md): 128 KiB writes instead of 4 KiB ones. use_ino keeps
 *  our inode numbers (hard links share one). entry_timeout=0: every path walk looks each name up
 *  again, which also refreshes its attributes, so changes from other replicas and the link count
 *  of every name of a hard-linked file are seen at once. attr_timeout=0.001 (one kernel tick)
 *  lets the kernel's permission checks (default_permissions) and stat use the attributes that
 *  lookup just fetched instead of asking again for each path component: with 0, stat ran at
 *  ~0.6x and rename at ~0.55x of the figures before permissions (A/B); an fstat of an
 *  open file may see attributes up to one tick old. */
export const MOUNT_FSNAME = 'paciofs,big_writes,max_write=131072,use_ino,attr_timeout=0.001,entry_timeout=0'

/** fuse-native's per-request timeout: longer than the backends' own (host 10 s, client 20 s),
 *  so that they answer first with a precise error. */
export const MOUNT_TIMEOUT_MS = 30_000

/** Pending bytes of one session beyond which it is committed early: bounds memory, and keeps an
 *  operation's content within one transport frame (a replica fetches it in one 'put', and a
 *  client sends it in one call; runtime/frames.ts allows 16 MiB). */
export const SESSION_BYTES_MAX = 8 * 1024 * 1024

export type FuseStat =
  | 'op' // requests served
  | 'error' // requests answered with an errno
  | 'commit' // write sessions committed as one operation
  | 'commit:bytes' // bytes in those operations
  | 'commit:lost-unlinked' // sessions of files unlinked or replaced before their commit
  | 'backend:failed' // a backend call threw (node halted, request timeout, connection lost)

interface Session {
  /** The file's path as of the last namespace change we made (renames update it). */
  path: string
  steps: WriteStep[]
  /** File size with the pending steps applied. */
  size: number
  bytes: number
  /** Open handles on this inode. */
  handles: number
  /** The running commit, if any: later writes wait for it. */
  committing?: Promise<number>
  /** Who made the pending steps (one operation has one author): a write by someone else
   *  commits them first. */
  cred?: Cred
}

interface Handle {
  readonly ino: number
  path: string
}

export interface MountOptions {
  readonly backend: VolumeBackend
  readonly mountpoint: string
  /** The identity recorded when a request has no caller (only tests without the kernel). */
  readonly cred: Cred
  /** Per-request timeout in ms; the backend's own timeouts should be shorter. */
  readonly timeoutMs?: number
  /** Default: the system clock; tests may pin it. */
  readonly now?: () => FsTime
  readonly log?: (line: string) => void
}

/** The wall clock with nanosecond digits: Date.now() has milliseconds, so the monotonic clock
 *  supplies the rest from an anchor, re-taken whenever the wall clock is stepped. */
let anchor = { wallNs: BigInt(Date.now()) * 1_000_000n, mono: process.hrtime.bigint() }
function systemTime(): FsTime {
  let ns = anchor.wallNs + (process.hrtime.bigint() - anchor.mono)
  const wall = BigInt(Date.now()) * 1_000_000n
  if (ns - wall > 1_000_000_000n || wall - ns > 1_000_000_000n) {
    anchor = { wallNs: wall, mono: process.hrtime.bigint() }
    ns = wall
  }
  return { sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) }
}

/** Our inode numbers are up to 49 bits; fuse-native passes 32. Root stays 1; no one maps to 0. */
export function kernelIno(ino: number): number {
  return ino === 1 ? 1 : ((ino - 2) % 0xfffffffe) + 2
}

/** A time as the patched binding passes it: { sec, nsec }, or UTIME_NOW / UTIME_OMIT. */
type NativeTime = FsTime | 'now' | 'omit'

function statOf(a: Attr, sizeOverride?: number): Record<string, unknown> {
  const size = sizeOverride ?? a.size
  return {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    size,
    nlink: a.nlink,
    ino: kernelIno(a.ino),
    rdev: a.rdev,
    blksize: 4096,
    blocks: Math.ceil(size / 512),
    atime: a.atime, // { sec, nsec }: the patched binding keeps nanoseconds
    mtime: a.mtime,
    ctime: a.ctime,
  }
}

/** A mounted volume. `mount()` resolves when the kernel sent INIT; `unmount()` is idempotent. */
export class PacioMount {
  readonly stats = new Map<FuseStat, number>()
  readonly mountpoint: string
  private readonly backend: VolumeBackend
  private readonly opts: MountOptions
  private readonly sessions = new Map<number, Session>()
  private readonly handles = new Map<number, Handle>()
  private nextFd = 1
  /** Early calls made, and how many of them a completed sync() covered. */
  private earlyCalls = 0
  private syncedCalls = 0
  private fuse: FuseInstance | undefined
  private unmounting: Promise<void> | undefined

  constructor(opts: MountOptions) {
    this.opts = opts
    this.backend = opts.backend
    this.mountpoint = resolve(opts.mountpoint)
  }

  async mount(): Promise<void> {
    const Fuse = loadFuse()
    await cleanupStaleMount(this.mountpoint, this.opts.log)
    const timeout = this.opts.timeoutMs ?? MOUNT_TIMEOUT_MS
    const allowOther = mayAllowOther()
    if (!allowOther) this.opts.log?.('paciofs: only this user can use the mount (allow_other needs root or user_allow_other in /etc/fuse.conf)')
    this.fuse = new Fuse(this.mountpoint, this.ops(), {
      fsname: MOUNT_FSNAME,
      timeout,
      mkdir: true,
      force: false,
      allowOther,
      // The kernel checks every access against the attributes we return (mode, uid, gid), as for
      // a local file system; the core checks namespace and attribute changes again (spec/fs.md).
      defaultPermissions: true,
    })
    await new Promise<void>((ok, fail) => this.fuse!.mount((err) => (err ? fail(err) : ok())))
  }

  /** Commits open sessions, then unmounts (lazily: a busy mount goes away when released). */
  unmount(): Promise<void> {
    this.unmounting ??= (async () => {
      if (!this.backend.readOnly) await this.durable(undefined).catch(() => undefined)
      const f = this.fuse
      if (f === undefined) return
      await new Promise<void>((ok) => f.unmount(() => ok()))
    })()
    return this.unmounting
  }

  private bump(stat: FuseStat, by = 1): void {
    this.stats.set(stat, (this.stats.get(stat) ?? 0) + by)
  }

  // ---- sessions --------------------------------------------------------------------------------

  /** Makes every early call made so far durable (a no-op when there is none). */
  private async syncEarly(): Promise<void> {
    const upTo = this.earlyCalls
    if (this.syncedCalls >= upTo) return
    await this.backend.sync()
    this.syncedCalls = Math.max(this.syncedCalls, upTo)
  }

  /** flush/fsync/close: the inode's session committed and everything before it durable. */
  private async durable(ino: number | undefined): Promise<number> {
    const r = ino === undefined ? await this.commitAll() : await this.commit(ino)
    if (r < 0) return r
    await this.syncEarly()
    return 0
  }

  /** Turns a session's pending steps into one write operation. `early`: answered once applied
   *  (made durable by the next durable() call); otherwise once durable. */
  private async commit(ino: number, early = false): Promise<number> {
    const s = this.sessions.get(ino)
    if (s === undefined) return 0
    while (s.committing) await s.committing
    if (s.steps.length === 0) return 0
    const steps = s.steps
    const bytes = s.bytes
    const cred = s.cred
    s.steps = []
    s.bytes = 0
    const p = (async (): Promise<number> => {
      // A session whose file was unlinked (or replaced) meanwhile has nowhere to go: its data
      // vanishes with the last handle, as for an unlinked file on a local file system.
      const cur = await this.backend.getattr(s.path)
      if (!cur.ok || cur.value.ino !== ino) {
        this.bump('commit:lost-unlinked')
        return 0
      }
      // The core limits the blocks one operation lists; a longer session becomes several ops.
      for (const part of splitSteps(steps)) {
        if (early) this.earlyCalls++
        const covers = this.earlyCalls // a durable answer covers every early call made before it
        const r = await this.backend.call({ type: 'write', path: s.path, writes: part, cred: cred ?? this.opts.cred, time: (this.opts.now ?? systemTime)() }, { early })
        if (!r.ok) return -errnoNumber(r.errno)
        if (!early) this.syncedCalls = Math.max(this.syncedCalls, covers)
      }
      this.bump('commit')
      this.bump('commit:bytes', bytes)
      return 0
    })()
    s.committing = p
    try {
      return await p
    } finally {
      s.committing = undefined
    }
  }

  private async commitAll(early = false): Promise<number> {
    let result = 0
    for (const ino of [...this.sessions.keys()]) {
      const r = await this.commit(ino, early)
      if (r < 0) result = r
    }
    return result
  }

  private sessionFor(ino: number, path: string, size: number): Session {
    let s = this.sessions.get(ino)
    if (s === undefined) {
      s = { path, steps: [], size, bytes: 0, handles: 0 }
      this.sessions.set(ino, s)
    }
    return s
  }

  /** After a rename we made, sessions under the old name follow the file. */
  private renamed(from: string, to: string): void {
    const move = (p: string): string => (p === from ? to : p.startsWith(from + '/') ? to + p.slice(from.length) : p)
    for (const s of this.sessions.values()) s.path = move(s.path)
    for (const h of this.handles.values()) h.path = move(h.path)
  }

  private base(who: Caller | undefined): { cred: Cred; time: FsTime } {
    return { cred: who === undefined ? this.opts.cred : credOf(who), time: (this.opts.now ?? systemTime)() }
  }

  /** A state-changing call other than a write: open sessions go first (ledger order = kernel
   *  order). Answered once applied; durable with the next flush/fsync (or the node's next group). */
  private async mutate(call: FsCall): Promise<number> {
    const pending = await this.commitAll(true)
    if (pending < 0) return pending
    this.earlyCalls++
    const r: CallResult = await this.backend.call(call, { early: true })
    return r.ok ? 0 : -errnoNumber(r.errno)
  }

  // ---- the operations ------------------------------------------------------------------------

  private ops(): Record<string, unknown> {
    // Every handler: count it, run it, map a throw to EIO (never let an exception reach the
    // native side: the kernel request would hang until its timeout).
    // The caller is read synchronously here: the binding sets it just before calling us.
    const wrap = <A extends unknown[]>(name: string, fn: (who: Caller | undefined, ...args: A) => Promise<[number, ...unknown[]]>) =>
      (...args: [...A, (...r: unknown[]) => void]) => {
        const cb = args.pop() as (...r: unknown[]) => void
        const who = this.fuse?.caller
        this.bump('op')
        fn(who, ...(args as unknown as A)).then(
          (r) => {
            if (r[0] < 0) this.bump('error')
            try {
              cb(...r)
            } catch (err) {
              // The binding could not encode our answer (a bug): the request fails, the mount lives.
              this.bump('error')
              this.opts.log?.(`paciofs: ${name} answer failed: ${(err as Error)?.message ?? String(err)}`)
              cb(-errnoNumber('EIO'))
            }
          },
          (err: unknown) => {
            this.bump('backend:failed')
            this.bump('error')
            this.opts.log?.(`paciofs: ${name} failed: ${(err as Error)?.message ?? String(err)}`)
            const code = (err as { code?: string })?.code
            cb(-errnoNumber(code === 'HOST_REQUEST_TIMEOUT' || code === 'CLIENT_TIMEOUT' ? 'ETIMEDOUT' : 'EIO'))
          },
        )
      }
    const ro = (): boolean => this.backend.readOnly
    const EROFS = -errnoNumber('EROFS')
    const fail = (errno: string): [number] => [-errnoNumber(errno)]
    const readSlow = wrap('read', async (who: Caller | undefined, path: string, fd: number, buf: Buffer, len: number, pos: number) => {
      const h = this.handles.get(fd)
      const p = h?.path ?? path
      const s = h ? this.sessions.get(h.ino) : undefined
      if (s === undefined || s.steps.length === 0) {
        const r = await this.backend.read(p, pos, len)
        if (!r.ok) return fail(r.errno)
        buf.set(r.value)
        return [r.value.length]
      }
      // Pending writes of an open session: committed bytes, then the steps in order.
      const end = Math.min(pos + len, s.size)
      if (end <= pos) return [0]
      const out = Buffer.alloc(end - pos)
      const r = await this.backend.read(p, pos, end - pos)
      if (!r.ok) return fail(r.errno)
      out.set(r.value)
      overlay(out, pos, s.steps)
      buf.set(out)
      return [out.length]
    })

    return {
      init: (cb: (err: number) => void) => cb(0),

      statfs: wrap('statfs', async (_who: Caller | undefined) => {
        const u = await this.backend.usage()
        const bsize = 4096
        const total = 2 ** 31
        const used = Math.ceil(u.bytes / bsize)
        return [0, { bsize, frsize: bsize, blocks: total, bfree: total - used, bavail: total - used, files: 2 ** 31, ffree: 2 ** 31 - u.files, favail: 2 ** 31 - u.files, fsid: 0, flag: 0, namemax: 255 }]
      }),

      getattr: wrap('getattr', async (who: Caller | undefined, path: string) => {
        const r = await this.backend.getattr(path)
        if (!r.ok) return fail(r.errno)
        const s = this.sessions.get(r.value.ino)
        return [0, statOf(r.value, s !== undefined && s.steps.length > 0 ? s.size : undefined)]
      }),
      fgetattr: wrap('fgetattr', async (who: Caller | undefined, path: string, fd: number) => {
        const h = this.handles.get(fd)
        const r = await this.backend.getattr(h?.path ?? path)
        if (!r.ok) return fail(r.errno)
        const s = this.sessions.get(r.value.ino)
        return [0, statOf(r.value, s !== undefined && s.steps.length > 0 ? s.size : undefined)]
      }),

      // No access handler: with default_permissions the kernel answers access(2) itself.

      readdir: wrap('readdir', async (who: Caller | undefined, path: string) => {
        const r = await this.backend.readdir(path)
        if (!r.ok) return fail(r.errno)
        return [0, ['.', '..', ...r.value.map((e) => e.name)]]
      }),
      opendir: wrap('opendir', async (who: Caller | undefined, path: string) => {
        const r = await this.backend.getattr(path)
        if (!r.ok) return fail(r.errno)
        return r.value.kind === 'dir' ? [0, 0] : fail('ENOTDIR')
      }),
      releasedir: wrap('releasedir', async (_who: Caller | undefined) => [0]),

      open: wrap('open', async (who: Caller | undefined, path: string, flags: number) => {
        const r = await this.backend.getattr(path)
        if (!r.ok) return fail(r.errno)
        if ((flags & 3) !== 0 && ro()) return [EROFS]
        if (r.value.kind === 'dir' && (flags & 3) !== 0) return fail('EISDIR')
        return [0, this.openHandle(r.value.ino, path, r.value.size)]
      }),
      create: wrap('create', async (who: Caller | undefined, path: string, mode: number) => {
        if (ro()) return [EROFS]
        const res = await this.mutate({ type: 'create', path, mode: mode & 0o7777, ...this.base(who) })
        if (res < 0) return [res]
        const r = await this.backend.getattr(path)
        if (!r.ok) return fail(r.errno)
        return [0, this.openHandle(r.value.ino, path, r.value.size)]
      }),

      read: (path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) => {
        // The hot path answers synchronously: an open file without pending writes is read by
        // inode straight into the kernel's buffer (no path walk, no copy, no promise).
        const h = this.handles.get(fd)
        const s = h ? this.sessions.get(h.ino) : undefined
        if (h !== undefined && (s === undefined || s.steps.length === 0) && this.backend.readInto !== undefined) {
          this.bump('op')
          let r
          try {
            r = this.backend.readInto(h.ino, pos, len, buf)
          } catch (err) {
            this.bump('backend:failed')
            this.opts.log?.(`paciofs: read failed: ${(err as Error).message}`)
            return cb(-errnoNumber('EIO'))
          }
          if (!r.ok) this.bump('error')
          return cb(r.ok ? r.value : -errnoNumber(r.errno))
        }
        return readSlow(path, fd, buf, len, pos, cb as (...r: unknown[]) => void)
      },

      write: wrap('write', async (who: Caller | undefined, path: string, fd: number, buf: Buffer, len: number, pos: number) => {
        if (ro()) return [EROFS]
        const h = this.handles.get(fd)
        if (h === undefined) return fail('EBADF')
        // open() made the session; a getattr per 128 KiB write would walk the path each time.
        const s = this.sessions.get(h.ino) ?? this.sessionFor(h.ino, h.path, (await this.sizeOf(h.path)) ?? 0)
        const c0 = await this.claim(h.ino, s, who)
        if (c0 < 0) return [c0]
        // fuse-native reuses `buf` for the next request: keep a copy.
        s.steps.push({ offset: pos, data: Uint8Array.prototype.slice.call(buf, 0, len) })
        s.size = Math.max(s.size, pos + len)
        s.bytes += len
        if (s.bytes >= SESSION_BYTES_MAX) {
          // Early: the writer goes on while the node makes this part durable (close/fsync wait).
          const c = await this.commit(h.ino, true)
          if (c < 0) return [c]
        }
        return [len]
      }),

      truncate: wrap('truncate', async (who: Caller | undefined, path: string, size: number) => {
        if (ro()) return [EROFS]
        const r = await this.backend.getattr(path)
        if (r.ok && this.sessions.get(r.value.ino)?.handles) return [await this.truncateInSession(r.value.ino, size, who)]
        return [await this.mutate({ type: 'truncate', path, size, ...this.base(who) })]
      }),
      ftruncate: wrap('ftruncate', async (who: Caller | undefined, path: string, fd: number, size: number) => {
        if (ro()) return [EROFS]
        const h = this.handles.get(fd)
        if (h === undefined) return [await this.mutate({ type: 'truncate', path, size, ...this.base(who) })]
        if (!this.sessions.has(h.ino)) this.sessionFor(h.ino, h.path, (await this.sizeOf(h.path)) ?? 0)
        return [await this.truncateInSession(h.ino, size, who)]
      }),

      flush: wrap('flush', async (who: Caller | undefined, _path: string, fd: number) => {
        if (ro()) return [0]
        return [await this.durable(this.handles.get(fd)?.ino)]
      }),
      fsync: wrap('fsync', async (who: Caller | undefined, _path: string, _datasync: number, fd: number) => {
        if (ro()) return [0]
        return [await this.durable(this.handles.get(fd)?.ino)]
      }),
      fsyncdir: wrap('fsyncdir', async (_who: Caller | undefined) => [ro() ? 0 : await this.durable(undefined)]),
      release: wrap('release', async (who: Caller | undefined, _path: string, fd: number) => {
        const h = this.handles.get(fd)
        if (h === undefined) return [0]
        this.handles.delete(fd)
        const res = ro() ? 0 : await this.durable(h.ino)
        const s = this.sessions.get(h.ino)
        if (s !== undefined && --s.handles <= 0 && s.steps.length === 0 && !s.committing) this.sessions.delete(h.ino)
        return [res]
      }),

      unlink: wrap('unlink', async (who: Caller | undefined, path: string) => (ro() ? [EROFS] : [await this.mutate({ type: 'unlink', path, ...this.base(who) })])),
      rmdir: wrap('rmdir', async (who: Caller | undefined, path: string) => (ro() ? [EROFS] : [await this.mutate({ type: 'rmdir', path, ...this.base(who) })])),
      mkdir: wrap('mkdir', async (who: Caller | undefined, path: string, mode: number) =>
        ro() ? [EROFS] : [await this.mutate({ type: 'mkdir', path, mode: mode & 0o7777, ...this.base(who) })]),
      mknod: wrap('mknod', async (who: Caller | undefined, path: string, mode: number, dev: number) =>
        ro() ? [EROFS] : [await this.mutate({ type: 'mknod', path, mode: mode & (S_IFMT | 0o7777), rdev: dev, ...this.base(who) })]),
      symlink: wrap('symlink', async (who: Caller | undefined, target: string, path: string) =>
        ro() ? [EROFS] : [await this.mutate({ type: 'symlink', path, target, ...this.base(who) })]),
      readlink: wrap('readlink', async (who: Caller | undefined, path: string) => {
        const r = await this.backend.readlink(path)
        return r.ok ? [0, r.value] : fail(r.errno)
      }),
      link: wrap('link', async (who: Caller | undefined, from: string, to: string) =>
        ro() ? [EROFS] : [await this.mutate({ type: 'link', from, to, ...this.base(who) })]),
      rename: wrap('rename', async (who: Caller | undefined, from: string, to: string) => {
        if (ro()) return [EROFS]
        const res = await this.mutate({ type: 'rename', from, to, ...this.base(who) })
        if (res === 0) this.renamed(from, to)
        return [res]
      }),
      chmod: wrap('chmod', async (who: Caller | undefined, path: string, mode: number) =>
        ro() ? [EROFS] : [await this.mutate({ type: 'chmod', path, mode: mode & 0o7777, ...this.base(who) })]),
      chown: wrap('chown', async (who: Caller | undefined, path: string, uid: number, gid: number) =>
        ro() ? [EROFS] : [await this.mutate({ type: 'chown', path, uid: uid === 0xffffffff ? -1 : uid, gid: gid === 0xffffffff ? -1 : gid, ...this.base(who) })]),
      utimens: wrap('utimens', async (who: Caller | undefined, path: string, atime: NativeTime, mtime: NativeTime) =>
        ro() ? [EROFS] : [await this.mutate({ type: 'utimens', path, atime, mtime, ...this.base(who) })]),

      setxattr: wrap('setxattr', async (who: Caller | undefined, path: string, name: string, value: Buffer, _position: number, flags: number) =>
        ro() ? [EROFS] : [await this.mutate({ type: 'setxattr', path, name, value: Uint8Array.prototype.slice.call(value), flags, ...this.base(who) })]),
      getxattr: wrap('getxattr', async (who: Caller | undefined, path: string, name: string, _position: number) => {
        const r = await this.backend.getxattr(path, name)
        return r.ok ? [0, Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength)] : fail(r.errno)
      }),
      listxattr: wrap('listxattr', async (who: Caller | undefined, path: string) => {
        const r = await this.backend.listxattr(path)
        if (!r.ok) return fail(r.errno)
        // trusted.* names are listed to root only, as local file systems do (the kernel already
        // answers a non-root getxattr of one ENODATA).
        return [0, who === undefined || who.uid === 0 ? r.value : r.value.filter((n) => !n.startsWith('trusted.'))]
      }),
      removexattr: wrap('removexattr', async (who: Caller | undefined, path: string, name: string) =>
        ro() ? [EROFS] : [await this.mutate({ type: 'removexattr', path, name, ...this.base(who) })]),
    }
  }

  private openHandle(ino: number, path: string, size: number): number {
    const fd = this.nextFd++
    this.handles.set(fd, { ino, path })
    this.sessionFor(ino, path, size).handles++
    return fd
  }

  /** Makes `who` the author of the session's next steps: steps someone else made are committed
   *  first (early), so every operation carries the identity that wrote its bytes. */
  private async claim(ino: number, s: Session, who: Caller | undefined): Promise<number> {
    while (s.committing) await s.committing
    if (who === undefined) return 0
    const cred = credOf(who)
    if (s.steps.length > 0 && (s.cred === undefined || !sameCred(s.cred, cred))) {
      const c = await this.commit(ino, true)
      if (c < 0) return c
      while (s.committing) await s.committing
    }
    s.cred = cred
    return 0
  }

  private async sizeOf(path: string): Promise<number | undefined> {
    const r = await this.backend.getattr(path)
    return r.ok ? r.value.size : undefined
  }

  private async truncateInSession(ino: number, size: number, who: Caller | undefined): Promise<number> {
    const s = this.sessions.get(ino)!
    const c = await this.claim(ino, s, who)
    if (c < 0) return c
    s.steps.push({ truncate: size })
    s.size = size
    return 0
  }
}

/** Applies pending write steps to `out`, which holds the committed bytes at file offset `pos`. */
export function overlay(out: Uint8Array, pos: number, steps: readonly WriteStep[]): void {
  const end = pos + out.length
  for (const st of steps) {
    if ('truncate' in st) {
      if (st.truncate < end) out.fill(0, Math.max(0, st.truncate - pos))
      continue
    }
    const a = Math.max(pos, st.offset)
    const b = Math.min(end, st.offset + st.data.length)
    if (a < b) out.set(st.data.subarray(a - st.offset, b - st.offset), a - pos)
  }
}

/** Splits a session into parts that each touch at most MAX_WRITE_BLOCKS blocks. */
export function splitSteps(steps: readonly WriteStep[]): WriteStep[][] {
  const parts: WriteStep[][] = []
  let cur: WriteStep[] = []
  let blocks = 0
  for (const st of steps) {
    const n = 'truncate' in st ? 1 : Math.ceil((st.offset % BLOCK_SIZE + st.data.length) / BLOCK_SIZE) + 1
    if (blocks + n > MAX_WRITE_BLOCKS / 2 && cur.length > 0) {
      parts.push(cur)
      cur = []
      blocks = 0
    }
    cur.push(st)
    blocks += n
  }
  if (cur.length > 0) parts.push(cur)
  return parts
}

// ---- stale mounts ------------------------------------------------------------------------------

/** The FUSE mount on `dir`, if any: its connection number under /sys/fs/fuse/connections. */
export async function findMount(dir: string): Promise<{ conn: number; fstype: string } | undefined> {
  const target = resolve(dir)
  let text: string
  try {
    text = await readFileAsync('/proc/self/mountinfo', 'utf8')
  } catch {
    return undefined
  }
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint opts ... - fstype source superopts
    const f = line.split(' ')
    if (f.length < 10) continue
    const mp = f[4]!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    if (mp !== target) continue
    const dash = f.indexOf('-')
    const fstype = f[dash + 1] ?? ''
    if (!fstype.startsWith('fuse')) continue
    return { conn: Number(f[2]!.split(':')[1]), fstype }
  }
  return undefined
}

/** A mount left behind by a crashed process: unmount it; if that fails, abort its connection
 *  (fusectl) and detach it lazily (../shared/DESIGN.md). */
export async function cleanupStaleMount(dir: string, log?: (line: string) => void): Promise<void> {
  const m = await findMount(dir)
  if (m === undefined) return
  log?.(`paciofs: ${dir} still has a FUSE mount (connection ${m.conn}) from an earlier process; removing it`)
  try {
    await run('fusermount', ['-uz', resolve(dir)])
    if ((await findMount(dir)) === undefined) return
  } catch {
    // fall through to abort
  }
  try {
    await run('mount', ['-t', 'fusectl', 'none', '/sys/fs/fuse/connections']).catch(() => undefined)
    await writeFileAsync(`/sys/fs/fuse/connections/${m.conn}/abort`, '1')
  } catch {
    // the connection may be gone already
  }
  await run('umount', ['-l', resolve(dir)]).catch(() => undefined)
  if ((await findMount(dir)) !== undefined) throw new Error(`${dir} is still mounted and could not be unmounted; run: fusermount -uz ${dir}`)
}
