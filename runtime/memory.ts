// How a long-running paciofs process keeps its RSS near what it holds live (issue 11). Measured
// through a mount (bench/README.md "Session 24"): the live JS heap of a mount with 40,000 small
// files was 129 MB after a full GC while its RSS was 478 MB: V8 lets the old generation grow to
// up to 4x the live size before it collects, and glibc spread freed buffers over many arenas and,
// having raised its mmap threshold after the first large free, kept even 1 MiB buffers in them.
// Both are settings of the process, applied by `tuneProcessMemory` before the store, FUSE and the
// thread pool allocate. Tighter settings were tried and rejected for their CPU cost on content
// writes (mount CPU per GiB written, bench/README.md): a 64 KiB mmap threshold +10-25 %, a heap
// growing factor of 1.5 or 1.2 +50 / +100 % (V8 then collects on every few chunks' garbage).
import { createRequire } from 'node:module'
import { setFlagsFromString } from 'node:v8'

/** V8 grows the old generation to at most twice the live size after a full GC (V8 picks up to
 *  4x by itself). Smaller factors saved more RSS per small file but cost content writes dearly. */
export const HEAP_GROWING_PERCENT = 100

/** verify (and the other commands that read a store and exit) grow the heap by at most 20 %: their
 *  garbage is collected before it piles up, and they write no content, where a tight heap costs.
 *  The full-size verify with this, unmapped tables and the bounded chunk audit together peaked at
 *  747 MB instead of 2,014 and took 567 s instead of 750 (bench/README.md "Session 24"); the part
 *  of the heap setting alone was not measured apart. */
export const HEAP_GROWING_PERCENT_INSPECT = 20

export interface MemoryTuning {
  readonly malloc: 'tuned' | 'glibc' | 'unavailable'
  readonly heap: 'tuned' | 'v8'
}

/** Applies both unless told not to: `PACIOFS_MALLOC=glibc` keeps glibc's defaults,
 *  `PACIOFS_HEAP=v8` V8's own heap growing, `PACIOFS_HEAP=<percent>` another factor (A/B runs). */
export function tuneProcessMemory(env: NodeJS.ProcessEnv = process.env, command?: string): MemoryTuning {
  const long = command === undefined || command === 'serve' || command === 'mount'
  return { malloc: tuneMalloc(env), heap: tuneHeap(env, long ? HEAP_GROWING_PERCENT : HEAP_GROWING_PERCENT_INSPECT) }
}

/** glibc malloc's settings, set through our LevelDB binding (runtime/native/README.md): 2 arenas,
 *  the mmap threshold fixed at 128 KiB (glibc's start value, which it otherwise raises up to
 *  32 MiB after freeing a mapped buffer, so that 1 MiB FUSE and write buffers then fragment the
 *  arenas), free memory at the top of the heap returned above 1 MiB. Content written through a
 *  mount added 60 / 37 MB of RSS per GiB over 3 GiB with glibc's defaults (two rounds), 40 / 44
 *  with these (bench/malloc-ab.sh, bench/README.md "Session 24"). Arenas made before the call stay. */
export function tuneMalloc(env: NodeJS.ProcessEnv = process.env): MemoryTuning['malloc'] {
  if (env.PACIOFS_MALLOC === 'glibc') return 'glibc'
  const binding = createRequire(import.meta.url)('classic-level/binding') as { paciofs_tune_malloc?: (arenas: number, mmapThreshold: number, trimThreshold: number) => number }
  if (binding.paciofs_tune_malloc === undefined) return 'unavailable'
  return binding.paciofs_tune_malloc(2, 128 * 1024, 1024 * 1024) === 1 ? 'tuned' : 'unavailable'
}

/** V8's heap growing factor (--heap-growing-percent), set at run time: V8 reads it each time it
 *  computes the next collection's limit, so it holds from the next full GC on. */
export function tuneHeap(env: NodeJS.ProcessEnv = process.env, growingPercent = HEAP_GROWING_PERCENT): MemoryTuning['heap'] {
  if (env.PACIOFS_HEAP === 'v8') return 'v8'
  const percent = env.PACIOFS_HEAP !== undefined && /^[1-9][0-9]{0,2}$/.test(env.PACIOFS_HEAP) ? Number(env.PACIOFS_HEAP) : growingPercent
  setFlagsFromString(`--heap-growing-percent=${percent}`)
  return 'tuned'
}
