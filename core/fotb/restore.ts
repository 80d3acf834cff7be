// fotb's restart: rebuild from persisted records, validating them exactly like peer input. The
// seals, cuts, delivery marks and proofs come from the records; the entries of the chains from
// the storage port (spec/storage.md), which honours the same cut records, and every batch of
// every chain is validated against its seal as it is read.
import type { Crypto } from '../crypto.ts'
import type { Value } from '../codec.ts'
import { decodeProof, decodeSeal, HashList, SealList, validateBatch, verifyProof, type ChainView, type Entry, type EquivocationProof, type Seal } from '../ledger/index.ts'
import { ZERO_HASH, type EntryHash, type Pid, type Seq, type VolumeName } from '../types.ts'
import type { Storage } from '../storage.ts'
import { authorLog, hashAt, newFotb, type EntryReader, type FotbParams, type FotbState } from './state.ts'
import type { RegainedRange } from './recover.ts'
import { asPid, isSeq } from './messages.ts'

type SealReader = Pick<Storage, 'seal'>

export interface RestoreProblem {
  readonly record: string
  readonly problem: string
}

/** What a checkpoint names per author (spec/checkpoint.md): batches up to it are accepted by
 *  their hash chain, without checking their seals' signatures again. */
export type TrustedHeads = ReadonlyMap<Pid, { readonly seq: Seq; readonly head: string }>

export function restoreFotb(
  crypto: Crypto,
  volume: VolumeName,
  me: Pid,
  params: FotbParams,
  records: readonly Value[],
  port: EntryReader,
  trusted: TrustedHeads = new Map(),
): { state: FotbState; problems: RestoreProblem[]; untrusted: Pid[] } {
  const state = newFotb(volume, me)
  const { problems, seals, delivered, cut } = readRecords(crypto, volume, state, records)
  // A branch switch may have replaced what the checkpoint named: no trust for that chain.
  extendChains(crypto, state, params, seals, port, problems, (author, seq) => !cut.has(author) && seq <= (trusted.get(author)?.seq ?? 0))
  // Every trusted head must be in the restored chain; the caller drops the checkpoint otherwise.
  const untrusted: Pid[] = []
  for (const [author, t] of trusted) {
    if (cut.has(author)) continue
    const view = state.chains.get(author)?.view
    if (view === undefined || view.seq < t.seq || view.hashes.get(t.seq - 1) !== t.head) untrusted.push(author)
  }
  finish(state, delivered, problems)
  return { state, problems, untrusted }
}

/** Validates each author's seals above its view, in seq order, against the port's entries (a
 *  batch per seal; `ownSeal(author, seq)`: the signature need not be checked again), stopping a
 *  chain at its first bad batch. */
function extendChains(crypto: Crypto, state: FotbState, params: FotbParams, seals: ReadonlyMap<Pid, Seal[]>, port: EntryReader, problems: RestoreProblem[], ownSeal: (author: Pid, seq: Seq) => boolean): void {
  for (const author of [...seals.keys()].sort()) {
    const log = authorLog(state, author)
    for (const seal of seals.get(author)!.sort((a, b) => a.seq - b.seq)) {
      if (seal.seq <= log.view.seq) continue
      const batch: Entry[] = []
      for (let s = log.view.seq + 1; s <= seal.seq; s++) {
        const e = port.entry(state.volume, author, s)
        if (!e) break
        batch.push(e)
      }
      const r = validateBatch(crypto, log.view, batch, seal, { maxEntries: Number.MAX_SAFE_INTEGER, maxPayloadBytes: params.maxPayloadBytes }, { ownSeal: ownSeal(author, seal.seq) })
      if (!r.ok) {
        problems.push({ record: `chain ${author.slice(0, 12)} seq ${log.view.seq + 1}..${seal.seq}`, problem: `${r.rejection.code}: ${r.rejection.detail}` })
        break
      }
      log.view = r.view
    }
  }
}

/** The delivered marks (the highest of `delivered` and what `state` holds, never beyond the
 *  restored chain) and the own chain's writer state from its view. */
function finish(state: FotbState, delivered: ReadonlyMap<Pid, Seq>, problems: RestoreProblem[]): void {
  for (const [author, seq] of delivered) state.delivered.set(author, Math.max(state.delivered.get(author) ?? 0, seq))
  for (const [author, seq] of [...state.delivered]) {
    const have = state.chains.get(author)?.view.seq ?? 0
    if (seq > have) problems.push({ record: `delivered ${author.slice(0, 12)}`, problem: `delivered ${seq} beyond restored chain ${have}` })
    state.delivered.set(author, Math.min(seq, have))
  }
  const ownLog = state.chains.get(state.me)
  if (ownLog) state.own = { volume: state.volume, author: state.me, seq: ownLog.view.seq, head: ownLog.view.head, sealedSeq: ownLog.view.seq }
}

/** fotb's records of `volume` in order: seals per author (a cut drops the earlier ones above its
 *  base), delivered marks, cut authors with their lowest base; recovery marks and proofs go to
 *  `state` directly. */
function readRecords(crypto: Crypto, volume: VolumeName, state: FotbState, records: readonly Value[]): { problems: RestoreProblem[]; seals: Map<Pid, Seal[]>; delivered: Map<Pid, Seq>; cut: Map<Pid, Seq> } {
  const problems: RestoreProblem[] = []
  const seals = new Map<Pid, Seal[]>()
  const delivered = new Map<Pid, Seq>()
  const cut = new Map<Pid, Seq>()
  for (const rec of records) {
    if (!Array.isArray(rec) || rec[1] !== volume) continue
    const kind = rec[0]
    const body = rec[2]
    // Entry records are the storage port's: read below, batch by batch, never collected here.
    if (kind === 'seal' && body instanceof Uint8Array) {
      const r = decodeSeal(body)
      if (!r.ok) {
        problems.push({ record: 'seal', problem: r.rejection.detail })
        continue
      }
      let list = seals.get(r.value.author)
      if (!list) seals.set(r.value.author, (list = []))
      list.push(r.value)
    } else if (kind === 'delivered') {
      const author = asPid(body)
      const seq = rec[3]
      if (!author || !isSeq(seq)) {
        problems.push({ record: 'delivered', problem: 'malformed' })
        continue
      }
      delivered.set(author, Math.max(delivered.get(author) ?? 0, seq))
    } else if (kind === 'cut') {
      // A branch switch: what we held of this author above `base` was the losing branch.
      const author = asPid(body)
      const base = rec[3]
      if (!author || typeof base !== 'number' || !Number.isSafeInteger(base) || base < 0) {
        problems.push({ record: 'cut', problem: 'malformed' })
        continue
      }
      cut.set(author, Math.min(base, cut.get(author) ?? base))
      const list = seals.get(author)
      if (list) seals.set(author, list.filter((x) => x.seq <= base))
    } else if (kind === 'recovering' || kind === 'recovered') {
      // Records come in batch order: the last of these says whether recovery still runs.
      const from = rec[2]
      const to = kind === 'recovered' ? rec[3] : from
      if (!isSeq(from) && from !== 0) {
        problems.push({ record: kind, problem: 'malformed' })
        continue
      }
      if (kind === 'recovering') state.recovering = { from: from as Seq, since: undefined, heard: new Map() }
      else if ((isSeq(to) || to === 0) && (to as Seq) >= (from as Seq)) {
        state.recovering = undefined
        if ((to as Seq) > (from as Seq)) state.regained.push({ from: from as Seq, to: to as Seq })
      } else problems.push({ record: kind, problem: 'malformed' })
    } else if (kind === 'proof' && body instanceof Uint8Array) {
      const r = decodeProof(body)
      const v = r.ok ? verifyProof(crypto, r.value) : undefined
      if (!r.ok || !v?.ok) {
        problems.push({ record: 'proof', problem: 'does not verify' })
        continue
      }
      state.proofs.set(v.author, r.value)
    }
  }
  return { problems, seals, delivered, cut }
}

/** What a checkpoint of `paciofs/checkpoint/v2` gives fotb (spec/checkpoint.md "Restart from the
 *  tail"): per author the accepted seq, head and delivered mark, the proofs and the recovery. */
export interface FotbCheckpoint {
  readonly heads: ReadonlyMap<Pid, { readonly seq: Seq; readonly head: EntryHash; readonly delivered?: Seq }>
  readonly proofs: readonly EquivocationProof[]
  readonly recovering: Seq | undefined
  readonly regained: readonly RegainedRange[]
}

/** A chain view at (seq, head) whose hashes and seals below are read through the port on demand
 *  (core/ledger/hashlist.ts, seallist.ts). An entry the port cannot produce there throws: the
 *  port lost what it persisted, and the node stops instead of comparing against a guess. */
export function backedView(crypto: Crypto, volume: VolumeName, author: Pid, seq: Seq, head: EntryHash, port: EntryReader & SealReader): ChainView {
  const entry = (s: Seq): Entry => {
    const e = port.entry(volume, author, s)
    if (e === undefined) throw new Error(`storage: the accepted entry ${author.slice(0, 12)}#${s} of ${volume} cannot be read from the store`)
    return e
  }
  return {
    volume,
    author,
    seq,
    head,
    hashes: HashList.backed<EntryHash>({ count: seq, read: (i) => (i === seq - 1 ? head : hashAt(crypto, entry(i + 1))) }),
    payloadHashes: HashList.backed({ count: seq, read: (i) => entry(i + 1).payloadHash }),
    seals: SealList.backed(seq, (s) => port.seal(volume, author, s)),
  }
}

/** fotb from a v2 checkpoint and the records after it (the tail): every chain starts at the
 *  checkpoint's head without reading an entry below it; the tail's batches are validated in full
 *  (signatures too) against the port's entries, as restoreFotb does. A cut in the tail truncates
 *  the chain to its base first. */
export function restoreFotbFromCheckpoint(
  crypto: Crypto,
  volume: VolumeName,
  me: Pid,
  params: FotbParams,
  tail: readonly Value[],
  port: EntryReader & SealReader,
  cp: FotbCheckpoint,
): { state: FotbState; problems: RestoreProblem[]; untrusted: Pid[] } {
  const state = newFotb(volume, me)
  for (const [author, h] of cp.heads) {
    state.chains.set(author, { view: backedView(crypto, volume, author, h.seq, h.head, port) })
    // As a restart from genesis: a mark only for a chain something was delivered of.
    if ((h.delivered ?? 0) > 0) state.delivered.set(author, h.delivered!)
  }
  for (const p of cp.proofs) state.proofs.set(p.a.seal.author, p)
  if (cp.recovering !== undefined) state.recovering = { from: cp.recovering, since: undefined, heard: new Map() }
  state.regained.push(...cp.regained)
  const { problems, seals, delivered, cut } = readRecords(crypto, volume, state, tail)
  // The checkpoint must describe this disk: each head is the port's entry at its seq (one read
  // and one hash per chain; a chain cut in the tail was rewritten above its base and is not
  // compared). Otherwise the caller restores from the whole history.
  const untrusted: Pid[] = []
  for (const [author, h] of cp.heads) {
    if (cut.has(author)) continue
    const e = port.entry(volume, author, h.seq)
    if (e === undefined || hashAt(crypto, e) !== h.head) untrusted.push(author)
  }
  if (untrusted.length > 0) return { state, problems, untrusted }
  for (const [author, base] of cut) {
    const log = state.chains.get(author)
    if (log === undefined || base >= log.view.seq) continue
    const v = log.view
    log.view = { ...v, seq: base, head: base === 0 ? ZERO_HASH : v.hashes.get(base - 1)!, hashes: v.hashes.slice(0, base), payloadHashes: v.payloadHashes.slice(0, base), seals: v.seals.upTo(base) }
  }
  // The tail's batches: every signature checked.
  extendChains(crypto, state, params, seals, port, problems, () => false)
  finish(state, delivered, problems)
  return { state, problems, untrusted }
}
