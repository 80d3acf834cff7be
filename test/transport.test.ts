// The TCP transport: frames survive any TCP chunking, oversized lengths are refused before any
// buffering, only peers that complete the Noise handshake with a valid identity get their frames
// delivered (with `from` = their pid),
// bad clients are dropped and counted while good ones are served, dialers reconnect, order holds.
// Loopback only; every test closes what it opens; every wait is bounded.
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto } from '../core/crypto.ts'
import { encode, decode } from '../core/codec.ts'
import { utf8 } from '../core/bytes.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { FrameDecoder, FrameError, encodeFrame } from '../runtime/frames.ts'
import { Transport, HANDSHAKE_FRAME_BYTES_MAX, SEALED_OVERHEAD_BYTES } from '../runtime/transport.ts'
import type { TransportOptions, TransportStat } from '../runtime/transport.ts'
import { forgedIdentity, handshakeClient, honestIdentity } from './support/channel.ts'

const HOST = '127.0.0.1'

function secretKey(seed: number): Uint8Array {
  return nobleCrypto.sha256(utf8(`transport-test-key-${seed}`))
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

interface Node {
  t: Transport
  inbox: { from: Pid; bytes: Uint8Array }[]
  events: string[]
  /** Volumes announced by each peer that came up, in order. */
  volumes: string[][]
}

const open: Transport[] = []
const sockets: net.Socket[] = []

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(open.splice(0).map((t) => t.close()))
})

function node(seed: number, extra: Partial<TransportOptions> = {}): Node {
  const inbox: Node['inbox'] = []
  const events: string[] = []
  const volumes: string[][] = []
  const t = new Transport({
    crypto: nobleCrypto,
    secretKey: secretKey(seed),
    listen: { host: HOST, port: 0 },
    reconnectMinMs: 10,
    reconnectMaxMs: 100,
    onMessage: (from, bytes) => inbox.push({ from, bytes }),
    onPeer: (pid, state, announced) => {
      events.push(`${state} ${pid}`)
      if (state === 'up') volumes.push([...announced])
    },
    ...extra,
  })
  open.push(t)
  return { t, inbox, events, volumes }
}

const stat = (t: Transport, name: TransportStat): number => t.stats.get(name) ?? 0

/** A hand-driven client, to play a peer that misbehaves at a chosen step. */
function rawClient(port: number): { socket: net.Socket; frames: Uint8Array[]; closed: Promise<void> } {
  const socket = net.connect({ host: HOST, port })
  sockets.push(socket)
  socket.on('error', () => {})
  const frames: Uint8Array[] = []
  const decoder = new FrameDecoder()
  socket.on('data', (chunk: Buffer) => decoder.push(chunk, (b) => frames.push(b)))
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  return { socket, frames, closed }
}

/** Checks that a well-behaved client still gets through, both ways. */
async function goodClientWorks(server: Node, port: number, seed: number): Promise<void> {
  const client = node(seed, { listen: undefined })
  client.t.connect(HOST, port, server.t.pid)
  await waitFor('good client up', () => client.t.connectedPeers().includes(server.t.pid))
  await waitFor('server sees client', () => server.t.connectedPeers().includes(client.t.pid))
  expect(client.t.send(server.t.pid, utf8('ping'))).toBe(true)
  expect(server.t.send(client.t.pid, utf8('pong'))).toBe(true)
  await waitFor('ping', () => server.inbox.some((m) => m.from === client.t.pid))
  await waitFor('pong', () => client.inbox.some((m) => m.from === server.t.pid))
}
async function listening(n: Node): Promise<number> {
  return (await n.t.listen()).port
}

describe('frames', () => {
  it('random frames split into random chunks reassemble exactly, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
        (bodies, cuts) => {
          const stream = Buffer.concat(bodies.map((b) => encodeFrame(b, 1024)))
          const decoder = new FrameDecoder(1024)
          const out: Uint8Array[] = []
          let offset = 0
          for (let i = 0; offset < stream.length; i++) {
            const size = cuts[i % cuts.length]!
            const chunk = stream.subarray(offset, offset + size)
            decoder.push(chunk, (b) => out.push(b))
            chunk.fill(0xee) // the decoder must not keep views into chunks it was handed
            offset += size
          }
          expect(out.map((b) => [...b])).toEqual(bodies.map((b) => [...b]))
          expect(decoder.bufferedBytes).toBe(0)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('an oversized length prefix is rejected at its 4th byte, with nothing buffered', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1 << 20 }),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        fc.integer({ min: 1, max: 4 }),
        fc.uint8Array({ maxLength: 50 }),
        (max, excess, split, good) => {
          const length = Math.min(0xffff_ffff, max + excess)
          const header = new Uint8Array(4)
          new DataView(header.buffer).setUint32(0, length, false)
          const decoder = new FrameDecoder(max)
          const out: Uint8Array[] = []
          const goodFrame = good.length <= max ? encodeFrame(good, max) : new Uint8Array(0)
          const stream = Buffer.concat([goodFrame, header, new Uint8Array(16)]) // body bytes never looked at
          const cut = goodFrame.length + split - 1
          decoder.push(stream.subarray(0, cut), (b) => out.push(b))
          let error: unknown
          try {
            decoder.push(stream.subarray(cut), (b) => out.push(b))
          } catch (err) {
            error = err
          }
          expect(error).toBeInstanceOf(FrameError)
          expect((error as FrameError).code).toBe('oversized')
          expect(decoder.bufferedBytes).toBe(0)
          expect(out.length).toBe(goodFrame.length > 0 ? 1 : 0) // the frame before it still came out
          expect(() => decoder.push(new Uint8Array(1), () => {})).toThrow(FrameError)
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('transport', () => {
  it('two transports handshake and exchange messages both ways; from is the sender pid', async () => {
    const a = node(1, { volumes: ['vol0', 'photos'] as VolumeName[] })
    const b = node(2)
    const port = await listening(b)
    a.t.connect(HOST, port)
    await waitFor('both up', () => a.t.connectedPeers().length === 1 && b.t.connectedPeers().length === 1)
    expect(a.t.connectedPeers()).toEqual([b.t.pid])
    expect(b.t.connectedPeers()).toEqual([a.t.pid])
    expect(b.volumes).toEqual([['vol0', 'photos']])
    expect(a.volumes).toEqual([[]])
    expect(a.t.send(b.t.pid, encode(['hello', 1]))).toBe(true)
    expect(b.t.send(a.t.pid, encode(['hello', 2]))).toBe(true)
    await waitFor('both delivered', () => a.inbox.length === 1 && b.inbox.length === 1)
    expect(b.inbox[0]!.from).toBe(a.t.pid)
    expect(decode(b.inbox[0]!.bytes)).toEqual(['hello', 1])
    expect(a.inbox[0]!.from).toBe(b.t.pid)
    expect(decode(a.inbox[0]!.bytes)).toEqual(['hello', 2])
    expect(a.t.stats.size + b.t.stats.size).toBe(0)
  })

  it('send to a pid without a connection is refused and counted', () => {
    const a = node(1)
    const other = node(2)
    expect(a.t.send(other.t.pid, utf8('x'))).toBe(false)
    expect(stat(a.t, 'send-unknown-peer')).toBe(1)
  })

  it('a client sending garbage is dropped and counted; the server keeps serving', async () => {
    const server = node(10)
    const port = await listening(server)
    const notCbor = rawClient(port)
    notCbor.socket.write(encodeFrame(new Uint8Array([0xff, 0xff, 0xff, 0x00, 0x13])))
    await notCbor.closed
    const http = rawClient(port)
    http.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n') // "GET " read as a length: ~1.2 GB
    await http.closed
    expect(stat(server.t, 'frame-malformed')).toBe(1)
    expect(stat(server.t, 'frame-oversized')).toBe(1)
    await goodClientWorks(server, port, 11)
  })

  it('[CHAN-8] a frame above the limit is dropped and counted, before and after authentication', async () => {
    const maxFrameBytes = 256 * 1024
    const server = node(20, { maxFrameBytes })
    const port = await listening(server)
    // Before authentication the handshake limit applies, far below maxFrameBytes.
    const early = rawClient(port)
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, HANDSHAKE_FRAME_BYTES_MAX + 1, false)
    early.socket.write(header)
    await early.closed
    expect(stat(server.t, 'frame-oversized')).toBe(1)
    // After authentication: a real peer announcing one byte more than a sealed frame of
    // maxFrameBytes (the message plus its tag).
    const late = await handshakeClient(HOST, port, honestIdentity(nobleCrypto, secretKey(21)), { track: (s) => sockets.push(s) })
    expect(late.channel).toBeDefined()
    await waitFor('authenticated', () => server.t.connectedPeers().length === 1)
    new DataView(header.buffer).setUint32(0, maxFrameBytes + SEALED_OVERHEAD_BYTES + 1, false)
    late.socket.write(header)
    await late.closed
    expect(stat(server.t, 'frame-oversized')).toBe(2)
    expect(server.inbox).toEqual([])
    await goodClientWorks(server, port, 22)
  })

  it('[CHAN-4] an identity whose signature is not by the claimed key is dropped and counted', async () => {
    const server = node(30)
    const port = await listening(server)
    const claimedKey = nobleCrypto.publicKey(secretKey(31)) // claims to be node 31 ...
    const forged = forgedIdentity(nobleCrypto, { claimedKey, signer: secretKey(32) }) // ... signs as 32
    const bad = await handshakeClient(HOST, port, forged, { track: (s) => sockets.push(s), after: [encodeFrame(utf8('smuggled after message 3'))] })
    await bad.closed
    expect(stat(server.t, 'handshake-bad')).toBe(1)
    expect(server.inbox).toEqual([])
    expect(server.events).toEqual([])
    await goodClientWorks(server, port, 33)
  })

  it('[CHAN-4] a signature the claimed key made over another static key does not authenticate', async () => {
    // The relay attack: node 41's real signature, made for its own static X25519 key, presented
    // with a static key the attacker holds. The handshake proves the attacker's static key; the
    // signature covers another one.
    const server = node(40)
    const port = await listening(server)
    const victim = honestIdentity(nobleCrypto, secretKey(41))
    const replayed = { ...victim, staticSecret: nobleCrypto.sha256(utf8('the attacker static key')) }
    const bad = await handshakeClient(HOST, port, replayed, { track: (s) => sockets.push(s) })
    await bad.closed
    expect(stat(server.t, 'handshake-bad')).toBe(1)
    expect(server.events).toEqual([])
  })

  it('[CHAN-8] a client that sends nothing is dropped at the handshake timeout; others are served meanwhile', async () => {
    const server = node(50, { handshakeTimeoutMs: 300 })
    const port = await listening(server)
    const silent = rawClient(port)
    await goodClientWorks(server, port, 51)
    await silent.closed
    expect(stat(server.t, 'handshake-timeout')).toBe(1)
  })

  it('[CHAN-4] a dialer that reaches an unexpected pid rejects it and keeps retrying', async () => {
    const server = node(60)
    const port = await listening(server)
    const client = node(61, { listen: undefined })
    const other = node(62)
    client.t.connect(HOST, port, other.t.pid)
    await waitFor('two rejections', () => stat(client.t, 'handshake-bad') >= 2)
    expect(client.t.connectedPeers()).toEqual([])
  })

  it('acceptPeer can refuse an authenticated pid', async () => {
    const server = node(70, { acceptPeer: () => false })
    const port = await listening(server)
    const client = node(71, { listen: undefined })
    client.t.connect(HOST, port)
    await waitFor('refused', () => stat(server.t, 'peer-unknown') >= 1)
    expect(server.t.connectedPeers()).toEqual([])
  })

  it('a dialer reconnects after the server restarts on the same port', async () => {
    const first = node(80)
    const port = await listening(first)
    const client = node(81, { listen: undefined })
    client.t.connect(HOST, port)
    await waitFor('up', () => client.t.connectedPeers().length === 1)
    await first.t.close()
    await waitFor('down', () => client.t.connectedPeers().length === 0)
    expect(client.events).toEqual([`up ${first.t.pid}`, `down ${first.t.pid}`])
    await new Promise((r) => setTimeout(r, 150)) // let a few dials fail against the closed port
    const second = node(80, { listen: { host: HOST, port } })
    await second.t.listen()
    await waitFor('up again', () => client.t.connectedPeers().length === 1)
    expect(client.t.send(second.t.pid, utf8('back'))).toBe(true)
    await waitFor('delivered', () => second.inbox.length === 1)
    expect(second.inbox[0]!.from).toBe(client.t.pid)
  })

  it('when both sides dial each other, one connection survives and messages flow', async () => {
    const a = node(90)
    const b = node(91)
    const [pa, pb] = [await listening(a), await listening(b)]
    a.t.connect(HOST, pb)
    b.t.connect(HOST, pa)
    await waitFor('one connection each', () => a.t.connectionCount === 1 && b.t.connectionCount === 1 &&
      a.t.connectedPeers().length === 1 && b.t.connectedPeers().length === 1)
    await new Promise((r) => setTimeout(r, 300)) // no flapping: parked dialers stay parked
    expect(a.t.connectionCount).toBe(1)
    expect(b.t.connectionCount).toBe(1)
    expect(a.events).toEqual([`up ${b.t.pid}`])
    expect(b.events).toEqual([`up ${a.t.pid}`])
    expect(a.t.send(b.t.pid, utf8('a'))).toBe(true)
    expect(b.t.send(a.t.pid, utf8('b'))).toBe(true)
    await waitFor('both delivered', () => a.inbox.length === 1 && b.inbox.length === 1)
  })

  it('1000 messages arrive in order', async () => {
    const server = node(100)
    const port = await listening(server)
    const client = node(101, { listen: undefined })
    client.t.connect(HOST, port)
    await waitFor('up', () => client.t.connectedPeers().length === 1)
    for (let i = 0; i < 1000; i++) expect(client.t.send(server.t.pid, encode([i, 'x'.repeat(i % 97)]))).toBe(true)
    await waitFor('all delivered', () => server.inbox.length === 1000, 20_000)
    expect(server.inbox.map((m) => (decode(m.bytes) as [number, string])[0])).toEqual([...Array(1000).keys()])
    expect(server.inbox.every((m) => m.from === client.t.pid)).toBe(true)
  })

  it('a full send queue refuses new messages and counts them; what was queued arrives in order', async () => {
    const maxFrameBytes = 64 * 1024
    const server = node(110, { maxFrameBytes })
    const port = await listening(server)
    const client = node(111, { listen: undefined, maxFrameBytes, maxQueueBytes: 2 * maxFrameBytes + 8 })
    client.t.connect(HOST, port)
    await waitFor('up', () => client.t.connectedPeers().length === 1)
    const total = 1000 // 64 MB offered synchronously: far more than loopback socket buffers hold
    const accepted: number[] = []
    for (let i = 0; i < total; i++) {
      const body = new Uint8Array(maxFrameBytes)
      new DataView(body.buffer).setUint32(0, i, false)
      if (client.t.send(server.t.pid, body)) accepted.push(i)
    }
    expect(stat(client.t, 'send-queue-full')).toBe(total - accepted.length)
    expect(accepted.length).toBeLessThan(total)
    await waitFor('accepted delivered', () => server.inbox.length === accepted.length, 20_000)
    expect(server.inbox.map((m) => new DataView(m.bytes.buffer).getUint32(0, false))).toEqual(accepted)
  })
})
