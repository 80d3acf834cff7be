// `paciofs sim --dag`: one seed or a swarm of the totb DAG simulator (sim/totb/dag.ts):
// total order alone over a model of fotb's guarantees, with Byzantine members, an adversarial
// network, crashes and committee changes, every TOTB invariant checked. Volumes do not order by
// totb yet (spec/totb.md "Still to do"), so this is not the whole stack that `paciofs sim` runs.
// Exit 0 when every invariant held, 1 when one was violated, 2 for bad usage.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { DEFAULT_DAG_CONFIG, runDagSim, type DagSimConfig, type DagSimResult } from '../sim/totb/dag.ts'
import { BYZANTINE_VERTEX_STRATEGIES, type ByzantineVertexStrategy } from '../sim/totb/byzantine.ts'
import { TOTB_MUTATIONS, faultBound, type TotbMutation } from '../core/totb/index.ts'
import { integer, parseSeedFlags, UsageError, type CommandIo } from './sim-command.ts'
import { renderDagHtml } from '../sim/totb/trace-html.ts'

export const SIM_TOTB_USAGE = `usage: paciofs sim --dag --seed <n> [options]
       paciofs sim --dag --seeds <from>..<to> [options]

Runs totb, the total order over the members' chains (spec/totb.md), alone: the real core/totb of
every member over a model of fotb's guarantees (one chain per author, each author's entries in
order, eventually all), with Byzantine members, delays, partitions, crashes and restarts, and
committee changes; checks TOTB-1..6. Volumes do not order by totb yet: this is not the whole
stack of 'paciofs sim' without --order. The same seed and options replay the same run.

options:
  --seed <n>, --seeds <a>..<b>   one run, or a swarm with a summary
  --nodes <n>             members (default ${DEFAULT_DAG_CONFIG.nodes}, 1..32)
  --byzantine <n>         Byzantine members (default: floor((nodes-1)/3), at most that)
  --ops <n>               operations appended in the 8 s fault phase (default ${DEFAULT_DAG_CONFIG.ops})
  --strategies <list>     Byzantine strategies to choose from: ${BYZANTINE_VERTEX_STRATEGIES.join(',')} (default all)
  --no-faults             no delays beyond 1-12 ms, no partitions, no crashes
  --reconfigure           a spare member joins, correct members leave (epochs)
  --mutation <m>          a deliberately broken rule, to see a checker fail: ${TOTB_MUTATIONS.join(', ')}
  --json                  one JSON object per run instead of text
  --trace <file.html>     with --seed: draw one correct member's DAG (rounds, refs, commits, epochs)
  -h, --help              show this help

examples:
  paciofs sim --dag --seed 42
  paciofs sim --dag --seeds 1..500 --nodes 7
  paciofs sim --dag --seed 5 --mutation totb-commit-with-f
`

export function simTotbCommand(argv: readonly string[], io: CommandIo): number {
  let parsed: Parsed | 'help'
  try {
    parsed = parse(argv)
  } catch (e) {
    if (!(e instanceof UsageError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS')))) throw e
    io.stderr(`paciofs sim --dag: ${e.message}\nrun 'paciofs sim --dag --help' for every option\n`)
    return 2
  }
  if (parsed === 'help') {
    io.stdout(SIM_TOTB_USAGE)
    return 0
  }
  const { config, from, to, single, json, trace } = parsed
  const failed: number[] = []
  const byId = new Map<string, number>()
  let events = 0
  const t0 = performance.now()
  for (let seed = from; seed <= to; seed++) {
    const r = runDagSim({ ...config, seed })
    events += r.events
    if (r.violations.length > 0) failed.push(seed)
    for (const id of new Set(r.violations.map((v) => v.id))) byId.set(id, (byId.get(id) ?? 0) + 1)
    if (json) io.stdout(JSON.stringify(summary(r)) + '\n')
    else if (single || r.violations.length > 0) io.stdout(describe(r) + '\n')
    if (trace !== undefined) {
      writeFileSync(trace, renderDagHtml(r, `paciofs sim --dag --seed ${seed} ${flags(config)}`))
      if (!json) io.stdout(`  trace: ${trace}\n`)
    }
  }
  const ms = performance.now() - t0
  if (!single && !json) {
    const runs = to - from + 1
    const ids = [...byId].map(([id, k]) => `${id} in ${k}`).join(', ')
    io.stdout(`swarm ${from}..${to} (${runs} runs, ${shape(config)}): ${runs - failed.length} clean, ${failed.length} failed${ids ? ` (${ids})` : ''}; ${events} events in ${(ms / 1000).toFixed(1)} s (${Math.round(events / (ms / 1000))} events/s)\n`)
    if (failed.length > 0) io.stdout(`replay: paciofs sim --dag --seed ${failed[0]} ${flags(config)}\n`)
  }
  return failed.length > 0 ? 1 : 0
}

interface Parsed {
  config: Omit<DagSimConfig, 'seed'>
  from: number
  to: number
  single: boolean
  json: boolean
  trace: string | undefined
}

function parse(argv: readonly string[]): Parsed | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      nodes: { type: 'string' },
      byzantine: { type: 'string' },
      ops: { type: 'string' },
      strategies: { type: 'string' },
      'no-faults': { type: 'boolean' },
      reconfigure: { type: 'boolean' },
      mutation: { type: 'string' },
      json: { type: 'boolean' },
      trace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return 'help'
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`)
  const { from, to, single } = parseSeedFlags(values.seed, values.seeds)
  const nodes = values.nodes === undefined ? DEFAULT_DAG_CONFIG.nodes : integer('--nodes', values.nodes, 1, 32)
  const byzantine = values.byzantine === undefined ? faultBound(nodes) : integer('--byzantine', values.byzantine, 0, faultBound(nodes))
  const strategies = values.strategies === undefined ? BYZANTINE_VERTEX_STRATEGIES : values.strategies.split(',').map((s) => {
    const found = BYZANTINE_VERTEX_STRATEGIES.find((k) => k === s)
    if (found === undefined) throw new UsageError(`unknown strategy '${s}'; known: ${BYZANTINE_VERTEX_STRATEGIES.join(', ')}`)
    return found as ByzantineVertexStrategy
  })
  let mutation: TotbMutation | undefined
  if (values.mutation !== undefined) {
    mutation = TOTB_MUTATIONS.find((m) => m === values.mutation)
    if (mutation === undefined) throw new UsageError(`unknown mutation '${values.mutation}'; known: ${TOTB_MUTATIONS.join(', ')}`)
  }
  const config: Omit<DagSimConfig, 'seed'> = {
    ...DEFAULT_DAG_CONFIG,
    nodes,
    byzantine,
    ops: values.ops === undefined ? DEFAULT_DAG_CONFIG.ops : integer('--ops', values.ops, 0, 100_000),
    strategies,
    faults: values['no-faults'] !== true,
    reconfigure: values.reconfigure === true,
    ...(mutation !== undefined ? { mutation } : {}),
  }
  if (values.trace !== undefined && !single) throw new UsageError('--trace draws one run: use it with --seed')
  if (values.trace !== undefined && !/\.html?$/i.test(values.trace)) throw new UsageError(`--trace wants a file name ending in .html, not '${values.trace}'`)
  return { config: values.trace !== undefined ? { ...config, keepTrace: true } : config, from, to, single, json: values.json === true, trace: values.trace }
}

function shape(c: Omit<DagSimConfig, 'seed'>): string {
  return `${c.nodes} members, ${c.byzantine} Byzantine, ${c.ops} ops, faults ${c.faults ? 'on' : 'off'}${c.reconfigure ? ', committee changes' : ''}${c.mutation ? `, mutation ${c.mutation}` : ''}`
}

function flags(c: Omit<DagSimConfig, 'seed'>): string {
  const parts = [`--nodes ${c.nodes}`, `--byzantine ${c.byzantine}`, `--ops ${c.ops}`]
  if (c.strategies.length !== BYZANTINE_VERTEX_STRATEGIES.length) parts.push(`--strategies ${c.strategies.join(',')}`)
  if (!c.faults) parts.push('--no-faults')
  if (c.reconfigure) parts.push('--reconfigure')
  if (c.mutation) parts.push(`--mutation ${c.mutation}`)
  return parts.join(' ')
}

function summary(r: DagSimResult): Record<string, unknown> {
  return {
    seed: r.config.seed, ok: r.violations.length === 0, violations: r.violations, ordered: r.ordered, rounds: r.rounds,
    vertices: r.vertices, epochs: r.epochs, restarts: r.restarts, rejections: r.rejections, strategies: r.strategies,
    events: r.events, orderHash: r.orderHash,
  }
}

function describe(r: DagSimResult): string {
  const c = r.config
  const lines = [`seed ${c.seed}: ${shape(c)}; Byzantine: ${Object.entries(r.strategies).map(([p, s]) => `${p} ${s}`).join(', ') || 'none'}`]
  lines.push(`  ordered per correct member: ${r.ordered.join(', ')}; rounds ${r.rounds} (last epoch), valid vertices ${r.vertices}, epochs ${r.epochs}, restarts ${r.restarts}`)
  const rej = Object.entries(r.rejections).map(([k, v]) => `${k.replace('reject:', '')} ${v}`).join(', ')
  if (rej) lines.push(`  rejected vertices: ${rej}`)
  if (r.violations.length === 0) lines.push(`  ok, every TOTB invariant held (order hash ${r.orderHash.slice(0, 16)})`)
  else {
    for (const v of r.violations.slice(0, 10)) lines.push(`  ${v.id} at ${v.at} ms: ${v.message}`)
    lines.push(`  replay: paciofs sim --dag --seed ${c.seed} ${flags(c)}`)
  }
  return lines.join('\n')
}
