// fotb: reliable FIFO-order tamper-proof broadcast for one volume (spec/fotb.md); this is the
// layer's public API (`import * as fotb from '../fotb/index.ts'`).
//
// The ledger (core/ledger/) decides what a valid chain is; this layer decides who gets what,
// when an entry may be delivered (echo quorum on heads, then 2f+1 ready reports), and how
// missing ranges are fetched.
export type { FotbParams, AuthorLog, Candidate, EntryReader, Fetch, Report, FotbState, FotbUp } from './state.ts'
export { DEFAULT_FOTB_PARAMS, newFotb, count, entryAt, entriesAt, clearWritten } from './state.ts'
export type { FotbMessage } from './messages.ts'
export { encodeFotbMessage, parseFotbMessage, entryRecord, sealRecord, deliveredRecord, proofRecord } from './messages.ts'
export { quorum, faultsTolerated, deliverableSeq, tryDeliverAll, setMembers, addVouch, noteVouch } from './deliver.ts'
export { onTick } from './fetch.ts'
export { broadcast, flush, onMessage, STRANGER_REPORTERS_MAX } from './broadcast.ts'
export type { RestoreProblem } from './restore.ts'
export { restoreFotb, restoreFotbFromCheckpoint, backedView } from './restore.ts'
export type { TrustedHeads, FotbCheckpoint } from './restore.ts'
export type { Recovery, RegainedRange } from './recover.ts'
export { startRecovery, mayAppendOwn, isRegained, waitingFor as recoveryWaitingFor } from './recover.ts'
