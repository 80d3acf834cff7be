// File system operations: their types, and strict validation of decoded (untrusted) values.
// Ops are plain Values so core/codec.ts encodes them canonically. See spec/fs.md "Operations".
import type { Value } from '../codec.ts'
import type { ChunkHash, Pid } from '../types.ts'
import { isHash32, isPid } from '../types.ts'
import type { Cred, FsTime } from './types.ts'
import { GROUPS_MAX, MAX_WRITE_BLOCKS } from './types.ts'

interface Base {
  readonly cred: Cred
  readonly time: FsTime
  /** The client node (its key, like a Pid) a server applied this op for; absent in local mode. */
  readonly client?: Pid
}
export interface CreateOp extends Base { readonly type: 'create'; readonly path: string; readonly mode: number; readonly ino: number }
export interface MkdirOp extends Base { readonly type: 'mkdir'; readonly path: string; readonly mode: number; readonly ino: number }
export interface MknodOp extends Base { readonly type: 'mknod'; readonly path: string; readonly mode: number; readonly rdev: number; readonly ino: number }
export interface SymlinkOp extends Base { readonly type: 'symlink'; readonly path: string; readonly target: string; readonly ino: number }
export interface LinkOp extends Base { readonly type: 'link'; readonly from: string; readonly to: string }
export interface WriteOp extends Base {
  readonly type: 'write'
  readonly path: string
  readonly size: number
  /** [block index, chunk hash | null (hole)], indices strictly ascending and < ceil(size / BLOCK_SIZE). */
  readonly blocks: readonly (readonly [number, ChunkHash | null])[]
}
export interface TruncateOp extends Base { readonly type: 'truncate'; readonly path: string; readonly size: number }
export interface UnlinkOp extends Base { readonly type: 'unlink'; readonly path: string }
export interface RmdirOp extends Base { readonly type: 'rmdir'; readonly path: string }
export interface RenameOp extends Base { readonly type: 'rename'; readonly from: string; readonly to: string }
export interface ChmodOp extends Base { readonly type: 'chmod'; readonly path: string; readonly mode: number }
/** uid/gid -1 leave the value unchanged. */
export interface ChownOp extends Base { readonly type: 'chown'; readonly path: string; readonly uid: number; readonly gid: number }
/** A utimens time: a given time, 'omit' (UTIME_OMIT: unchanged) or 'now' (UTIME_NOW: the op's
 *  time; Linux lets a mere writer set both times to now, but only the owner set explicit ones). */
export type UtimeSpec = FsTime | 'omit' | 'now'
export interface UtimensOp extends Base {
  readonly type: 'utimens'
  readonly path: string
  readonly atime: UtimeSpec
  readonly mtime: UtimeSpec
}
export interface SetxattrOp extends Base {
  readonly type: 'setxattr'
  readonly path: string
  readonly name: string
  readonly value: Uint8Array
  /** 0, XATTR_CREATE (1) or XATTR_REPLACE (2). */
  readonly flags: number
}
export interface RemovexattrOp extends Base { readonly type: 'removexattr'; readonly path: string; readonly name: string }
/** Retention ops (spec/fs.md "Retention and legal hold"). `override`: a governor shortens or lifts. */
export interface RetainOp extends Base { readonly type: 'retain'; readonly path: string; readonly until: FsTime; readonly override: boolean }
export interface HoldOp extends Base { readonly type: 'hold'; readonly path: string; readonly on: boolean }
export interface RetentionConfigOp extends Base {
  readonly type: 'retention-config'
  readonly mode: 'governance' | 'compliance'
  /** Seconds of retention each new regular file gets; 0 = none. */
  readonly defaultSec: number
  /** Node ids, strictly ascending; empty in compliance mode. */
  readonly governors: readonly Pid[]
}

export type FsOp =
  | CreateOp | MkdirOp | MknodOp | SymlinkOp | LinkOp | WriteOp | TruncateOp | UnlinkOp | RmdirOp
  | RenameOp | ChmodOp | ChownOp | UtimensOp | SetxattrOp | RemovexattrOp | RetainOp | HoldOp | RetentionConfigOp

export type OpKind = FsOp['type']

export const OP_KINDS: readonly OpKind[] = [
  'create', 'mkdir', 'mknod', 'symlink', 'link', 'write', 'truncate', 'unlink', 'rmdir', 'rename',
  'chmod', 'chown', 'utimens', 'setxattr', 'removexattr', 'retain', 'hold', 'retention-config',
]

export function opKind(op: FsOp): OpKind {
  return op.type
}

/** The paths an op names, in op order (for traces, history and conflict detection). */
export function opPaths(op: FsOp): string[] {
  if (op.type === 'retention-config') return ['/']
  return op.type === 'link' || op.type === 'rename' ? [op.from, op.to] : [op.path]
}

// ---------------------------------------------------------------------------------------------
// Validation of untrusted values. Never throws: every failure is a reason string.

/** Largest uid/gid; 0xffffffff is (uid_t)-1, which means "unchanged" in chown. */
export const ID_MAX = 0xfffffffe
const MODE_MAX = 0o177777
const RDEV_MAX = 0xffffffff
const NSEC_MAX = 999_999_999

type V = { ok: true; op: FsOp } | { ok: false; reason: string }

class Reject {
  constructor(readonly reason: string) {}
}

function fail(reason: string): never {
  throw new Reject(reason)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function own(rec: Record<string, unknown>, key: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(rec, key)) fail(`missing field "${key}"`)
  return rec[key]
}

function exactKeys(rec: Record<string, unknown>, keys: readonly string[], what: string): void {
  const actual = Object.keys(rec)
  for (const k of actual) if (!keys.includes(k)) fail(`${what}: unknown field "${k}"`)
  for (const k of keys) if (!Object.prototype.hasOwnProperty.call(rec, k)) fail(`${what}: missing field "${k}"`)
}

function int(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(`${what} must be an integer`)
  if (value < min || value > max) fail(`${what} out of range [${min}, ${max}]`)
  return value
}

function str(value: unknown, what: string): string {
  if (typeof value !== 'string') fail(`${what} must be a string`)
  return value
}

function time(value: unknown, what: string): FsTime {
  if (!isRecord(value)) fail(`${what} must be a {sec, nsec} map`)
  exactKeys(value, ['sec', 'nsec'], what)
  return {
    sec: int(value.sec, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, `${what}.sec`),
    nsec: int(value.nsec, 0, NSEC_MAX, `${what}.nsec`),
  }
}

function cred(value: unknown): Cred {
  if (!isRecord(value)) fail('cred must be a {uid, gid, groups?} map')
  const hasGroups = Object.prototype.hasOwnProperty.call(value, 'groups')
  exactKeys(value, hasGroups ? ['uid', 'gid', 'groups'] : ['uid', 'gid'], 'cred')
  const uid = int(value.uid, 0, ID_MAX, 'cred.uid')
  const gid = int(value.gid, 0, ID_MAX, 'cred.gid')
  if (!hasGroups) return { uid, gid }
  const list = value.groups
  if (!Array.isArray(list)) fail('cred.groups must be an array')
  // Encoded only when non-empty, so that an op has exactly one encoding.
  if (list.length === 0) fail('cred.groups must be absent when empty')
  if (list.length > GROUPS_MAX) fail(`cred.groups: more than ${GROUPS_MAX} entries`)
  const groups: number[] = []
  for (const g of list as unknown[]) {
    const n = int(g, 0, ID_MAX, 'cred.groups entry')
    const prev = groups[groups.length - 1]
    if (prev !== undefined && n <= prev) fail('cred.groups must be strictly ascending (sorted, unique)')
    groups.push(n)
  }
  return { uid, gid, groups }
}

function client(value: unknown): Pid {
  if (typeof value !== 'string' || !isPid(value)) fail('client must be a node id (66 lowercase hex digits, 02/03 prefix)')
  return value
}

const FIELDS: Record<OpKind, readonly string[]> = {
  create: ['path', 'mode', 'ino'],
  mkdir: ['path', 'mode', 'ino'],
  mknod: ['path', 'mode', 'rdev', 'ino'],
  symlink: ['path', 'target', 'ino'],
  link: ['from', 'to'],
  write: ['path', 'size', 'blocks'],
  truncate: ['path', 'size'],
  unlink: ['path'],
  rmdir: ['path'],
  rename: ['from', 'to'],
  chmod: ['path', 'mode'],
  chown: ['path', 'uid', 'gid'],
  utimens: ['path', 'atime', 'mtime'],
  setxattr: ['path', 'name', 'value', 'flags'],
  removexattr: ['path', 'name'],
  retain: ['path', 'until', 'override'],
  hold: ['path', 'on'],
  'retention-config': ['mode', 'defaultSec', 'governors'],
}

/** Longest default retention: 1000 years in seconds (keeps until = since + default safe). */
export const RETENTION_DEFAULT_MAX_SEC = 1000 * 366 * 86400
/** Most governors one volume lists. */
export const GOVERNORS_MAX = 64

function bool(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') fail(`${what} must be true or false`)
  return value
}

function governors(value: unknown): Pid[] {
  if (!Array.isArray(value)) fail('governors must be an array of node ids')
  if (value.length > GOVERNORS_MAX) fail(`governors: more than ${GOVERNORS_MAX} entries`)
  const out: Pid[] = []
  for (const g of value as unknown[]) {
    if (typeof g !== 'string' || !isPid(g)) fail('governors: each entry must be a node id (66 lowercase hex digits, 02/03 prefix)')
    const prev = out[out.length - 1]
    if (prev !== undefined && g <= prev) fail('governors must be strictly ascending (sorted, unique)')
    out.push(g)
  }
  return out
}

function blocks(value: unknown): [number, ChunkHash | null][] {
  if (!Array.isArray(value)) fail('blocks must be an array')
  if (value.length > MAX_WRITE_BLOCKS) fail(`blocks: more than ${MAX_WRITE_BLOCKS} entries`)
  const out: [number, ChunkHash | null][] = []
  let last = -1
  for (const item of value as unknown[]) {
    if (!Array.isArray(item) || item.length !== 2) fail('blocks: each entry must be [index, hash|null]')
    const index = int(item[0], 0, Number.MAX_SAFE_INTEGER, 'block index')
    if (index <= last) fail('blocks: indices must be strictly ascending')
    last = index
    const h = item[1]
    if (h !== null && (typeof h !== 'string' || !isHash32(h))) fail('blocks: hash must be 64 lowercase hex or null')
    out.push([index, h as ChunkHash | null])
  }
  return out
}

function parse(value: unknown): FsOp {
  if (!isRecord(value)) fail('op must be a map')
  const type = own(value, 'type')
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(FIELDS, type)) fail('unknown op type')
  const kind = type as OpKind
  const hasClient = Object.prototype.hasOwnProperty.call(value, 'client')
  exactKeys(value, ['type', 'cred', 'time', ...(hasClient ? ['client'] : []), ...FIELDS[kind]], kind)
  const base: { cred: Cred; time: FsTime; client?: Pid } = { cred: cred(value.cred), time: time(value.time, 'time') }
  if (hasClient) base.client = client(value.client)
  const v = value
  switch (kind) {
    case 'create':
    case 'mkdir':
      return { type: kind, path: str(v.path, 'path'), mode: int(v.mode, 0, MODE_MAX, 'mode'), ino: int(v.ino, 1, Number.MAX_SAFE_INTEGER, 'ino'), ...base }
    case 'mknod':
      return {
        type: kind, path: str(v.path, 'path'), mode: int(v.mode, 0, MODE_MAX, 'mode'),
        rdev: int(v.rdev, 0, RDEV_MAX, 'rdev'), ino: int(v.ino, 1, Number.MAX_SAFE_INTEGER, 'ino'), ...base,
      }
    case 'symlink':
      return { type: kind, path: str(v.path, 'path'), target: str(v.target, 'target'), ino: int(v.ino, 1, Number.MAX_SAFE_INTEGER, 'ino'), ...base }
    case 'link':
    case 'rename':
      return { type: kind, from: str(v.from, 'from'), to: str(v.to, 'to'), ...base }
    case 'write': {
      const size = int(v.size, 0, Number.MAX_SAFE_INTEGER, 'size')
      const list = blocks(v.blocks)
      const count = Math.ceil(size / 65536)
      const lastEntry = list[list.length - 1]
      if (lastEntry !== undefined && lastEntry[0] >= count) fail('blocks: index beyond the file size')
      return { type: kind, path: str(v.path, 'path'), size, blocks: list, ...base }
    }
    case 'truncate':
      return { type: kind, path: str(v.path, 'path'), size: int(v.size, 0, Number.MAX_SAFE_INTEGER, 'size'), ...base }
    case 'unlink':
    case 'rmdir':
      return { type: kind, path: str(v.path, 'path'), ...base }
    case 'chmod':
      return { type: kind, path: str(v.path, 'path'), mode: int(v.mode, 0, MODE_MAX, 'mode'), ...base }
    case 'chown':
      return { type: kind, path: str(v.path, 'path'), uid: int(v.uid, -1, ID_MAX, 'uid'), gid: int(v.gid, -1, ID_MAX, 'gid'), ...base }
    case 'utimens': {
      const t = (x: unknown, what: string): UtimeSpec => (x === 'omit' || x === 'now' ? x : time(x, what))
      return { type: kind, path: str(v.path, 'path'), atime: t(v.atime, 'atime'), mtime: t(v.mtime, 'mtime'), ...base }
    }
    case 'setxattr': {
      if (!(v.value instanceof Uint8Array)) fail('value must be a byte string')
      return {
        type: kind, path: str(v.path, 'path'), name: str(v.name, 'name'), value: v.value,
        flags: int(v.flags, 0, 0xffffffff, 'flags'), ...base,
      }
    }
    case 'removexattr':
      return { type: kind, path: str(v.path, 'path'), name: str(v.name, 'name'), ...base }
    case 'retain':
      return { type: kind, path: str(v.path, 'path'), until: time(v.until, 'until'), override: bool(v.override, 'override'), ...base }
    case 'hold':
      return { type: kind, path: str(v.path, 'path'), on: bool(v.on, 'on'), ...base }
    case 'retention-config': {
      if (v.mode !== 'governance' && v.mode !== 'compliance') fail('mode must be "governance" or "compliance"')
      return { type: kind, mode: v.mode, defaultSec: int(v.defaultSec, 0, RETENTION_DEFAULT_MAX_SEC, 'defaultSec'), governors: governors(v.governors), ...base }
    }
  }
}

/** Turns a decoded, untrusted value into a typed op, or says why not. Never throws on input. */
export function validateOp(value: Value | unknown): V {
  try {
    return { ok: true, op: parse(value) }
  } catch (err) {
    if (err instanceof Reject) return { ok: false, reason: err.reason }
    // Exotic inputs (getters, proxies) may throw anything; they are still only bad input.
    return { ok: false, reason: `malformed op: ${String((err as Error)?.message ?? err)}` }
  }
}

/** An op as a codec Value (ops already are plain Values; this only fixes the static type). */
export function opToValue(op: FsOp): Value {
  return op as unknown as Value
}
