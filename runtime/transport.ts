// The TCP transport between nodes: length-prefixed frames (runtime/frames.ts), a handshake in
// which each side proves its key, then opaque messages delivered as (from: Pid, bytes). It makes
// no protocol decisions: what the bytes mean is the core's business. spec/fotb.md assumes
// authenticated channels; this file is where that assumption is made true (see "Handshake").
//
// Handshake, on every connection, both sides at once (all messages canonical CBOR, core/codec.ts):
//   HELLO = ['paciofs/hello/v1', pid (33-byte key), nonce (32 random bytes), volumes (names)]
//   PROOF = ['paciofs/proof/v1', signature (64 bytes)]
//   signature = sign(sha256(encode(['paciofs/handshake/v1', theirNonce, myNonce, myKey, theirKey])))
// Each side sends HELLO at once, answers the peer's HELLO with PROOF, and treats the peer as
// authenticated when the peer's PROOF verifies under the key the peer claimed. Only then do frames
// reach onMessage. Why theirKey is in the signed transcript: without it a member M could relay
// A's nonce to B and B's signature back to A, and so be taken by A for B (an identity misbinding);
// with it, B's signature names M, not A, and A rejects it.
// Limit (see the final report of the runtime issue): frames after the handshake carry no MAC, so an
// attacker *on the network path* could still inject into an established TCP stream. Defending
// against that needs a session key (ECDH + per-frame MAC, or TLS); members that are not on the
// path cannot impersonate each other.
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import type { Crypto } from '../core/crypto.ts'
import { encode, tryDecode } from '../core/codec.ts'
import type { Value } from '../core/codec.ts'
import { toHex } from '../core/bytes.ts'
import { isPid, isVolumeName } from '../core/types.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { FrameDecoder, FrameError, encodeFrame, FRAME_BYTES_MAX_DEFAULT, FRAME_HEADER_BYTES } from './frames.ts'

export const HELLO_TAG = 'paciofs/hello/v1'
export const PROOF_TAG = 'paciofs/proof/v1'
export const HANDSHAKE_TAG = 'paciofs/handshake/v1'
export const NONCE_BYTES = 32
export const PUBLIC_KEY_BYTES = 33
export const SIGNATURE_BYTES = 64
/** Before a peer is authenticated it may not make us buffer more than this per connection. */
export const HANDSHAKE_FRAME_BYTES_MAX = 128 * 1024
/** A node serves a handful of volumes; 1024 names of ≤64 bytes fit in a handshake frame. */
export const HELLO_VOLUMES_MAX = 1024
export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 5_000
export const RECONNECT_MIN_MS_DEFAULT = 100
export const RECONNECT_MAX_MS_DEFAULT = 5_000
export const QUEUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024
/** Bounds the sockets (mostly unauthenticated ones) an inbound flood can make us hold. */
export const CONNECTIONS_MAX_DEFAULT = 1024

/** Every rejection the transport counts. Peer input never throws; it lands in one of these. */
export type TransportStat =
  | 'frame-oversized' // a length prefix above the limit (the handshake limit before authentication)
  | 'frame-malformed' // a handshake frame that is not canonical CBOR of the expected shape
  | 'handshake-bad' // bad signature, a key that is not a key, our own pid, or not the pid we dialed
  | 'handshake-timeout' // no complete handshake within handshakeTimeoutMs
  | 'peer-unknown' // an authenticated pid that acceptPeer refused
  | 'send-unknown-peer' // send() to a pid with no authenticated connection
  | 'send-queue-full' // send() refused because the peer's send queue is full
  | 'connection-duplicate' // a second connection to one peer, closed by the tie-break

export type PeerState = 'up' | 'down'

export interface TransportOptions {
  crypto: Crypto
  /** 32-byte secp256k1 secret key; the pid is the hex of its compressed public key. */
  secretKey: Uint8Array
  listen?: { host: string; port: number }
  /** Volumes this node serves, announced in HELLO. */
  volumes?: readonly VolumeName[]
  maxFrameBytes?: number
  /** Bytes waiting to go to one peer (in Node's socket buffer); must hold at least one max frame. */
  maxQueueBytes?: number
  handshakeTimeoutMs?: number
  reconnectMinMs?: number
  reconnectMaxMs?: number
  maxConnections?: number
  onMessage(from: Pid, bytes: Uint8Array): void
  onPeer?(pid: Pid, state: PeerState, volumes: readonly VolumeName[]): void
  /** Host policy (e.g. membership): false closes the connection of an authenticated pid. */
  acceptPeer?(pid: Pid): boolean
}

interface Hello {
  key: Uint8Array
  pid: Pid
  nonce: Uint8Array
  volumes: VolumeName[]
}

interface Dialer {
  host: string
  port: number
  expectPid: Pid | undefined
  attempts: number
  timer: NodeJS.Timeout | undefined
  /** Set while another connection to this pid won the tie-break: redial when that peer goes down. */
  parkedOn: Pid | undefined
}

interface Conn {
  socket: net.Socket
  dialer: Dialer | undefined
  decoder: FrameDecoder
  nonce: Uint8Array
  state: 'await-hello' | 'await-proof' | 'open' | 'closed'
  peer: Hello | undefined
  timer: NodeJS.Timeout | undefined
  closed: Promise<void>
}

export function encodeHello(key: Uint8Array, nonce: Uint8Array, volumes: readonly VolumeName[]): Uint8Array {
  return encode([HELLO_TAG, key, nonce, [...volumes]])
}

export function encodeProof(signature: Uint8Array): Uint8Array {
  return encode([PROOF_TAG, signature])
}

/** What the signer signs: it binds both nonces and both keys, in the signer's point of view. */
export function handshakeDigest(
  crypto: Crypto,
  theirNonce: Uint8Array,
  myNonce: Uint8Array,
  myKey: Uint8Array,
  theirKey: Uint8Array,
): Uint8Array {
  return crypto.sha256(encode([HANDSHAKE_TAG, theirNonce, myNonce, myKey, theirKey]))
}

function isBytes(value: Value | undefined, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length
}

/** The peer's HELLO, or undefined for anything else (never throws on peer input). */
export function decodeHello(body: Uint8Array): Hello | undefined {
  const decoded = tryDecode(body)
  if (!decoded.ok || !Array.isArray(decoded.value)) return undefined
  const [tag, key, nonce, volumes, ...rest] = decoded.value as readonly Value[]
  if (tag !== HELLO_TAG || rest.length !== 0) return undefined
  if (!isBytes(key, PUBLIC_KEY_BYTES) || !isBytes(nonce, NONCE_BYTES)) return undefined
  if (!Array.isArray(volumes) || volumes.length > HELLO_VOLUMES_MAX) return undefined
  const names = volumes as readonly Value[]
  if (!names.every((v): v is VolumeName => typeof v === 'string' && isVolumeName(v))) return undefined
  const pid = toHex(key)
  if (!isPid(pid)) return undefined
  return { key, pid, nonce, volumes: [...names] }
}

export function decodeProof(body: Uint8Array): Uint8Array | undefined {
  const decoded = tryDecode(body)
  if (!decoded.ok || !Array.isArray(decoded.value)) return undefined
  const [tag, signature, ...rest] = decoded.value as readonly Value[]
  if (tag !== PROOF_TAG || rest.length !== 0 || !isBytes(signature, SIGNATURE_BYTES)) return undefined
  return signature
}

export class Transport {
  readonly pid: Pid
  /** Rejection counters by name; a missing name means zero. */
  readonly stats = new Map<TransportStat, number>()
  private readonly opts: TransportOptions
  private readonly key: Uint8Array
  private readonly maxFrameBytes: number
  private readonly maxQueueBytes: number
  private readonly conns = new Set<Conn>()
  /** The one authenticated connection per peer that send() uses. */
  private readonly peers = new Map<Pid, Conn>()
  private readonly dialers = new Set<Dialer>()
  private server: net.Server | undefined
  private closing = false

  constructor(opts: TransportOptions) {
    this.opts = opts
    this.key = opts.crypto.publicKey(opts.secretKey)
    this.pid = toHex(this.key) as Pid
    this.maxFrameBytes = opts.maxFrameBytes ?? FRAME_BYTES_MAX_DEFAULT
    this.maxQueueBytes = opts.maxQueueBytes ?? Math.max(QUEUE_BYTES_MAX_DEFAULT, 2 * this.maxFrameBytes)
    if (this.maxQueueBytes < this.maxFrameBytes + FRAME_HEADER_BYTES) {
      throw new Error('assertion failed: maxQueueBytes must hold at least one frame of maxFrameBytes')
    }
  }

  /** Open sockets, authenticated or not (for status and tests). */
  get connectionCount(): number {
    return this.conns.size
  }

  /** Peers with an authenticated connection now. */
  connectedPeers(): Pid[] {
    return [...this.peers.keys()]
  }

  listen(): Promise<{ port: number }> {
    const where = this.opts.listen ?? { host: '127.0.0.1', port: 0 }
    const server = net.createServer((socket) => {
      if (this.closing) socket.destroy()
      else this.setup(socket, undefined)
    })
    server.maxConnections = this.opts.maxConnections ?? CONNECTIONS_MAX_DEFAULT
    this.server = server
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(where.port, where.host, () => {
        server.off('error', reject)
        server.on('error', () => {}) // accept errors (e.g. EMFILE) must not crash the node
        resolve({ port: (server.address() as net.AddressInfo).port })
      })
    })
  }

  /**
   * Keeps a connection to host:port up until close(): redials with exponential backoff
   * (reconnectMinMs doubling up to reconnectMaxMs), reset once a handshake succeeds. With
   * expectPid, a peer that proves another key is rejected as 'handshake-bad'.
   */
  connect(host: string, port: number, expectPid?: Pid): void {
    if (this.closing) return
    const dialer: Dialer = { host, port, expectPid, attempts: 0, timer: undefined, parkedOn: undefined }
    this.dialers.add(dialer)
    this.dial(dialer)
  }

  /**
   * Queues one message for an authenticated peer; false (and a counted rejection) if there is no
   * connection to it or its queue is full. Why refuse the new message rather than drop the oldest:
   * the caller learns synchronously that this message did not go, and what is already queued still
   * arrives as a contiguous, in-order stream; dropping from the middle of the queue would turn a
   * slow peer into silent gaps. The core tolerates loss (spec/fotb.md: channels may lose messages)
   * and repeats what matters (periodic HEADS), so refusing is safe.
   */
  send(to: Pid, bytes: Uint8Array): boolean {
    const conn = this.peers.get(to)
    if (conn === undefined || conn.state !== 'open') return this.reject('send-unknown-peer')
    const frame = encodeFrame(bytes, this.maxFrameBytes)
    // Node's socket buffer is the queue: writableLength is what the kernel has not taken yet.
    if (conn.socket.writableLength + frame.length > this.maxQueueBytes) return this.reject('send-queue-full')
    conn.socket.write(frame)
    return true
  }

  /** Stops listening and dialing, closes every connection; resolves when all sockets are closed. */
  async close(): Promise<void> {
    this.closing = true
    for (const d of this.dialers) clearTimeout(d.timer)
    this.dialers.clear()
    const closed = [...this.conns].map((c) => c.closed)
    for (const c of this.conns) c.socket.destroy()
    const server = this.server
    this.server = undefined
    await Promise.all([
      ...closed,
      new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve()))),
    ])
  }

  private reject(stat: TransportStat): false {
    this.stats.set(stat, (this.stats.get(stat) ?? 0) + 1)
    return false
  }

  private dial(dialer: Dialer): void {
    dialer.timer = undefined
    if (this.closing) return
    this.setup(net.connect({ host: dialer.host, port: dialer.port }), dialer)
  }

  private setup(socket: net.Socket, dialer: Dialer | undefined): void {
    let onClosed = (): void => {}
    const conn: Conn = {
      socket,
      dialer,
      decoder: new FrameDecoder(Math.min(HANDSHAKE_FRAME_BYTES_MAX, this.maxFrameBytes)),
      nonce: new Uint8Array(randomBytes(NONCE_BYTES)),
      state: 'await-hello',
      peer: undefined,
      timer: undefined,
      closed: new Promise<void>((resolve) => (onClosed = resolve)),
    }
    this.conns.add(conn)
    socket.setNoDelay(true) // messages are small and latency-bound (echoes); we batch ourselves
    socket.on('error', () => {}) // resets and refusals end in 'close', which is what we act on
    socket.on('close', () => {
      this.onClose(conn)
      onClosed()
    })
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk))
    conn.timer = setTimeout(() => this.drop(conn, 'handshake-timeout'), this.opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS_DEFAULT)
    socket.write(encodeFrame(encodeHello(this.key, conn.nonce, this.opts.volumes ?? [])))
  }

  private drop(conn: Conn, stat: TransportStat): void {
    if (conn.state === 'closed') return
    this.reject(stat)
    conn.state = 'closed'
    conn.socket.destroy()
  }

  private onData(conn: Conn, chunk: Uint8Array): void {
    if (conn.state === 'closed') return
    try {
      conn.decoder.push(chunk, (body) => this.onFrame(conn, body))
    } catch (err) {
      if (!(err instanceof FrameError)) throw err // our bug (or the host's onMessage): crash loudly
      this.drop(conn, 'frame-oversized')
    }
  }

  private onFrame(conn: Conn, body: Uint8Array): void {
    switch (conn.state) {
      case 'closed':
        return // frames coalesced after the one that closed the connection
      case 'await-hello': {
        const hello = decodeHello(body)
        if (hello === undefined) return this.drop(conn, 'frame-malformed')
        if (hello.pid === this.pid) return this.drop(conn, 'handshake-bad')
        const expected = conn.dialer?.expectPid
        if (expected !== undefined && hello.pid !== expected) return this.drop(conn, 'handshake-bad')
        conn.peer = hello
        conn.state = 'await-proof'
        const digest = handshakeDigest(this.opts.crypto, hello.nonce, conn.nonce, this.key, hello.key)
        conn.socket.write(encodeFrame(encodeProof(this.opts.crypto.sign(digest, this.opts.secretKey))))
        return
      }
      case 'await-proof': {
        const peer = conn.peer!
        const signature = decodeProof(body)
        if (signature === undefined) return this.drop(conn, 'frame-malformed')
        const digest = handshakeDigest(this.opts.crypto, conn.nonce, peer.nonce, peer.key, this.key)
        if (!this.opts.crypto.verify(signature, digest, peer.key)) return this.drop(conn, 'handshake-bad')
        if (this.opts.acceptPeer !== undefined && !this.opts.acceptPeer(peer.pid)) return this.drop(conn, 'peer-unknown')
        clearTimeout(conn.timer)
        conn.state = 'open'
        conn.decoder.maxFrameBytes = this.maxFrameBytes
        if (conn.dialer !== undefined) conn.dialer.attempts = 0
        return this.register(conn, peer)
      }
      case 'open':
        return this.opts.onMessage(conn.peer!.pid, body)
    }
  }

  /**
   * One connection per peer. When both sides dial each other, both must keep the *same* one, so
   * the tie-break depends only on the pair: keep the connection dialed by the smaller pid. Two
   * connections dialed by the same side mean the old one is stale (the peer redialed): keep the new.
   */
  private register(conn: Conn, peer: Hello): void {
    const existing = this.peers.get(peer.pid)
    if (existing === undefined) {
      this.peers.set(peer.pid, conn)
      this.opts.onPeer?.(peer.pid, 'up', peer.volumes)
      return
    }
    const dialedBy = (c: Conn): Pid => (c.dialer !== undefined ? this.pid : peer.pid)
    const keepNew = dialedBy(existing) === dialedBy(conn) || dialedBy(conn) < dialedBy(existing)
    const loser = keepNew ? existing : conn
    if (keepNew) this.peers.set(peer.pid, conn) // the peer stays up: no down/up events
    if (loser.dialer !== undefined) loser.dialer.parkedOn = peer.pid
    this.drop(loser, 'connection-duplicate')
  }

  private onClose(conn: Conn): void {
    conn.state = 'closed'
    clearTimeout(conn.timer)
    this.conns.delete(conn)
    const pid = conn.peer?.pid
    if (pid !== undefined && this.peers.get(pid) === conn) {
      this.peers.delete(pid)
      this.opts.onPeer?.(pid, 'down', conn.peer!.volumes)
      for (const d of this.dialers) {
        if (d.parkedOn === pid && d.timer === undefined) {
          d.parkedOn = undefined
          this.redial(d)
        }
      }
    }
    const dialer = conn.dialer
    if (dialer !== undefined && dialer.parkedOn === undefined && this.dialers.has(dialer)) this.redial(dialer)
  }

  private redial(dialer: Dialer): void {
    if (this.closing || dialer.timer !== undefined) return
    const min = this.opts.reconnectMinMs ?? RECONNECT_MIN_MS_DEFAULT
    const max = this.opts.reconnectMaxMs ?? RECONNECT_MAX_MS_DEFAULT
    const delay = Math.min(max, min * 2 ** Math.min(dialer.attempts, 30))
    dialer.attempts++
    dialer.timer = setTimeout(() => this.dial(dialer), delay)
  }
}

