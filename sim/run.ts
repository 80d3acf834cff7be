// One simulated run: a cluster of the real core under the seed's fault plan and Byzantine
// strategies, a workload, a heal phase, and every invariant checked (safety after every step,
// liveness after the heal). `runSim` is a pure function of (config, plan): same inputs, same
// trace hash.
import fc from 'fast-check'
import { sha256 } from '@noble/hashes/sha2.js'
import { nobleCrypto, type Crypto } from '../core/crypto.ts'
import { encode } from '../core/codec.ts'
import type { Admission, Genesis, Order, Policy } from '../core/volume/index.ts'
import { makeInvite, membersOf } from '../core/volume/index.ts'
import { faultsTolerated, quorum, recoveryWaitingFor } from '../core/fotb/index.ts'
import type { NodeReply } from '../core/node.ts'
import { DEFAULT_VOLUME_PARAMS, type VolumeParams } from '../core/volume/index.ts'
import type { Mutation } from '../core/mutations.ts'
import { applyOp } from '../core/fs/state.ts'
import { verifyNodeVolume } from '../core/node.ts'
import { listxattr, readdir } from '../core/fs/view.ts'
import { RETENTION_XATTR } from '../core/fs/retention.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { Cluster, type TraceEvent } from './cluster.ts'
import { InvariantChecker } from './invariants.ts'
import { Prng } from './prng.ts'
import { insecureTestCrypto } from './test-crypto.ts'
import { conflictingCall, nextCall, newMemberDir, SHARED_DIR, type MemberDir } from './workload.ts'
import { strategyHook, mustBeRemoved } from './byzantine.ts'
import {
  BYZ_STRATEGIES,
  FAULT_CLASSES,
  FAULT_PHASE_MS,
  FaultyNetwork,
  describePlan,
  planArbitrary,
  type ByzStrategy,
  type FaultClass,
  type FaultPlan,
} from './faults.ts'

export { FAULT_CLASSES, BYZ_STRATEGIES, type FaultClass, type ByzStrategy, type FaultPlan }

export interface SimConfig {
  readonly seed: number
  readonly nodes: number
  readonly volumes: number
  readonly byzantine: number
  readonly faults: readonly FaultClass[]
  readonly policy: Policy
  readonly ops: number
  readonly crypto: 'test' | 'real'
  /** Strategies the plan may choose from (default: all). */
  readonly strategies?: readonly ByzStrategy[]
  /** Test only: run a deliberately broken core (core/mutations.ts). */
  readonly mutation?: Mutation
  /** Write a forged checkpoint to a node's disk before each restart (CKPT-2). */
  readonly forgeCheckpoints?: boolean
  /** The volumes' admission (spec/paciofs.md "Admission"). Absent: v1 genesis records, every
   *  applicant admitted (the runs before admission existed, bit for bit). `closed`: members
   *  invite or admit every joiner, and uninvited applicants try their luck (ROGUE_DEFECTS). */
  readonly admission?: Admission
  /** Retention workload (spec/fs.md "Retention and legal hold"): each volume's founder
   *  configures governance with itself as governor, members retain, hold, lift, lie about
   *  times and try every changing op on what they kept. Absent: the runs before it, bit for bit. */
  readonly retention?: boolean
  /** The volumes' order (spec/totb.md "Volumes in total order"). Absent: fotb, bit for bit. */
  readonly order?: Order
  /** Test only: every loss of a correct member happens as drawn (the leaver leaves, a flip
   *  lands where the plan puts it) even beyond the fault model (see `roomToLose`); liveness is
   *  then checked only where the model still holds at the end. */
  readonly unbudgeted?: boolean
}

/** What the applicants of a closed run that should stay out bring (spec/paciofs.md VOL-13,
 *  VOL-14); `byzantine-invite` is a valid invite of a Byzantine member: that one is admitted. */
export const ROGUE_DEFECTS = ['no-invite', 'expired', 'forged', 'self-signed', 'other-invitee', 'byzantine-invite'] as const
export type RogueDefect = (typeof ROGUE_DEFECTS)[number] | 'reused'
/** Unix seconds far past any simulated time: the invites that should work. */
const FAR_EXPIRY_S = 4_000_000_000

export const DEFAULT_SIM_CONFIG: Omit<SimConfig, 'seed'> = {
  nodes: 5,
  volumes: 2,
  byzantine: 1,
  faults: FAULT_CLASSES,
  policy: 'majority',
  ops: 500,
  crypto: 'test',
}

/** Virtual time after the fault phase in which the cluster must settle (liveness bound):
 *  the remote_get schedule (63.5 s) plus a vote and its delivery, with margin. */
export const HEAL_MS = 150_000
/** The simulator's checkpoint period in epochs (the runtime's default is 1024). */
export const SIM_CHECKPOINT_EVERY = 8
/** Log records a simulated volume keeps in memory (VolumeParams.logKeep): few, so that every run
 *  reads most of its log back through the storage port (STORE-7). */
export const SIM_LOG_KEEP = 4
const SETUP_STEP_MS = 400

export interface SimViolation {
  readonly id: string
  readonly message: string
  readonly at: number
}

export interface SimResult {
  readonly seed: number
  readonly config: SimConfig
  readonly plan: FaultPlan
  readonly events: number
  readonly virtualMs: number
  readonly violations: SimViolation[]
  readonly traceHash: string
  readonly nodes: { id: string; pid: string; byzantine: string | null }[]
  /** Each volume's member set as the first correct, running member sees it at the end. */
  readonly finalMembers: { volume: string; members: string[] }[]
  /** Every running correct process's own view of every volume it holds, at the end. */
  readonly views: { node: string; volume: string; members: string[] }[]
  /** Checks that were not made, with the reason (e.g. liveness beyond the fault model). */
  readonly notes: string[]
  readonly trace?: TraceEvent[]
}

export function validateConfig(c: SimConfig): string | undefined {
  if (!Number.isSafeInteger(c.seed) || c.seed < 0) return 'seed must be a non-negative integer'
  if (c.nodes < 1 || c.nodes > 16) return 'nodes must be 1..16'
  if (c.volumes < 1 || c.volumes > 8) return 'volumes must be 1..8'
  if (c.byzantine < 0 || c.byzantine >= c.nodes) return 'byzantine must be 0..nodes-1'
  if (c.ops < 0 || c.ops > 100_000) return 'ops must be 0..100000'
  return undefined
}

function strategiesOf(config: SimConfig): readonly ByzStrategy[] {
  return config.strategies ?? BYZ_STRATEGIES
}

export function planFor(config: SimConfig): FaultPlan {
  const arb = planArbitrary({ nodes: config.nodes, byzantine: config.byzantine, faults: config.faults, strategies: strategiesOf(config) })
  return fc.sample(arb, { seed: config.seed, numRuns: 1 })[0]!
}

export function describeConfig(config: SimConfig, plan: FaultPlan): string {
  return [
    `seed ${config.seed}: ${config.nodes} nodes (${config.byzantine} Byzantine), ${config.volumes} volumes, policy ${config.policy}${config.admission !== undefined ? `, admission ${config.admission}` : ''}${config.order === 'totb' ? ', order totb' : ''}, ${config.ops} ops, ${config.crypto} crypto`,
    `faults: ${config.faults.length ? config.faults.join(',') : 'none'}`,
    ...describePlan(plan),
  ].join('\n')
}

function secretKeyOf(seed: number, index: number): Uint8Array {
  // Valid secp256k1 secret keys with overwhelming probability; deterministic per (seed, index).
  return sha256(encode(['paciofs/sim/key/v1', seed, index]))
}

function ok(r: NodeReply): boolean {
  return r.ok
}

export function runSim(config: SimConfig, planIn?: FaultPlan, opts: { keepTrace?: boolean; /** Called with the cluster after the checks (before VOL-9's tampering): for tests and debugging. */ inspect?: (cluster: Cluster) => void } = {}): SimResult {
  const bad = validateConfig(config)
  if (bad) throw new Error(bad)
  const plan = planIn ?? planFor(config)
  const crypto: Crypto = config.crypto === 'real' ? nobleCrypto : insecureTestCrypto
  const prng = new Prng(config.seed)
  const workPrng = prng.fork()
  const byzPrng = prng.fork()
  const netPrng = prng.fork()

  const n = config.nodes
  const firstByz = n - config.byzantine
  const keys = Array.from({ length: n }, (_, i) => secretKeyOf(config.seed, i))
  const ids: string[] = keys.map((_, i) => `n${i}`)
  const indexOf = (id: string): number => {
    const i = ids.indexOf(id.replace(/#twin$/, ''))
    return i < 0 ? n : i
  }
  const network = new FaultyNetwork(plan, indexOf, netPrng.u32())
  const byzantineOf = new Map<Pid, ByzStrategy>()
  const checker = new InvariantChecker({ correct: (p) => !byzantineOf.has(p) })
  // Checkpoints every few epochs, so that crashes and restarts land around them (spec/checkpoint.md).
  const simParams: VolumeParams = { ...DEFAULT_VOLUME_PARAMS, checkpointEvery: SIM_CHECKPOINT_EVERY, logKeep: SIM_LOG_KEEP }
  const params: VolumeParams = config.mutation
    ? { ...simParams, mutation: config.mutation, fotb: { ...simParams.fotb, mutation: config.mutation } }
    : simParams
  const cluster = new Cluster({
    crypto,
    params,
    network,
    keepTrace: opts.keepTrace ?? false,
    observe: (o, c) => checker.observe(o, c),
    ...(config.forgeCheckpoints === true ? { forgeCheckpoints: true } : {}),
    chooseProcess: (candidates) => candidates[byzPrng.int(candidates.length)]!,
  })
  const pids: Pid[] = keys.map((k, i) => cluster.addNode(k, { id: ids[i]!, timerSkew: plan.skew[i] ?? 1 }))
  for (let i = firstByz; i < n; i++) byzantineOf.set(pids[i]!, plan.byzantine[i - firstByz] ?? 'withhold')
  const correctPids = pids.filter((p) => !byzantineOf.has(p))

  // --- setup: volumes and joins, before any fault -------------------------------------------
  const correctCount = firstByz
  // Forked only for admission runs, so that the other runs draw exactly what they drew before.
  const admPrng = config.admission !== undefined ? prng.fork() : undefined
  // Forked only for retention runs, for the same reason.
  const retPrng = config.retention === true ? prng.fork() : undefined
  // Forked only for totb runs: their workload adds calls that conflict (conflictingCall).
  const conflictPrng = config.order === 'totb' ? prng.fork() : undefined
  const closed = config.admission === 'closed'
  /** A member's invite (the host's part: 16 random bytes and an expiry). */
  const inviteOf = (issuer: string, volume: VolumeName, invitee: Pid | null, expiresS = FAR_EXPIRY_S): Uint8Array | undefined => {
    const r = cluster.request(issuer, { type: 'invite', volume, id: admPrng!.bytes(16), expiresS, invitee })
    return r.ok && 'invite' in r ? r.invite : undefined
  }
  /** The unbound invites setup joiners used, per volume: a rogue reuses one. */
  const usedInvites = new Map<VolumeName, Uint8Array>()
  /** A closed volume's joiner gets an invite from `issuer` (every other one bound to it) or, with
   *  `byId`, is admitted by id first; the join follows. */
  const joinRequest = (i: number, v: { name: VolumeName; genesis: Genesis }, contact: Pid, issuer: number, byId = false): NodeReply => {
    if (!closed) return cluster.request(ids[i]!, { type: 'join-volume', genesis: v.genesis, contacts: [contact] })
    if (byId) {
      cluster.request(ids[issuer]!, { type: 'admit', volume: v.name, target: pids[i]! })
      return cluster.request(ids[i]!, { type: 'join-volume', genesis: v.genesis, contacts: [contact] })
    }
    const bound = i % 2 === 0
    const invite = inviteOf(ids[issuer]!, v.name, bound ? pids[i]! : null)
    if (invite && !bound && !usedInvites.has(v.name)) usedInvites.set(v.name, invite)
    return cluster.request(ids[i]!, { type: 'join-volume', genesis: v.genesis, contacts: [contact], ...(invite ? { invite } : {}) })
  }
  const volumes: { name: VolumeName; genesis: Genesis; members: number[]; founder: number }[] = []
  for (let k = 0; k < config.volumes; k++) {
    const name = `vol${k}` as VolumeName
    const founder = k % Math.max(1, correctCount)
    const r = cluster.request(ids[founder]!, { type: 'create-volume', name, policy: config.policy, ...(config.admission !== undefined ? { admission: config.admission } : config.order === 'totb' ? { admission: 'open' as const } : {}), ...(config.order !== undefined ? { order: config.order } : {}) })
    if (!r.ok || !('genesis' in r)) throw new Error(`setup: create ${name} failed`)
    // vol0 has every node; each further volume leaves one correct node out (isolation), which
    // joins it during the fault phase.
    const outsider = k === 0 || correctCount < 3 ? -1 : (founder + 1) % correctCount
    const members = Array.from({ length: n }, (_, i) => i).filter((i) => i !== outsider)
    volumes.push({ name, genesis: r.genesis, members, founder })
    if (config.retention === true) {
      cluster.request(ids[founder]!, { type: 'fs', volume: name, call: { type: 'retention-config', mode: 'governance', defaultSec: 0, governors: [pids[founder]!], cred: { uid: 0, gid: 0 }, time: { sec: 1, nsec: 0 } } })
    }
    for (const i of members) {
      if (i === founder) continue
      joinRequest(i, { name, genesis: r.genesis }, pids[founder]!, founder)
      cluster.runFor(SETUP_STEP_MS)
    }
  }
  cluster.runFor(2000)

  const equivocators = [...byzantineOf.values()].some((s) => s === 'equivocate' || s === 'twin')
  if (equivocators) {
    volumes.forEach((v, k) => {
      const outsider = Array.from({ length: n }, (_, i) => i).find((i) => !v.members.includes(i))
      if (outsider === undefined) return
      if (ok(joinRequest(outsider, v, pids[k % Math.max(1, correctCount)]!, k % Math.max(1, correctCount), k % 2 === 1))) v.members.push(outsider)
      cluster.runFor(2000)
    })
  }

  // Byzantine set-up: hooks and twins.
  for (let i = firstByz; i < n; i++) {
    const strategy = byzantineOf.get(pids[i]!)!
    cluster.record({ at: cluster.now, t: 'byz', node: ids[i]!, what: `strategy ${strategy}` })
    const hook = strategyHook(strategy, crypto, keys[i]!, byzPrng.fork(), () => correctPids)
    if (hook) cluster.sendHooks.set(ids[i]!, hook)
    if (strategy === 'twin') {
      const twinId = `${ids[i]!}#twin`
      cluster.addNode(keys[i]!, { id: twinId })
      for (const v of volumes) {
        if (v.members.includes(i)) cluster.request(twinId, { type: 'join-volume', genesis: v.genesis, contacts: [pids[0]!] })
      }
    }
  }

  // --- fault phase: workload + faults -------------------------------------------------------
  const t0 = cluster.now
  network.faultsOn = true
  network.phaseStart = t0
  const dirs = new Map<string, MemberDir>()
  /** Volumes whose shared directory of conflicting calls (totb runs) was made. */
  const shared = new Set<VolumeName>()
  const authored = new Set<string>() // `${pid}/${volume}` of Byzantine authors that got an op through
  type Timed = { at: number; run: () => void }
  const schedule: Timed[] = []
  // The fault model must hold at the end of every run, so that liveness is checked in every run
  // (issue 16). A correct member lost for good — the workload's leaver (vol0), or a node that
  // halts on a disk flip that a cut cannot repair (one in or before a volume's genesis batch or
  // the newest gain of a member, sim/cluster.ts `restart`), which the operator removes at the heal
  // — is allowed only where the model still holds in every volume of it (`roomToLose`): with the
  // Byzantine and the halted members silent, the others form the quorum that delivers the
  // removals (for a leave, the leaver itself still runs), and once the lost members are removed
  // the set keeps 3b + 1 members for its b Byzantine ones. The member set is the smallest view of
  // a correct running member (a volume whose outsider has not joined yet has one member fewer).
  // Otherwise the leaver stays, and a flip that would halt the node is aimed at a batch after
  // the newest such anchor, which the cut repairs (dropped when the disk holds none after it).
  const left = new Set<string>() // `${volume}/${pid}` of members that left
  const halted = (p: Pid): boolean => !byzantineOf.has(p) && cluster.processesOf(p).every((nd) => nd.halted)
  /** The smallest member set of `v` among its correct, running members' own views. */
  const membersNow = (v: VolumeName): Pid[] | undefined =>
    correctPids
      .map((p) => cluster.processesOf(p)[0])
      .filter((nd) => nd !== undefined && nd.up && !nd.halted && nd.state.volumes.has(v) && membersOf(nd.state.volumes.get(v)!).includes(nd.pid))
      .map((nd) => membersOf(nd!.state.volumes.get(v)!))
      .reduce<Pid[] | undefined>((a, b) => (a === undefined || b.length < a.length ? b : a), undefined)
  const roomToLose = (i: number, how: 'halt' | 'leave', names: readonly VolumeName[]): boolean =>
    config.unbudgeted === true || i >= firstByz || names.every((v) => {
      const m = membersNow(v)
      const me = pids[i]!
      if (m === undefined || !m.includes(me)) return true
      const silent = m.filter((p) => byzantineOf.has(p) || halted(p) || (how === 'halt' && p === me)).length
      const lost = m.filter((p) => p === me || halted(p) || left.has(`${v}/${p}`)).length
      const b = m.filter((p) => byzantineOf.has(p)).length
      const q = votingQuorum(m.length, config.order === 'totb')
      // A halted member stays in the set until the removal is delivered, and a member that
      // recovers its own chain meanwhile (a cut, a lost tail) waits for its echo, so it cannot
      // vote either (seed 28): a halt keeps one more silent member in reserve.
      const reserve = how === 'halt' ? 1 : 0
      return m.length - silent - reserve >= q && m.length - lost >= 3 * b + 1
    })
  const flipWithinModel = (id: string, flips: FaultPlan['crashes'][number]['flips']): void => {
    const node = cluster.node(id)
    const len = node.disk.length
    if (len === 0) return
    const newestAnchor = Math.max(-1, ...node.genesisAt.values(), ...node.membersAt.values())
    const halts = flips.some((f) => f.record % len <= newestAnchor)
    const redirect = halts && !roomToLose(ids.indexOf(id), 'halt', volumes.map((v) => v.name))
    for (const f of flips) {
      const i = f.record % len
      if (!redirect || i > newestAnchor) cluster.flipDiskBit(id, i, f.bit)
      else if (newestAnchor < len - 1) cluster.flipDiskBit(id, newestAnchor + 1 + (f.record % (len - 1 - newestAnchor)), f.bit)
    }
  }
  /** Joins an outsider missed because it was down, by node index: made when it is back. */
  const missedJoins = new Map<number, (() => void)[]>()
  const joinMissed = (i: number): void => {
    const joins = missedJoins.get(i)
    if (joins === undefined || !cluster.node(ids[i]!).up) return
    missedJoins.delete(i)
    for (const j of joins) j()
  }
  for (const c of plan.crashes) {
    const id = ids[c.node]!
    schedule.push({
      at: t0 + c.startMs,
      run: () => {
        if (c.torn !== null) cluster.crashDuringNextStep(id, c.torn)
        else cluster.crash(id)
      },
    })
    schedule.push({
      at: t0 + c.startMs + c.downMs,
      run: () => {
        cluster.crash(id) // a torn crash that found no step to tear crashes here
        if (c.flips.length > 0) flipWithinModel(id, c.flips)
        if ((c.lostTail ?? 0) > 0) cluster.loseTail(id, c.lostTail)
        cluster.restart(id)
        joinMissed(c.node)
      },
    })
  }
  for (const d of plan.diskFull ?? []) {
    const id = ids[d.node]!
    schedule.push({ at: t0 + d.startMs, run: () => cluster.setDiskFull(id, d.reserve ? 'reserve' : 'no-reserve') })
    schedule.push({ at: t0 + d.startMs + d.durationMs, run: () => cluster.setDiskFull(id, null) })
  }
  for (const p of plan.partitions) {
    schedule.push({ at: t0 + p.startMs, run: () => cluster.record({ at: cluster.now, t: 'fault', what: `partition ${p.kind} [${p.side.join(',')}] begins` }) })
    schedule.push({ at: t0 + p.startMs + p.durationMs, run: () => cluster.record({ at: cluster.now, t: 'fault', what: `partition ${p.kind} [${p.side.join(',')}] ends` }) })
  }
  for (let i = firstByz; i < n; i++) {
    if (byzantineOf.get(pids[i]!) !== 'vote-abuse') continue
    schedule.push({
      at: t0 + 1000,
      run: () => {
        for (const v of volumes) {
          for (const target of correctPids) {
            cluster.record({ at: cluster.now, t: 'byz', node: ids[i]!, what: `vote to kick correct ${target.slice(0, 8)} from ${v.name}` })
            cluster.request(ids[i]!, { type: 'kick', volume: v.name, target })
          }
        }
      },
    })
  }
  // Outsiders join their volume during the fault phase — unless a Byzantine member
  // equivocates: fotb's consistency assumes correct members agree on the member set, and a
  // joiner trusts its contacts until it has learned it (spec/fotb.md), so with an equivocator
  // the joins happen before it starts.
  volumes.forEach((v, k) => {
    const outsider = Array.from({ length: n }, (_, i) => i).find((i) => !v.members.includes(i))
    if (outsider === undefined) return
    if (equivocators) return // joined during set-up, see there
    const join = (): void => {
      if (ok(joinRequest(outsider, v, pids[k % Math.max(1, correctCount)]!, k % Math.max(1, correctCount), k % 2 === 1))) v.members.push(outsider)
    }
    schedule.push({
      at: t0 + 3000 + k * 2000,
      run: () => {
        // An outsider that is down then joins once it is back (seed 1329, 7 nodes: its missed
        // join left vol1 with 2 Byzantine members of 6 for the whole run).
        const node = cluster.node(ids[outsider]!)
        if (node.up) join()
        else if (!node.halted) missedJoins.set(outsider, [...(missedJoins.get(outsider) ?? []), join])
      },
    })
  })
  // Closed runs: applicants that should stay out apply to vol0 (VOL-13, VOL-14): one reuses a
  // setup joiner's invite, the other brings the seed's defect. They follow the protocol
  // (correct nodes), they only lack an admission.
  if (closed) {
    const defects: RogueDefect[] = ['reused', ROGUE_DEFECTS[admPrng!.int(ROGUE_DEFECTS.length)]!]
    defects.forEach((defect, j) => {
      const key = secretKeyOf(config.seed, 1000 + j)
      const id = `r${j}`
      const pid = cluster.addNode(key, { id })
      cluster.record({ at: cluster.now, t: 'byz', node: id, what: `applicant with ${defect}` })
      const v = volumes[0]!
      schedule.push({
        at: t0 + 5000 + j * 1500,
        run: () => {
          const founder = ids[0]!
          const byz = ids.slice(firstByz).find((bid) => {
            const vs = cluster.node(bid).state.volumes.get(v.name)
            return vs !== undefined && membersOf(vs).includes(cluster.node(bid).pid)
          })
          const invite: Uint8Array | undefined =
            defect === 'reused' ? usedInvites.get(v.name)
            : defect === 'expired' ? inviteOf(founder, v.name, null, 1)
            : defect === 'other-invitee' ? inviteOf(founder, v.name, pids[0]!)
            : defect === 'forged' ? makeInvite(crypto, key, { volume: v.name, issuer: pids[0]!, id: '00'.repeat(16), expiresS: FAR_EXPIRY_S, invitee: pid })
            : defect === 'self-signed' ? makeInvite(crypto, key, { volume: v.name, issuer: pid, id: '11'.repeat(16), expiresS: FAR_EXPIRY_S, invitee: null })
            : defect === 'byzantine-invite' && byz !== undefined ? inviteOf(byz, v.name, pid)
            : undefined
          cluster.request(id, { type: 'join-volume', genesis: v.genesis, contacts: [pids[0]!], ...(invite ? { invite } : {}) })
        },
      })
    })
  }
  // One correct member that founded nothing leaves vol0 late in the fault phase (after the joins,
  // so that membership changes do not overlap: spec/paciofs.md, Membership).
  const founders = new Set(volumes.map((_, k) => k % Math.max(1, correctCount)))
  const leaver = correctCount >= 4 ? [...Array(correctCount).keys()].reverse().find((i) => !founders.has(i) && volumes[0]!.members.includes(i)) : undefined
  if (leaver !== undefined) {
    schedule.push({
      at: t0 + 20_000,
      run: () => {
        if (!roomToLose(leaver, 'leave', [volumes[0]!.name])) return // the fault model leaves no room (see `roomToLose`)
        left.add(`${volumes[0]!.name}/${pids[leaver]!}`)
        cluster.request(ids[leaver]!, { type: 'leave-volume', volume: volumes[0]!.name })
      },
    })
  }
  const opGap = config.ops > 0 ? FAULT_PHASE_MS / config.ops : FAULT_PHASE_MS
  for (let j = 0; j < config.ops; j++) {
    schedule.push({
      at: t0 + Math.floor(j * opGap),
      run: () => {
        const v = volumes[workPrng.int(volumes.length)]!
        const i = workPrng.pick(v.members)
        const node = cluster.node(ids[i]!)
        const vs = node.state.volumes.get(v.name)
        if (!node.up || !vs || !membersOf(vs).includes(node.pid)) return
        const key = `${v.name}/${i}`
        let dir = dirs.get(key)
        if (!dir) {
          dir = newMemberDir(`/m${i}`)
          dirs.set(key, dir)
          cluster.request(ids[i]!, { type: 'fs', volume: v.name, call: { type: 'mkdir', path: `/m${i}`, mode: 0o755, cred: { uid: 1000, gid: 1000 }, time: { sec: 1, nsec: 0 } } })
        }
        const t = cluster.now
        const ret = retPrng === undefined ? undefined : { prng: retPrng, governor: i === v.founder }
        const time = { sec: 1_700_000_000 + Math.floor(t / 1000), nsec: (t % 1000) * 1_000_000 }
        if (conflictPrng !== undefined && !shared.has(v.name)) {
          shared.add(v.name)
          cluster.request(ids[i]!, { type: 'fs', volume: v.name, call: { type: 'mkdir', path: SHARED_DIR, mode: 0o777, cred: { uid: 0, gid: 0 }, time: { sec: 1, nsec: 0 } } })
        }
        const call = conflictPrng !== undefined && conflictPrng.chance(0.4) ? conflictingCall(conflictPrng, time) : nextCall(workPrng, dir, time, ret)
        // A twin's two processes both work: the same key writes different histories.
        const twin = byzantineOf.get(node.pid) === 'twin' && workPrng.chance(0.5) ? `${ids[i]!}#twin` : ids[i]!
        // A twin has equivocated only once its second process got an op through.
        if (ok(cluster.request(twin, { type: 'fs', volume: v.name, call })) && byzantineOf.has(node.pid) && (byzantineOf.get(node.pid) !== 'twin' || twin !== ids[i])) authored.add(`${node.pid}/${v.name}`)
      },
    })
  }
  schedule.sort((a, b) => a.at - b.at)
  for (const s of schedule) {
    cluster.runUntil(s.at)
    s.run()
  }
  cluster.runUntil(t0 + FAULT_PHASE_MS)

  // --- heal: faults stop, crashed nodes come back, the cluster settles ----------------------
  network.faultsOn = false
  cluster.record({ at: cluster.now, t: 'fault', what: 'heal: faults stop' })
  for (const node of cluster.nodes.values()) {
    if (!node.up && !node.halted) cluster.restart(node.id)
  }
  for (const i of [...missedJoins.keys()]) joinMissed(i)
  // A correct node that stopped for good (its disk failed a check) is removed by the others, as
  // an operator would remove a dead member: the nodes that remain may then form a quorum
  // without it, and liveness is checked for them (see livenessNotes).
  // Repeated for the first 20 s of the heal phase: a node that becomes a member meanwhile (a late
  // joiner) votes too; a member votes once per target, so a repeat changes nothing.
  const voted = new Set<string>()
  const removeDead = (): void => {
    for (const dead of [...cluster.nodes.values()].filter((nd) => nd.halted && !byzantineOf.has(nd.pid))) {
      for (const v of volumes) {
        for (const p of correctPids) {
          const nd = cluster.processesOf(p)[0]
          const vs = nd?.state.volumes.get(v.name)
          if (!nd || !nd.up || nd.halted || !vs || !membersOf(vs).includes(p) || !membersOf(vs).includes(dead.pid)) continue
          if (voted.has(`${nd.id}/${v.name}/${dead.id}`)) continue
          voted.add(`${nd.id}/${v.name}/${dead.id}`)
          cluster.record({ at: cluster.now, t: 'fault', node: nd.id, what: `operator: remove fail-stopped ${dead.id} from ${v.name}` })
          cluster.request(nd.id, { type: 'kick', volume: v.name, target: dead.pid })
        }
      }
    }
  }
  const OPERATOR_MS = 20_000
  for (let t = 0; t < OPERATOR_MS; t += 2000) {
    removeDead()
    cluster.runFor(2000)
  }
  cluster.runFor(HEAL_MS - OPERATOR_MS)

  // --- liveness checks -----------------------------------------------------------------------
  const expectRemoved: { volume: VolumeName; pid: Pid }[] = []
  if (config.policy === 'majority' && 2 * config.byzantine < n) {
    for (const [pid, strategy] of byzantineOf) {
      for (const v of volumes) {
        if (v.members.includes(pids.indexOf(pid)) && mustBeRemoved(strategy, authored.has(`${pid}/${v.name}`))) expectRemoved.push({ volume: v.name, pid })
      }
    }
  }
  const mustStay: { volume: VolumeName; pid: Pid }[] = []
  if (config.policy === 'majority' && 2 * config.byzantine < n) {
    for (const v of volumes) for (const i of v.members) if (i < firstByz && !cluster.node(ids[i]!).halted) mustStay.push({ volume: v.name, pid: pids[i]! })
  }
  const unpromised = livenessNotes(cluster, volumes.map((v) => v.name), (p) => byzantineOf.has(p))
  for (const [name, why] of unpromised) checker.notes.push(`${name}: liveness not checked: ${why}`)
  checker.checkQuiesced(cluster, { equalRoots: true, expectRemoved, mustStay, unpromised })
  for (const node of cluster.nodes.values()) {
    if (node.halted && node.restoreProblems.length === 0) checker.violations.push({ id: 'VOL-12', message: `${node.id} halted without naming a problem`, at: cluster.now })
  }
  for (const note of checker.notes) cluster.record({ at: cluster.now, t: 'fault', what: note })
  opts.inspect?.(cluster)
  tamperAndVerify(cluster, checker, correctPids, volumes.map((v) => v.name))
  for (const v of checker.violations) cluster.record({ at: v.at, t: 'violation', id: v.id, message: v.message })

  return {
    seed: config.seed,
    config,
    plan,
    events: cluster.events,
    virtualMs: cluster.now,
    violations: checker.violations.map((v) => ({ id: v.id, message: v.message, at: v.at })),
    traceHash: cluster.traceHash(),
    notes: [...checker.notes],
    nodes: [...cluster.nodes.values()].map((nd) => ({ id: nd.id, pid: nd.pid, byzantine: byzantineOf.get(nd.pid) ?? null })),
    finalMembers: volumes.map((v) => {
      const viewer = correctPids.map((p) => cluster.processesOf(p)[0]!).find((nd) => nd.up && nd.state.volumes.has(v.name))
      return { volume: v.name, members: viewer ? membersOf(viewer.state.volumes.get(v.name)!) : [] }
    }),
    views: [...cluster.nodes.values()]
      .filter((nd) => !byzantineOf.has(nd.pid) && nd.up && !nd.halted)
      .flatMap((nd) => [...nd.state.volumes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([volume, vs]) => ({ node: nd.id, volume, members: membersOf(vs) }))),
    ...(opts.keepTrace ? { trace: cluster.trace } : {}),
  }
}

/** How many correct running members a volume of `members` needs to make progress: fotb's echo
 *  quorum; a totb volume's rounds need n - f vertices each (spec/totb.md), more than fotb's
 *  quorum when f is small (3 members, f = 0: all three). */
function votingQuorum(members: number, totb: boolean): number {
  return totb ? members - faultsTolerated(members) : quorum(members)
}

/** The volumes whose liveness the spec does not promise at the end of the run, with the reason.
 *  Liveness is promised in a volume whose member set M (as a correct, running member sees it)
 *  keeps its Byzantine members b within f = floor((|M|-1)/3) and whose correct running members
 *  c (not stuck recovering) form an echo quorum q(|M|) (spec/fotb.md; spec/paciofs.md, "What each guarantees"): the
 *  fault model applied to the member set that is left. Fail-stopped correct nodes were removed
 *  at the start of the heal phase, kicks under policy any and removals of Byzantine members
 *  change M too. Checked when one correct member's view promises it. */
export function livenessNotes(cluster: Cluster, volumes: readonly VolumeName[], byzantine: (p: Pid) => boolean): Map<VolumeName, string> {
  const out = new Map<VolumeName, string>()
  const live = [...cluster.nodes.values()].filter((nd) => !byzantine(nd.pid) && nd.up && !nd.halted)
  const running = new Set(live.map((nd) => nd.pid))
  for (const name of volumes) {
    // A node still recovering its own chain that waits only for members stopped for good or
    // Byzantine appends nothing, so it cannot vote (spec/fotb.md, the cost of recovery): it
    // counts as stopped. (One that waits for a correct running member is FOTB-8's violation.)
    const stuck = new Set(
      live
        .filter((nd) => {
          const f = nd.state.volumes.get(name)?.fotb
          return f?.recovering !== undefined && recoveryWaitingFor(f).every((p) => !running.has(p))
        })
        .map((nd) => nd.pid),
    )
    const whys: string[] = []
    let promised = false
    for (const nd of live) {
      const v = nd.state.volumes.get(name)
      if (!v || !membersOf(v).includes(nd.pid)) continue
      const m = membersOf(v)
      const b = m.filter(byzantine).length
      const c = m.filter((p) => !byzantine(p) && running.has(p) && !stuck.has(p)).length
      const f = faultsTolerated(m.length)
      const q = votingQuorum(m.length, v.order !== undefined)
      if (b <= f && c >= q) promised = true
      else whys.push(`${m.length} members, ${b} Byzantine (f = ${f}), ${c} correct running (quorum ${q}${v.order !== undefined ? ', totb' : ''})`)
    }
    if (!promised && whys.length > 0) out.set(name, `beyond the fault model: ${whys[0]}`)
  }
  return out
}

/** VOL-9 on a live replica: after every other check, change one attribute of the deepest file of
 *  a correct member behind the log's back; verify must name that path. (Done last: the node's
 *  state is spoiled afterwards.) */
function tamperAndVerify(cluster: Cluster, checker: InvariantChecker, correct: readonly Pid[], volumes: readonly VolumeName[]): void {
  for (const pid of correct) {
    const node = cluster.processesOf(pid)[0]
    if (!node || !node.up) continue
    for (const name of volumes) {
      const v = node.state.volumes.get(name)
      if (!v || !membersOf(v).includes(pid)) continue
      // The deepest regular file, found by walking the tree in name order. The tamper is a chmod
      // applied outside the log, which retention would refuse: objects with a retention record
      // (and what is below them) are passed over.
      let deepest: string | undefined
      let depth = 0
      const kept = (path: string): boolean => { const x = listxattr(v.fs, path); return x.ok && x.value.includes(RETENTION_XATTR) }
      const walk = (dir: string, d: number): void => {
        const r = readdir(v.fs, dir)
        if (!r.ok) return
        for (const e of r.value) {
          const path = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`
          if (kept(path)) continue
          if (e.kind === 'dir') walk(path, d + 1)
          else if (e.kind === 'file' && d + 1 > depth) {
            deepest = path
            depth = d + 1
          }
        }
      }
      walk('/', 0)
      if (!deepest || depth < 2) continue
      const tampered = applyOp(v.fs, { type: 'chmod', path: deepest, mode: 0o604, cred: { uid: 0, gid: 0 }, time: { sec: 1, nsec: 0 } }, { epoch: v.fs.epoch + 1, author: pid }).result
      // Refused only under retention (a hard link of the file in a retained directory): nothing
      // was changed behind the log's back, so there is nothing for verify to name.
      if (!tampered.ok) continue
      const findings = verifyNodeVolume(node.config, node.state, name)
      if (!findings.some((f) => f.where === deepest)) {
        checker.violations.push({ id: 'VOL-9', message: `${name}: verify at ${pid.slice(0, 8)} did not name ${deepest}, changed behind the log's back`, at: cluster.now })
      }
      return
    }
  }
}

/** Shrinks a failing plan with fast-check: the smallest plan (fewer faults, smaller numbers)
 *  that still violates an invariant under the same seed and workload. */
export function shrinkFailure(config: SimConfig, plan: FaultPlan): { plan: FaultPlan; result: SimResult } {
  const arb = planArbitrary({ nodes: config.nodes, byzantine: config.byzantine, faults: config.faults, strategies: strategiesOf(config) })
  let last: { plan: FaultPlan; result: SimResult } | undefined
  const out = fc.check(
    fc.property(arb, (p) => {
      const result = runSim(config, p)
      if (result.violations.length > 0) last = { plan: p, result }
      return result.violations.length === 0
    }),
    { seed: config.seed, numRuns: 1, examples: [[plan]] },
  )
  if (out.failed && out.counterexample) {
    const p = out.counterexample[0]!
    return { plan: p, result: runSim(config, p) }
  }
  return last ?? { plan, result: runSim(config, plan) }
}
