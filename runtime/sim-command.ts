// `paciofs sim`: one seed, or a swarm of seeds, of the deterministic simulator (sim/run.ts).
// Prints every chosen parameter, then one result line; a failure also prints its violations,
// the shrunk fault plan and the exact command that replays it. Exit 0 when every invariant held,
// 1 when one was violated (or the simulator crashed), 2 for bad usage.
import { writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import {
  BYZ_STRATEGIES,
  DEFAULT_SIM_CONFIG,
  FAULT_CLASSES,
  describeConfig,
  planFor,
  runSim,
  shrinkFailure,
  validateConfig,
  type ByzStrategy,
  type FaultClass,
  type FaultPlan,
  type SimConfig,
  type SimResult,
} from '../sim/run.ts'
import { renderTraceHtml } from '../sim/trace-html.ts'

export interface CommandIo {
  stdout(s: string): void
  stderr(s: string): void
  /** Where the swarm's progress bar goes (only drawn when stderrIsTTY). */
  readonly stderrStream?: NodeJS.WritableStream
  readonly stderrIsTTY: boolean
}

export const SIM_USAGE = `usage: paciofs sim --seed <n> [options]
       paciofs sim --seeds <from>..<to> [options]

Runs a cluster of the real protocol core in virtual time under the fault plan the seed chooses,
with Byzantine nodes, and checks every invariant of spec/ after every step and liveness after a
heal phase. The same seed and options replay the same run bit for bit (same trace hash).

options:
  --seed <n>              the run's seed (0..4294967295)
  --seeds <a>..<b>        a swarm: every seed from a to b (inclusive), with a summary
  --order <o>             the volumes' order: fotb (default) | totb (spec/totb.md "Volumes in
                          total order": operations applied in one total order, TOTB-7, TOTB-8)
  --dag                   run totb's DAG simulator alone instead ('paciofs sim --dag --help')
  --nodes <n>             processes in the cluster (default ${DEFAULT_SIM_CONFIG.nodes}, 1..16)
  --volumes <n>           volumes created (default ${DEFAULT_SIM_CONFIG.volumes}, 1..8)
  --byzantine <n>         Byzantine nodes among them (default ${DEFAULT_SIM_CONFIG.byzantine}, 0..nodes-1)
  --faults <list>         all | none | a comma list of: ${FAULT_CLASSES.join(',')} (default all)
  --strategies <list>     Byzantine strategies to choose from: ${BYZ_STRATEGIES.join(',')} (default all)
  --policy <p>            vote policy of the volumes: majority | any (default ${DEFAULT_SIM_CONFIG.policy})
  --admission <a>         closed | open: the volumes' admission (default: unset, the genesis of
                          volumes made before admission existed: every applicant is admitted).
                          closed: joiners are invited or admitted by id, and two applicants
                          without a valid invite (reused, expired, forged, ...) try to join vol0
  --retention             retention workload: governance configured by each founder, files
                          and directories retained and held, false early times, every
                          changing op tried on them (FS-14, FS-15 checked after every step)
  --ops <n>               file system operations in the workload (default ${DEFAULT_SIM_CONFIG.ops})
  --crypto <c>            test (fast, insecure) | real (secp256k1) (default ${DEFAULT_SIM_CONFIG.crypto})
  --plan <json>           a fault plan (JSON) instead of the seed's; failures print one to replay
  --no-shrink             on a failure, do not search for a smaller failing plan
  --json                  print one JSON object instead of text
  --trace <file.html>     write a space-time diagram of the run (a self-contained HTML page)
  -h, --help              show this help

exit status: 0 every invariant held, 1 an invariant was violated, 2 bad usage

examples:
  paciofs sim --seed 42
  paciofs sim --seed 42 --faults loss,crash --byzantine 0 --trace /tmp/run42.html
  paciofs sim --seeds 1..200 --ops 100
`

export class UsageError extends Error {}

interface SimArgs {
  readonly config: Omit<SimConfig, 'seed'>
  /** The seed flags as given (a single seed is a swarm of one without the summary). */
  readonly seeds: { from: number; to: number; single: boolean }
  readonly plan: FaultPlan | undefined
  readonly json: boolean
  readonly trace: string | undefined
  readonly shrink: boolean
  /** Flags as given, kept for the replay command (e.g. whether --strategies was set). */
  readonly strategiesGiven: boolean
}

const SEED_MAX = 0xffff_ffff
/** Bounds the swarm so a typo (1..1e12) is a usage error, not a run that never ends. */
const SWARM_RUNS_MAX = 10_000_000

export function simCommand(argv: readonly string[], io: CommandIo): number {
  let args: SimArgs | 'help'
  try {
    args = parseSimArgs(argv)
  } catch (e) {
    if (!(e instanceof UsageError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS')))) throw e
    io.stderr(`paciofs sim: ${e.message}\n${SIM_USAGE.split('\n\n', 1)[0]}\nrun 'paciofs sim --help' for every option\n`)
    return 2
  }
  if (args === 'help') {
    io.stdout(SIM_USAGE)
    return 0
  }
  return args.seeds.single ? runOne(args, io) : runSwarm(args, io)
}

function parseSimArgs(argv: readonly string[]): SimArgs | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      nodes: { type: 'string' },
      volumes: { type: 'string' },
      byzantine: { type: 'string' },
      faults: { type: 'string' },
      strategies: { type: 'string' },
      policy: { type: 'string' },
      admission: { type: 'string' },
      retention: { type: 'boolean' },
      order: { type: 'string' },
      ops: { type: 'string' },
      crypto: { type: 'string' },
      plan: { type: 'string' },
      'no-shrink': { type: 'boolean' },
      json: { type: 'boolean' },
      trace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return 'help'
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`)
  const seeds = parseSeedFlags(values.seed, values.seeds)
  const d = DEFAULT_SIM_CONFIG
  const nodes = values.nodes === undefined ? d.nodes : integer('--nodes', values.nodes, 1, 16)
  const byzantine = values.byzantine === undefined ? Math.min(d.byzantine, nodes - 1) : integer('--byzantine', values.byzantine, 0, 15)
  const config: Omit<SimConfig, 'seed'> = {
    nodes,
    volumes: values.volumes === undefined ? d.volumes : integer('--volumes', values.volumes, 1, 8),
    byzantine,
    faults: values.faults === undefined ? d.faults : faultList(values.faults),
    policy: values.policy === undefined ? d.policy : oneOf('--policy', values.policy, ['majority', 'any'] as const),
    ops: values.ops === undefined ? d.ops : integer('--ops', values.ops, 0, 100_000),
    crypto: values.crypto === undefined ? d.crypto : oneOf('--crypto', values.crypto, ['test', 'real'] as const),
    ...(values.strategies === undefined ? {} : { strategies: strategyList(values.strategies) }),
    ...(values.admission === undefined ? {} : { admission: oneOf('--admission', values.admission, ['closed', 'open'] as const) }),
    ...(values.retention === true ? { retention: true } : {}),
    ...(values.order === undefined || values.order === 'fotb' ? {} : { order: oneOf('--order', values.order, ['fotb', 'totb'] as const) }),
  }
  const bad = validateConfig({ ...config, seed: seeds.from })
  if (bad) throw new UsageError(bad)
  if (!seeds.single && values.plan !== undefined) throw new UsageError('--plan replays one run: use it with --seed')
  if (!seeds.single && values.trace !== undefined) throw new UsageError('--trace draws one run: use it with --seed (each failure prints its replay command)')
  if (values.trace !== undefined && !/\.html?$/i.test(values.trace)) throw new UsageError(`--trace wants a file name ending in .html, not '${values.trace}'`)
  return {
    config,
    seeds,
    plan: values.plan === undefined ? undefined : parsePlan(values.plan, config),
    json: values.json === true,
    trace: values.trace,
    shrink: values['no-shrink'] !== true,
    strategiesGiven: values.strategies !== undefined,
  }
}

/** `--seed N` (one run) or `--seeds A..B` (a swarm), as both simulators take them. */
export function parseSeedFlags(seed: string | undefined, range: string | undefined): { from: number; to: number; single: boolean } {
  if (seed !== undefined && range !== undefined) throw new UsageError('give --seed or --seeds, not both')
  if (seed !== undefined) {
    const s = integer('--seed', seed, 0, SEED_MAX)
    return { from: s, to: s, single: true }
  }
  if (range === undefined) throw new UsageError('give --seed <n> (one run) or --seeds <from>..<to> (a swarm)')
  const m = /^(\d+)\.\.(\d+)$/.exec(range)
  if (!m) throw new UsageError(`--seeds wants <from>..<to>, e.g. 1..100, not '${range}'`)
  const from = integer('--seeds', m[1]!, 0, SEED_MAX)
  const to = integer('--seeds', m[2]!, 0, SEED_MAX)
  if (to < from) throw new UsageError(`--seeds ${range}: the last seed is below the first`)
  if (to - from + 1 > SWARM_RUNS_MAX) throw new UsageError(`--seeds ${range}: at most ${SWARM_RUNS_MAX} runs`)
  return { from, to, single: false }
}

export function integer(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} wants a whole number, not '${text}'`)
  const n = Number(text)
  if (n < min || n > max) throw new UsageError(`${flag} must be ${min}..${max}, not ${text}`)
  return n
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === text)
  if (found === undefined) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, not '${text}'`)
  return found
}

function faultList(text: string): FaultClass[] {
  if (text === 'all') return [...FAULT_CLASSES]
  if (text === 'none') return []
  const out: FaultClass[] = []
  for (const name of text.split(',')) {
    const f = FAULT_CLASSES.find((c) => c === name)
    if (f === undefined) throw new UsageError(`unknown fault '${name}' in --faults; known: all, none, ${FAULT_CLASSES.join(', ')}`)
    if (!out.includes(f)) out.push(f)
  }
  // Canonical order, so equal sets give equal configs (and equal replay commands).
  return FAULT_CLASSES.filter((c) => out.includes(c))
}

function strategyList(text: string): ByzStrategy[] {
  const out: ByzStrategy[] = []
  for (const name of text.split(',')) {
    const s = BYZ_STRATEGIES.find((c) => c === name)
    if (s === undefined) throw new UsageError(`unknown strategy '${name}' in --strategies; known: ${BYZ_STRATEGIES.join(', ')}`)
    if (!out.includes(s)) out.push(s)
  }
  return BYZ_STRATEGIES.filter((c) => out.includes(c))
}

/** A JSON fault plan, checked field by field: a replayed plan must be one the simulator can run. */
function parsePlan(text: string, config: Omit<SimConfig, 'seed'>): FaultPlan {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    throw new UsageError(`--plan is not valid JSON: ${(e as Error).message}`)
  }
  const fail = (what: string): never => {
    throw new UsageError(`--plan: ${what}`)
  }
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
  const num = (o: Record<string, unknown>, k: string, min: number, max: number, where: string): void => {
    const x = o[k]
    if (typeof x !== 'number' || !Number.isFinite(x) || x < min || x > max) fail(`${where}${k} must be a number in ${min}..${max}`)
  }
  const nodeIx = (x: unknown, where: string): void => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= config.nodes) fail(`${where} must be a node index 0..${config.nodes - 1}`)
  }
  const arr = (o: Record<string, unknown>, k: string): unknown[] => {
    const x = o[k]
    if (!Array.isArray(x)) return fail(`${k} must be a list`)
    return x
  }
  if (!isObj(v)) return fail('must be a JSON object')
  const known = ['lossPct', 'dupPct', 'delayMinMs', 'delayMaxMs', 'partitions', 'crashes', 'skew', 'byzantine', 'diskFull']
  for (const k of Object.keys(v)) if (!known.includes(k)) fail(`unknown field '${k}' (fields: ${known.join(', ')})`)
  num(v, 'lossPct', 0, 100, '')
  num(v, 'dupPct', 0, 100, '')
  num(v, 'delayMinMs', 0, 3_600_000, '')
  num(v, 'delayMaxMs', 0, 3_600_000, '')
  if ((v.delayMaxMs as number) < (v.delayMinMs as number)) fail('delayMaxMs is below delayMinMs')
  arr(v, 'partitions').forEach((p, i) => {
    const w = `partitions[${i}].`
    if (!isObj(p)) return fail(`${w.slice(0, -1)} must be an object`)
    num(p, 'startMs', 0, 3_600_000, w)
    num(p, 'durationMs', 0, 3_600_000, w)
    if (p.kind !== 'isolate' && p.kind !== 'split' && p.kind !== 'oneway') fail(`${w}kind must be isolate, split or oneway`)
    const side = arr(p, 'side')
    if (side.length === 0) fail(`${w}side must name at least one node`)
    side.forEach((x, j) => nodeIx(x, `${w}side[${j}]`))
  })
  arr(v, 'crashes').forEach((c, i) => {
    const w = `crashes[${i}].`
    if (!isObj(c)) return fail(`${w.slice(0, -1)} must be an object`)
    nodeIx(c.node, `${w}node`)
    num(c, 'startMs', 0, 3_600_000, w)
    num(c, 'downMs', 0, 3_600_000, w)
    if (c.torn !== null) num(c, 'torn', 0, 1, w)
    arr(c, 'flips').forEach((f, j) => {
      if (!isObj(f)) return fail(`${w}flips[${j}] must be an object`)
      num(f, 'record', 0, Number.MAX_SAFE_INTEGER, `${w}flips[${j}].`)
      num(f, 'bit', 0, Number.MAX_SAFE_INTEGER, `${w}flips[${j}].`)
    })
    // Absent in plans printed before the 'tail' class existed: no batch lost.
    if (c.lostTail !== undefined) num(c, 'lostTail', 0, 1_000_000, w)
  })
  // Absent in plans printed before the 'full' class existed: no full disk.
  if (v.diskFull !== undefined) {
    arr(v, 'diskFull').forEach((d, i) => {
      const w = `diskFull[${i}].`
      if (!isObj(d)) return fail(`${w.slice(0, -1)} must be an object`)
      nodeIx(d.node, `${w}node`)
      num(d, 'startMs', 0, 3_600_000, w)
      num(d, 'durationMs', 0, 3_600_000, w)
      if (typeof d.reserve !== 'boolean') fail(`${w}reserve must be true or false`)
    })
  }
  arr(v, 'skew').forEach((s, i) => {
    if (typeof s !== 'number' || !(s > 0) || s > 100) fail(`skew[${i}] must be a clock rate in (0, 100]`)
  })
  arr(v, 'byzantine').forEach((s, i) => {
    if (!BYZ_STRATEGIES.some((b) => b === s)) fail(`byzantine[${i}] must be one of ${BYZ_STRATEGIES.join(', ')}`)
  })
  return v as unknown as FaultPlan
}

/** The command line that replays a run exactly: every parameter, and the plan when it is not the seed's own. */
export function replayCommand(config: SimConfig, plan: FaultPlan | undefined, extra: readonly string[] = []): string {
  const faults = config.faults.length === FAULT_CLASSES.length ? 'all' : config.faults.length === 0 ? 'none' : config.faults.join(',')
  const parts = [
    'paciofs sim',
    `--seed ${config.seed}`,
    `--nodes ${config.nodes}`,
    `--volumes ${config.volumes}`,
    `--byzantine ${config.byzantine}`,
    `--faults ${faults}`,
    ...(config.strategies ? [`--strategies ${config.strategies.join(',')}`] : []),
    `--policy ${config.policy}`,
    ...(config.admission !== undefined ? [`--admission ${config.admission}`] : []),
    ...(config.retention === true ? ['--retention'] : []),
    ...(config.order === 'totb' ? ['--order', 'totb'] : []),
    `--ops ${config.ops}`,
    `--crypto ${config.crypto}`,
    ...(plan ? [`--plan ${shellQuote(JSON.stringify(plan))}`] : []),
    ...extra,
  ]
  return parts.join(' ')
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

type Outcome = { ok: true; result: SimResult } | { ok: false; error: Error }

function attempt(config: SimConfig, plan: FaultPlan, keepTrace: boolean): Outcome {
  try {
    return { ok: true, result: runSim(config, plan, { keepTrace }) }
  } catch (e) {
    // A throw is the simulator's or the core's own bug, not a peer's bad input: report it as a
    // failure with its replay command rather than dying without one.
    return { ok: false, error: e instanceof Error ? e : new Error(String(e)) }
  }
}

function runOne(args: SimArgs, io: CommandIo): number {
  const config: SimConfig = { ...args.config, seed: args.seeds.from }
  const plan = args.plan ?? planFor(config)
  const givenPlan = args.plan
  const out: string[] = []
  if (!args.json) {
    io.stdout(`paciofs sim: ${givenPlan ? 'fault plan from --plan' : 'fault plan chosen by the seed'}\n${indent(describeConfig(config, plan))}\n`)
  }
  const t0 = performance.now()
  const outcome = attempt(config, plan, args.trace !== undefined)
  const wallMs = Math.round(performance.now() - t0)
  const replayAsRun = replayCommand(config, givenPlan)

  if (!outcome.ok) {
    const msg = outcome.error.stack ?? outcome.error.message
    if (args.json) {
      io.stdout(`${JSON.stringify({ seed: config.seed, config, plan, crashed: msg, replay: replayAsRun })}\n`)
    } else {
      io.stdout(`result: CRASHED — the simulator threw (a bug in sim/ or core/)\n${indent(msg)}\nreplay: ${replayAsRun}\n`)
    }
    return 1
  }
  const result = outcome.result
  let traceNote = ''
  if (args.trace !== undefined) {
    writeFileSync(args.trace, renderTraceHtml(result, { replay: replayAsRun }))
    traceNote = `, diagram in ${args.trace}`
    // The page holds the trace; the result object need not keep it alive any longer.
    delete (result as { trace?: unknown }).trace
  }
  const passed = result.violations.length === 0

  let shrunk: { plan: FaultPlan; result: SimResult } | undefined
  if (!passed && args.shrink) {
    if (!args.json) io.stderr('shrinking the fault plan (re-running smaller plans of the same seed) ...\n')
    shrunk = shrinkFailure(config, plan)
  }
  const replayPlan = shrunk?.plan ?? givenPlan
  const replay = replayCommand(config, replayPlan, shrunk ? ['--no-shrink'] : [])

  if (args.json) {
    io.stdout(
      `${JSON.stringify({
        seed: result.seed,
        config: result.config,
        plan: result.plan,
        ok: passed,
        events: result.events,
        virtualMs: result.virtualMs,
        violations: result.violations,
        notes: result.notes,
        traceHash: result.traceHash,
        nodes: result.nodes,
        wallMs,
        ...(args.trace !== undefined ? { traceFile: args.trace } : {}),
        ...(shrunk ? { shrunk: { plan: shrunk.plan, events: shrunk.result.events, violations: shrunk.result.violations, traceHash: shrunk.result.traceHash } } : {}),
        ...(passed ? {} : { replay }),
      })}\n`,
    )
    return passed ? 0 : 1
  }
  const stats = `${result.events} events, ${fmtSeconds(result.virtualMs)} virtual in ${fmtSeconds(wallMs)}, trace ${result.traceHash.slice(0, 16)}${traceNote}`
  if (passed) {
    io.stdout(`result: ok — every invariant held (${stats})\n`)
    for (const note of result.notes) io.stdout(`  note: ${note}\n`)
    return 0
  }
  out.push(`result: FAILED — ${result.violations.length} violation${result.violations.length > 1 ? 's' : ''} of ${countById(result.violations)} (${stats})`)
  for (const v of result.violations.slice(0, 20)) out.push(`  ${v.id} at ${v.at} ms: ${v.message}`)
  if (result.violations.length > 20) out.push(`  ... and ${result.violations.length - 20} more`)
  if (shrunk) {
    const sv = shrunk.result.violations
    out.push(`shrunk fault plan (still fails: ${sv.length > 0 ? countById(sv) : 'no, the failure did not reproduce; the plan above is the smallest seen'}):`)
    out.push(indent(describeConfig(config, shrunk.plan).split('\n').slice(2).join('\n')))
    out.push(`  ${JSON.stringify(shrunk.plan)}`)
  }
  out.push(`replay: ${replay}`)
  out.push(`diagram: add --trace run-${config.seed}.html to the replay command`)
  io.stdout(`${out.join('\n')}\n`)
  return 1
}

interface Failure {
  readonly seed: number
  readonly violations: SimResult['violations']
  readonly crashed?: string
  readonly replay: string
  readonly plan?: FaultPlan
}

function runSwarm(args: SimArgs, io: CommandIo): number {
  const { from, to } = args.seeds
  const runs = to - from + 1
  const base: SimConfig = { ...args.config, seed: from }
  if (!args.json) {
    const shown = describeConfig(base, planFor(base)).split('\n').slice(0, 2).join('\n').replace(/^seed \d+: /, '')
    io.stdout(`paciofs sim: swarm of ${runs} seed${runs > 1 ? 's' : ''}, ${from}..${to}; each seed chooses its own fault plan\n${indent(shown)}\n`)
  }
  const bar =
    io.stderrIsTTY && !args.json
      ? new cliProgress.SingleBar(
          {
            stream: io.stderrStream ?? process.stderr,
            format: 'sim [{bar}] {value}/{total} seeds | {events} events | {failed} failed | ETA {eta_formatted}',
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined
  bar?.start(runs, 0, { events: 0, failed: 0 })

  const byId = new Map<string, number>()
  const failures: Failure[] = []
  // Checks a run did not make, with the reason (e.g. liveness beyond the fault model): by kind.
  const notes: { seed: number; notes: string[] }[] = []
  let events = 0
  const t0 = performance.now()
  for (let seed = from; seed <= to; seed++) {
    const config: SimConfig = { ...args.config, seed }
    const plan = planFor(config)
    const outcome = attempt(config, plan, false)
    if (!outcome.ok) {
      byId.set('CRASH', (byId.get('CRASH') ?? 0) + 1)
      failures.push({ seed, violations: [], crashed: outcome.error.message, replay: replayCommand(config, undefined) })
    } else {
      events += outcome.result.events
      if (outcome.result.notes.length > 0) notes.push({ seed, notes: outcome.result.notes })
      const vs = outcome.result.violations
      for (const id of new Set(vs.map((v) => v.id))) byId.set(id, (byId.get(id) ?? 0) + 1)
      if (vs.length > 0) {
        let shrunkPlan: FaultPlan | undefined
        if (args.shrink) {
          bar?.update({ failed: failures.length + 1, events })
          shrunkPlan = shrinkFailure(config, plan).plan
        }
        failures.push({ seed, violations: vs, replay: replayCommand(config, shrunkPlan, shrunkPlan ? ['--no-shrink'] : []), ...(shrunkPlan ? { plan: shrunkPlan } : {}) })
      }
    }
    bar?.update(seed - from + 1, { events, failed: failures.length })
  }
  const wallMs = performance.now() - t0
  bar?.stop()
  const eventsPerSec = wallMs > 0 ? Math.round((events / wallMs) * 1000) : 0
  const violationsById = Object.fromEntries([...byId].sort(([a], [b]) => a.localeCompare(b)))

  if (args.json) {
    io.stdout(
      `${JSON.stringify({
        seeds: { from, to },
        config: args.config,
        runs,
        passed: runs - failures.length,
        failed: failures.length,
        events,
        wallMs: Math.round(wallMs),
        eventsPerSec,
        violationsById,
        failures,
        notes,
      })}\n`,
    )
    return failures.length === 0 ? 0 : 1
  }
  const out = [
    `summary: ${runs} run${runs > 1 ? 's' : ''}, ${runs - failures.length} passed, ${failures.length} failed`,
    `events: ${events} in ${fmtSeconds(wallMs)} wall, ${eventsPerSec} events/s`,
    `violations by invariant (runs): ${byId.size === 0 ? 'none' : [...byId].map(([id, n]) => `${id} ${n}`).join(', ')}`,
  ]
  const kinds = noteKinds(notes)
  out.push(`runs with unchecked properties: ${notes.length === 0 ? 'none' : `${notes.length} of ${runs}`}`)
  for (const [kind, seeds] of kinds) out.push(`  ${seeds.length} run${seeds.length > 1 ? 's' : ''}: ${kind} (seeds ${seeds.slice(0, 12).join(', ')}${seeds.length > 12 ? ', ...' : ''})`)
  if (failures.length > 0) {
    out.push('failures:')
    for (const f of failures) {
      out.push(`  seed ${f.seed}: ${f.crashed !== undefined ? `CRASHED: ${f.crashed}` : countById(f.violations)}`)
      out.push(`    ${f.replay}`)
    }
  }
  io.stdout(`${out.join('\n')}\n`)
  return failures.length === 0 ? 0 : 1
}

/** Notes grouped by what they say, with names and numbers taken out: "vol1: liveness not
 *  checked: beyond the fault model: 6 members, ..." and its vol0 twin are one kind. */
function noteKinds(notes: readonly { seed: number; notes: string[] }[]): [string, number[]][] {
  const kinds = new Map<string, number[]>()
  for (const { seed, notes: ns } of notes) {
    for (const kind of new Set(ns.map((n) => n.replace(/^vol\d+: /, '').replace(/: beyond the fault model: .*/, ': beyond the fault model').replace(/[0-9a-f]{8}#\d+/g, '<entry>')))) {
      let seeds = kinds.get(kind)
      if (!seeds) kinds.set(kind, (seeds = []))
      seeds.push(seed)
    }
  }
  return [...kinds].sort(([, a], [, b]) => b.length - a.length)
}

function countById(vs: SimResult['violations']): string {
  const m = new Map<string, number>()
  for (const v of vs) m.set(v.id, (m.get(v.id) ?? 0) + 1)
  return [...m].map(([id, n]) => (n > 1 ? `${id} x${n}` : id)).join(', ')
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')
}

function fmtSeconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}
