// Checkpoints (spec/checkpoint.md): a record, signed by the node, naming the heads of the ledger
// chains it had accepted and its replica's state root at one epoch. Restart accepts the batches
// a valid checkpoint covers by their hash chain alone, without checking their signatures again.
import type { Crypto } from '../crypto.ts'
import { encode, tryDecode, type Value } from '../codec.ts'
import { fromHex, toHex } from '../bytes.ts'
import { stateRoot } from '../fs/merkle.ts'
import { isPid, type EntryHash, type Epoch, type Pid, type Seq, type VolumeName } from '../types.ts'
import { decodeProof, encodeProof, type EquivocationProof } from '../ledger/index.ts'
import { decodePayload, encodePayload } from './records.ts'
import type { MemberEvent, MembershipPayload, Pending, SkipRecord, VolumeState } from './types.ts'

/** v1 named heads and root only; v2 also the volume's state below them ("Restart from the tail"). */
export const CHECKPOINT_TAG_V1 = 'paciofs/checkpoint/v1'
export const CHECKPOINT_TAG = 'paciofs/checkpoint/v2'

/** What a restart from the tail needs besides heads, image and tail (spec/checkpoint.md): the
 *  state that old records gave, each part bounded by membership activity and undelivered ops,
 *  not by the history. */
export interface CheckpointState {
  /** Per author the highest seq the log names (VolumeLog.lastDone). */
  readonly lastDone: ReadonlyMap<Pid, Seq>
  readonly skipped: readonly SkipRecord[]
  readonly memberEvents: readonly MemberEvent[]
  readonly myVotes: readonly string[]
  readonly maxRound: number
  /** Delivered op entries not yet applied, in queue order. */
  readonly pending: readonly { readonly author: Pid; readonly seq: Seq; readonly txid: EntryHash; readonly obf: string }[]
  readonly proofs: readonly EquivocationProof[]
  /** fotb's tail recovery: running from this seq, or undefined; and the ranges regained. */
  readonly recovering: Seq | undefined
  readonly regained: readonly { readonly from: Seq; readonly to: Seq }[]
}

export interface Checkpoint {
  readonly volume: VolumeName
  readonly node: Pid
  readonly epoch: Epoch
  /** Hex state root of the replica right after `epoch`. */
  readonly root: string
  /** Per author: the seq and hash of the last accepted seal's entry, and (v2) what was delivered. */
  readonly heads: ReadonlyMap<Pid, { readonly seq: Seq; readonly head: EntryHash; readonly delivered?: Seq }>
  /** v2 only. */
  readonly state?: CheckpointState
}

/** The checkpoint of `state` as it is now (call at the end of a step's settle). */
export function checkpointOf(state: VolumeState): Checkpoint {
  const heads = new Map<Pid, { seq: Seq; head: EntryHash; delivered: Seq }>()
  for (const [author, log] of state.fotb.chains) if (log.view.seq > 0) heads.set(author, { seq: log.view.seq, head: log.view.head, delivered: state.fotb.delivered.get(author) ?? 0 })
  const pending: { author: Pid; seq: Seq; txid: EntryHash; obf: string }[] = []
  for (const [, q] of [...state.queues].sort(([a], [b]) => (a < b ? -1 : 1))) for (const p of q) pending.push({ author: p.author, seq: p.seq, txid: p.txid, obf: p.obf })
  return {
    volume: state.genesis.name,
    node: state.me,
    epoch: state.fs.epoch,
    root: stateRoot(state.fs),
    heads,
    state: {
      lastDone: new Map(state.log.lastDoneAll()),
      skipped: state.skipped,
      memberEvents: state.memberEvents,
      myVotes: [...state.myVotes].sort(),
      maxRound: state.maxRound,
      pending,
      proofs: [...state.fotb.proofs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, p]) => p),
      recovering: state.fotb.recovering?.from,
      regained: state.fotb.regained,
    },
  }
}

const byAuthor = <T>(m: ReadonlyMap<Pid, T>): [Pid, T][] => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

function bodyOf(c: Checkpoint): Uint8Array {
  if (c.state === undefined) {
    const heads = byAuthor(c.heads).map(([author, h]) => [fromHex(author)!, h.seq, fromHex(h.head)!])
    return encode([CHECKPOINT_TAG_V1, c.volume, fromHex(c.node)!, c.epoch, fromHex(c.root)!, heads])
  }
  const heads = byAuthor(c.heads).map(([author, h]) => [fromHex(author)!, h.seq, fromHex(h.head)!, h.delivered ?? 0])
  const st = c.state
  const state: Value = [
    byAuthor(st.lastDone).map(([a, seq]) => [fromHex(a)!, seq]),
    st.skipped.map((k) => [k.atEpoch, fromHex(k.author)!, k.seq, fromHex(k.obf)!, k.why]),
    st.memberEvents.map((e) => [e.round, fromHex(e.author)!, e.seq, encodePayload(e.payload)]),
    [...st.myVotes],
    st.maxRound,
    st.pending.map((p) => [fromHex(p.author)!, p.seq, fromHex(p.txid)!, fromHex(p.obf)!]),
    st.proofs.map((p) => encodeProof(p)),
    st.recovering ?? null,
    st.regained.map((r) => [r.from, r.to]),
  ]
  return encode([CHECKPOINT_TAG, c.volume, fromHex(c.node)!, c.epoch, fromHex(c.root)!, heads, state])
}

const isPidBytes = (b: unknown): b is Uint8Array => b instanceof Uint8Array && b.length === 33 && isPid(toHex(b))
const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0

/** The state part of a v2 body; undefined when it is malformed. */
function parseState(v: Value): CheckpointState | undefined {
  if (!Array.isArray(v) || v.length !== 9) return undefined
  const [lastDoneV, skippedV, eventsV, votesV, maxRound, pendingV, proofsV, recovering, regainedV] = v as Value[]
  if (![lastDoneV, skippedV, eventsV, votesV, pendingV, proofsV, regainedV].every(Array.isArray) || !isCount(maxRound)) return undefined
  const lastDone = new Map<Pid, Seq>()
  for (const x of lastDoneV as Value[]) {
    if (!Array.isArray(x) || x.length !== 2 || !isPidBytes(x[0]) || !isSeqValue(x[1])) return undefined
    lastDone.set(toHex(x[0]) as Pid, x[1])
  }
  const skipped: SkipRecord[] = []
  for (const x of skippedV as Value[]) {
    if (!Array.isArray(x) || x.length !== 5 || !isCount(x[0]) || !isPidBytes(x[1]) || !isSeqValue(x[2]) || !isHex32(x[3]) || (x[4] !== 'withheld' && x[4] !== 'invalid')) return undefined
    skipped.push({ atEpoch: x[0], author: toHex(x[1]) as Pid, seq: x[2], obf: toHex(x[3]) as SkipRecord['obf'], why: x[4] })
  }
  const memberEvents: MemberEvent[] = []
  for (const x of eventsV as Value[]) {
    if (!Array.isArray(x) || x.length !== 4 || !isCount(x[0]) || !isPidBytes(x[1]) || !isSeqValue(x[2]) || !(x[3] instanceof Uint8Array)) return undefined
    const payload = decodePayload(x[3])
    if (payload === undefined || payload.type === 'op') return undefined
    memberEvents.push({ round: x[0], author: toHex(x[1]) as Pid, seq: x[2], payload: payload as MembershipPayload })
  }
  if (!(votesV as Value[]).every((x) => typeof x === 'string')) return undefined
  const pending: CheckpointState['pending'][number][] = []
  for (const x of pendingV as Value[]) {
    if (!Array.isArray(x) || x.length !== 4 || !isPidBytes(x[0]) || !isSeqValue(x[1]) || !isHex32(x[2]) || !isHex32(x[3])) return undefined
    pending.push({ author: toHex(x[0]) as Pid, seq: x[1], txid: toHex(x[2]) as EntryHash, obf: toHex(x[3]) })
  }
  const proofs: EquivocationProof[] = []
  for (const x of proofsV as Value[]) {
    const d = x instanceof Uint8Array ? decodeProof(x) : undefined
    if (d === undefined || !d.ok) return undefined
    proofs.push(d.value)
  }
  if (!(recovering === null || isCount(recovering))) return undefined
  const regained: { from: Seq; to: Seq }[] = []
  for (const x of regainedV as Value[]) {
    if (!Array.isArray(x) || x.length !== 2 || !isCount(x[0]) || !isCount(x[1]) || x[1] < x[0]) return undefined
    regained.push({ from: x[0], to: x[1] })
  }
  return { lastDone, skipped, memberEvents, myVotes: votesV as string[], maxRound, pending, proofs, recovering: recovering === null ? undefined : recovering, regained }
}

/** `["checkpoint", volume, body, signature]`, signed with the node's key. */
export function checkpointRecord(crypto: Crypto, secretKey: Uint8Array, c: Checkpoint): Value {
  const body = bodyOf(c)
  return ['checkpoint', c.volume, body, crypto.sign(crypto.sha256(body), secretKey)]
}

export type ParsedCheckpoint = { readonly ok: true; readonly checkpoint: Checkpoint } | { readonly ok: false; readonly why: string }

const isHex32 = (b: unknown): b is Uint8Array => b instanceof Uint8Array && b.length === 32
const isSeqValue = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1

/** A checkpoint record of `volume`, checked: its shape, that it is `me`'s and that its signature
 *  verifies under `me`'s key. Never throws on a damaged record. */
export function parseCheckpoint(crypto: Crypto, volume: VolumeName, me: Pid, record: Value, opts: { readonly skipSignature?: boolean } = {}): ParsedCheckpoint {
  if (!Array.isArray(record) || record.length !== 4 || record[0] !== 'checkpoint' || record[1] !== volume) return { ok: false, why: 'not a checkpoint record of this volume' }
  const [, , body, sig] = record
  if (!(body instanceof Uint8Array) || !(sig instanceof Uint8Array)) return { ok: false, why: 'malformed' }
  const d = tryDecode(body)
  if (!d.ok || !Array.isArray(d.value) || (d.value.length !== 6 && d.value.length !== 7)) return { ok: false, why: 'malformed body' }
  const [tag, vol, node, epoch, root, heads, stateV] = d.value as Value[]
  const v2 = tag === CHECKPOINT_TAG && d.value.length === 7
  if (!(v2 || (tag === CHECKPOINT_TAG_V1 && d.value.length === 6)) || vol !== volume) return { ok: false, why: 'another format or volume' }
  if (!(node instanceof Uint8Array) || (toHex(node) !== me && opts.skipSignature !== true)) return { ok: false, why: 'made by another node' }
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0 || !isHex32(root) || !Array.isArray(heads)) return { ok: false, why: 'malformed body' }
  const map = new Map<Pid, { seq: Seq; head: EntryHash; delivered?: Seq }>()
  for (const h of heads) {
    if (!Array.isArray(h) || h.length !== (v2 ? 4 : 3) || !(h[0] instanceof Uint8Array) || !isSeqValue(h[1]) || !isHex32(h[2])) return { ok: false, why: 'malformed head' }
    const author = toHex(h[0])
    if (!isPid(author) || map.has(author)) return { ok: false, why: 'malformed head' }
    if (v2 && !(isCount(h[3]) && h[3] <= h[1])) return { ok: false, why: 'malformed head' }
    map.set(author, { seq: h[1], head: toHex(h[2]) as EntryHash, ...(v2 ? { delivered: h[3] as Seq } : {}) })
  }
  const state = v2 ? parseState(stateV!) : undefined
  if (v2 && state === undefined) return { ok: false, why: 'malformed state' }
  if (opts.skipSignature !== true && !crypto.verify(sig, crypto.sha256(body), fromHex(me)!)) return { ok: false, why: 'its signature does not verify under this node\'s key' }
  return { ok: true, checkpoint: { volume, node: me, epoch, root: toHex(root), heads: map, ...(state !== undefined ? { state } : {}) } }
}
