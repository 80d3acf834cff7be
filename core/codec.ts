// The canonical encoding of everything the project hashes, signs, sends or persists.
//
// Why CBOR (RFC 8949 §4.2.1 "core deterministic encoding") through cborg: it is a standard
// with a written canonical form (shortest integer and length heads, definite lengths, map keys
// sorted by their encoded bytes), it carries raw byte strings without base64 overhead (hashes,
// signatures, chunk data), and cborg is small, dependency-free, maintained and has a strict
// decoding mode. We add the two rules cborg does not enforce on decode (key order, and no
// floats/undefined/bigints), by re-encoding the decoded value and requiring identical bytes:
// one value has exactly one byte string, and any other byte string is rejected.
import { encode as cborEncode, decode as cborDecode, rfc8949EncodeOptions } from 'cborg'
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

function rejectType(name: string) {
  return (): null => {
    throw new CodecError('unsupported-value', `${name} is not encodable`)
  }
}

const encodeOptions: EncodeOptions = {
  ...rfc8949EncodeOptions,
  typeEncoders: {
    number: rejectNonInteger as never,
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

export function encode(value: Value): Uint8Array {
  try {
    return cborEncode(value, encodeOptions)
  } catch (err) {
    if (err instanceof CodecError) throw err
    throw new CodecError('unsupported-value', (err as Error).message)
  }
}

/** Decodes canonical bytes. Throws CodecError for malformed or non-canonical input. */
export function decode(bytes: Uint8Array): Value {
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
