// verify (issue 5, item 5): seconds to verify a volume of 10k files / 1 GiB (quick: 1k files /
// 64 MiB), with MiB/s of content hashing and replayed ops/s.
//
// The volume is built by driving one node (core/node.ts `step`, one request per step, as
// bench/node-bench.ts) of which it is the only member, with nodeCrypto: mkdir of 100 directories,
// then per file a `create` and one `write` of its whole content (as a mount sends it at close).
// Contents come from a seeded PRNG (xorshift128, seed = file index), so every 64 KiB chunk is
// distinct and hashing is real. File sizes vary around the mean (seeded too) and add up to the
// total exactly. The build is timed apart; effects are not persisted (no disk).
//
// Then verifyNodeVolume (core/node.ts -> core/verify.ts) runs `--runs` times on the built state.
// Its time is split by wrapping the node's Crypto: seal verifies (one per step: every step
// seals), SHA-256 of content chunks (inputs > 4 KiB), and other SHA-256 (entry headers,
// payloads, plain ops). Replay alone (step 4 of verify: applyOp of every logged op on an empty
// fs, the same loop) is timed separately for the replayed ops/s.
//
//   npx tsx bench/verify-bench.ts [--quick] [--runs N] [--files N --mib M]    (npm run bench:verify)
// Writes bench/results/verify.json and prints a markdown table; progress goes to stderr.
import type { MemoryStorage } from '../core/storage.ts'
import type { Crypto } from '../core/crypto.ts'
import { nodeConfig, verifyNodeVolume } from '../core/node.ts'
import type { NodeConfig, NodeRequest, NodeState } from '../core/node.ts'
import { opOfRecord, plainReader } from '../core/volume/index.ts'
import { applyOp, createFs } from '../core/fs/state.ts'
import type { VolumeName } from '../core/types.ts'
import { fmt, machine, markdownTable, summarize, writeResults, type Summary } from './bench-util.ts'
import { Driver, expectOk } from './node-bench.ts'
import { nodeCrypto } from '../runtime/node-crypto.ts'

const VOLUME = 'verify' as VolumeName
const DIRS = 100
const cred = { uid: 1000, gid: 1000 }
const CONTENT_MIN_BYTES = 4096
const GOAL_HASH_MIB_PER_S = 1024
const GOAL_REPLAY_OPS_PER_S = 50_000

function argValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag)
  return i >= 0 ? argv[i + 1] : undefined
}

function parseArgs(argv: readonly string[]): { quick: boolean; runs: number; files: number; mib: number } {
  const quick = argv.includes('--quick')
  const runs = Number(argValue(argv, '--runs') ?? (quick ? 1 : 3))
  const files = Number(argValue(argv, '--files') ?? (quick ? 1000 : 10_000))
  const mib = Number(argValue(argv, '--mib') ?? (quick ? 64 : 1024))
  for (const [name, v] of [['--runs', runs], ['--files', files], ['--mib', mib]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} takes a positive integer`)
  }
  return { quick, runs, files, mib }
}


const progress = (s: string): void => void process.stderr.write(`[verify] ${s}\n`)

// ---------------------------------------------------------------------------------------------
// Seeded content

/** xorshift128 filling `out` (whole 32-bit words, the tail from one more word). */
function fillRandom(out: Uint8Array, seed: number): void {
  let x = (seed * 2654435761) >>> 0 || 1
  let y = 362436069
  let z = 521288629
  let w = 88675123 ^ seed
  const words = out.length >>> 2
  const u32 = new Uint32Array(out.buffer, out.byteOffset, words)
  for (let i = 0; i < words; i++) {
    const t = x ^ (x << 11)
    x = y
    y = z
    z = w
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0
    u32[i] = w
  }
  for (let i = words * 4; i < out.length; i++) out[i] = (w >>> ((i & 3) * 8)) & 0xff
}

/** File sizes around total/files (0.5x..1.5x, seeded), adding up to `total` exactly. */
function fileSizes(files: number, total: number): number[] {
  let s = 12345
  const rnd = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    return s / 2 ** 32
  }
  const raw = Array.from({ length: files }, () => 0.5 + rnd())
  const sum = raw.reduce((a, b) => a + b, 0)
  const sizes = raw.map((r) => Math.max(1, Math.floor((r / sum) * total)))
  sizes[files - 1]! += total - sizes.reduce((a, b) => a + b, 0)
  return sizes
}

// ---------------------------------------------------------------------------------------------
// Timed crypto

class Timing {
  sealVerifyMs = 0
  sealVerifies = 0
  contentHashMs = 0
  contentBytes = 0
  contentHashes = 0
  otherHashMs = 0
  otherHashes = 0
  signMs = 0
  reset(): void {
    this.sealVerifyMs = this.contentHashMs = this.otherHashMs = this.signMs = 0
    this.sealVerifies = this.contentBytes = this.contentHashes = this.otherHashes = 0
  }
}

function timedCrypto(inner: Crypto, t: Timing): Crypto {
  return {
    name: inner.name,
    sha256: (data) => {
      const t0 = performance.now()
      const h = inner.sha256(data)
      const ms = performance.now() - t0
      if (data.length > CONTENT_MIN_BYTES) {
        t.contentHashMs += ms
        t.contentBytes += data.length
        t.contentHashes++
      } else {
        t.otherHashMs += ms
        t.otherHashes++
      }
      return h
    },
    hmacSha256: inner.hmacSha256,
    publicKey: inner.publicKey,
    sign: (digest, sk) => {
      const t0 = performance.now()
      const s = inner.sign(digest, sk)
      t.signMs += performance.now() - t0
      return s
    },
    verify: (sig, digest, pk) => {
      const t0 = performance.now()
      const ok = inner.verify(sig, digest, pk)
      t.sealVerifyMs += performance.now() - t0
      t.sealVerifies++
      return ok
    },
    ...(inner.verifyMessage !== undefined
      ? {
          verifyMessage: (sig: Uint8Array, message: Uint8Array, pk: Uint8Array) => {
            const t0 = performance.now()
            const ok = inner.verifyMessage!(sig, message, pk)
            t.sealVerifyMs += performance.now() - t0
            t.sealVerifies++
            return ok
          },
        }
      : {}),
  }
}

// ---------------------------------------------------------------------------------------------
// Build (a Driver of node-bench.ts: one request per step)

function build(config: NodeConfig, files: number, totalBytes: number): { state: NodeState; ms: number; ops: number } {
  const t0 = performance.now()
  const d = new Driver(config)
  const must = (request: NodeRequest): void => expectOk(d.request(request), request.type)
  const fs = (call: Extract<NodeRequest, { type: 'fs' }>['call']): void => must({ type: 'fs', volume: VOLUME, call })
  must({ type: 'create-volume', name: VOLUME, policy: 'majority' })
  for (let i = 0; i < DIRS; i++) fs({ type: 'mkdir', path: `/d${i}`, mode: 0o755, cred, time: d.fsTime() })
  const sizes = fileSizes(files, totalBytes)
  let ops = 1 + DIRS
  let lastReport = performance.now()
  for (let i = 0; i < files; i++) {
    const path = `/d${i % DIRS}/f${i}`
    fs({ type: 'create', path, mode: 0o644, cred, time: d.fsTime() })
    const data = new Uint8Array(sizes[i]!)
    fillRandom(data, i + 1)
    fs({ type: 'write', path, writes: [{ offset: 0, data }], cred, time: d.fsTime() })
    ops += 2
    if (performance.now() - lastReport > 5000) {
      lastReport = performance.now()
      progress(`build: ${i + 1}/${files} files, ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    }
  }
  return { state: d.state, ms: performance.now() - t0, ops }
}

/** Step 4 of verifyVolume alone: the log replayed on an empty fs (same calls, same order). */
function replayOnly(config: NodeConfig, state: NodeState): { ms: number; ops: number } {
  const v = state.volumes.get(VOLUME)!
  const t0 = performance.now()
  const fs = createFs(config.crypto)
  const plain = plainReader(v, config.crypto, config.storage)
  for (const rec of v.log) {
    const op = opOfRecord(plain, rec)
    if (!op) throw new Error(`bench: no op for epoch ${rec.epoch}`)
    applyOp(fs, op, { epoch: fs.epoch + 1, author: rec.author })
  }
  return { ms: performance.now() - t0, ops: v.log.length }
}

async function main(): Promise<void> {
  const { quick, runs, files, mib } = parseArgs(process.argv.slice(2))
  const started = performance.now()
  const m = machine()
  const timing = new Timing()
  const crypto = timedCrypto(nodeCrypto, timing)
  const secretKey = nodeCrypto.sha256(new TextEncoder().encode('verify-bench secret key'))
  const config = nodeConfig(crypto, secretKey)
  const totalBytes = mib * 2 ** 20

  progress(`building ${files} files / ${mib} MiB through core/node.ts step() ...`)
  const built = build(config, files, totalBytes)
  const buildTiming = { ...timing }
  const v = built.state.volumes.get(VOLUME)!
  const logOps = v.log.length
  const chunkStats = (config.storage as MemoryStorage).chunkStats(VOLUME)
  const chunkBytes = chunkStats.bytes
  const seals = v.fotb.chains.get(built.state.me)!.view.seals.toArray().length
  progress(`built in ${(built.ms / 1000).toFixed(1)} s: ${logOps} logged ops, ${chunkStats.chunks} chunks (${(chunkBytes / 2 ** 20).toFixed(1)} MiB), ${seals} seals; signing ${(buildTiming.signMs / 1000).toFixed(1)} s, content hashing ${(buildTiming.contentHashMs / 1000).toFixed(1)} s`)

  const figures: Record<string, number[]> = {
    verify_s: [],
    verify_content_MiB_per_s: [],
    verify_ops_per_s: [],
    content_hash_MiB_per_s: [],
    content_hash_s: [],
    seal_verify_s: [],
    seal_verify_us_each: [],
    other_sha256_s: [],
    rest_s: [],
    replay_only_ops_per_s: [],
    replay_only_s: [],
  }
  if (global.gc) global.gc()
  for (let run = 1; run <= runs; run++) {
    timing.reset()
    const t0 = performance.now()
    const findings = verifyNodeVolume(config, built.state, VOLUME)
    const ms = performance.now() - t0
    if (findings.length > 0) throw new Error(`bench: verify found ${findings.length} problems, first: ${JSON.stringify(findings[0])}`)
    const contentMiB = timing.contentBytes / 2 ** 20
    figures.verify_s!.push(ms / 1000)
    figures.verify_content_MiB_per_s!.push(contentMiB / (ms / 1000))
    figures.verify_ops_per_s!.push(logOps / (ms / 1000))
    figures.content_hash_MiB_per_s!.push(contentMiB / (timing.contentHashMs / 1000))
    figures.content_hash_s!.push(timing.contentHashMs / 1000)
    figures.seal_verify_s!.push(timing.sealVerifyMs / 1000)
    figures.seal_verify_us_each!.push((timing.sealVerifyMs * 1000) / Math.max(1, timing.sealVerifies))
    figures.other_sha256_s!.push(timing.otherHashMs / 1000)
    figures.rest_s!.push((ms - timing.sealVerifyMs - timing.contentHashMs - timing.otherHashMs) / 1000)
    const verifyTiming = { ...timing }
    const r = replayOnly(config, built.state)
    figures.replay_only_ops_per_s!.push(r.ops / (r.ms / 1000))
    figures.replay_only_s!.push(r.ms / 1000)
    progress(
      `run ${run}/${runs}: verify ${(ms / 1000).toFixed(2)} s (seal verifies ${verifyTiming.sealVerifies} in ${(verifyTiming.sealVerifyMs / 1000).toFixed(2)} s, ` +
        `content ${contentMiB.toFixed(0)} MiB hashed in ${(verifyTiming.contentHashMs / 1000).toFixed(2)} s, other sha256 ${verifyTiming.otherHashes} in ${(verifyTiming.otherHashMs / 1000).toFixed(2)} s); ` +
        `replay alone ${r.ops} ops in ${(r.ms / 1000).toFixed(2)} s`,
    )
  }

  const results: Record<string, Summary> = {}
  for (const [k, a] of Object.entries(figures)) results[k] = summarize(a)
  const seconds = (performance.now() - started) / 1000
  const out = {
    name: 'verify',
    date: new Date().toISOString(),
    machine: m,
    config: {
      quick,
      runs,
      crypto: nodeCrypto.name,
      files,
      totalMiB: mib,
      dirs: DIRS,
      build: 'core/node.ts step(), one request per step: create-volume, mkdir x dirs, then create + one whole-file write per file; seeded xorshift128 content',
      goals: { content_hash_MiB_per_s: GOAL_HASH_MIB_PER_S, replayed_ops_per_s: GOAL_REPLAY_OPS_PER_S },
    },
    volume: { loggedOps: logOps, chunks: chunkStats.chunks, chunkMiB: chunkBytes / 2 ** 20, seals },
    build: { seconds: built.ms / 1000, steps: built.ops, signSeconds: buildTiming.signMs / 1000, contentHashSeconds: buildTiming.contentHashMs / 1000 },
    seconds,
    results,
  }
  const path = writeResults('verify', out)
  progress(`wrote ${path} (${seconds.toFixed(1)} s)`)

  const row = (label: string, key: string, goal?: number): (string | number)[] => {
    const s = results[key]!
    return [label, s.median, s.min, s.max, goal === undefined ? '' : `${fmt(goal)} (${fmt((100 * s.median) / goal)} %)`]
  }
  console.log(`## verify: ${files} files / ${mib} MiB (${quick ? 'quick' : 'full'}, ${runs} run${runs > 1 ? 's' : ''}, crypto ${nodeCrypto.name})\n`)
  console.log(`${m.model} x${m.cpus}, node ${m.node}, ${m.platform}, load ${m.loadavg.join(' ')}; ${seconds.toFixed(1)} s in all`)
  console.log(`volume: ${logOps} logged ops, ${chunkStats.chunks} chunks (${(chunkBytes / 2 ** 20).toFixed(1)} MiB), ${seals} seals (one per step); built in ${(built.ms / 1000).toFixed(1)} s (not in the figures)\n`)
  console.log(
    markdownTable([
      ['figure', 'median', 'min', 'max', 'goal (median / goal)'],
      row('verify, total (s)', 'verify_s'),
      row('verify, content over total time (MiB/s)', 'verify_content_MiB_per_s', GOAL_HASH_MIB_PER_S),
      row('verify, logged ops over total time (ops/s)', 'verify_ops_per_s', GOAL_REPLAY_OPS_PER_S),
      row('  content hashing (MiB/s of SHA-256 time)', 'content_hash_MiB_per_s', GOAL_HASH_MIB_PER_S),
      row('  content hashing (s)', 'content_hash_s'),
      row('  seal verifies (s)', 'seal_verify_s'),
      row('  seal verify, each (µs)', 'seal_verify_us_each'),
      row('  other SHA-256: headers, payloads, plain ops (s)', 'other_sha256_s'),
      row('  rest: replay, compare, history, decoding (s)', 'rest_s'),
      row('replay alone (ops/s)', 'replay_only_ops_per_s', GOAL_REPLAY_OPS_PER_S),
      row('replay alone (s)', 'replay_only_s'),
    ], [false, true, true, true, true]),
  )
}

await main()
