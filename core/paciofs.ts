// The PacioFS volume reducer (spec/paciofs.md): membership by votes, operations broadcast as
// salted hashes, remote_get of plain operations, the log, the replica and its history.
//
// One VolumeState per volume per node. It owns its fotb instance (core/fotb.ts) and its file
// system replica (core/fs). Handlers mutate the state they are given and push effects into `out`;
// core/node.ts routes inputs to them and seals what they broadcast at the end of every step.
import type { Crypto } from './crypto.ts'
import { encode, tryDecode, type Value } from './codec.ts'
import { fromHex, toHex, utf8 } from './bytes.ts'
import type { Out } from './effects.ts'
import type { Mutation } from './mutations.ts'
import { chunkRecord, type ChunkStore } from './storage.ts'
import * as fotb from './fotb.ts'
import type { FotbParams, FotbState, FotbUp } from './fotb.ts'
import { entryHash, headerOf, type Entry } from './ledger.ts'
import { applyOp, createFs, type FsState } from './fs/state.ts'
import { validateOp, opToValue, type FsOp, type CreateOp, type MkdirOp, type MknodOp, type SymlinkOp, type OpKind } from './fs/ops.ts'
import { planWrite, chunkHash, type WriteStep } from './fs/content.ts'
import type { ChunkReader, Cred, Errno, FsResult, FsTime } from './fs/types.ts'
import {
  assert,
  isPid,
  isVolumeName,
  type ChunkHash,
  type Epoch,
  type EntryHash,
  type ObfHash,
  type Pid,
  type Seq,
  type TimeMs,
  type VolumeName,
} from './types.ts'

export type Policy = 'majority' | 'any'
export type Status = 'applicant' | 'member' | 'removed'
export type KickReason = 'left' | 'equivocated' | 'withheld' | 'lied' | 'operator'
const KICK_REASONS: readonly KickReason[] = ['left', 'equivocated', 'withheld', 'lied', 'operator']

export interface Genesis {
  readonly name: VolumeName
  readonly policy: Policy
  /** Sorted, no duplicates. */
  readonly founders: readonly Pid[]
}

export interface VolumeParams {
  /** remote_get schedule: attempt k waits getTimeoutsMs[min(k, last)]; after the whole schedule
   *  without a valid answer the author is voted out as a withholder. */
  readonly getTimeoutsMs: readonly number[]
  /** Which applicants this node votes to accept: everyone, or an allow-list. */
  readonly admission: 'open' | { readonly allow: ReadonlySet<Pid> }
  /** Push own plain ops to the members after their batch (remote_get's fast path); false leaves
   *  only GET (tests of the GET path). Default true. */
  readonly push?: boolean
  readonly fotb: FotbParams
  /** Test only: a deliberately broken variant (core/mutations.ts); fotb's is in `fotb`. */
  readonly mutation?: Mutation
}

export const DEFAULT_VOLUME_PARAMS: VolumeParams = {
  getTimeoutsMs: [500, 1000, 2000, 4000, 8000, 16000, 32000],
  admission: 'open',
  fotb: fotb.DEFAULT_FOTB_PARAMS,
}

/** What a volume puts in the ledger (spec/paciofs.md "Ledger payloads"). */
export type VolumePayload =
  | { readonly type: 'join'; readonly round: number }
  | { readonly type: 'leave'; readonly round: number }
  | { readonly type: 'vote-accept'; readonly target: Pid; readonly round: number }
  | { readonly type: 'vote-kick'; readonly target: Pid; readonly reason: KickReason; readonly round: number }
  | { readonly type: 'op'; readonly obf: ObfHash }

export type MembershipPayload = Exclude<VolumePayload, { type: 'op' }>

/** A delivered membership entry; `round` is its author's Lamport clock over membership entries. */
export interface MemberEvent {
  readonly round: number
  readonly author: Pid
  readonly seq: Seq
  readonly payload: MembershipPayload
}

export interface PlainOp {
  readonly salt: Uint8Array
  /** encode(op): the exact bytes the obfuscated hash covers. */
  readonly opBytes: Uint8Array
  readonly op: FsOp
}

/** One applied operation in the log; epoch = the replica's fs epoch after applying it. */
export interface LogRecord {
  readonly epoch: Epoch
  readonly author: Pid
  /** Position in the author's chain; null for a local call that failed and was never broadcast. */
  readonly seq: Seq | null
  readonly txid: EntryHash | null
  readonly obf: ObfHash | null
  readonly kind: OpKind
  readonly result: 'ok' | Errno
  /** Only for local failures (no ledger entry): the op itself, so that replay reproduces it. */
  readonly localOp?: Uint8Array
}

/** A delivered operation that was not applied, with the reason (visible to audit). */
export interface SkipRecord {
  readonly atEpoch: Epoch
  readonly author: Pid
  readonly seq: Seq
  readonly obf: ObfHash
  readonly why: 'withheld' | 'invalid'
}

interface Pending {
  readonly author: Pid
  readonly seq: Seq
  readonly txid: EntryHash
  readonly obf: ObfHash
  attempt: number
  asked: Pid | null
  deadline: TimeMs
  /** When the first GET for this op went out (null: not asked yet). */
  firstAskAt: TimeMs | null
  /** Members that answered NOTFOUND. */
  readonly notFound: Set<Pid>
}

export interface VolumeState {
  readonly genesis: Genesis
  readonly me: Pid
  readonly fotb: FotbState
  readonly fs: FsState
  /** Chunks this step persisted, until the host has performed the step's persist (volatile;
   *  emptied at the end of every step, spec/storage.md): reads see them before the port does. */
  readonly written: Map<ChunkHash, Uint8Array>
  readonly plain: Map<ObfHash, PlainOp>
  readonly log: LogRecord[]
  readonly skipped: SkipRecord[]
  /** Membership inputs (sets, so the outcome does not depend on delivery order). */
  readonly joins: Set<Pid>
  readonly leaves: Set<Pid>
  readonly acceptVotes: Map<Pid, Set<Pid>>
  readonly kickVotes: Map<Pid, Set<Pid>>
  status: Map<Pid, Status>
  /** Every delivered membership entry (the input of replayMembership). */
  readonly memberEvents: MemberEvent[]
  /** Highest round among delivered membership entries: our next entry takes round + 1. */
  maxRound: number
  /** Peers this node was told to contact while it is not yet a member. */
  contacts: Set<Pid>
  /** Votes this node cast, "accept:<pid>" / "kick:<pid>": never twice. */
  readonly myVotes: Set<string>
  /** Per author, delivered op entries waiting for their plain operation, in seq order. */
  readonly queues: Map<Pid, Pending[]>
  /** Removed authors that let a whole GET round time out (volatile). */
  readonly silent: Set<Pid>
  /** Own ops broadcast in this step, to push to the members once their batch is sent (volatile). */
  readonly toPush: ObfHash[]
  /** Plain ops members pushed before their entries were delivered: obf -> the PUT and its sender.
   *  Bounded (PREFETCH_MAX, PREFETCH_BYTES_MAX; oldest out first); checked in full when used (volatile). */
  readonly prefetched: Map<ObfHash, { readonly from: Pid; readonly msg: Extract<VolMessage, { type: 'put' }>; readonly bytes: number }>
  prefetchedBytes: number
  readonly stats: Map<string, number>
}

export type VolumeUp =
  | { readonly type: 'logged'; readonly record: LogRecord }
  | { readonly type: 'skipped'; readonly record: SkipRecord }
  | { readonly type: 'members'; readonly members: readonly Pid[] }
  /** fotb delivered these entries of `author`, seqs from, from+1, … (in order). */
  | { readonly type: 'entries'; readonly author: Pid; readonly from: Seq; readonly hashes: readonly EntryHash[] }

// ---------------------------------------------------------------------------------------------
// Encodings

export function genesisValue(g: Genesis): Value {
  return ['paciofs/genesis/v1', g.name, g.policy, g.founders.map((p) => fromHex(p)!)]
}

export function parseGenesis(v: Value): Genesis | undefined {
  if (!Array.isArray(v) || v.length !== 4 || v[0] !== 'paciofs/genesis/v1') return undefined
  const [, name, policy, founders] = v as Value[]
  if (typeof name !== 'string' || !isVolumeName(name)) return undefined
  if (policy !== 'majority' && policy !== 'any') return undefined
  if (!Array.isArray(founders) || founders.length === 0 || founders.length > 256) return undefined
  const pids: Pid[] = []
  for (const f of founders as Value[]) {
    const p = f instanceof Uint8Array ? toHex(f) : ''
    if (!isPid(p)) return undefined
    pids.push(p)
  }
  const sorted = [...new Set(pids)].sort()
  if (sorted.length !== pids.length || sorted.some((p, i) => p !== pids[i])) return undefined
  return { name, policy, founders: sorted }
}

export function encodePayload(p: VolumePayload): Uint8Array {
  switch (p.type) {
    case 'join':
    case 'leave':
      return encode([p.type, p.round])
    case 'vote-accept':
      return encode([p.type, fromHex(p.target)!, p.round])
    case 'vote-kick':
      return encode([p.type, fromHex(p.target)!, p.reason, p.round])
    case 'op':
      return encode(['op', fromHex(p.obf)!])
  }
}

export function decodePayload(bytes: Uint8Array): VolumePayload | undefined {
  const r = tryDecode(bytes)
  if (!r.ok || !Array.isArray(r.value)) return undefined
  const v = r.value as Value[]
  const pidAt = (i: number): Pid | undefined => {
    const b = v[i]
    const hex = b instanceof Uint8Array && b.length === 33 ? toHex(b) : ''
    return isPid(hex) ? hex : undefined
  }
  const roundAt = (i: number): number | undefined => {
    const r = v[i]
    return typeof r === 'number' && Number.isSafeInteger(r) && r >= 1 ? r : undefined
  }
  switch (v[0]) {
    case 'join':
    case 'leave': {
      const round = roundAt(1)
      return v.length === 2 && round ? { type: v[0], round } : undefined
    }
    case 'vote-accept': {
      const target = pidAt(1)
      const round = roundAt(2)
      return v.length === 3 && target && round ? { type: 'vote-accept', target, round } : undefined
    }
    case 'vote-kick': {
      const target = pidAt(1)
      const reason = v[2]
      const round = roundAt(3)
      return v.length === 4 && target && round && KICK_REASONS.includes(reason as KickReason)
        ? { type: 'vote-kick', target, reason: reason as KickReason, round }
        : undefined
    }
    case 'op': {
      const obf = v[1]
      return v.length === 2 && obf instanceof Uint8Array && obf.length === 32 ? { type: 'op', obf: toHex(obf) as ObfHash } : undefined
    }
    default:
      return undefined
  }
}

export type VolMessage =
  | { readonly type: 'get'; readonly obf: ObfHash }
  | { readonly type: 'put'; readonly obf: ObfHash; readonly salt: Uint8Array; readonly opBytes: Uint8Array; readonly chunks: [ChunkHash, Uint8Array][] }
  | { readonly type: 'notfound'; readonly obf: ObfHash }

export function encodeVolMessage(volume: VolumeName, m: VolMessage): Uint8Array {
  switch (m.type) {
    case 'get':
      return encode(['vol/get', volume, fromHex(m.obf)!])
    case 'notfound':
      return encode(['vol/notfound', volume, fromHex(m.obf)!])
    case 'put':
      return encode(['vol/put', volume, fromHex(m.obf)!, m.salt, m.opBytes, m.chunks.map(([h, b]) => [fromHex(h)!, b])])
  }
}

const MAX_PUT_CHUNKS = 65536

export function parseVolMessage(parts: readonly Value[]): { ok: true; msg: VolMessage } | { ok: false; reason: string } {
  const obfBytes = parts[2]
  if (!(obfBytes instanceof Uint8Array) || obfBytes.length !== 32) return { ok: false, reason: 'obf' }
  const obf = toHex(obfBytes) as ObfHash
  if (parts[0] === 'vol/get' && parts.length === 3) return { ok: true, msg: { type: 'get', obf } }
  if (parts[0] === 'vol/notfound' && parts.length === 3) return { ok: true, msg: { type: 'notfound', obf } }
  if (parts[0] === 'vol/put' && parts.length === 6) {
    const [, , , salt, opBytes, list] = parts
    if (!(salt instanceof Uint8Array) || salt.length !== 32 || !(opBytes instanceof Uint8Array) || !Array.isArray(list) || list.length > MAX_PUT_CHUNKS) {
      return { ok: false, reason: 'put fields' }
    }
    const chunks: [ChunkHash, Uint8Array][] = []
    for (const item of list as Value[]) {
      if (!Array.isArray(item) || item.length !== 2 || !(item[0] instanceof Uint8Array) || item[0].length !== 32 || !(item[1] instanceof Uint8Array)) {
        return { ok: false, reason: 'put chunk' }
      }
      chunks.push([toHex(item[0]) as ChunkHash, item[1]])
    }
    return { ok: true, msg: { type: 'put', obf, salt, opBytes, chunks } }
  }
  return { ok: false, reason: 'unknown vol message' }
}

// ---------------------------------------------------------------------------------------------
// Obfuscation (salted hash) and deterministic identifiers

export function saltKey(crypto: Crypto, secretKey: Uint8Array): Uint8Array {
  return crypto.hmacSha256(secretKey, utf8('paciofs/salt-key/v1'))
}

export function saltFor(crypto: Crypto, key: Uint8Array, volume: VolumeName, seq: Seq): Uint8Array {
  return crypto.hmacSha256(key, encode(['paciofs/salt/v1', volume, seq]))
}

export function obfuscate(crypto: Crypto, salt: Uint8Array, opBytes: Uint8Array): ObfHash {
  return toHex(crypto.sha256(encode(['paciofs/obf/v1', salt, opBytes]))) as ObfHash
}

export function inoFor(crypto: Crypto, volume: VolumeName, author: Pid, seq: Seq, k: number): number {
  const h = crypto.sha256(encode(['paciofs/ino/v1', volume, fromHex(author)!, seq, k]))
  let n = 0
  for (let i = 0; i < 6; i++) n = n * 256 + h[i]!
  return n + 2 // 0 is "no inode", 1 is the root
}

// ---------------------------------------------------------------------------------------------
// Membership (VOL-1): a function of the set of delivered joins, leaves and votes.

function meets(policy: Policy, votes: number, members: number): boolean {
  return policy === 'any' ? votes >= 1 : 2 * votes > members
}

/** Advances `from` (default: the founders) by the membership rule until nothing changes.
 *  Statuses only move forward; the result is a fixpoint: advancing it again changes nothing. */
export function computeStatus(
  genesis: Genesis,
  joins: ReadonlySet<Pid>,
  acceptVotes: ReadonlyMap<Pid, ReadonlySet<Pid>>,
  kickVotes: ReadonlyMap<Pid, ReadonlySet<Pid>>,
  from?: ReadonlyMap<Pid, Status>,
): Map<Pid, Status> {
  const status = new Map<Pid, Status>(from ?? [])
  for (const f of genesis.founders) if (!status.has(f)) status.set(f, 'member')
  for (const j of joins) if (!status.has(j)) status.set(j, 'applicant')
  const pids = [...status.keys()].sort()
  const countFrom = (voters: ReadonlySet<Pid> | undefined, members: Set<Pid>): number => {
    let n = 0
    if (voters) for (const v of voters) if (members.has(v)) n++
    return n
  }
  // Each pass advances at most one pid, so at most 2·|pids| passes: bounded.
  for (let pass = 0; pass <= 2 * pids.length; pass++) {
    const members = new Set(pids.filter((p) => status.get(p) === 'member'))
    let changed = false
    for (const p of pids) {
      const s = status.get(p)
      if (s === 'applicant' && meets(genesis.policy, countFrom(acceptVotes.get(p), members), members.size)) {
        status.set(p, 'member')
        changed = true
        break
      }
      if (s === 'member' && meets(genesis.policy, countFrom(kickVotes.get(p), members), members.size)) {
        status.set(p, 'removed')
        changed = true
        break
      }
    }
    if (!changed) break
  }
  return status
}

/** The statuses a node reaches by delivering these membership entries one by one in causal
 *  order — (round, author, seq), rounds being Lamport clocks — applying the rule after each.
 *  A function of the *set* of delivered entries: nodes that delivered the same entries agree
 *  (VOL-2), however the entries arrived; a late joiner replays history as it happened. */
export function replayMembership(genesis: Genesis, events: readonly MemberEvent[]): {
  status: Map<Pid, Status>
  joins: Set<Pid>
  leaves: Set<Pid>
  acceptVotes: Map<Pid, Set<Pid>>
  kickVotes: Map<Pid, Set<Pid>>
} {
  const ordered = [...events].sort((a, b) => a.round - b.round || (a.author < b.author ? -1 : a.author > b.author ? 1 : a.seq - b.seq))
  // Causal hold-back: an accept vote for a pid whose join is not delivered here shows that its
  // author had delivered an entry we still miss (a correct member votes to accept only on a
  // delivered join; kicks carry no such promise: an operator or an equivocation proof may name
  // any pid). That vote and every later entry of its author (they follow it causally) wait
  // until the join arrives; applying them would build a member set that never existed (sim
  // seed 535: a joiner applied the founder's accept of a later member but not its accept of an
  // earlier one, whose join it had not delivered, and waited forever for the echo of a member
  // the others had removed).
  const joined = new Set<Pid>(genesis.founders)
  for (const e of events) if (e.payload.type === 'join') joined.add(e.author)
  const heldFrom = new Map<Pid, Seq>()
  for (const e of events) {
    const p = e.payload
    if (p.type === 'vote-accept' && !joined.has(p.target) && e.seq < (heldFrom.get(e.author) ?? Infinity)) heldFrom.set(e.author, e.seq)
  }
  const joins = new Set<Pid>()
  const leaves = new Set<Pid>()
  const acceptVotes = new Map<Pid, Set<Pid>>()
  const kickVotes = new Map<Pid, Set<Pid>>()
  let status = computeStatus(genesis, joins, acceptVotes, kickVotes)
  for (const e of ordered) {
    if (e.seq >= (heldFrom.get(e.author) ?? Infinity)) continue
    const p = e.payload
    if (p.type === 'join') joins.add(e.author)
    else if (p.type === 'leave') leaves.add(e.author)
    else addVote(p.type === 'vote-accept' ? acceptVotes : kickVotes, p.target, e.author)
    status = computeStatus(genesis, joins, acceptVotes, kickVotes, status)
  }
  return { status, joins, leaves, acceptVotes, kickVotes }
}

export function membersOf(state: VolumeState): Pid[] {
  return [...state.status].filter(([, s]) => s === 'member').map(([p]) => p).sort()
}

export function isMember(state: VolumeState, pid: Pid): boolean {
  return state.status.get(pid) === 'member'
}

// ---------------------------------------------------------------------------------------------
// Creation and local calls

export function newVolume(crypto: Crypto, genesis: Genesis, me: Pid, contacts: readonly Pid[] = []): VolumeState {
  const state: VolumeState = {
    genesis,
    me,
    fotb: fotb.newFotb(genesis.name, me),
    fs: createFs(crypto),
    written: new Map(),
    plain: new Map(),
    log: [],
    skipped: [],
    joins: new Set(),
    leaves: new Set(),
    acceptVotes: new Map(),
    kickVotes: new Map(),
    status: new Map(),
    memberEvents: [],
    maxRound: 0,
    contacts: new Set(contacts.filter((c) => c !== me)),
    myVotes: new Set(),
    queues: new Map(),
    silent: new Set(),
    toPush: [],
    prefetched: new Map(),
    prefetchedBytes: 0,
    stats: new Map(),
  }
  state.status = computeStatus(genesis, state.joins, state.acceptVotes, state.kickVotes)
  return state
}

function bump(state: VolumeState, key: string): void {
  state.stats.set(key, (state.stats.get(key) ?? 0) + 1)
}

/** Fs calls as the host hands them in: like FsOp, but the node picks inode numbers, and a write
 *  carries the session's writes (grouped between open and close) instead of block references. */
export type FsCall =
  | Exclude<FsOp, CreateOp | MkdirOp | MknodOp | SymlinkOp | { type: 'write' }>
  | Omit<CreateOp, 'ino'>
  | Omit<MkdirOp, 'ino'>
  | Omit<MknodOp, 'ino'>
  | Omit<SymlinkOp, 'ino'>
  | { readonly type: 'write'; readonly path: string; readonly writes: readonly WriteStep[]; readonly truncateTo?: number; readonly cred: Cred; readonly time: FsTime; readonly client?: Pid }

export type CallResult = FsResult | { readonly ok: false; readonly errno: 'EACCES' | 'EROFS'; readonly detail: string }

export interface Ctx {
  readonly crypto: Crypto
  readonly secretKey: Uint8Array
  readonly saltKey: Uint8Array
  readonly params: VolumeParams
  readonly now: TimeMs
  readonly out: Out
  /** The storage port (spec/storage.md): chunks persisted by earlier steps. */
  readonly chunks: ChunkStore
}

/** Reads this volume's chunks: this step's own first, then the storage port. */
export function chunkReader(state: VolumeState, store: ChunkStore): ChunkReader {
  const volume = state.genesis.name
  return (h) => state.written.get(h) ?? store.chunk(volume, h)
}

function hasChunk(state: VolumeState, ctx: Ctx, h: ChunkHash): boolean {
  return state.written.has(h) || ctx.chunks.hasChunk(state.genesis.name, h)
}

/** Persists a chunk unless the node holds it already. */
function storeChunk(state: VolumeState, ctx: Ctx, h: ChunkHash, bytes: Uint8Array): void {
  if (hasChunk(state, ctx, h)) return
  ctx.out.persist(chunkRecord(state.genesis.name, fromHex(h)!, bytes))
  state.written.set(h, bytes)
}

/** The chunks a write op references, all of them, or undefined when one is not stored here
 *  (never hand out half an op: the receiver would take us for a liar). */
function chunksOf(state: VolumeState, ctx: Ctx, op: FsOp): [ChunkHash, Uint8Array][] | undefined {
  const chunks: [ChunkHash, Uint8Array][] = []
  if (op.type !== 'write') return chunks
  const read = chunkReader(state, ctx.chunks)
  const seen = new Set<ChunkHash>()
  for (const [, h] of op.blocks) {
    if (h === null || seen.has(h)) continue
    seen.add(h)
    const bytes = read(h)
    if (bytes === undefined) return undefined
    chunks.push([h, bytes])
  }
  return chunks
}

/** A local state-changing call: apply once, keep the plain op off-ledger, broadcast its hash. */
export function call(state: VolumeState, ctx: Ctx, c: FsCall): CallResult {
  if (!isMember(state, state.me)) return { ok: false, errno: 'EROFS', detail: 'this node is not a member of the volume' }
  const seq = state.fotb.own.seq + 1 // the ledger position this op's entry will take
  let op: FsOp
  let newChunks: Map<ChunkHash, Uint8Array> | undefined
  switch (c.type) {
    case 'create':
    case 'mkdir':
    case 'mknod':
    case 'symlink':
      op = { ...c, ino: inoFor(ctx.crypto, state.genesis.name, state.me, seq, 0) } as FsOp
      break
    case 'write': {
      const plan = planWrite(state.fs, chunkReader(state, ctx.chunks), c.path, c.writes, c.truncateTo, ctx.crypto, { cred: c.cred, time: c.time, ...(c.client !== undefined ? { client: c.client } : {}) })
      if (!plan.ok) return { ok: false, errno: plan.errno }
      op = plan.value.op
      newChunks = plan.value.chunks
      break
    }
    default:
      op = c
  }
  const opBytes = encode(opToValue(op))
  const epoch = state.fs.epoch + 1
  const { result } = applyOp(state.fs, op, { epoch, author: state.me })
  if (!result.ok) {
    // Nothing changed, nothing is broadcast; the attempt stays in the local log so that replay
    // (verify) walks the same epochs.
    appendLog(state, ctx.out, { epoch, author: state.me, seq: null, txid: null, obf: null, kind: op.type, result: result.errno, localOp: opBytes })
    return result
  }
  if (newChunks) for (const [h, bytes] of newChunks) storeChunk(state, ctx, h, bytes)
  const salt = saltFor(ctx.crypto, ctx.saltKey, state.genesis.name, seq)
  const obf = obfuscate(ctx.crypto, salt, opBytes)
  state.plain.set(obf, { salt, opBytes, op })
  ctx.out.persist(['plain', state.genesis.name, fromHex(obf)!, salt, opBytes])
  const entry = fotb.broadcast(state.fotb, ctx.crypto, encodePayload({ type: 'op', obf }))
  assert(entry.seq === seq, 'op entry takes the predicted seq')
  const txid = entryHashOf(ctx.crypto, entry)
  appendLog(state, ctx.out, { epoch, author: state.me, seq, txid, obf, kind: op.type, result: 'ok' })
  state.toPush.push(obf)
  return result
}

/** Most plain ops, and bytes, held for entries not delivered yet. */
export const PREFETCH_MAX = 4096
export const PREFETCH_BYTES_MAX = 64 * 1024 * 1024

/** Push (remote_get's fast path): after the batch holding our new ops was sent, send each op's
 *  plain operation to the other members, so that they need no GET round trip. Only members get
 *  plain data (VOL-7); a lost push costs a GET, never correctness. Called by the node at the end
 *  of a step, after fotb sealed and sent the batch (so the batch travels first). */
export function pushOwnOps(state: VolumeState, ctx: Ctx): void {
  if (state.toPush.length === 0) return
  if (ctx.params.push === false) {
    state.toPush.length = 0
    return
  }
  const to = membersOf(state).filter((m) => m !== state.me)
  for (const obf of state.toPush.splice(0)) {
    const bytes = putMessageFor(state, ctx, obf)
    if (bytes === undefined) continue
    for (const m of to) {
      bump(state, 'out:push')
      ctx.out.send(m, bytes)
    }
  }
}

function putMessageFor(state: VolumeState, ctx: Ctx, obf: ObfHash): Uint8Array | undefined {
  const plain = state.plain.get(obf)
  if (!plain) return undefined
  const chunks = chunksOf(state, ctx, plain.op)
  if (chunks === undefined) {
    bump(state, 'chunk:unavailable')
    return undefined
  }
  return encodeVolMessage(state.genesis.name, { type: 'put', obf, salt: plain.salt, opBytes: plain.opBytes, chunks })
}

function entryHashOf(crypto: Crypto, entry: Entry): EntryHash {
  return entryHash(crypto, headerOf(crypto, entry))
}

function appendLog(state: VolumeState, out: Out, record: LogRecord): void {
  assert(record.epoch === state.log.length + 1, 'log epochs are contiguous')
  state.log.push(record)
  out.persist(logRecordValue(state.genesis.name, record))
  out.deliver(state.genesis.name, { type: 'logged', record } satisfies VolumeUp)
}

export function logRecordValue(volume: VolumeName, r: LogRecord): Value {
  return [
    'log',
    volume,
    r.epoch,
    fromHex(r.author)!,
    r.seq,
    r.txid === null ? null : fromHex(r.txid)!,
    r.obf === null ? null : fromHex(r.obf)!,
    r.kind,
    r.result,
    r.localOp ?? null,
  ]
}

function skip(state: VolumeState, out: Out, record: SkipRecord): void {
  state.skipped.push(record)
  out.persist(['skip', state.genesis.name, record.atEpoch, fromHex(record.author)!, record.seq, fromHex(record.obf)!, record.why])
  out.deliver(state.genesis.name, { type: 'skipped', record } satisfies VolumeUp)
}

export function requestJoin(state: VolumeState, ctx: Ctx): void {
  fotb.broadcast(state.fotb, ctx.crypto, encodePayload({ type: 'join', round: state.maxRound + 1 }))
  refreshAudience(state, ctx)
}

export function requestLeave(state: VolumeState, ctx: Ctx): void {
  fotb.broadcast(state.fotb, ctx.crypto, encodePayload({ type: 'leave', round: state.maxRound + 1 }))
}

type VoteIntent =
  | { readonly type: 'vote-accept'; readonly target: Pid }
  | { readonly type: 'vote-kick'; readonly target: Pid; readonly reason: KickReason }

function vote(state: VolumeState, ctx: Ctx, intent: VoteIntent): void {
  const payload: VolumePayload = { ...intent, round: state.maxRound + 1 }
  const key = `${payload.type}:${payload.target}`
  if (state.myVotes.has(key) || !isMember(state, state.me)) return
  state.myVotes.add(key)
  bump(state, `vote:${payload.type === 'vote-kick' ? payload.reason : 'accept'}`)
  ctx.out.trace({ kind: payload.type, volume: state.genesis.name, peer: payload.target, detail: payload.type === 'vote-kick' ? payload.reason : '' })
  fotb.broadcast(state.fotb, ctx.crypto, encodePayload(payload))
}

export function voteKick(state: VolumeState, ctx: Ctx, target: Pid, reason: KickReason): void {
  vote(state, ctx, { type: 'vote-kick', target, reason })
}

// ---------------------------------------------------------------------------------------------
// Deliveries from fotb

export function onUps(state: VolumeState, ctx: Ctx, ups: FotbUp[]): void {
  // Deliveries may change membership, which may make more entries deliverable: loop until
  // fotb has nothing more to hand up (bounded: every round delivers at least one entry).
  while (ups.length > 0) {
    const batch = ups.splice(0, ups.length)
    let membershipTouched = false
    for (const up of batch) {
      if (up.type === 'equivocation') {
        voteKick(state, ctx, up.author, 'equivocated')
        continue
      }
      membershipTouched = onDeliver(state, ctx, up.author, up.seq, up.hash, up.payload) || membershipTouched
    }
    if (membershipTouched) recomputeMembership(state, ctx, ups)
  }
}

function onDeliver(state: VolumeState, ctx: Ctx, author: Pid, seq: Seq, txid: EntryHash, payload: Uint8Array): boolean {
  const p = decodePayload(payload)
  if (!p) {
    bump(state, 'reject:payload')
    ctx.out.trace({ kind: 'bad-payload', volume: state.genesis.name, peer: author })
    return false
  }
  if (p.type !== 'op') {
    state.memberEvents.push({ round: p.round, author, seq, payload: p })
    state.maxRound = Math.max(state.maxRound, p.round)
  }
  switch (p.type) {
    case 'join':
      state.joins.add(author)
      if (admits(ctx.params, author)) vote(state, ctx, { type: 'vote-accept', target: author })
      return true
    case 'leave':
      state.leaves.add(author)
      vote(state, ctx, { type: 'vote-kick', target: author, reason: 'left' })
      return true
    case 'vote-accept':
      addVote(state.acceptVotes, p.target, author)
      return true
    case 'vote-kick':
      addVote(state.kickVotes, p.target, author)
      return true
    case 'op':
      if (author === state.me) {
        // Applied once, at the call (VOL-3) — unless the test-only mutation re-applies it.
        const plain = ctx.params.mutation === 'apply-own-twice' ? state.plain.get(p.obf) : undefined
        if (plain) applyRemote(state, ctx, { author, seq, txid, obf: p.obf, attempt: 0, asked: null, deadline: 0, firstAskAt: null, notFound: new Set() }, plain)
        return false
      }
      // Queued even if the author is not (yet) a member here: membership is decided by the set
      // of votes, which may still be arriving; the queue waits until the author is or was one.
      enqueue(state, ctx, { author, seq, txid, obf: p.obf, attempt: 0, asked: null, deadline: -Infinity, firstAskAt: null, notFound: new Set() })
      return false
  }
}

function admits(params: VolumeParams, pid: Pid): boolean {
  return params.admission === 'open' || params.admission.allow.has(pid)
}

function addVote(map: Map<Pid, Set<Pid>>, target: Pid, voter: Pid): void {
  let set = map.get(target)
  if (!set) map.set(target, (set = new Set()))
  set.add(voter)
}

function recomputeMembership(state: VolumeState, ctx: Ctx, ups: FotbUp[]): void {
  const before = membersOf(state).join()
  const next = replayMembership(state.genesis, state.memberEvents).status
  state.status = next
  const members = membersOf(state)
  if (members.join() === before) return
  ctx.out.deliver(state.genesis.name, { type: 'members', members } satisfies VolumeUp)
  ctx.out.trace({ kind: 'members', volume: state.genesis.name, detail: members.map((m) => m.slice(0, 8)).join(',') })
  // A member that joined late votes on joins and leaves it already delivered.
  if (isMember(state, state.me)) {
    for (const j of [...state.joins].sort()) if (next.get(j) === 'applicant' && admits(ctx.params, j)) vote(state, ctx, { type: 'vote-accept', target: j })
    for (const l of [...state.leaves].sort()) if (next.get(l) === 'member') vote(state, ctx, { type: 'vote-kick', target: l, reason: 'left' })
    for (const a of [...state.fotb.proofs.keys()].sort()) if (next.get(a) === 'member') vote(state, ctx, { type: 'vote-kick', target: a, reason: 'equivocated' })
  }
  refreshAudience(state, ctx, ups)
}

function refreshAudience(state: VolumeState, ctx: Ctx, ups: FotbUp[] = []): void {
  const members = new Set(membersOf(state))
  const audience = new Set(members)
  for (const [p, s] of state.status) if (s === 'applicant') audience.add(p)
  // Until we are a member, also talk to the contacts we were given (they relay our join).
  if (!members.has(state.me)) for (const c of state.contacts) audience.add(c)
  const removed = new Set([...state.status].filter(([, s]) => s === 'removed').map(([p]) => p))
  fotb.setMembers(state.fotb, members, audience, ctx.out, ups, removed)
}

// ---------------------------------------------------------------------------------------------
// remote_get

function enqueue(state: VolumeState, ctx: Ctx, p: Pending): void {
  let q = state.queues.get(p.author)
  if (!q) state.queues.set(p.author, (q = []))
  q.push(p)
  if (q.length === 1) advanceQueue(state, ctx, p.author)
}

/** Applies every queue head whose plain op we hold; asks for the first one we do not. */
function advanceQueue(state: VolumeState, ctx: Ctx, author: Pid): void {
  const q = state.queues.get(author)
  const status = state.status.get(author)
  if (status !== 'member' && status !== 'removed') return // held until the author is admitted
  while (q && q.length > 0) {
    const head = q[0]!
    const plain = state.plain.get(head.obf)
    if (plain) {
      q.shift()
      applyRemote(state, ctx, head, plain)
      continue
    }
    const pushed = state.prefetched.get(head.obf)
    if (pushed !== undefined) {
      // A member pushed it before the entry was delivered: checked now exactly like a PUT that
      // answers a GET (acceptPut advances the queue, or handles a lie).
      state.prefetched.delete(head.obf)
      state.prefetchedBytes -= pushed.bytes
      const r = acceptPut(state, ctx, pushed.from, head, pushed.msg)
      if (r === 'stored') continue
      if (r === 'handled') return
      // A lying push: ask as if nothing had come.
    }
    if (head.deadline === -Infinity) ask(state, ctx, head)
    return
  }
  state.queues.delete(author)
}

function applyRemote(state: VolumeState, ctx: Ctx, p: Pending, plain: PlainOp): void {
  const epoch = state.fs.epoch + 1
  const { result } = applyOp(state.fs, plain.op, { epoch, author: p.author })
  appendLog(state, ctx.out, {
    epoch,
    author: p.author,
    seq: p.seq,
    txid: p.txid,
    obf: p.obf,
    kind: plain.op.type,
    result: result.ok ? 'ok' : result.errno,
  })
}

/** Who to ask on attempt k: the author on even attempts, the other members in turn on odd ones
 *  (a removed author is skipped: only members are asked). */
function target(state: VolumeState, p: Pending): Pid {
  // The author is asked even after its removal: a member that left in good order still holds
  // its plain operations, and every replica must get them to converge.
  const others = membersOf(state).filter((m) => m !== state.me && m !== p.author)
  if (others.length === 0 || p.attempt % 2 === 0) return p.author
  const rot = parseInt(p.obf.slice(0, 8), 16)
  return others[(Math.floor(p.attempt / 2) + rot) % others.length]!
}

function ask(state: VolumeState, ctx: Ctx, p: Pending): void {
  const t = ctx.params.getTimeoutsMs
  if (p.firstAskAt === null) p.firstAskAt = ctx.now
  const get = encodeVolMessage(state.genesis.name, { type: 'get', obf: p.obf })
  if (!isMember(state, p.author)) {
    // A removed author owes nobody an answer: ask it and every member at once, one round per
    // longest time-out, so that ops nobody holds are given up in one round trip (VOL-5).
    p.deadline = ctx.now + t[t.length - 1]!
    p.asked = null
    for (const m of [p.author, ...membersOf(state)]) {
      if (m === state.me || p.notFound.has(m)) continue
      bump(state, 'out:get')
      ctx.out.send(m, get)
    }
    return
  }
  p.deadline = ctx.now + t[Math.min(p.attempt, t.length - 1)]!
  const to = target(state, p)
  p.asked = to
  bump(state, 'out:get')
  ctx.out.send(to, get)
}

function scheduleMs(params: VolumeParams): number {
  return params.getTimeoutsMs.reduce((sum, t) => sum + t, 0)
}

/** The next GET for a queue head, after a time-out or an honest NOTFOUND. The author is voted
 *  out as a withholder only once the whole schedule ran out *and* at least its total time
 *  passed since the first GET (NOTFOUNDs from other members speed up the attempts, not the
 *  verdict). A removed author's op is given up — recorded as withheld, never dropped silently
 *  (VOL-5) — when every other member said NOTFOUND, or after twice the schedule's time. */
function nextAttempt(state: VolumeState, ctx: Ctx, p: Pending): void {
  p.attempt++
  const waited = ctx.now - (p.firstAskAt ?? ctx.now)
  const total = scheduleMs(ctx.params)
  if (isMember(state, p.author)) {
    if (p.attempt >= ctx.params.getTimeoutsMs.length && waited >= total) voteKick(state, ctx, p.author, 'withheld')
  } else {
    const others = membersOf(state).filter((m) => m !== state.me && m !== p.author)
    // The removed author gets one full round to answer (it may have left in good order); once
    // it stayed silent through a round, later ops of it do not wait for it again.
    if (p.firstAskAt !== null && ctx.now >= p.deadline && !p.notFound.has(p.author)) state.silent.add(p.author)
    const authorDone = p.notFound.has(p.author) || state.silent.has(p.author)
    if ((authorDone && others.every((m) => p.notFound.has(m))) || waited >= 2 * total) {
      const q = state.queues.get(p.author)!
      q.shift()
      skip(state, ctx.out, { atEpoch: state.fs.epoch, author: p.author, seq: p.seq, obf: p.obf, why: 'withheld' })
      advanceQueue(state, ctx, p.author)
      return
    }
  }
  ask(state, ctx, p)
}

function headFor(state: VolumeState, obf: ObfHash): Pending | undefined {
  for (const q of state.queues.values()) if (q[0]?.obf === obf) return q[0]
  return undefined
}

export function onVolMessage(state: VolumeState, ctx: Ctx, from: Pid, msg: VolMessage): void {
  bump(state, `in:${msg.type}`)
  switch (msg.type) {
    case 'get': {
      if (!isMember(state, from)) {
        bump(state, 'reject:get-not-member') // VOL-7: plain data stays with members
        return
      }
      const plain = state.plain.get(msg.obf)
      const chunks = plain === undefined ? undefined : chunksOf(state, ctx, plain.op)
      if (plain === undefined || chunks === undefined) {
        // A chunk we cannot read (damaged on disk) makes the op one we do not have: NOTFOUND
        // sends the asker to another member instead of handing it half an op.
        if (plain !== undefined) bump(state, 'chunk:unavailable')
        ctx.out.send(from, encodeVolMessage(state.genesis.name, { type: 'notfound', obf: msg.obf }))
        return
      }
      bump(state, 'out:put')
      ctx.out.send(from, encodeVolMessage(state.genesis.name, { type: 'put', obf: msg.obf, salt: plain.salt, opBytes: plain.opBytes, chunks }))
      return
    }
    case 'notfound': {
      const p = headFor(state, msg.obf)
      if (p && (p.asked === from || (p.asked === null && p.firstAskAt !== null))) {
        p.notFound.add(from)
        if (p.asked === from) nextAttempt(state, ctx, p)
        else if ((p.notFound.has(p.author) || state.silent.has(p.author)) && membersOf(state).every((m) => m === state.me || m === p.author || p.notFound.has(m))) nextAttempt(state, ctx, p)
      }
      return
    }
    case 'put':
      return onPut(state, ctx, from, msg)
  }
}

function onPut(state: VolumeState, ctx: Ctx, from: Pid, msg: Extract<VolMessage, { type: 'put' }>): void {
  const p = headFor(state, msg.obf)
  if (!p) {
    if (!isMember(state, from)) {
      bump(state, 'reject:put-not-member') // plain data is only taken from members
      return
    }
    if (state.plain.has(msg.obf)) {
      bump(state, 'put-unexpected') // a late duplicate (a push and a GET's answer both came): harmless
      return
    }
    // A push ahead of its entry (or for an entry further down a queue): keep it, bounded, if it
    // is what it claims to be; the ledger entry decides later whether it is wanted at all.
    if (obfuscate(ctx.crypto, msg.salt, msg.opBytes) !== msg.obf) {
      bump(state, 'reject:push-mismatch')
      return
    }
    let bytes = msg.opBytes.length
    for (const [, b] of msg.chunks) bytes += b.length
    if (bytes > PREFETCH_BYTES_MAX) {
      bump(state, 'reject:push-too-large')
      return
    }
    const old = state.prefetched.get(msg.obf)
    if (old !== undefined) state.prefetchedBytes -= old.bytes
    state.prefetched.delete(msg.obf)
    while (state.prefetched.size >= PREFETCH_MAX || state.prefetchedBytes + bytes > PREFETCH_BYTES_MAX) {
      const [oldest, entry] = state.prefetched.entries().next().value!
      state.prefetched.delete(oldest)
      state.prefetchedBytes -= entry.bytes
      bump(state, 'prefetch:evicted')
    }
    state.prefetched.set(msg.obf, { from, msg, bytes })
    state.prefetchedBytes += bytes
    bump(state, 'prefetch:kept')
    return
  }
  if (acceptPut(state, ctx, from, p, msg) === 'stored') advanceQueue(state, ctx, p.author)
}

/** A PUT for queue head `p` (an answer to our GET, or a push we kept): VOL-4 checks, then the
 *  plain op and its chunks are stored. 'stored': the caller advances the queue; 'handled': a lie
 *  (the sender was voted against) or an invalid op (skipped, the queue already advanced). */
function acceptPut(state: VolumeState, ctx: Ctx, from: Pid, p: Pending, msg: Extract<VolMessage, { type: 'put' }>): 'stored' | 'lie' | 'handled' {
  // VOL-4: only data that hashes to the ledger entry is accepted; anything else is a lie.
  if (obfuscate(ctx.crypto, msg.salt, msg.opBytes) !== msg.obf && ctx.params.mutation !== 'skip-obf-check') {
    liar(state, ctx, from, p, 'salted hash does not match the ledger')
    return 'lie'
  }
  const decoded = tryDecode(msg.opBytes)
  const checked = decoded.ok ? validateOp(decoded.value) : undefined
  if (!checked || !checked.ok) {
    // The author committed to bytes that are no valid operation: every replica sees the same
    // bytes (they are hash-bound), so all skip it the same way.
    const q = state.queues.get(p.author)!
    q.shift()
    skip(state, ctx.out, { atEpoch: state.fs.epoch, author: p.author, seq: p.seq, obf: p.obf, why: 'invalid' })
    voteKick(state, ctx, p.author, 'lied')
    advanceQueue(state, ctx, p.author)
    return 'handled'
  }
  const op = checked.op
  const fresh = new Map<ChunkHash, Uint8Array>()
  for (const [h, bytes] of msg.chunks) {
    if (chunkHash(ctx.crypto, bytes) !== h) {
      liar(state, ctx, from, p, 'a chunk does not hash to its name')
      return 'lie'
    }
    if (!hasChunk(state, ctx, h)) fresh.set(h, bytes)
  }
  if (op.type === 'write') {
    for (const [, h] of op.blocks) {
      if (h !== null && !hasChunk(state, ctx, h) && !fresh.has(h)) {
        liar(state, ctx, from, p, 'a referenced chunk is missing')
        return 'lie'
      }
    }
  }
  if (ctx.params.mutation === 'forget-fetched-chunks') for (const [h, bytes] of fresh) state.written.set(h, bytes)
  else for (const [h, bytes] of fresh) storeChunk(state, ctx, h, bytes)
  state.plain.set(msg.obf, { salt: msg.salt, opBytes: msg.opBytes, op })
  ctx.out.persist(['plain', state.genesis.name, fromHex(msg.obf)!, msg.salt, msg.opBytes])
  return 'stored'
}

function liar(state: VolumeState, ctx: Ctx, from: Pid, p: Pending, why: string): void {
  bump(state, 'reject:lie')
  ctx.out.trace({ kind: 'liar', volume: state.genesis.name, peer: from, detail: why })
  if (isMember(state, from)) voteKick(state, ctx, from, 'lied')
  if (p.asked === from) nextAttempt(state, ctx, p)
}

export function onTick(state: VolumeState, ctx: Ctx): void {
  fotb.onTick(state.fotb, ctx.params.fotb, ctx.now, ctx.out)
  for (const author of [...state.queues.keys()].sort()) {
    const head = state.queues.get(author)?.[0]
    if (head && head.deadline <= ctx.now) {
      if (head.deadline === -Infinity) ask(state, ctx, head)
      else nextAttempt(state, ctx, head)
    }
  }
}

/** After membership changes (a removed author, a new member), queue heads may need another
 *  target; a removed author's queue continues with the remaining members (nextAttempt). */
export function membershipSettled(state: VolumeState, ctx: Ctx): void {
  for (const author of [...state.queues.keys()].sort()) advanceQueue(state, ctx, author)
}

// ---------------------------------------------------------------------------------------------
// Restart: rebuild from persisted records (spec/paciofs.md "Records").

export interface VolumeRestoreProblem {
  readonly record: string
  readonly problem: string
}

export function restoreVolume(
  crypto: Crypto,
  genesis: Genesis,
  me: Pid,
  params: VolumeParams,
  records: readonly Value[],
  contacts: readonly Pid[] = [],
): { state: VolumeState; problems: VolumeRestoreProblem[] } {
  const volume = genesis.name
  const restored = fotb.restoreFotb(crypto, volume, me, params.fotb, records)
  const problems: VolumeRestoreProblem[] = [...restored.problems]
  const base = newVolume(crypto, genesis, me, contacts)
  const state: VolumeState = { ...base, fotb: restored.state }
  if (params.fotb.mutation) state.fotb.mutation = params.fotb.mutation
  const logRecs: LogRecord[] = []
  const skips: SkipRecord[] = []
  for (const rec of records) {
    if (!Array.isArray(rec) || rec[1] !== volume) continue
    const r = rec as Value[]
    // Chunk records are the storage port's (spec/storage.md): the state holds no chunk bytes.
    if (r[0] === 'plain') {
      const [, , obfB, salt, opBytes] = r
      if (!(obfB instanceof Uint8Array) || !(salt instanceof Uint8Array) || !(opBytes instanceof Uint8Array)) {
        problems.push({ record: 'plain', problem: 'malformed' })
        continue
      }
      const obf = toHex(obfB) as ObfHash
      const d = tryDecode(opBytes)
      const v = d.ok ? validateOp(d.value) : undefined
      if (obfuscate(crypto, salt, opBytes) !== obf || !v || !v.ok) {
        problems.push({ record: `plain ${obf.slice(0, 12)}`, problem: 'does not hash to its obf or is no valid op' })
        continue
      }
      state.plain.set(obf, { salt, opBytes, op: v.op })
    } else if (r[0] === 'log') {
      const parsed = parseLogRecord(r)
      if (!parsed) problems.push({ record: typeof r[2] === 'number' ? `log epoch ${r[2]}` : 'log', problem: 'malformed' })
      else logRecs.push(parsed)
    } else if (r[0] === 'skip') {
      const author = r[3] instanceof Uint8Array ? toHex(r[3]) : ''
      const obf = r[5] instanceof Uint8Array ? toHex(r[5]) : ''
      const why = r[6]
      if (!isPid(author) || typeof r[2] !== 'number' || typeof r[4] !== 'number' || obf.length !== 64 || (why !== 'withheld' && why !== 'invalid')) {
        problems.push({ record: typeof r[2] === 'number' ? `skip after epoch ${r[2]}` : 'skip', problem: 'malformed' })
      } else skips.push({ atEpoch: r[2], author, seq: r[4], obf: obf as ObfHash, why })
    }
  }
  // Replay the log into the replica, in epoch order; a gap or an unreplayable record is reported
  // and replay stops there (later records cannot be placed without it).
  logRecs.sort((a, b) => a.epoch - b.epoch)
  for (const rec of logRecs) {
    if (rec.epoch !== state.log.length + 1) {
      problems.push({ record: `log epoch ${rec.epoch}`, problem: `expected epoch ${state.log.length + 1}` })
      break
    }
    const op = opOfRecord(state, rec)
    if (!op) {
      problems.push({ record: `log epoch ${rec.epoch}`, problem: 'its plain operation is missing' })
      break
    }
    applyOp(state.fs, op, { epoch: rec.epoch, author: rec.author })
    state.log.push(rec)
  }
  state.skipped.push(...skips)
  // Membership and pending queues from what fotb had delivered: membership is a function of the
  // set of delivered votes, so the order of replay does not matter.
  const lastDone = new Map<Pid, Seq>()
  for (const r of state.log) if (r.seq !== null) lastDone.set(r.author, Math.max(lastDone.get(r.author) ?? 0, r.seq))
  for (const s of state.skipped) lastDone.set(s.author, Math.max(lastDone.get(s.author) ?? 0, s.seq))
  const pendingOps: Pending[] = []
  for (const [author, log] of [...state.fotb.chains].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const delivered = state.fotb.delivered.get(author) ?? 0
    for (let seq = 1; seq <= log.entries.length; seq++) {
      const p = decodePayload(log.entries[seq - 1]!.payload)
      if (!p) continue
      if (author === me && p.type !== 'op') state.myVotes.add(`${p.type}:${'target' in p ? p.target : ''}`)
      if (author === me && p.type !== 'op') state.maxRound = Math.max(state.maxRound, p.round)
      if (seq > delivered) continue
      if (p.type !== 'op') {
        state.memberEvents.push({ round: p.round, author, seq, payload: p })
        state.maxRound = Math.max(state.maxRound, p.round)
      }
      if (p.type === 'join') state.joins.add(author)
      else if (p.type === 'leave') state.leaves.add(author)
      else if (p.type === 'vote-accept') addVote(state.acceptVotes, p.target, author)
      else if (p.type === 'vote-kick') addVote(state.kickVotes, p.target, author)
      else if (author !== me && seq > (lastDone.get(author) ?? 0)) {
        pendingOps.push({ author, seq, txid: log.view.hashes[seq - 1]!, obf: p.obf, attempt: 0, asked: null, deadline: -Infinity, firstAskAt: null, notFound: new Set() })
      }
    }
  }
  // Membership is a function of the delivered entries (replayed in causal order).
  state.status = replayMembership(genesis, state.memberEvents).status
  const members = new Set(membersOf(state))
  const audience = new Set(members)
  for (const [p, s] of state.status) if (s === 'applicant') audience.add(p)
  if (!members.has(me)) for (const c of state.contacts) audience.add(c)
  state.fotb.members = members
  state.fotb.audience = audience
  state.fotb.removed = new Set([...state.status].filter(([, s]) => s === 'removed').map(([p]) => p))
  for (const p of pendingOps) {
    let q = state.queues.get(p.author)
    if (!q) state.queues.set(p.author, (q = []))
    q.push(p)
  }
  return { state, problems }
}

export function parseLogRecord(r: readonly Value[]): LogRecord | undefined {
  const [, , epoch, authorB, seq, txidB, obfB, kind, result, localOp] = r
  const author = authorB instanceof Uint8Array ? toHex(authorB) : ''
  if (r.length !== 10 || typeof epoch !== 'number' || !isPid(author) || typeof kind !== 'string' || typeof result !== 'string') return undefined
  if (!(seq === null || typeof seq === 'number')) return undefined
  const txid = txidB instanceof Uint8Array && txidB.length === 32 ? (toHex(txidB) as EntryHash) : null
  const obf = obfB instanceof Uint8Array && obfB.length === 32 ? (toHex(obfB) as ObfHash) : null
  if ((seq === null) !== (txid === null) || (seq === null) !== (obf === null)) return undefined
  if (seq === null && !(localOp instanceof Uint8Array)) return undefined
  return {
    epoch,
    author,
    seq,
    txid,
    obf,
    kind: kind as OpKind,
    result: result as LogRecord['result'],
    ...(localOp instanceof Uint8Array ? { localOp } : {}),
  }
}

/** The operation a log record stands for: the plain op behind its obf, or its local op bytes. */
export function opOfRecord(state: { readonly plain: ReadonlyMap<ObfHash, PlainOp> }, rec: LogRecord): FsOp | undefined {
  if (rec.obf !== null) return state.plain.get(rec.obf)?.op
  if (!rec.localOp) return undefined
  const d = tryDecode(rec.localOp)
  const v = d.ok ? validateOp(d.value) : undefined
  return v && v.ok ? v.op : undefined
}

