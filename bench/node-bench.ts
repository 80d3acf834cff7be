// End-to-end throughput of one node's pure core: `step` from core/node.ts on a node with one
// volume of which it is the only member, fed one fs request per step (a step is the unit the
// host drives; the node cannot take more than one request per step). Measures fs ops/s for
// creates and 4 KiB writes, and the ledger entries/s that result (each successful op puts one
// entry in the node's chain; every step seals its entries: one signature and one verify).
// The host's work (persisting, sending) is not included; encoding the persist records, which
// every host must do, is timed separately. Run alone: npx tsx bench/node-bench.ts
// Wired into `npm run bench:core` by bench/core.ts.
import { MemoryStorage } from '../core/storage.ts'
import { nobleCrypto } from '../core/crypto.ts'
import type { Crypto } from '../core/crypto.ts'
import { createNode, encodeRecord, nodeConfig, step } from '../core/node.ts'
import type { NodeConfig, NodeEffect, NodeReply, NodeRequest, NodeState } from '../core/node.ts'
import type { TimeMs, VolumeName } from '../core/types.ts'

const VOLUME = 'bench' as VolumeName
const DIRS = 20
const FILE_BYTES = 4096
/** Files per phase. Each op costs about two ECDSA operations with noble (seal + own-batch
 *  verify), i.e. a few ms: 1000 keeps each phase to a few seconds. */
const FILES_DEFAULT = 1000
const cred = { uid: 1000, gid: 1000 }

interface Phase {
  ops: number
  stepMs: number
  encodeMs: number
  entries: number
  persistedBytes: number
}

/** Drives one node's core step by step, one request per step, on a clock of its own (also used
 *  by verify-bench.ts to build its volume). */
export class Driver {
  private now = 1_700_000_000_000
  private req = 0
  state: NodeState
  constructor(readonly config: NodeConfig) {
    this.state = createNode(config)
  }
  /** One step for one request; returns the reply and adds its cost to `phase`, if given. */
  request(request: NodeRequest, phase?: Phase): NodeReply {
    this.now += 1
    const req = ++this.req
    const t0 = performance.now()
    const r = step(this.config, this.state, { type: 'request', now: this.now as TimeMs, req, request })
    const t1 = performance.now()
    this.state = r.state
    // The host's part: a performed persist fills the storage port the next steps read.
    if (this.config.storage instanceof MemoryStorage) for (const e of r.effects) if (e.type === 'persist') this.config.storage.absorb(e.records)
    if (phase !== undefined) {
      phase.persistedBytes += persistBytes(r.effects)
      phase.encodeMs += performance.now() - t1
      phase.stepMs += t1 - t0
      phase.ops += 1
    }
    const reply = r.effects.find((e) => e.type === 'reply' && e.req === req)
    if (!reply || reply.type !== 'reply') throw new Error(`bench: no reply to ${request.type}`)
    return reply.result
  }
  ownSeq(): number {
    const v = this.state.volumes.get(VOLUME)
    if (!v) throw new Error('bench: volume missing')
    return v.fotb.own.seq
  }
  fsTime(): { sec: number; nsec: number } {
    return { sec: Math.floor(this.now / 1000), nsec: (this.now % 1000) * 1_000_000 }
  }
}

/** What the host writes to disk for one step: the canonical encoding of each persist record. */
function persistBytes(effects: readonly NodeEffect[]): number {
  let bytes = 0
  for (const e of effects) if (e.type === 'persist') for (const r of e.records) bytes += encodeRecord(r).length
  return bytes
}

function newPhase(): Phase {
  return { ops: 0, stepMs: 0, encodeMs: 0, entries: 0, persistedBytes: 0 }
}

export function expectOk(reply: NodeReply, what: string): void {
  if (!reply.ok) throw new Error(`bench: ${what} failed: ${reply.errno}`)
}

function figures(prefix: string, p: Phase): Record<string, number> {
  return {
    [`${prefix}_ops_per_s`]: Math.round(p.ops / (p.stepMs / 1000)),
    [`${prefix}_ledger_entries_per_s`]: Math.round(p.entries / (p.stepMs / 1000)),
    [`${prefix}_step_us_mean`]: Math.round((p.stepMs * 1000) / p.ops),
    [`${prefix}_persist_bytes_per_op`]: Math.round(p.persistedBytes / p.ops),
    [`${prefix}_persist_encode_us_per_op`]: Math.round((p.encodeMs * 1000) / p.ops),
  }
}

export async function benchNode(crypto: Crypto = nobleCrypto, files = FILES_DEFAULT): Promise<Record<string, number>> {
  const secretKey = crypto.sha256(new TextEncoder().encode('node-bench secret key'))
  const d = new Driver(nodeConfig(crypto, secretKey))
  const setup = newPhase()
  expectOk(d.request({ type: 'create-volume', name: VOLUME, policy: 'majority' }, setup), 'create-volume')
  for (let i = 0; i < DIRS; i++) {
    expectOk(d.request({ type: 'fs', volume: VOLUME, call: { type: 'mkdir', path: `/d${i}`, mode: 0o755, cred, time: d.fsTime() } }, setup), 'mkdir')
  }
  const path = (i: number) => `/d${i % DIRS}/f${i}`

  const create = newPhase()
  let seq0 = d.ownSeq()
  for (let i = 0; i < files; i++) {
    const call = { type: 'create', path: path(i), mode: 0o644, cred, time: d.fsTime() } as const
    expectOk(d.request({ type: 'fs', volume: VOLUME, call }, create), 'create')
  }
  create.entries = d.ownSeq() - seq0

  const write = newPhase()
  seq0 = d.ownSeq()
  const data = new Uint8Array(FILE_BYTES)
  for (let i = 0; i < files; i++) {
    // distinct contents, so that no chunk is deduplicated
    data[0] = i & 0xff
    data[1] = (i >> 8) & 0xff
    data[2] = (i >> 16) & 0xff
    const call = { type: 'write', path: path(i), writes: [{ offset: 0, data: data.slice() }], cred, time: d.fsTime() } as const
    expectOk(d.request({ type: 'fs', volume: VOLUME, call }, write), 'write')
  }
  write.entries = d.ownSeq() - seq0

  const both: Phase = {
    ops: create.ops + write.ops,
    stepMs: create.stepMs + write.stepMs,
    encodeMs: create.encodeMs + write.encodeMs,
    entries: create.entries + write.entries,
    persistedBytes: create.persistedBytes + write.persistedBytes,
  }
  return { files, file_bytes: FILE_BYTES, ...figures('create', create), ...figures('write_4k', write), ...figures('create+write', both), ...signatureCost(crypto, secretKey) }
}

/** For reading the figures above: every step signs once and verifies once. */
function signatureCost(crypto: Crypto, secretKey: Uint8Array): Record<string, number> {
  const ROUNDS = 200
  const publicKey = crypto.publicKey(secretKey)
  const digests = Array.from({ length: ROUNDS }, (_, i) => crypto.sha256(new Uint8Array([i & 0xff, i >> 8])))
  const t0 = performance.now()
  const sigs = digests.map((dg) => crypto.sign(dg, secretKey))
  const t1 = performance.now()
  for (let i = 0; i < ROUNDS; i++) if (!crypto.verify(sigs[i]!, digests[i]!, publicKey)) throw new Error('bench: verify')
  const t2 = performance.now()
  return { sign_us: Math.round(((t1 - t0) * 1000) / ROUNDS), verify_us: Math.round(((t2 - t1) * 1000) / ROUNDS) }
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))
if (isMain) {
  console.log(JSON.stringify({ crypto: nobleCrypto.name, ...(await benchNode()) }, null, 2))
}
