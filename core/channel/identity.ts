// What the channel's handshake carries besides Noise's own keys (spec/channel.md "Payloads"):
// the opening (its first frame, whose first three fields are the prologue), and the identity
// payload that binds a node's X25519 static key to its secp256k1 pid, as libp2p's noise does.
// Decoders never throw on peer input; they return undefined.
import { encode, tryDecode, type Value } from '../codec.ts'
import type { Crypto } from '../crypto.ts'
import { toHex } from '../bytes.ts'
import { isPid, isVolumeName, type Pid, type VolumeName } from '../types.ts'
import { DH_BYTES } from './handshake.ts'
import { PID_BYTES, SIG_BYTES } from '../ledger/format.ts'

export const CHANNEL_TAG = 'paciofs/channel/v1'
export const IDENTITY_TAG = 'paciofs/identity/v1'
export const STATIC_KEY_TAG = 'paciofs/channel-static/v1'
/** A node id (compressed secp256k1 key) and a signature, as the ledger has them. */
export const PUBLIC_KEY_BYTES = PID_BYTES
export const SIGNATURE_BYTES = SIG_BYTES
/** A node serves a handful of volumes; 1024 names of at most 64 bytes fit in a handshake frame. */
export const IDENTITY_VOLUMES_MAX = 1024

/** What a connection is for: node-to-node ('node', no volume) or a client mounting one volume. */
export type Intent = { readonly kind: 'node' } | { readonly kind: 'client'; readonly volume: VolumeName }

/** The prologue both sides mix into the handshake hash first: protocol, version and intent. */
export function prologueOf(intent: Intent): Uint8Array {
  return encode(intentValue(intent))
}

function intentValue(intent: Intent): Value[] {
  return [CHANNEL_TAG, intent.kind, intent.kind === 'client' ? intent.volume : null]
}

/** The initiator's first frame: the prologue's fields in clear, then Noise message 1 (its
 *  ephemeral key). The responder learns the prologue from it; were it changed on the way, the
 *  two handshake hashes differ and message 2 fails to decrypt at the initiator. */
export function encodeOpening(intent: Intent, message1: Uint8Array): Uint8Array {
  return encode([...intentValue(intent), message1])
}

export function decodeOpening(body: Uint8Array): { intent: Intent; message1: Uint8Array } | undefined {
  const d = tryDecode(body)
  if (!d.ok || !Array.isArray(d.value)) return undefined
  const [tag, kind, volume, message1, ...rest] = d.value as readonly Value[]
  if (tag !== CHANNEL_TAG || rest.length !== 0) return undefined
  if (!(message1 instanceof Uint8Array) || message1.length !== DH_BYTES) return undefined
  if (kind === 'node' && volume === null) return { intent: { kind: 'node' }, message1 }
  if (kind === 'client' && typeof volume === 'string' && isVolumeName(volume)) return { intent: { kind: 'client', volume }, message1 }
  return undefined
}

/** What a node signs once per static key: a tagged hash of that X25519 key (libp2p signs
 *  "noise-libp2p-static-key:" || key the same way). */
export function staticKeyDigest(crypto: Crypto, staticPublic: Uint8Array): Uint8Array {
  return crypto.sha256(encode([STATIC_KEY_TAG, staticPublic]))
}

export interface Identity {
  /** 33-byte compressed secp256k1 key; the pid is its hex. */
  readonly key: Uint8Array
  readonly pid: Pid
  /** Signature by `key` over staticKeyDigest(the sender's X25519 static key). */
  readonly signature: Uint8Array
  readonly volumes: readonly VolumeName[]
}

export function encodeIdentity(id: Identity): Uint8Array {
  return encode([IDENTITY_TAG, id.key, id.signature, [...id.volumes]])
}

/** The shape only; that the signature holds for the static key is checkIdentity's business. */
export function decodeIdentity(payload: Uint8Array): Identity | undefined {
  const d = tryDecode(payload)
  if (!d.ok || !Array.isArray(d.value)) return undefined
  const [tag, key, signature, volumes, ...rest] = d.value as readonly Value[]
  if (tag !== IDENTITY_TAG || rest.length !== 0) return undefined
  if (!(key instanceof Uint8Array) || key.length !== PUBLIC_KEY_BYTES) return undefined
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) return undefined
  if (!Array.isArray(volumes) || volumes.length > IDENTITY_VOLUMES_MAX) return undefined
  const names = volumes as readonly Value[]
  if (!names.every((v): v is VolumeName => typeof v === 'string' && isVolumeName(v))) return undefined
  const pid = toHex(key)
  if (!isPid(pid)) return undefined
  return { key, pid, signature, volumes: [...names] }
}

/** True when the identity's key signed the static key the handshake authenticated. A key that
 *  is no curve point, or a signature over another static key, is false (never a throw). */
export function checkIdentity(crypto: Crypto, id: Identity, remoteStatic: Uint8Array): boolean {
  return crypto.verify(id.signature, staticKeyDigest(crypto, remoteStatic), id.key)
}
