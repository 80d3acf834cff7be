// remote_get (spec/paciofs.md "Operations", VOL-4, VOL-5, VOL-7, VOL-10): per author, delivered
// op entries wait in seq order for their plain operation; it is pushed by its author or asked
// for (GET) on a schedule, checked against the ledger (PUT), and withholders and liars are voted
// out.
import { tryDecode } from '../codec.ts'
import * as fotb from '../fotb/index.ts'
import { validateOp } from '../fs/ops.ts'
import { chunkHash } from '../fs/content.ts'
import type { ChunkHash, ObfHash, Pid } from '../types.ts'
import { encodeVolMessage, obfuscate } from './records.ts'
import { isMember, membersOf, voteKick } from './membership.ts'
import { applyRemote, chunksOf, hasChunk, hasPlain, plainOf, skip, storeChunk, storePlain } from './apply.ts'
import { heldOrdered } from './ordered.ts'
import { bump, type Ctx, type Pending, type VolMessage, type VolumeParams, type VolumeState } from './types.ts'

/** A totb volume's longest wait between GETs for one op (its verdict is the order's). */
export const ORDER_GET_RETRY_MS = 2000

/** Most plain ops, and bytes, held for entries not delivered yet. */
export const PREFETCH_MAX = 4096
export const PREFETCH_BYTES_MAX = 64 * 1024 * 1024

/** Push (remote_get's fast path): after the batch holding our new ops was sent, send each op's
 *  plain operation to the other members, so that they need no GET round trip. Only members get
 *  plain data (VOL-7); a lost push costs a GET, never correctness. Called by the node at the end
 *  of a step, after fotb sealed and sent the batch (so the batch travels first). */
export function pushOwnOps(state: VolumeState, ctx: Ctx): void {
  if (state.toPush.length === 0) return
  if (ctx.params.push === false) {
    state.toPush.length = 0
    return
  }
  const to = membersOf(state).filter((m) => m !== state.me)
  if (to.length === 0) {
    // Nobody to push to: reading each op back (and checking it) would be all the work.
    state.toPush.length = 0
    return
  }
  for (const obf of state.toPush.splice(0)) {
    const bytes = putMessageFor(state, ctx, obf)
    if (bytes === undefined) continue
    for (const m of to) {
      bump(state, 'out:push')
      ctx.out.send(m, bytes)
    }
  }
}

function putMessageFor(state: VolumeState, ctx: Ctx, obf: ObfHash): Uint8Array | undefined {
  const plain = plainOf(state, ctx, obf)
  if (!plain) return undefined
  const chunks = chunksOf(state, ctx, plain.op)
  if (chunks === undefined) {
    bump(state, 'chunk:unavailable')
    return undefined
  }
  return encodeVolMessage(state.genesis.name, { type: 'put', obf, salt: plain.salt, opBytes: plain.opBytes, chunks })
}

// remote_get

export function enqueue(state: VolumeState, ctx: Ctx, p: Pending): void {
  let q = state.queues.get(p.author)
  if (!q) state.queues.set(p.author, (q = []))
  q.push(p)
  if (q.length === 1) advanceQueue(state, ctx, p.author)
}

/** Applies every queue head whose plain op we hold; asks for the first one we do not. */
function advanceQueue(state: VolumeState, ctx: Ctx, author: Pid): void {
  const q = state.queues.get(author)
  const status = state.status.get(author)
  if (status !== 'member' && status !== 'removed') return // held until the author is admitted
  while (q && q.length > 0) {
    const head = q[0]!
    const plain = plainOf(state, ctx, head.obf)
    if (plain) {
      q.shift()
      // A totb volume applies it in the order (ordered.ts); here it is only held now.
      if (state.order !== undefined) heldOrdered(state, ctx, head)
      else applyRemote(state, ctx, head, plain)
      continue
    }
    const pushed = state.prefetched.get(head.obf)
    if (pushed !== undefined) {
      // A member pushed it before the entry was delivered: checked now exactly like a PUT that
      // answers a GET (acceptPut advances the queue, or handles a lie).
      state.prefetched.delete(head.obf)
      state.prefetchedBytes -= pushed.bytes
      const r = acceptPut(state, ctx, pushed.from, head, pushed.msg)
      if (r === 'stored') continue
      if (r === 'handled') return
      // A lying push: ask as if nothing had come.
    }
    if (head.deadline === -Infinity) ask(state, ctx, head)
    return
  }
  state.queues.delete(author)
}

/** Who to ask on attempt k: the author on even attempts, the other members in turn on odd ones
 *  (a removed author is skipped: only members are asked). */
function target(state: VolumeState, p: Pending): Pid {
  // The author is asked even after its removal: a member that left in good order still holds
  // its plain operations, and every replica must get them to converge.
  const others = membersOf(state).filter((m) => m !== state.me && m !== p.author)
  // Our own op regained after a lost tail (FOTB-9) is asked of the others, never of ourselves.
  if (others.length === 0 || (p.attempt % 2 === 0 && p.author !== state.me)) return p.author
  const rot = parseInt(p.obf.slice(0, 8), 16)
  return others[(Math.floor(p.attempt / 2) + rot) % others.length]!
}

function ask(state: VolumeState, ctx: Ctx, p: Pending): void {
  const t = ctx.params.getTimeoutsMs
  if (p.firstAskAt === null) p.firstAskAt = ctx.now
  const get = encodeVolMessage(state.genesis.name, { type: 'get', obf: p.obf })
  if (!isMember(state, p.author)) {
    // A removed author owes nobody an answer: ask it and every member at once, one round per
    // longest time-out, so that ops nobody holds are given up in one round trip (VOL-5). Once
    // the bound of the author's ops ran out (nextAttempt), a round waits only a round trip with
    // margin (the second time-out) for a member that holds the op.
    const grace = t[Math.min(1, t.length - 1)]!
    const left = p.firstAskAt + 2 * scheduleMs(ctx.params) - ctx.now
    p.deadline = ctx.now + Math.max(grace, Math.min(t[t.length - 1]!, left))
    p.asked = null
    for (const m of [p.author, ...membersOf(state)]) {
      if (m === state.me || p.notFound.has(m)) continue
      bump(state, 'out:get')
      ctx.out.send(m, get)
    }
    return
  }
  // A totb volume's verdict is the order's (ordered.ts): its fetch keeps asking at least every
  // ORDER_GET_RETRY_MS, so that an author back from a cut-off is asked again well within the
  // order's skipAfterMs.
  const wait = t[Math.min(p.attempt, t.length - 1)]!
  p.deadline = ctx.now + (state.order !== undefined ? Math.min(wait, ORDER_GET_RETRY_MS) : wait)
  const to = target(state, p)
  p.asked = to
  if (to === p.author) p.authorAskedAt = ctx.now
  bump(state, 'out:get')
  ctx.out.send(to, get)
}

/** The GET to the author before the withheld verdict (nextAttempt): it waits a round trip with
 *  margin (the second time-out), so that the verdict comes at most that much later. */
function askAuthorLast(state: VolumeState, ctx: Ctx, p: Pending): void {
  const t = ctx.params.getTimeoutsMs
  p.deadline = ctx.now + t[Math.min(1, t.length - 1)]!
  p.asked = p.author
  p.authorAskedAt = ctx.now
  bump(state, 'out:get')
  ctx.out.send(p.author, encodeVolMessage(state.genesis.name, { type: 'get', obf: p.obf }))
}

function scheduleMs(params: VolumeParams): number {
  return params.getTimeoutsMs.reduce((sum, t) => sum + t, 0)
}

/** The next GET for a queue head, after a time-out or an honest NOTFOUND. The author is voted
 *  out as a withholder only once the whole schedule ran out, at least its total time passed
 *  since the first GET (NOTFOUNDs from other members speed up the attempts, not the verdict),
 *  *and* a GET to the author itself sent at least that total time after the first one went
 *  unanswered: if the GET that just timed out was another member's, or the author's last one is
 *  older, the author is asked once more (askAuthorLast) and the verdict waits for that GET's
 *  time-out. Why: the author's GETs are the even attempts, and other members' quick NOTFOUNDs
 *  pack them into the first ~10 s; a correct member that was down just then (simulation seed
 *  524, 200 ops: crashed 15 s right after the partition that kept its pushes from the others)
 *  was asked four times while down, never again in the 60 s it was up, and voted out. Now the
 *  author left unanswered GETs at both ends of the schedule's total time: one cut off for less
 *  is never voted out (spec/paciofs.md "The retry bound means", VOL-11). A removed author's op
 *  is given up — recorded as withheld, never dropped silently (VOL-5) — when the author and
 *  every other member said NOTFOUND (see answeredAll for who is not waited for), or after twice
 *  the schedule's time. */
function nextAttempt(state: VolumeState, ctx: Ctx, p: Pending): void {
  p.attempt++
  // A totb volume gives up on nothing and votes on no time-out of its own: the order decides
  // (skip, and the withheld vote with it, ordered.ts), the same way at every replica.
  if (state.order !== undefined) return ask(state, ctx, p)
  const waited = ctx.now - (p.firstAskAt ?? ctx.now)
  const total = scheduleMs(ctx.params)
  if (isMember(state, p.author)) {
    if (p.attempt >= ctx.params.getTimeoutsMs.length && waited >= total) {
      // Our own op regained after a lost tail is never asked of ourselves (target): no last GET.
      const authorSilent = p.author === state.me || (p.asked === p.author && p.authorAskedAt !== null && p.firstAskAt !== null && p.authorAskedAt - p.firstAskAt >= total)
      if (authorSilent) voteKick(state, ctx, p.author, 'withheld')
      else if (!state.myVotes.has(`vote-kick:${p.author}`)) return askAuthorLast(state, ctx, p)
    }
  } else {
    const others = membersOf(state).filter((m) => m !== state.me && m !== p.author)
    // The removed author gets one full round to answer (it may have left in good order); once
    // it stayed silent through a round, later ops of it do not wait for it again. A round is
    // the GETs to the author and every member at once (ask, asked = null): a GET of the time it
    // was a member that timed out (asked = a pid) is none. Before, such a time-out counted, and
    // a member gave up an op at the first attempt after the author's removal, asking nobody,
    // while the author and every other member held it (simulation seed 524, 200 ops, before the
    // last GET to the author of the withheld verdict).
    if (p.firstAskAt !== null && p.asked === null && ctx.now >= p.deadline && !p.notFound.has(p.author)) state.silent.add(p.author)
    if (answeredAll(state, p, others) || waited >= 2 * total) {
      const q = state.queues.get(p.author)!
      q.shift()
      skip(state, ctx.out, { atEpoch: state.fs.epoch, author: p.author, seq: p.seq, obf: p.obf, why: 'withheld' })
      // One bound for the whole run of given-up ops, not one per op: the next op's time counts
      // from this one's first GET. Why: a Byzantine member that never answers (a twin's second
      // process, simulation seed 30014 with 7 nodes and 2 Byzantine) made one correct member wait
      // twice the schedule for each of a removed author's ops in turn, while the others skipped
      // them in milliseconds; now it waits that long once, and a round trip per op after it.
      const next = q[0]
      if (next !== undefined && next.firstAskAt === null) next.firstAskAt = p.firstAskAt
      advanceQueue(state, ctx, p.author)
      return
    }
  }
  ask(state, ctx, p)
}

/** Whether the removed author said NOTFOUND for `p` (or stayed silent through a whole earlier
 *  round: state.silent) and every other member said NOTFOUND — but for members we hold evidence
 *  against: an equivocation proof, or our own vote to kick it (a liar, a withholder, a member an
 *  operator removes; not one that asked to leave, which still answers). They are not waited for.
 *  Why: a Byzantine member that never answers (a twin's second process, simulation seed 30014
 *  with 7 nodes and 2 Byzantine; a withholder asked for another author's op) made one correct
 *  member wait twice the schedule for each of a removed author's ops in turn, while the others
 *  skipped them in milliseconds. Evidence, not a time-out, decides: a correct member that was cut
 *  off for a while is still waited for (giving up an op that it alone holds would make the
 *  replicas differ). */
function answeredAll(state: VolumeState, p: Pending, others: readonly Pid[]): boolean {
  const authorDone = p.notFound.has(p.author) || state.silent.has(p.author)
  return authorDone && others.every((m) => p.notFound.has(m) || hasEvidenceAgainst(state, m))
}

function hasEvidenceAgainst(state: VolumeState, m: Pid): boolean {
  return state.fotb.proofs.has(m) || (state.myVotes.has(`vote-kick:${m}`) && !state.leaves.has(m))
}

function headFor(state: VolumeState, obf: ObfHash): Pending | undefined {
  for (const q of state.queues.values()) if (q[0]?.obf === obf) return q[0]
  return undefined
}

export function onVolMessage(state: VolumeState, ctx: Ctx, from: Pid, msg: VolMessage): void {
  bump(state, `in:${msg.type}`)
  switch (msg.type) {
    case 'get': {
      if (!isMember(state, from)) {
        bump(state, 'reject:get-not-member') // VOL-7: plain data stays with members
        return
      }
      const plain = plainOf(state, ctx, msg.obf)
      const chunks = plain === undefined ? undefined : chunksOf(state, ctx, plain.op)
      if (plain === undefined || chunks === undefined) {
        // A chunk we cannot read (damaged on disk) makes the op one we do not have: NOTFOUND
        // sends the asker to another member instead of handing it half an op.
        if (plain !== undefined) bump(state, 'chunk:unavailable')
        ctx.out.send(from, encodeVolMessage(state.genesis.name, { type: 'notfound', obf: msg.obf }))
        return
      }
      bump(state, 'out:put')
      ctx.out.send(from, encodeVolMessage(state.genesis.name, { type: 'put', obf: msg.obf, salt: plain.salt, opBytes: plain.opBytes, chunks }))
      return
    }
    case 'notfound': {
      const p = headFor(state, msg.obf)
      if (p && (p.asked === from || (p.asked === null && p.firstAskAt !== null))) {
        p.notFound.add(from)
        // The asked peer's NOTFOUND moves on at once, but only through the schedule (then the
        // next GET waits for its time-out, as the verdict does); a removed author's round, asked
        // of everyone at once, ends when all have answered. Only then: NOTFOUNDs are kept across
        // attempts, and an op nobody holds (lost with its author's tail) was asked for at the
        // speed of a round trip, every late NOTFOUND starting an attempt (sim seed 116: 1,000
        // attempts in 60 s, 64,025 events; 13,258 now).
        if (p.asked === from && (p.attempt + 1 < ctx.params.getTimeoutsMs.length || !isMember(state, p.author))) nextAttempt(state, ctx, p)
        else if (p.asked === null && answeredAll(state, p, membersOf(state).filter((m) => m !== state.me && m !== p.author))) nextAttempt(state, ctx, p)
      }
      return
    }
    case 'put':
      return onPut(state, ctx, from, msg)
  }
}

function onPut(state: VolumeState, ctx: Ctx, from: Pid, msg: Extract<VolMessage, { type: 'put' }>): void {
  const p = headFor(state, msg.obf)
  if (!p) {
    if (!isMember(state, from)) {
      bump(state, 'reject:put-not-member') // plain data is only taken from members
      return
    }
    if (hasPlain(state, ctx, msg.obf)) {
      bump(state, 'put-unexpected') // a late duplicate (a push and a GET's answer both came): harmless
      return
    }
    // A push ahead of its entry (or for an entry further down a queue): keep it, bounded, if it
    // is what it claims to be; the ledger entry decides later whether it is wanted at all.
    if (obfuscate(ctx.crypto, msg.salt, msg.opBytes) !== msg.obf) {
      bump(state, 'reject:push-mismatch')
      return
    }
    let bytes = msg.opBytes.length
    for (const [, b] of msg.chunks) bytes += b.length
    if (bytes > PREFETCH_BYTES_MAX) {
      bump(state, 'reject:push-too-large')
      return
    }
    const old = state.prefetched.get(msg.obf)
    if (old !== undefined) state.prefetchedBytes -= old.bytes
    state.prefetched.delete(msg.obf)
    while (state.prefetched.size >= PREFETCH_MAX || state.prefetchedBytes + bytes > PREFETCH_BYTES_MAX) {
      const [oldest, entry] = state.prefetched.entries().next().value!
      state.prefetched.delete(oldest)
      state.prefetchedBytes -= entry.bytes
      bump(state, 'prefetch:evicted')
    }
    state.prefetched.set(msg.obf, { from, msg, bytes })
    state.prefetchedBytes += bytes
    bump(state, 'prefetch:kept')
    return
  }
  if (acceptPut(state, ctx, from, p, msg) === 'stored') advanceQueue(state, ctx, p.author)
}

/** A PUT for queue head `p` (an answer to our GET, or a push we kept): VOL-4 checks, then the
 *  plain op and its chunks are stored. 'stored': the caller advances the queue; 'handled': a lie
 *  (the sender was voted against) or an invalid op (skipped, the queue already advanced). */
function acceptPut(state: VolumeState, ctx: Ctx, from: Pid, p: Pending, msg: Extract<VolMessage, { type: 'put' }>): 'stored' | 'lie' | 'handled' {
  // VOL-4: only data that hashes to the ledger entry is accepted; anything else is a lie.
  if (obfuscate(ctx.crypto, msg.salt, msg.opBytes) !== msg.obf && ctx.params.mutation !== 'skip-obf-check') {
    liar(state, ctx, from, p, 'salted hash does not match the ledger')
    return 'lie'
  }
  const decoded = tryDecode(msg.opBytes)
  const checked = decoded.ok ? validateOp(decoded.value) : undefined
  if (!checked || !checked.ok) {
    // The author committed to bytes that are no valid operation: every replica sees the same
    // bytes (they are hash-bound), so all skip it the same way.
    const q = state.queues.get(p.author)!
    q.shift()
    // In a totb volume it is skipped when the order reaches it (it is held: its bytes are what
    // every member gets); otherwise now.
    if (state.order !== undefined) heldOrdered(state, ctx, p, true)
    else skip(state, ctx.out, { atEpoch: state.fs.epoch, author: p.author, seq: p.seq, obf: p.obf, why: 'invalid' })
    voteKick(state, ctx, p.author, 'lied')
    advanceQueue(state, ctx, p.author)
    return 'handled'
  }
  const op = checked.op
  const fresh = new Map<ChunkHash, Uint8Array>()
  for (const [h, bytes] of msg.chunks) {
    if (chunkHash(ctx.crypto, bytes) !== h) {
      liar(state, ctx, from, p, 'a chunk does not hash to its name')
      return 'lie'
    }
    if (!hasChunk(state, ctx, h)) fresh.set(h, bytes)
  }
  if (op.type === 'write') {
    for (const [, h] of op.blocks) {
      if (h !== null && !hasChunk(state, ctx, h) && !fresh.has(h)) {
        liar(state, ctx, from, p, 'a referenced chunk is missing')
        return 'lie'
      }
    }
  }
  if (ctx.params.mutation === 'forget-fetched-chunks') for (const [h, bytes] of fresh) state.written.set(h, bytes)
  else for (const [h, bytes] of fresh) storeChunk(state, ctx, h, bytes)
  storePlain(state, ctx, msg.obf, { salt: msg.salt, opBytes: msg.opBytes, op }, ctx.params.mutation !== 'forget-fetched-plain')
  return 'stored'
}

function liar(state: VolumeState, ctx: Ctx, from: Pid, p: Pending, why: string): void {
  bump(state, 'reject:lie')
  ctx.out.trace({ kind: 'liar', volume: state.genesis.name, peer: from, detail: why })
  if (isMember(state, from)) voteKick(state, ctx, from, 'lied')
  if (p.asked === from) nextAttempt(state, ctx, p)
}

export function onTick(state: VolumeState, ctx: Ctx): void {
  fotb.onTick(state.fotb, ctx.params.fotb, ctx.now, ctx.out)
  for (const author of [...state.queues.keys()].sort()) {
    const head = state.queues.get(author)?.[0]
    if (head && head.deadline <= ctx.now) {
      if (head.deadline === -Infinity) ask(state, ctx, head)
      else nextAttempt(state, ctx, head)
    }
  }
}

/** After membership changes (a removed author, a new member), queue heads may need another
 *  target; a removed author's queue continues with the remaining members (nextAttempt). */
export function membershipSettled(state: VolumeState, ctx: Ctx): void {
  for (const author of [...state.queues.keys()].sort()) {
    advanceQueue(state, ctx, author)
    // An author removed while a GET of its member time is outstanding: its first round (the
    // author and every member at once) starts now, not when that GET times out (up to 32 s).
    const head = state.queues.get(author)?.[0]
    if (head !== undefined && head.asked !== null && head.firstAskAt !== null && state.status.get(author) === 'removed') ask(state, ctx, head)
  }
}
