// A full disk (issue 17, spec/runtime.md RT-10): the data directory on a small tmpfs, files
// written through the mount by another process, each fsync'd and closed, until a write fails.
// The writer must see ENOSPC (as on a local file system), every file whose fsync and close had
// returned must read back intact WHILE the disk is full, and once the tmpfs is enlarged the same
// node process (no restart) takes writes again and `paciofs verify` is clean. Root only.
import { afterAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cleanupAll, mountPaciofs, runPaciofs, stopProc, waitFor } from './support/procs.ts'

const isRoot = process.getuid?.() === 0
const root = mkdtempSync(join(tmpdir(), 'paciofs-full-'))
const disk = join(root, 'disk')
const data = join(disk, 'data')
const mnt = join(root, 'mnt')
const FILE_BYTES = 200_000
/** Distinct content per file (no chunk deduplicates), the same bytes every time it is asked for. */
const contentOf = (i: number): Buffer => Buffer.from(Uint8Array.from({ length: FILE_BYTES }, (_, k) => Math.imul(k + 1 + i * 1_000_003, 2654435761) >>> 24))

afterAll(async () => {
  await cleanupAll([mnt])
  if (isRoot) execFileSync('umount', ['-l', disk], { stdio: 'ignore' })
  rmSync(root, { recursive: true, force: true })
})

/** Writes files <prefix><i> through the mount from a separate process until one fails; the
 *  indices whose fsync and close returned, and the errno of the failure. */
async function writeUntilError(prefix: string, max: number): Promise<{ acked: number[]; error: string | undefined }> {
  const writer = spawn(process.execPath, ['-e', `
    const fs = require('node:fs')
    const FILE_BYTES = ${FILE_BYTES}
    const contentOf = ${contentOf.toString()}
    for (let i = 0; i < ${max}; i++) {
      try {
        const fd = fs.openSync(${JSON.stringify(mnt)} + '/${prefix}' + i, 'w')
        fs.writeSync(fd, contentOf(i))
        fs.fsyncSync(fd)
        fs.closeSync(fd)
        process.stdout.write('acked ' + i + '\\n')
      } catch (e) { process.stdout.write('error ' + e.code + '\\n'); process.exit(0) }
    }`], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  writer.stdout.on('data', (c: Buffer) => (out += c.toString()))
  await new Promise<void>((ok) => writer.once('exit', () => ok()))
  return { acked: [...out.matchAll(/acked (\d+)/g)].map((m) => Number(m[1])), error: /error (\w+)/.exec(out)?.[1] }
}

describe.skipIf(!isRoot)('a full disk', () => {
  it('[RT-10] [RT-2] the writer sees ENOSPC, every acknowledged file reads back while the disk is full, and after space is freed the same node takes writes again and verify is clean', async () => {
    mkdirSync(disk)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', disk])
    const node = await mountPaciofs(mnt, ['--data', data])
    const { acked, error } = await writeUntilError('f', 10_000)
    expect(acked.length).toBeGreaterThan(10)
    expect(error).toBe('ENOSPC')
    // Still full: reads and stats go on, a new write is refused the same way.
    for (const i of acked) expect((await fs.readFile(join(mnt, `f${i}`))).equals(contentOf(i)), `file f${i}`).toBe(true)
    expect((await fs.readdir(mnt)).length).toBeGreaterThan(acked.length - 1)
    expect((await writeUntilError('g', 1)).error).toBe('ENOSPC')
    // An audit of the running node reads its disk while it is full (its scratch copy is elsewhere).
    const whileFull = await runPaciofs(['verify', '--data', data])
    expect(whileFull.code, whileFull.stdout + whileFull.stderr).toBe(0)

    execFileSync('mount', ['-o', 'remount,size=256m', disk])
    // The node notices the freed space by itself (statfs at the next request after a refusal).
    let more: number[] = []
    await waitFor('writes to be taken again', async () => (more = (await writeUntilError('h', 3)).acked).length === 3, 30_000, 200)
    expect(node.child.exitCode).toBeNull() // the same process: no restart
    const live = await runPaciofs(['verify', '--data', data])
    expect(live.code, live.stdout + live.stderr).toBe(0)
    expect(await stopProc(node)).toBe(0)

    const v = await runPaciofs(['verify', '--data', data])
    expect(v.code, v.stdout + v.stderr).toBe(0)
    const again = await mountPaciofs(mnt, ['--data', data])
    for (const i of acked) expect((await fs.readFile(join(mnt, `f${i}`))).equals(contentOf(i)), `file f${i}`).toBe(true)
    for (const i of more) expect((await fs.readFile(join(mnt, `h${i}`))).equals(contentOf(i)), `file h${i}`).toBe(true)
    expect(await stopProc(again)).toBe(0)
  }, 180_000)
})
