// The TCP transport between nodes, and between a client and the node it mounts from:
// length-prefixed frames (runtime/frames.ts) carrying an encrypted, authenticated channel
// (core/channel, spec/channel.md), then opaque messages delivered as (from: Pid, bytes). It makes
// no protocol decisions: what the bytes mean is the core's business. spec/fotb.md assumes
// authenticated channels; this file is where that assumption is made true.
//
// Every connection runs Noise_XX_25519_ChaChaPoly_SHA256: the dialer sends its opening (the
// prologue: protocol, version, and the volume a client mounts) with its ephemeral X25519 key, the
// listener answers with its ephemeral and static keys and its identity payload (secp256k1 pid,
// a signature by that key over its static X25519 key, the volumes it serves), the dialer answers
// with its own. Each side checks the signature against the static key the handshake proved, then
// the policy here: not our own pid, the pid we dialed, acceptPeer. Only then do frames reach
// onMessage, each one a ChaCha20-Poly1305 ciphertext under a per-direction key with a counter
// nonce and the length prefix as associated data: a changed, injected, replayed, reordered or
// dropped frame fails its tag, and the connection is closed and counted ('frame-auth-failed').
// The ephemeral keys give forward secrecy: a node key stolen later does not open recorded traffic.
// Randomness (the static key of this transport, one ephemeral key per connection) comes from
// node:crypto here, so core/channel stays deterministic.
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import type { Crypto } from '../core/crypto.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import {
  Channel,
  ChannelHandshake,
  DH_BYTES,
  LENGTH_PREFIX_BYTES,
  TAG_BYTES,
  localIdentity,
  type Aead,
  type Identity,
  type Intent,
  type LocalIdentity,
} from '../core/channel/index.ts'
import { channelAead } from './node-crypto.ts'
import { FrameDecoder, FrameError, encodeFrame, FRAME_BYTES_MAX_DEFAULT, FRAME_HEADER_BYTES } from './frames.ts'

/** Before a peer is authenticated it may not make us buffer more than this per connection. */
export const HANDSHAKE_FRAME_BYTES_MAX = 128 * 1024
export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 5_000
export const RECONNECT_MIN_MS_DEFAULT = 100
export const RECONNECT_MAX_MS_DEFAULT = 5_000
export const QUEUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024
/** Bounds the sockets (mostly unauthenticated ones) an inbound flood can make us hold. */
export const CONNECTIONS_MAX_DEFAULT = 1024
/** A sealed frame is its message plus the AEAD tag: the wire limit after authentication. */
export const SEALED_OVERHEAD_BYTES = TAG_BYTES

if (LENGTH_PREFIX_BYTES !== FRAME_HEADER_BYTES) throw new Error('assertion failed: core/channel seals the length prefix of runtime/frames.ts')

/** Every rejection the transport counts. Peer input never throws; it lands in one of these. */
export type TransportStat =
  | 'frame-oversized' // a length prefix above the limit (the handshake limit before authentication)
  | 'frame-malformed' // a handshake frame of the wrong shape (no opening, no identity payload)
  | 'handshake-bad' // a failed decryption or DH, a signature over another static key, our own pid, not the pid we dialed
  | 'handshake-timeout' // no complete handshake within handshakeTimeoutMs
  | 'frame-auth-failed' // after the handshake: a frame whose tag fails (changed, injected, replayed, reordered, after a drop)
  | 'peer-unknown' // an authenticated pid that acceptPeer refused
  | 'send-unknown-peer' // send() to a pid with no authenticated connection
  | 'send-queue-full' // send() refused because the peer's send queue is full
  | 'connection-duplicate' // a second connection to one peer, closed by the tie-break

export type PeerState = 'up' | 'down'

export interface TransportOptions {
  crypto: Crypto
  /** The channel's ChaCha20-Poly1305; OpenSSL's through our binding (channelAead: nativeAead, or
   *  nodeAead when the binding is not built) unless a test passes another. */
  aead?: Aead
  /** 32-byte secp256k1 secret key; the pid is the hex of its compressed public key. */
  secretKey: Uint8Array
  listen?: { host: string; port: number }
  /** Volumes this node serves, announced in its identity payload. */
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

export interface ConnectOptions {
  /** A client connecting for one volume: it goes into the prologue (spec/channel.md). */
  volume?: VolumeName
}

interface Dialer {
  host: string
  port: number
  expectPid: Pid | undefined
  intent: Intent
  attempts: number
  timer: NodeJS.Timeout | undefined
  /** Set while another connection to this pid won the tie-break: redial when that peer goes down. */
  parkedOn: Pid | undefined
}

interface Conn {
  socket: net.Socket
  dialer: Dialer | undefined
  decoder: FrameDecoder
  state: 'handshake' | 'open' | 'closed'
  handshake: ChannelHandshake
  channel: Channel | undefined
  peer: Identity | undefined
  intent: Intent | undefined
  timer: NodeJS.Timeout | undefined
  closed: Promise<void>
}

export class Transport {
  readonly pid: Pid
  /** Rejection counters by name; a missing name means zero. */
  readonly stats = new Map<TransportStat, number>()
  private readonly opts: TransportOptions
  /** Our identity payload and X25519 static key, signed once for this transport's lifetime. */
  private readonly local: LocalIdentity
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
    // A fresh static X25519 key per transport: nothing persists it, since the identity payload
    // binds whatever key we use to the pid; a restart simply signs a new one.
    this.local = localIdentity(opts.crypto, opts.secretKey, new Uint8Array(randomBytes(DH_BYTES)), opts.volumes ?? [], opts.aead ?? channelAead)
    this.pid = this.local.identity.pid
    this.maxFrameBytes = opts.maxFrameBytes ?? FRAME_BYTES_MAX_DEFAULT
    this.maxQueueBytes = opts.maxQueueBytes ?? Math.max(QUEUE_BYTES_MAX_DEFAULT, 2 * this.maxFrameBytes)
    if (this.maxQueueBytes < this.maxFrameBytes + FRAME_HEADER_BYTES + SEALED_OVERHEAD_BYTES) {
      throw new Error('assertion failed: maxQueueBytes must hold at least one frame of maxFrameBytes')
    }
  }

  /** Open sockets, authenticated or not (for status and tests). */
  get connectionCount(): number {
    return this.conns.size
  }

  /** What the peer's connection was opened for (its prologue): a node, or a client of one volume. */
  channelOf(pid: Pid): Intent | undefined {
    return this.peers.get(pid)?.intent
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
   * expectPid, a peer that proves another key is rejected as 'handshake-bad'. With a volume, the
   * connection is a client's for that volume (the prologue says so); without, a node's.
   */
  connect(host: string, port: number, expectPid?: Pid, opts: ConnectOptions = {}): void {
    if (this.closing) return
    const intent: Intent = opts.volume !== undefined ? { kind: 'client', volume: opts.volume } : { kind: 'node' }
    const dialer: Dialer = { host, port, expectPid, intent, attempts: 0, timer: undefined, parkedOn: undefined }
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
    if (bytes.length > this.maxFrameBytes) {
      // The sender's own bug: the host must not hand the transport messages larger than the limit.
      throw new Error(`assertion failed: message of ${bytes.length} bytes exceeds the frame limit of ${this.maxFrameBytes}`)
    }
    const frame = conn.channel!.seal(bytes)
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
    const ephemeral = new Uint8Array(randomBytes(DH_BYTES))
    const opening = dialer !== undefined ? ChannelHandshake.initiate(this.local, dialer.intent, ephemeral) : undefined
    const conn: Conn = {
      socket,
      dialer,
      decoder: new FrameDecoder(HANDSHAKE_FRAME_BYTES_MAX),
      state: 'handshake',
      handshake: opening?.handshake ?? ChannelHandshake.respond(this.local, ephemeral),
      channel: undefined,
      peer: undefined,
      intent: undefined,
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
    if (opening !== undefined) socket.write(encodeFrame(opening.body))
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
      case 'handshake': {
        const step = conn.handshake.onFrame(body)
        if (step.type === 'reject') return this.drop(conn, step.reason === 'malformed' ? 'frame-malformed' : 'handshake-bad')
        if (step.type === 'send') {
          conn.socket.write(encodeFrame(step.body))
          return
        }
        const peer = step.peer
        // Policy before our message 3: a dialer that reached the wrong node tells it nothing of us.
        if (peer.pid === this.pid) return this.drop(conn, 'handshake-bad')
        const expected = conn.dialer?.expectPid
        if (expected !== undefined && peer.pid !== expected) return this.drop(conn, 'handshake-bad')
        if (this.opts.acceptPeer !== undefined && !this.opts.acceptPeer(peer.pid)) return this.drop(conn, 'peer-unknown')
        if (step.send !== undefined) conn.socket.write(encodeFrame(step.send))
        clearTimeout(conn.timer)
        conn.state = 'open'
        conn.peer = peer
        conn.intent = step.intent
        conn.channel = step.channel
        conn.decoder.maxFrameBytes = this.maxFrameBytes + SEALED_OVERHEAD_BYTES
        if (conn.dialer !== undefined) conn.dialer.attempts = 0
        return this.register(conn, peer)
      }
      case 'open': {
        // In place: the decoder's bodies are fresh buffers of ours (runtime/frames.ts).
        const plaintext = conn.channel!.open(body, true)
        if (plaintext === undefined) return this.drop(conn, 'frame-auth-failed')
        return this.opts.onMessage(conn.peer!.pid, plaintext)
      }
    }
  }

  /**
   * One connection per peer. When both sides dial each other, both must keep the *same* one, so
   * the tie-break depends only on the pair: keep the connection dialed by the smaller pid. Two
   * connections dialed by the same side mean the old one is stale (the peer redialed): keep the new.
   */
  private register(conn: Conn, peer: Identity): void {
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

