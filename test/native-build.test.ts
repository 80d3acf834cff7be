// The patched FUSE binding (runtime/native/): built by our own install step, and a clear error
// when it cannot be built (a missing libfuse-dev here) — loudly from `npm run build:native`,
// as a warning from npm ci's postinstall. The build already in build/ is left alone.
import { describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { PATCHED_FUSE_DIR } from '../runtime/fuse.ts'

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
