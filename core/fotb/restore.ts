// fotb's restart: rebuild from persisted records, validating them exactly like peer input. The
// seals, cuts, delivery marks and proofs come from the records; the entries of the chains from
// the storage port (spec/storage.md), which honours the same cut records, and every batch of
// every chain is validated against its seal as it is read.
import type { Crypto } from '../crypto.ts'
import type { Value } from '../codec.ts'
import { decodeProof, decodeSeal, validateBatch, verifyProof, type Entry, type Seal } from '../ledger/index.ts'
import type { Pid, Seq, VolumeName } from '../types.ts'
import { authorLog, newFotb, type EntryReader, type FotbParams, type FotbState } from './state.ts'
import { asPid, isSeq } from './messages.ts'

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
  const problems: RestoreProblem[] = []
  const seals = new Map<Pid, Seal[]>()
  const delivered = new Map<Pid, Seq>()
  const cut = new Set<Pid>()
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
      cut.add(author)
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
  for (const author of [...seals.keys()].sort()) {
    const list = seals.get(author)!.sort((a, b) => a.seq - b.seq)
    const log = authorLog(state, author)
    // A branch switch may have replaced what the checkpoint named: no trust for that chain.
    const trust = cut.has(author) ? undefined : trusted.get(author)
    for (const seal of list) {
      if (seal.seq <= log.view.seq) continue
      const batch: Entry[] = []
      for (let s = log.view.seq + 1; s <= seal.seq; s++) {
        const e = port.entry(volume, author, s)
        if (!e) break
        batch.push(e)
      }
      const ownSeal = trust !== undefined && seal.seq <= trust.seq
      const r = validateBatch(crypto, log.view, batch, seal, { maxEntries: Number.MAX_SAFE_INTEGER, maxPayloadBytes: params.maxPayloadBytes }, { ownSeal })
      if (!r.ok) {
        problems.push({ record: `chain ${author.slice(0, 12)} seq ${log.view.seq + 1}..${seal.seq}`, problem: `${r.rejection.code}: ${r.rejection.detail}` })
        break
      }
      log.view = r.view
    }
  }
  // Every trusted head must be in the restored chain; the caller drops the checkpoint otherwise.
  const untrusted: Pid[] = []
  for (const [author, t] of trusted) {
    if (cut.has(author)) continue
    const view = state.chains.get(author)?.view
    if (view === undefined || view.seq < t.seq || view.hashes.get(t.seq - 1) !== t.head) untrusted.push(author)
  }
  for (const [author, seq] of delivered) {
    const have = state.chains.get(author)?.view.seq ?? 0
    if (seq > have) problems.push({ record: `delivered ${author.slice(0, 12)}`, problem: `delivered ${seq} beyond restored chain ${have}` })
    state.delivered.set(author, Math.min(seq, have))
  }
  const ownLog = state.chains.get(me)
  if (ownLog) state.own = { volume, author: me, seq: ownLog.view.seq, head: ownLog.view.head, sealedSeq: ownLog.view.seq }
  return { state, problems, untrusted }
}
