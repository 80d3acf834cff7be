// Ledger with persistence (issue 5, item 4): entries/s for append + seal + persist, and for
// validate (seals and links), at seal batch sizes 1, 64, 1024 and 4096, with nodeCrypto
// (runtime/node-crypto.ts: OpenSSL SHA-256, noble ECDSA).
//
//   append+seal+persist: per batch, `append` B entries of 64-byte payloads to an own chain
//     (core/ledger/ledger.ts), `seal` once, then RecordStore.append of what fotb's flush persists for
//     them (one 'entry' record per entry + one 'seal' record: core/fotb/messages.ts entryRecord,
//     sealRecord): one level batch with sync: true, awaited before the next batch, as the host
//     does. The figure's time is split into core (append+seal) and store (encode + fsync).
//   validate: the same batches through validateBatch against a fresh ChainView (what a receiver
//     does with each BATCH): hashes, links, head, one seal verify per batch. Also split: the
//     checks without the signature (ownSeal) and one signature verify with noble (what nodeCrypto
//     uses today) and with OpenSSL (verifySha256 over the seal's preimage — what verify would cost
//     if the core let the Crypto verify a preimage instead of a digest).
//
//   npx tsx bench/persist-bench.ts [--quick] [--runs N] [--batch 1024,4096]    (npm run bench:ledger)
// Writes bench/results/persist.json and prints a markdown table; progress goes to stderr.
import os from 'node:os'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Value } from '../core/codec.ts'
import { encode } from '../core/codec.ts'
import { fromHex, toHex } from '../core/bytes.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { DEFAULT_LEDGER_LIMITS, newChainView, newOwnChain, SEAL_TAG, validateBatch, verifySeal } from '../core/ledger/index.ts'
import type { Entry, Seal } from '../core/ledger/index.ts'
import { entryRecord, sealRecord } from '../core/fotb/index.ts'
import { fmt, machine, markdownTable, summarize, writeResults, type Summary } from './bench-util.ts'
import { produce, sealedBatch } from './ledger-bench.ts'
import { nodeCrypto, verifySha256 } from '../runtime/node-crypto.ts'
import { RecordStore } from '../runtime/store.ts'

const VOLUME = 'bench' as VolumeName
const PAYLOAD_BYTES = 64
const BATCH_SIZES = [1, 64, 1024, 4096]
/** Per figure and run: produce batches until this much time went by (at least one batch). */
const BUDGET_MS_FULL = 1500
const BUDGET_MS_QUICK = 300
/** Entries validated per figure at most (the produced batches, cut). */
const GOAL_PERSIST = 100_000
const GOAL_VALIDATE = 200_000

function parseArgs(argv: readonly string[]): { quick: boolean; runs: number; batchSizes: number[] } {
  const quick = argv.includes('--quick')
  const i = argv.indexOf('--runs')
  const runs = i >= 0 ? Number(argv[i + 1]) : quick ? 1 : 3
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a positive integer')
  // --batch 1024[,4096]: only these seal batch sizes (for profiling one of them)
  const j = argv.indexOf('--batch')
  const batchSizes = j >= 0 ? String(argv[j + 1]).split(',').map(Number) : BATCH_SIZES
  if (batchSizes.some((b) => !Number.isInteger(b) || b < 1)) throw new Error('--batch takes positive integers, comma-separated')
  return { quick, runs, batchSizes }
}


const progress = (s: string): void => void process.stderr.write(`[persist] ${s}\n`)

// ---------------------------------------------------------------------------------------------

function payloads(count: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const p = new Uint8Array(PAYLOAD_BYTES)
    for (let j = 0; j < PAYLOAD_BYTES; j++) p[j] = (i * 131 + j * 7 + 1) & 0xff
    out.push(p)
  }
  return out
}

interface PersistRun {
  entries: number
  batches: { entries: Entry[]; seal: Seal }[]
  totalMs: number
  coreMs: number
  storeMs: number
  bytes: number
}

async function appendSealPersist(sk: Uint8Array, author: Pid, batch: number, budgetMs: number, data: Uint8Array[], dir: string): Promise<PersistRun> {
  const store = await RecordStore.open(dir)
  const crypto = nodeCrypto
  let chain = newOwnChain(VOLUME, author)
  const batches: { entries: Entry[]; seal: Seal }[] = []
  let coreMs = 0
  let storeMs = 0
  let bytes = 0
  let k = 0
  const t0 = performance.now()
  try {
    do {
      const c0 = performance.now()
      const s = sealedBatch(crypto, sk, chain, batch, data, k)
      k += batch
      chain = s.chain
      const entries = s.entries
      const records: Value[] = entries.map((e) => entryRecord(VOLUME, e))
      records.push(sealRecord(VOLUME, s.seal))
      const c1 = performance.now()
      await store.append(records)
      const c2 = performance.now()
      coreMs += c1 - c0
      storeMs += c2 - c1
      batches.push({ entries, seal: s.seal })
      for (const e of entries) bytes += e.payload.length
    } while (performance.now() - t0 < budgetMs)
  } finally {
    await store.close()
  }
  return { entries: batches.length * batch, batches, totalMs: performance.now() - t0, coreMs, storeMs, bytes }
}

function validateAll(batches: { entries: Entry[]; seal: Seal }[], ownSeal: boolean): number {
  const first = batches[0]!
  // fotb caps a BATCH at 1024 entries (DEFAULT_FOTB_PARAMS.maxBatchEntries); 4096 is measured
  // with the limit raised, to show what a larger seal batch would buy.
  const limits = { ...DEFAULT_LEDGER_LIMITS, maxEntries: Math.max(DEFAULT_LEDGER_LIMITS.maxEntries, first.entries.length) }
  let view = newChainView(VOLUME, first.seal.author)
  const t0 = performance.now()
  for (const b of batches) {
    const r = validateBatch(nodeCrypto, view, b.entries, b.seal, limits, { ownSeal })
    if (!r.ok) throw new Error(`bench: honest batch rejected: ${r.rejection.code} ${r.rejection.detail}`)
    view = r.view
  }
  return performance.now() - t0
}

/** Per-seal verify cost: noble (nodeCrypto.verify over the digest, what verifySeal does) and
 *  OpenSSL (verifySha256 over the seal's preimage). */
function signatureCost(seals: Seal[]): { nobleUs: number; opensslUs: number } {
  const n = Math.min(seals.length, 200)
  const pick = seals.slice(0, n)
  const t0 = performance.now()
  for (const s of pick) if (!verifySeal(nodeCrypto, s)) throw new Error('bench: seal does not verify')
  const t1 = performance.now()
  const pre = pick.map((s) => encode([SEAL_TAG, s.volume, fromHex(s.author)!, s.seq, fromHex(s.head)!]))
  const pk = fromHex(pick[0]!.author)!
  const t2 = performance.now()
  for (let i = 0; i < n; i++) if (!verifySha256(pick[i]!.sig, pre[i]!, pk)) throw new Error('bench: OpenSSL verify disagrees')
  const t3 = performance.now()
  return { nobleUs: ((t1 - t0) * 1000) / n, opensslUs: ((t3 - t2) * 1000) / n }
}

type FigureName =
  | 'append_seal_persist_entries_per_s'
  | 'persist_core_share_pct'
  | 'persist_batches_per_s'
  | 'persist_fsync_ms_per_batch'
  | 'validate_entries_per_s'
  | 'validate_without_sig_entries_per_s'
  | 'validate_openssl_sig_projected_entries_per_s'

async function main(): Promise<void> {
  const { quick, runs, batchSizes } = parseArgs(process.argv.slice(2))
  const budgetMs = quick ? BUDGET_MS_QUICK : BUDGET_MS_FULL
  const started = performance.now()
  const m = machine()
  const sk = nodeCrypto.sha256(new TextEncoder().encode('persist-bench secret key'))
  const author = toHex(nodeCrypto.publicKey(sk)) as Pid
  const data = payloads(1024)
  const root = mkdtempSync(join(os.tmpdir(), 'paciofs-persist-bench-'))
  const figures = new Map<string, number[]>()
  const put = (batch: number, name: FigureName, v: number): void => {
    const key = `batch${batch}_${name}`
    let a = figures.get(key)
    if (!a) figures.set(key, (a = []))
    a.push(v)
  }
  const sig = { noble: [] as number[], openssl: [] as number[] }
  try {
    // Warm-up: JIT and level's native binding, not measured.
    await appendSealPersist(sk, author, 64, 100, data, join(root, 'warmup'))
    for (let run = 1; run <= runs; run++) {
      for (const batch of batchSizes) {
        const dir = join(root, `r${run}-b${batch}`)
        const p = await appendSealPersist(sk, author, batch, budgetMs, data, dir)
        rmSync(dir, { recursive: true, force: true })
        put(batch, 'append_seal_persist_entries_per_s', p.entries / (p.totalMs / 1000))
        put(batch, 'persist_core_share_pct', (100 * p.coreMs) / p.totalMs)
        put(batch, 'persist_batches_per_s', p.batches.length / (p.totalMs / 1000))
        put(batch, 'persist_fsync_ms_per_batch', p.storeMs / p.batches.length)
        // Validate at least ~GOAL-sized work when the persist phase produced few entries.
        let batches = p.batches
        const minEntries = quick ? 20_000 : 50_000
        if (p.entries < minEntries && batch >= 64) {
          batches = produce(nodeCrypto, sk, author, batch, Math.ceil(minEntries / batch), data).batches
        }
        const n = batches.length * batch
        const withSig = validateAll(batches, false)
        const noSig = validateAll(batches, true)
        const cost = signatureCost(batches.map((b) => b.seal))
        sig.noble.push(cost.nobleUs)
        sig.openssl.push(cost.opensslUs)
        put(batch, 'validate_entries_per_s', n / (withSig / 1000))
        put(batch, 'validate_without_sig_entries_per_s', n / (noSig / 1000))
        put(batch, 'validate_openssl_sig_projected_entries_per_s', n / ((noSig + (batches.length * cost.opensslUs) / 1000) / 1000))
        progress(
          `run ${run}/${runs} batch ${batch}: append+seal+persist ${fmt(p.entries / (p.totalMs / 1000))} entries/s ` +
            `(${p.batches.length} batches, fsync ${fmt(p.storeMs / p.batches.length)} ms/batch, core ${fmt((100 * p.coreMs) / p.totalMs)} %); ` +
            `validate ${fmt(n / (withSig / 1000))} entries/s (${n} entries)`,
        )
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }

  const results: Record<string, Summary> = {}
  for (const [k, v] of figures) results[k] = summarize(v)
  results['seal_verify_noble_us'] = summarize(sig.noble)
  results['seal_verify_openssl_us'] = summarize(sig.openssl)
  const seconds = (performance.now() - started) / 1000
  const out = {
    name: 'persist',
    date: new Date().toISOString(),
    machine: m,
    config: {
      quick,
      runs,
      crypto: nodeCrypto.name,
      payloadBytes: PAYLOAD_BYTES,
      batchSizes,
      budgetMsPerFigure: budgetMs,
      store: 'runtime/store.ts RecordStore (level, one batch per seal, sync: true) in os.tmpdir()',
      goals: { append_seal_persist_entries_per_s: GOAL_PERSIST, validate_entries_per_s: GOAL_VALIDATE },
    },
    seconds,
    results,
  }
  const path = writeResults('persist', out)
  progress(`wrote ${path} (${seconds.toFixed(1)} s)`)

  const row = (label: string, key: string, goal?: number): (string | number)[] => {
    const s = results[key]!
    return [label, s.median, s.min, s.max, goal === undefined ? '' : `${fmt(goal)} (${fmt((100 * s.median) / goal)} %)`]
  }
  const rows: (string | number)[][] = [['figure', 'median', 'min', 'max', 'goal (median / goal)']]
  for (const b of batchSizes) {
    rows.push(row(`append+seal+persist, batch ${b} (entries/s)`, `batch${b}_append_seal_persist_entries_per_s`, GOAL_PERSIST))
    rows.push(row(`  fsync'd store append, batch ${b} (ms per batch)`, `batch${b}_persist_fsync_ms_per_batch`))
    rows.push(row(`  append+seal share, batch ${b} (%)`, `batch${b}_persist_core_share_pct`))
    rows.push(row(`validate, batch ${b} (entries/s)`, `batch${b}_validate_entries_per_s`, GOAL_VALIDATE))
    rows.push(row(`  validate without the seal verify, batch ${b} (entries/s)`, `batch${b}_validate_without_sig_entries_per_s`))
    rows.push(row(`  validate with an OpenSSL seal verify (projected), batch ${b} (entries/s)`, `batch${b}_validate_openssl_sig_projected_entries_per_s`))
  }
  rows.push(row('seal verify, noble (µs)', 'seal_verify_noble_us'))
  rows.push(row('seal verify, OpenSSL verifySha256 (µs)', 'seal_verify_openssl_us'))
  console.log(`## Ledger: append+seal+persist and validate (${quick ? 'quick' : 'full'}, ${runs} run${runs > 1 ? 's' : ''}, crypto ${nodeCrypto.name}, ${PAYLOAD_BYTES}-byte payloads)\n`)
  console.log(`${m.model} x${m.cpus}, node ${m.node}, ${m.platform}, load ${m.loadavg.join(' ')}; ${seconds.toFixed(1)} s\n`)
  console.log(markdownTable(rows, [false, true, true, true, true]))
}

await main()
