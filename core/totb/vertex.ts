// The vertex payload (spec/totb.md "Formats"): an ordinary ledger payload, so fotb seals, echoes,
// delivers and fetches it like every other entry.
//   VERTEX = ["totb/vertex", epoch, round, time, [REF...], [REF...]]   strong refs, then weak refs
//   REF    = [author(33 bytes), seq, hash(32 bytes)]
import { encode, tryDecode, type Value } from '../codec.ts'
import { fromHex, toHex } from '../bytes.ts'
import { isPid } from '../types.ts'
import type { EntryHash, Pid } from '../types.ts'
import type { EntryId } from './state.ts'

export const VERTEX_TAG = 'totb/vertex'

export interface VertexPayload {
  /** The committee's epoch (0: the genesis committee); rounds count from 1 in every epoch. */
  readonly epoch: number
  readonly round: number
  /** The author's clock when it made the vertex (ms since the epoch of 1970, an input). */
  readonly time: number
  readonly strong: readonly EntryId[]
  readonly weak: readonly EntryId[]
}

/** Why a payload that says it is a vertex is not a well-formed one. */
export type VertexFormatError = 'malformed'

// Canonical CBOR of ["totb/vertex", ...]: an array head (0x86 for six items), then the text
// head 0x6b (11 bytes) and the tag. Every other payload is not a vertex, without decoding it.
const TAG_BYTES = new TextEncoder().encode(VERTEX_TAG)

/** Whether a payload claims to be a vertex: an array whose first item is the tag. Such a payload
 *  is judged as a vertex (and is invalid if malformed); it never counts as an operation. */
export function claimsVertex(payload: Uint8Array): boolean {
  if (payload.length < 2 + TAG_BYTES.length) return false
  if (payload[0]! < 0x80 || payload[0]! > 0x97 || payload[1] !== 0x60 + TAG_BYTES.length) return false
  for (let i = 0; i < TAG_BYTES.length; i++) if (payload[2 + i] !== TAG_BYTES[i]) return false
  return true
}

function refValue(r: EntryId): Value {
  return [fromHex(r.author)!, r.seq, fromHex(r.hash)!]
}

export function encodeVertex(v: VertexPayload): Uint8Array {
  return encode([VERTEX_TAG, v.epoch, v.round, v.time, v.strong.map(refValue), v.weak.map(refValue)])
}

function parseRef(value: Value): EntryId | undefined {
  if (!Array.isArray(value) || value.length !== 3) return undefined
  const [a, s, h] = value as Value[]
  if (!(a instanceof Uint8Array) || a.length !== 33 || !(h instanceof Uint8Array) || h.length !== 32) return undefined
  if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 1) return undefined
  const author = toHex(a)
  if (!isPid(author)) return undefined
  return { author: author as Pid, seq: s, hash: toHex(h) as EntryHash }
}

function parseRefs(value: Value | undefined): EntryId[] | undefined {
  if (!Array.isArray(value)) return undefined
  const out: EntryId[] = []
  for (const item of value as Value[]) {
    const ref = parseRef(item)
    if (ref === undefined) return undefined
    out.push(ref)
  }
  return out
}

/** Decode a payload for which `claimsVertex` holds; `undefined` when it is malformed. */
export function decodeVertex(payload: Uint8Array): VertexPayload | undefined {
  const d = tryDecode(payload)
  if (!d.ok || !Array.isArray(d.value) || d.value.length !== 6) return undefined
  const [tag, epoch, round, time, strong, weak] = d.value as Value[]
  if (tag !== VERTEX_TAG || typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) return undefined
  if (typeof round !== 'number' || !Number.isSafeInteger(round) || round < 1) return undefined
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < 0) return undefined
  const s = parseRefs(strong)
  const w = parseRefs(weak)
  if (s === undefined || w === undefined) return undefined
  return { epoch, round, time, strong: s, weak: w }
}
