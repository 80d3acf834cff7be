// fotb's byte formats (spec/fotb.md "Messages", "Records"): the four messages, their parsing
// (peer input: a typed rejection, never a throw), the persisted records, and sending.
import { encode, type Value } from '../codec.ts'
import { fromHex, toHex } from '../bytes.ts'
import type { Out } from '../effects.ts'
import { decodeEntry, decodeProof, decodeSeal, encodeEntry, encodeProof, encodeSeal, type Entry, type EquivocationProof, type Seal } from '../ledger/index.ts'
import { pidOfBytes, type EntryHash, type Pid, type Seq, type VolumeName } from '../types.ts'
import { count, noteWritten, type FotbParams, type FotbState } from './state.ts'

export type FotbMessage =
  | { readonly type: 'batch'; readonly entries: Entry[]; readonly seal: Seal }
  | { readonly type: 'heads'; readonly heads: { author: Pid; seq: Seq; head: EntryHash }[]; readonly proofs: Pid[]; readonly readies: { author: Pid; seq: Seq; head: EntryHash }[] }
  | { readonly type: 'fetch'; readonly author: Pid; readonly from: Seq; readonly to: Seq }
  | { readonly type: 'proof'; readonly proof: EquivocationProof }

export function pidBytes(pid: Pid): Uint8Array {
  return fromHex(pid)!
}

export function encodeFotbMessage(volume: VolumeName, msg: FotbMessage): Uint8Array {
  switch (msg.type) {
    case 'batch':
      return encode(['fotb/batch', volume, msg.entries.map(encodeEntry), encodeSeal(msg.seal)])
    case 'heads':
      return encode([
        'fotb/heads',
        volume,
        msg.heads.map((h) => [pidBytes(h.author), h.seq, fromHex(h.head)!]),
        msg.proofs.map(pidBytes),
        msg.readies.map((h) => [pidBytes(h.author), h.seq, fromHex(h.head)!]),
      ])
    case 'fetch':
      return encode(['fotb/fetch', volume, pidBytes(msg.author), msg.from, msg.to])
    case 'proof':
      return encode(['fotb/proof', volume, encodeProof(msg.proof)])
  }
}

export function isSeq(v: Value | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1
}

export function asPid(v: Value | undefined): Pid | undefined {
  return v instanceof Uint8Array ? pidOfBytes(v) : undefined
}

export function asHash(v: Value | undefined): EntryHash | undefined {
  if (!(v instanceof Uint8Array) || v.length !== 32) return undefined
  return toHex(v) as EntryHash
}

function parseHeadList(list: readonly Value[]): { author: Pid; seq: Seq; head: EntryHash }[] | string {
  const heads: { author: Pid; seq: Seq; head: EntryHash }[] = []
  for (const item of list) {
    if (!Array.isArray(item) || item.length !== 3) return 'head shape'
    const author = asPid(item[0])
    const seq = item[1]
    const head = asHash(item[2])
    if (!author || !isSeq(seq) || !head) return 'head fields'
    heads.push({ author, seq, head })
  }
  return heads
}

export type ParsedFotbMessage = { ok: true; msg: FotbMessage } | { ok: false; reason: string }

/** Parse results by decoded message: a host that hands one decoded message to several nodes
 *  (the simulator: a HEADS goes to every member) parses it once, not once per receiver (parsing
 *  was ~7 % of a simulator run). A pure memo: decoded values are never changed (`readonly`),
 *  and nothing changes a parsed message or the entries, seal and heads in it (what the layer
 *  keeps of them it keeps as they are or copies), so a hit returns what parsing again would.
 *  Keyed weakly, so it holds nothing the host has dropped. */
const parsedMessages = new WeakMap<readonly Value[], { readonly params: FotbParams; readonly parsed: ParsedFotbMessage }>()

/** Parses the body of a decoded fotb message (tag and volume already checked by the node). */
export function parseFotbMessage(parts: readonly Value[], params: FotbParams): ParsedFotbMessage {
  const known = parsedMessages.get(parts)
  if (known !== undefined && known.params === params) return known.parsed
  const parsed = parseParts(parts, params)
  parsedMessages.set(parts, { params, parsed })
  return parsed
}

function parseParts(parts: readonly Value[], params: FotbParams): ParsedFotbMessage {
  const tag = parts[0]
  if (tag === 'fotb/batch') {
    const list = parts[2]
    const sealBytes = parts[3]
    if (parts.length !== 4 || !Array.isArray(list) || !(sealBytes instanceof Uint8Array)) return { ok: false, reason: 'batch shape' }
    if (list.length === 0 || list.length > params.maxBatchEntries) return { ok: false, reason: 'batch size' }
    const entries: Entry[] = []
    for (const item of list as Value[]) {
      if (!(item instanceof Uint8Array)) return { ok: false, reason: 'entry not bytes' }
      const r = decodeEntry(item)
      if (!r.ok) return { ok: false, reason: `entry: ${r.rejection.detail}` }
      entries.push(r.value)
    }
    const s = decodeSeal(sealBytes)
    if (!s.ok) return { ok: false, reason: `seal: ${s.rejection.detail}` }
    return { ok: true, msg: { type: 'batch', entries, seal: s.value } }
  }
  if (tag === 'fotb/heads') {
    const list = parts[2]
    const proofList = parts[3]
    const readyList = parts[4]
    if (
      parts.length !== 5 ||
      !Array.isArray(list) ||
      list.length > params.maxAuthors ||
      !Array.isArray(proofList) ||
      proofList.length > params.maxAuthors ||
      !Array.isArray(readyList) ||
      readyList.length > params.maxAuthors
    ) {
      return { ok: false, reason: 'heads shape' }
    }
    const proofs: Pid[] = []
    for (const item of proofList as Value[]) {
      const p = asPid(item)
      if (!p) return { ok: false, reason: 'proof author' }
      proofs.push(p)
    }
    const heads = parseHeadList(list as Value[])
    const readies = parseHeadList(readyList as Value[])
    if (typeof heads === 'string') return { ok: false, reason: heads }
    if (typeof readies === 'string') return { ok: false, reason: `ready ${readies}` }
    return { ok: true, msg: { type: 'heads', heads, proofs, readies } }
  }
  if (tag === 'fotb/fetch') {
    const author = asPid(parts[2])
    const from = parts[3]
    const to = parts[4]
    if (parts.length !== 5 || !author || !isSeq(from) || !isSeq(to) || to < from) return { ok: false, reason: 'fetch fields' }
    return { ok: true, msg: { type: 'fetch', author, from, to } }
  }
  if (tag === 'fotb/proof') {
    const bytes = parts[2]
    if (parts.length !== 3 || !(bytes instanceof Uint8Array)) return { ok: false, reason: 'proof shape' }
    const r = decodeProof(bytes)
    if (!r.ok) return { ok: false, reason: `proof: ${r.rejection.detail}` }
    return { ok: true, msg: { type: 'proof', proof: r.value } }
  }
  return { ok: false, reason: 'unknown tag' }
}

// ---------------------------------------------------------------------------------------------
// Persisted records

export function entryRecord(volume: VolumeName, entry: Entry): Value {
  return ['entry', volume, encodeEntry(entry)]
}
/** An entry joins an accepted chain: persisted, and readable for the rest of the step from the
 *  step's buffer (then from the storage port). `persist: false` only for the test-only mutation
 *  'forget-fetched-entries'. */
export function acceptEntry(state: FotbState, out: Out, entry: Entry, persist = true): void {
  noteWritten(state, entry)
  if (persist) out.persist(entryRecord(state.volume, entry))
}
export function sealRecord(volume: VolumeName, seal: Seal): Value {
  return ['seal', volume, encodeSeal(seal)]
}
export function deliveredRecord(volume: VolumeName, author: Pid, seq: Seq): Value {
  return ['delivered', volume, pidBytes(author), seq]
}
export function proofRecord(volume: VolumeName, proof: EquivocationProof): Value {
  return ['proof', volume, encodeProof(proof)]
}

// ---------------------------------------------------------------------------------------------
// Sending

export function send(state: FotbState, out: Out, to: Pid, msg: FotbMessage): void {
  if (to === state.me) return
  count(state, `out:${msg.type}`)
  out.send(to, encodeFotbMessage(state.volume, msg))
}

export function sendToAudience(state: FotbState, out: Out, msg: FotbMessage): void {
  const bytes = encodeFotbMessage(state.volume, msg)
  for (const to of [...state.audience].sort()) {
    if (to === state.me) continue
    count(state, `out:${msg.type}`)
    out.send(to, bytes)
  }
}
