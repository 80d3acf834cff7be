// Restart from the tail (spec/checkpoint.md "Restart from the tail"): a v2 checkpoint, its tree
// image and the records after it give the volume without reading anything below the checkpoint:
// the chains start at its heads (their hashes and seals below are read on demand through the
// port), the replica at its image, the log at its epoch, and membership, skips, own votes and
// the queues come from the checkpoint's state. Only the tail is read and checked: its batches
// (signatures too), its log records and their plain ops, its delivered entries.
import type { Crypto } from '../crypto.ts'
import type { Value } from '../codec.ts'
import * as fotb from '../fotb/index.ts'
import type { Storage } from '../storage.ts'
import type { ObfHash, Pid, Seq } from '../types.ts'
import { newVolume } from './apply.ts'
import type { Checkpoint, CheckpointState } from './checkpoint.ts'
import type { ImageFold } from './image.ts'
import { VolumeLog } from './log.ts'
import { addMemberEvent, applyImage, finishMembership, noteDone, readSkips, replayLog, scanEntries, type VolumeRestoreProblem } from './restore.ts'
import type { Genesis, Pending, VolumeParams, VolumeState } from './types.ts'

export type TailRestore =
  | { readonly ok: true; readonly state: VolumeState; readonly problems: VolumeRestoreProblem[] }
  /** The checkpoint cannot start this restart (its image is missing or damaged): the caller
   *  restores from the whole history instead. */
  | { readonly ok: false; readonly why: string }

/** `checkpoint` must be a verified v2 checkpoint of this node; `tail` the volume's records that
 *  follow its record, in order. */
export function restoreVolumeFromTail(
  crypto: Crypto,
  genesis: Genesis,
  me: Pid,
  params: VolumeParams,
  tail: readonly Value[],
  store: Storage,
  contacts: readonly Pid[],
  checkpoint: Checkpoint & { readonly state: CheckpointState },
  image: ImageFold | undefined,
): TailRestore {
  const volume = genesis.name
  const cs = checkpoint.state
  if (image === undefined || image.epoch !== checkpoint.epoch) return { ok: false, why: `there is no tree image of its epoch ${checkpoint.epoch}` }
  let state: VolumeState = newVolume(crypto, genesis, me, contacts, store, params.logKeep)
  // The chains first: heads that are not the port's entries mean the checkpoint does not describe
  // this disk (a lost batch, say), and then its image is not to be trusted either.
  const restored = fotb.restoreFotbFromCheckpoint(crypto, volume, me, params.fotb, tail, store, { heads: checkpoint.heads, proofs: cs.proofs, recovering: cs.recovering, regained: cs.regained })
  if (restored.untrusted.length > 0) return { ok: false, why: `its heads of ${restored.untrusted.length} chain(s) are not in the store` }
  const imageUse = applyImage(state, image, checkpoint.root)
  if (imageUse !== 'used') return { ok: false, why: `its tree image is not usable (${typeof imageUse === 'object' ? imageUse.rejected : imageUse})` }
  const problems: VolumeRestoreProblem[] = [...restored.problems]
  state = { ...state, fotb: restored.state }
  if (params.fotb.mutation) state.fotb.mutation = params.fotb.mutation
  // The log: epochs up to the checkpoint's are in the port; the tail's are replayed onto the image.
  const replayed = replayLog(state, crypto, store, checkpoint.epoch, checkpoint.epoch, problems)
  const lastDone = new Map<Pid, Seq>(cs.lastDone)
  for (const [author, seq] of replayed.lastDone) lastDone.set(author, Math.max(lastDone.get(author) ?? 0, seq))
  state = { ...state, log: new VolumeLog(volume, store, replayed.epoch, lastDone, params.logKeep) }
  const logged = replayed.logged
  // Skips: the checkpoint's, then the tail's.
  state.skipped.push(...cs.skipped, ...readSkips(volume, tail, problems))
  for (const s of state.skipped) noteDone(lastDone, logged, s.author, s.seq)
  // Membership as the checkpoint had it; the entries delivered after it are read below.
  for (const e of cs.memberEvents) {
    state.memberEvents.push(e)
    addMemberEvent(state, e.author, e.payload)
  }
  for (const v of cs.myVotes) state.myVotes.add(v)
  state.maxRound = cs.maxRound
  // The checkpoint's queues, less what the tail applied or skipped; then the ops delivered after
  // it (entries above each author's delivered mark at the checkpoint).
  const skippedInTail = new Set(state.skipped.map((s) => `${s.author}/${s.seq}`))
  const pendingOps: Pending[] = []
  for (const p of cs.pending) {
    if (p.seq <= (lastDone.get(p.author) ?? 0) || skippedInTail.has(`${p.author}/${p.seq}`)) continue
    if (p.seq > (state.fotb.delivered.get(p.author) ?? 0)) continue // a cut took it back
    pendingOps.push({ author: p.author, seq: p.seq, txid: p.txid, obf: p.obf as ObfHash, attempt: 0, asked: null, deadline: -Infinity, firstAskAt: null, authorAskedAt: null, notFound: new Set() })
  }
  const since = (author: Pid): Seq => (checkpoint.heads.get(author)?.delivered ?? 0) + 1
  pendingOps.push(...scanEntries(state, store, lastDone, logged, since, problems))
  // scanEntries lists per author in seq order, after the checkpoint's (which are all lower).
  pendingOps.sort((a, b) => (a.author < b.author ? -1 : a.author > b.author ? 1 : a.seq - b.seq))
  finishMembership(state, genesis, pendingOps)
  state.lastCheckpoint = checkpoint.epoch
  return { ok: true, state, problems }
}
