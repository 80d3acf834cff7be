// Who made each change: operations carry the identity of the process that made them, through a
// real mount (two users writing as separate processes) and in client/server mode (the client's
// authenticated key, whatever its request claimed). spec/runtime.md RT-7, RT-8.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { pidOf } from '../core/node.ts'
import { decode } from '../core/codec.ts'
import { validateOp, type FsOp } from '../core/fs/ops.ts'
import type { VolumeName } from '../core/types.ts'
import { RemoteBackend } from '../runtime/client.ts'
import { NodeHost } from '../runtime/host.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import { ClientServer } from '../runtime/server.ts'
import { genesisOf, key } from './support/nodes.ts'
import { cleanupAll, mountPaciofs, runPaciofs, stopProc, type Proc } from './support/procs.ts'

const exec = promisify(execFile)
const isRoot = process.getuid?.() === 0
const root = mkdtempSync(join(tmpdir(), 'paciofs-attr-'))
chmodSync(root, 0o755) // the other users must reach the mount below it
const data = join(root, 'data')
const mnt = join(root, 'mnt')
let proc: Proc | undefined

/** Runs a shell command as uid:gid (no supplementary groups) in a process of its own. */
async function as(uid: number, gid: number, cmd: string): Promise<void> {
  await exec('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', 'sh', '-c', cmd])
}

const paciofs = async (...args: string[]) => {
  const r = await runPaciofs([...args, '--data', data, '--json'])
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout)
}

afterAll(async () => {
  if (proc) await stopProc(proc)
  await cleanupAll([mnt])
  rmSync(root, { recursive: true, force: true })
})

describe.skipIf(!isRoot)('[RT-7] a mount records who made each operation', () => {
  beforeAll(async () => {
    proc = await mountPaciofs(mnt, ['--data', data])
    // A shared directory anyone may write to, as /tmp is.
    await exec('mkdir', [join(mnt, 'shared')])
    await exec('chmod', ['1777', join(mnt, 'shared')])
  }, 90_000)

  it('[RT-7] files written by two users show both identities in history and log', async () => {
    const f = join(mnt, 'shared', 'ledger.txt')
    await as(1000, 1000, `echo 'entry by alice' > ${f} && chmod 666 ${f}`)
    await as(1001, 1001, `echo 'entry by bob' >> ${f}`)
    await as(1001, 1001, `echo 'bob alone' > ${join(mnt, 'shared', 'bob.txt')}`)

    const h = await paciofs('history', '/shared/ledger.txt')
    const byWho = h.versions.map((v: { op: string; cred: { uid: number; gid: number } }) => `${v.op}:${v.cred.uid}:${v.cred.gid}`)
    expect(byWho).toEqual(['create:1000:1000', 'write:1000:1000', 'chmod:1000:1000', 'write:1001:1001'])
    // The file stays alice's: bob appended, he did not take it over.
    expect(h.versions.at(-1)).toMatchObject({ uid: 1000, gid: 1000 })

    const text = (await runPaciofs(['history', '/shared/ledger.txt', '--data', data])).stdout
    expect(text).toContain('by uid 1000 gid 1000')
    expect(text).toContain('by uid 1001 gid 1001')

    const log = await paciofs('log')
    const rows = log.records.map((r: { kind: string; uid: number; gid: number; paths: string[] | null }) => `${r.kind} ${r.uid}:${r.gid} ${r.paths?.join(' ')}`)
    expect(rows).toContain('mkdir 0:0 /shared')
    expect(rows).toContain('create 1000:1000 /shared/ledger.txt')
    expect(rows).toContain('write 1001:1001 /shared/ledger.txt')
    expect(rows).toContain('create 1001:1001 /shared/bob.txt')
    // New files belong to their creator, not to the user who mounted the volume (root).
    const st = await exec('stat', ['-c', '%u:%g', join(mnt, 'shared', 'bob.txt')])
    expect(st.stdout.trim()).toBe('1001:1001')
  })

  it('[RT-7] a denied change is refused through the mount and leaves the file as it was', async () => {
    const f = join(mnt, 'shared', 'bob.txt')
    await expect(as(1000, 1000, `echo 'not yours' >> ${f}`)).rejects.toThrow(/Permission denied/)
    await expect(as(1000, 1000, `chmod 777 ${f}`)).rejects.toThrow(/Operation not permitted/)
    await expect(as(1000, 1000, `rm -f ${f}`)).rejects.toThrow(/Operation not permitted/) // sticky /shared
    const r = await exec('cat', [f])
    expect(r.stdout).toBe('bob alone\n')
  })
})

describe('[RT-8] client/server: the log names the client by its authenticated key', () => {
  const V = 'docs' as VolumeName
  const cleanups: (() => Promise<void>)[] = []
  const dirs: string[] = []
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it('[RT-8] every served operation carries the client key, also when the request claims another', async () => {
    const d = mkdtempSync(join(tmpdir(), 'paciofs-attr-cs-'))
    dirs.push(d)
    const host = await NodeHost.start({ dataDir: d, secretKey: key(1), listen: { host: '127.0.0.1', port: 0 }, peers: [] })
    cleanups.push(() => host.stop())
    genesisOf(await host.request({ type: 'create-volume', name: V, policy: 'majority' }))
    const alice = pidOf(nodeCrypto, key(2))
    const mallory = pidOf(nodeCrypto, key(3))
    new ClientServer(host, new Set([alice, mallory]))
    const c = await RemoteBackend.connect({ server: { host: '127.0.0.1', port: host.port }, secretKey: key(2), volume: V, connectTimeoutMs: 5_000 })
    cleanups.push(() => c.close())
    const cred = { uid: 1000, gid: 1000 }
    const time = { sec: 1_700_000_000, nsec: 5 }
    expect(await c.call({ type: 'mkdir', path: '/d', mode: 0o755, cred, time })).toMatchObject({ ok: true })
    // A claim to be mallory's client is replaced by the key this connection authenticated.
    expect(await c.call({ type: 'mkdir', path: '/e', mode: 0o755, cred, time, client: mallory })).toMatchObject({ ok: true })
    expect(await c.call({ type: 'create', path: '/d/f', mode: 0o644, cred, time, client: mallory })).toMatchObject({ ok: true })
    const data = new TextEncoder().encode('alice was here')
    expect(await c.call({ type: 'write', path: '/d/f', writes: [{ offset: 0, data }], cred, time, client: mallory })).toMatchObject({ ok: true })
    // Denied ops are attributed too (bob may not write into alice's 0755 directory).
    expect(await c.call({ type: 'create', path: '/d/g', mode: 0o644, cred: { uid: 1001, gid: 1001 }, time })).toMatchObject({ ok: false, errno: 'EACCES' })
    // The node keeps the past in its store (StoredFsPast): the log lines are read back from it.
    const past = host.state.volumes.get(V)!.fs.past
    const log = Array.from({ length: past.logLength }, (_, i) => past.logLine(i + 1)!)
    expect(log.map((l) => [l.kind, l.uid, l.errno, l.client])).toEqual([
      ['mkdir', 1000, null, alice],
      ['mkdir', 1000, null, alice],
      ['create', 1000, null, alice],
      ['write', 1000, null, alice],
      ['create', 1001, 'EACCES', alice],
    ])
    // The plain operations in the replica say the same (they are what peers receive).
    const ops = host.state.volumes.get(V)!.log.toArray().filter((r) => r.obf !== null).map((r) => host.chunkStore.plain(V, r.obf!)!)
    const plainClients = ops.map((p) => (validateOp(decode(p.opBytes)) as { ok: true; op: FsOp }).op.client)
    expect(plainClients.length).toBe(4)
    expect(new Set(plainClients)).toEqual(new Set([alice]))
  })
})
