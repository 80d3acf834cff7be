// A damaged newest record (issue 17, spec/runtime.md RT-9): one flipped byte in the newest
// record of LevelDB's write-ahead log of a stopped node. LevelDB skips such a record at the next
// open without an error, and batch numbers show no gap; the tail witness still names the batch.
// The node must refuse to start, saying the tail is lost (never start one batch back), and
// `paciofs verify` must exit 1 naming it. Real processes, a real mount.
import { afterAll, describe, expect, it } from 'vitest'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { storePath } from '../runtime/datadir.ts'
import { cleanupAll, mountPaciofs, runPaciofs, startPaciofs, stopProc, waitForLine } from './support/procs.ts'

const root = mkdtempSync(join(tmpdir(), 'paciofs-tail-'))
const mnt = join(root, 'mnt')
afterAll(async () => {
  await cleanupAll([mnt])
  rmSync(root, { recursive: true, force: true })
})

/** The byte ranges of every record fragment in a LevelDB log file (32 KiB blocks; each fragment
 *  a 7-byte header — crc32c, length, type — and its payload), in file order. */
function logFragments(bytes: Uint8Array): { start: number; length: number }[] {
  const BLOCK = 32 * 1024
  const out: { start: number; length: number }[] = []
  let at = 0
  while (at + 7 <= bytes.length) {
    const left = BLOCK - (at % BLOCK)
    if (left < 7) {
      at += left // the block's trailer
      continue
    }
    const length = bytes[at + 4]! | (bytes[at + 5]! << 8)
    const type = bytes[at + 6]!
    if (type === 0 && length === 0) break // preallocated zeros: the end
    out.push({ start: at + 7, length })
    at += 7 + length
  }
  return out
}

describe('[RT-9] a damaged newest record of the store', () => {
  it('one flipped byte in the newest record of the level log: the node refuses to start saying its tail is lost, and verify exits 1 naming it', async () => {
    const data = join(root, 'data')
    const node = await mountPaciofs(mnt, ['--data', data])
    await fs.writeFile(join(mnt, 'invoice-001.txt'), 'amount: 1000 EUR\n')
    const fd = await fs.open(join(mnt, 'invoice-002.txt'), 'w')
    await fd.write('amount: 2000 EUR\n')
    await fd.sync()
    await fd.close()
    expect(await stopProc(node)).toBe(0)
    expect((await runPaciofs(['verify', '--data', data])).code).toBe(0)

    // Verify opened the store, which turned the log into a table and began an empty log; one
    // run of the node writes a log again, ending in its newest batch.
    const node2 = await mountPaciofs(mnt, ['--data', data])
    const fd2 = await fs.open(join(mnt, 'invoice-003.txt'), 'w')
    await fd2.write('amount: 3000 EUR\n')
    await fd2.sync()
    await fd2.close()
    expect(await stopProc(node2)).toBe(0)
    const copy = join(root, 'copy')
    cpSync(data, copy, { recursive: true })
    rmSync(join(copy, 'control.sock'), { force: true })

    const dir = storePath(copy)
    const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => join(dir, f)).filter((p) => statSync(p).size > 0)
    expect(logs.length).toBe(1)
    const bytes = readFileSync(logs[0]!)
    const frags = logFragments(bytes)
    expect(frags.length).toBeGreaterThan(1)
    const last = frags[frags.length - 1]!
    const i = last.start + Math.floor(last.length / 2)
    bytes[i] = bytes[i]! ^ 0x01
    writeFileSync(logs[0]!, bytes)

    const p = startPaciofs(['serve', '--data', copy, '--listen', '127.0.0.1:0'])
    expect(await p.exited).toBe(1)
    expect(p.stderr).toMatch(/lost its newest batches: the tail witness says batch (\d+) was durable, the store ends at batch (\d+)/)
    expect(p.stderr).toMatch(/refuses to start/)
    const v = await runPaciofs(['verify', '--data', copy])
    expect(v.code).toBe(1)
    expect(v.stdout).toMatch(/^FINDING store tail \S+-tail: lost tail \(RT-9\): .*batch \d+ is lost/m)
    // Never silent on a second look either: the witness still vouches for the lost batch.
    expect((await runPaciofs(['verify', '--data', copy])).code).toBe(1)
    // The sole member may go on with --recover-tail, and is told that nobody can give the lost
    // batches back.
    const going = startPaciofs(['serve', '--data', copy, '--listen', '127.0.0.1:0', '--recover-tail'])
    await waitForLine(going, /^serving node /m, 30_000)
    expect(going.stderr).toMatch(/--recover-tail: volume 'default': this node is its only member, so nobody holds a copy of what the lost batches held/)
    expect(await stopProc(going)).toBe(0)
  }, 120_000)
})
