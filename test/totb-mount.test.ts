// Real processes, real FUSE, real TCP on loopback: a volume in total order (`--order totb`,
// spec/totb.md "Volumes in total order"). Three mounts create and write one path at the same
// moment; each call is answered with the result of its place in the order, every replica ends
// with the same content and state root, verify is clean, and a remount derives the order again.
import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cleanupAll, freePort, mountPaciofs, runPaciofs, stopProc, waitFor, type Proc } from './support/procs.ts'

const root = mkdtempSync(join(tmpdir(), 'paciofs-totb-'))
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

const status = async (d: string): Promise<{ stateRoot: string; epoch: number; order: string }> => JSON.parse((await runPaciofs(['status', '--json', '--data', dir(d)])).stdout).volumes[0]
const errnoOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (err: NodeJS.ErrnoException) => err.code ?? String(err))

describe('a totb volume on three nodes', () => {
  it('[TOTB-7] concurrent conflicting calls through three mounts: answered by the order, one replica everywhere, verify clean, remount derives the order again', async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    const addr = (i: number): string => `127.0.0.1:${ports[i]}`
    const [m1, m2, m3] = [mnt('m1'), mnt('m2'), mnt('m3')]
    const procs: Proc[] = []
    procs.push(await mountPaciofs(m1, ['--data', dir('d1'), '--volume', 'books', '--open', '--order', 'totb', '--listen', addr(0)]))
    procs.push(await mountPaciofs(m2, ['--data', dir('d2'), '--volume', 'books', '--join', '--listen', addr(1), '--peer', addr(0)]))
    procs.push(await mountPaciofs(m3, ['--data', dir('d3'), '--volume', 'books', '--join', '--listen', addr(2), '--peer', addr(0), '--peer', addr(1)]))
    expect((await status('d2')).order).toBe('totb')

    // The same directory made through all three at once: one succeeds, the others are told EEXIST.
    const made = await Promise.all([m1, m2, m3].map((m) => errnoOf(fs.mkdir(join(m, 'ledger')))))
    expect(made.filter((r) => r === 'ok')).toHaveLength(1)
    expect(made.filter((r) => r === 'EEXIST')).toHaveLength(2)
    // One file, made through one mount, then written through all three at once: whichever write
    // the order puts last wins, everywhere. (Creating it through all three at once answers two of
    // them EEXIST, as the mkdir above: FUSE's create cannot tell O_EXCL from a plain O_CREAT.)
    await fs.writeFile(join(m1, 'ledger/2026.txt'), '')
    for (const m of [m2, m3]) await waitFor('the file everywhere', async () => (await fs.stat(join(m, 'ledger/2026.txt')).catch(() => undefined)) !== undefined, 30_000, 100)
    await Promise.all([m1, m2, m3].map((m, i) => fs.writeFile(join(m, 'ledger/2026.txt'), `entry from node ${i + 1}\n`)))
    const seen = await Promise.all([m1, m2, m3].map((m) => fs.readFile(join(m, 'ledger/2026.txt'), 'utf8')))
    // Read-your-writes and one order: each mount answered after applying; all agree once quiet.
    await waitFor('equal state roots', async () => new Set((await Promise.all(['d1', 'd2', 'd3'].map(status))).map((s) => s.stateRoot)).size === 1, 30_000, 200)
    const final = await Promise.all([m1, m2, m3].map((m) => fs.readFile(join(m, 'ledger/2026.txt'), 'utf8')))
    expect(new Set(final).size).toBe(1)
    expect(final[0]).toMatch(/^entry from node [123]\n$/)
    expect(seen.every((s) => /^entry from node [123]\n$/.test(s))).toBe(true)

    // A remount of node 2 rebuilds the order from its chains and goes on. (Three members
    // tolerate no stopped member in total order, f = 0: rounds need all three; writes wait for it.)
    await stopProc(procs[1]!, 'SIGINT')
    procs[1] = await mountPaciofs(m2, ['--data', dir('d2'), '--volume', 'books', '--listen', addr(1), '--peer', addr(0), '--peer', addr(2)])
    await fs.writeFile(join(m2, 'after.txt'), 'after the remount')
    await fs.writeFile(join(m1, 'ledger/2026.txt'), 'rewritten by node 1\n')
    await waitFor('node 2 sees it', async () => (await fs.readFile(join(m2, 'ledger/2026.txt'), 'utf8').catch(() => '')) === 'rewritten by node 1\n', 60_000, 200)
    expect(await fs.readFile(join(m3, 'after.txt'), 'utf8')).toBe('after the remount')
    await waitFor('equal state roots again', async () => new Set((await Promise.all(['d1', 'd2', 'd3'].map(status))).map((s) => s.stateRoot)).size === 1, 30_000, 200)
    for (const p of procs) await stopProc(p, 'SIGINT')
    for (const d of ['d1', 'd2', 'd3']) {
      const v = await runPaciofs(['verify', '--data', dir(d)])
      expect(v.stdout + v.stderr).toMatch(/clean/)
      expect(v.code).toBe(0)
    }
  }, 240_000)
})
