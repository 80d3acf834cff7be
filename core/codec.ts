// The canonical encoding of everything the project hashes, signs, sends or persists.
//
// Why CBOR (RFC 8949 §4.2.1 "core deterministic encoding") through cborg: it is a standard
// with a written canonical form (shortest integer and length heads, definite lengths, map keys
// sorted by their encoded bytes), it carries raw byte strings without base64 overhead (hashes,
// signatures, chunk data), and cborg is small, dependency-free, maintained and has a strict
// decoding mode. We add the two rules cborg does not enforce on decode (key order, and no
// floats/undefined/bigints), by re-encoding the decoded value and requiring identical bytes:
// one value has exactly one byte string, and any other byte string is rejected.
import { encode as cborEncode, encodeInto as cborEncodeInto, decode as cborDecode, rfc8949EncodeOptions } from 'cborg'
import type { EncodeOptions, DecodeOptions } from 'cborg'
import { bytesEqual } from './bytes.ts'

/** The values the codec admits: safe integers, strings, byte strings, booleans, null, arrays
 *  and string-keyed records of these. No floats, no undefined, no bigints. */
export type Value =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | readonly Value[]
  | { readonly [key: string]: Value }

export type CodecErrorCode = 'non-canonical' | 'malformed' | 'unsupported-value'

/** A peer's or a disk's bad bytes: a typed, recoverable rejection, never a crash. */
export class CodecError extends Error {
  readonly code: CodecErrorCode
  constructor(code: CodecErrorCode, message: string) {
    super(`${code}: ${message}`)
    this.code = code
    this.name = 'CodecError'
  }
}

function rejectNonInteger(value: unknown): null {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new CodecError('unsupported-value', `only safe integers are encodable, got ${value}`)
  }
  return null // null: let cborg encode it the default way
}

// A lone surrogate: a high surrogate (D800-DBFF) not followed by a low one (DC00-DFFF), or a low
// one not preceded by a high one. Without the `u` flag the regex works on UTF-16 code units, which
// is what we need. (String.prototype.isWellFormed is ES2024; our lib is ES2022.)
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Why: UTF-8 cannot carry a lone surrogate, and cborg would silently write U+FFFD instead, so
 *  "\uD800" and "\uFFFD" would share one encoding. Map keys pass through here too. */
function rejectIllFormedString(value: unknown): null {
  if (LONE_SURROGATE.test(value as string)) {
    const at = (value as string).search(LONE_SURROGATE)
    throw new CodecError('unsupported-value', `string is not well-formed UTF-16: lone surrogate at index ${at}`)
  }
  return null // well-formed: let cborg encode it the default way
}

function rejectType(name: string) {
  return (): null => {
    throw new CodecError('unsupported-value', `${name} is not encodable`)
  }
}

const encodeOptions: EncodeOptions = {
  ...rfc8949EncodeOptions,
  typeEncoders: {
    number: rejectNonInteger as never,
    string: rejectIllFormedString as never,
    undefined: rejectType('undefined') as never,
    bigint: rejectType('bigint') as never,
    Map: rejectType('Map') as never,
  },
}

const decodeOptions: DecodeOptions = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
}

// Encoding goes into one reused scratch buffer and the result is sliced out of it: one copy, and
// the result is by construction a plain Uint8Array that owns exactly its bytes. Why not
// `cborg.encode`: it may return a Node Buffer that is a view into Node's shared allocation pool
// (`.buffer` exposes unrelated bytes, `.slice()` is a view, not a copy), and checking ownership
// via `.buffer` forces V8 to move small on-heap arrays off the heap (~0.7 µs, more than encoding).
// Only values larger than the scratch buffer take the slow path below. Not reentrant, and need not
// be: nothing inside encode calls encode.
const SCRATCH_BYTES = 64 * 1024
const scratch = new Uint8Array(SCRATCH_BYTES)
const TOO_SMALL = 'destination buffer is too small' // cborg's message when encodeInto runs out of room

// The fast path: a direct canonical encoder for the shapes every message and record has (safe
// integers, booleans, null, ASCII strings, plain Uint8Arrays, arrays, plain objects with ASCII
// keys), written into the scratch buffer. Anything else (a non-ASCII or ill-formed string, a float,
// -0, undefined, a Buffer, a class instance, nesting deeper than FAST_DEPTH (so also a cycle), a
// value that does not fit the scratch buffer) gives
// up and the whole value goes to cborg as before, so errors and rare shapes are cborg's. Its bytes
// equal cborg's rfc8949 ones (test/codec.test.ts compares them on random values): shortest heads,
// definite lengths, map keys by their encoded bytes (for ASCII keys: shorter first, then by code
// unit). Measured: ~20 % of a simulator run was cborg's encoder (bench/README.md "Simulator").
const GIVE_UP = Symbol('give up')
let at = 0

function head(major: number, n: number): void {
  if (at + 9 > SCRATCH_BYTES) throw GIVE_UP
  const m = major << 5
  if (n < 24) scratch[at++] = m | n
  else if (n < 0x100) {
    scratch[at++] = m | 24
    scratch[at++] = n
  } else if (n < 0x10000) {
    scratch[at++] = m | 25
    scratch[at++] = n >>> 8
    scratch[at++] = n & 0xff
  } else if (n < 0x100000000) {
    scratch[at++] = m | 26
    scratch[at++] = n >>> 24
    scratch[at++] = (n >>> 16) & 0xff
    scratch[at++] = (n >>> 8) & 0xff
    scratch[at++] = n & 0xff
  } else {
    const hi = Math.floor(n / 0x100000000)
    const lo = n >>> 0
    scratch[at++] = m | 27
    scratch[at++] = hi >>> 24
    scratch[at++] = (hi >>> 16) & 0xff
    scratch[at++] = (hi >>> 8) & 0xff
    scratch[at++] = hi & 0xff
    scratch[at++] = lo >>> 24
    scratch[at++] = (lo >>> 16) & 0xff
    scratch[at++] = (lo >>> 8) & 0xff
    scratch[at++] = lo & 0xff
  }
}

function asciiString(s: string): void {
  const n = s.length
  head(3, n)
  if (at + n > SCRATCH_BYTES) throw GIVE_UP
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) throw GIVE_UP
    scratch[at++] = c
  }
}

/** RFC 8949 order of ASCII keys: by encoded bytes, i.e. shorter first, then by code unit. */
function keyOrder(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0
}

/** Nesting the fast path takes (deeper values, and cyclic ones, which cborg refuses, go to cborg). */
const FAST_DEPTH = 32

function fast(v: unknown, depth: number): void {
  switch (typeof v) {
    case 'number':
      if (!Number.isSafeInteger(v) || Object.is(v, -0)) throw GIVE_UP
      if (v >= 0) head(0, v)
      else head(1, -1 - v)
      return
    case 'string':
      asciiString(v)
      return
    case 'boolean':
      if (at + 1 > SCRATCH_BYTES) throw GIVE_UP
      scratch[at++] = v ? 0xf5 : 0xf4
      return
    case 'object': {
      if (v === null) {
        if (at + 1 > SCRATCH_BYTES) throw GIVE_UP
        scratch[at++] = 0xf6
        return
      }
      if (depth > FAST_DEPTH) throw GIVE_UP
      if (Array.isArray(v)) {
        const n = v.length
        head(4, n)
        for (let i = 0; i < n; i++) fast(v[i], depth + 1)
        return
      }
      const ctor = (v as object).constructor
      if (ctor === Uint8Array) {
        const b = v as Uint8Array
        head(2, b.length)
        if (at + b.length > SCRATCH_BYTES) throw GIVE_UP
        scratch.set(b, at)
        at += b.length
        return
      }
      if (ctor !== Object) throw GIVE_UP
      const o = v as Record<string, unknown>
      const keys = Object.keys(o)
      if (keys.length > 1) keys.sort(keyOrder)
      head(5, keys.length)
      for (const k of keys) {
        asciiString(k)
        fast(o[k], depth + 1)
      }
      return
    }
    default:
      throw GIVE_UP
  }
}

/** Encodes an admitted value. The result is a plain Uint8Array that owns its whole buffer. */
export function encode(value: Value): Uint8Array {
  at = 0
  try {
    fast(value, 0)
    return scratch.slice(0, at)
  } catch (err) {
    if (err !== GIVE_UP) throw err
  }
  try {
    const { written } = cborEncodeInto(value, scratch, encodeOptions)
    return scratch.slice(0, written)
  } catch (err) {
    if (err instanceof CodecError) throw err
    if (!(err instanceof Error && err.message.includes(TOO_SMALL))) {
      throw new CodecError('unsupported-value', (err as Error).message)
    }
  }
  return encodeLarge(value)
}

/** Values above SCRATCH_BYTES: cborg allocates, and we copy unless it gave us an owned plain array. */
function encodeLarge(value: Value): Uint8Array {
  let out: Uint8Array
  try {
    out = cborEncode(value, encodeOptions)
  } catch (err) {
    if (err instanceof CodecError) throw err
    throw new CodecError('unsupported-value', (err as Error).message)
  }
  if (out.constructor !== Uint8Array || out.byteOffset !== 0 || out.byteLength !== out.buffer.byteLength) {
    out = new Uint8Array(out)
  }
  return out
}

/** The encoding of an array whose items are given already encoded (each by `encode`): the
 *  canonical array head and the items' bytes, equal to `encode([...items decoded])`. Lets a
 *  caller that had to encode items anyway (to check them) not encode them a second time. */
export function encodeArrayOfEncoded(items: readonly Uint8Array[]): Uint8Array {
  const n = items.length
  // Major type 4, shortest length head (RFC 8949 §4.2.1).
  const head = n < 24 ? [0x80 | n] : n < 0x100 ? [0x98, n] : n < 0x10000 ? [0x99, n >> 8, n & 0xff] : [0x9a, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
  if (n > 0xffffffff) throw new CodecError('unsupported-value', 'array too long')
  let size = head.length
  for (const item of items) size += item.length
  const out = new Uint8Array(size)
  out.set(head, 0)
  let at = head.length
  for (const item of items) {
    out.set(item, at)
    at += item.length
  }
  return out
}

/** Decodes well-formed bytes with decode's strict options but without its canonical check (the
 *  re-encoding): for bytes a store of this node wrote itself (core/ledger decodeStoredEntry says
 *  why that is safe there). Throws CodecError for malformed input. */
export function decodeUnchecked(bytes: Uint8Array): Value {
  try {
    return cborDecode(bytes, decodeOptions) as Value
  } catch (err) {
    throw new CodecError('malformed', (err as Error).message)
  }
}

// The fast decode path: a direct reader of the encoder's fast shapes (heads, safe integers,
// ASCII strings, byte strings, arrays, maps with ASCII keys other than __proto__, true, false,
// null) from a plain Uint8Array. It gives up on anything else (and on any malformed input) and
// decode then runs cborg as before; what it returns is kept only when its encoding is exactly the
// input, the same canonical check, so every result equals cborg's and every error is cborg's.
let rd: Uint8Array = scratch
let rp = 0

function readHead(minor: number): number {
  if (minor < 24) return minor
  let n = 0
  let len: number
  if (minor === 24) len = 1
  else if (minor === 25) len = 2
  else if (minor === 26) len = 4
  else if (minor === 27) len = 8
  else throw GIVE_UP
  if (rp + len > rd.length) throw GIVE_UP
  for (let i = 0; i < len; i++) n = n * 256 + rd[rp++]!
  if (n > Number.MAX_SAFE_INTEGER) throw GIVE_UP
  return n
}

const LATIN1 = new TextDecoder('latin1')

/** ASCII text as one flat string (`+=` past 12 characters would build a rope, core/bytes.ts toHex
 *  says what that costs in memory). */
function readAscii(n: number): string {
  const end = rp + n
  if (end > rd.length) throw GIVE_UP
  for (let i = rp; i < end; i++) if (rd[i]! >= 0x80) throw GIVE_UP
  let s: string
  if (n <= 12) {
    s = ''
    for (let i = rp; i < end; i++) s += String.fromCharCode(rd[i]!)
  } else if (n <= 4096) s = String.fromCharCode.apply(null, rd.subarray(rp, end) as unknown as number[])
  else s = LATIN1.decode(rd.subarray(rp, end))
  rp = end
  return s
}

function readValue(depth: number): Value {
  if (rp >= rd.length) throw GIVE_UP
  const ib = rd[rp++]!
  const major = ib >> 5
  const minor = ib & 0x1f
  switch (major) {
    case 0:
      return readHead(minor)
    case 1:
      return -1 - readHead(minor)
    case 2: {
      const n = readHead(minor)
      if (rp + n > rd.length) throw GIVE_UP
      const b = rd.slice(rp, rp + n)
      rp += n
      return b
    }
    case 3:
      return readAscii(readHead(minor))
    case 4: {
      if (depth > FAST_DEPTH) throw GIVE_UP
      const n = readHead(minor)
      if (n > rd.length - rp) throw GIVE_UP // each item takes a byte at least
      const a: Value[] = new Array(n)
      for (let i = 0; i < n; i++) a[i] = readValue(depth + 1)
      return a
    }
    case 5: {
      if (depth > FAST_DEPTH) throw GIVE_UP
      const n = readHead(minor)
      if (n > rd.length - rp) throw GIVE_UP
      const o: Record<string, Value> = {}
      for (let i = 0; i < n; i++) {
        if (rp >= rd.length) throw GIVE_UP
        const kb = rd[rp++]!
        if (kb >> 5 !== 3) throw GIVE_UP
        const k = readAscii(readHead(kb & 0x1f))
        if (k === '__proto__') throw GIVE_UP
        o[k] = readValue(depth + 1)
      }
      return o
    }
    case 7:
      if (ib === 0xf4) return false
      if (ib === 0xf5) return true
      if (ib === 0xf6) return null
      throw GIVE_UP
    default:
      throw GIVE_UP
  }
}

function fastDecode(bytes: Uint8Array): Value | typeof GIVE_UP {
  if (bytes.constructor !== Uint8Array || bytes.length === 0 || bytes.length > SCRATCH_BYTES) return GIVE_UP
  rd = bytes
  rp = 0
  let value: Value
  try {
    value = readValue(0)
  } catch (err) {
    if (err !== GIVE_UP) throw err
    return GIVE_UP
  } finally {
    rd = scratch
  }
  if (rp !== bytes.length) return GIVE_UP
  at = 0
  try {
    fast(value, 0)
  } catch (err) {
    if (err !== GIVE_UP) throw err
    return GIVE_UP
  }
  if (at !== bytes.length) return GIVE_UP
  for (let i = 0; i < at; i++) if (scratch[i] !== bytes[i]) return GIVE_UP
  return value
}

/** Decodes canonical bytes. Throws CodecError for malformed or non-canonical input. */
export function decode(bytes: Uint8Array): Value {
  const quick = fastDecode(bytes)
  if (quick !== GIVE_UP) return quick
  let value: Value
  try {
    value = cborDecode(bytes, decodeOptions) as Value
  } catch (err) {
    throw new CodecError('malformed', (err as Error).message)
  }
  let again: Uint8Array
  try {
    again = encode(value)
  } catch (err) {
    throw new CodecError('non-canonical', (err as Error).message)
  }
  if (!bytesEqual(again, bytes)) throw new CodecError('non-canonical', 'bytes differ from the canonical encoding')
  return value
}

/** Decodes and returns undefined instead of throwing — for hot paths that count rejections. */
export function tryDecode(bytes: Uint8Array): { ok: true; value: Value } | { ok: false; error: CodecError } {
  try {
    return { ok: true, value: decode(bytes) }
  } catch (err) {
    return { ok: false, error: err as CodecError }
  }
}
