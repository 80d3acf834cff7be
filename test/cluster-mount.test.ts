// Real processes, real FUSE, real TCP on loopback: three nodes replicate one volume through their
// mounts and verify clean; a second volume on two of them stays invisible to the third; two
// clients mount one volume a node serves and see each other's writes; a key the node was not
// told about is refused.
import { afterAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { cleanupAll, freePort, mountPaciofs, runPaciofs, startPaciofs, stopProc, waitFor, waitForLine } from './support/procs.ts'

const root = mkdtempSync(join(tmpdir(), 'paciofs-cluster-'))
chmodSync(root, 0o755) // other users reach the client mounts below it
const exec = promisify(execFile)
const mounts: string[] = []
const dir = (name: string): string => join(root, name)
const mnt = (name: string): string => {
  const d = dir(name)
  mounts.push(d)
  return d
}

afterAll(async () => {
  await cleanupAll(mounts)
  rmSync(root, { recursive: true, force: true })
})

const readOr = (p: string): Promise<string | undefined> => fs.readFile(p, 'utf8').catch(() => undefined)
const eventually = (what: string, p: string, content: string) => waitFor(`${what}: ${p} = ${JSON.stringify(content)}`, async () => (await readOr(p)) === content, 60_000, 100)

async function initNode(name: string): Promise<string> {
  const r = await runPaciofs(['init', '--data', dir(name)])
  expect(r.code).toBe(0)
  return /node id (\S+)/.exec(r.stdout)![1]!
}

describe('three nodes on loopback, one volume, three mounts', () => {
  it('writes through one mount appear through the others; verify is clean on all three; a second volume stays invisible to the third node', async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    const addr = (i: number): string => `127.0.0.1:${ports[i]}`
    const [m1, m2, m3] = [mnt('m1'), mnt('m2'), mnt('m3')]
    await mountPaciofs(m1, ['--data', dir('d1'), '--volume', 'docs', '--open', '--listen', addr(0)])
    await mountPaciofs(m2, ['--data', dir('d2'), '--volume', 'docs', '--join', '--listen', addr(1), '--peer', addr(0)])
    await mountPaciofs(m3, ['--data', dir('d3'), '--volume', 'docs', '--join', '--listen', addr(2), '--peer', addr(0), '--peer', addr(1)])

    await fs.mkdir(join(m1, 'reports'))
    await fs.writeFile(join(m1, 'reports/2026.txt'), 'revenue 42\n')
    await eventually('node 2', join(m2, 'reports/2026.txt'), 'revenue 42\n')
    await eventually('node 3', join(m3, 'reports/2026.txt'), 'revenue 42\n')

    // Writes from the other mounts, and a rename, flow back.
    await fs.writeFile(join(m2, 'from-2.txt'), 'two')
    await fs.writeFile(join(m3, 'from-3.txt'), 'three')
    await fs.rename(join(m1, 'reports/2026.txt'), join(m1, 'reports/final.txt'))
    for (const m of [m1, m2, m3]) {
      await eventually('every node', join(m, 'from-2.txt'), 'two')
      await eventually('every node', join(m, 'from-3.txt'), 'three')
      await eventually('every node', join(m, 'reports/final.txt'), 'revenue 42\n')
    }
    // Same state root everywhere once quiet.
    const roots = async () => Promise.all(['d1', 'd2', 'd3'].map(async (d) => JSON.parse((await runPaciofs(['status', '--json', '--data', dir(d)])).stdout).volumes[0].stateRoot as string))
    await waitFor('equal state roots', async () => new Set(await roots()).size === 1, 30_000, 200)

    for (const d of ['d1', 'd2', 'd3']) {
      const v = await runPaciofs(['verify', '--data', dir(d)])
      expect(v.stdout + v.stderr).toMatch(/clean/)
      expect(v.code).toBe(0)
    }

    // A second volume on nodes 1 and 2 only.
    expect((await runPaciofs(['create', 'private', '--open', '--data', dir('d1')])).code).toBe(0)
    const j = await runPaciofs(['join', 'private', '--data', dir('d2')])
    expect(j.stderr).toBe('')
    expect(j.code).toBe(0)
    await waitFor('node 2 a member of private', async () => {
      const r = await runPaciofs(['members', '--volume', 'private', '--json', '--data', dir('d1')])
      return r.code === 0 && (JSON.parse(r.stdout).members as { status: string }[]).filter((m) => m.status === 'member').length === 2
    }, 30_000, 200)
    const s3 = JSON.parse((await runPaciofs(['status', '--json', '--data', dir('d3')])).stdout)
    expect((s3.volumes as { name: string }[]).map((v) => v.name)).toEqual(['docs'])
    const v3 = await runPaciofs(['verify', '--volume', 'private', '--data', dir('d3')])
    expect(v3.code).toBe(1)
    expect(v3.stderr).toMatch(/private/)
  })
})

describe('client/server mode', () => {
  it('[RT-4] [RT-7] [RT-8] two clients mount one served volume and see each other\'s writes, attributed to user and client; an unknown key is refused', async () => {
    const [c1, c2, c3] = [await initNode('c1'), await initNode('c2'), await initNode('c3')]
    await initNode('server')
    const port = await freePort()
    const server = startPaciofs(['serve', '--data', dir('server'), '--listen', `127.0.0.1:${port}`, '--volume', 'shared', '--client', c1, '--client', c2])
    await waitForLine(server, /^serving node/m)
    const [a, b] = [mnt('client-a'), mnt('client-b')]
    await mountPaciofs(a, ['--server', `127.0.0.1:${port}`, '--volume', 'shared', '--data', dir('c1')])
    await mountPaciofs(b, ['--server', `127.0.0.1:${port}`, '--volume', 'shared', '--data', dir('c2')])

    await fs.writeFile(join(a, 'from-a.txt'), 'written by a')
    expect(await fs.readFile(join(b, 'from-a.txt'), 'utf8')).toBe('written by a')
    await fs.mkdir(join(b, 'dir-b'))
    await fs.writeFile(join(b, 'dir-b/x.bin'), Buffer.alloc(300_000, 7))
    expect((await fs.readFile(join(a, 'dir-b/x.bin'))).equals(Buffer.alloc(300_000, 7))).toBe(true)
    expect((await fs.readdir(a)).sort()).toEqual(['dir-b', 'from-a.txt'])

    // The served node's log has the clients' operations; verify on the server is clean.
    const log = await runPaciofs(['log', '--data', dir('server')])
    expect(log.stdout).toMatch(/from-a\.txt/)
    expect(log.stdout).toMatch(/dir-b\/x\.bin/)

    // [RT-7] [RT-8] A user of client a's machine: the client's kernel and mount pass the caller,
    // the server records the user and the client's key; the file is the user's on both mounts.
    if (process.getuid?.() === 0) {
      await exec('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', 'sh', '-c', `echo mine > ${join(a, 'by-alice.txt')}`])
      expect((await fs.stat(join(b, 'by-alice.txt'))).uid).toBe(1000)
      await expect(exec('setpriv', ['--reuid=1001', '--regid=1001', '--clear-groups', 'sh', '-c', `echo theirs >> ${join(b, 'by-alice.txt')}`])).rejects.toThrow(/Permission denied/)
      const records = JSON.parse((await runPaciofs(['log', '--json', '--data', dir('server')])).stdout).records as { kind: string; uid: number; client: string | null; paths: string[] }[]
      const mine = records.filter((r) => r.paths?.[0] === '/by-alice.txt')
      expect(mine.map((r) => [r.kind, r.uid, r.client])).toEqual([['create', 1000, c1], ['write', 1000, c1]])
      expect(records.filter((r) => r.paths?.[0] === '/dir-b').map((r) => r.client)).toEqual([c2])
    }
    expect((await runPaciofs(['verify', '--data', dir('server')])).code).toBe(0)

    // A third key, not admitted with --client: the mount is refused with the reason.
    const refused = startPaciofs(['mount', mnt('client-c'), '--server', `127.0.0.1:${port}`, '--volume', 'shared', '--data', dir('c3')])
    expect(await refused.exited).toBe(1)
    expect(refused.stderr).toContain(`--client ${c3}`)
    expect(await stopProc(server)).toBe(0)
  })
})
