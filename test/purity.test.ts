// The core contract (core/README.md): nothing under core/ reads a clock, a random source, the
// environment, the file system or the network, and core/ imports nothing from sim/ or runtime/.
// A textual scan is enough because the rule is about what is written, and it is cheap to run.
import { describe, expect, it } from 'vitest'
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
const CORE = join(ROOT, 'core')

function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...tsFiles(path))
    else if (entry.name.endsWith('.ts')) out.push(path)
  }
  return out.sort()
}

/** Removes comments and the contents of string literals so that prose does not trip the scan,
 *  while keeping import specifiers (checked separately from the raw text). */
function codeOnly(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:'"`\\])\/\/[^\n]*/g, '$1')
    .replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, "''")
}

const FORBIDDEN: readonly { name: string; pattern: RegExp }[] = [
  { name: 'Date (a clock)', pattern: /\bDate\b/ },
  { name: 'Math.random', pattern: /\bMath\s*\.\s*random\b/ },
  { name: 'performance.now', pattern: /\bperformance\b/ },
  { name: 'setTimeout', pattern: /\bsetTimeout\b/ },
  { name: 'setInterval', pattern: /\bsetInterval\b/ },
  { name: 'setImmediate', pattern: /\bsetImmediate\b/ },
  { name: 'queueMicrotask', pattern: /\bqueueMicrotask\b/ },
  { name: 'process.', pattern: /\bprocess\s*\./ },
  { name: 'getRandomValues', pattern: /\bgetRandomValues\b/ },
  { name: 'randomBytes', pattern: /\brandomBytes\b/ },
  { name: 'randomUUID', pattern: /\brandomUUID\b/ },
  { name: 'require()', pattern: /\brequire\s*\(/ },
  { name: 'dynamic import()', pattern: /\bimport\s*\(/ },
  { name: 'fetch', pattern: /\bfetch\s*\(/ },
]

/** Module specifiers of static imports and re-exports. */
function importSpecifiers(source: string): string[] {
  const specs: string[] = []
  const re = /\b(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]/g
  for (const m of source.matchAll(re)) specs.push((m[1] ?? m[2])!)
  return specs
}

function badImport(file: string, spec: string): string | undefined {
  if (spec.startsWith('node:')) return 'a node: built-in'
  const NODE_BUILTINS = ['fs', 'fs/promises', 'path', 'os', 'crypto', 'net', 'http', 'https', 'child_process', 'worker_threads', 'timers', 'perf_hooks', 'process', 'dgram', 'dns', 'tls', 'cluster', 'v8', 'vm']
  if (NODE_BUILTINS.includes(spec)) return 'a Node built-in'
  if (spec.startsWith('.')) {
    const target = relative(ROOT, join(file, '..', spec)).split('\\').join('/')
    if (target === 'sim' || target.startsWith('sim/')) return 'sim/'
    if (target === 'runtime' || target.startsWith('runtime/')) return 'runtime/'
    if (!target.startsWith('core/')) return 'a path outside core/'
  }
  return undefined
}

describe('purity of core/', () => {
  const files = tsFiles(CORE)

  it('core/ has TypeScript files to check', () => {
    expect(files.length).toBeGreaterThan(0)
  })

  it('no clock, randomness, timers, environment or network in core/', () => {
    const violations: string[] = []
    for (const file of files) {
      const lines = codeOnly(readFileSync(file, 'utf8')).split('\n')
      lines.forEach((line, i) => {
        for (const { name, pattern } of FORBIDDEN) {
          if (pattern.test(line)) violations.push(`${relative(ROOT, file)}:${i + 1}: ${name}`)
        }
      })
    }
    expect(violations, 'core/ must stay deterministic; pass time and randomness in as inputs').toEqual([])
  })

  it('core/ imports no node: modules and nothing from sim/ or runtime/', () => {
    const violations: string[] = []
    for (const file of files) {
      for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
        const why = badImport(file, spec)
        if (why !== undefined) violations.push(`${relative(ROOT, file)}: imports '${spec}' (${why})`)
      }
    }
    expect(violations, 'arrows run runtime -> sim -> core only').toEqual([])
  })

  it('the scan itself catches what it must (self-check)', () => {
    const bad = [
      'const t = Date.now()', 'new Date()', 'Math.random()', 'performance.now()', 'setTimeout(f, 1)',
      'setInterval(f, 1)', 'setImmediate(f)', 'process.env.X', 'crypto.getRandomValues(b)',
      'randomBytes(32)', 'crypto.randomUUID()',
    ]
    for (const line of bad) expect(FORBIDDEN.some(({ pattern }) => pattern.test(codeOnly(line))), line).toBe(true)
    const fine = ["// uses Date in a comment", "const s = 'process.env'", '/* Math.random() */ const x = 1', 'const updated = 1']
    for (const line of fine) expect(FORBIDDEN.some(({ pattern }) => pattern.test(codeOnly(line))), line).toBe(false)
    const file = join(CORE, 'x', 'y.ts')
    expect(badImport(file, 'node:fs')).toBeDefined()
    expect(badImport(file, 'fs')).toBeDefined()
    expect(badImport(file, '../../sim/cluster.ts')).toBe('sim/')
    expect(badImport(file, '../../runtime/node-crypto.ts')).toBe('runtime/')
    expect(badImport(file, '../types.ts')).toBeUndefined()
    expect(badImport(file, 'cborg')).toBeUndefined()
    expect(importSpecifiers("import { a } from 'node:fs'\nimport type { B } from '../sim/x.ts'\nexport * from './z.ts'\nimport 'node:os'"))
      .toEqual(['node:fs', '../sim/x.ts', './z.ts', 'node:os'])
  })
})
