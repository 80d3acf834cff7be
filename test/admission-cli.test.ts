// Closed admission with real processes on loopback (spec/paciofs.md "Admission"): a founder's
// mount creates a closed volume and writes a file; nodes that serve --join it are admitted only
// with an invite (once), or when a member admits them by id; the others stay applicants, cannot
// read the volume, and the members say why they did not vote for them. An --open volume
// admits as before.
import { afterAll, describe, expect, it } from 'vitest'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cleanupAll, freePort, mountPaciofs, runPaciofs, startPaciofs, stopProc, waitFor, waitForLine, type Proc } from './support/procs.ts'
import { NodeHost } from '../runtime/host.ts'
import { loadKey, storePath } from '../runtime/datadir.ts'
import type { VolumeName } from '../core/types.ts'

const root = mkdtempSync(join(tmpdir(), 'paciofs-admission-'))
chmodSync(root, 0o755)
const mounts: string[] = []
const dir = (name: string): string => join(root, name)

afterAll(async () => {
  await cleanupAll(mounts)
  rmSync(root, { recursive: true, force: true })
})

async function initNode(name: string): Promise<string> {
  const r = await runPaciofs(['init', '--data', dir(name)])
  expect(r.code).toBe(0)
  return /node id (\S+)/.exec(r.stdout)![1]!
}

type Member = { pid: string; status: string }
async function membersAt(data: string, volume: string): Promise<Member[]> {
  const r = await runPaciofs(['members', '--volume', volume, '--json', '--data', dir(data)])
  return r.code === 0 ? (JSON.parse(r.stdout).members as Member[]) : []
}
const statusOf = async (data: string, volume: string, pid: string): Promise<string | undefined> => (await membersAt(data, volume)).find((m) => m.pid === pid)?.status
async function refusalsAt(data: string, volume: string): Promise<Record<string, string>> {
  const r = await runPaciofs(['status', '--json', '--volume', volume, '--data', dir(data)])
  return r.code === 0 ? (JSON.parse(r.stdout).volumes[0].refusals as Record<string, string>) : {}
}

async function invite(data: string, volume: string, extra: string[] = []): Promise<string> {
  const r = await runPaciofs(['invite', '--volume', volume, '--data', dir(data), ...extra])
  expect(r.stderr).toMatch(/one-time invite/)
  expect(r.code).toBe(0)
  return r.stdout.trim()
}

describe('closed admission, real processes', () => {
  const ports: number[] = []
  const addr = (i: number): string => `127.0.0.1:${ports[i]}`
  const procs: Proc[] = []
  const serve = async (i: number, name: string, args: string[]): Promise<Proc> => {
    const p = startPaciofs(['serve', '--data', dir(name), '--listen', addr(i), '--peer', addr(0), ...args])
    procs.push(p)
    await waitForLine(p, /^serving node /m)
    return p
  }
  const pids: Record<string, string> = {}

  it('[VOL-13] [VOL-14] a node without an invite stays an applicant and cannot read; with one it is admitted and reads; the same invite a second time, an expired one and one for another node are refused; admit <node-id> admits; a refused applicant applies again with a fresh invite', async () => {
    for (let i = 0; i < 8; i++) ports.push(await freePort())
    for (const n of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) pids[n] = await initNode(n)
    const m = dir('ma')
    mounts.push(m)
    const founder = await mountPaciofs(m, ['--data', dir('a'), '--volume', 'docs', '--listen', addr(0)])
    expect(founder.stderr).toMatch(/admission closed/)
    await fs.writeFile(join(m, 'hello.txt'), 'members only\n')

    // No invite: refused (no-invite), stays an applicant, and its --join says why it waits.
    const c = await serve(2, 'c', ['--join', 'docs'])
    await waitFor('c applies', async () => (await statusOf('a', 'docs', pids.c!)) === 'applicant', 30_000, 200)
    await waitFor('the founder notes why', async () => (await refusalsAt('a', 'docs'))[pids.c!] === 'no-invite', 30_000, 200)
    await waitFor('c says why it waits', () => /without an invite/.test(c.stderr) && /paciofs admit --volume docs/.test(c.stderr), 10_000, 100)

    // An invite for whoever uses it first: b is admitted and reads the file.
    const open = await invite('a', 'docs', ['--expires', '1h'])
    await serve(1, 'b', ['--join', 'docs', '--invite', open])
    await waitFor('b a member', async () => (await statusOf('a', 'docs', pids.b!)) === 'member', 60_000, 200)
    await waitFor('b reads the file', async () => (await runPaciofs(['cat', '/hello.txt', '--volume', 'docs', '--data', dir('b')])).stdout === 'members only\n', 60_000, 200)

    // The same invite again (a third node): refused; so are an expired one and one for another node.
    await serve(3, 'd', ['--join', 'docs', '--invite', open])
    const expired = await invite('a', 'docs', ['--expires', '1s'])
    await new Promise((r) => setTimeout(r, 2_100))
    const e = await serve(4, 'e', ['--join', 'docs', '--invite', expired])
    const forB = await invite('a', 'docs', ['--for', pids.b!])
    const f = await serve(5, 'f', ['--join', 'docs', '--invite', forB])
    await waitFor('the refusals', async () => {
      const r = await refusalsAt('a', 'docs')
      return r[pids.d!] === 'invite-used' && r[pids.e!] === 'invite-expired' && r[pids.f!] === 'invite-other-invitee'
    }, 60_000, 200)
    // The applicant can tell some of it itself (it cannot know about another's use).
    await waitFor('e and f say why they will wait', () => /expired/.test(e.stderr) && /is for node/.test(f.stderr), 10_000, 100)
    // b, a member now, judges the same way.
    await waitFor('b refuses d too', async () => (await refusalsAt('b', 'docs'))[pids.d!] === 'invite-used', 30_000, 200)

    // Nobody refused reads anything: no plain operation is sent to an applicant.
    for (const n of ['c', 'd', 'e', 'f']) {
      expect(await statusOf('a', 'docs', pids[n]!)).toBe('applicant')
      const cat = await runPaciofs(['cat', '/hello.txt', '--volume', 'docs', '--data', dir(n)])
      expect(cat.code).not.toBe(0)
      expect(cat.stdout).toBe('')
    }

    // admit <node-id> on a member admits c, which already applied (both members vote: majority).
    const adm = await runPaciofs(['admit', '--volume', 'docs', pids.c!, '--data', dir('b')])
    expect(adm.stderr).toBe('')
    expect(adm.code).toBe(0)
    await waitFor('c a member', async () => (await statusOf('a', 'docs', pids.c!)) === 'member', 60_000, 200)
    await waitFor('c reads the file', async () => (await runPaciofs(['cat', '/hello.txt', '--volume', 'docs', '--data', dir('c')])).stdout === 'members only\n', 60_000, 200)
    // The admit is in the ledger with its author: every member lists who admitted c.
    const listed = await runPaciofs(['members', '--volume', 'docs', '--data', dir('a')])
    expect(listed.stdout).toMatch(new RegExp(`${pids.c!}.*admitted by ${pids.b!.slice(0, 8)}`))
    for (const n of ['d', 'f']) expect(await statusOf('a', 'docs', pids[n]!)).toBe('applicant')

    // A refused applicant applies again through its running node with a fresh invite.
    const fresh = await invite('c', 'docs', ['--for', pids.e!])
    const again = await runPaciofs(['join', 'docs', '--invite', fresh, '--data', dir('e')])
    expect(again.stderr).toBe('')
    expect(again.code).toBe(0)
    await waitFor('e a member', async () => (await statusOf('a', 'docs', pids.e!)) === 'member', 60_000, 200)

    // A non-member cannot invite or admit.
    const notMember = await runPaciofs(['invite', '--volume', 'docs', '--data', dir('d')])
    expect(notMember.code).toBe(1)
    expect(notMember.stderr).toMatch(/no member of docs/)
  }, 240_000)

  it('an --open volume admits an applicant without an invite, as before', async () => {
    const made = await runPaciofs(['create', 'pub', '--open', '--data', dir('a')])
    expect(made.code).toBe(0)
    await serve(6, 'g', ['--join', 'pub'])
    await waitFor('g a member of pub', async () => (await statusOf('a', 'pub', pids.g!)) === 'member', 60_000, 200)
    const st = await runPaciofs(['status', '--volume', 'pub', '--data', dir('a')])
    expect(st.stdout).toMatch(/admission: open/)
  }, 120_000)

  it('a data directory whose volume has a v1 genesis (before admission was a volume setting) starts with a warning and admits as before', async () => {
    // The v1 genesis as a node wrote it then: create-volume without an admission.
    await initNode('old')
    pids.h = await initNode('h')
    const host = await NodeHost.start({ dataDir: storePath(dir('old')), secretKey: loadKey(dir('old')), listen: { host: '127.0.0.1', port: 0 }, peers: [] })
    const made = await host.request({ type: 'create-volume', name: 'legacy' as VolumeName, policy: 'majority' })
    expect(made.ok && 'genesis' in made && made.genesis.admission).toBe(undefined)
    await host.stop()
    const old = startPaciofs(['serve', '--data', dir('old'), '--listen', addr(7)])
    await waitForLine(old, /^serving node /m)
    expect(old.stderr).toMatch(/warning: volume 'legacy' was created before admission was a volume setting: its members admit as they did then \(this node: every applicant\)/)
    const h = startPaciofs(['serve', '--data', dir('h'), '--listen', '127.0.0.1:0', '--peer', addr(7), '--join', 'legacy'])
    await waitFor('h a member of legacy', async () => (await statusOf('old', 'legacy', pids.h!)) === 'member', 60_000, 200)
    expect((await runPaciofs(['status', '--volume', 'legacy', '--data', dir('old')])).stdout).toMatch(/admission: as before admission was a volume parameter \(v1 genesis\)/)
    await stopProc(h)
    await stopProc(old)
  }, 120_000)
})
