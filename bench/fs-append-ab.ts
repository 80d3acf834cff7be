// Per-write cost against file size, before and after a change, side by side in one process:
// `npx tsx bench/fs-append-ab.ts --base <checkout> [--rounds 5] [--ops 256] [--crypto node]`.
// Loads core/fs of this checkout and of <checkout> (e.g. a `git worktree` of main) and, per round,
// alternating, measures a 4 KiB append (applyOp + state root, fake chunk hashes: block references
// only) to a 1 MiB and to a 1 GiB file with each. Prints the medians in a markdown table and the
// load average. Goal (issue 11): the 1 GiB append within 20 % of the 1 MiB one.
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { nobleCrypto } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'
import * as here from '../core/fs/index.ts'
import { appendUs, type FsApi } from './fs-bench.ts'
import { machine, markdownTable, summarize } from './bench-util.ts'

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    ops: { type: 'string', default: '256' },
    crypto: { type: 'string', default: 'noble' },
  },
})
const rounds = Number(values.rounds)
const ops = Number(values.ops)
const crypto: Crypto = values.crypto === 'node' ? nodeCrypto : nobleCrypto
const codes: [string, FsApi][] = [['this checkout', here as unknown as FsApi]]
if (values.base !== undefined) {
  const mod = (await import(pathToFileURL(resolve(values.base, 'core/fs/index.ts')).href)) as FsApi
  codes.unshift([`base (${values.base})`, mod])
}
const sizes: [string, number][] = [['1 MiB', 2 ** 20], ['1 GiB', 2 ** 30]]
const figures = ['apply_us', 'apply_root_us'] as const
const runs = new Map<string, number[]>()
const m = machine()
process.stderr.write(`${m.model} x${m.cpus}, node ${m.node}, load ${m.loadavg.join(' ')}, crypto ${crypto.name}, ${rounds} rounds x ${ops} appends\n`)
for (let r = 0; r < rounds; r++) {
  for (const [name, api] of codes) {
    for (const [label, bytes] of sizes) {
      const us = appendUs(api, crypto, bytes, ops)
      for (const f of figures) {
        const key = `${name}|${label}|${f}`
        runs.set(key, [...(runs.get(key) ?? []), us[f]])
      }
      process.stderr.write(`round ${r + 1}: ${name}, ${label}: applyOp ${us.apply_us} µs, applyOp + state root ${us.apply_root_us} µs\n`)
    }
  }
}
const rows: string[][] = []
for (const f of figures) {
  for (const [name] of codes) {
    const small = summarize(runs.get(`${name}|1 MiB|${f}`)!)
    const big = summarize(runs.get(`${name}|1 GiB|${f}`)!)
    rows.push([f === 'apply_us' ? 'applyOp' : 'applyOp + stateRoot', name, small.median.toFixed(1), big.median.toFixed(1),
      `${Math.round((big.median / small.median) * 100)} %`,
      `${small.min.toFixed(1)}–${small.max.toFixed(1)} / ${big.min.toFixed(1)}–${big.max.toFixed(1)}`])
  }
}
console.log(markdownTable([['per 4 KiB append', 'code', '1 MiB file (µs)', '1 GiB file (µs)', '1 GiB / 1 MiB', 'min–max (1 MiB / 1 GiB)'], ...rows], [false, false, true, true, true, false]))
console.log(`\n${m.model} x${m.cpus}, node ${m.node}, crypto ${crypto.name}, medians of ${rounds} rounds x ${ops} appends; load average at the start ${m.loadavg.join(' ')}, at the end ${machine().loadavg.join(' ')}`)
