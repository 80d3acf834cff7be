// A node = the ledger + fotb + one PacioFS volume reducer per volume it takes part in, composed
// as one reducer: `step(config, state, input) -> { state, effects }`.
//
// The node routes inputs by volume, and at the end of every step seals what its volumes
// broadcast (one signature per volume per step: batching) before handing the effects to the
// host. The host performs the persist effect first, then sends and replies (core/effects.ts).
import type { Crypto } from './crypto.ts'
import { encode, tryDecode, type Value } from './codec.ts'
import { toHex, fromHex } from './bytes.ts'
import { Out, type Effect, type RequestId } from './effects.ts'
import * as fotb from './fotb/index.ts'
import * as vol from './volume/index.ts'
import { StoredFsPast } from './volume/past.ts'
import type { CallResult, FsCall, Genesis, Policy, VolumeParams, VolumeState, VolumeUp } from './volume/index.ts'
import { verifyVolume, type VolumeFinding } from './verify.ts'
import { MemoryStorage, type Storage } from './storage.ts'
import { assert, isPid, isVolumeName, type Pid, type TimeMs, type VolumeName } from './types.ts'

export interface NodeConfig {
  readonly crypto: Crypto
  readonly secretKey: Uint8Array
  readonly params: VolumeParams
  /** Period of the node's tick timer (anti-entropy, remote_get deadlines). */
  readonly tickMs: number
  /** The storage port (spec/storage.md): the chunks, plain operations and ledger entries the host
   *  has stored for this node. */
  readonly storage: Storage
}

export interface NodeState {
  readonly me: Pid
  readonly saltKey: Uint8Array
  readonly volumes: Map<VolumeName, VolumeState>
  readonly stats: Map<string, number>
}

export type NodeRequest =
  /** `admission`: who the volume admits (spec/paciofs.md "Admission"); absent writes a v1 genesis,
   *  the form of volumes created before admission was a volume parameter (hosts always set it:
   *  the runtime's default is 'closed'). */
  | {
    readonly type: 'create-volume'; readonly name: VolumeName; readonly policy: Policy; readonly admission?: vol.Admission
    /** 'totb': one total order of operations for every member (a v3 genesis, spec/totb.md). */
    readonly order?: vol.Order
    /** More founders besides this node (their ids): a volume whose initial members are all
     *  founders, none of them joining (each of them joins with the same genesis). */
    readonly founders?: readonly Pid[]
  }
  /** `invite`: a token to carry in the join. A node that has the volume and is still an applicant
   *  applies again with it. */
  | { readonly type: 'join-volume'; readonly genesis: Genesis; readonly contacts: readonly Pid[]; readonly invite?: Uint8Array }
  /** An operator of a member admits `target` by id: an admit entry in the ledger. */
  | { readonly type: 'admit'; readonly volume: VolumeName; readonly target: Pid }
  /** A one-time invite signed by this node; `id` (16 random bytes) and the expiry come from the
   *  host (the core has no randomness and no clock). Only a member invites. */
  | { readonly type: 'invite'; readonly volume: VolumeName; readonly id: Uint8Array; readonly expiresS: number; readonly invitee: Pid | null }
  | { readonly type: 'leave-volume'; readonly volume: VolumeName }
  | { readonly type: 'kick'; readonly volume: VolumeName; readonly target: Pid }
  | { readonly type: 'fs'; readonly volume: VolumeName; readonly call: FsCall }
  /** A checkpoint of every volume whose epoch moved since its last one (clean shutdown). */
  | { readonly type: 'checkpoint' }

export type NodeReply =
  | CallResult
  | { readonly ok: true; readonly genesis: Genesis }
  | { readonly ok: true; readonly invite: Uint8Array }
  | { readonly ok: false; readonly errno: 'EEXIST' | 'ENOENT' | 'EINVAL'; readonly detail: string }

export type NodeInput =
  | { readonly type: 'tick'; readonly now: TimeMs }
  /** `decoded`: the host's `decode(bytes)` when it decoded them already (the simulator does, for
   *  its checks): the node then does not decode them again. It must be exactly that value. */
  | { readonly type: 'receive'; readonly now: TimeMs; readonly from: Pid; readonly bytes: Uint8Array; readonly decoded?: Value }
  | { readonly type: 'request'; readonly now: TimeMs; readonly req: RequestId; readonly request: NodeRequest }

export type NodeEffect = Effect<NodeReply, VolumeUp>

export const DEFAULT_TICK_MS = 250

/** A node's configuration. `storage` defaults to an empty MemoryStorage: the host that performs
 *  the node's persist effects must fill it (`absorb`), or what one step wrote is unreadable in
 *  the next. */
export function nodeConfig(
  crypto: Crypto,
  secretKey: Uint8Array,
  params: VolumeParams = vol.DEFAULT_VOLUME_PARAMS,
  tickMs = DEFAULT_TICK_MS,
  storage: Storage = new MemoryStorage(),
): NodeConfig {
  return { crypto, secretKey, params, tickMs, storage }
}

export function pidOf(crypto: Crypto, secretKey: Uint8Array): Pid {
  return toHex(crypto.publicKey(secretKey)) as Pid
}

export function createNode(config: NodeConfig): NodeState {
  return {
    me: pidOf(config.crypto, config.secretKey),
    saltKey: vol.saltKey(config.crypto, config.secretKey),
    volumes: new Map(),
    stats: new Map(),
  }
}

function bump(state: NodeState, key: string): void {
  state.stats.set(key, (state.stats.get(key) ?? 0) + 1)
}

function ctxFor(config: NodeConfig, state: NodeState, now: TimeMs, out: Out): vol.Ctx {
  return { crypto: config.crypto, secretKey: config.secretKey, saltKey: state.saltKey, params: config.params, now, out, store: config.storage }
}

export function step(config: NodeConfig, state: NodeState, input: NodeInput): { state: NodeState; effects: NodeEffect[] } {
  return stepGroup(config, state, [input])
}

/** Several inputs as one step: each is handled in order (with its own `now`), then the volumes
 *  settle once — one seal per volume for all the entries the group appended, and one persist
 *  effect. A host that commits inputs in groups (group commit) signs once per group instead of
 *  once per input. `step(i)` is `stepGroup([i])`. */
export function stepGroup(
  config: NodeConfig,
  state: NodeState,
  inputs: readonly NodeInput[],
  opts: { readonly settle?: boolean } = {},
): { state: NodeState; effects: NodeEffect[] } {
  const out = new Out<NodeReply, VolumeUp>()
  let ctx: vol.Ctx | undefined
  for (const input of inputs) {
    ctx = ctxFor(config, state, input.now, out)
    switch (input.type) {
      case 'tick':
        for (const name of [...state.volumes.keys()].sort()) vol.onTick(state.volumes.get(name)!, ctx)
        out.setTimer('tick', input.now + config.tickMs)
        break
      case 'receive':
        onReceive(config, state, ctx, input.from, input.bytes, input.decoded)
        break
      case 'request': {
        // undefined: the reply comes with a later step (a totb volume answers a call once its
        // operation is applied in the order).
        const reply = onRequest(config, state, ctx, input.request, input.req)
        if (reply !== undefined) out.reply(input.req, reply)
        break
      }
    }
  }
  // settle: false leaves the group's new entries unsealed (and unsent) until a later settleStep:
  // a host that writes batches to disk seals once per disk batch (runtime/host.ts).
  if (ctx !== undefined && opts.settle !== false) settle(config, state, ctx)
  endStep(config, state)
  return { state, effects: out.effects() }
}

/** The step's chunks, plain ops and entries are in its persist effect now; from here on the
 *  host's port serves them (spec/storage.md STORE-3, STORE-4). */
function endStep(config: NodeConfig, state: NodeState): void {
  for (const v of state.volumes.values()) {
    if (config.params.mutation !== 'keep-past-records' && v.fs.past instanceof StoredFsPast) v.fs.past.endStep()
    if (config.params.mutation !== 'keep-log-records') v.log.endStep()
    // After a checkpoint the views start over at their heads, backed by the port below: what a
    // node holds of its ledger is what it accepted since its last checkpoint (spec/storage.md).
    if (v.rebaseViews) {
      v.rebaseViews = false
      for (const [author, log] of v.fotb.chains) log.view = fotb.backedView(config.crypto, v.genesis.name, author, log.view.seq, log.view.head, config.storage)
    }
    // (Cleared only when not empty: V8's Map.clear allocates a fresh table even for an empty map.)
    if (config.params.mutation !== 'keep-chunk-bytes' && v.written.size > 0) v.written.clear()
    if (config.params.mutation !== 'keep-plain-ops' && v.writtenPlain.size > 0) v.writtenPlain.clear()
    fotb.clearWritten(v.fotb)
  }
}

/** Only the end of a step: seal and send what earlier `settle: false` groups appended. */
export function settleStep(config: NodeConfig, state: NodeState, now: TimeMs): { state: NodeState; effects: NodeEffect[] } {
  const out = new Out<NodeReply, VolumeUp>()
  settle(config, state, ctxFor(config, state, now, out))
  endStep(config, state)
  return { state, effects: out.effects() }
}

/** End of step: seal and push every volume's new entries, hand deliveries up, repeat while the
 *  volumes react with new entries (votes). Bounded: each round either seals or delivers. */
function settle(config: NodeConfig, state: NodeState, ctx: vol.Ctx): void {
  for (const name of [...state.volumes.keys()].sort()) {
    const v = state.volumes.get(name)!
    for (let round = 0; ; round++) {
      assert(round < 10_000, 'settle terminates')
      const ups: fotb.FotbUp[] = []
      // A totb volume names what it holds and makes its next vertex before the seal.
      if (v.order !== undefined) vol.beforeFlush(v, ctx, ups)
      fotb.flush(v.fotb, config.crypto, config.secretKey, config.params.fotb, ctx.out, config.storage, ups)
      if (ups.length === 0 && v.fotb.unsealed.length === 0) break
      vol.onUps(v, ctx, ups)
      vol.membershipSettled(v, ctx)
      if (v.fotb.unsealed.length === 0) break
    }
    // The batches are sent: now the plain ops of our new entries, to the members (remote_get push).
    vol.pushOwnOps(v, ctx)
    // A totb volume writes no checkpoint yet: its restart rebuilds the order from the chains.
    const every = v.order === undefined ? config.params.checkpointEvery ?? 0 : 0
    if (every > 0 && (v.fs.epoch - v.lastCheckpoint >= every || v.checkpointDue)) writeCheckpoint(config, v, ctx)
  }
}

/** The volume's checkpoint as the last record of this step's persist (spec/checkpoint.md). */
function writeCheckpoint(config: NodeConfig, v: VolumeState, ctx: vol.Ctx): void {
  // Its tree image first: the inodes changed since the previous one (spec/checkpoint.md).
  const omit = config.params.mutation === 'stale-image' && v.fs.dirty.size > 0 ? new Set([Math.min(...v.fs.dirty)]) : undefined
  ctx.out.persist(vol.imageRecord(v.genesis.name, v.fs, omit))
  ctx.out.persist(vol.checkpointRecord(config.crypto, config.secretKey, vol.checkpointOf(v)))
  v.lastCheckpoint = v.fs.epoch
  v.checkpointDue = false
  v.rebaseViews = true
}

function onReceive(config: NodeConfig, state: NodeState, ctx: vol.Ctx, from: Pid, bytes: Uint8Array, given?: Value): void {
  const decoded = given !== undefined ? ({ ok: true, value: given } as const) : tryDecode(bytes)
  if (!decoded.ok || !Array.isArray(decoded.value) || decoded.value.length < 2) {
    bump(state, 'reject:malformed')
    ctx.out.trace({ kind: 'reject', peer: from, detail: decoded.ok ? 'not a message' : decoded.error.message })
    return
  }
  const parts = decoded.value as Value[]
  const tag = parts[0]
  const name = parts[1]
  if (typeof tag !== 'string' || typeof name !== 'string' || !isVolumeName(name)) {
    bump(state, 'reject:malformed')
    return
  }
  const v = state.volumes.get(name)
  if (!v) {
    bump(state, 'reject:unknown-volume')
    return
  }
  if (tag.startsWith('fotb/')) {
    const parsed = fotb.parseFotbMessage(parts, config.params.fotb)
    if (!parsed.ok) {
      fotb.count(v.fotb, 'reject:malformed')
      ctx.out.trace({ kind: 'reject', volume: name, peer: from, detail: parsed.reason })
      return
    }
    const ups: fotb.FotbUp[] = []
    fotb.onMessage(v.fotb, config.crypto, config.params.fotb, ctx.now, from, parsed.msg, ctx.out, config.storage, ups)
    vol.onUps(v, ctx, ups)
    vol.membershipSettled(v, ctx)
  } else if (tag.startsWith('vol/')) {
    const parsed = vol.parseVolMessage(parts)
    if (!parsed.ok) {
      bump(state, 'reject:malformed')
      ctx.out.trace({ kind: 'reject', volume: name, peer: from, detail: parsed.reason })
      return
    }
    vol.onVolMessage(v, ctx, from, parsed.msg)
  } else {
    bump(state, 'reject:unknown-tag')
  }
}

function onRequest(config: NodeConfig, state: NodeState, ctx: vol.Ctx, r: NodeRequest, req: RequestId): NodeReply | undefined {
  switch (r.type) {
    case 'create-volume': {
      if (!isVolumeName(r.name)) return { ok: false, errno: 'EINVAL', detail: 'volume names are 1-64 characters of A-Z a-z 0-9 . _ -' }
      if (state.volumes.has(r.name)) return { ok: false, errno: 'EEXIST', detail: `volume ${r.name} exists on this node` }
      const founders = [...new Set([state.me, ...(r.founders ?? [])])].sort()
      if (founders.some((f) => !isPid(f)) || founders.length > 256) return { ok: false, errno: 'EINVAL', detail: 'founders are 1-256 node ids' }
      // A totb genesis always names its admission (v3); 'closed' is the runtime's default too.
      const admission = r.admission ?? (r.order === 'totb' ? 'closed' : undefined)
      const genesis: Genesis = { name: r.name, policy: r.policy, founders, ...(admission !== undefined ? { admission } : {}), ...(r.order === 'totb' ? { order: 'totb' as const } : {}) }
      addVolume(config, state, ctx, genesis, [])
      return { ok: true, genesis }
    }
    case 'join-volume': {
      const had = state.volumes.get(r.genesis.name)
      if (had !== undefined) {
        // An applicant that was refused applies again with a (fresh) invite.
        const s = had.status.get(state.me)
        if (r.invite === undefined || s === 'member' || s === 'removed') return { ok: false, errno: 'EEXIST', detail: `volume ${r.genesis.name} exists on this node` }
        vol.requestJoin(had, ctx, r.invite)
        return { ok: true, genesis: had.genesis }
      }
      const v = addVolume(config, state, ctx, r.genesis, r.contacts)
      if (!vol.isMember(v, state.me)) vol.requestJoin(v, ctx, r.invite)
      return { ok: true, genesis: r.genesis }
    }
    case 'admit': {
      const v = state.volumes.get(r.volume)
      if (!v) return { ok: false, errno: 'ENOENT', detail: `no volume ${r.volume} on this node` }
      if (!vol.requestAdmit(v, ctx, r.target)) return { ok: false, errno: 'EINVAL', detail: `this node is no member of ${r.volume} (only members admit)` }
      return { ok: true }
    }
    case 'invite': {
      const v = state.volumes.get(r.volume)
      if (!v) return { ok: false, errno: 'ENOENT', detail: `no volume ${r.volume} on this node` }
      if (!vol.isMember(v, state.me)) return { ok: false, errno: 'EINVAL', detail: `this node is no member of ${r.volume} (only members invite; others would not count it)` }
      if (r.id.length !== vol.INVITE_ID_BYTES || !Number.isSafeInteger(r.expiresS) || r.expiresS < 0) return { ok: false, errno: 'EINVAL', detail: `an invite needs ${vol.INVITE_ID_BYTES} random id bytes and an expiry in unix seconds` }
      const invite = vol.makeInvite(config.crypto, config.secretKey, { volume: r.volume, issuer: state.me, id: toHex(r.id), expiresS: r.expiresS, invitee: r.invitee })
      bump(state, 'invite')
      return { ok: true, invite }
    }
    case 'leave-volume': {
      const v = state.volumes.get(r.volume)
      if (!v) return { ok: false, errno: 'ENOENT', detail: `no volume ${r.volume} on this node` }
      vol.requestLeave(v, ctx)
      return { ok: true }
    }
    case 'kick': {
      const v = state.volumes.get(r.volume)
      if (!v) return { ok: false, errno: 'ENOENT', detail: `no volume ${r.volume} on this node` }
      vol.voteKick(v, ctx, r.target, 'operator')
      return { ok: true }
    }
    case 'fs': {
      const v = state.volumes.get(r.volume)
      if (!v) return { ok: false, errno: 'ENOENT', detail: `no volume ${r.volume} on this node` }
      return v.order !== undefined ? vol.callOrdered(v, ctx, r.call, req) : vol.call(v, ctx, r.call)
    }
    case 'checkpoint': {
      // Settled first: the checkpoint names sealed heads only, and this request's step seals
      // what earlier unsettled groups appended before the checkpoint is written.
      settle(config, state, ctx)
      for (const name of [...state.volumes.keys()].sort()) {
        const v = state.volumes.get(name)!
        // Also when no image holds some inode yet: a restart that replayed without an image
        // (an older store, a rejected image) writes one at its clean stop.
        if (v.fs.epoch > v.lastCheckpoint || v.fs.dirty.size > 0 || v.checkpointDue) writeCheckpoint(config, v, ctx)
      }
      return { ok: true }
    }
  }
}

function addVolume(config: NodeConfig, state: NodeState, ctx: vol.Ctx, genesis: Genesis, contacts: readonly Pid[]): VolumeState {
  const v = vol.newVolume(config.crypto, genesis, state.me, contacts, config.storage, config.params.logKeep)
  if (genesis.order === 'totb') v.order = vol.newOrderState(genesis, state.me, config.params, { canAppend: () => fotb.mayAppendOwn(v.fotb) })
  if (config.params.fotb.mutation) v.fotb.mutation = config.params.fotb.mutation
  state.volumes.set(genesis.name, v)
  ctx.out.persist(genesisRecord(genesis, contacts))
  const ups: fotb.FotbUp[] = []
  const members = new Set(vol.membersOf(v))
  const audience = new Set([...members, ...v.contacts])
  fotb.setMembers(v.fotb, members, audience, ctx.out, config.storage, ups)
  vol.onUps(v, ctx, ups)
  return v
}

export function genesisRecord(genesis: Genesis, contacts: readonly Pid[]): Value {
  return ['genesis', genesis.name, vol.genesisValue(genesis), contacts.map((c) => fromHex(c)!)]
}

// ---------------------------------------------------------------------------------------------
// Restart

export interface NodeRestoreProblem {
  readonly volume: string
  readonly record: string
  readonly problem: string
}

/** Which checkpoint restart used per volume (spec/checkpoint.md), and the ones it skipped. */
export interface CheckpointUse {
  /** Epoch of the checkpoint used, null when none was (every signature checked). */
  readonly used: number | null
  readonly rejected: readonly { readonly epoch: number | null; readonly why: string }[]
  /** Whether the replica was built from the checkpoint's tree image (spec/checkpoint.md). */
  readonly image: vol.ImageUse
  /** Whether the restart read only the records after the checkpoint ("Restart from the tail"). */
  readonly tail: boolean
  /** Why the newest checkpoint could not start a restart from the tail, if it could not. */
  readonly fullBecause?: string
}

export interface RestoreOptions {
  /** Ignore every checkpoint record (every signature checked): the reference CKPT-1 compares with. */
  readonly ignoreCheckpoints?: boolean
  /** The records are only the tail: the genesis records and what follows each volume's newest
   *  checkpoint record (spec/checkpoint.md "Restart from the tail"). A volume that cannot start
   *  from that checkpoint is named in `needsFull` instead of restored: the host loads every record
   *  and restores again. */
  readonly tail?: boolean
  /** Test only: never restart from the tail, as before checkpoints carried the state (the
   *  reference CKPT-5 compares with). */
  readonly noTail?: boolean
}

/** Rebuilds a node from what its host persisted (records in any order) and its storage port
 *  (`config.storage`, which must hold what those records persisted: spec/storage.md). Corrupted
 *  or torn records are reported, never used. The newest valid checkpoint of each volume spares the
 *  signature checks of what it covers (spec/checkpoint.md). */
export function restoreNode(
  config: NodeConfig,
  records: readonly Value[],
  opts: RestoreOptions = {},
): { state: NodeState; problems: NodeRestoreProblem[]; checkpoints: Map<VolumeName, CheckpointUse>; needsFull: VolumeName[] } {
  const state = createNode(config)
  const needsFull: VolumeName[] = []
  const problems: NodeRestoreProblem[] = []
  const checkpoints = new Map<VolumeName, CheckpointUse>()
  const byVolume = new Map<string, Value[]>()
  const genesis = new Map<string, { g: Genesis; contacts: Pid[] }>()
  for (const rec of records) {
    if (!Array.isArray(rec) || typeof rec[1] !== 'string') {
      problems.push({ volume: '?', record: 'unknown', problem: 'malformed record' })
      continue
    }
    const name = rec[1] as string
    if (rec[0] === 'genesis') {
      const g = vol.parseGenesis(rec[2] as Value)
      const contacts = Array.isArray(rec[3]) ? (rec[3] as Value[]).map((c) => (c instanceof Uint8Array ? toHex(c) : '')).filter(isPid) : []
      if (!g || g.name !== name) problems.push({ volume: name, record: 'genesis', problem: 'malformed' })
      else genesis.set(name, { g, contacts })
      continue
    }
    let list = byVolume.get(name)
    if (!list) byVolume.set(name, (list = []))
    list.push(rec)
  }
  for (const [name, { g, contacts }] of [...genesis].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const recs = byVolume.get(name) ?? []
    const trustAny = config.params.mutation === 'trust-any-checkpoint'
    const rejected: { epoch: number | null; why: string }[] = []
    // Parsed without their signatures first; a signature is checked only when its checkpoint is
    // the newest one left (one check per restart, not one per checkpoint ever written).
    const candidates: { checkpoint: vol.Checkpoint; record: Value }[] = []
    if (opts.ignoreCheckpoints !== true) {
      for (const rec of recs) {
        if (!Array.isArray(rec) || rec[0] !== 'checkpoint') continue
        const c = vol.parseCheckpoint(config.crypto, g.name, state.me, rec, { skipSignature: true })
        if (c.ok) candidates.push({ checkpoint: c.checkpoint, record: rec })
        else rejected.push({ epoch: null, why: c.why })
      }
    }
    candidates.sort((a, b) => b.checkpoint.epoch - a.checkpoint.epoch)
    const fold = opts.ignoreCheckpoints === true ? undefined : vol.foldImages(g.name, recs)
    const image = fold !== undefined && !('bad' in fold) ? fold : undefined
    // The newest checkpoint with the volume's state (v2) starts the restart from the tail: the
    // records after it. It must be signed by this node like any other (CKPT-2).
    const newest = candidates[0]
    let fullBecause: string | undefined
    if (newest !== undefined && newest.checkpoint.state !== undefined && opts.noTail !== true && g.order !== 'totb') {
      const signed = trustAny ? { ok: true as const, checkpoint: newest.checkpoint } : vol.parseCheckpoint(config.crypto, g.name, state.me, newest.record)
      const why = !signed.ok ? signed.why : undefined
      const t = signed.ok && signed.checkpoint.state !== undefined
        ? vol.restoreVolumeFromTail(config.crypto, g, state.me, config.params, recs.slice(recs.indexOf(newest.record) + 1), config.storage, contacts, { ...signed.checkpoint, state: signed.checkpoint.state }, image)
        : undefined
      if (t?.ok) {
        for (const p of t.problems) problems.push({ volume: name, ...p })
        state.volumes.set(g.name, t.state)
        checkpoints.set(g.name, { used: newest.checkpoint.epoch, rejected, image: 'used', tail: true })
        continue
      }
      // Not from the tail: with every record, this checkpoint and the older ones are tried as
      // before (a bad signature or heads not in the chains reject it there, and name why).
      fullBecause = why ?? (t !== undefined && !t.ok ? t.why : 'unusable')
    }
    if (opts.tail === true && newest !== undefined) {
      needsFull.push(g.name)
      continue
    }
    // Newest first; one whose heads are not in the restored chains does not describe this disk.
    let r: ReturnType<typeof vol.restoreVolume> | undefined
    let used: vol.Checkpoint | undefined
    for (const cand of [...candidates, undefined]) {
      if (cand !== undefined && !trustAny) {
        const signed = vol.parseCheckpoint(config.crypto, g.name, state.me, cand.record)
        if (!signed.ok) {
          rejected.push({ epoch: null, why: signed.why })
          continue
        }
      }
      const c = cand?.checkpoint
      r = vol.restoreVolume(config.crypto, g, state.me, config.params, recs, config.storage, contacts, c, image)
      if (c === undefined || r.untrusted.length === 0 || trustAny) {
        used = c
        break
      }
      rejected.push({ epoch: c.epoch, why: `its heads of ${r.untrusted.length} chain(s) are not in the restored ledger` })
    }
    // A totb volume's order is derived again from the chains; the log says how far it applied.
    if (g.order === 'totb') vol.restoreOrder(r!.state, config.params, config.storage, r!.problems)
    for (const p of r!.problems) problems.push({ volume: name, ...p })
    // A volume with history that could not start from the tail checkpoints at its next step.
    if (r!.state.fs.epoch > 0 && opts.ignoreCheckpoints !== true) r!.state.checkpointDue = true
    state.volumes.set(g.name, r!.state)
    const imageUse: vol.ImageUse = fold !== undefined && 'bad' in fold && used !== undefined ? { rejected: fold.bad } : r!.image
    checkpoints.set(g.name, { used: used?.epoch ?? null, rejected, image: imageUse, tail: false, ...(fullBecause !== undefined ? { fullBecause } : {}) })
  }
  for (const name of byVolume.keys()) if (!genesis.has(name)) problems.push({ volume: name, record: 'genesis', problem: 'records of a volume without genesis' })
  return { state, problems, checkpoints, needsFull }
}

// ---------------------------------------------------------------------------------------------
// Audit

export function verifyNodeVolume(config: NodeConfig, state: NodeState, volume: VolumeName): VolumeFinding[] {
  const v = state.volumes.get(volume)
  if (!v) return [{ where: volume, what: 'volume', expected: 'present', found: 'absent' }]
  return verifyVolume(config.crypto, {
    volume,
    me: state.me,
    chains: v.fotb.chains,
    entry: (author, seq) => fotb.entryAt(v.fotb, config.storage, author, seq),
    delivered: v.fotb.delivered,
    log: v.log,
    skipped: v.skipped,
    plain: (obf) => v.writtenPlain.get(obf) ?? config.storage.plain(volume, obf),
    chunks: vol.chunkReader(v, config.storage),
    disk: v.fs,
    ...(v.fs.past instanceof StoredFsPast ? { pastRecord: (epoch: number) => (v.fs.past as StoredFsPast).recordBody(epoch) } : {}),
    regained: (seq) => fotb.isRegained(v.fotb, seq),
    ...(v.order !== undefined ? { orderPending: orderPendingOf(v), order: derivedOrder(config, v) } : {}),
    ...(config.params.mutation === 'verify-top-only' ? { topOnly: true } : {}),
  })
}

/** A totb volume's order derived again from its delivered chains alone (what verify compares the
 *  log with). */
function derivedOrder(config: NodeConfig, v: VolumeState): readonly vol.OrderedOp[] {
  const problems: { record: string; problem: string }[] = []
  return vol.deriveOrder(v.genesis, v.me, config.params, v.fotb.chains, v.fotb.delivered, (a, s) => fotb.entryAt(v.fotb, config.storage, a, s), problems).order.queue
}

/** A totb volume's own operations that the order has not applied: not delivered or not ordered yet, waiting in
 *  the order's queue, or skipped there. */
function orderPendingOf(v: VolumeState): (seq: number) => boolean {
  const o = v.order!
  const own = new Set<number>()
  for (const op of o.queue) if (op.author === v.me) own.add(op.seq)
  for (const s of v.skipped) if (s.author === v.me) own.add(s.seq)
  const delivered = v.fotb.delivered.get(v.me) ?? 0
  // Above the delivered mark: not even delivered to ourselves yet, so not ordered either.
  return (seq) => seq > delivered || own.has(seq) || o.unordered.has(vol.opKey(v.me, seq))
}

/** Canonical bytes of a record, for hosts that store or hash records. */
export function encodeRecord(record: Value): Uint8Array {
  return encode(record)
}
