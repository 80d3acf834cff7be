// verify(disk, log): the auditor's check of one volume at one node (spec/paciofs.md "verify").
// It trusts nothing it is given: the ledger is re-validated from its seals, every plain operation
// is re-hashed, the log is replayed from an empty file system and the result is compared,
// recursively and by content hash, with the replica the node serves ("the disk"). Entries and
// plain operations are read one at a time through the given readers (the storage port), so
// verify holds no copy of the ledger or of the plain operations.
import type { Crypto } from './crypto.ts'
import { bytesEqual, toHex } from './bytes.ts'
import { createFs, applyOp } from './fs/state.ts'
import { diffHistory, diffTrees, SummaryPast } from './fs/diff.ts'
import { RecordingPast } from './volume/past.ts'
import type { FsState } from './fs/state.ts'
import { FsView, readdir } from './fs/view.ts'
import { encode, tryDecode, type Value } from './codec.ts'
import { newChainView, validateBatch, entryHash, headerOf, type Entry } from './ledger/index.ts'
import type { AuthorLog } from './fotb/index.ts'
import type { PlainBytes } from './storage.ts'
import {
  decodePayload,
  obfuscate,
  opOfRecord,
  replayCtx,
  type LogRecord,
  type PlainOp,
  type SkipRecord,
} from './volume/index.ts'
import { validateOp, type FsOp } from './fs/ops.ts'
import type { ChunkReader } from './fs/types.ts'
import type { ObfHash, Pid, Seq, VolumeName } from './types.ts'

export interface VolumeFinding {
  /** A path in the volume, or a record such as "log epoch 7" or "ledger <author> seq 3". */
  readonly where: string
  readonly what: string
  readonly expected: string
  readonly found: string
}

export interface VerifyInput {
  readonly volume: VolumeName
  readonly me: Pid
  /** The accepted chains' views (heads, hashes, seals) as the node holds them. */
  readonly chains: ReadonlyMap<Pid, AuthorLog>
  /** Reads an accepted entry (the storage port); every one is re-validated against its seal. */
  readonly entry: (author: Pid, seq: Seq) => Entry | undefined
  readonly delivered: ReadonlyMap<Pid, Seq>
  /** The log: epochs 1..length, each read when needed (core/volume/log.ts VolumeLog). */
  readonly log: { readonly length: number; at(epoch: number): LogRecord | undefined }
  readonly skipped: readonly SkipRecord[]
  /** Reads a stored plain operation as stored (the storage port); every one is re-hashed. */
  readonly plain: (obf: ObfHash) => PlainBytes | undefined
  /** Reads the node's stored chunks (the storage port); a chunk is checked against its hash. */
  readonly chunks: ChunkReader
  /** The replica as the node holds it (the disk). */
  readonly disk: FsState | FsView
  /** The body of the disk's `past` record of an epoch as stored (spec/storage.md), when its past
   *  is in the store: then the replay's record of each epoch is compared with it as the replay
   *  goes (memory bounded by the live tree); without it the replay keeps a summary of every
   *  version and compares the histories at the end (diffHistory). */
  readonly pastRecord?: (epoch: number) => Value | undefined
  /** Test only (core/mutations.ts 'verify-top-only'): the prototype's shallow comparison. */
  readonly topOnly?: boolean
  /** Own entries regained from the members after a lost tail (core/fotb/recover.ts): applied
   *  like a peer's, so one may still be pending instead of logged. */
  readonly regained?: (seq: Seq) => boolean
  /** A totb volume: own operations not applied yet because the order has not reached them (not
   *  ordered yet, or waiting in the order's queue), or skipped in the order. */
  readonly orderPending?: (seq: Seq) => boolean
  /** A totb volume: its order derived again from the delivered chains alone (ordered.ts
   *  deriveOrder), every ordered op with the order's decision: the log must be that order minus
   *  the skips (spec/totb.md "Verify"). */
  readonly order?: readonly { readonly author: Pid; readonly seq: Seq; readonly decided: 'apply' | 'skip' | undefined }[]
}

const short = (pid: string): string => pid.slice(0, 12)

export function verifyVolume(crypto: Crypto, input: VerifyInput): VolumeFinding[] {
  const findings: VolumeFinding[] = []
  const add = (where: string, what: string, expected: string, found: string): void => {
    findings.push({ where, what, expected, found })
  }

  // 1. The ledger: every chain re-validated from nothing, batch by batch along its seals.
  const entriesOk = new Map<Pid, number>()
  for (const [author, log] of [...input.chains].sort(([a], [b]) => (a < b ? -1 : 1))) {
    let view = newChainView(input.volume, author)
    for (const seal of log.view.seals) {
      if (seal.seq <= view.seq) continue
      // One batch at a time; a missing entry shortens it, and validation names the gap.
      const batch: Entry[] = []
      for (let s = view.seq + 1; s <= seal.seq; s++) {
        const e = input.entry(author, s)
        if (e === undefined) break
        batch.push(e)
      }
      const r = validateBatch(crypto, view, batch, seal, { maxEntries: Number.MAX_SAFE_INTEGER, maxPayloadBytes: Number.MAX_SAFE_INTEGER })
      if (!r.ok) {
        add(`ledger ${short(author)} seq ${view.seq + 1}..${seal.seq}`, `ledger ${r.rejection.code}`, 'entries sealed by their author and hash-linked', r.rejection.detail)
        break
      }
      view = r.view
    }
    if (view.seq < log.view.seq) add(`ledger ${short(author)}`, 'unsealed entries', `${log.view.seq} sealed entries`, `${view.seq} verifiable`)
    entriesOk.set(author, view.seq)
  }

  // 2. The log: contiguous epochs; each record matches its ledger entry and its plain operation.
  // Per author the logged seqs (a set of small integers per author: a key string per op cost
  // ~130 bytes each, 130 MB for a million ops).
  const logged = new Map<Pid, Set<Seq>>()
  const isLogged = (author: Pid, seq: Seq): boolean => logged.get(author)?.has(seq) === true
  const logAt = (epoch: number): LogRecord | undefined => {
    const rec = input.log.at(epoch)
    if (rec === undefined) add(`log epoch ${epoch}`, 'log record', 'stored and readable', 'missing or unreadable')
    return rec
  }
  for (let i = 0; i < input.log.length; i++) {
    const rec = logAt(i + 1)
    if (rec === undefined) continue
    const where = `log epoch ${rec.epoch}`
    if (rec.epoch !== i + 1) add(where, 'epoch', String(i + 1), String(rec.epoch))
    if (rec.seq === null || rec.obf === null || rec.txid === null) {
      if (rec.author !== input.me) add(where, 'local record of another author', short(input.me), short(rec.author))
      if (rec.result === 'ok') add(where, 'local record result', 'an errno (only failed calls stay local)', 'ok')
      continue
    }
    let seqs = logged.get(rec.author)
    if (seqs === undefined) logged.set(rec.author, (seqs = new Set()))
    seqs.add(rec.seq)
    const entry = input.entry(rec.author, rec.seq)
    if (!entry || rec.seq > (entriesOk.get(rec.author) ?? 0)) {
      add(where, 'ledger entry', `sealed entry ${short(rec.author)} seq ${rec.seq}`, 'missing or not verifiable')
      continue
    }
    const txid = entryHash(crypto, headerOf(crypto, entry))
    if (txid !== rec.txid) add(where, 'txid', txid, rec.txid)
    const payload = decodePayload(entry.payload)
    if (!payload || payload.type !== 'op' || payload.obf !== rec.obf) {
      add(where, 'obf in ledger', rec.obf, payload?.type === 'op' ? payload.obf : `payload ${payload?.type ?? 'undecodable'}`)
    }
    const plain = input.plain(rec.obf)
    if (!plain) {
      add(where, 'plain operation', `plain op for ${rec.obf.slice(0, 16)}`, 'missing')
      continue
    }
    const obf = obfuscate(crypto, plain.salt, plain.opBytes)
    if (obf !== rec.obf) add(where, 'salted hash of plain operation', rec.obf, obf)
    const op = decodeOp(plain.opBytes)
    if (op === undefined) add(where, 'plain operation', 'a valid operation', `bytes that are none (${toHex(plain.opBytes.subarray(0, 16))}...)`)
    else if (op.type !== rec.kind) add(where, 'kind', op.type, rec.kind)
  }

  // 3. Completeness: every own op entry and every delivered op entry is logged, skipped or
  //    still pending below the delivered mark (pending entries are listed, not faults).
  const own = input.chains.get(input.me)
  for (let seq = 1; seq <= (own?.view.seq ?? 0); seq++) {
    const e = input.entry(input.me, seq)
    if (e === undefined) continue // named by part 1 (the batch holding it does not validate)
    const p = decodePayload(e.payload)
    if (p?.type === 'op' && !isLogged(input.me, seq) && input.regained?.(seq) !== true && input.orderPending?.(seq) !== true) add(`ledger ${short(input.me)} seq ${seq}`, 'own operation in log', 'logged', 'absent')
  }
  for (const s of input.skipped) {
    if (isLogged(s.author, s.seq)) add(`skip ${short(s.author)} seq ${s.seq}`, 'skipped and logged', 'one of them', 'both')
  }

  // 3b. A totb volume: the log is the order minus the skips. Each ordered op the order decided to
  // apply is the next op the log applied (or skipped as invalid: the bytes it committed to are
  // no operation); one it decided to skip is skipped as withheld and not logged; the first one
  // not decided yet ends what the log may hold.
  if (input.order !== undefined) {
    const skips = new Map<string, SkipRecord['why']>()
    for (const s of input.skipped) skips.set(`${s.author}:${s.seq}`, s.why)
    let epoch = 1
    const nextLogged = (): LogRecord | undefined => {
      while (epoch <= input.log.length) {
        const r = input.log.at(epoch++)
        if (r !== undefined && r.seq !== null) return r
      }
      return undefined
    }
    let pendingFrom: number | undefined
    for (const [i, op] of input.order.entries()) {
      const key = `${op.author}:${op.seq}`
      const where = `order position of ${short(op.author)} seq ${op.seq}`
      if (op.decided === undefined) {
        pendingFrom = i
        break
      }
      if (op.decided === 'skip' || skips.get(key) === 'invalid') {
        const why = skips.get(key)
        if (why === undefined) add(where, 'skip in the order', op.decided === 'skip' ? 'a withheld skip record' : 'a skip record', 'none')
        continue
      }
      const r = nextLogged()
      if (r === undefined) {
        pendingFrom = i // not applied yet (its plain op being fetched): the rest waits behind it
        break
      }
      if (r.author !== op.author || r.seq !== op.seq) add(`log epoch ${r.epoch}`, 'order', `${short(op.author)} seq ${op.seq} (the order derived from the chains)`, `${short(r.author)} seq ${r.seq}`)
    }
    const extra = nextLogged()
    if (extra !== undefined) add(`log epoch ${extra.epoch}`, 'order', pendingFrom === undefined ? 'no further op (the order has none)' : `nothing: ${short(input.order[pendingFrom]!.author)} seq ${input.order[pendingFrom]!.seq} comes first in the order and is not applied`, `${short(extra.author)} seq ${extra.seq}`)
  }

  // 4. Replay the log from an empty file system and compare with the disk, recursively, and
  // its history: epoch by epoch with the disk's past records when they are in the store (the
  // replay keeps none), else as summaries compared at the end.
  const diskRecord = input.pastRecord
  const replay = createFs(crypto, {}, diskRecord !== undefined
    ? new RecordingPast((epoch, body) => { for (const f of compareRecords(epoch, body, diskRecord(epoch))) add(f.where, f.what, f.expected, f.found) })
    : new SummaryPast(crypto))
  // The op behind an obf as stored (its hash was checked in part 2).
  const plainOp = (obf: ObfHash): PlainOp | undefined => {
    const p = input.plain(obf)
    const op = p === undefined ? undefined : decodeOp(p.opBytes)
    return p === undefined || op === undefined ? undefined : { ...p, op }
  }
  for (let epoch = 1; epoch <= input.log.length; epoch++) {
    // A record part 2 could not read is named there: replay cannot place what follows it.
    const rec = input.log.at(epoch)
    if (rec === undefined) return findings
    const op = opOfRecord(plainOp, rec)
    if (!op) {
      add(`log epoch ${rec.epoch}`, 'replay', 'a replayable operation', 'none: plain operation missing or invalid')
      return findings // later epochs cannot be placed without this one
    }
    if (rec.localOp) {
      const d = tryDecode(rec.localOp)
      if (!d.ok || !validateOp(d.value).ok) add(`log epoch ${rec.epoch}`, 'local op', 'a valid operation', 'invalid bytes')
    }
    const { result } = applyOp(replay, op, { ...replayCtx(rec), epoch: replay.epoch + 1 })
    const got = result.ok ? 'ok' : result.errno
    if (got !== rec.result) add(`log epoch ${rec.epoch}`, 'result', got, rec.result)
  }
  const chunks = input.chunks
  if (input.topOnly) {
    // The prototype's verify: only the names in the top directory.
    const names = (src: FsState | FsView) => {
      const r = readdir(src, '/')
      return r.ok ? r.value.map((e) => e.name).sort().join('/') : ''
    }
    if (names(replay) !== names(input.disk)) add('/', 'entries', names(replay), names(input.disk))
    return findings
  }
  for (const f of diffTrees(replay, input.disk, chunks, crypto)) add(f.path, f.what, f.expected, f.found)
  // The disk's history too (every version of every inode, every epoch): changes that were undone
  // again leave the current tree equal but not the history.
  if (input.disk instanceof FsView) return findings
  if (diskRecord === undefined) for (const f of diffHistory(replay, input.disk)) add(f.path, f.what, f.expected, f.found)
  else if (replay.epoch !== input.disk.epoch) add('(volume)', 'epoch', String(replay.epoch), String(input.disk.epoch))
  return findings
}

/** The differences between the replay's `past` record body of `epoch` and the disk's: which
 *  inode's version, which name event, the op line. */
function compareRecords(epoch: number, want: Value, got: Value | undefined): VolumeFinding[] {
  const where = `(epoch ${epoch})`
  if (got === undefined) return [{ where, what: 'history: record', expected: 'the past record of the epoch', found: 'missing or malformed' }]
  if (bytesEqual(encode(want), encode(got))) return []
  const [wv, we, wl] = want as Value[]
  const g = got as Value[]
  const out: VolumeFinding[] = []
  const byKey = (list: Value, key: (x: Value[]) => string): Map<string, string> => {
    const m = new Map<string, string>()
    if (Array.isArray(list)) for (const x of list) if (Array.isArray(x)) m.set(key(x), toHex(encode(x)))
    return m
  }
  const versionsW = byKey(wv!, (x) => String(x[0]))
  const versionsG = byKey(g[0] ?? null, (x) => String(x[0]))
  for (const ino of [...new Set([...versionsW.keys(), ...versionsG.keys()])].sort()) {
    const a = versionsW.get(ino)
    const b = versionsG.get(ino)
    if (a !== b) out.push({ where: `${where} inode ${ino}`, what: 'history: version', expected: a === undefined ? 'unchanged by the op' : `version ${a.slice(0, 16)}…`, found: b === undefined ? 'unchanged by the op' : `version ${b.slice(0, 16)}…` })
  }
  const namesW = byKey(we!, (x) => `${String(x[0])}/${String(x[1])}`)
  const namesG = byKey(g[1] ?? null, (x) => `${String(x[0])}/${String(x[1])}`)
  for (const name of [...new Set([...namesW.keys(), ...namesG.keys()])].sort()) {
    if (namesW.get(name) !== namesG.get(name)) out.push({ where: `${where} dir ${name}`, what: 'history: name', expected: namesW.has(name) ? 'bound or unbound by the op' : 'unchanged', found: namesG.has(name) ? 'bound or unbound by the op' : 'unchanged' })
  }
  if (!bytesEqual(encode(wl!), encode(g[2] ?? null))) out.push({ where, what: 'history: op', expected: lineText(wl!), found: lineText(g[2] ?? null) })
  if (out.length === 0) out.push({ where, what: 'history: record', expected: 'the replay\'s record', found: 'a record of another form' })
  return out
}

/** A log line of a past record as text: `kind by <author> uid gid errno`. */
function lineText(v: Value): string {
  if (!Array.isArray(v) || v.length !== 7) return 'malformed'
  const [author, kind, uid, gid, , , errno] = v
  return `${String(kind)} by ${author instanceof Uint8Array ? short(toHex(author)) : '?'} uid ${String(uid)} gid ${String(gid)} ${errno === null ? 'ok' : String(errno)}`
}

function decodeOp(bytes: Uint8Array): FsOp | undefined {
  const d = tryDecode(bytes)
  const v = d.ok ? validateOp(d.value) : undefined
  return v && v.ok ? v.op : undefined
}
