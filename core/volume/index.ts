// The PacioFS volume reducer (spec/paciofs.md): membership by votes, operations broadcast as
// salted hashes, remote_get of plain operations, the log, the replica and its history. This is
// the layer's public API (`import * as vol from './volume/index.ts'`).
//
// One VolumeState per volume per node. It owns its fotb instance (core/fotb/) and its file
// system replica (core/fs/). Handlers mutate the state they are given and push effects into
// `out`; core/node.ts routes inputs to them and seals what they broadcast at the end of every step.
export type {
  Admission, Refusal, Policy, Status, KickReason, Genesis, VolumeParams, VolumePayload, MembershipPayload, MemberEvent, PlainOp, LogRecord,
  SkipRecord, VolumeState, VolMessage, VolumeUp, FsCall, CallResult, Ctx, Order, OrderState, OrderedOp,
} from './types.ts'
export { newOrderState, callOrdered, beforeFlush, restoreOrder, deriveOrder, opKey, DEFAULT_SKIP_AFTER_MS, MIN_SKIP_WAVES } from './ordered.ts'
export { DEFAULT_VOLUME_PARAMS } from './types.ts'
export {
  genesisValue, parseGenesis, encodePayload, decodePayload, encodeVolMessage, parseVolMessage, saltKey, saltFor, obfuscate,
  inoFor, logRecordValue, parseLogRecord, checkPlain, opOfRecord, fsTimeOf, replayCtx,
} from './records.ts'
export { computeStatus, replayMembership, membersOf, isMember, requestJoin, requestLeave, requestAdmit, voteKick } from './membership.ts'
export { judgeApplicant, type Basis } from './admission.ts'
export { makeInvite, parseInvite, inviteKey, inviteExpired, inviteText, inviteFromText, INVITE_ID_BYTES, INVITE_BYTES_MAX, type Invite } from './invite.ts'
export { newVolume, chunkReader, plainReader, call } from './apply.ts'
export { onUps } from './deliver.ts'
export { PREFETCH_MAX, PREFETCH_BYTES_MAX, pushOwnOps, onVolMessage, onTick, membershipSettled } from './fetch.ts'
export type { Checkpoint, ParsedCheckpoint } from './checkpoint.ts'
export { checkpointOf, checkpointRecord, parseCheckpoint, CHECKPOINT_TAG, CHECKPOINT_TAG_V1 } from './checkpoint.ts'
export { foldImages, imageRecord, inodesOf, type ImageFold } from './image.ts'
export type { ImageUse, VolumeRestoreProblem } from './restore.ts'
export { restoreVolume } from './restore.ts'
export { restoreVolumeFromTail, type TailRestore } from './tail.ts'
export type { CheckpointState } from './checkpoint.ts'
