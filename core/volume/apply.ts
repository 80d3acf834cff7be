// Applying operations to the replica: a new volume, local calls (apply once, broadcast the salted
// hash), remote operations once their plain op is here, the chunks they reference, and the log
// and skip records (spec/paciofs.md "Operations", "Log and replica").
import type { Crypto } from '../crypto.ts'
import { encode } from '../codec.ts'
import { fromHex } from '../bytes.ts'
import type { Out } from '../effects.ts'
import { chunkRecord, plainRecord, type ChunkStore, type Storage } from '../storage.ts'
import { StoredFsPast, type PastStore } from './past.ts'
import { VolumeLog, type LogReader } from './log.ts'
import * as fotb from '../fotb/index.ts'
import { entryHash, headerOf, type Entry } from '../ledger/index.ts'
import { applyOp, createFs } from '../fs/state.ts'
import { opToValue, type FsOp } from '../fs/ops.ts'
import { planWrite } from '../fs/content.ts'
import type { ChunkReader } from '../fs/types.ts'
import { assert, type ChunkHash, type EntryHash, type ObfHash, type Pid, type Seq } from '../types.ts'
import { checkPlain, encodePayload, inoFor, logRecordValue, obfuscate, saltFor } from './records.ts'
import { computeStatus, isMember } from './membership.ts'
import { bump, type CallResult, type Ctx, type FsCall, type Genesis, type LogRecord, type Pending, type PlainOp, type SkipRecord, type VolumeState, type VolumeUp } from './types.ts'

// ---------------------------------------------------------------------------------------------
// Creation and local calls

/** A new volume; with `storage`, its replica's past goes to the store (StoredFsPast, spec/storage.md)
 *  instead of memory. */
export function newVolume(crypto: Crypto, genesis: Genesis, me: Pid, contacts: readonly Pid[] = [], storage?: PastStore & LogReader, logKeep?: number): VolumeState {
  const state: VolumeState = {
    genesis,
    order: undefined,
    me,
    fotb: fotb.newFotb(genesis.name, me),
    fs: createFs(crypto, {}, storage !== undefined ? new StoredFsPast(genesis.name, storage) : undefined),
    written: new Map(),
    writtenPlain: new Map(),
    log: new VolumeLog(genesis.name, storage, 0, new Map(), logKeep),
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
    refusals: new Map(),
    queues: new Map(),
    silent: new Set(),
    toPush: [],
    prefetched: new Map(),
    prefetchedBytes: 0,
    lastCheckpoint: 0,
    checkpointDue: false,
    rebaseViews: false,
    stats: new Map(),
  }
  state.status = computeStatus(genesis, state.joins, state.acceptVotes, state.kickVotes)
  return state
}

/** Reads this volume's chunks: this step's own first, then the storage port. */
export function chunkReader(state: VolumeState, store: ChunkStore): ChunkReader {
  const volume = state.genesis.name
  return (h) => state.written.get(h) ?? store.chunk(volume, h)
}

export function hasChunk(state: VolumeState, ctx: Ctx, h: ChunkHash): boolean {
  return state.written.has(h) || ctx.store.hasChunk(state.genesis.name, h)
}

/** Reads this volume's plain operations: this step's own first, then the storage port, checked
 *  (checkPlain). `onDamaged` hears of a stored copy that fails the check. */
export function plainReader(state: VolumeState, crypto: Crypto, store: Storage, onDamaged?: () => void): (obf: ObfHash) => PlainOp | undefined {
  const volume = state.genesis.name
  return (obf) => {
    const own = state.writtenPlain.get(obf)
    if (own !== undefined) return own
    const stored = store.plain(volume, obf)
    const checked = checkPlain(crypto, obf, stored)
    if (stored !== undefined && checked === undefined) onDamaged?.()
    return checked
  }
}

/** The plain operation behind `obf`, if this node holds an intact one. */
export function plainOf(state: VolumeState, ctx: Ctx, obf: ObfHash): PlainOp | undefined {
  return plainReader(state, ctx.crypto, ctx.store, () => bump(state, 'plain:unavailable'))(obf)
}

/** Whether this node holds the plain operation behind `obf` (intact or not: not fetched again). */
export function hasPlain(state: VolumeState, ctx: Ctx, obf: ObfHash): boolean {
  return state.writtenPlain.has(obf) || ctx.store.plain(state.genesis.name, obf) !== undefined
}

/** Persists a plain operation; readable for the rest of the step from `writtenPlain`.
 *  `persist: false` only for the test-only mutation 'forget-fetched-plain'. */
export function storePlain(state: VolumeState, ctx: Ctx, obf: ObfHash, plain: PlainOp, persist = true): void {
  if (persist) ctx.out.persist(plainRecord(state.genesis.name, fromHex(obf)!, plain.salt, plain.opBytes))
  state.writtenPlain.set(obf, plain)
}

/** Persists a chunk unless the node holds it already. */
export function storeChunk(state: VolumeState, ctx: Ctx, h: ChunkHash, bytes: Uint8Array): void {
  if (hasChunk(state, ctx, h)) return
  ctx.out.persist(chunkRecord(state.genesis.name, fromHex(h)!, bytes))
  state.written.set(h, bytes)
}

/** The chunks a write op references, all of them, or undefined when one is not stored here
 *  (never hand out half an op: the receiver would take us for a liar). */
export function chunksOf(state: VolumeState, ctx: Ctx, op: FsOp): [ChunkHash, Uint8Array][] | undefined {
  const chunks: [ChunkHash, Uint8Array][] = []
  if (op.type !== 'write') return chunks
  const read = chunkReader(state, ctx.store)
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

/** What a local call becomes before anything is stored (both orders, `call` and ordered.ts
 *  `callOrdered`): the refusals of a node that may not append, the inode numbers of new nodes
 *  (from the ledger position the op's entry will take), a write's block map planned against the
 *  applied state. */
export type PlannedCall =
  | { readonly ok: false; readonly result: CallResult }
  | { readonly ok: true; readonly seq: Seq; readonly op: FsOp; readonly opBytes: Uint8Array; readonly newChunks: Map<ChunkHash, Uint8Array> | undefined }

export function planCall(state: VolumeState, ctx: Ctx, c: FsCall): PlannedCall {
  if (!isMember(state, state.me)) return { ok: false, result: { ok: false, errno: 'EROFS', detail: 'this node is not a member of the volume' } }
  // FOTB-8: after a lost tail the own chain resumes only once its head is learnt from the members.
  if (!fotb.mayAppendOwn(state.fotb)) return { ok: false, result: { ok: false, errno: 'EROFS', detail: 'this node lost the tail of its store and is learning its own chain head from the members; read-only until then' } }
  // FOTB-9: own entries regained after a lost tail (or handed back after a damaged batch) are
  // applied here at their delivery, like a peer's; a new call applied before them would apply our
  // ops out of seq order, unlike every other replica (seed 5075, 7 nodes, 2 Byzantine: VOL-6).
  const regainedTo = state.fotb.regained.reduce((m, r) => Math.max(m, r.to), 0)
  if ((state.fotb.delivered.get(state.me) ?? 0) < regainedTo || (state.queues.get(state.me)?.length ?? 0) > 0) return { ok: false, result: { ok: false, errno: 'EROFS', detail: 'own entries regained after a lost tail are not applied here yet; read-only until then' } }
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
      const plan = planWrite(state.fs, chunkReader(state, ctx.store), c.path, c.writes, c.truncateTo, ctx.crypto, { cred: c.cred, time: c.time, ...(c.client !== undefined ? { client: c.client } : {}) })
      if (!plan.ok) return { ok: false, result: { ok: false, errno: plan.errno } }
      op = plan.value.op
      newChunks = plan.value.chunks
      break
    }
    default:
      op = c
  }
  return { ok: true, seq, op, opBytes: encode(opToValue(op)), newChunks }
}

/** Stores a planned call's chunks and plain op, appends its op entry (the salted hash) and
 *  queues its push; returns the entry's hash and the salted hash. */
export function publishCall(state: VolumeState, ctx: Ctx, p: Extract<PlannedCall, { ok: true }>): { txid: EntryHash; obf: ObfHash } {
  if (p.newChunks) for (const [h, bytes] of p.newChunks) storeChunk(state, ctx, h, bytes)
  const salt = saltFor(ctx.crypto, ctx.saltKey, state.genesis.name, p.seq)
  const obf = obfuscate(ctx.crypto, salt, p.opBytes)
  storePlain(state, ctx, obf, { salt, opBytes: p.opBytes, op: p.op })
  const entry = fotb.broadcast(state.fotb, ctx.crypto, encodePayload({ type: 'op', obf }))
  assert(entry.seq === p.seq, 'op entry takes the predicted seq')
  state.toPush.push(obf)
  return { txid: entryHashOf(ctx.crypto, entry), obf }
}

/** A local state-changing call: apply once, keep the plain op off-ledger, broadcast its hash. */
export function call(state: VolumeState, ctx: Ctx, c: FsCall): CallResult {
  const planned = planCall(state, ctx, c)
  if (!planned.ok) return planned.result
  const { seq, op, opBytes } = planned
  const epoch = state.fs.epoch + 1
  const { result } = applyOp(state.fs, op, { epoch, author: state.me, ...mutationOf(ctx) })
  if (!result.ok) {
    // Nothing changed, nothing is broadcast; the attempt stays in the local log so that replay
    // (verify) walks the same epochs.
    appendLog(state, ctx.out, { epoch, author: state.me, seq: null, txid: null, obf: null, kind: op.type, result: result.errno, localOp: opBytes })
    return result
  }
  const { txid, obf } = publishCall(state, ctx, planned)
  appendLog(state, ctx.out, { epoch, author: state.me, seq, txid, obf, kind: op.type, result: 'ok' })
  return result
}

/** The test-only fs mutation, when one is set (core/mutations.ts). */
function mutationOf(ctx: Ctx): { mutation?: 'retention-unlink' } {
  return ctx.params.mutation === 'retention-unlink' ? { mutation: ctx.params.mutation } : {}
}

function entryHashOf(crypto: Crypto, entry: Entry): EntryHash {
  return entryHash(crypto, headerOf(crypto, entry))
}

export function appendLog(state: VolumeState, out: Out, record: LogRecord): void {
  assert(record.epoch === state.log.length + 1, 'log epochs are contiguous')
  // The op's past (its versions, name events, log line) goes out with its log record.
  if (state.fs.past instanceof StoredFsPast) for (const r of state.fs.past.drain()) out.persist(r)
  state.log.push(record)
  out.persist(logRecordValue(state.genesis.name, record))
  out.deliver(state.genesis.name, { type: 'logged', record } satisfies VolumeUp)
}

export function skip(state: VolumeState, out: Out, record: SkipRecord): void {
  state.skipped.push(record)
  out.persist(['skip', state.genesis.name, record.atEpoch, fromHex(record.author)!, record.seq, fromHex(record.obf)!, record.why])
  out.deliver(state.genesis.name, { type: 'skipped', record } satisfies VolumeUp)
}

export function applyRemote(state: VolumeState, ctx: Ctx, p: Pending, plain: PlainOp): void {
  const epoch = state.fs.epoch + 1
  const { result } = applyOp(state.fs, plain.op, { epoch, author: p.author, ...mutationOf(ctx) })
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
