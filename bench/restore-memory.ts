// What a stopped node's restore costs in memory, as verify does it (runtime/inspect.ts
// loadSnapshot): VmHWM when it returns, then RSS and the live heap after two full GCs.
//   node --expose-gc --import tsx bench/restore-memory.ts --data DIR [--checkout DIR]
// (--checkout: whose runtime/ to load, default this one; for A/B runs of two checkouts.)
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { data: { type: 'string' }, checkout: { type: 'string', default: join(import.meta.dirname, '..') } }, strict: true })
if (values.data === undefined) throw new Error('give --data')
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')
const co = resolve(values.checkout!)
const { loadSnapshot } = (await import(pathToFileURL(join(co, 'runtime/inspect.ts')).href)) as { loadSnapshot(dir: string): Promise<{ close(): Promise<void> }> }
const { tuneProcessMemory } = (await import(pathToFileURL(join(co, 'runtime/memory.ts')).href)) as { tuneProcessMemory(env: NodeJS.ProcessEnv, command: string): unknown }
tuneProcessMemory(process.env, 'verify')
const snap = await loadSnapshot(resolve(values.data))
const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1])
gc()
gc()
const m = process.memoryUsage()
process.stdout.write(JSON.stringify({ checkout: co, restore_hwm_MB: Math.round((hwmKb * 1024) / 1e6), rss_after_gc_MB: Math.round(m.rss / 1e6), heap_used_after_gc_MB: Math.round(m.heapUsed / 1e6) }) + '\n')
await snap.close()
