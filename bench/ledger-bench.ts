// Ledger throughput: entries/s for append+seal and for validateBatch, at batch sizes 1, 64 and
// 1024 with 64-byte payloads (one seal per batch). Run: npx tsx bench/ledger-bench.ts
// Figures drift with machine load; compare runs side by side.
import { nobleCrypto } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import { toHex } from '../core/bytes.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { append, newChainView, newOwnChain, seal, validateBatch } from '../core/ledger/index.ts'
import type { Entry, OwnChain, Seal } from '../core/ledger/index.ts'

const VOLUME = 'bench' as VolumeName
const PAYLOAD_BYTES = 64
/** Enough work per figure to swamp timer noise, bounded so that batch size 1 (one 2 ms verify per
 *  entry) still finishes in about a second. */
const TIME_BUDGET_MS = 1000
const MAX_ENTRIES = 200_000

function payloads(count: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    const p = new Uint8Array(PAYLOAD_BYTES)
    for (let j = 0; j < PAYLOAD_BYTES; j++) p[j] = (i * 31 + j) & 0xff
    out.push(p)
  }
  return out
}

/** Appends `batch` entries (payloads `data[k..]`, cycling) to an own chain and seals them. */
export function sealedBatch(crypto: Crypto, sk: Uint8Array, chain: OwnChain, batch: number, data: Uint8Array[], k: number): { chain: OwnChain; entries: Entry[]; seal: Seal } {
  const entries: Entry[] = []
  for (let i = 0; i < batch; i++) {
    const r = append(crypto, chain, data[(k + i) % data.length]!)
    chain = r.chain
    entries.push(r.entry)
  }
  const s = seal(crypto, sk, chain)
  return { chain: s.chain, entries, seal: s.seal }
}

/** Appends and seals `batches` batches of `batch` entries of an own chain (shared with persist-bench). */
export function produce(crypto: Crypto, sk: Uint8Array, author: Pid, batch: number, batches: number, data: Uint8Array[]): { batches: { entries: Entry[]; seal: Seal }[]; ms: number } {
  const t0 = performance.now()
  let chain = newOwnChain(VOLUME, author)
  const out: { entries: Entry[]; seal: Seal }[] = []
  for (let b = 0; b < batches; b++) {
    const s = sealedBatch(crypto, sk, chain, batch, data, b * batch)
    chain = s.chain
    out.push({ entries: s.entries, seal: s.seal })
  }
  return { batches: out, ms: performance.now() - t0 }
}

export async function benchLedger(crypto: Crypto = nobleCrypto): Promise<Record<string, number>> {
  const sk = crypto.sha256(new TextEncoder().encode('ledger-bench secret key'))
  const author = toHex(crypto.publicKey(sk)) as Pid
  const data = payloads(1024)
  const results: Record<string, number> = {}
  for (const batch of [1, 64, 1024]) {
    // Calibrate: one small run to size the measured one to about TIME_BUDGET_MS.
    const probeBatches = Math.max(1, Math.ceil(256 / batch))
    const probe = produce(crypto, sk, author, batch, probeBatches, data)
    let view = newChainView(VOLUME, author)
    const tv = performance.now()
    for (const b of probe.batches) {
      const r = validateBatch(crypto, view, b.entries, b.seal)
      if (!r.ok) throw new Error(`bench: honest batch rejected: ${r.rejection.code}`)
      view = r.view
    }
    const perEntryMs = (probe.ms + performance.now() - tv) / (probeBatches * batch)
    const entries = Math.min(MAX_ENTRIES, Math.max(batch, Math.floor(TIME_BUDGET_MS / perEntryMs / 2)))
    const batches = Math.max(1, Math.floor(entries / batch))

    const made = produce(crypto, sk, author, batch, batches, data)
    results[`append+seal_batch${batch}_entries_per_s`] = Math.round((batches * batch) / (made.ms / 1000))

    view = newChainView(VOLUME, author)
    const t1 = performance.now()
    for (const b of made.batches) {
      const r = validateBatch(crypto, view, b.entries, b.seal)
      if (!r.ok) throw new Error(`bench: honest batch rejected: ${r.rejection.code}`)
      view = r.view
    }
    const ms = performance.now() - t1
    results[`validate_batch${batch}_entries_per_s`] = Math.round((batches * batch) / (ms / 1000))
  }
  return results
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))
if (isMain) {
  const results = await benchLedger()
  console.log(JSON.stringify({ crypto: nobleCrypto.name, payloadBytes: PAYLOAD_BYTES, ...results }, null, 2))
}
