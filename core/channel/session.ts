// The PacioFS channel (spec/channel.md), sans-I/O: frame bodies in, frame bodies out. A
// ChannelHandshake runs Noise XX with the identity payloads of core/channel/identity.ts and ends
// in a Channel, which seals and opens the frames after the handshake: a 4-byte big-endian length
// prefix, then the AEAD ciphertext of the message, with the prefix as associated data. The runtime
// (runtime/transport.ts) owns the socket, the timers and the policy checks (the pid it dialed, its
// own pid, acceptPeer); everything cryptographic is decided here.
import type { Crypto } from '../crypto.ts'
import { toHex } from '../bytes.ts'
import { assert, type Pid, type VolumeName } from '../types.ts'
import { CipherState, TAG_BYTES, type Aead } from './cipher.ts'
import { HandshakeState, x25519KeyPair } from './handshake.ts'
import {
  checkIdentity,
  decodeIdentity,
  decodeOpening,
  encodeIdentity,
  encodeOpening,
  prologueOf,
  staticKeyDigest,
  type Identity,
  type Intent,
} from './identity.ts'

/** Each direction replaces its key (Noise REKEY) after every this many frames: a key then
 *  protects a bounded number of frames, and a key taken from memory later does not open the
 *  frames before the last rekey. Both sides count the same frames, so they rekey in step. */
export const REKEY_INTERVAL_FRAMES = 2 ** 16
/** The length prefix of runtime/frames.ts, which is the associated data of every sealed frame. */
export const LENGTH_PREFIX_BYTES = 4
export { TAG_BYTES }

/** This node's side of every handshake: built once per static key (one signature). */
export interface LocalIdentity {
  readonly crypto: Crypto
  readonly staticSecret: Uint8Array
  readonly identity: Identity
  /** The ChaCha20-Poly1305 of this node's channels (noble unless the host plugs its own). */
  readonly aead?: Aead
}

export function localIdentity(crypto: Crypto, secretKey: Uint8Array, staticSecret: Uint8Array, volumes: readonly VolumeName[], aead?: Aead): LocalIdentity {
  const key = crypto.publicKey(secretKey)
  const staticPublic = x25519KeyPair(staticSecret).public
  const signature = crypto.sign(staticKeyDigest(crypto, staticPublic), secretKey)
  return { crypto, staticSecret, identity: { key, pid: toHex(key) as Pid, signature, volumes: [...volumes] }, ...(aead !== undefined ? { aead } : {}) }
}

/** Why a handshake was refused: 'malformed' (a frame of the wrong shape), 'bad' (a failed
 *  decryption or DH, or an identity whose signature does not cover the authenticated static key). */
export type HandshakeRejection = { reason: 'malformed' | 'bad'; detail: string }

export type HandshakeStep =
  | { type: 'send'; body: Uint8Array }
  /** Done: `send` (the initiator's message 3) must go out before any sealed frame. */
  | { type: 'open'; send: Uint8Array | undefined; peer: Identity; intent: Intent; channel: Channel; handshakeHash: Uint8Array }
  | ({ type: 'reject' } & HandshakeRejection)

export class ChannelHandshake {
  private hs: HandshakeState | undefined
  private intent: Intent | undefined
  private finished = false

  private constructor(
    private readonly local: LocalIdentity,
    private readonly ephemeralSecret: Uint8Array,
  ) {}

  /** The dialer's side; `body` is the first frame to send (the opening). */
  static initiate(local: LocalIdentity, intent: Intent, ephemeralSecret: Uint8Array): { handshake: ChannelHandshake; body: Uint8Array } {
    const h = new ChannelHandshake(local, ephemeralSecret)
    h.intent = intent
    h.hs = new HandshakeState({ initiator: true, prologue: prologueOf(intent), staticSecret: local.staticSecret, ephemeralSecret, ...(local.aead ? { aead: local.aead } : {}) })
    // Message 1 carries no payload: nothing in it is encrypted yet (Noise sends it in clear).
    return { handshake: h, body: encodeOpening(intent, h.hs.writeMessage(new Uint8Array(0))) }
  }

  /** The listener's side: it waits for the opening. */
  static respond(local: LocalIdentity, ephemeralSecret: Uint8Array): ChannelHandshake {
    return new ChannelHandshake(local, ephemeralSecret)
  }

  /** One handshake frame from the peer. After an 'open' or a 'reject' the handshake is over. */
  onFrame(body: Uint8Array): HandshakeStep {
    assert(!this.finished, 'a handshake frame after the handshake ended')
    const step = this.step(body)
    if (step.type !== 'send') this.finished = true
    return step
  }

  private step(body: Uint8Array): HandshakeStep {
    const reject = (reason: 'malformed' | 'bad', detail: string): HandshakeStep => ({ type: 'reject', reason, detail })
    if (this.hs === undefined) {
      // Responder, message 1: the opening names the prologue, which we adopt as sent.
      const opening = decodeOpening(body)
      if (opening === undefined) return reject('malformed', 'the first frame is not a paciofs/channel/v1 opening')
      this.intent = opening.intent
      this.hs = new HandshakeState({ initiator: false, prologue: prologueOf(opening.intent), staticSecret: this.local.staticSecret, ephemeralSecret: this.ephemeralSecret, ...(this.local.aead ? { aead: this.local.aead } : {}) })
      const read = this.hs.readMessage(opening.message1)
      if (!read.ok) return reject('bad', `message 1: ${read.why}`)
      return { type: 'send', body: this.hs.writeMessage(encodeIdentity(this.local.identity)) }
    }
    const hs = this.hs
    const read = hs.readMessage(body)
    if (!read.ok) return reject('bad', `message ${hs.initiator ? 2 : 3}: ${read.why}`)
    const peer = decodeIdentity(read.payload)
    if (peer === undefined) return reject('malformed', 'the identity payload has the wrong shape')
    if (!checkIdentity(this.local.crypto, peer, hs.remoteStatic!)) return reject('bad', 'the identity signature does not cover the static key')
    const send = hs.initiator ? hs.writeMessage(encodeIdentity(this.local.identity)) : undefined
    const [i2r, r2i] = hs.split()
    const channel = hs.initiator ? new Channel(i2r, r2i) : new Channel(r2i, i2r)
    return { type: 'open', send, peer, intent: this.intent!, channel, handshakeHash: hs.handshakeHash }
  }
}

/** The transport phase: one CipherState per direction, each with its own counter and rekeys. */
export class Channel {
  private sent = 0
  private received = 0
  private rekeys = 0

  constructor(
    private readonly tx: CipherState,
    private readonly rx: CipherState,
    private readonly rekeyIntervalFrames: number = REKEY_INTERVAL_FRAMES,
  ) {
    assert(Number.isSafeInteger(rekeyIntervalFrames) && rekeyIntervalFrames > 0, 'rekey interval is a positive integer')
  }

  get framesSent(): number {
    return this.sent
  }

  get framesReceived(): number {
    return this.received
  }

  /** How many times either direction rekeyed (for tests). */
  get rekeyCount(): number {
    return this.rekeys
  }

  /** The whole frame for the wire: length prefix (of the ciphertext), then the ciphertext. */
  seal(plaintext: Uint8Array): Uint8Array {
    const length = plaintext.length + TAG_BYTES
    const frame = new Uint8Array(LENGTH_PREFIX_BYTES + length)
    new DataView(frame.buffer).setUint32(0, length, false)
    this.tx.encryptWithAd(frame.subarray(0, LENGTH_PREFIX_BYTES), plaintext, frame.subarray(LENGTH_PREFIX_BYTES))
    this.sent++
    if (this.sent % this.rekeyIntervalFrames === 0) this.rekey(this.tx)
    return frame
  }

  /** The plaintext of the next frame body (the bytes after its length prefix), or undefined when
   *  it is not the frame the peer sealed next: changed, replayed, reordered, after a dropped one.
   *  `inPlace`: the caller gives up `body`: the plaintext is decrypted over its first bytes and
   *  returned as a view of it (no second buffer of the frame's size); after undefined, `body`
   *  holds garbage. The plaintext is returned only after its tag was checked, either way. */
  open(body: Uint8Array, inPlace = false): Uint8Array | undefined {
    const prefix = new Uint8Array(LENGTH_PREFIX_BYTES)
    new DataView(prefix.buffer).setUint32(0, body.length, false)
    const output = inPlace && body.length >= TAG_BYTES ? body.subarray(0, body.length - TAG_BYTES) : undefined
    const plaintext = this.rx.decryptWithAd(prefix, body, output)
    if (plaintext === undefined) return undefined
    this.received++
    if (this.received % this.rekeyIntervalFrames === 0) this.rekey(this.rx)
    return plaintext
  }

  private rekey(c: CipherState): void {
    c.rekey()
    this.rekeys++
  }
}
