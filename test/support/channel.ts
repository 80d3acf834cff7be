// A hand-driven channel client for tests that play a peer misbehaving at a chosen step of the
// handshake (runtime/transport.ts, spec/channel.md): it runs core/channel over a raw socket with
// a LocalIdentity the test may forge, and hands back the socket, the frames it received and,
// once the handshake is done, the Channel to seal frames with.
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import type { Crypto } from '../../core/crypto.ts'
import { toHex } from '../../core/bytes.ts'
import type { Pid, VolumeName } from '../../core/types.ts'
import { Channel, ChannelHandshake, localIdentity, staticKeyDigest, x25519KeyPair, type Identity, type Intent, type LocalIdentity } from '../../core/channel/index.ts'
import { FrameDecoder, encodeFrame } from '../../runtime/frames.ts'

export interface RawClient {
  socket: net.Socket
  /** Every frame body received, in order (handshake frames, then sealed ones). */
  frames: Uint8Array[]
  closed: Promise<void>
}

export function rawClient(host: string, port: number, track: (s: net.Socket) => void = () => {}): RawClient {
  const socket = net.connect({ host, port })
  track(socket)
  socket.on('error', () => {})
  const frames: Uint8Array[] = []
  const decoder = new FrameDecoder(1 << 30)
  socket.on('data', (chunk: Buffer) => decoder.push(chunk, (b) => frames.push(b)))
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  return { socket, frames, closed }
}

/** A LocalIdentity whose payload claims `claimedKey` but whose signature is made by `signer`
 *  over `signedStatic` (our real static key unless given): the forgeries a handshake must refuse. */
export function forgedIdentity(crypto: Crypto, opts: { claimedKey: Uint8Array; signer: Uint8Array; signedStatic?: Uint8Array; volumes?: VolumeName[] }): LocalIdentity {
  const staticSecret = new Uint8Array(randomBytes(32))
  const staticPublic = x25519KeyPair(staticSecret).public
  const signature = crypto.sign(staticKeyDigest(crypto, opts.signedStatic ?? staticPublic), opts.signer)
  const identity: Identity = { key: opts.claimedKey, pid: toHex(opts.claimedKey) as Pid, signature, volumes: opts.volumes ?? [] }
  return { crypto, staticSecret, identity }
}

export function honestIdentity(crypto: Crypto, secretKey: Uint8Array, volumes: VolumeName[] = []): LocalIdentity {
  return localIdentity(crypto, secretKey, new Uint8Array(randomBytes(32)), volumes)
}

/**
 * Dials `port` and runs the handshake as `local`. Resolves with the Channel once the node's
 * message 2 verified and our message 3 went out (`channel` undefined if message 2 did not verify
 * or the node closed first). The node's verdict on our message 3 shows in its stats.
 */
export async function handshakeClient(
  host: string,
  port: number,
  local: LocalIdentity,
  opts: { intent?: Intent; track?: (s: net.Socket) => void; after?: Uint8Array[] } = {},
): Promise<RawClient & { channel: Channel | undefined; peer: Identity | undefined }> {
  const c = rawClient(host, port, opts.track)
  const { handshake, body } = ChannelHandshake.initiate(local, opts.intent ?? { kind: 'node' }, new Uint8Array(randomBytes(32)))
  c.socket.write(encodeFrame(body))
  const first = await Promise.race([
    new Promise<Uint8Array>((resolve) => {
      const poll = (): void => (c.frames.length > 0 ? resolve(c.frames[0]!) : void setTimeout(poll, 2))
      poll()
    }),
    c.closed.then(() => undefined),
  ])
  if (first === undefined) return { ...c, channel: undefined, peer: undefined }
  const step = handshake.onFrame(first)
  if (step.type !== 'open') return { ...c, channel: undefined, peer: undefined }
  // Message 3 and whatever the test wants right behind it, in one write (one TCP segment).
  c.socket.write(Buffer.concat([encodeFrame(step.send!), ...(opts.after ?? [])]))
  return { ...c, channel: step.channel, peer: step.peer }
}
