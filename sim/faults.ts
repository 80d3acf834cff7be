// Fault plans: every fault of a run, as plain data chosen by fast-check from the seed, so that a
// failing run shrinks to a small plan and replays from its printed JSON.
import fc from 'fast-check'
import type { NetworkModel, NodeId } from './cluster.ts'
import { Prng } from './prng.ts'
import type { TimeMs } from '../core/types.ts'

/** 'tail': a restart finds the newest durable batches gone without a trace in the store itself (as
 *  LevelDB skips a damaged newest log record); the tail witness tells (spec/runtime.md RT-9).
 *  'full': a node's disk is full for a while (RT-10): fs calls are refused ENOSPC before they are
 *  stepped, and a batch that meets the full disk is held with everything after it. */
export type FaultClass = 'loss' | 'dup' | 'delay' | 'partition' | 'crash' | 'torn' | 'corrupt' | 'skew' | 'tail' | 'full'
export const FAULT_CLASSES: readonly FaultClass[] = ['loss', 'dup', 'delay', 'partition', 'crash', 'torn', 'corrupt', 'skew', 'tail', 'full']

export type ByzStrategy = 'equivocate' | 'twin' | 'forge' | 'tamper' | 'replay' | 'withhold' | 'lie' | 'vote-abuse'
export const BYZ_STRATEGIES: readonly ByzStrategy[] = ['equivocate', 'twin', 'forge', 'tamper', 'replay', 'withhold', 'lie', 'vote-abuse']

export interface Partition {
  /** Offset from the start of the fault phase. */
  readonly startMs: number
  readonly durationMs: number
  /** isolate: node i alone; split: `side` vs the rest; oneway: messages from `side` to the rest are lost. */
  readonly kind: 'isolate' | 'split' | 'oneway'
  /** Node indices on one side. */
  readonly side: readonly number[]
}

export interface Crash {
  readonly node: number
  readonly startMs: number
  readonly downMs: number
  /** Crash in the middle of a step with this share of its records written (torn), or between steps. */
  readonly torn: number | null
  /** Bits of the disk flipped while down (bit rot; the node must detect them). */
  readonly flips: readonly { record: number; bit: number }[]
  /** The newest durable batches lost while down (0: none): the node restarts on a store that
   *  ends before them, finds that from its tail witness and recovers its own chain from the
   *  members (core/fotb/recover.ts). */
  readonly lostTail: number
}

export interface DiskFull {
  readonly node: number
  readonly startMs: number
  readonly durationMs: number
  /** Whether fs calls are refused ENOSPC before they are stepped (the runtime's reserve check);
   *  without it every step's batch meets the full disk and is held. */
  readonly reserve: boolean
}

export interface FaultPlan {
  readonly lossPct: number
  readonly dupPct: number
  /** Message delay: min..max ms (a max well above min reorders). */
  readonly delayMinMs: number
  readonly delayMaxMs: number
  readonly partitions: readonly Partition[]
  readonly crashes: readonly Crash[]
  /** Timer clock rate per node index (1 = exact). */
  readonly skew: readonly number[]
  /** Strategy per Byzantine node (the last `byzantine` node indices). */
  readonly byzantine: readonly ByzStrategy[]
  /** Windows in which a correct node's disk is full (absent in plans from before the class). */
  readonly diskFull?: readonly DiskFull[]
}

export const NO_FAULTS: FaultPlan = {
  lossPct: 0,
  dupPct: 0,
  delayMinMs: 5,
  delayMaxMs: 5,
  partitions: [],
  crashes: [],
  skew: [],
  byzantine: [],
}

/** How long the fault phase lasts; faults are placed inside it. */
export const FAULT_PHASE_MS = 30_000
/** Bounds that keep a correct member within the remote_get retry bound (63.5 s, spec/paciofs.md). */
export const MAX_PARTITION_MS = 15_000
export const MAX_DOWN_MS = 20_000

export function planArbitrary(opts: {
  nodes: number
  byzantine: number
  faults: readonly FaultClass[]
  strategies: readonly ByzStrategy[]
}): fc.Arbitrary<FaultPlan> {
  const has = (f: FaultClass) => opts.faults.includes(f)
  const correctCount = opts.nodes - opts.byzantine
  const nodeIx = fc.integer({ min: 0, max: Math.max(0, opts.nodes - 1) })
  const partition: fc.Arbitrary<Partition> = fc.record({
    startMs: fc.integer({ min: 0, max: FAULT_PHASE_MS - 1000 }),
    durationMs: fc.integer({ min: 500, max: MAX_PARTITION_MS }),
    kind: fc.constantFrom<Partition['kind']>('isolate', 'split', 'oneway'),
    side: fc.uniqueArray(nodeIx, { minLength: 1, maxLength: Math.max(1, Math.floor((opts.nodes - 1) / 2)) }).map((s) => [...s].sort((a, b) => a - b)),
  })
  // Crashes hit correct nodes only (a Byzantine node's behaviour is its strategy).
  const crash: fc.Arbitrary<Crash> = fc.record({
    node: fc.integer({ min: 0, max: Math.max(0, correctCount - 1) }),
    startMs: fc.integer({ min: 0, max: FAULT_PHASE_MS - 1000 }),
    downMs: fc.integer({ min: 100, max: MAX_DOWN_MS }),
    torn: has('torn') ? fc.option(fc.double({ min: 0, max: 0.99, noNaN: true }).map((x) => Math.round(x * 100) / 100), { nil: null }) : fc.constant(null),
    flips: has('corrupt')
      ? fc.array(fc.record({ record: fc.nat({ max: 100_000 }), bit: fc.nat({ max: 10_000 }) }), { maxLength: 1 })
      : fc.constant([]),
    // Last in the record: plans without the class draw exactly what they drew before it existed.
    lostTail: has('tail') ? fc.constantFrom(0, 0, 1, 2) : fc.constant(0),
  })
  return fc.record({
    lossPct: has('loss') ? fc.integer({ min: 0, max: 30 }) : fc.constant(0),
    dupPct: has('dup') ? fc.integer({ min: 0, max: 50 }) : fc.constant(0),
    delayMinMs: fc.constant(has('delay') ? 1 : 5),
    delayMaxMs: has('delay') ? fc.integer({ min: 1, max: 400 }) : fc.constant(5),
    partitions: has('partition') ? fc.array(partition, { maxLength: 3 }) : fc.constant([]),
    crashes: has('crash') || has('torn') || has('corrupt') || has('tail') ? fc.array(crash, { maxLength: 2 }) : fc.constant([]),
    skew: has('skew')
      ? fc.array(fc.integer({ min: 50, max: 200 }).map((p) => p / 100), { minLength: opts.nodes, maxLength: opts.nodes })
      : fc.constant([]),
    byzantine: opts.byzantine > 0 && opts.strategies.length > 0
      ? fc.array(fc.constantFrom(...opts.strategies), { minLength: opts.byzantine, maxLength: opts.byzantine })
      : fc.constant([]),
    diskFull: has('full')
      ? fc.array(fc.record({
        node: fc.integer({ min: 0, max: Math.max(0, correctCount - 1) }),
        startMs: fc.integer({ min: 0, max: FAULT_PHASE_MS - 1000 }),
        durationMs: fc.integer({ min: 100, max: MAX_DOWN_MS }),
        reserve: fc.boolean(),
      }), { maxLength: 2 })
      : fc.constant([]),
  })
}

/** The network of a plan during the fault phase; lossless (fixed 5 ms) outside it. */
export class FaultyNetwork implements NetworkModel {
  private readonly prng: Prng
  faultsOn = false
  phaseStart: TimeMs = 0

  constructor(
    private readonly plan: FaultPlan,
    private readonly indexOf: (id: NodeId) => number,
    seed: number,
  ) {
    this.prng = new Prng(seed ^ 0x5eed)
  }

  private cut(from: number, to: number, now: TimeMs): boolean {
    const t = now - this.phaseStart
    for (const p of this.plan.partitions) {
      if (t < p.startMs || t >= p.startMs + p.durationMs) continue
      const a = p.side.includes(from)
      const b = p.side.includes(to)
      if (p.kind === 'oneway' ? a && !b : a !== b) return true
      if (p.kind === 'isolate' && (from === p.side[0]) !== (to === p.side[0])) return true
    }
    return false
  }

  route(from: NodeId, to: NodeId, now: TimeMs): { delays: number[]; drop?: 'loss' | 'partition' } {
    if (!this.faultsOn) return { delays: [5] }
    if (this.cut(this.indexOf(from), this.indexOf(to), now)) return { delays: [], drop: 'partition' }
    if (this.prng.chance(this.plan.lossPct / 100)) return { delays: [], drop: 'loss' }
    const delay = () => this.prng.range(this.plan.delayMinMs, this.plan.delayMaxMs)
    const delays = [delay()]
    if (this.prng.chance(this.plan.dupPct / 100)) delays.push(delay())
    return { delays }
  }
}

export function describePlan(plan: FaultPlan): string[] {
  const lines = [
    `network: loss ${plan.lossPct}%, duplication ${plan.dupPct}%, delay ${plan.delayMinMs}-${plan.delayMaxMs} ms`,
  ]
  for (const p of plan.partitions) lines.push(`partition ${p.kind} [${p.side.join(',')}] at +${p.startMs} ms for ${p.durationMs} ms`)
  for (const c of plan.crashes) {
    const how = c.torn === null ? 'crash' : `crash mid-step (${Math.round(c.torn * 100)}% of its records written)`
    lines.push(`${how} of node ${c.node} at +${c.startMs} ms, down ${c.downMs} ms${c.flips.length ? `, ${c.flips.length} disk bit flip(s)` : ''}${c.lostTail ? `, newest ${c.lostTail} batch(es) lost` : ''}`)
  }
  for (const d of plan.diskFull ?? []) lines.push(`disk of node ${d.node} full at +${d.startMs} ms for ${d.durationMs} ms (${d.reserve ? 'ENOSPC before stepping' : 'batches held'})`)
  if (plan.skew.length) lines.push(`timer clock rates: ${plan.skew.join(' ')}`)
  if (plan.byzantine.length) lines.push(`byzantine strategies: ${plan.byzantine.join(', ')}`)
  return lines
}
