// The channel's AEAD alone (issue 12, bench/README.md "Encrypted channels"): µs per seal+open
// of one frame through OpenSSL, from our binding (runtime/node-crypto.ts nativeAead, when
// build/aead is built) and through node:crypto (nodeAead), and through @noble/ciphers
// (core/channel/cipher.ts nobleAead), 64 B to 1 MiB. `--tuned` first applies the malloc settings
// every paciofs process runs with (runtime/memory.ts), under which fresh large buffers cost most.
//   node --import tsx bench/aead-bench.ts [--tuned]
import { tuneMalloc } from '../runtime/memory.ts'
import { nativeAead, nodeAead } from '../runtime/node-crypto.ts'
import type { Aead } from '../core/channel/cipher.ts'
import { nobleAead } from '../core/channel/cipher.ts'
if (process.argv.includes('--tuned')) console.log('malloc', tuneMalloc({}))
const k = new Uint8Array(32).fill(1), n = new Uint8Array(12).fill(2), ad = new Uint8Array(4)
for (const size of [64, 1024, 65536, 1 << 20]) {
  const p = new Uint8Array(size).fill(3)
  const count = size >= 1 << 20 ? 200 : 5000
  const aeads: [string, Aead][] = [...(nativeAead !== undefined ? [['native', nativeAead] as [string, Aead]] : []), ['node', nodeAead], ['noble', nobleAead]]
  for (const [name, a] of aeads) {
    const reps = name === 'noble' && size >= 1 << 20 ? 20 : count
    for (let i = 0; i < Math.min(reps, 200); i++) a.decrypt(k, n, ad, a.encrypt(k, n, ad, p))
    const t = performance.now()
    for (let i = 0; i < reps; i++) if (a.decrypt(k, n, ad, a.encrypt(k, n, ad, p)) === undefined) throw new Error('a sealed frame did not open')
    const us = ((performance.now() - t) * 1000) / reps
    console.log(`${String(size).padStart(8)} B  ${name.padEnd(6)}  ${us.toFixed(1).padStart(8)} µs seal+open  ${(size / us).toFixed(0).padStart(5)} MB/s`)
  }
}
