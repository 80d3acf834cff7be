// `paciofs verify` on a running node reads its disk (issue 17, spec/runtime.md RT-11): a byte
// flipped in a segment file or in the level write-ahead log of a RUNNING node — whose memory,
// memtable and caches still hold the good bytes — makes verify exit 1 naming the damaged item,
// and verify says what it read from disk. Real processes and a real mount.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readdirSync, readFileSync, statSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { storePath } from '../runtime/datadir.ts'
import { segmentDir, segmentName } from '../runtime/store.ts'
import { cleanupAll, mountPaciofs, runPaciofs, stopProc, type Proc } from './support/procs.ts'

const root = mkdtempSync(join(tmpdir(), 'paciofs-liveverify-'))
const mnt = join(root, 'mnt')
const data = join(root, 'data')
let node: Proc
const scan = Buffer.alloc(200_000, 0x5a)
const scanChunk = createHash('sha256').update(scan.subarray(0, 65536)).digest('hex')

beforeAll(async () => {
  node = await mountPaciofs(mnt, ['--data', data])
  await fs.writeFile(join(mnt, 'invoice-001.txt'), 'amount: 1000 EUR\n')
  await fs.writeFile(join(mnt, 'scan.bin'), scan)
}, 60_000)
afterAll(async () => {
  await cleanupAll([mnt])
  rmSync(root, { recursive: true, force: true })
})

function flipAt(path: string, at: number): () => void {
  const b = readFileSync(path)
  b[at] = b[at]! ^ 0x01
  writeFileSync(path, b)
  return () => {
    const c = readFileSync(path)
    c[at] = c[at]! ^ 0x01
    writeFileSync(path, c)
  }
}

/** Byte ranges of the record fragments of a LevelDB log file (test/tail-lost.test.ts). */
function logFragments(bytes: Uint8Array): { start: number; length: number }[] {
  const out: { start: number; length: number }[] = []
  let at = 0
  while (at + 7 <= bytes.length) {
    const left = 32 * 1024 - (at % (32 * 1024))
    if (left < 7) {
      at += left
      continue
    }
    const length = bytes[at + 4]! | (bytes[at + 5]! << 8)
    if (bytes[at + 6] === 0 && length === 0) break
    out.push({ start: at + 7, length })
    at += 7 + length
  }
  return out
}

describe('[RT-11] verify on a running node reads the disk', () => {
  it('is clean on an untouched node and says what it read from disk', async () => {
    const v = await runPaciofs(['verify', '--data', data])
    expect(v.code, v.stdout + v.stderr).toBe(0)
    expect(v.stdout).toMatch(/^verify: read from disk: \d+ batches of the level files .*, the tail witness, 1 segment file\(s\); compared with the running node's memory$/m)
    const j = JSON.parse((await runPaciofs(['verify', '--json', '--data', data])).stdout)
    expect(j).toMatchObject({ clean: true, source: 'live', checked: expect.stringMatching(/^read from disk/) })
  })

  it('a byte flipped in a segment file of the running node: exit 1 naming the chunk; clean again once the byte is back', async () => {
    const seg = join(segmentDir(storePath(data)), segmentName(1))
    const undo = flipAt(seg, 100)
    try {
      const v = await runPaciofs(['verify', '--data', data])
      expect(v.code).toBe(1)
      expect(v.stdout).toContain(`FINDING default:chunk ${scanChunk}: chunk does not hash to its name`)
    } finally {
      undo()
    }
    expect((await runPaciofs(['verify', '--data', data])).code).toBe(0)
  })

  it('a byte flipped in the newest record of the running node\'s level log: exit 1 naming the lost batch', async () => {
    const dir = storePath(data)
    const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => join(dir, f)).filter((p) => statSync(p).size > 0)
    expect(logs.length).toBe(1)
    const frags = logFragments(readFileSync(logs[0]!))
    const last = frags[frags.length - 1]!
    const undo = flipAt(logs[0]!, last.start + Math.floor(last.length / 2))
    try {
      const v = await runPaciofs(['verify', '--data', data])
      expect(v.code).toBe(1)
      expect(v.stdout).toMatch(/^FINDING store tail \S+-tail: lost tail \(RT-9\): expected every batch the tail witness vouches for, found the tail witness says batch (\d+) was durable, the store ends at batch \d+/m)
      expect(v.stdout).toMatch(/^FINDING store batches \d+\.\.\d+: durable batches missing on disk/m)
    } finally {
      undo()
    }
    expect((await runPaciofs(['verify', '--data', data])).code).toBe(0)
    expect(await stopProc(node)).toBe(0)
  }, 60_000)
})
