// Helpers shared by the bench scripts: the machine a run ran on, the median/min/max of repeated
// runs, a markdown table for stdout, and the JSON file under bench/results/.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

export interface Machine {
  cpus: number
  model: string
  memGiB: number
  node: string
  platform: string
  /** 1, 5 and 15 minute load averages when the run started: figures drift with load. */
  loadavg: number[]
}

export function machine(): Machine {
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
  }
}

export interface Summary {
  runs: number[]
  median: number
  min: number
  max: number
}

/** Median (mean of the middle two for an even count), min and max of repeated measurements. */
export function summarize(runs: number[]): Summary {
  if (runs.length === 0) throw new Error('summarize: no runs')
  const s = [...runs].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  return { runs: [...runs], median, min: s[0]!, max: s[s.length - 1]! }
}

/** A figure for reading: 3 significant digits below 100, whole numbers with separators above. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US')
  return Number(n.toPrecision(3)).toString()
}

/** A GitHub markdown table; the first row is the header. Numbers go through fmt(). Columns are
 *  right-aligned where `rightAlign` says so, by default where every cell is a number (or empty). */
export function markdownTable(rows: readonly (readonly (string | number)[])[], rightAlign?: readonly boolean[]): string {
  const [header, ...body] = rows
  if (header === undefined) return ''
  const numeric = header.map((_, c) => rightAlign?.[c] ?? (body.length > 0 && body.every((r) => r[c] === undefined || r[c] === '' || typeof r[c] === 'number')))
  const cell = (v: string | number | undefined): string => (typeof v === 'number' ? fmt(v) : (v ?? ''))
  const line = (r: readonly (string | number)[]): string => `| ${header.map((_, c) => cell(r[c])).join(' | ')} |`
  return [line(header), `|${numeric.map((n) => (n ? '---:' : '---')).join('|')}|`, ...body.map(line)].join('\n') + '\n'
}

/** Writes `obj` as pretty JSON to bench/results/<name>.json; returns the path. */
export function writeResults(name: string, obj: unknown): string {
  const dir = fileURLToPath(new URL('./results/', import.meta.url))
  mkdirSync(dir, { recursive: true })
  const path = `${dir}${name}.json`
  writeFileSync(path, JSON.stringify(obj, null, 2) + '\n')
  return path
}

/** mulberry32: a small seeded PRNG, so every checkout and target gets the very same inputs. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A child process of a benchmark, with the tails of its output. */
export interface Proc {
  readonly name: string
  readonly child: ChildProcess
  stdout: string
  stderr: string
  readonly exited: Promise<number | string>
}

/** Every child still running, so that an aborted run can kill them. */
export const liveProcs = new Set<Proc>()

export function startProc(name: string, cmd: string, args: readonly string[], cwd?: string): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd !== undefined ? { cwd } : {}) })
  const p: Proc = { name, child, stdout: '', stderr: '', exited: new Promise((ok) => child.once('exit', (code, sig) => ok(code ?? sig ?? -1))) }
  // Tails only: a mount or a verify may print a lot (fio's JSON is far below 1 MiB).
  child.stdout!.on('data', (c: Buffer) => (p.stdout = (p.stdout + c.toString()).slice(-1024 * 1024)))
  child.stderr!.on('data', (c: Buffer) => (p.stderr = (p.stderr + c.toString()).slice(-64 * 1024)))
  liveProcs.add(p)
  void p.exited.then(() => liveProcs.delete(p))
  return p
}

export function alive(p: Proc): boolean {
  return p.child.exitCode === null && p.child.signalCode === null
}

/** Runs a child to completion (tracked, so an abort can kill it); its stdout when it exits 0. */
export async function runChild(name: string, cmd: string, args: readonly string[], cwd?: string): Promise<string> {
  const p = startProc(name, cmd, args, cwd)
  const code = await p.exited
  if (code !== 0) throw new Error(`${name} exited with ${code}; stderr: ${p.stderr.slice(-2000)}`)
  return p.stdout
}
