// The volume layer's state and parameters, what it hands up, and its inputs from the node
// (spec/paciofs.md). The layer: records.ts (byte formats, obfuscation), membership.ts (VOL-1,
// VOL-2), apply.ts (creation, local calls, the log), deliver.ts (what fotb hands up),
// fetch.ts (remote_get), restore.ts (restart); index.ts is the public API.
import type { Crypto } from '../crypto.ts'
import type { Out } from '../effects.ts'
import type { Mutation } from '../mutations.ts'
import type { Storage } from '../storage.ts'
import type { VolumeLog } from './log.ts'
import * as fotb from '../fotb/index.ts'
import type { FotbParams, FotbState } from '../fotb/index.ts'
import type { TotbParams, TotbState } from '../totb/index.ts'
import type { RequestId } from '../effects.ts'
import type { FsState } from '../fs/state.ts'
import type { FsOp, CreateOp, MkdirOp, MknodOp, SymlinkOp, OpKind } from '../fs/ops.ts'
import type { WriteStep } from '../fs/content.ts'
import type { Cred, Errno, FsResult, FsTime } from '../fs/types.ts'
import type { ChunkHash, Epoch, EntryHash, ObfHash, Pid, Seq, TimeMs, VolumeName } from '../types.ts'

export type Policy = 'majority' | 'any'
export type Status = 'applicant' | 'member' | 'removed'
/** Why a correct member does not vote to accept an applicant (spec/paciofs.md "Admission"). */
export type Refusal =
  | 'no-invite'
  | 'invite-malformed'
  | 'invite-bad-signature'
  | 'invite-other-volume'
  | 'invite-issuer-not-member'
  | 'invite-expired'
  | 'invite-other-invitee'
  | 'invite-used'
export type KickReason = 'left' | 'equivocated' | 'withheld' | 'lied' | 'operator'
export const KICK_REASONS: readonly KickReason[] = ['left', 'equivocated', 'withheld', 'lied', 'operator']

/** Who a volume admits (spec/paciofs.md "Admission"): `open`: every applicant; `closed`: only
 *  one a member invited or admitted by id, or one on a voter's allow-list. */
export type Admission = 'open' | 'closed'

export interface Genesis {
  readonly name: VolumeName
  readonly policy: Policy
  /** Sorted, no duplicates. */
  readonly founders: readonly Pid[]
  /** Absent in a genesis written before admission was a volume parameter (the v1 record): each
   *  member then applies its own rule as it did then (every applicant unless it has an
   *  allow-list), and still honours invites and admits. */
  readonly admission?: Admission
  /** How the members agree on the order of operations (spec/totb.md "Volumes in total order"):
   *  absent = 'fotb' (each author's operations in its order, authors interleaved as delivered);
   *  'totb' = one total order for every member (a v3 genesis record). */
  readonly order?: Order
}

export type Order = 'fotb' | 'totb'

export interface VolumeParams {
  /** remote_get schedule: attempt k waits getTimeoutsMs[min(k, last)]; after the whole schedule
   *  without a valid answer the author is voted out as a withholder. */
  readonly getTimeoutsMs: readonly number[]
  /** This node's allow-list (`--admit`): applicants it votes to accept without an invite or an
   *  admit entry. Absent: none — except on a volume whose genesis predates admission, where
   *  absent means every applicant (the rule of that time). */
  readonly allow?: ReadonlySet<Pid>
  /** Push own plain ops to the members after their batch (remote_get's fast path); false leaves
   *  only GET (tests of the GET path). Default true. */
  readonly push?: boolean
  /** A checkpoint (spec/checkpoint.md) at the end of the first step whose epoch is at least this
   *  many epochs past the last one; 0 = only when the host asks. Default 1024. */
  readonly checkpointEvery?: number
  /** Log records kept in memory after a step at most (core/volume/log.ts); older ones are read
   *  through the storage port. Default 1024; the simulator uses a few, so that its runs read the log
   *  back from the port. */
  readonly logKeep?: number
  readonly fotb: FotbParams
  /** totb's parameters, for volumes in total order (default DEFAULT_TOTB_PARAMS). */
  readonly totb?: TotbParams
  /** A totb volume skips an ordered operation that fewer than f + 1 members said they hold once
   *  the order's time is this far past the operation's (and two leaders later at least);
   *  default 30,000 (spec/totb.md "Availability"). */
  readonly skipAfterMs?: number
  /** Test only: a deliberately broken variant (core/mutations.ts); fotb's is in `fotb`. */
  readonly mutation?: Mutation
}

export const DEFAULT_VOLUME_PARAMS: VolumeParams = {
  getTimeoutsMs: [500, 1000, 2000, 4000, 8000, 16000, 32000],
  checkpointEvery: 1024,
  fotb: fotb.DEFAULT_FOTB_PARAMS,
}

/** What a volume puts in the ledger (spec/paciofs.md "Ledger payloads"). */
export type VolumePayload =
  /** `invite`: the token (core/volume/invite.ts) the applicant carries; absent in a join without one
   *  and in every join written before invites existed. */
  | { readonly type: 'join'; readonly round: number; readonly invite?: Uint8Array }
  /** A member's operator admits `target` by its id (`paciofs admit`): correct members then vote
   *  to accept it once its join is delivered. */
  | { readonly type: 'admit'; readonly target: Pid; readonly round: number }
  | { readonly type: 'leave'; readonly round: number }
  /** `join`: the seq and hash of the target's join entry, which the voter had delivered: its
   *  signed ready report for the target's chain (spec/fotb.md "The author's seal and signed ready reports"). Absent in
   *  votes written before it existed. */
  | { readonly type: 'vote-accept'; readonly target: Pid; readonly round: number; readonly join?: { readonly seq: Seq; readonly hash: EntryHash } }
  | { readonly type: 'vote-kick'; readonly target: Pid; readonly reason: KickReason; readonly round: number }
  | { readonly type: 'op'; readonly obf: ObfHash }
  /** totb volumes only (spec/totb.md "Availability"): the author holds the plain operations of
   *  these op entries and answers GETs for them. */
  | { readonly type: 'have'; readonly ops: readonly { readonly author: Pid; readonly seq: Seq }[] }

export type MembershipPayload = Exclude<VolumePayload, { type: 'op' } | { type: 'have' }>

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
  /** A totb volume: the order's time at the op (ms since 1970), which retention judged it by
   *  (ApplyCtx.orderTime); replay applies it with the same. */
  readonly orderTime?: number
}

/** A delivered operation that was not applied, with the reason (visible to audit). */
export interface SkipRecord {
  readonly atEpoch: Epoch
  readonly author: Pid
  readonly seq: Seq
  readonly obf: ObfHash
  readonly why: 'withheld' | 'invalid'
}

export interface Pending {
  readonly author: Pid
  readonly seq: Seq
  readonly txid: EntryHash
  readonly obf: ObfHash
  attempt: number
  asked: Pid | null
  deadline: TimeMs
  /** When the first GET for this op went out (null: not asked yet). */
  firstAskAt: TimeMs | null
  /** When the latest GET to the author itself went out (null: not asked yet). The withheld
   *  verdict needs one sent at least the schedule's total time after `firstAskAt` (VOL-11). */
  authorAskedAt: TimeMs | null
  /** Members that answered NOTFOUND. */
  readonly notFound: Set<Pid>
}

/** An operation of a totb volume in the order, not applied (or skipped) yet. */
export interface OrderedOp {
  readonly author: Pid
  readonly seq: Seq
  readonly txid: EntryHash
  readonly obf: ObfHash
  readonly position: number
  /** Leaders ordered before it, and the order's time at it. */
  readonly wave: number
  readonly time: number
  /** Decided in the order: 'apply' (f + 1 members hold it) or 'skip' (they did not in time). */
  decided: 'apply' | 'skip' | undefined
}

/** A totb volume's order (spec/totb.md "Volumes in total order"; core/volume/ordered.ts). */
export interface OrderState {
  readonly totb: TotbState
  /** Ordered operations not applied or skipped yet, in the order. */
  readonly queue: OrderedOp[]
  /** Ordered operations not decided yet, by "author:seq". */
  readonly waiting: Map<string, OrderedOp>
  /** Per operation "author:seq": the members whose ordered entries say they hold it (its own
   *  op entry counts for its author). Dropped once decided. */
  readonly haves: Map<string, Set<Pid>>
  /** Per author, the highest seq of its entries ordered so far. */
  readonly orderedSeq: Map<Pid, Seq>
  /** Leaders ordered so far, and the order's time at the newest one. */
  waves: number
  time: number
  /** Delivered, decoded payloads (no vertices) not ordered yet, by "author:seq". */
  readonly unordered: Map<string, VolumePayload>
  /** Operations of others this node holds and has not named in a `have` entry yet. */
  readonly toAnnounce: { readonly author: Pid; readonly seq: Seq }[]
  /** Invalid plain operations (hash-bound bytes that are no operation): skipped when applied. */
  readonly invalid: Set<ObfHash>
  /** Own operations whose caller waits for their application in the order, by own seq. */
  readonly replies: Map<Seq, RequestId>
  /** Membership in the order: the rule (VOL-1) applied to the ordered membership entries. */
  readonly joins: Set<Pid>
  readonly acceptVotes: Map<Pid, Set<Pid>>
  readonly kickVotes: Map<Pid, Set<Pid>>
  status: Map<Pid, Status>
  /** The ordered membership changed since the volume last looked (volatile). */
  moved: boolean
  /** VolumeParams.skipAfterMs. */
  readonly skipAfterMs: number
}

export interface VolumeState {
  readonly genesis: Genesis
  /** Present for a volume in total order (genesis order 'totb'; set by the node, ordered.ts). */
  order: OrderState | undefined
  readonly me: Pid
  readonly fotb: FotbState
  readonly fs: FsState
  /** Chunks this step persisted, until the host has performed the step's persist (volatile;
   *  emptied at the end of every step, spec/storage.md): reads see them before the port does. */
  readonly written: Map<ChunkHash, Uint8Array>
  /** Plain operations this step persisted (own calls, accepted PUTs), until the host has performed
   *  the step's persist (volatile, emptied with `written`): the port serves them after that. */
  readonly writtenPlain: Map<ObfHash, PlainOp>
  /** The applied operations, epoch order: the recent ones in memory, the rest through the port
   *  (core/volume/log.ts). */
  readonly log: VolumeLog
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
  /** Why this node last refused to vote for an applicant (volatile: shown by status, counted in
   *  `stats` as refuse:<reason> when it changes; judged again when membership changes). */
  readonly refusals: Map<Pid, Refusal>
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
  /** Epoch of the newest checkpoint this node persisted (0: none yet; spec/checkpoint.md). */
  lastCheckpoint: Epoch
  /** The restart could not start from the tail (no v2 checkpoint, or an unusable one): the next
   *  step checkpoints, so that the next restart can (spec/checkpoint.md). */
  checkpointDue: boolean
  /** This step wrote a checkpoint: at its end the ledger views drop what they hold in memory and
   *  read it through the port instead (volatile; core/node.ts endStep). */
  rebaseViews: boolean
  readonly stats: Map<string, number>
}

export type VolMessage =
  | { readonly type: 'get'; readonly obf: ObfHash }
  | { readonly type: 'put'; readonly obf: ObfHash; readonly salt: Uint8Array; readonly opBytes: Uint8Array; readonly chunks: [ChunkHash, Uint8Array][] }
  | { readonly type: 'notfound'; readonly obf: ObfHash }

export type VolumeUp =
  | { readonly type: 'logged'; readonly record: LogRecord }
  | { readonly type: 'skipped'; readonly record: SkipRecord }
  | { readonly type: 'members'; readonly members: readonly Pid[] }
  /** A totb volume ordered these entries, at these positions of its order (in order). */
  | { readonly type: 'ordered'; readonly entries: readonly { readonly author: Pid; readonly seq: Seq; readonly hash: EntryHash; readonly position: number }[] }
  /** fotb delivered these entries of `author`, seqs from, from+1, … (in order). */
  | { readonly type: 'entries'; readonly author: Pid; readonly from: Seq; readonly hashes: readonly EntryHash[] }

export function bump(state: VolumeState, key: string): void {
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

/** ENOSPC is never the core's answer: a host gives it for a call it did not step (disk full). */
export type CallResult = FsResult | { readonly ok: false; readonly errno: 'EACCES' | 'EROFS' | 'ENOSPC'; readonly detail: string }

export interface Ctx {
  readonly crypto: Crypto
  readonly secretKey: Uint8Array
  readonly saltKey: Uint8Array
  readonly params: VolumeParams
  readonly now: TimeMs
  readonly out: Out
  /** The storage port (spec/storage.md): chunks, plain operations and ledger entries persisted by
   *  earlier steps. */
  readonly store: Storage
}
