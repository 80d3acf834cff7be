// Hostile peers against real NodeHosts (runtime/host.ts) on loopback TCP: garbage before the
// handshake, oversized length prefixes, forged handshakes (identity payloads that do not bind the
// static key), an authenticated non-member asking for plain operations, replays of what a member
// sent (the recorded handshake and, by an authenticated peer, the messages themselves), and
// well-formed frames that are no message. Each one is dropped or ignored, counted under the exact
// name the code uses (TransportStat in runtime/transport.ts; the core's state.stats, the volume's
// stats and fotb's stats), and the node keeps answering requests and replicating with an honest
// member afterwards. Every test closes every host, socket, proxy and transport it opens.
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeHost } from '../runtime/host.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import { FrameDecoder, encodeFrame, FRAME_BYTES_MAX_DEFAULT } from '../runtime/frames.ts'
import { Transport, HANDSHAKE_FRAME_BYTES_MAX, SEALED_OVERHEAD_BYTES, type TransportStat } from '../runtime/transport.ts'
import { ChannelHandshake, decodeOpening, type Identity } from '../core/channel/index.ts'
import { forgedIdentity, handshakeClient, honestIdentity } from './support/channel.ts'
import { encode, tryDecode, type Value } from '../core/codec.ts'
import { fromHex, toHex } from '../core/bytes.ts'
import { encodeFotbMessage } from '../core/fotb/index.ts'
import { encodeVolMessage, membersOf, type FsCall, type VolumeState, type VolumeUp } from '../core/volume/index.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import { lookup } from '../core/fs/view.ts'
import type { EntryHash, ObfHash, Pid, VolumeName } from '../core/types.ts'
import { genesisOf, key } from './support/nodes.ts'

const V = 'v' as VolumeName
const LOCAL = '127.0.0.1'
const cred = { uid: 1000, gid: 1000 }
const WAIT_MS_MAX = 20_000
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

const dirs: string[] = []
const hosts = new Set<NodeHost>()
const sockets = new Set<net.Socket>()
const transports = new Set<Transport>()
const servers = new Set<net.Server>()

afterEach(async () => {
  for (const s of sockets) s.destroy()
  sockets.clear()
  await Promise.all([...transports].map((t) => t.close()))
  transports.clear()
  await Promise.all([...hosts].map((h) => h.stop()))
  hosts.clear()
  upsOf.clear()
  receivedBy.clear()
  await Promise.all([...servers].map((s) => new Promise<void>((r) => s.close(() => r()))))
  servers.clear()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function waitFor(what: string, cond: () => boolean, detail: () => unknown = () => ''): Promise<void> {
  const started = Date.now()
  while (!cond()) {
    if (Date.now() - started > WAIT_MS_MAX) throw new Error(`timed out after ${WAIT_MS_MAX} ms waiting for ${what}: ${JSON.stringify(detail())}`)
    await sleep(10)
  }
}

async function within<T>(p: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function startHost(seed: number, peers: readonly number[] = []): Promise<NodeHost> {
  const dataDir = mkdtempSync(join(tmpdir(), 'paciofs-hostile-'))
  dirs.push(dataDir)
  const h = await NodeHost.start({
    dataDir,
    secretKey: key(seed),
    listen: { host: LOCAL, port: 0 },
    peers: peers.map((port) => ({ host: LOCAL, port })),
    reconnectMinMs: 10,
    reconnectMaxMs: 200,
  })
  hosts.add(h)
  const seen: string[] = []
  h.on('up', (_volume, up) => seen.push(describeUp(up)))
  upsOf.set(h, seen)
  // Every message the host received, decrypted, as the core got it: what the peers sent it.
  const received: { from: Pid; bytes: Uint8Array }[] = []
  h.addFrameFilter((from, bytes) => {
    received.push({ from, bytes })
    return false
  })
  receivedBy.set(h, received)
  return h
}

const receivedBy = new Map<NodeHost, { from: Pid; bytes: Uint8Array }[]>()

// ---------------------------------------------------------------------------------------------
// Observations (counters by the exact names the code uses)

const vol = (h: NodeHost): VolumeState => {
  const v = h.state.volumes.get(V)
  if (!v) throw new Error(`no volume ${V} on ${h.pid.slice(0, 8)}`)
  return v
}
const transportStat = (h: NodeHost, name: TransportStat): number => h.transportStats.get(name) ?? 0
/** core/node.ts: rejections before a message reaches a volume. */
const nodeStat = (h: NodeHost, name: string): number => h.state.stats.get(name) ?? 0
/** core/volume/: the volume layer (remote_get). */
const volStat = (h: NodeHost, name: string): number => vol(h).stats.get(name) ?? 0
/** core/fotb/: the broadcast layer of the volume. */
const fotbStat = (h: NodeHost, name: string): number => vol(h).fotb.stats.get(name) ?? 0

const has = (h: NodeHost, path: string): boolean => h.state.volumes.has(V) && lookup(vol(h).fs, path).ok
const rootOf = (h: NodeHost): string => stateRoot(vol(h).fs)

/** Everything that would change if a message were delivered or applied twice. */
function snapshot(h: NodeHost): Record<string, unknown> {
  const v = vol(h)
  return {
    epoch: v.fs.epoch,
    log: v.log.length,
    root: stateRoot(v.fs),
    skipped: v.skipped.length,
    plain: h.chunkStore.plainCount(V),
    chunks: h.chunkStore.chunkStats(V).chunks,
    queues: v.queues.size,
    members: membersOf(v),
    delivered: [...v.fotb.delivered].sort(),
    chains: [...v.fotb.chains].map(([author, log]) => [author, log.view.seq, log.view.head, log.view.seals.toArray().length]).sort(),
    proofs: v.fotb.proofs.size,
  }
}

/** Everything each host handed up ('up' events), from its start on. The events of a step come
 *  after its fsync, so they may lag `h.state`: compare them for duplicates, not against a moment. */
const upsOf = new Map<NodeHost, string[]>()

/** The deliveries (author, seq) and log epochs a host handed up more than once. */
function duplicates(h: NodeHost): string[] {
  const keys = upsOf.get(h)!.filter((u) => u.startsWith('entries') || u.startsWith('logged')).map((u) => u.replace(/ \(.*$/, '').replace(/^(logged epoch \d+).*$/, '$1'))
  return keys.filter((k, i) => keys.indexOf(k) !== i)
}

function describeUp(up: VolumeUp): string {
  switch (up.type) {
    case 'logged':
      return `logged epoch ${up.record.epoch} ${up.record.kind} by ${up.record.author.slice(0, 16)} seq ${up.record.seq}`
    case 'skipped':
      return `skipped ${up.record.author.slice(0, 8)} seq ${up.record.seq} (${up.record.why})`
    case 'members':
      return `members ${up.members.map((m) => m.slice(0, 8)).join(',')}`
    case 'entries':
      return `entries of ${up.author.slice(0, 16)} from seq ${up.from} (${up.hashes.length})`
    case 'ordered':
      return `ordered ${up.entries.length} from position ${up.entries[0]?.position}`
  }
}

// ---------------------------------------------------------------------------------------------
// The honest side

async function fsCall(h: NodeHost, call: FsCall): Promise<void> {
  const r = await h.request({ type: 'fs', volume: V, call })
  if (!r.ok) throw new Error(`${call.type} on ${h.pid.slice(0, 8)}: ${JSON.stringify(r)}`)
}

async function createAndWrite(h: NodeHost, path: string, content: string, sec: number): Promise<void> {
  await fsCall(h, { type: 'create', path, mode: 0o644, cred, time: { sec, nsec: 0 } })
  await fsCall(h, { type: 'write', path, writes: [{ offset: 0, data: text(content) }], cred, time: { sec, nsec: 1 } })
}

/** Every node holds every path, every fotb chain is delivered to its head, nothing is waiting for
 *  a plain op, and the state roots agree: nothing is in flight between the honest nodes. */
async function quiet(all: readonly NodeHost[], paths: readonly string[]): Promise<void> {
  await waitFor(
    `${paths.join(', ')} everywhere, all delivered, equal roots`,
    () =>
      all.every((h) => {
        const v = vol(h)
        return (
          paths.every((p) => has(h, p)) &&
          v.queues.size === 0 &&
          [...v.fotb.chains].every(([a, log]) => (v.fotb.delivered.get(a) ?? 0) === log.view.seq)
        )
      }) &&
      new Set(all.map(rootOf)).size === 1 &&
      new Set(all.map((h) => JSON.stringify(snapshot(h).chains))).size === 1,
    () => all.map((h) => ({ node: h.pid.slice(0, 8), root: rootOf(h).slice(0, 12), has: paths.filter((p) => has(h, p)) })),
  )
}

/** A founds the volume, B joins it through A (B dials `bDials`, A's port unless a proxy's), both
 *  write a file, and the two agree. */
async function twoMembers(seedA: number, seedB: number, bDials?: (aPort: number) => Promise<number>): Promise<{ a: NodeHost; b: NodeHost }> {
  const a = await startHost(seedA)
  const b = await startHost(seedB, [bDials ? await bDials(a.port) : a.port])
  const genesis = genesisOf(await a.request({ type: 'create-volume', name: V, policy: 'majority' }))
  genesisOf(await b.request({ type: 'join-volume', genesis, contacts: [a.pid] }))
  await waitFor('two members on both nodes', () => [a, b].every((h) => h.state.volumes.has(V) && membersOf(vol(h)).length === 2))
  await createAndWrite(a, '/from-a', 'written on A\n'.repeat(20), 10)
  await createAndWrite(b, '/from-b', 'written on B\n'.repeat(20), 11)
  await quiet([a, b], ['/from-a', '/from-b'])
  return { a, b }
}

let serving = 0
/** The node still answers requests, and what either member writes reaches the other. */
async function keepsServing(a: NodeHost, b: NodeHost): Promise<void> {
  serving++
  const pa = `/after-a-${serving}`
  const pb = `/after-b-${serving}`
  await createAndWrite(a, pa, `A after the attack ${serving}\n`, 100 + serving)
  await createAndWrite(b, pb, `B after the attack ${serving}\n`, 200 + serving)
  await quiet([a, b], [pa, pb])
  for (const h of [a, b]) {
    expect(h.halted).toBeUndefined()
    expect(h.stats.get('input:dropped-queue-full') ?? 0).toBe(0)
  }
  expect(a.connectedPeers()).toContain(b.pid)
}

// ---------------------------------------------------------------------------------------------
// The hostile side

/** A hand-driven TCP client: what it sends is up to the test, what it receives is decoded into frames. */
function rawClient(port: number): { socket: net.Socket; frames: Uint8Array[]; closed: Promise<void> } {
  const socket = net.connect({ host: LOCAL, port })
  sockets.add(socket)
  socket.on('error', () => {})
  const frames: Uint8Array[] = []
  const decoder = new FrameDecoder()
  socket.on('data', (chunk: Buffer) => decoder.push(chunk, (b) => frames.push(b)))
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  return { socket, frames, closed }
}

/** A raw client that completes a correct handshake with the key of `seed`. */
async function authenticatedRawClient(h: NodeHost, seed: number): Promise<ReturnType<typeof rawClient> & { pid: Pid }> {
  const c = await handshakeClient(LOCAL, h.port, honestIdentity(nodeCrypto, key(seed)), { track: (s) => sockets.add(s) })
  const pid = toHex(nodeCrypto.publicKey(key(seed))) as Pid
  await waitFor('authenticated', () => h.connectedPeers().includes(pid))
  return { ...c, pid }
}

interface Hostile {
  t: Transport
  inbox: { from: Pid; bytes: Uint8Array }[]
  /** Waits until `h` has processed everything sent to it before (see barrierMessage). */
  barrier(h: NodeHost): Promise<void>
}

/** A well-authenticated peer with its own key (runtime/transport.ts), connected to `targets`. */
async function hostile(seed: number, targets: readonly NodeHost[]): Promise<Hostile> {
  const inbox: Hostile['inbox'] = []
  const t = new Transport({ crypto: nodeCrypto, secretKey: key(seed), reconnectMinMs: 10, reconnectMaxMs: 200, onMessage: (from, bytes) => inbox.push({ from, bytes }) })
  transports.add(t)
  for (const h of targets) t.connect(LOCAL, h.port, h.pid)
  await waitFor('the hostile peer connected', () => targets.every((h) => t.connectedPeers().includes(h.pid) && h.connectedPeers().includes(t.pid)))
  let barrierSeq = 0
  return {
    t,
    inbox,
    async barrier(h) {
      // The one thing a node answers a stranger with: a HEADS advertising the stranger's own chain
      // makes it FETCH that chain from the stranger (core/fotb/broadcast.ts onHeads, "a joiner whose first
      // push was lost"). The node steps its inputs in order and sends in order on one connection,
      // so once that FETCH is here, every earlier message was stepped and its answers (if any)
      // arrived before it. fotb sends at most one fetch per author per 100 ms: space them out.
      await sleep(120)
      const seq = ++barrierSeq + 1_000
      expect(t.send(h.pid, barrierMessage(t.pid, seq))).toBe(true)
      await waitFor('the barrier FETCH', () => inbox.some((m) => m.from === h.pid && isFetchOf(m.bytes, t.pid, seq)))
    },
  }
}

function barrierMessage(me: Pid, seq: number): Uint8Array {
  return encodeFotbMessage(V, { type: 'heads', heads: [{ author: me, seq, head: 'ab'.repeat(32) as EntryHash }], proofs: [], readies: [] })
}

function isFetchOf(bytes: Uint8Array, author: Pid, to: number): boolean {
  const d = tryDecode(bytes)
  if (!d.ok || !Array.isArray(d.value)) return false
  const [tag, , who, , upTo] = d.value as Value[]
  return tag === 'fotb/fetch' && who instanceof Uint8Array && toHex(who) === author && upTo === to
}

function tagOf(bytes: Uint8Array): string {
  const d = tryDecode(bytes)
  return d.ok && Array.isArray(d.value) && typeof d.value[0] === 'string' ? d.value[0] : '(not a message)'
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(Buffer.from(needle)) >= 0
}

function framesOf(stream: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  new FrameDecoder().push(stream, (b) => out.push(b))
  return out
}

/** A TCP proxy in front of `targetPort` that records both directions byte for byte. */
async function recordingProxy(targetPort: number): Promise<{ port: number; toTarget: Buffer[]; fromTarget: Buffer[] }> {
  const toTarget: Buffer[] = []
  const fromTarget: Buffer[] = []
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: LOCAL, port: targetPort })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('error', () => {})
    }
    client.on('data', (d: Buffer) => {
      toTarget.push(d)
      upstream.write(d)
    })
    upstream.on('data', (d: Buffer) => {
      fromTarget.push(d)
      client.write(d)
    })
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  servers.add(server)
  await new Promise<void>((r) => server.listen(0, LOCAL, () => r()))
  return { port: (server.address() as net.AddressInfo).port, toTarget, fromTarget }
}

/** A seeded xorshift32, for reproducible mutations. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
}

// ---------------------------------------------------------------------------------------------

describe('hostile peers against a NodeHost on loopback', () => {
  it('garbage before any handshake: each connection is closed by the node and counted; the node serves and replicates on', async () => {
    const { a, b } = await twoMembers(1, 2)
    const oversized = transportStat(a, 'frame-oversized')
    const malformed = transportStat(a, 'frame-malformed')
    const garbage: [string, Uint8Array][] = [
      // "GET " read as a length prefix: 0x47455420, about 1.2 GB.
      ['an HTTP request', text('GET / HTTP/1.1\r\nHost: paciofs\r\n\r\n')],
      ['a frame of bytes that are no CBOR', encodeFrame(new Uint8Array([0xff, 0xff, 0xff, 0x00, 0x13]))],
      ['a CBOR frame that is no opening', encodeFrame(encode(['paciofs/channel/v1', 'node', null, 'not a key']))],
      // A well-formed opening, then garbage where Noise message 3 must come.
      ['an opening followed by garbage', Buffer.concat([encodeFrame(ChannelHandshake.initiate(honestIdentity(nodeCrypto, key(3)), { kind: 'node' }, new Uint8Array(32).fill(3)).body), encodeFrame(text('no message 3'))])],
    ]
    const bad = transportStat(a, 'handshake-bad')
    for (const [what, bytes] of garbage) {
      const c = rawClient(a.port)
      c.socket.write(bytes)
      await within(c.closed, `the node closes the connection that sent ${what}`)
      // Whatever the node sent before closing is at most its message 2 (after a valid opening).
      expect(c.frames.length, what).toBeLessThanOrEqual(what.startsWith('an opening') ? 1 : 0)
    }
    expect(transportStat(a, 'frame-oversized') - oversized).toBe(1)
    expect(transportStat(a, 'frame-malformed') - malformed).toBe(2)
    expect(transportStat(a, 'handshake-bad') - bad).toBe(1)
    expect(a.connectedPeers()).toEqual([b.pid])
    await keepsServing(a, b)
  })

  it('[CHAN-8] a length prefix above the limit closes the connection before any body byte, before and after authentication', async () => {
    const { a, b } = await twoMembers(11, 12)
    const before = transportStat(a, 'frame-oversized')
    // Before authentication the handshake limit (128 KiB) applies; then the full uint32 range.
    for (const length of [HANDSHAKE_FRAME_BYTES_MAX + 1, 0xffff_ffff]) {
      const c = rawClient(a.port)
      const header = new Uint8Array(4)
      new DataView(header.buffer).setUint32(0, length, false)
      c.socket.write(header)
      await within(c.closed, `the node closes on a header announcing ${length} bytes`)
      expect(c.socket.bytesWritten).toBe(4) // no body byte was ever sent
    }
    expect(transportStat(a, 'frame-oversized') - before).toBe(2)
    // After authentication: the node's frame limit (16 MiB by default).
    const late = await authenticatedRawClient(a, 13)
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, FRAME_BYTES_MAX_DEFAULT + SEALED_OVERHEAD_BYTES + 1, false)
    const written = late.socket.bytesWritten
    late.socket.write(header)
    await within(late.closed, 'the node closes an authenticated peer announcing a sealed frame of 16 MiB + 1')
    expect(late.socket.bytesWritten - written).toBe(4)
    expect(transportStat(a, 'frame-oversized') - before).toBe(3)
    expect(a.connectedPeers()).toEqual([b.pid])
    await keepsServing(a, b)
  })

  it('[CHAN-4] forged handshakes (wrong signer, a signature over another static key, a reflected identity, a non-key, our own pid) are closed and counted; frames behind them never reach the core', async () => {
    const { a, b } = await twoMembers(21, 22)
    const badBefore = transportStat(a, 'handshake-bad')
    const getsBefore = volStat(a, 'in:get')
    const stepsIn = (): number => nodeStat(a, 'reject:malformed') + volStat(a, 'in:get')
    const coreBefore = stepsIn()
    const snap = snapshot(a)
    const obf = vol(a).log.toArray().find((r) => r.obf !== null)!.obf!
    const smuggled = [encodeVolMessage(V, { type: 'get', obf }), new Uint8Array([0xff])].map((m) => encodeFrame(m))
    const claimed = key(23)
    const claimedKey = nodeCrypto.publicKey(claimed)
    const notAKey = new Uint8Array(33).fill(0xff) // x >= p: no point of the curve, though shaped as a pid
    notAKey[0] = 0x02
    // The node's own identity payload, as any dialer sees it in message 2.
    const probe = await handshakeClient(LOCAL, a.port, honestIdentity(nodeCrypto, key(29)), { track: (s) => sockets.add(s) })
    const nodeIdentity: Identity = probe.peer!
    probe.socket.destroy()
    await waitFor('the probe is gone', () => !a.connectedPeers().includes(toHex(nodeCrypto.publicKey(key(29))) as Pid))
    const cases: [string, ReturnType<typeof forgedIdentity>][] = [
      ['signed by another key', forgedIdentity(nodeCrypto, { claimedKey, signer: key(24) })],
      ['signs another static key', forgedIdentity(nodeCrypto, { claimedKey, signer: claimed, signedStatic: new Uint8Array(32).fill(0xee) })],
      ['reflects the node\'s own identity payload', { ...honestIdentity(nodeCrypto, claimed), identity: nodeIdentity }],
      ['claims a key that is no curve point', forgedIdentity(nodeCrypto, { claimedKey: notAKey, signer: claimed })],
      ['claims the node\'s own pid (validly signed with its key)', forgedIdentity(nodeCrypto, { claimedKey: nodeCrypto.publicKey(key(21)), signer: key(21) })],
    ]
    for (const [what, local] of cases) {
      const c = await handshakeClient(LOCAL, a.port, local, { track: (s) => sockets.add(s), after: smuggled })
      await within(c.closed, `the node closes a handshake that ${what}`)
      expect(c.frames.length, what).toBe(1) // its message 2, nothing after it
    }
    expect(transportStat(a, 'handshake-bad') - badBefore).toBe(cases.length)
    expect(a.connectedPeers()).toEqual([b.pid])
    expect(volStat(a, 'in:get')).toBe(getsBefore)
    expect(stepsIn()).toBe(coreBefore)
    expect(snapshot(a)).toEqual(snap)
    expect(duplicates(a)).toEqual([])
    await keepsServing(a, b)
  })

  it('[VOL-7] an authenticated non-member asking for plain operations gets none of them, only its counted refusal', async () => {
    const { a, b } = await twoMembers(31, 32)
    const v = vol(a)
    // The obfuscated hashes it may have seen in the ledger: A's own ops and B's (which A fetched).
    const known = v.log.toArray().filter((r) => r.obf !== null).map((r) => r.obf!)
    expect(new Set(v.log.toArray().filter((r) => r.obf !== null).map((r) => r.author))).toEqual(new Set([a.pid, b.pid]))
    for (const o of known) expect(a.chunkStore.plain(V, o)).toBeDefined()
    const secrets = known.flatMap((o) => [a.chunkStore.plain(V, o)!.opBytes, a.chunkStore.plain(V, o)!.salt])
    const unknown = 'cd'.repeat(32) as ObfHash // a member would get NOTFOUND for this one
    const h = await hostile(33, [a])
    const before = { rejected: volStat(a, 'reject:get-not-member'), in: volStat(a, 'in:get'), puts: volStat(a, 'out:put'), fetch: fotbStat(a, 'reject:fetch-not-in-audience') }
    for (const o of [...known, unknown]) expect(h.t.send(a.pid, encodeVolMessage(V, { type: 'get', obf: o }))).toBe(true)
    // The ledger itself (only obf hashes, but still only for the audience): FETCH A's and B's chains.
    for (const author of [a.pid, b.pid]) expect(h.t.send(a.pid, encodeFotbMessage(V, { type: 'fetch', author, from: 1, to: 1024 }))).toBe(true)
    await h.barrier(a)
    expect(volStat(a, 'in:get') - before.in).toBe(known.length + 1)
    expect(volStat(a, 'reject:get-not-member') - before.rejected).toBe(known.length + 1)
    expect(volStat(a, 'out:put')).toBe(before.puts)
    expect(fotbStat(a, 'reject:fetch-not-in-audience') - before.fetch).toBe(2)
    // Everything the node sent to the non-member: only the barrier's FETCH of the peer's own chain.
    expect(h.inbox.map((m) => tagOf(m.bytes))).toEqual(['fotb/fetch'])
    for (const m of h.inbox) for (const s of secrets) expect(contains(m.bytes, s)).toBe(false)
    await keepsServing(a, b)
    expect(volStat(a, 'out:put')).toBeGreaterThan(before.puts) // members do get PUTs
    expect(h.inbox.map((m) => tagOf(m.bytes))).toEqual(['fotb/fetch'])
  })

  it('[FOTB-3] replays of what a member sent: its recorded handshake does not authenticate, its sealed batches and PUTs are not delivered again', async () => {
    // B reaches A only through a recording proxy: we hold every byte B and A sent each other.
    let proxy: Awaited<ReturnType<typeof recordingProxy>> | undefined
    const { a, b } = await twoMembers(41, 42, async (port) => (proxy = await recordingProxy(port)).port)
    const { toTarget, fromTarget } = proxy!
    const bStream = Buffer.concat(toTarget)
    const bFrames = framesOf(bStream)
    expect(framesOf(Buffer.concat(fromTarget)).length).toBeGreaterThan(1)
    expect(decodeOpening(bFrames[0]!)?.intent).toEqual({ kind: 'node' })
    // On the wire everything after the handshake is ciphertext; the messages themselves are what
    // each member's core received from the other (recorded behind the transport).
    const bToA = receivedBy.get(a)!.filter((m) => m.from === b.pid).map((m) => m.bytes)
    const aToB = receivedBy.get(b)!.filter((m) => m.from === a.pid).map((m) => m.bytes)
    const snapA = snapshot(a)
    const snapB = snapshot(b)

    // 1. B's handshake and everything after it, replayed verbatim on a new connection: A's fresh
    //    ephemeral key makes B's recorded message 3 undecryptable; the real B stays connected.
    const bad = transportStat(a, 'handshake-bad')
    const replay = rawClient(a.port)
    replay.socket.write(bStream)
    await within(replay.closed, 'the node closes the replayed handshake')
    expect(transportStat(a, 'handshake-bad') - bad).toBe(1)
    expect(a.connectedPeers()).toEqual([b.pid])

    // 2. An authenticated peer replays every message both members sent, to both of them.
    const all = [...aToB, ...bToA]
    const tags = all.map(tagOf)
    const n = (tag: string): number => tags.filter((t) => t === tag).length
    expect(n('fotb/batch')).toBeGreaterThanOrEqual(4) // votes, joins and the ops of both
    expect(n('vol/put')).toBeGreaterThanOrEqual(2)
    // Every kind of message recorded is one whose handling is counted below (or, NOTFOUND, ignored).
    expect(tags.filter((t) => !['fotb/batch', 'fotb/heads', 'fotb/fetch', 'vol/get', 'vol/put', 'vol/notfound'].includes(t))).toEqual([])
    const h = await hostile(43, [a, b])
    const counters = (x: NodeHost) => ({
      replayed: fotbStat(x, 'reject:replayed'),
      strangerHeads: fotbStat(x, 'heads-from-stranger'),
      fetchRefused: fotbStat(x, 'reject:fetch-not-in-audience'),
      putRefused: volStat(x, 'reject:put-not-member'),
      getRefused: volStat(x, 'reject:get-not-member'),
      lies: volStat(x, 'reject:lie'),
    })
    const beforeA = counters(a)
    const beforeB = counters(b)
    for (let round = 0; round < 2; round++) {
      for (const m of all) {
        expect(h.t.send(a.pid, m)).toBe(true)
        expect(h.t.send(b.pid, m)).toBe(true)
      }
    }
    await h.barrier(a)
    await h.barrier(b)
    for (const [x, before, snap] of [[a, beforeA, snapA], [b, beforeB, snapB]] as const) {
      const after = counters(x)
      expect(after.replayed - before.replayed).toBe(2 * n('fotb/batch'))
      expect(after.putRefused - before.putRefused).toBe(2 * n('vol/put'))
      expect(after.getRefused - before.getRefused).toBe(2 * n('vol/get'))
      // The barrier's HEADS is a stranger's too.
      expect(after.strangerHeads - before.strangerHeads).toBe(2 * n('fotb/heads') + 1)
      expect(after.fetchRefused - before.fetchRefused).toBe(2 * n('fotb/fetch'))
      expect(after.lies).toBe(before.lies)
      expect(snapshot(x)).toEqual(snap) // fs epoch, log length, state root, delivered, chains
      expect(duplicates(x)).toEqual([]) // no (author, seq) and no log epoch handed up twice
      expect(upsOf.get(x)!.filter((u) => u.startsWith('entries')).length).toBeGreaterThanOrEqual(4) // the check is not vacuous
    }
    await keepsServing(a, b)
  })

  it('[FOTB-7] well-formed frames that are no message, or no valid one, are counted by the core; nothing crashes, nothing changes', async () => {
    const { a, b } = await twoMembers(51, 52)
    const h = await hostile(53, [a])
    const snap = snapshot(a)
    const obfBytes = fromHex(vol(a).log.toArray().find((r) => r.obf !== null)!.obf!)!
    const deep = new Uint8Array(200_001).fill(0x81) // [[[[...]]]] 200,000 deep
    deep[200_000] = 0x00
    const nodeMalformed: Uint8Array[] = [
      new Uint8Array([0xff, 0x00, 0x13]), // no CBOR
      new Uint8Array(0), // an empty frame
      new Uint8Array([0x18, 0x01]), // CBOR, but 1 in a 2-byte head: not canonical
      Buffer.concat([encode(['vol/get', V, obfBytes]), new Uint8Array([0x00])]), // trailing byte
      deep,
      encode(42),
      encode(['only a tag']),
      encode({ tag: 'vol/get', volume: V }),
      encode([7, V]), // a tag that is no string
      encode(['vol/get', 'no such volume!']), // a volume name that is no name
      encode(['vol/get', V, obfBytes.subarray(0, 31)]), // obf of 31 bytes
      encode(['vol/put', V, obfBytes, new Uint8Array(3), new Uint8Array(3), []]), // salt of 3 bytes
      encode(['vol/steal', V, obfBytes]),
    ]
    const fotbMalformed: Uint8Array[] = [
      encode(['fotb/batch', V, 'not a list', new Uint8Array(1)]),
      encode(['fotb/batch', V, [new Uint8Array(5)], new Uint8Array(5)]),
      encode(['fotb/batch', V, [], new Uint8Array(5)]),
      encode(['fotb/heads', V, [[1, 2, 3]], []]),
      encode(['fotb/fetch', V, fromHex(a.pid)!, 5, 1]),
      encode(['fotb/proof', V, new Uint8Array(10)]),
      encode(['fotb/nonsense', V]),
    ]
    const before = {
      node: nodeStat(a, 'reject:malformed'),
      unknownVolume: nodeStat(a, 'reject:unknown-volume'),
      unknownTag: nodeStat(a, 'reject:unknown-tag'),
      fotb: fotbStat(a, 'reject:malformed'),
      transport: [...a.transportStats.values()].reduce((s, x) => s + x, 0),
    }
    for (const m of [...nodeMalformed, ...fotbMalformed]) expect(h.t.send(a.pid, m)).toBe(true)
    expect(h.t.send(a.pid, encode(['vol/get', 'elsewhere', obfBytes]))).toBe(true)
    expect(h.t.send(a.pid, encode(['paciofs/rm-rf', V]))).toBe(true)
    await h.barrier(a)
    expect(nodeStat(a, 'reject:malformed') - before.node).toBe(nodeMalformed.length)
    expect(fotbStat(a, 'reject:malformed') - before.fotb).toBe(fotbMalformed.length)
    expect(nodeStat(a, 'reject:unknown-volume') - before.unknownVolume).toBe(1)
    expect(nodeStat(a, 'reject:unknown-tag') - before.unknownTag).toBe(1)
    // Frames were well-formed: the transport rejected nothing and kept the peer.
    expect([...a.transportStats.values()].reduce((s, x) => s + x, 0)).toBe(before.transport)
    expect(a.connectedPeers()).toContain(h.t.pid)

    // [FOTB-7] A rejected batch leaves no trace in accepted state: a real batch of B whose seal is
    // relabelled to an invented author is refused as 'wrong-chain', and the invented author gets
    // no (empty) chain — which would also use up the maxAuthors budget that admits joiners.
    const invented = toHex(nodeCrypto.publicKey(key(99))) as Pid
    const bLog = vol(a).fotb.chains.get(b.pid)!
    const bSeal = bLog.view.seals.toArray()[0]!
    const bEntries = Array.from({ length: bSeal.seq }, (_, i) => a.chunkStore.entry(V, b.pid, i + 1)!)
    const relabelled = encodeFotbMessage(V, { type: 'batch', entries: bEntries, seal: { ...bSeal, author: invented } })
    const wrongChain = fotbStat(a, 'reject:wrong-chain')
    expect(h.t.send(a.pid, relabelled)).toBe(true)
    await h.barrier(a)
    expect(fotbStat(a, 'reject:wrong-chain') - wrongChain).toBe(1)
    expect(vol(a).fotb.chains.has(invented)).toBe(false)
    expect(snapshot(a)).toEqual(snap)

    // Every single-byte corruption of real messages (re-encoded from A's state with the core's
    // encoders): none may crash the node or change what it delivered.
    const v = vol(a)
    const bases: Uint8Array[] = []
    for (const [author, log] of v.fotb.chains) {
      let from = 1
      for (const seal of log.view.seals) {
        const entries = Array.from({ length: seal.seq - from + 1 }, (_, i) => a.chunkStore.entry(V, author, from + i)!)
        bases.push(encodeFotbMessage(V, { type: 'batch', entries, seal }))
        from = seal.seq + 1
      }
    }
    for (const obf of v.log.toArray().map((r) => r.obf).filter((o) => o !== null)) {
      const plain = a.chunkStore.plain(V, obf)!
      bases.push(encodeVolMessage(V, { type: 'put', obf, salt: plain.salt, opBytes: plain.opBytes, chunks: [] }))
    }
    bases.push(encodeFotbMessage(V, { type: 'heads', heads: [...v.fotb.chains].map(([author, log]) => ({ author, seq: log.view.seq, head: log.view.head })), proofs: [], readies: [] }))
    const rand = prng(0x5eed)
    let mutants = 0
    for (let i = 0; i < 400; i++) {
      const base = bases[i % bases.length]!
      const m = base.slice()
      m[rand() % m.length]! ^= 1 + (rand() % 255)
      expect(h.t.send(a.pid, m)).toBe(true)
      mutants++
    }
    await h.barrier(a)
    expect(mutants).toBe(400)
    expect(a.halted).toBeUndefined()
    expect(snapshot(a)).toEqual(snap)
    expect(duplicates(a)).toEqual([])
    expect(h.inbox.map((m) => tagOf(m.bytes)).every((t) => t === 'fotb/fetch')).toBe(true)
    await keepsServing(a, b)
  })
})
