// Client/server mode: a client mounts a volume that a node serves over TCP. Both ends
// authenticate with their keys in the transport's handshake (runtime/transport.ts); the node
// serves only clients it was told to (serve --client <id>). Messages, canonical CBOR:
//   client -> node  ['cs/req', id, volume, at | null, method, args]
//   node -> client  ['cs/res', id, ok: true, value] | ['cs/res', id, false, errno, detail]
// Methods: getattr(path) readdir(path) read(path, offset, length) readlink(path)
// listxattr(path) getxattr(path, name) usage() call(FsCall, early) sync(). Reads answer from the
// node's state (of epoch `at` when given); `call` is a state-changing FsCall, answered once durable
// at the node (or, early, once applied; `sync` then answers once all of it is durable).
// Everything a client sends is validated like any peer input: a malformed request is answered
// EINVAL and counted, never executed.
import type { Value } from '../core/codec.ts'
import type { Attr, DirEntry, FsTime, WriteStep } from '../core/fs/index.ts'
import { validateOp } from '../core/fs/ops.ts'
import type { FsCall } from '../core/volume/index.ts'

export const CS_METHODS = ['getattr', 'readdir', 'read', 'readlink', 'listxattr', 'getxattr', 'usage', 'call', 'sync'] as const
export type CsMethod = (typeof CS_METHODS)[number]

/** The largest read a client may ask for in one request. */
export const CS_READ_BYTES_MAX = 4 * 1024 * 1024
/** The largest write session a client sends as one call (below the transport's frame limit). */
export const CS_WRITE_BYTES_MAX = 8 * 1024 * 1024

export function attrToValue(a: Attr): Value {
  return [a.ino, a.kind, a.mode, a.uid, a.gid, a.size, a.nlink, [a.atime.sec, a.atime.nsec], [a.mtime.sec, a.mtime.nsec], [a.ctime.sec, a.ctime.nsec], a.rdev]
}

const KINDS = new Set(['file', 'dir', 'symlink', 'fifo', 'chr', 'blk', 'sock'])
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)
function timeFrom(v: Value | undefined): FsTime | undefined {
  return Array.isArray(v) && v.length === 2 && isInt(v[0]) && isInt(v[1]) ? { sec: v[0], nsec: v[1] } : undefined
}

/** A node's attribute answer as the client parses it (the node may be wrong; never trusted blindly). */
export function attrFromValue(v: Value): Attr | undefined {
  if (!Array.isArray(v) || v.length !== 11) return undefined
  const [ino, kind, mode, uid, gid, size, nlink, at, mt, ct, rdev] = v
  const atime = timeFrom(at)
  const mtime = timeFrom(mt)
  const ctime = timeFrom(ct)
  if (!isInt(ino) || typeof kind !== 'string' || !KINDS.has(kind) || !isInt(mode) || !isInt(uid) || !isInt(gid) || !isInt(size) || !isInt(nlink) || !isInt(rdev) || !atime || !mtime || !ctime) return undefined
  return { ino, kind: kind as Attr['kind'], mode, uid, gid, size, nlink, atime, mtime, ctime, rdev }
}

export function direntsToValue(list: readonly DirEntry[]): Value {
  return list.map((e) => [e.name, e.ino, e.kind])
}

export function direntsFromValue(v: Value): DirEntry[] | undefined {
  if (!Array.isArray(v)) return undefined
  const out: DirEntry[] = []
  for (const e of v) {
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'string' || !isInt(e[1]) || typeof e[2] !== 'string' || !KINDS.has(e[2])) return undefined
    out.push({ name: e[0], ino: e[1], kind: e[2] as DirEntry['kind'] })
  }
  return out
}

/** An FsCall as a Value (records without undefined fields). */
export function callToValue(c: FsCall): Value {
  if (c.type !== 'write') return c as unknown as Value
  const { truncateTo, ...rest } = c
  return { ...rest, writes: c.writes.map((w) => ('truncate' in w ? { truncate: w.truncate } : { offset: w.offset, data: w.data })), ...(truncateTo !== undefined ? { truncateTo } : {}) } as unknown as Value
}

/** Validates a client's FsCall: the same rules as an operation from a peer (core/fs/ops.ts). */
export function callFromValue(v: Value): { ok: true; call: FsCall } | { ok: false; reason: string } {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return { ok: false, reason: 'call must be a map' }
  const rec = v as Record<string, Value>
  if (rec.type === 'write') {
    const keys = Object.keys(rec)
    for (const k of keys) if (!['type', 'path', 'writes', 'truncateTo', 'cred', 'time', 'client'].includes(k)) return { ok: false, reason: `write: unknown field "${k}"` }
    // Validate path, cred, time (and client) through the op validator with an empty block list.
    const probe = validateOp({ type: 'write', path: rec.path ?? null, size: 0, blocks: [], cred: rec.cred ?? null, time: rec.time ?? null, ...(rec.client !== undefined ? { client: rec.client } : {}) })
    if (!probe.ok) return { ok: false, reason: probe.reason }
    if (rec.truncateTo !== undefined && (!isInt(rec.truncateTo) || rec.truncateTo < 0)) return { ok: false, reason: 'write: truncateTo must be an integer >= 0' }
    if (!Array.isArray(rec.writes)) return { ok: false, reason: 'write: writes must be a list' }
    const writes: WriteStep[] = []
    let bytes = 0
    for (const w of rec.writes as Value[]) {
      if (typeof w !== 'object' || w === null || Array.isArray(w) || w instanceof Uint8Array) return { ok: false, reason: 'write: a step must be a map' }
      const s = w as Record<string, Value>
      const k = Object.keys(s).sort().join(',')
      if (k === 'truncate' && isInt(s.truncate) && s.truncate >= 0) writes.push({ truncate: s.truncate })
      else if (k === 'data,offset' && isInt(s.offset) && s.offset >= 0 && s.data instanceof Uint8Array) {
        writes.push({ offset: s.offset, data: s.data })
        bytes += s.data.length
      } else return { ok: false, reason: 'write: a step is {offset, data} or {truncate}' }
    }
    if (bytes > CS_WRITE_BYTES_MAX) return { ok: false, reason: `write: more than ${CS_WRITE_BYTES_MAX} bytes in one call` }
    const { op } = probe
    return { ok: true, call: { type: 'write', path: (op as { path: string }).path, writes, cred: op.cred, time: op.time, ...(rec.truncateTo !== undefined ? { truncateTo: rec.truncateTo as number } : {}) } }
  }
  const needsIno = rec.type === 'create' || rec.type === 'mkdir' || rec.type === 'mknod' || rec.type === 'symlink'
  // The node picks inode numbers; a client that names one is refused, not overruled.
  if (needsIno && Object.prototype.hasOwnProperty.call(rec, 'ino')) return { ok: false, reason: `${String(rec.type)}: unknown field "ino"` }
  const r = validateOp(needsIno ? { ...rec, ino: 2 } : rec)
  if (!r.ok) return { ok: false, reason: r.reason }
  if (needsIno) {
    const { ino: _ino, ...call } = r.op as typeof r.op & { ino: number }
    return { ok: true, call: call as FsCall }
  }
  return { ok: true, call: r.op as FsCall }
}
