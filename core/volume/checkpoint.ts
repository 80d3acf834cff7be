// Checkpoints (spec/checkpoint.md): a record, signed by the node, naming the heads of the ledger
// chains it had accepted and its replica's state root at one epoch. Restart accepts the batches
// a valid checkpoint covers by their hash chain alone, without checking their signatures again.
import type { Crypto } from '../crypto.ts'
import { encode, tryDecode, type Value } from '../codec.ts'
import { fromHex, toHex } from '../bytes.ts'
import { stateRoot } from '../fs/merkle.ts'
import { isPid, type EntryHash, type Epoch, type Pid, type Seq, type VolumeName } from '../types.ts'
import type { VolumeState } from './types.ts'

export const CHECKPOINT_TAG = 'paciofs/checkpoint/v1'

export interface Checkpoint {
  readonly volume: VolumeName
  readonly node: Pid
  readonly epoch: Epoch
  /** Hex state root of the replica right after `epoch`. */
  readonly root: string
  /** Per author: the seq and hash of the last accepted seal's entry. */
  readonly heads: ReadonlyMap<Pid, { readonly seq: Seq; readonly head: EntryHash }>
}

/** The checkpoint of `state` as it is now (call at the end of a step's settle). */
export function checkpointOf(state: VolumeState): Checkpoint {
  const heads = new Map<Pid, { seq: Seq; head: EntryHash }>()
  for (const [author, log] of state.fotb.chains) if (log.view.seq > 0) heads.set(author, { seq: log.view.seq, head: log.view.head })
  return { volume: state.genesis.name, node: state.me, epoch: state.fs.epoch, root: stateRoot(state.fs), heads }
}

function bodyOf(c: Checkpoint): Uint8Array {
  const heads = [...c.heads].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([author, h]) => [fromHex(author)!, h.seq, fromHex(h.head)!])
  return encode([CHECKPOINT_TAG, c.volume, fromHex(c.node)!, c.epoch, fromHex(c.root)!, heads])
}

/** `["checkpoint", volume, body, signature]`, signed with the node's key. */
export function checkpointRecord(crypto: Crypto, secretKey: Uint8Array, c: Checkpoint): Value {
  const body = bodyOf(c)
  return ['checkpoint', c.volume, body, crypto.sign(crypto.sha256(body), secretKey)]
}

export type ParsedCheckpoint = { readonly ok: true; readonly checkpoint: Checkpoint } | { readonly ok: false; readonly why: string }

const isHex32 = (b: unknown): b is Uint8Array => b instanceof Uint8Array && b.length === 32
const isSeqValue = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1

/** A checkpoint record of `volume`, checked: its shape, that it is `me`'s and that its signature
 *  verifies under `me`'s key. Never throws on a damaged record. */
export function parseCheckpoint(crypto: Crypto, volume: VolumeName, me: Pid, record: Value, opts: { readonly skipSignature?: boolean } = {}): ParsedCheckpoint {
  if (!Array.isArray(record) || record.length !== 4 || record[0] !== 'checkpoint' || record[1] !== volume) return { ok: false, why: 'not a checkpoint record of this volume' }
  const [, , body, sig] = record
  if (!(body instanceof Uint8Array) || !(sig instanceof Uint8Array)) return { ok: false, why: 'malformed' }
  const d = tryDecode(body)
  if (!d.ok || !Array.isArray(d.value) || d.value.length !== 6) return { ok: false, why: 'malformed body' }
  const [tag, vol, node, epoch, root, heads] = d.value as Value[]
  if (tag !== CHECKPOINT_TAG || vol !== volume) return { ok: false, why: 'another format or volume' }
  if (!(node instanceof Uint8Array) || (toHex(node) !== me && opts.skipSignature !== true)) return { ok: false, why: 'made by another node' }
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0 || !isHex32(root) || !Array.isArray(heads)) return { ok: false, why: 'malformed body' }
  const map = new Map<Pid, { seq: Seq; head: EntryHash }>()
  for (const h of heads) {
    if (!Array.isArray(h) || h.length !== 3 || !(h[0] instanceof Uint8Array) || !isSeqValue(h[1]) || !isHex32(h[2])) return { ok: false, why: 'malformed head' }
    const author = toHex(h[0])
    if (!isPid(author) || map.has(author)) return { ok: false, why: 'malformed head' }
    map.set(author, { seq: h[1], head: toHex(h[2]) as EntryHash })
  }
  if (opts.skipSignature !== true && !crypto.verify(sig, crypto.sha256(body), fromHex(me)!)) return { ok: false, why: 'its signature does not verify under this node\'s key' }
  return { ok: true, checkpoint: { volume, node: me, epoch, root: toHex(root), heads: map } }
}
