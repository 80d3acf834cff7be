// How a long-running paciofs process keeps its RSS near what it holds live (issue 11). Measured
// through a mount (bench/README.md "Session 24"): the live JS heap of a mount with 40,000 small
// files was 129 MB after a full GC while its RSS was 478 MB: V8 lets the old generation grow to
// up to 4x the live size before it collects, and glibc kept freed 64 KiB chunk buffers in
// fragmented arenas. Both are settings of the process, applied by `tuneProcessMemory` before the
// store, FUSE and the thread pool allocate.
import { createRequire } from 'node:module'
import { setFlagsFromString } from 'node:v8'

/** V8 grows the old generation by this factor over the live size after a full GC (V8 picks up
 *  to 4x by itself). Costs more frequent major GCs. */
export const HEAP_GROWING_PERCENT = 20

export interface MemoryTuning {
  readonly malloc: 'tuned' | 'glibc' | 'unavailable'
  readonly heap: 'tuned' | 'v8'
}

/** Applies both unless told not to: `PACIOFS_MALLOC=glibc` keeps glibc's defaults,
 *  `PACIOFS_HEAP=v8` V8's own heap growing (for A/B runs). */
export function tuneProcessMemory(env: NodeJS.ProcessEnv = process.env): MemoryTuning {
  return { malloc: tuneMalloc(env), heap: tuneHeap(env) }
}

/** glibc malloc's settings, set through our LevelDB binding (runtime/native/README.md): 2 arenas,
 *  buffers of 64 KiB and more mapped on their own, the heap trimmed above 1 MiB. With glibc's
 *  defaults a mount's RSS grew by 43-61 MB per GiB of content written, with these by 18-21
 *  (bench/malloc-ab.sh). Arenas made before the call stay. */
export function tuneMalloc(env: NodeJS.ProcessEnv = process.env): MemoryTuning['malloc'] {
  if (env.PACIOFS_MALLOC === 'glibc') return 'glibc'
  const binding = createRequire(import.meta.url)('classic-level/binding') as { paciofs_tune_malloc?: (arenas: number, mmapThreshold: number, trimThreshold: number) => number }
  if (binding.paciofs_tune_malloc === undefined) return 'unavailable'
  return binding.paciofs_tune_malloc(2, 64 * 1024, 1024 * 1024) === 1 ? 'tuned' : 'unavailable'
}

/** V8's heap growing factor (--heap-growing-percent), set at run time: V8 reads it each time it
 *  computes the next collection's limit, so it holds from the next full GC on. */
export function tuneHeap(env: NodeJS.ProcessEnv = process.env): MemoryTuning['heap'] {
  if (env.PACIOFS_HEAP === 'v8') return 'v8'
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  return 'tuned'
}
