// The volume's restart from every record (spec/paciofs.md "Records"; the restart from the tail
// after a checkpoint is core/volume/tail.ts, which shares the helpers at the end). Plain
// operations, ledger entries and log records are read through the storage port (spec/storage.md),
// checked as they are read: every logged op's plain op must hash to its obf and be a valid op.
import type { Crypto } from '../crypto.ts'
import type { Value } from '../codec.ts'
import { toHex } from '../bytes.ts'
import * as fotb from '../fotb/index.ts'
import { applyOp } from '../fs/state.ts'
import type { Storage } from '../storage.ts'
import { isPid, type Epoch, type ObfHash, type Pid, type Seq } from '../types.ts'
import { decodePayload, opOfRecord, parseLogRecord, replayCtx } from './records.ts'
import { addVote, membersOf, replayMembership } from './membership.ts'
import { newVolume, plainReader } from './apply.ts'
import { stateRootAt } from '../fs/merkle.ts'
import type { Checkpoint } from './checkpoint.ts'
import { StoredFsPast } from './past.ts'
import { inodesOf, type ImageFold } from './image.ts'
import { stateRoot } from '../fs/merkle.ts'
import type { Genesis, MembershipPayload, Pending, SkipRecord, VolumeParams, VolumeState } from './types.ts'
import { VolumeLog } from './log.ts'

/** Whether restart built the replica from a tree image (spec/checkpoint.md): 'used', 'none' (no
 *  image of the checkpoint's epoch, or no checkpoint), or why the image was not used. */
export type ImageUse = 'used' | 'none' | { readonly rejected: string }

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
  store: Storage,
  contacts: readonly Pid[] = [],
  checkpoint?: Checkpoint,
  image?: ImageFold,
): { state: VolumeState; problems: VolumeRestoreProblem[]; untrusted: Pid[]; image: ImageUse } {
  const volume = genesis.name
  const restored = fotb.restoreFotb(crypto, volume, me, params.fotb, records, store, checkpoint?.heads)
  const problems: VolumeRestoreProblem[] = [...restored.problems]
  const base = newVolume(crypto, genesis, me, contacts, store, params.logKeep)
  let state: VolumeState = { ...base, fotb: restored.state }
  if (params.fotb.mutation) state.fotb.mutation = params.fotb.mutation
  const skips = readSkips(volume, records, problems)
  // Replay the log into the replica, in epoch order, reading it from the port until its end; an
  // unreadable or unreplayable record is reported and replay stops there (later records cannot be
  // placed without it).
  // With the trusted checkpoint's tree image the replica starts at its epoch; the log up to it is
  // taken as it is (spec/checkpoint.md "Restart with an image").
  let imageUse: ImageUse = 'none'
  let imageEpoch = 0
  if (checkpoint !== undefined && restored.untrusted.length === 0 && image !== undefined && image.epoch === checkpoint.epoch) {
    imageUse = applyImage(state, image, checkpoint.root)
    if (imageUse === 'used') imageEpoch = image.epoch
    else state = { ...state, fs: newVolume(crypto, genesis, me, contacts, store).fs }
  }
  const replayed = replayLog(state, crypto, store, 0, imageEpoch, problems)
  state = { ...state, log: new VolumeLog(volume, store, replayed.epoch, replayed.lastDone, params.logKeep) }
  const { lastDone, logged } = replayed
  state.skipped.push(...skips)
  // Membership and pending queues from what fotb had delivered: membership is a function of the
  // set of delivered votes, so the order of replay does not matter.
  for (const s of state.skipped) noteDone(lastDone, logged, s.author, s.seq)
  const pendingOps = scanEntries(state, store, lastDone, logged, () => 1, problems)
  finishMembership(state, genesis, pendingOps)
  // The checkpoint named the replica at its epoch: replay must reach it (spec/checkpoint.md).
  if (checkpoint !== undefined && restored.untrusted.length === 0) {
    state.lastCheckpoint = checkpoint.epoch
    if (imageUse === 'used') {
      // Its root was checked against the checkpoint's before the tail was replayed.
    } else if (state.fs.epoch < checkpoint.epoch) {
      problems.push({ record: `checkpoint epoch ${checkpoint.epoch}`, problem: `the log replays only to epoch ${state.fs.epoch}` })
    } else if (stateRootAt(state.fs, checkpoint.epoch) !== checkpoint.root) {
      problems.push({ record: `checkpoint epoch ${checkpoint.epoch}`, problem: 'replay does not reproduce the state root the node had at that epoch' })
    }
  }
  return { state, problems, untrusted: restored.untrusted, image: imageUse }
}

// ---------------------------------------------------------------------------------------------
// The parts both restarts share (this one and core/volume/tail.ts).

export function readSkips(volume: string, records: readonly Value[], problems: VolumeRestoreProblem[]): SkipRecord[] {
  const skips: SkipRecord[] = []
  for (const rec of records) {
    if (!Array.isArray(rec) || rec[1] !== volume || rec[0] !== 'skip') continue
    // Chunk, plain, entry and log records are the storage port's (spec/storage.md): the state
    // holds none of them; plain ops and log records are read (and checked) as the log replays.
    const r = rec as Value[]
    const author = r[3] instanceof Uint8Array ? toHex(r[3]) : ''
    const obf = r[5] instanceof Uint8Array ? toHex(r[5]) : ''
    const why = r[6]
    if (!isPid(author) || typeof r[2] !== 'number' || typeof r[4] !== 'number' || obf.length !== 64 || (why !== 'withheld' && why !== 'invalid')) {
      problems.push({ record: typeof r[2] === 'number' ? `skip after epoch ${r[2]}` : 'skip', problem: 'malformed' })
    } else skips.push({ atEpoch: r[2], author, seq: r[4], obf: obf as ObfHash, why })
  }
  return skips
}

/** Builds the replica from a tree image (spec/checkpoint.md "Restart with an image") and checks
 *  its root; the caller starts over without it unless this says 'used'. */
export function applyImage(state: VolumeState, image: ImageFold, root: string): ImageUse {
  const built = inodesOf(image)
  if (!built.ok) return { rejected: built.why }
  if (!built.inodes.has(1)) return { rejected: 'it has no root directory' }
  if (!(state.fs.past instanceof StoredFsPast)) return { rejected: 'the replica keeps its past in memory' }
  state.fs.past.startAt(image.epoch)
  const fs = state.fs
  fs.inodes.clear()
  for (const [ino, rec] of built.inodes) fs.inodes.set(ino, rec)
  fs.epoch = image.epoch
  fs.hashCache.clear()
  fs.dirTrees.clear()
  fs.dirty.clear()
  for (const ino of built.tombstones) fs.dirty.add(ino)
  // An image read from disk may name an inode it does not hold, or loop (damage, or a batch of
  // its records lost): the root's walk asserts on such a tree, which here is input, not our bug.
  let got: string
  try {
    got = stateRoot(fs)
  } catch (err) {
    return { rejected: `its tree does not hold together (${(err as Error).message})` }
  }
  return got === root ? 'used' : { rejected: `its state root is not the checkpoint's` }
}

export function noteDone(lastDone: Map<Pid, Seq>, logged: Map<Pid, Set<Seq>>, author: Pid, seq: Seq): void {
  lastDone.set(author, Math.max(lastDone.get(author) ?? 0, seq))
  let set = logged.get(author)
  if (set === undefined) logged.set(author, (set = new Set()))
  set.add(seq)
}

/** Replays the log from the port, epochs from+1, from+2, ... until the port has none, into the
 *  replica (records at or below `applyAbove` are only read: the image holds their effect). An
 *  unreadable or unreplayable record is reported and replay stops there. Returns the last epoch
 *  and, per author, the highest seq and the seqs it logged. */
export function replayLog(state: VolumeState, crypto: Crypto, store: Storage, from: Epoch, applyAbove: Epoch, problems: VolumeRestoreProblem[]): { epoch: Epoch; lastDone: Map<Pid, Seq>; logged: Map<Pid, Set<Seq>> } {
  const volume = state.genesis.name
  // The replayed ops' past records are in the store already: replay writes none.
  const stored = state.fs.past instanceof StoredFsPast ? state.fs.past : undefined
  if (stored) stored.replaying = true
  const plain = plainReader(state, crypto, store)
  const lastDone = new Map<Pid, Seq>()
  const logged = new Map<Pid, Set<Seq>>()
  let epoch = from
  for (;;) {
    const raw = store.logRecord(volume, epoch + 1)
    if (raw === undefined) break
    const rec = Array.isArray(raw) && raw[0] === 'log' && raw[1] === volume && raw[2] === epoch + 1 ? parseLogRecord(raw) : undefined
    if (rec === undefined) {
      problems.push({ record: `log epoch ${epoch + 1}`, problem: 'malformed' })
      break
    }
    if (rec.epoch > applyAbove) {
      const op = opOfRecord(plain, rec)
      if (!op) {
        problems.push({
          record: `log epoch ${rec.epoch}`,
          problem: rec.obf === null ? 'its local op is no valid op' : store.plain(volume, rec.obf) === undefined ? `its plain operation ${rec.obf.slice(0, 12)} is missing (or unreadable)` : `its plain operation ${rec.obf.slice(0, 12)} does not hash to its obf or is no valid op`,
        })
        break
      }
      applyOp(state.fs, op, replayCtx(rec))
    }
    if (rec.seq !== null) noteDone(lastDone, logged, rec.author, rec.seq)
    epoch = rec.epoch
  }
  if (stored) stored.replaying = false
  if (epoch < applyAbove) problems.push({ record: `log epoch ${epoch + 1}`, problem: `the log ends before the tree image's epoch ${applyAbove}` })
  return { epoch, lastDone, logged }
}

/** Reads the accepted entries of every chain from `from(author)` on (the ones the log or a skip
 *  names excepted): own votes and rounds, delivered membership entries, and the delivered ops
 *  not yet applied (returned, in seq order per author). */
export function scanEntries(state: VolumeState, store: Storage, lastDone: ReadonlyMap<Pid, Seq>, logged: ReadonlyMap<Pid, ReadonlySet<Seq>>, from: (author: Pid) => Seq, problems: VolumeRestoreProblem[]): Pending[] {
  const volume = state.genesis.name
  const me = state.me
  const pendingOps: Pending[] = []
  for (const [author, log] of [...state.fotb.chains].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const delivered = state.fotb.delivered.get(author) ?? 0
    const done = logged.get(author)
    for (let seq = from(author); seq <= log.view.seq; seq++) {
      if (done?.has(seq)) continue
      const entry = store.entry(volume, author, seq)
      if (entry === undefined) {
        problems.push({ record: `chain ${author.slice(0, 12)} seq ${seq}`, problem: 'an accepted entry is missing from the store' })
        break
      }
      const p = decodePayload(entry.payload)
      if (!p || p.type === 'have') continue
      // The keys vote() keeps: one per vote cast (joins and leaves are no votes).
      if (author === me && (p.type === 'vote-accept' || p.type === 'vote-kick')) state.myVotes.add(`${p.type}:${p.target}`)
      if (author === me && p.type !== 'op') state.maxRound = Math.max(state.maxRound, p.round)
      if (seq > delivered) continue
      if (p.type !== 'op') {
        state.memberEvents.push({ round: p.round, author, seq, payload: p })
        state.maxRound = Math.max(state.maxRound, p.round)
        addMemberEvent(state, author, p)
      } else if ((author !== me || fotb.isRegained(state.fotb, seq)) && seq > (lastDone.get(author) ?? 0)) {
        pendingOps.push({ author, seq, txid: log.view.hashes.get(seq - 1)!, obf: p.obf, attempt: 0, asked: null, deadline: -Infinity, firstAskAt: null, authorAskedAt: null, notFound: new Set() })
      }
    }
  }
  return pendingOps
}

/** A delivered membership entry's effect on the vote sets. */
export function addMemberEvent(state: VolumeState, author: Pid, p: MembershipPayload): void {
  if (p.type === 'join') state.joins.add(author)
  else if (p.type === 'leave') state.leaves.add(author)
  else if (p.type === 'vote-accept') addVote(state.acceptVotes, p.target, author)
  else if (p.type === 'vote-kick') addVote(state.kickVotes, p.target, author)
}

/** Membership from the delivered entries (a function of their set), fotb's member and audience
 *  sets, and the queues of delivered ops waiting for their plain op. */
export function finishMembership(state: VolumeState, genesis: Genesis, pendingOps: readonly Pending[]): void {
  state.status = replayMembership(genesis, state.memberEvents).status
  const members = new Set(membersOf(state))
  const audience = new Set(members)
  for (const [p, s] of state.status) if (s === 'applicant') audience.add(p)
  if (!members.has(state.me)) for (const c of state.contacts) audience.add(c)
  state.fotb.members = members
  state.fotb.audience = audience
  state.fotb.removed = new Set([...state.status].filter(([, s]) => s === 'removed').map(([p]) => p))
  // The signed ready reports of the delivered votes (volatile in fotb, so rebuilt here).
  for (const e of state.memberEvents) {
    const p = e.payload
    if (p.type === 'vote-accept' && p.join && !state.fotb.removed.has(e.author)) fotb.noteVouch(state.fotb, e.author, p.target, p.join.seq, p.join.hash)
  }
  for (const p of pendingOps) {
    let q = state.queues.get(p.author)
    if (!q) state.queues.set(p.author, (q = []))
    q.push(p)
  }
}
