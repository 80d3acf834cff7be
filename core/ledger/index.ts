// The ledger layer's public API (spec/ledger.md): the writer and reader of chains (ledger.ts),
// the byte formats (format.ts; its scratch buffer and byte writers stay internal), proof
// verification (proof.ts) and the executable LEDGER invariants (check.ts).
export * from './ledger.ts'
export type { Below } from './hashlist.ts'
export { SealList, type SealAt } from './seallist.ts'
export {
  DEFAULT_LEDGER_LIMITS,
  ENTRY_TAG,
  SEAL_TAG,
  PROOF_TAG,
  decodeEntry,
  decodeStoredEntry,
  decodeProof,
  decodeSeal,
  encodeEntry,
  encodeProof,
  encodeSeal,
  entryHash,
  hashHex,
  headerOf,
  headerOnly,
  headerPreimage,
  headerPreimageViaCodec,
  headerShapeError,
  isSeq,
  sealDigest,
  sealShapeError,
  signSeal,
  verifySeal,
} from './format.ts'
export type { Decoded, Entry, EntryHeader, EquivocationProof, LedgerLimits, LedgerRejection, LedgerRejectionCode, Seal, SealedPath } from './format.ts'
export * from './proof.ts'
export * from './check.ts'
export { HashList } from './hashlist.ts'
