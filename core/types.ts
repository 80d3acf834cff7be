// Domain types shared by every layer of the core. Strings are branded so that a Pid can never
// be passed where an EntryHash is expected; all of them are lowercase hex or plain names so they
// can key a Map and appear in traces as they are.

import { toHex } from './bytes.ts'

declare const brand: unique symbol
type Brand<T, B extends string> = T & { readonly [brand]: B }

/** A node's identity: lowercase hex of its 33-byte compressed secp256k1 public key. */
export type Pid = Brand<string, 'Pid'>
/** Position of an entry in its author's chain, starting at 1. */
export type Seq = number
/** Position of an applied record in a node's log of one volume, starting at 1 (0 = empty). */
export type Epoch = number
/** Lowercase hex of a 32-byte SHA-256 digest of an entry header. */
export type EntryHash = Brand<string, 'EntryHash'>
/** Lowercase hex of a 32-byte SHA-256 digest of a content chunk. */
export type ChunkHash = Brand<string, 'ChunkHash'>
/** Lowercase hex of the salted hash of a plain operation (what goes into the ledger). */
export type ObfHash = Brand<string, 'ObfHash'>
/** A volume's name: 1–64 bytes of [A-Za-z0-9._-]. */
export type VolumeName = Brand<string, 'VolumeName'>
/** Virtual or real time in milliseconds, always handed to the core as an input. */
export type TimeMs = number

export const ZERO_HASH = '0'.repeat(64) as EntryHash

const VOLUME_NAME = /^[A-Za-z0-9._-]{1,64}$/
export function isVolumeName(name: string): name is VolumeName {
  return VOLUME_NAME.test(name)
}

const HEX_33 = /^0[23][0-9a-f]{64}$/
export function isPid(text: string): text is Pid {
  return HEX_33.test(text)
}

/** The pid whose key these 33 bytes are (`isPid(toHex(bytes))`, without the regex: the hex of
 *  any bytes is lowercase hex, so only the prefix byte decides; parsing a HEADS message asks it
 *  of every head). */
export function pidOfBytes(bytes: Uint8Array): Pid | undefined {
  return bytes.length === 33 && (bytes[0] === 2 || bytes[0] === 3) ? (toHex(bytes) as Pid) : undefined
}

const HEX_32 = /^[0-9a-f]{64}$/
export function isHash32(text: string): boolean {
  return HEX_32.test(text)
}

/** Our own bug, not a peer's: fail loudly (TigerBeetle style). Peer input never reaches this. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`)
}
