// Client/server mode without FUSE: RemoteBackend against a NodeHost serving ClientServer on
// loopback. An admitted client reads and changes the volume (also a past epoch, read-only); a
// key not admitted gets nothing; malformed requests are answered EINVAL, counted, never executed.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decode, encode, type Value } from '../core/codec.ts'
import { pidOf } from '../core/node.ts'
import type { VolumeName } from '../core/types.ts'
import { RemoteBackend } from '../runtime/client.ts'
import { callFromValue } from '../runtime/client-protocol.ts'
import { NodeHost } from '../runtime/host.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import { ClientServer } from '../runtime/server.ts'
import { Transport } from '../runtime/transport.ts'
import { genesisOf, key } from './support/nodes.ts'

const V = 'docs' as VolumeName
const cred = { uid: 1000, gid: 1000 }
const time = { sec: 1_700_000_000, nsec: 5 }
const dirs: string[] = []
const closers: (() => Promise<void>)[] = []

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function served(): Promise<{ host: NodeHost; server: ClientServer; port: number }> {
  const d = mkdtempSync(join(tmpdir(), 'paciofs-cs-'))
  dirs.push(d)
  const host = await NodeHost.start({ dataDir: d, secretKey: key(1), listen: { host: '127.0.0.1', port: 0 }, peers: [] })
  closers.push(() => host.stop())
  genesisOf(await host.request({ type: 'create-volume', name: V, policy: 'majority' }))
  const server = new ClientServer(host, new Set([pidOf(nodeCrypto, key(2))]))
  return { host, server, port: host.port }
}

async function client(port: number, sk: Uint8Array, at?: number): Promise<RemoteBackend> {
  const b = await RemoteBackend.connect({ server: { host: '127.0.0.1', port }, secretKey: sk, volume: V, ...(at !== undefined ? { at } : {}), connectTimeoutMs: 5_000 })
  closers.push(() => b.close())
  return b
}

describe('client/server mode', () => {
  it('[RT-4] an admitted client writes, reads back, lists and reads a past epoch read-only', async () => {
    const { host } = await served()
    const c = await client(host.port, key(2))
    expect(await c.call({ type: 'create', path: '/a.txt', mode: 0o644, cred, time })).toMatchObject({ ok: true })
    const data = new TextEncoder().encode('first')
    expect(await c.call({ type: 'write', path: '/a.txt', writes: [{ offset: 0, data }], cred, time })).toEqual({ ok: true })
    expect(await c.read('/a.txt', 0, 100)).toEqual({ ok: true, value: data })
    expect(await c.call({ type: 'write', path: '/a.txt', writes: [{ truncate: 0 }, { offset: 0, data: new TextEncoder().encode('second') }], cred, time })).toEqual({ ok: true })
    const ls = await c.readdir('/')
    expect(ls.ok && ls.value.map((e) => e.name)).toEqual(['a.txt'])
    const attr = await c.getattr('/a.txt')
    expect(attr.ok && attr.value.size).toBe(6)
    expect(await c.getattr('/missing')).toEqual({ ok: false, errno: 'ENOENT' })

    const epochAfterFirstWrite = 2
    const past = await client(host.port, key(2), epochAfterFirstWrite)
    expect(await past.read('/a.txt', 0, 100)).toEqual({ ok: true, value: data })
    expect(await past.call({ type: 'unlink', path: '/a.txt', cred, time })).toMatchObject({ ok: false, errno: 'EROFS' })
  })

  it('[RT-4] a key that was not admitted is refused and gets no data', async () => {
    const { host, server } = await served()
    await expect(client(host.port, key(3))).rejects.toMatchObject({ code: 'CLIENT_NO_SERVER', message: expect.stringContaining('--client') })
    expect(server.stats.get('cs:refused-client')).toBeGreaterThanOrEqual(1)
  })

  it('[RT-4] malformed requests are answered EINVAL and counted, and change nothing', async () => {
    const { host, server } = await served()
    const answers: Value[] = []
    const raw = new Transport({ crypto: nodeCrypto, secretKey: key(2), onMessage: (_f, b) => answers.push(decode(b)) })
    closers.push(() => raw.close())
    raw.connect('127.0.0.1', host.port)
    while (raw.connectedPeers().length === 0) await new Promise((r) => setTimeout(r, 20))
    const to = raw.connectedPeers()[0]!
    const bad: Value[] = [
      ['cs/req', 1, V, null, 'call', [{ type: 'write', path: '/x', writes: [{ offset: -1, data: new Uint8Array(1) }], cred, time }]],
      ['cs/req', 2, V, null, 'call', [{ type: 'unlink', path: 42, cred, time }]],
      ['cs/req', 3, V, null, 'call', [{ type: 'chmod', path: '/', mode: 0o755, cred, time, extra: 1 }]],
      ['cs/req', 4, V, null, 'read', ['/', 0, 1e9]],
      ['cs/req', 5, V, null, 'rm -rf', ['/']],
      ['cs/req', 6, V, 999, 'getattr', ['/']],
    ]
    for (const m of bad) expect(raw.send(to, encode(m))).toBe(true)
    expect(raw.send(to, new Uint8Array([0x86, 0x66, 0x63, 0x73, 0x2f, 0x72, 0x65, 0x71, 0xff]))).toBe(true) // 'cs/req' tag, then garbage
    while (answers.length < bad.length) await new Promise((r) => setTimeout(r, 20))
    for (const a of answers) expect((a as Value[])[2]).toBe(false)
    expect(answers.map((a) => (a as Value[])[3])).toEqual(['EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL'])
    // Five ill-typed requests and the undecodable frame; an epoch out of range is a valid request.
    while ((server.stats.get('cs:malformed') ?? 0) < 6) await new Promise((r) => setTimeout(r, 20))
    expect(server.stats.get('cs:malformed')).toBe(6)
    expect(host.state.volumes.get(V)!.fs.epoch).toBe(0)
    expect(host.halted).toBeUndefined()
  })

  it('callFromValue accepts exactly the FsCalls a local mount would make', () => {
    expect(callFromValue({ type: 'mkdir', path: '/d', mode: 0o755, cred, time })).toEqual({ ok: true, call: { type: 'mkdir', path: '/d', mode: 0o755, cred, time } })
    expect(callFromValue({ type: 'mkdir', path: '/d', mode: 0o755, cred, time, ino: 7 }).ok).toBe(false)
    expect(callFromValue({ type: 'write', path: '/d', writes: [{ truncate: 3 }], cred, time }).ok).toBe(true)
    expect(callFromValue({ type: 'write', path: '/d', writes: [{ offset: 0, data: new Uint8Array(9 * 1024 * 1024) }], cred, time }).ok).toBe(false)
    expect(callFromValue(['not', 'a', 'map']).ok).toBe(false)
  })
})
