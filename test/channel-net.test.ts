// The encrypted channel on real TCP between real NodeHosts (and a client), through a proxy
// written here that sits on the only connection between them. (1) It records every byte while a
// file holding a unique marker is replicated (and, in client/server mode, written and read back):
// the marker never appears on the wire, though it does reach the other side (CHAN-1). (2) Once
// the connection is established it flips one byte of a frame, replays a frame, drops one or swaps
// two: the receiving node closes the connection and counts 'frame-auth-failed', nothing it did not
// get from the sender reaches its core, and the nodes reconnect and converge (CHAN-2, CHAN-3).
import net from 'node:net'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeHost } from '../runtime/host.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import { FrameDecoder, encodeFrame } from '../runtime/frames.ts'
import { Transport } from '../runtime/transport.ts'
import { RemoteBackend } from '../runtime/client.ts'
import { ClientServer } from '../runtime/server.ts'
import { decode, encode, type Value } from '../core/codec.ts'
import { pidOf } from '../core/node.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import { lookup } from '../core/fs/view.ts'
import { membersOf, type FsCall } from '../core/volume/index.ts'
import { utf8 } from '../core/bytes.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { genesisOf, key } from './support/nodes.ts'

const V = 'ledger' as VolumeName
const LOCAL = '127.0.0.1'
const cred = { uid: 1000, gid: 1000 }
const WAIT_MS_MAX = 20_000
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const dirs: string[] = []
const closers: (() => Promise<void>)[] = []
const sockets = new Set<net.Socket>()

afterEach(async () => {
  vi.restoreAllMocks()
  for (const s of sockets) s.destroy()
  sockets.clear()
  for (const c of closers.splice(0).reverse()) await c()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const started = Date.now()
  while (!cond()) {
    if (Date.now() - started > WAIT_MS_MAX) throw new Error(`timed out after ${WAIT_MS_MAX} ms waiting for ${what}`)
    await sleep(10)
  }
}

const contains = (haystack: Uint8Array, needle: Uint8Array): boolean => Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0

/** Every message each host's core received, behind the transport: (host pid, from, bytes). */
const received: { at: Pid; from: Pid; bytes: Uint8Array }[] = []
/** Every message a transport accepted to send: (from, to, bytes). */
const sent: { from: Pid; to: Pid; bytes: Uint8Array }[] = []

function recordSends(): void {
  // Cleared here, not after the test: hosts still stopping after a test may receive once more.
  received.length = 0
  sent.length = 0
  const original = Transport.prototype.send
  vi.spyOn(Transport.prototype, 'send').mockImplementation(function (this: Transport, to, bytes) {
    const ok = original.call(this, to, bytes)
    if (ok) sent.push({ from: this.pid, to, bytes })
    return ok
  })
}

async function startHost(seed: number, peers: readonly number[] = []): Promise<NodeHost> {
  const dataDir = mkdtempSync(join(tmpdir(), 'paciofs-chan-'))
  dirs.push(dataDir)
  const h = await NodeHost.start({ dataDir, secretKey: key(seed), listen: { host: LOCAL, port: 0 }, peers: peers.map((port) => ({ host: LOCAL, port })), reconnectMinMs: 10, reconnectMaxMs: 200 })
  closers.push(() => h.stop())
  h.addFrameFilter((from, bytes) => {
    received.push({ at: h.pid, from, bytes })
    return false
  })
  return h
}

type Fault = 'flip' | 'replay' | 'drop' | 'reorder'

/**
 * A TCP proxy in front of `targetPort` that records every byte both ways, and can be armed to
 * damage the next frame(s) that the dialer sends to the target on the current connection. It
 * splits the dialer's stream into frames (runtime/frames.ts) and re-frames them, so it can work
 * on whole frames without knowing anything of what is inside them (it cannot: they are sealed).
 */
async function proxy(targetPort: number): Promise<{ port: number; wire: Buffer[]; arm(f: Fault): void; applied(): boolean; connections(): number }> {
  const wire: Buffer[] = []
  let armed: Fault | undefined
  let done = false
  let count = 0
  let current: { forward(body: Uint8Array): void } | undefined
  const server = net.createServer((client) => {
    count++
    const upstream = net.connect({ host: LOCAL, port: targetPort })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
    }
    let held: Uint8Array | undefined
    const write = (body: Uint8Array): void => {
      const frame = encodeFrame(body, 1 << 30)
      wire.push(Buffer.from(frame))
      upstream.write(frame)
    }
    const conn = {
      forward(body: Uint8Array): void {
        if (current !== conn || armed === undefined) return write(body)
        switch (armed) {
          case 'flip': {
            const copy = body.slice()
            copy[Math.floor(copy.length / 2)]! ^= 0x20
            armed = undefined
            done = true
            return write(copy)
          }
          case 'replay':
            write(body)
            armed = undefined
            done = true
            return write(body)
          case 'drop':
            armed = undefined
            done = true
            return // the frame vanishes; the next one meets the wrong nonce
          case 'reorder':
            if (held === undefined) {
              held = body
              return
            }
            write(body)
            write(held)
            held = undefined
            armed = undefined
            done = true
            return
        }
      },
    }
    current = conn
    const decoder = new FrameDecoder(1 << 30)
    client.on('data', (d: Buffer) => decoder.push(d, (body) => conn.forward(body)))
    upstream.on('data', (d: Buffer) => {
      wire.push(Buffer.from(d))
      client.write(d)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  closers.push(() => new Promise<void>((r) => server.close(() => r())))
  await new Promise<void>((r) => server.listen(0, LOCAL, () => r()))
  return {
    port: (server.address() as net.AddressInfo).port,
    wire,
    arm: (f) => {
      armed = f
      done = false
    },
    applied: () => done,
    connections: () => count,
  }
}

const vol = (h: NodeHost) => h.state.volumes.get(V)!
const has = (h: NodeHost, path: string): boolean => h.state.volumes.has(V) && lookup(vol(h).fs, path).ok

async function fsCall(h: NodeHost, call: FsCall): Promise<void> {
  const r = await h.request({ type: 'fs', volume: V, call })
  if (!r.ok) throw new Error(`${call.type}: ${JSON.stringify(r)}`)
}

async function writeFile(h: NodeHost, path: string, content: Uint8Array, sec: number): Promise<void> {
  await fsCall(h, { type: 'create', path, mode: 0o644, cred, time: { sec, nsec: 0 } })
  await fsCall(h, { type: 'write', path, writes: [{ offset: 0, data: content }], cred, time: { sec, nsec: 1 } })
}

async function converged(a: NodeHost, b: NodeHost, paths: readonly string[]): Promise<void> {
  await waitFor(`${paths.join(', ')} on both, equal roots`, () => [a, b].every((h) => paths.every((p) => has(h, p)) && vol(h).queues.size === 0) && stateRoot(vol(a).fs) === stateRoot(vol(b).fs))
}

/** A founds the volume; B reaches A only through the proxy and joins. */
async function twoThroughProxy(seedA: number, seedB: number): Promise<{ a: NodeHost; b: NodeHost; p: Awaited<ReturnType<typeof proxy>> }> {
  const a = await startHost(seedA)
  const p = await proxy(a.port)
  const b = await startHost(seedB, [p.port])
  const genesis = genesisOf(await a.request({ type: 'create-volume', name: V, policy: 'majority' }))
  genesisOf(await b.request({ type: 'join-volume', genesis, contacts: [a.pid] }))
  await waitFor('two members on both nodes', () => [a, b].every((h) => h.state.volumes.has(V) && membersOf(vol(h)).length === 2))
  return { a, b, p }
}

/** Every message `at` got from `from` is one `from` sent to it, in the order sent (a subsequence:
 *  the proxy may cost messages, never invent, repeat or reorder one). */
function deliveredAreSent(at: Pid, from: Pid): void {
  const got = received.filter((m) => m.at === at && m.from === from).map((m) => Buffer.from(m.bytes).toString('hex'))
  const out = sent.filter((m) => m.from === from && m.to === at).map((m) => Buffer.from(m.bytes).toString('hex'))
  let j = 0
  for (const [i, g] of got.entries()) {
    while (j < out.length && out[j] !== g) j++
    expect(j < out.length, `message ${i} that ${at.slice(0, 8)} got from ${from.slice(0, 8)} was sent in that order`).toBe(true)
    j++
  }
  expect(got.length).toBeGreaterThan(0)
}

describe('the encrypted channel on the wire', () => {
  it('[CHAN-1] a replicated file with a unique marker: the marker reaches the other node, never the wire', async () => {
    const { a, b, p } = await twoThroughProxy(1, 2)
    const marker = randomBytes(16).toString('hex') // 32 hex digits, new every run
    await writeFile(a, '/invoice.txt', utf8(`invoice ${marker} total 4711.00 EUR\n`.repeat(3)), 10)
    await converged(a, b, ['/invoice.txt'])
    // Not vacuous: the marker did cross this connection (in A's PUT of the plain operation).
    expect(received.some((m) => m.at === b.pid && m.from === a.pid && contains(m.bytes, utf8(marker)))).toBe(true)
    const capture = Buffer.concat(p.wire)
    expect(capture.length).toBeGreaterThan(1000)
    expect(capture.indexOf(marker)).toBe(-1)
    expect(capture.indexOf(Buffer.from(marker, 'hex'))).toBe(-1)
    expect(capture.indexOf('invoice')).toBe(-1)
    expect(capture.indexOf(V)).toBe(-1) // not even the volume name: only the prologue of a client names one
  })

  it('[CHAN-1] client/server: a marker written and read back by a client never appears on the wire; a request for another volume on its channel is refused', async () => {
    const a = await startHost(5)
    genesisOf(await a.request({ type: 'create-volume', name: V, policy: 'majority' }))
    genesisOf(await a.request({ type: 'create-volume', name: 'other' as VolumeName, policy: 'majority' }))
    const server = new ClientServer(a, new Set([pidOf(nodeCrypto, key(6))]))
    const p = await proxy(a.port)
    const c = await RemoteBackend.connect({ server: { host: LOCAL, port: p.port }, secretKey: key(6), volume: V, connectTimeoutMs: 5_000 })
    closers.push(() => c.close())
    const marker = randomBytes(16).toString('hex')
    const data = utf8(`client secret ${marker}\n`)
    expect(await c.call({ type: 'create', path: '/c.txt', mode: 0o644, cred, time: { sec: 1, nsec: 0 } })).toMatchObject({ ok: true })
    expect(await c.call({ type: 'write', path: '/c.txt', writes: [{ offset: 0, data }], cred, time: { sec: 1, nsec: 1 } })).toEqual({ ok: true })
    expect(await c.read('/c.txt', 0, 1000)).toEqual({ ok: true, value: data })
    const capture = Buffer.concat(p.wire)
    expect(capture.indexOf(marker)).toBe(-1)
    expect(capture.indexOf('client secret')).toBe(-1)
    expect(capture.indexOf('/c.txt')).toBe(-1)
    // The channel's prologue names the volume (in clear: it is the opening, not a secret) ...
    expect(capture.indexOf(V)).toBeGreaterThanOrEqual(0)
    expect(a.channelOf(pidOf(nodeCrypto, key(6)))).toEqual({ kind: 'client', volume: V })
    // ... and binds the channel to it: a request for another volume on it is refused.
    const answers: Value[] = []
    const raw = new Transport({ crypto: nodeCrypto, secretKey: key(6), onMessage: (_f, bytes) => answers.push(decode(bytes)) })
    closers.push(() => raw.close())
    raw.connect(LOCAL, a.port, a.pid, { volume: V })
    await waitFor('raw client up', () => raw.connectedPeers().includes(a.pid))
    expect(raw.send(a.pid, encode(['cs/req', 1, 'other', null, 'getattr', ['/']]))).toBe(true)
    expect(raw.send(a.pid, encode(['cs/req', 2, V, null, 'getattr', ['/']]))).toBe(true)
    await waitFor('two answers', () => answers.length === 2)
    expect((answers[0] as Value[]).slice(2, 4)).toEqual([false, 'EACCES'])
    expect((answers[1] as Value[])[2]).toBe(true)
    expect(server.stats.get('cs:wrong-volume')).toBe(1)
  })

  for (const [f, fault] of (['flip', 'replay', 'drop', 'reorder'] as const).entries()) {
    it(`[CHAN-2] [CHAN-3] a proxy that ${fault === 'flip' ? 'flips one byte of' : fault === 'replay' ? 'replays' : fault === 'drop' ? 'drops' : 'swaps'} a frame of the established connection: closed and counted, nothing wrong delivered, the nodes reconnect and converge`, async () => {
      recordSends()
      const { a, b, p } = await twoThroughProxy(10 + 2 * f, 11 + 2 * f) // new pids per test
      await writeFile(a, '/before-a', utf8('A before\n'), 10)
      await writeFile(b, '/before-b', utf8('B before\n'), 11)
      await converged(a, b, ['/before-a', '/before-b'])
      const failedBefore = a.transportStats.get('frame-auth-failed') ?? 0
      const connectionsBefore = p.connections()
      p.arm(fault)
      // Traffic from B to A until the fault was applied (a drop is found at the frame after it).
      for (let i = 0; !p.applied() || (fault === 'drop' && (a.transportStats.get('frame-auth-failed') ?? 0) === failedBefore); i++) {
        if (i > 40) throw new Error(`the ${fault} never got its frames`)
        await writeFile(b, `/during-${i}`, utf8(`B during ${i}\n`), 20 + i)
        await sleep(20)
      }
      await waitFor('A closes and counts the damaged connection', () => (a.transportStats.get('frame-auth-failed') ?? 0) === failedBefore + 1)
      await waitFor('B redials through the proxy and is back up', () => p.connections() > connectionsBefore && a.connectedPeers().includes(b.pid) && b.connectedPeers().includes(a.pid))
      await writeFile(a, '/after-a', utf8('A after\n'), 100)
      await writeFile(b, '/after-b', utf8('B after\n'), 101)
      await converged(a, b, ['/before-a', '/before-b', '/after-a', '/after-b'])
      expect(a.transportStats.get('frame-auth-failed')).toBe(failedBefore + 1)
      expect(b.transportStats.get('frame-auth-failed') ?? 0).toBe(0) // the damage was one way
      deliveredAreSent(a.pid, b.pid)
      deliveredAreSent(b.pid, a.pid)
      expect(a.halted).toBeUndefined()
      expect(b.halted).toBeUndefined()
    })
  }
})
