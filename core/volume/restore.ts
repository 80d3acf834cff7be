// The volume's restart: rebuild from persisted records (spec/paciofs.md "Records").
import type { Crypto } from '../crypto.ts'
import { tryDecode, type Value } from '../codec.ts'
import { toHex } from '../bytes.ts'
import * as fotb from '../fotb/index.ts'
import { applyOp } from '../fs/state.ts'
import { validateOp } from '../fs/ops.ts'
import { isPid, type ObfHash, type Pid, type Seq } from '../types.ts'
import { decodePayload, obfuscate, opOfRecord, parseLogRecord } from './records.ts'
import { addVote, membersOf, replayMembership } from './membership.ts'
import { newVolume } from './apply.ts'
import type { Genesis, LogRecord, Pending, SkipRecord, VolumeParams, VolumeState } from './types.ts'

export interface VolumeRestoreProblem {
  readonly record: string
  readonly problem: string
}

export function restoreVolume(
  crypto: Crypto,
  genesis: Genesis,
  me: Pid,
  params: VolumeParams,
  records: readonly Value[],
  contacts: readonly Pid[] = [],
): { state: VolumeState; problems: VolumeRestoreProblem[] } {
  const volume = genesis.name
  const restored = fotb.restoreFotb(crypto, volume, me, params.fotb, records)
  const problems: VolumeRestoreProblem[] = [...restored.problems]
  const base = newVolume(crypto, genesis, me, contacts)
  const state: VolumeState = { ...base, fotb: restored.state }
  if (params.fotb.mutation) state.fotb.mutation = params.fotb.mutation
  const logRecs: LogRecord[] = []
  const skips: SkipRecord[] = []
  for (const rec of records) {
    if (!Array.isArray(rec) || rec[1] !== volume) continue
    const r = rec as Value[]
    // Chunk records are the storage port's (spec/storage.md): the state holds no chunk bytes.
    if (r[0] === 'plain') {
      const [, , obfB, salt, opBytes] = r
      if (!(obfB instanceof Uint8Array) || !(salt instanceof Uint8Array) || !(opBytes instanceof Uint8Array)) {
        problems.push({ record: 'plain', problem: 'malformed' })
        continue
      }
      const obf = toHex(obfB) as ObfHash
      const d = tryDecode(opBytes)
      const v = d.ok ? validateOp(d.value) : undefined
      if (obfuscate(crypto, salt, opBytes) !== obf || !v || !v.ok) {
        problems.push({ record: `plain ${obf.slice(0, 12)}`, problem: 'does not hash to its obf or is no valid op' })
        continue
      }
      state.plain.set(obf, { salt, opBytes, op: v.op })
    } else if (r[0] === 'log') {
      const parsed = parseLogRecord(r)
      if (!parsed) problems.push({ record: typeof r[2] === 'number' ? `log epoch ${r[2]}` : 'log', problem: 'malformed' })
      else logRecs.push(parsed)
    } else if (r[0] === 'skip') {
      const author = r[3] instanceof Uint8Array ? toHex(r[3]) : ''
      const obf = r[5] instanceof Uint8Array ? toHex(r[5]) : ''
      const why = r[6]
      if (!isPid(author) || typeof r[2] !== 'number' || typeof r[4] !== 'number' || obf.length !== 64 || (why !== 'withheld' && why !== 'invalid')) {
        problems.push({ record: typeof r[2] === 'number' ? `skip after epoch ${r[2]}` : 'skip', problem: 'malformed' })
      } else skips.push({ atEpoch: r[2], author, seq: r[4], obf: obf as ObfHash, why })
    }
  }
  // Replay the log into the replica, in epoch order; a gap or an unreplayable record is reported
  // and replay stops there (later records cannot be placed without it).
  logRecs.sort((a, b) => a.epoch - b.epoch)
  for (const rec of logRecs) {
    if (rec.epoch !== state.log.length + 1) {
      problems.push({ record: `log epoch ${rec.epoch}`, problem: `expected epoch ${state.log.length + 1}` })
      break
    }
    const op = opOfRecord(state, rec)
    if (!op) {
      problems.push({ record: `log epoch ${rec.epoch}`, problem: 'its plain operation is missing' })
      break
    }
    applyOp(state.fs, op, { epoch: rec.epoch, author: rec.author })
    state.log.push(rec)
  }
  state.skipped.push(...skips)
  // Membership and pending queues from what fotb had delivered: membership is a function of the
  // set of delivered votes, so the order of replay does not matter.
  const lastDone = new Map<Pid, Seq>()
  for (const r of state.log) if (r.seq !== null) lastDone.set(r.author, Math.max(lastDone.get(r.author) ?? 0, r.seq))
  for (const s of state.skipped) lastDone.set(s.author, Math.max(lastDone.get(s.author) ?? 0, s.seq))
  const pendingOps: Pending[] = []
  for (const [author, log] of [...state.fotb.chains].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const delivered = state.fotb.delivered.get(author) ?? 0
    for (let seq = 1; seq <= log.entries.length; seq++) {
      const p = decodePayload(log.entries[seq - 1]!.payload)
      if (!p) continue
      if (author === me && p.type !== 'op') state.myVotes.add(`${p.type}:${'target' in p ? p.target : ''}`)
      if (author === me && p.type !== 'op') state.maxRound = Math.max(state.maxRound, p.round)
      if (seq > delivered) continue
      if (p.type !== 'op') {
        state.memberEvents.push({ round: p.round, author, seq, payload: p })
        state.maxRound = Math.max(state.maxRound, p.round)
      }
      if (p.type === 'join') state.joins.add(author)
      else if (p.type === 'leave') state.leaves.add(author)
      else if (p.type === 'vote-accept') addVote(state.acceptVotes, p.target, author)
      else if (p.type === 'vote-kick') addVote(state.kickVotes, p.target, author)
      else if ((author !== me || fotb.isRegained(state.fotb, seq)) && seq > (lastDone.get(author) ?? 0)) {
        pendingOps.push({ author, seq, txid: log.view.hashes[seq - 1]!, obf: p.obf, attempt: 0, asked: null, deadline: -Infinity, firstAskAt: null, notFound: new Set() })
      }
    }
  }
  // Membership is a function of the delivered entries (replayed in causal order).
  state.status = replayMembership(genesis, state.memberEvents).status
  const members = new Set(membersOf(state))
  const audience = new Set(members)
  for (const [p, s] of state.status) if (s === 'applicant') audience.add(p)
  if (!members.has(me)) for (const c of state.contacts) audience.add(c)
  state.fotb.members = members
  state.fotb.audience = audience
  state.fotb.removed = new Set([...state.status].filter(([, s]) => s === 'removed').map(([p]) => p))
  for (const p of pendingOps) {
    let q = state.queues.get(p.author)
    if (!q) state.queues.set(p.author, (q = []))
    q.push(p)
  }
  return { state, problems }
}
