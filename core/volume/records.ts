// The volume's byte formats (spec/paciofs.md "Genesis and identity", "Ledger payloads",
// "Messages", "Records"): encoders and their parsers (peer or disk input: undefined or a typed
// rejection, never a throw), the salted hash and the deterministic identifiers.
import type { Crypto } from '../crypto.ts'
import { encode, tryDecode, type Value } from '../codec.ts'
import { fromHex, toHex, utf8 } from '../bytes.ts'
import { validateOp, type FsOp, type OpKind } from '../fs/ops.ts'
import type { FsTime } from '../fs/types.ts'
import { isPid, isVolumeName, pidOfBytes, type ChunkHash, type EntryHash, type ObfHash, type Pid, type Seq, type VolumeName } from '../types.ts'
import type { PlainBytes } from '../storage.ts'
import { INVITE_BYTES_MAX } from './invite.ts'
import { KICK_REASONS, type Admission, type Genesis, type KickReason, type LogRecord, type PlainOp, type VolMessage, type VolumePayload } from './types.ts'

// ---------------------------------------------------------------------------------------------
// Encodings

/** v1: a genesis written before admission was a volume parameter (no admission field); v2 adds it;
 *  v3 adds the order, and is written only for a volume in total order (a fotb volume keeps the
 *  bytes, and so the hash, it always had). */
export function genesisValue(g: Genesis): Value {
  const founders = g.founders.map((p) => fromHex(p)!)
  if (g.order === 'totb') return ['paciofs/genesis/v3', g.name, g.policy, founders, g.admission ?? 'closed', 'totb']
  return g.admission === undefined ? ['paciofs/genesis/v1', g.name, g.policy, founders] : ['paciofs/genesis/v2', g.name, g.policy, founders, g.admission]
}

export function parseGenesis(v: Value): Genesis | undefined {
  if (!Array.isArray(v)) return undefined
  const v3 = v.length === 6 && v[0] === 'paciofs/genesis/v3'
  const v2 = v3 || (v.length === 5 && v[0] === 'paciofs/genesis/v2')
  if (!v2 && (v.length !== 4 || v[0] !== 'paciofs/genesis/v1')) return undefined
  const [, name, policy, founders, admission, order] = v as Value[]
  if (v2 && admission !== 'open' && admission !== 'closed') return undefined
  if (v3 && order !== 'totb') return undefined
  if (typeof name !== 'string' || !isVolumeName(name)) return undefined
  if (policy !== 'majority' && policy !== 'any') return undefined
  if (!Array.isArray(founders) || founders.length === 0 || founders.length > 256) return undefined
  const pids: Pid[] = []
  for (const f of founders as Value[]) {
    const p = f instanceof Uint8Array ? toHex(f) : ''
    if (!isPid(p)) return undefined
    pids.push(p)
  }
  const sorted = [...new Set(pids)].sort()
  if (sorted.length !== pids.length || sorted.some((p, i) => p !== pids[i])) return undefined
  if (v3) return { name, policy, founders: sorted, admission: admission as Admission, order: 'totb' }
  return v2 ? { name, policy, founders: sorted, admission: admission as Admission } : { name, policy, founders: sorted }
}

export function encodePayload(p: VolumePayload): Uint8Array {
  switch (p.type) {
    case 'join':
      return encode(p.invite ? ['join', p.round, p.invite] : ['join', p.round])
    case 'leave':
      return encode([p.type, p.round])
    case 'admit':
      return encode(['admit', fromHex(p.target)!, p.round])
    case 'vote-accept':
      return encode(p.join ? [p.type, fromHex(p.target)!, p.round, p.join.seq, fromHex(p.join.hash)!] : [p.type, fromHex(p.target)!, p.round])
    case 'vote-kick':
      return encode([p.type, fromHex(p.target)!, p.reason, p.round])
    case 'op':
      return encode(['op', fromHex(p.obf)!])
    case 'have':
      return encode(['have', p.ops.map((o) => [fromHex(o.author)!, o.seq])])
  }
}

/** Most operations one `have` entry names (a node with more names the rest in its next one). */
export const HAVE_MAX = 1024

// decodePayload's field readers, at module level: tsx keeps function names, so a closure made
// per call costs a defineProperty each time (measured: ~0.4 % of a simulator run).
function pidAt(v: readonly Value[], i: number): Pid | undefined {
  const b = v[i]
  return b instanceof Uint8Array ? pidOfBytes(b) : undefined
}

function roundAt(v: readonly Value[], i: number): number | undefined {
  const r = v[i]
  return typeof r === 'number' && Number.isSafeInteger(r) && r >= 1 ? r : undefined
}

export function decodePayload(bytes: Uint8Array): VolumePayload | undefined {
  const r = tryDecode(bytes)
  if (!r.ok || !Array.isArray(r.value)) return undefined
  const v = r.value as Value[]
  switch (v[0]) {
    case 'join': {
      // ["join", round] (no invite, and every join written before invites) or ["join", round, token].
      const round = roundAt(v, 1)
      const invite = v[2]
      if (v.length === 2 && round) return { type: 'join', round }
      return v.length === 3 && round && invite instanceof Uint8Array && invite.length <= INVITE_BYTES_MAX ? { type: 'join', round, invite } : undefined
    }
    case 'leave': {
      const round = roundAt(v, 1)
      return v.length === 2 && round ? { type: 'leave', round } : undefined
    }
    case 'admit': {
      const target = pidAt(v, 1)
      const round = roundAt(v, 2)
      return v.length === 3 && target && round ? { type: 'admit', target, round } : undefined
    }
    case 'vote-accept': {
      const target = pidAt(v, 1)
      const round = roundAt(v, 2)
      if (!target || !round) return undefined
      if (v.length === 3) return { type: 'vote-accept', target, round }
      const seq = v[3]
      const hash = v[4]
      return v.length === 5 && typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 1 && hash instanceof Uint8Array && hash.length === 32
        ? { type: 'vote-accept', target, round, join: { seq, hash: toHex(hash) as EntryHash } }
        : undefined
    }
    case 'vote-kick': {
      const target = pidAt(v, 1)
      const reason = v[2]
      const round = roundAt(v, 3)
      return v.length === 4 && target && round && KICK_REASONS.includes(reason as KickReason)
        ? { type: 'vote-kick', target, reason: reason as KickReason, round }
        : undefined
    }
    case 'have': {
      // ["have", [[author, seq], ...]]: 1..HAVE_MAX distinct operations (spec/totb.md).
      const list = v[1]
      if (v.length !== 2 || !Array.isArray(list) || list.length === 0 || list.length > HAVE_MAX) return undefined
      const ops: { author: Pid; seq: Seq }[] = []
      const seen = new Set<string>()
      for (const item of list as Value[]) {
        if (!Array.isArray(item) || item.length !== 2) return undefined
        const [a, seq] = item as Value[]
        const author = a instanceof Uint8Array && a.length === 33 ? toHex(a) : ''
        if (!isPid(author) || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return undefined
        const key = `${author}:${seq}`
        if (seen.has(key)) return undefined
        seen.add(key)
        ops.push({ author, seq })
      }
      return { type: 'have', ops }
    }
    case 'op': {
      const obf = v[1]
      return v.length === 2 && obf instanceof Uint8Array && obf.length === 32 ? { type: 'op', obf: toHex(obf) as ObfHash } : undefined
    }
    default:
      return undefined
  }
}

export function encodeVolMessage(volume: VolumeName, m: VolMessage): Uint8Array {
  switch (m.type) {
    case 'get':
      return encode(['vol/get', volume, fromHex(m.obf)!])
    case 'notfound':
      return encode(['vol/notfound', volume, fromHex(m.obf)!])
    case 'put':
      return encode(['vol/put', volume, fromHex(m.obf)!, m.salt, m.opBytes, m.chunks.map(([h, b]) => [fromHex(h)!, b])])
  }
}

const MAX_PUT_CHUNKS = 65536

export function parseVolMessage(parts: readonly Value[]): { ok: true; msg: VolMessage } | { ok: false; reason: string } {
  const obfBytes = parts[2]
  if (!(obfBytes instanceof Uint8Array) || obfBytes.length !== 32) return { ok: false, reason: 'obf' }
  const obf = toHex(obfBytes) as ObfHash
  if (parts[0] === 'vol/get' && parts.length === 3) return { ok: true, msg: { type: 'get', obf } }
  if (parts[0] === 'vol/notfound' && parts.length === 3) return { ok: true, msg: { type: 'notfound', obf } }
  if (parts[0] === 'vol/put' && parts.length === 6) {
    const [, , , salt, opBytes, list] = parts
    if (!(salt instanceof Uint8Array) || salt.length !== 32 || !(opBytes instanceof Uint8Array) || !Array.isArray(list) || list.length > MAX_PUT_CHUNKS) {
      return { ok: false, reason: 'put fields' }
    }
    const chunks: [ChunkHash, Uint8Array][] = []
    for (const item of list as Value[]) {
      if (!Array.isArray(item) || item.length !== 2 || !(item[0] instanceof Uint8Array) || item[0].length !== 32 || !(item[1] instanceof Uint8Array)) {
        return { ok: false, reason: 'put chunk' }
      }
      chunks.push([toHex(item[0]) as ChunkHash, item[1]])
    }
    return { ok: true, msg: { type: 'put', obf, salt, opBytes, chunks } }
  }
  return { ok: false, reason: 'unknown vol message' }
}

// ---------------------------------------------------------------------------------------------
// Obfuscation (salted hash) and deterministic identifiers

export function saltKey(crypto: Crypto, secretKey: Uint8Array): Uint8Array {
  return crypto.hmacSha256(secretKey, utf8('paciofs/salt-key/v1'))
}

export function saltFor(crypto: Crypto, key: Uint8Array, volume: VolumeName, seq: Seq): Uint8Array {
  return crypto.hmacSha256(key, encode(['paciofs/salt/v1', volume, seq]))
}

export function obfuscate(crypto: Crypto, salt: Uint8Array, opBytes: Uint8Array): ObfHash {
  return toHex(crypto.sha256(encode(['paciofs/obf/v1', salt, opBytes]))) as ObfHash
}

export function inoFor(crypto: Crypto, volume: VolumeName, author: Pid, seq: Seq, k: number): number {
  const h = crypto.sha256(encode(['paciofs/ino/v1', volume, fromHex(author)!, seq, k]))
  let n = 0
  for (let i = 0; i < 6; i++) n = n * 256 + h[i]!
  return n + 2 // 0 is "no inode", 1 is the root
}

export function logRecordValue(volume: VolumeName, r: LogRecord): Value {
  return [
    'log',
    volume,
    r.epoch,
    fromHex(r.author)!,
    r.seq,
    r.txid === null ? null : fromHex(r.txid)!,
    r.obf === null ? null : fromHex(r.obf)!,
    r.kind,
    r.result,
    r.localOp ?? null,
    // An 11th field only in totb volumes: fotb records keep their bytes.
    ...(r.orderTime !== undefined ? [r.orderTime] : []),
  ]
}

export function parseLogRecord(r: readonly Value[]): LogRecord | undefined {
  const [, , epoch, authorB, seq, txidB, obfB, kind, result, localOp, orderTime] = r
  const author = authorB instanceof Uint8Array ? toHex(authorB) : ''
  if (r.length === 11 && !(typeof orderTime === 'number' && Number.isSafeInteger(orderTime) && orderTime >= 0)) return undefined
  if ((r.length !== 10 && r.length !== 11) || typeof epoch !== 'number' || !isPid(author) || typeof kind !== 'string' || typeof result !== 'string') return undefined
  if (!(seq === null || typeof seq === 'number')) return undefined
  const txid = txidB instanceof Uint8Array && txidB.length === 32 ? (toHex(txidB) as EntryHash) : null
  const obf = obfB instanceof Uint8Array && obfB.length === 32 ? (toHex(obfB) as ObfHash) : null
  if ((seq === null) !== (txid === null) || (seq === null) !== (obf === null)) return undefined
  if (seq === null && !(localOp instanceof Uint8Array)) return undefined
  return {
    epoch,
    author,
    seq,
    txid,
    obf,
    kind: kind as OpKind,
    result: result as LogRecord['result'],
    ...(localOp instanceof Uint8Array ? { localOp } : {}),
    ...(typeof orderTime === 'number' ? { orderTime } : {}),
  }
}

/** The order's time (ms since 1970) as a file system time (ApplyCtx.orderTime). */
export function fsTimeOf(ms: number): FsTime {
  const t = Math.max(0, Math.floor(ms))
  return { sec: Math.floor(t / 1000), nsec: (t % 1000) * 1_000_000 }
}

/** The apply context a log record was applied with (replay reproduces it). */
export function replayCtx(rec: LogRecord): { epoch: number; author: Pid; orderTime?: FsTime } {
  return { epoch: rec.epoch, author: rec.author, ...(rec.orderTime !== undefined ? { orderTime: fsTimeOf(rec.orderTime) } : {}) }
}

/** A stored plain operation, checked: its salted hash must be `obf` and its bytes a valid op.
 *  Undefined otherwise: a damaged copy is never used or served (the asker would take us for a liar). */
export function checkPlain(crypto: Crypto, obf: ObfHash, p: PlainBytes | undefined): PlainOp | undefined {
  if (p === undefined || obfuscate(crypto, p.salt, p.opBytes) !== obf) return undefined
  const d = tryDecode(p.opBytes)
  const v = d.ok ? validateOp(d.value) : undefined
  return v && v.ok ? { salt: p.salt, opBytes: p.opBytes, op: v.op } : undefined
}

/** The operation a log record stands for: the plain op behind its obf (`plain` reads it, e.g.
 *  from the storage port), or its local op bytes. */
export function opOfRecord(plain: (obf: ObfHash) => PlainOp | undefined, rec: LogRecord): FsOp | undefined {
  if (rec.obf !== null) return plain(rec.obf)?.op
  if (!rec.localOp) return undefined
  const d = tryDecode(rec.localOp)
  const v = d.ok ? validateOp(d.value) : undefined
  return v && v.ok ? v.op : undefined
}
