// Real `paciofs` processes for runtime tests: spawn, wait for a line, stop, and never leave a
// mount behind. The test process never serves a mount itself (../shared/DESIGN.md: the serving
// process must not touch its own mount), so tests may use the file system API on mounts freely.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { cleanupStaleMount, findMount } from '../../runtime/fuse.ts'

const BIN = fileURLToPath(new URL('../../bin/paciofs.js', import.meta.url))
const exec = promisify(execFile)

export interface Proc {
  readonly child: ChildProcess
  stdout: string
  stderr: string
  /** Resolves with the exit code (or the signal name) when the process ends. */
  readonly exited: Promise<number | string>
}

const live = new Set<Proc>()

/** Starts `paciofs <args>` with its own environment additions. */
export function startPaciofs(args: readonly string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const p: Proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((ok) => child.once('exit', (code, sig) => ok(code ?? sig ?? -1))),
  }
  child.stdout!.on('data', (c: Buffer) => (p.stdout += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (p.stderr += c.toString()))
  live.add(p)
  void p.exited.then(() => live.delete(p))
  return p
}

/** Runs `paciofs <args>` to completion. */
export async function runPaciofs(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string; bytes: Buffer }> {
  try {
    const r = await exec(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 })
    return { code: 0, stdout: r.stdout.toString(), stderr: r.stderr.toString(), bytes: r.stdout }
  } catch (err) {
    const e = err as { code?: number; stdout?: Buffer; stderr?: Buffer }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout?.toString() ?? '', stderr: e.stderr?.toString() ?? '', bytes: e.stdout ?? Buffer.alloc(0) }
  }
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, everyMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Waits until `p` printed a line matching `re` on stdout (failing early if it exits). */
export async function waitForLine(p: Proc, re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  let exited: number | string | undefined
  void p.exited.then((c) => (exited = c))
  let m: RegExpMatchArray | null = null
  await waitFor(`${re} from paciofs (stdout: ${p.stdout.slice(-500)} stderr: ${p.stderr.slice(-2000)})`, () => {
    if (exited !== undefined) throw new Error(`paciofs exited (${exited}) before printing ${re}; stderr: ${p.stderr.slice(-2000)}`)
    return (m = re.exec(p.stdout)) !== null
  }, timeoutMs)
  return m!
}

/** Mounts with `paciofs mount <dir> <args>` and waits until the mount answers. */
export async function mountPaciofs(dir: string, args: readonly string[], env: Record<string, string> = {}): Promise<Proc> {
  const p = startPaciofs(['mount', dir, ...args], env)
  await waitForLine(p, /^mounted /m, 60_000)
  // fuse-native reports the mount before the kernel's INIT completed: wait until it answers.
  await waitFor(`${dir} to answer`, async () => (await findMount(dir)) !== undefined && (await stat(dir).then(() => true, () => false)))
  return p
}

/** Stops a process with `signal` and waits for it; SIGKILL after `graceMs`. */
export async function stopProc(p: Proc, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<number | string> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.exited
  p.child.kill(signal)
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs)
  const code = await p.exited
  clearTimeout(t)
  return code
}

/** For afterEach/afterAll: every process started here is killed and every mount under `dirs` removed. */
export async function cleanupAll(mountDirs: readonly string[]): Promise<void> {
  await Promise.all([...live].map((p) => stopProc(p, 'SIGTERM', 5_000)))
  for (const d of mountDirs) await cleanupStaleMount(d).catch(() => undefined)
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it; closed again at once). */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', () => ok()))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((ok) => s.close(() => ok()))
  return port
}
