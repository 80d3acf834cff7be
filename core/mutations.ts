// Deliberately broken variants of the core, each selected by a test-only switch in the params.
// They exist to prove that the simulator's invariant checks can fail: test/mutations.test.ts
// runs each one and requires that some check catches it. Never set in the runtime.

export type Mutation =
  /** fotb accepts a batch whose seal does not verify (forged). */
  | 'accept-unsealed'
  /** fotb hands two deliverable entries of an author up in the wrong order. */
  | 'deliver-out-of-order'
  /** remote_get accepts a plain op without checking its salted hash against the ledger. */
  | 'skip-obf-check'
  /** fotb delivers with one echo fewer than the quorum. */
  | 'quorum-off-by-one'
  /** a node applies its own operations again when fotb delivers them (the prototype's bug). */
  | 'apply-own-twice'
  /** verify compares only the top directory (the prototype's bug). */
  | 'verify-top-only'
  /** the node keeps a step's chunk bytes in the volume state after the step (spec/storage.md). */
  | 'keep-chunk-bytes'
  /** remote_get takes a PUT's chunks without persisting them: they live only until the step ends. */
  | 'forget-fetched-chunks'
  /** the node keeps a step's plain operations in the volume state after the step (spec/storage.md). */
  | 'keep-plain-ops'
  /** remote_get takes a PUT's plain operation without persisting it: it lives only until the step ends. */
  | 'forget-fetched-plain'
  /** fotb accepts a peer's batch without persisting its entries: they live only until the step ends. */
  | 'forget-fetched-entries'
  /** the replica's past keeps a step's records after the step (spec/storage.md STORE-6). */
  | 'keep-past-records'
  /** the volume keeps every log record in memory after a step (spec/storage.md STORE-7). */
  | 'keep-log-records'
  /** restart trusts any checkpoint record: no signature check, heads not compared with the chains. */
  | 'trust-any-checkpoint'
  /** a node that lost its tail appends at once instead of learning its own head (core/fotb/recover.ts). */
  | 'skip-tail-recovery'
  /** a tree image leaves out the lowest inode that changed since the previous one (spec/checkpoint.md). */
  | 'stale-image'
  /** a member votes to accept an applicant whose invite another applicant's join already used. */
  | 'accept-reused-invite'
  /** a member votes to accept every applicant of a closed volume, as if it were open. */
  | 'admit-anyone'
  /** unlink ignores retention and legal holds (core/fs/retention.ts): one changing op let through. */
  | 'retention-unlink'
  /** a totb volume applies another member's op as soon as its plain op is here, as a fotb volume
   *  does, instead of in the order (core/volume/ordered.ts). */
  | 'totb-apply-on-arrival'
  /** a totb volume's membership changes without ending the epoch: the committee stays the old one. */
  | 'totb-stale-committee'

export const MUTATIONS: readonly Mutation[] = [
  'accept-unsealed',
  'deliver-out-of-order',
  'skip-obf-check',
  'quorum-off-by-one',
  'apply-own-twice',
  'verify-top-only',
  'keep-chunk-bytes',
  'forget-fetched-chunks',
  'keep-plain-ops',
  'forget-fetched-plain',
  'forget-fetched-entries',
  'trust-any-checkpoint',
  'keep-past-records',
  'keep-log-records',
  'skip-tail-recovery',
  'stale-image',
  'accept-reused-invite',
  'admit-anyone',
  'retention-unlink',
  'totb-apply-on-arrival',
  'totb-stale-committee',
]
