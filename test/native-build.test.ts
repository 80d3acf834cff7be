// The patched FUSE and LevelDB bindings and the channel's cipher (runtime/native/): built by our own install step, and a clear error
// when it cannot be built (a missing libfuse-dev here) — loudly from `npm run build:native`,
// as a warning from npm ci's postinstall. The build already in build/ is left alone.
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { PATCHED_FUSE_DIR } from '../runtime/fuse.ts'
import { levelVerifiesChecksums } from '../runtime/store.ts'
import { AEAD_ADDON, channelAead, nativeAead } from '../runtime/node-crypto.ts'

const exec = promisify(execFile)
const script = join(import.meta.dirname, '..', 'bin', 'build-native.sh')
const addon = join(PATCHED_FUSE_DIR, 'build', 'Release', 'fuse.node')

async function build(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  try {
    const r = await exec('bash', [script, ...args], { env: { ...process.env, ...env } })
    return { code: 0, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stderr: string }
    return { code: e.code, stderr: e.stderr }
  }
}

describe('the patched FUSE binding', () => {
  it('is built and is the patched one (caller offset exported, patch level 1)', () => {
    expect(existsSync(addon)).toBe(true)
    const binding = createRequire(import.meta.url)(addon) as Record<string, unknown>
    expect(binding.paciofs_patch_level).toBe(1)
    expect(typeof binding.offsetof_fuse_thread_locals_t_caller).toBe('number')
  })

  it('without libfuse-dev: build:native fails with a clear message, postinstall (--soft) only warns, the existing build stays', async () => {
    const before = statSync(addon).mtimeMs
    const noFuse = { PKG_CONFIG_LIBDIR: '/nonexistent', PKG_CONFIG_PATH: '' }
    const strict = await build([], noFuse)
    expect(strict.code).toBe(1)
    expect(strict.stderr).toMatch(/cannot build the patched FUSE binding: pkg-config does not know libfuse \(apt-get install libfuse-dev/)
    expect(strict.stderr).toMatch(/npm run build:native/)
    const soft = await build(['--soft'], noFuse)
    expect(soft.code).toBe(0)
    expect(soft.stderr).toMatch(/refuses to start/)
    expect(statSync(addon).mtimeMs).toBe(before)
  })
})

describe('the ChaCha20-Poly1305 binding (runtime/native/aead)', () => {
  it('is built and is what the channels seal with (test/channel.test.ts checks it against noble)', () => {
    expect(existsSync(AEAD_ADDON)).toBe(true)
    expect(nativeAead?.name).toBe('native')
    expect(channelAead).toBe(nativeAead)
  })
})

describe('the patched LevelDB binding', () => {
  it('is the one classic-level loads (checksums on), and the store refuses any other', () => {
    expect(levelVerifiesChecksums()).toBe(true)
    const path = createRequire(import.meta.url)('node-gyp-build').path(dirname(createRequire(import.meta.url).resolve('classic-level'))) as string
    expect(path).toMatch(/classic-level\/build\/Release\/classic_level\.node$/)
  })

  it('a byte flipped anywhere in a table file is reported as corruption or reads back the same, and never aborts the process', async () => {
    // In a child: the stock binding dies there on an assertion (a mangled key), and we want to
    // see that as a failed run, not lose the test runner.
    const dir = mkdtempSync(join(tmpdir(), 'paciofs-level-'))
    const script = `
      const { ClassicLevel } = require('classic-level')
      const fs = require('node:fs'), path = require('node:path')
      const base = ${JSON.stringify(dir)}
      async function readAll(d) {
        const db = new ClassicLevel(d, { valueEncoding: 'hex' })
        try { await db.open(); return JSON.stringify(await db.iterator().all()) }
        catch (e) { return 'error: ' + (e.cause?.message ?? e.message) }
        finally { await db.close().catch(() => {}) }
      }
      ;(async () => {
        const src = path.join(base, 'src')
        const db = new ClassicLevel(src, { valueEncoding: 'hex' })
        await db.open()
        const batch = db.batch()
        for (let i = 0; i < 3000; i++) batch.put('key-' + String(i).padStart(6, '0'), Buffer.alloc(40, i % 251).toString('hex'))
        await batch.write()
        await db.close()
        await readAll(src) // recovery moves the write-ahead log into a table
        const table = fs.readdirSync(src).find((f) => f.endsWith('.ldb'))
        const pristine = await readAll(src)
        const size = fs.statSync(path.join(src, table)).size
        const out = []
        for (let k = 1; k < 40; k++) {
          const d = path.join(base, 'copy-' + k)
          fs.cpSync(src, d, { recursive: true })
          const f = path.join(d, table), b = fs.readFileSync(f), i = Math.floor(size * k / 40)
          b[i] ^= 0x10
          fs.writeFileSync(f, b)
          const r = await readAll(d)
          out.push(r === pristine ? 'same' : r.startsWith('error: ') ? r : 'DIFFERENT')
        }
        console.log(JSON.stringify(out))
      })()`
    const r = await exec(process.execPath, ['-e', script], { cwd: join(import.meta.dirname, '..') })
    const results = JSON.parse(r.stdout) as string[]
    expect(results).toHaveLength(39)
    expect(results).not.toContain('DIFFERENT')
    const errors = results.filter((x) => x !== 'same')
    for (const e of errors) expect(e).toMatch(/^error: Corruption: /)
    expect(errors.length).toBeGreaterThan(30)
    rmSync(dir, { recursive: true, force: true })
  })

  it('reads tables without mapping them (RSS does not grow with the tables a scan touched); PACIOFS_LEVELDB_MMAPS maps them again', async () => {
    // Counts the table files mapped into the child's address space after it read every key of a
    // store of several tables: with LevelDB's stock default each stays mapped while it is in the
    // table cache, and its pages count in the process's RSS.
    const dir = mkdtempSync(join(tmpdir(), 'paciofs-level-mmap-'))
    const script = `
      const { ClassicLevel } = require('classic-level')
      const fs = require('node:fs')
      ;(async () => {
        const db = new ClassicLevel(${JSON.stringify(dir)}, { valueEncoding: 'hex', writeBufferSize: 256 * 1024 })
        await db.open()
        if (process.argv[1] === 'fill') {
          for (let b = 0; b < 8; b++) {
            const batch = db.batch()
            for (let i = 0; i < 2000; i++) batch.put('key-' + String(b * 2000 + i).padStart(8, '0'), Buffer.alloc(200, i % 251).toString('hex'))
            await batch.write()
          }
        } else {
          let n = 0
          for await (const _ of db.iterator()) n++
          const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.endsWith('.ldb')).length
          const tables = fs.readdirSync(${JSON.stringify(dir)}).filter((f) => f.endsWith('.ldb')).length
          console.log(JSON.stringify({ n, maps, tables }))
        }
        await db.close()
      })()`
    const run = async (mode: string, env: Record<string, string | undefined>): Promise<{ n: number; maps: number; tables: number }> => {
      const r = await exec(process.execPath, ['-e', script, mode], { cwd: join(import.meta.dirname, '..'), env: { ...process.env, ...env } })
      return r.stdout === '' ? { n: 0, maps: 0, tables: 0 } : JSON.parse(r.stdout)
    }
    await run('fill', {})
    await run('read', {}) // the first open after the writes may still compact
    const plain = await run('read', { PACIOFS_LEVELDB_MMAPS: undefined })
    const mapped = await run('read', { PACIOFS_LEVELDB_MMAPS: '1000' })
    expect(plain.n).toBe(16000)
    expect(plain.tables).toBeGreaterThan(1)
    expect(plain.maps).toBe(0)
    expect(mapped.n).toBe(16000)
    expect(mapped.maps).toBeGreaterThan(0)
    rmSync(dir, { recursive: true, force: true })
  })

  it('sets glibc malloc\'s arenas and thresholds for a paciofs process (runtime/memory.ts), unless PACIOFS_MALLOC=glibc', async () => {
    const script = `import('./runtime/memory.ts').then((m) => console.log(JSON.stringify([m.tuneProcessMemory({}), m.tuneProcessMemory({ PACIOFS_MALLOC: 'glibc', PACIOFS_HEAP: 'v8' })])))`
    const r = await exec(process.execPath, ['--import', 'tsx', '-e', script], { cwd: join(import.meta.dirname, '..') })
    expect(JSON.parse(r.stdout)).toEqual([{ malloc: 'tuned', heap: 'tuned' }, { malloc: 'glibc', heap: 'v8' }])
  })
})
