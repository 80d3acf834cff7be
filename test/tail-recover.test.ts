// A lost tail in a cluster (issue 17; spec/fotb.md "Recovering the own chain", FOTB-8, RT-9):
// three nodes on loopback with mounts; node 1 writes a file that reaches the others, stops, and
// one byte of the record holding that write in its level log is flipped (LevelDB then drops the
// record and the rest of its block). The node refuses to start; started with --recover-tail it
// takes no write until it has learnt its own chain back from nodes 2 and 3, then holds the lost
// file again and seals its next write after its old entries: the others see no equivocation
// and keep it as a member. Real processes, real FUSE, real TCP.
import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { storePath } from '../runtime/datadir.ts'
import { cleanupAll, freePort, mountPaciofs, runPaciofs, startPaciofs, stopProc, waitFor } from './support/procs.ts'

const root = mkdtempSync(join(tmpdir(), 'paciofs-tailrec-'))
const mounts: string[] = []
const dir = (name: string): string => join(root, name)
const mnt = (name: string): string => (mounts.push(dir(name)), dir(name))
afterAll(async () => {
  await cleanupAll(mounts)
  rmSync(root, { recursive: true, force: true })
})

const readOr = (p: string): Promise<string | undefined> => fs.readFile(p, 'utf8').catch(() => undefined)
const eventually = (what: string, p: string, content: string) => waitFor(`${what}: ${p}`, async () => (await readOr(p)) === content, 60_000, 100)
const status = async (d: string) => JSON.parse((await runPaciofs(['status', '--json', '--data', dir(d)])).stdout).volumes[0]

describe('[FOTB-8] [RT-9] a node of a cluster loses the newest record of its store', () => {
  it('refuses to start; with --recover-tail it learns its own chain from the members, regains the lost write, and never seals twice at one seq', async () => {
    const ports = [await freePort(), await freePort(), await freePort()]
    const addr = (i: number): string => `127.0.0.1:${ports[i]}`
    const [m1, m2, m3] = [mnt('m1'), mnt('m2'), mnt('m3')]
    const n1 = await mountPaciofs(m1, ['--data', dir('d1'), '--volume', 'docs', '--open', '--listen', addr(0), '--peer', addr(1), '--peer', addr(2)])
    await mountPaciofs(m2, ['--data', dir('d2'), '--volume', 'docs', '--join', '--listen', addr(1), '--peer', addr(0)])
    await mountPaciofs(m3, ['--data', dir('d3'), '--volume', 'docs', '--join', '--listen', addr(2), '--peer', addr(0), '--peer', addr(1)])
    await fs.writeFile(join(m1, 'first.txt'), 'first\n')
    await eventually('node 3', join(m3, 'first.txt'), 'first\n')
    expect(await stopProc(n1)).toBe(0)
    // Opening the stopped store turns its log into a table: the next run's log holds only its own batches.
    expect((await runPaciofs(['verify', '--data', dir('d1')])).code).toBe(0)

    const n1b = await mountPaciofs(m1, ['--data', dir('d1'), '--volume', 'docs', '--listen', addr(0), '--peer', addr(1), '--peer', addr(2)])
    const marker = 'LOST-BUT-REPLICATED-0123456789'
    await fs.writeFile(join(m1, 'lost.txt'), marker)
    await eventually('node 2', join(m2, 'lost.txt'), marker)
    await eventually('node 3', join(m3, 'lost.txt'), marker)
    const before = await status('d1')
    const sealed = before.ledger.ownSeq as number
    expect(await stopProc(n1b)).toBe(0)

    // One byte of the record holding the write (its content is inline in the chunk index entry).
    const store = storePath(dir('d1'))
    const log = readdirSync(store).filter((f) => f.endsWith('.log')).map((f) => join(store, f)).find((p) => statSync(p).size > 0)!
    const bytes = readFileSync(log)
    const at = bytes.indexOf(Buffer.from(marker))
    expect(at).toBeGreaterThan(0)
    bytes[at + 3] = bytes[at + 3]! ^ 0x01
    writeFileSync(log, bytes)

    const refused = startPaciofs(['serve', '--data', dir('d1'), '--listen', addr(0)])
    expect(await refused.exited).toBe(1)
    expect(refused.stderr).toMatch(/lost its newest batches.*refuses to start.*--recover-tail/s)

    const n1c = await mountPaciofs(m1, ['--data', dir('d1'), '--volume', 'docs', '--listen', addr(0), '--peer', addr(1), '--peer', addr(2), '--recover-tail'])
    expect(n1c.stderr).toMatch(/--recover-tail: volume 'docs': this node learns its own chain back from the 2 other member\(s\) before it takes a write/)
    // It learns its chain back from the members (their echoes, then a fetch of its own range).
    await waitFor('node 1 to regain its own chain', async () => (await status('d1')).ledger.ownSeq === sealed, 60_000, 200)
    await eventually('node 1 regained the lost write', join(m1, 'lost.txt'), marker)
    await waitFor('node 1 to take writes again', async () => fs.writeFile(join(m1, 'after.txt'), 'after\n').then(() => true, () => false), 60_000, 200)
    await eventually('node 2', join(m2, 'after.txt'), 'after\n')
    const after = await status('d1')
    expect(after.ledger.ownSeq).toBeGreaterThan(sealed)
    expect(after.ledger.recovering).toBeNull()
    expect(after.stats.fotb['recovery:regained']).toBeGreaterThan(0) // its own entries came back from b and c
    for (const d of ['d2', 'd3']) {
      const s = await status(d)
      expect(s.ledger.equivocators).toEqual([]) // nobody saw node 1 seal twice at one seq
      expect(s.members).toBe(3)
    }
    for (const d of ['d1', 'd2', 'd3']) {
      const v = await runPaciofs(['verify', '--data', dir(d)])
      expect(v.code, `${d}: ${v.stdout}${v.stderr}`).toBe(0)
    }
    expect(await stopProc(n1c)).toBe(0)
  }, 240_000)
})
