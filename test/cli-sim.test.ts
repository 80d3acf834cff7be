// The `paciofs sim` command as a user runs it: the real binary (bin/paciofs.js through tsx) in
// child processes. Exit codes (0 held, 1 violated, 2 usage), the JSON result's fields, the
// determinism of the trace hash across processes, --plan replays, and a small swarm's summary.
// Small --ops keep each run to a few seconds; independent processes run concurrently.
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { main } from '../runtime/cli.ts'
import { replayCommand } from '../runtime/sim-command.ts'
import type { FaultPlan, SimConfig } from '../sim/run.ts'

const ROOT = join(import.meta.dirname, '..')
const BIN = join(ROOT, 'bin', 'paciofs.js')

interface Ran {
  code: number
  stdout: string
  stderr: string
}

function paciofs(args: readonly string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 64 << 20, timeout: 90_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error) // spawn failure or timeout, not an exit code
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr })
    })
  })
}

/** runtime/cli.ts's main with captured output, for the many usage cases. */
function inProcess(args: readonly string[]): Ran {
  let stdout = ''
  let stderr = ''
  const code = main(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), stderrIsTTY: false })
  if (typeof code !== 'number') throw new Error('sim and usage errors answer synchronously')
  return { code, stdout, stderr }
}

interface JsonResult {
  seed: number
  config: SimConfig
  plan: FaultPlan
  events: number
  violations: { id: string; message: string; at: number }[]
  traceHash: string
}

function parseJson(r: Ran): JsonResult {
  const lines = r.stdout.trim().split('\n')
  expect(lines, `one JSON line on stdout; stderr: ${r.stderr}`).toHaveLength(1)
  return JSON.parse(lines[0]!) as JsonResult
}

/** Splits a printed command line the way a POSIX shell would for our quoting ('...' and '\''). */
function shellWords(line: string): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === "'") {
      const end = line.indexOf("'", i + 1)
      word += line.slice(i + 1, end)
      i = end
      inWord = true
    } else if (c === '\\') {
      word += line[++i]!
      inWord = true
    } else if (c === ' ') {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else {
      word += c
      inWord = true
    }
  }
  if (inWord) words.push(word)
  return words
}

const SMALL = ['--ops', '50', '--no-shrink']

describe('paciofs binary: help and usage errors', () => {
  it('--help on the binary and on sim exits 0 and prints the usage', async () => {
    const [top, sim, none] = await Promise.all([paciofs(['--help']), paciofs(['sim', '--help']), paciofs([])])
    expect(top.code).toBe(0)
    expect(top.stdout).toMatch(/usage: paciofs <command>/)
    expect(top.stdout).toMatch(/\bsim\b/)
    expect(sim.code).toBe(0)
    expect(sim.stdout).toMatch(/usage: paciofs sim --seed <n>/)
    expect(sim.stdout).toMatch(/--seeds <a>\.\.<b>/)
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/no command/)
  })

  it('bad usage exits 2 with a message on stderr and nothing on stdout', async () => {
    const cases: [string[], RegExp][] = [
      [['bogus'], /unknown command 'bogus'/],
      [['sim', '--seed', '1', '--bogus'], /Unknown option '--bogus'/],
      [['sim', '--seed', 'x'], /--seed wants a whole number/],
      [['sim', '--seed', '-3'], /./],
      [['sim', '--seed', '1', '--nodes', '0'], /--nodes must be 1\.\.16/],
      [['sim', '--seed', '1', '--nodes', '3', '--byzantine', '3'], /byzantine must be/],
      [['sim', '--seed', '1', '--faults', 'loss,bogus'], /unknown fault 'bogus'/],
      [['sim', '--seed', '1', '--policy', 'most'], /--policy must be one of/],
      [['sim', '--seed', '1', '--strategies', 'nice'], /unknown strategy 'nice'/],
      [['sim'], /give --seed/],
      [['sim', '--seed', '1', '--seeds', '1..2'], /not both/],
      [['sim', '--seeds', '5..1'], /below the first/],
      [['sim', '--seeds', '1-5'], /--seeds wants <from>\.\.<to>/],
      [['sim', '--seed', '1', '--plan', '{nope'], /--plan is not valid JSON/],
      [['sim', '--seed', '1', '--plan', '{"lossPct":1}'], /--plan: dupPct must be/],
      [['sim', '--seed', '1', 'extra'], /unexpected argument 'extra'/],
      [['sim', '--seeds', '1..2', '--trace', 'x.html'], /--trace draws one run/],
    ]
    // Two through the binary (the exit code as a shell sees it), the rest in-process: same code path, faster.
    const ran = await Promise.all(cases.map(([args], i) => (i < 2 ? paciofs(args) : Promise.resolve(inProcess(args)))))
    ran.forEach((r, i) => {
      const [args, message] = cases[i]!
      expect(r.code, `paciofs ${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr, `paciofs ${args.join(' ')}`).toMatch(message)
      expect(r.stdout).toBe('')
    })
  })
})

describe('paciofs sim: one seed', () => {
  it('--json prints one object with seed, config, events, violations and traceHash; the exit code says whether an invariant was violated', async () => {
    const r = await paciofs(['sim', '--seed', '1', '--json', ...SMALL])
    const j = parseJson(r)
    expect(j.seed).toBe(1)
    expect(j.config).toMatchObject({ seed: 1, nodes: 5, volumes: 2, byzantine: 1, policy: 'majority', ops: 50 })
    expect(j.events).toBeGreaterThan(0)
    expect(Array.isArray(j.violations)).toBe(true)
    for (const v of j.violations) expect(v).toEqual({ id: expect.any(String), message: expect.any(String), at: expect.any(Number) })
    expect(j.traceHash).toMatch(/^[0-9a-f]{32}$/)
    expect(r.code).toBe(j.violations.length === 0 ? 0 : 1)
  })

  it('the same seed and config give the same traceHash in two separate processes; another seed gives another hash', async () => {
    const [a, b, c] = await Promise.all([
      paciofs(['sim', '--seed', '7', '--json', ...SMALL]),
      paciofs(['sim', '--seed', '7', '--json', ...SMALL]),
      paciofs(['sim', '--seed', '8', '--json', ...SMALL]),
    ])
    const [ja, jb, jc] = [parseJson(a), parseJson(b), parseJson(c)]
    expect(ja.traceHash).toBe(jb.traceHash)
    expect(ja.events).toBe(jb.events)
    expect(ja.violations).toEqual(jb.violations)
    expect(jc.traceHash).not.toBe(ja.traceHash)
  })

  it('the printed replay command (every parameter and the plan as --plan JSON) replays the run bit for bit', async () => {
    const first = parseJson(await paciofs(['sim', '--seed', '11', '--nodes', '4', '--volumes', '1', '--faults', 'loss,crash,partition', '--json', ...SMALL]))
    const words = shellWords(replayCommand(first.config, first.plan))
    expect(words.slice(0, 2)).toEqual(['paciofs', 'sim'])
    expect(words).toContain('--plan')
    const again = parseJson(await paciofs([...words.slice(1), '--json', '--no-shrink']))
    expect(again.plan).toEqual(first.plan)
    expect(again.config).toEqual(first.config)
    expect(again.traceHash).toBe(first.traceHash)
  })

  it('text output prints the chosen parameters, then one result line', async () => {
    const r = await paciofs(['sim', '--seed', '3', '--ops', '20', '--faults', 'none', '--byzantine', '0'])
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toMatch(/^paciofs sim: fault plan chosen by the seed/)
    expect(r.stdout).toMatch(/seed 3: 5 nodes \(0 Byzantine\), 2 volumes, policy majority, 20 ops/)
    expect(r.stdout).toMatch(/faults: none/)
    const results = lines.filter((l) => l.startsWith('result: '))
    expect(results).toHaveLength(1)
    if (r.code === 0) expect(results[0]).toMatch(/^result: ok — every invariant held \(\d+ events/)
    else expect(r.stdout).toMatch(/^replay: paciofs sim --seed 3 /m)
  })
})

describe('paciofs sim: swarm', () => {
  it('--seeds 1..3 runs three seeds and ends with a summary (runs, events, violations by invariant, events/s); fault-free runs exit 0', async () => {
    const r = await paciofs(['sim', '--seeds', '1..3', '--ops', '30', '--faults', 'none', '--byzantine', '0', '--no-shrink'])
    expect(r.stdout).toMatch(/swarm of 3 seeds, 1\.\.3/)
    expect(r.stdout).toMatch(/^summary: 3 runs, 3 passed, 0 failed$/m)
    expect(r.stdout).toMatch(/^events: \d+ in .* wall, \d+ events\/s$/m)
    expect(r.stdout).toMatch(/^violations by invariant \(runs\): none$/m)
    expect(r.stdout).toMatch(/^runs with unchecked properties: none$/m)
    expect(r.stderr).toBe('') // no progress bar when stderr is not a terminal
    expect(r.code).toBe(0)
  })

  it('a swarm prints the checks its runs did not make, by kind, with their seeds (here: 2 Byzantine of 4 is beyond the fault model)', async () => {
    const r = await paciofs(['sim', '--seeds', '1..2', '--nodes', '4', '--byzantine', '2', '--ops', '10', '--faults', 'none', '--no-shrink'])
    expect(r.stdout).toMatch(/^runs with unchecked properties: 2 of 2$/m)
    expect(r.stdout).toMatch(/^ {2}2 runs: liveness not checked: beyond the fault model \(seeds 1, 2\)$/m)
    const j = JSON.parse((await paciofs(['sim', '--seeds', '1..2', '--nodes', '4', '--byzantine', '2', '--ops', '10', '--faults', 'none', '--no-shrink', '--json'])).stdout) as { notes: { seed: number; notes: string[] }[] }
    expect(j.notes.map((n) => n.seed)).toEqual([1, 2])
    expect(j.notes[0]!.notes.some((n) => n.includes('liveness not checked'))).toBe(true)
  })

  it('--seeds with all faults prints the replay command of each failure, and the exit code follows the failures', async () => {
    const r = await paciofs(['sim', '--seeds', '1..2', '--ops', '30', '--no-shrink', '--json'])
    const j = JSON.parse(r.stdout) as { runs: number; failed: number; events: number; eventsPerSec: number; violationsById: Record<string, number>; failures: { seed: number; replay: string }[] }
    expect(j.runs).toBe(2)
    expect(j.events).toBeGreaterThan(0)
    expect(j.failures).toHaveLength(j.failed)
    for (const f of j.failures) expect(f.replay).toMatch(new RegExp(`^paciofs sim --seed ${f.seed} --nodes 5 --volumes 2 --byzantine 1 --faults all `))
    expect(r.code).toBe(j.failed === 0 ? 0 : 1)
  })
})
