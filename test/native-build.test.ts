// The patched FUSE and LevelDB bindings (runtime/native/): built by our own install step, and a clear error
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
})
