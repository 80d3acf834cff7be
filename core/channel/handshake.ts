// The Noise HandshakeState (Noise spec rev 34, section 5.3) for the one pattern we use, XX:
//   -> e
//   <- e, ee, s, es
//   -> s, se
// with X25519 (spec 12.1). The ephemeral and static secrets are inputs: the core draws no
// randomness, so a test (or the simulator) can replay a handshake byte for byte, and the runtime
// passes 32 bytes from node:crypto. Payloads are opaque here; core/channel/session.ts gives them
// their meaning (the node's identity).
import { x25519 } from '@noble/curves/ed25519.js'
import { concatBytes } from '../bytes.ts'
import { assert } from '../types.ts'
import { CipherState, TAG_BYTES, type Aead } from './cipher.ts'
import { SymmetricState } from './symmetric.ts'

export const PROTOCOL_NAME = 'Noise_XX_25519_ChaChaPoly_SHA256'
export const DH_BYTES = 32

type Token = 'e' | 's' | 'ee' | 'es' | 'se'
/** XX's three messages; even indexes are the initiator's. */
const XX: readonly (readonly Token[])[] = [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']]

export interface KeyPair {
  readonly secret: Uint8Array
  readonly public: Uint8Array
}

export function x25519KeyPair(secret: Uint8Array): KeyPair {
  assert(secret.length === DH_BYTES, 'an X25519 secret is 32 bytes')
  return { secret, public: x25519.getPublicKey(secret) }
}

/** X25519, or undefined for a public key of low order (an all-zero result, which noble refuses):
 *  such a key is a peer's attempt to force a known shared secret. */
function dh(secret: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  try {
    return x25519.getSharedSecret(secret, publicKey)
  } catch {
    return undefined
  }
}

export type ReadResult = { ok: true; payload: Uint8Array } | { ok: false; why: 'short' | 'decrypt' | 'dh' }

export class HandshakeState {
  readonly initiator: boolean
  private readonly ss: SymmetricState
  private readonly s: KeyPair
  private readonly e: KeyPair
  private re: Uint8Array | undefined
  private rs: Uint8Array | undefined
  private index = 0
  private failed = false

  constructor(opts: { initiator: boolean; prologue: Uint8Array; staticSecret: Uint8Array; ephemeralSecret: Uint8Array; protocolName?: string; aead?: Aead }) {
    this.initiator = opts.initiator
    this.ss = new SymmetricState(opts.protocolName ?? PROTOCOL_NAME, opts.aead)
    this.ss.mixHash(opts.prologue)
    this.s = x25519KeyPair(opts.staticSecret)
    this.e = x25519KeyPair(opts.ephemeralSecret)
  }

  /** The peer's static X25519 key, once its `s` token was read. */
  get remoteStatic(): Uint8Array | undefined {
    return this.rs
  }

  get localStatic(): Uint8Array {
    return this.s.public
  }

  get handshakeHash(): Uint8Array {
    return this.ss.handshakeHash
  }

  get done(): boolean {
    return this.index === XX.length
  }

  /** Whose turn it is: true when this side writes the next message. */
  get myTurn(): boolean {
    return !this.done && !this.failed && (this.index % 2 === 0) === this.initiator
  }

  writeMessage(payload: Uint8Array): Uint8Array {
    assert(this.myTurn, 'writeMessage out of turn')
    const parts: Uint8Array[] = []
    for (const token of XX[this.index]!) {
      if (token === 'e') {
        parts.push(this.e.public)
        this.ss.mixHash(this.e.public)
      } else if (token === 's') {
        parts.push(this.ss.encryptAndHash(this.s.public))
      } else {
        const shared = this.dhFor(token)
        // Our own side of a DH cannot fail: the peer's keys were checked when they were read.
        assert(shared !== undefined, 'DH with a key that was checked on reading')
        this.ss.mixKey(shared)
      }
    }
    parts.push(this.ss.encryptAndHash(payload))
    this.index++
    return concatBytes(...parts)
  }

  /** Reads the peer's next message; any failure is final (the handshake cannot resume). */
  readMessage(message: Uint8Array): ReadResult {
    assert(!this.done && !this.failed && !this.myTurn, 'readMessage out of turn')
    const fail = (why: 'short' | 'decrypt' | 'dh'): ReadResult => {
      this.failed = true
      return { ok: false, why }
    }
    let at = 0
    for (const token of XX[this.index]!) {
      if (token === 'e') {
        if (message.length - at < DH_BYTES) return fail('short')
        this.re = message.slice(at, at + DH_BYTES)
        at += DH_BYTES
        this.ss.mixHash(this.re)
      } else if (token === 's') {
        const length = DH_BYTES + (this.ss.hasKey() ? TAG_BYTES : 0)
        if (message.length - at < length) return fail('short')
        const rs = this.ss.decryptAndHash(message.subarray(at, at + length))
        if (rs === undefined) return fail('decrypt')
        this.rs = rs.slice()
        at += length
      } else {
        const shared = this.dhFor(token)
        if (shared === undefined) return fail('dh')
        this.ss.mixKey(shared)
      }
    }
    const payload = this.ss.decryptAndHash(message.subarray(at))
    if (payload === undefined) return fail('decrypt')
    this.index++
    return { ok: true, payload }
  }

  /** After the last message: [initiator -> responder, responder -> initiator]. */
  split(): [CipherState, CipherState] {
    assert(this.done, 'split before the handshake is done')
    return this.ss.split()
  }

  /** ee, es, se as the initiator and the responder each compute them (spec 5.3). */
  private dhFor(token: 'ee' | 'es' | 'se'): Uint8Array | undefined {
    const re = this.re
    const rs = this.rs
    switch (token) {
      case 'ee':
        return re === undefined ? undefined : dh(this.e.secret, re)
      case 'es':
        if (this.initiator) return rs === undefined ? undefined : dh(this.e.secret, rs)
        return re === undefined ? undefined : dh(this.s.secret, re)
      case 'se':
        if (this.initiator) return re === undefined ? undefined : dh(this.s.secret, re)
        return rs === undefined ? undefined : dh(this.e.secret, rs)
    }
  }
}
