// Differential POSIX tests: the same operation, as the same user, under a PacioFS mount and under
// a plain local directory (the oracle), compared result by result.
//
// One long-lived worker process per user identity (posix-worker.py, started as root with
// /usr/bin/python3, drops to the user's uid/gid/groups at once) performs each request under
// every root in turn and answers per root {ok, errno, value}. The test process itself never
// touches the mount, so the calls come from other processes with other credentials, as they
// would in real use.
//
// The target: a real `paciofs mount` (the default), or, to validate the harness itself, a
// plain directory under the path in $PACIOFS_POSIX_TARGET (e.g. /dev/shm: tmpfs against the
// oracle's /tmp), where every test must pass.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { cleanupAll, mountPaciofs, stopProc, type Proc } from './procs.ts'

const WORKER = fileURLToPath(new URL('./posix-worker.py', import.meta.url))
/** No request takes this long unless a system call hangs. */
const REQUEST_TIMEOUT_MS = 20_000
/** Absolute: root's pyenv shims are not usable by other uids. */
export const PYTHON = '/usr/bin/python3'

export interface User {
  readonly name: string
  readonly uid: number
  readonly gid: number
  readonly groups: readonly number[]
}

export const USERS = {
  root: { name: 'root', uid: 0, gid: 0, groups: [] },
  alice: { name: 'alice', uid: 1000, gid: 1000, groups: [] },
  bob: { name: 'bob', uid: 1001, gid: 1001, groups: [1000] },
  carol: { name: 'carol', uid: 1002, gid: 1002, groups: [] },
} as const satisfies Record<string, User>
export type UserName = keyof typeof USERS
/** A gid no user belongs to. */
export const FOREIGN_GID = 1003

export const isRoot = (): boolean => process.getuid?.() === 0

// ---------------------------------------------------------------------------------- requests

export type OpName =
  | 'stat' | 'lstat' | 'open' | 'create' | 'write' | 'read' | 'truncate' | 'unlink' | 'mkdir' | 'mkdirs' | 'rmdir'
  | 'rename' | 'link' | 'symlink' | 'readlink' | 'chmod' | 'chown' | 'lchown' | 'utime' | 'mkfifo'
  | 'mknod' | 'access' | 'listdir' | 'setxattr' | 'getxattr' | 'listxattr' | 'removexattr' | 'script' | 'tree'

/** A time for utime: ns since the epoch (bigint or decimal string), 'now' or 'omit'. */
export type TimeSpec = bigint | string | 'now' | 'omit'

export interface ScriptStep {
  op: 'write' | 'read' | 'fstat' | 'fchmod' | 'fchown' | 'ftruncate' | 'fsync' | 'seek'
  data?: string
  offset?: number
  size?: number
  mode?: number
  uid?: number
  gid?: number
  length?: number
}

/** One request; `path` (and `path2`) are relative to each root. See posix-worker.py. */
export interface Op {
  op: OpName
  path: string
  path2?: string
  flags?: string[]
  mode?: number | string
  data?: string
  offset?: number
  length?: number
  uid?: number
  gid?: number
  target?: string
  kind?: 'reg' | 'fifo' | 'chr' | 'blk'
  dev?: number
  atime?: TimeSpec
  mtime?: TimeSpec
  follow?: boolean
  name?: string
  value?: string
  /** An xattr value (or `dataHex` for file data) as hex, for binary or large values. */
  valueHex?: string
  dataHex?: string
  steps?: ScriptStep[]
  /** Run in each root (chdir) with the relative path as is: PATH_MAX applies to the same string.
   *  A directory (or a list, chdir'ed one after the other) below the root: run there. */
  cwd?: boolean | string | string[]
  /** Make the absolute path (and path2), root included, exactly this many bytes by appending
   *  'z's to its last name: the same absolute length under roots of different lengths. */
  padTo?: number
}

export interface Stat {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'chr' | 'blk' | 'sock' | 'unknown'
  mode: number
  perm: number
  uid: number
  gid: number
  nlink: number
  size: number
  ino: number
  rdev: number
  atime_ns: bigint
  mtime_ns: bigint
  ctime_ns: bigint
}

export interface Content {
  size: number
  sha256: string
  text?: string
  hex?: string
}

/** One entry of a 'tree' answer. */
export interface TreeEntry {
  path: string
  stat?: Stat
  content?: Content
  target?: string
  xattrs?: Record<string, string>
  error?: string
}

export type Res = { ok: true; value: unknown } | { ok: false; errno: string; value?: unknown }

function wire(op: Op): Record<string, unknown> {
  const w: Record<string, unknown> = { ...op }
  for (const k of ['atime', 'mtime'] as const) if (typeof op[k] === 'bigint') w[k] = op[k].toString()
  return w
}

/** Stat values come with ns times as decimal strings; make them bigints. */
function revive(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revive)
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    if (typeof o.atime_ns === 'string') return { ...o, atime_ns: BigInt(o.atime_ns), mtime_ns: BigInt(o.mtime_ns as string), ctime_ns: BigInt(o.ctime_ns as string) }
    if (Array.isArray(o.done)) return { ...o, done: o.done.map(revive) }
    if (typeof o.path === 'string' && o.stat !== undefined) return { ...o, stat: revive(o.stat) }
  }
  return v
}

// ---------------------------------------------------------------------------------- workers

class Worker {
  private readonly child: ChildProcess
  private readonly pending = new Map<number, { ok: (v: Record<string, unknown>) => void; fail: (e: Error) => void }>()
  private nextId = 1
  private stderr = ''
  private dead: Error | undefined

  constructor(readonly user: User, umask = 0o022) {
    this.child = spawn(PYTHON, ['-I', WORKER, String(user.uid), String(user.gid), user.groups.join(','), umask.toString(8)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' },
    })
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-4000)))
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let msg: Record<string, unknown>
      try {
        msg = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      const p = this.pending.get(msg.id as number)
      if (p === undefined) return
      this.pending.delete(msg.id as number)
      p.ok(msg)
    })
    this.child.once('exit', (code, sig) => {
      this.dead = new Error(`posix worker for ${user.name} exited (${code ?? sig}); stderr: ${this.stderr}`)
      for (const p of this.pending.values()) p.fail(this.dead)
      this.pending.clear()
    })
  }

  get isDead(): boolean {
    return this.dead !== undefined
  }

  /** One request; a worker that does not answer within `timeoutMs` (blocked in a system call,
   *  e.g. on a hung mount) is killed, and this and its other pending requests fail. */
  request(req: Record<string, unknown>, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Record<string, unknown>> {
    if (this.dead !== undefined) return Promise.reject(this.dead)
    const id = this.nextId++
    return new Promise((ok, fail) => {
      const t = setTimeout(() => {
        this.stderr += `\n(no answer to ${JSON.stringify(req).slice(0, 300)} within ${timeoutMs} ms: killed)`
        this.child.kill('SIGKILL')
      }, timeoutMs)
      this.pending.set(id, { ok: (v) => (clearTimeout(t), ok(v)), fail: (e) => (clearTimeout(t), fail(e)) })
      this.child.stdin!.write(JSON.stringify({ ...req, id }) + '\n')
    })
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((ok) => this.child.once('exit', ok))
    this.child.stdin!.end()
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(t)
  }
}

export interface Root {
  readonly label: string
  readonly dir: string
}

/** Entries made by root under every root for a case: made, chown'ed, then chmod'ed (chown would
 *  clear set-id bits). Directories before their contents: give parents first. */
export type Entry =
  | { type: 'dir'; path: string; mode: number; uid?: number; gid?: number }
  | { type: 'file'; path: string; mode: number; uid?: number; gid?: number; data?: string }
  | { type: 'symlink'; path: string; target: string; uid?: number; gid?: number }
  | { type: 'link'; path: string; to: string }

export class PosixOracle {
  private readonly workers = new Map<string, Worker>()

  constructor(readonly roots: readonly Root[]) {}

  get labels(): string[] {
    return this.roots.map((r) => r.label)
  }

  private worker(u: User): Worker {
    const key = `${u.uid}/${u.gid}/${u.groups.join(',')}`
    let w = this.workers.get(key)
    if (w === undefined || w.isDead) this.workers.set(key, (w = new Worker(u)))
    return w
  }

  /** Asks a worker who it is: proves the privilege drop. */
  async whoami(user: UserName | User): Promise<{ uid: number; gid: number; groups: number[]; umask: number }> {
    const u = typeof user === 'string' ? USERS[user] : user
    const r = await this.worker(u).request({ op: 'ping' })
    return r.value as { uid: number; gid: number; groups: number[]; umask: number }
  }

  /** Runs `op` as `user` under every root; one result per root, in the order of `roots`. */
  async run(user: UserName | User, op: Op): Promise<Res[]> {
    const u = typeof user === 'string' ? USERS[user] : user
    const r = await this.worker(u).request({ ...wire(op), roots: this.roots.map((x) => x.dir) })
    if (typeof r.error === 'string') throw new Error(`posix worker refused ${JSON.stringify(op)}: ${r.error}`)
    return (r.results as Res[]).map((x) => ({ ...x, value: revive(x.value) }) as Res)
  }

  /** Sends a raw request (for tests of the worker itself). */
  raw(user: UserName | User, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const u = typeof user === 'string' ? USERS[user] : user
    return this.worker(u).request(req)
  }

  /** As root, `op` must succeed under every root (setup steps). */
  async must(op: Op, user: UserName | User = 'root'): Promise<Res[]> {
    const rs = await this.run(user, op)
    rs.forEach((r, i) => {
      if (!r.ok) throw new Error(`setup failed under ${this.roots[i]!.label}: ${JSON.stringify(op)} -> ${r.errno}`)
    })
    return rs
  }

  /** Makes `entries` under every root as root, then gives them their owners and modes. */
  async setup(entries: readonly Entry[]): Promise<void> {
    for (const e of entries) {
      if (e.type === 'dir') await this.must({ op: 'mkdir', path: e.path, mode: 0o700 })
      else if (e.type === 'file') await this.must({ op: 'create', path: e.path, mode: 0o600, flags: ['O_EXCL'], data: e.data ?? '' })
      else if (e.type === 'symlink') await this.must({ op: 'symlink', path: e.path, target: e.target })
      else await this.must({ op: 'link', path: e.to, path2: e.path })
      if (e.type !== 'link' && (e.uid !== undefined || e.gid !== undefined))
        await this.must({ op: e.type === 'symlink' ? 'lchown' : 'chown', path: e.path, uid: e.uid ?? -1, gid: e.gid ?? -1 })
      if (e.type === 'dir' || e.type === 'file') await this.must({ op: 'chmod', path: e.path, mode: e.mode })
    }
  }

  async lstat(path: string): Promise<(Stat | undefined)[]> {
    return (await this.run('root', { op: 'lstat', path })).map((r) => (r.ok ? (r.value as Stat) : undefined))
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => w.close()))
    this.workers.clear()
  }
}

// ---------------------------------------------------------------------------------- directories

/** mkdtemp (0700) made reachable for every user: 0755, and every ancestor checked. */
export function reachableTempDir(prefix: string, base = tmpdir()): string {
  const d = mkdtempSync(join(base, prefix))
  chmodSync(d, 0o755)
  for (let p = dirname(resolve(d)); ; p = dirname(p)) {
    const m = statSync(p).mode
    if ((m & 0o001) === 0) throw new Error(`${p} (an ancestor of ${d}) is not searchable by others (mode ${(m & 0o7777).toString(8)})`)
    if (p === '/') break
  }
  return d
}

/** The kind of file system a directory is on (`stat -f`): ext2/ext3 (= ext4), tmpfs, fuseblk... */
/** rm -rf: unlike fs.rmSync, copes with paths beyond PATH_MAX (the path-limit tests make them). */
export function removeTree(dir: string): void {
  try {
    execFileSync('rm', ['-rf', '--one-file-system', dir], { stdio: 'ignore' })
  } catch {
    // best effort
  }
}

export function fsTypeOf(dir: string): string {
  try {
    return execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

export interface Target {
  readonly root: Root
  /** e.g. "paciofs mount at /tmp/x/mnt" or "local tmpfs at /dev/shm/x". */
  readonly description: string
  readonly proc: Proc | undefined
  close(): Promise<void>
}

/** The system under test: a fresh `paciofs mount`, or a local dir under $PACIOFS_POSIX_TARGET. */
export async function openTarget(prefix: string): Promise<Target> {
  const local = process.env.PACIOFS_POSIX_TARGET
  if (local !== undefined && local !== '') {
    const dir = reachableTempDir(prefix, local)
    return {
      root: { label: 'local', dir },
      description: `LOCAL ${fsTypeOf(dir)} directory ${dir} (harness validation: $PACIOFS_POSIX_TARGET is set, no mount tested)`,
      proc: undefined,
      close: async () => removeTree(dir),
    }
  }
  const base = reachableTempDir(prefix)
  const mnt = join(base, 'mnt')
  const data = join(base, 'data')
  const proc = await mountPaciofs(mnt, ['--data', data])
  return {
    root: { label: 'mount', dir: mnt },
    description: `paciofs mount (${fsTypeOf(mnt)}) at ${mnt}`,
    proc,
    close: async () => {
      await stopProc(proc).catch(() => undefined)
      await cleanupAll([mnt])
      removeTree(base)
    },
  }
}

export interface Setup {
  readonly oracle: PosixOracle
  readonly target: Target
  readonly oracleDir: string
  /** A fresh subdirectory name, made (root, 0755) under both roots. */
  fresh(tag: string): Promise<string>
  close(): Promise<void>
}

/** Opens the target and an oracle dir under /tmp, starts the workers, logs what is compared. */
export async function openPair(prefix: string): Promise<Setup> {
  const target = await openTarget(prefix)
  const oracleDir = reachableTempDir(`${prefix}oracle-`)
  const oracle = new PosixOracle([target.root, { label: 'oracle', dir: oracleDir }])
  console.log(`[posix] comparing ${target.description} with the oracle: ${fsTypeOf(oracleDir)} directory ${oracleDir}`)
  let n = 0
  return {
    oracle,
    target,
    oracleDir,
    async fresh(tag) {
      const d = `${tag}-${++n}`
      await oracle.setup([{ type: 'dir', path: d, mode: 0o755 }])
      return d
    },
    async close() {
      await oracle.close()
      await target.close()
      removeTree(oracleDir)
    },
  }
}

// ---------------------------------------------------------------------------------- comparing

export interface CompareOpts {
  /** Compare atime/mtime/ctime values exactly (default: no). */
  times?: boolean
  /** Compare directory sizes (default: no: they are the file system's own business). */
  dirSize?: boolean
}

/** The fields of a stat that must match: file type, permission bits incl. set-id and sticky, owner,
 *  group, link count, size (not for directories unless asked). Inode numbers: see inoPartition. */
export function statKey(s: Stat, o: CompareOpts = {}): Record<string, unknown> {
  const k: Record<string, unknown> = { type: s.type, perm: '0' + s.perm.toString(8), uid: s.uid, gid: s.gid, nlink: s.nlink }
  if (s.type !== 'dir' || o.dirSize) k.size = s.size
  if (o.times) Object.assign(k, { atime_ns: s.atime_ns, mtime_ns: s.mtime_ns, ctime_ns: s.ctime_ns })
  return k
}

function isStat(v: unknown): v is Stat {
  return v !== null && typeof v === 'object' && 'ino' in v && 'nlink' in v && 'mode' in v
}

/** A result with the parts that must match: stats reduced by statKey, contents by hash. */
export function normalize(r: Res | undefined, o: CompareOpts = {}): unknown {
  if (r === undefined) return 'missing'
  const norm = (v: unknown): unknown => {
    if (isStat(v)) return statKey(v, o)
    if (Array.isArray(v)) return v.map(norm)
    if (v !== null && typeof v === 'object') {
      const c = v as Record<string, unknown>
      if ('sha256' in c) return { size: c.size, sha256: c.sha256 }
      return Object.fromEntries(Object.entries(c).map(([k, x]) => [k, norm(x)]))
    }
    return v
  }
  return r.ok ? { ok: true, value: norm(r.value) } : { ok: false, errno: r.errno, ...(r.value !== undefined ? { value: norm(r.value) } : {}) }
}

/** Short text of a result for tables: "ok", "EACCES", "ok 0644 1000:1000 n1 s5". */
export function brief(r: Res | undefined): string {
  if (r === undefined) return '-'
  if (!r.ok) return r.errno
  const v = r.value
  if (v === null || v === undefined) return 'ok'
  if (isStat(v)) return `ok ${v.type} 0${v.perm.toString(8)} ${v.uid}:${v.gid} n${v.nlink}${v.type === 'dir' ? '' : ` s${v.size}`}`
  if (typeof v === 'object' && 'sha256' in (v as object)) {
    const c = v as Content
    return `ok ${c.size}B ${c.text !== undefined ? JSON.stringify(c.text.slice(0, 20)) : c.sha256.slice(0, 8)}`
  }
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))
  return `ok ${s.length > 60 ? s.slice(0, 57) + '...' : s}`
}

export function stringify(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))
}

/** undefined when the two results agree (outcome, errno, normalized value), else a description. */
export function differ(a: Res | undefined, b: Res | undefined, o: CompareOpts = {}): string | undefined {
  const [x, y] = [stringify(normalize(a, o)), stringify(normalize(b, o))]
  return x === y ? undefined : `${x}  vs  ${y}`
}

/** Which of the given paths name the same inode, as sorted groups of paths (singletons left out):
 *  raw inode numbers differ between file systems, the relation must not. */
export function inoPartition(stats: ReadonlyMap<string, Stat | undefined>): string[][] {
  const by = new Map<number, string[]>()
  for (const [p, s] of stats) if (s !== undefined) by.set(s.ino, [...(by.get(s.ino) ?? []), p])
  return [...by.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!))
}

/** A fixed-width text table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (r: readonly string[]) => r.map((c, i) => (c ?? '').padEnd(w[i]!)).join(' | ').trimEnd()
  return [line(head), w.map((n) => '-'.repeat(n)).join('-+-'), ...rows.map(line)].join('\n')
}

// ---------------------------------------------------------------------------------- a checker

/** A path for tables: runs of one character (long names) as "n{255}". */
export function short(p: string): string {
  return p.replace(/(.)\1{11,}/gu, (m, c: string) => `${c}{${[...m].length}}`)
}

export interface Mismatch {
  step: string
  user: string
  what: string
  target: string
  oracle: string
}

/** Runs steps under both roots, records every disagreement, and fails at the end with all of them
 *  in a table (not at the first: one run shows the whole picture). */
export class Checker {
  readonly mismatches: Mismatch[] = []
  private n = 0

  constructor(readonly s: Setup) {}

  /** Runs `op` as `user`, compares the results, then lstat's `paths` (as root) and compares them. */
  async run(user: UserName, op: Op, paths: readonly string[] = [], o: CompareOpts = {}): Promise<[Res, Res]> {
    const step = `#${++this.n} ${op.op} ${short(op.path)}${op.path2 !== undefined ? ' -> ' + short(op.path2) : ''}`
    const [t, or] = (await this.s.oracle.run(user, op)) as [Res, Res]
    if (differ(t, or, o) !== undefined) this.mismatches.push({ step, user, what: 'result', target: brief(t), oracle: brief(or) })
    await this.stats(paths, step, o)
    return [t, or]
  }

  /** lstat's each path (as root) under both roots and compares. */
  async stats(paths: readonly string[], step = `#${this.n}`, o: CompareOpts = {}): Promise<[Stat | undefined, Stat | undefined][]> {
    const out: [Stat | undefined, Stat | undefined][] = []
    for (const p of paths) {
      const [a, b] = (await this.s.oracle.run('root', { op: 'lstat', path: p })) as [Res, Res]
      if (differ(a, b, o) !== undefined) this.mismatches.push({ step, user: 'root', what: `lstat ${short(p)}`, target: brief(a), oracle: brief(b) })
      out.push([a.ok ? (a.value as Stat) : undefined, b.ok ? (b.value as Stat) : undefined])
    }
    return out
  }

  /** Compares which of `paths` share an inode under each root. */
  async links(paths: readonly string[], step = `#${this.n}`): Promise<void> {
    const st = await this.stats(paths, step)
    const t = inoPartition(new Map(paths.map((p, i) => [p, st[i]![0]])))
    const o = inoPartition(new Map(paths.map((p, i) => [p, st[i]![1]])))
    if (stringify(t) !== stringify(o)) this.mismatches.push({ step, user: 'root', what: 'same-inode groups', target: stringify(t), oracle: stringify(o) })
  }

  /** Records a custom comparison: equal values pass. */
  expectSame(what: string, target: unknown, oracle: unknown, step = `#${this.n}`): void {
    if (stringify(target) !== stringify(oracle)) this.mismatches.push({ step, user: '-', what, target: stringify(target), oracle: stringify(oracle) })
  }

  /** Records a failed expectation about the target alone. */
  expectTarget(what: string, ok: boolean, got: unknown, step = `#${this.n}`): void {
    if (!ok) this.mismatches.push({ step, user: '-', what, target: stringify(got), oracle: '(expected)' })
  }

  /** The table of mismatches, or '' when there are none. */
  report(): string {
    if (this.mismatches.length === 0) return ''
    const m = this.mismatches
    return table(['step', 'user', 'what', this.s.target.root.label, 'oracle'], m.map((x) => [x.step, x.user, x.what, x.target, x.oracle]))
  }
}
