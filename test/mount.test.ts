// A real local mount (`paciofs mount`, FUSE through the kernel), driven from this process while
// another process serves it: POSIX behaviour of files, directories, renames, links, symlinks,
// attributes and xattrs; writes grouped into one operation per open..close; history readable
// afterwards (paciofs history / cat --at / mount --at); a mount left by a killed process is
// cleaned up by the next mount; verify is clean at the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { findMount } from '../runtime/fuse.ts'
import { cleanupAll, mountPaciofs, runPaciofs, stopProc, type Proc } from './support/procs.ts'

const exec = promisify(execFile)
const root = mkdtempSync(join(tmpdir(), 'paciofs-mount-'))
const data = join(root, 'data')
const mnt = join(root, 'mnt')
const past = join(root, 'past')
const at = (p: string): string => join(mnt, p)
let proc: Proc
let pastEpoch = 0

/** xattrs through the kernel: Node has no xattr API, Python's os module has. */
async function py(code: string, ...args: string[]): Promise<string> {
  const r = await exec('python3', ['-c', code, ...args])
  return r.stdout.trim()
}
const setx = (p: string, n: string, v: string) => py('import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())', p, n, v)
const getx = (p: string, n: string) => py('import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode())', p, n)
const listx = (p: string) => py('import os,sys; print(",".join(sorted(os.listxattr(sys.argv[1]))))', p)
const errnoOf = async (f: () => Promise<unknown>): Promise<string> => {
  try {
    await f()
    return 'ok'
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err)
  }
}
const paciofs = (...args: string[]) => runPaciofs([...args, '--data', data])

beforeAll(async () => {
  proc = await mountPaciofs(mnt, ['--data', data])
}, 90_000)

afterAll(async () => {
  await cleanupAll([mnt, past])
  rmSync(root, { recursive: true, force: true })
})

describe('a local mount through the kernel', () => {
  it('creates, writes, reads, appends and truncates files', async () => {
    await fs.writeFile(at('a.txt'), 'hello\n')
    expect(await fs.readFile(at('a.txt'), 'utf8')).toBe('hello\n')
    await fs.appendFile(at('a.txt'), 'world\n')
    expect(await fs.readFile(at('a.txt'), 'utf8')).toBe('hello\nworld\n')
    await fs.truncate(at('a.txt'), 5)
    expect(await fs.readFile(at('a.txt'), 'utf8')).toBe('hello')
    const st = await fs.stat(at('a.txt'))
    expect(st.isFile()).toBe(true)
    expect(st.size).toBe(5)
    expect(await errnoOf(() => fs.readFile(at('missing')))).toBe('ENOENT')
    expect(await errnoOf(() => fs.writeFile(at('nodir/x'), 'x'))).toBe('ENOENT')
  })

  it('reads its own pending writes before close, and a large file round-trips byte for byte', async () => {
    const h = await fs.open(at('pending.bin'), 'w+')
    await h.write(Buffer.from('abcdef'), 0, 6, 0)
    await h.write(Buffer.from('XY'), 0, 2, 2)
    const buf = Buffer.alloc(6)
    await h.read(buf, 0, 6, 0)
    expect(buf.toString()).toBe('abXYef')
    expect((await h.stat()).size).toBe(6)
    await h.close()
    expect(await fs.readFile(at('pending.bin'), 'utf8')).toBe('abXYef')

    const big = randomBytes(5 * 1024 * 1024 + 123)
    await fs.writeFile(at('big.bin'), big)
    expect(Buffer.compare(await fs.readFile(at('big.bin')), big)).toBe(0)
    // Random-offset reads across block boundaries.
    const fh = await fs.open(at('big.bin'), 'r')
    for (const off of [0, 65535, 65536, 1_000_000, big.length - 10]) {
      const b = Buffer.alloc(300)
      const { bytesRead } = await fh.read(b, 0, 300, off)
      expect(Buffer.compare(b.subarray(0, bytesRead), big.subarray(off, off + 300))).toBe(0)
    }
    await fh.close()
  })

  it('[RT-5] one open..close of writes is one write operation in the log', async () => {
    const h = await fs.open(at('grouped.bin'), 'w')
    for (let i = 0; i < 64; i++) await h.write(randomBytes(4096), 0, 4096, i * 4096)
    await h.close()
    const log = await paciofs('log', '/grouped.bin')
    expect(log.code).toBe(0)
    const writes = log.stdout.split('\n').filter((l) => / write /.test(l))
    expect(writes).toHaveLength(1)
  })

  it('directories: mkdir, readdir, rmdir, ENOTEMPTY, EEXIST, ENOTDIR', async () => {
    await fs.mkdir(at('d'))
    await fs.mkdir(at('d/e'))
    await fs.writeFile(at('d/f.txt'), 'f')
    expect((await fs.readdir(at('d'))).sort()).toEqual(['e', 'f.txt'])
    expect((await fs.stat(at('d'))).isDirectory()).toBe(true)
    expect(await errnoOf(() => fs.rmdir(at('d')))).toBe('ENOTEMPTY')
    expect(await errnoOf(() => fs.mkdir(at('d')))).toBe('EEXIST')
    expect(await errnoOf(() => fs.mkdir(at('a.txt/x')))).toBe('ENOTDIR')
    await fs.rmdir(at('d/e'))
    expect(await fs.readdir(at('d'))).toEqual(['f.txt'])
  })

  it('renames files and directories, replacing a file, EINVAL into its own subtree', async () => {
    await fs.writeFile(at('r1'), 'one')
    await fs.writeFile(at('r2'), 'two')
    await fs.rename(at('r1'), at('r2'))
    expect(await fs.readFile(at('r2'), 'utf8')).toBe('one')
    expect(await errnoOf(() => fs.stat(at('r1')))).toBe('ENOENT')
    await fs.mkdir(at('rd'))
    await fs.writeFile(at('rd/x'), 'x')
    await fs.rename(at('rd'), at('rd2'))
    expect(await fs.readFile(at('rd2/x'), 'utf8')).toBe('x')
    expect(await errnoOf(() => fs.rename(at('rd2'), at('rd2/sub')))).toBe('EINVAL')
  })

  it('hard links share content and count links; symlinks resolve', async () => {
    await fs.writeFile(at('h1'), 'shared')
    await fs.link(at('h1'), at('h2'))
    const [s1, s2] = [await fs.stat(at('h1')), await fs.stat(at('h2'))]
    expect(s1.ino).toBe(s2.ino)
    expect(s2.nlink).toBe(2)
    await fs.writeFile(at('h2'), 'changed')
    expect(await fs.readFile(at('h1'), 'utf8')).toBe('changed')
    await fs.unlink(at('h1'))
    expect((await fs.stat(at('h2'))).nlink).toBe(1)

    await fs.symlink('h2', at('s'))
    expect(await fs.readlink(at('s'))).toBe('h2')
    expect(await fs.readFile(at('s'), 'utf8')).toBe('changed')
    expect((await fs.lstat(at('s'))).isSymbolicLink()).toBe(true)
  })

  it('chmod, utimes and xattrs', async () => {
    await fs.writeFile(at('attr'), 'x')
    await fs.chmod(at('attr'), 0o640)
    expect((await fs.stat(at('attr'))).mode & 0o7777).toBe(0o640)
    const t = new Date('2020-02-03T04:05:06.789Z')
    await fs.utimes(at('attr'), t, t)
    expect((await fs.stat(at('attr'))).mtime.getTime()).toBe(t.getTime())
    await setx(at('attr'), 'user.checked', 'yes')
    await setx(at('attr'), 'user.by', 'auditor')
    expect(await getx(at('attr'), 'user.checked')).toBe('yes')
    expect(await listx(at('attr'))).toBe('user.by,user.checked')
    await py('import os,sys; os.removexattr(sys.argv[1], "user.by")', at('attr'))
    expect(await listx(at('attr'))).toBe('user.checked')
    const missing = await py('import os,sys\ntry:\n  os.getxattr(sys.argv[1], "user.none")\n  print("ok")\nexcept OSError as e:\n  print(e.errno)', at('attr'))
    expect(missing).toBe('61') // ENODATA
  })

  it('statfs answers', async () => {
    const s = await fs.statfs(mnt)
    expect(s.bsize).toBe(4096)
    expect(s.files).toBeGreaterThan(0)
  })

  it('history: every version of a path and its old content', async () => {
    await fs.writeFile(at('doc.txt'), 'version 1')
    await fs.writeFile(at('doc.txt'), 'version 2, longer')
    const h = await paciofs('history', '/doc.txt', '--json')
    expect(h.code).toBe(0)
    const versions = JSON.parse(h.stdout).versions as { epoch: number; size: number }[]
    const v1 = versions.find((v) => v.size === 'version 1'.length)!
    expect(v1).toBeDefined()
    expect(versions.at(-1)!.size).toBe('version 2, longer'.length)
    const old = await paciofs('cat', '/doc.txt', '--at', String(v1.epoch))
    expect(old.code).toBe(0)
    expect(old.stdout).toBe('version 1')

    pastEpoch = v1.epoch
  })

  it('verify is clean after all of it', async () => {
    const r = await paciofs('verify')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/clean/)
  })

  it('SIGTERM unmounts cleanly; --at mounts a past epoch read-only; a mount left by kill -9 is cleaned up by the next mount', async () => {
    expect(await stopProc(proc)).toBe(0)
    expect(await findMount(mnt)).toBeUndefined()

    // With the node stopped, a read-only mount of a past epoch (the store is one process's).
    const pastProc = await mountPaciofs(past, ['--data', data, '--at', String(pastEpoch)])
    try {
      expect(await fs.readFile(join(past, 'doc.txt'), 'utf8')).toBe('version 1')
      expect(await errnoOf(() => fs.writeFile(join(past, 'doc.txt'), 'no'))).toBe('EROFS')
      expect(await errnoOf(() => fs.stat(join(past, 'pending.bin')))).toBe('ok') // made before it
      expect(await errnoOf(() => fs.stat(join(past, 'grouped.bin')))).toBe('ok')
    } finally {
      expect(await stopProc(pastProc)).toBe(0)
    }

    proc = await mountPaciofs(mnt, ['--data', data])
    expect(await fs.readFile(at('doc.txt'), 'utf8')).toBe('version 2, longer')
    await stopProc(proc, 'SIGKILL')
    expect(await findMount(mnt)).toBeDefined() // the dead process left its mount behind
    expect(await errnoOf(() => fs.stat(at('doc.txt')))).toBe('ENOTCONN')
    proc = await mountPaciofs(mnt, ['--data', data])
    expect(proc.stderr).toMatch(/still has a FUSE mount/)
    expect(await fs.readFile(at('doc.txt'), 'utf8')).toBe('version 2, longer')
  })
})
