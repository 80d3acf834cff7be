// Closed admission in the core (spec/paciofs.md "Admission", VOL-13, VOL-14): the invite's byte
// format and checks, the join and admit payloads (and the older forms that still parse), the
// genesis' admission field, and a simulated cluster in which only invited or admitted nodes are
// voted in, once per invite, also after a restart.
import { describe, expect, it } from 'vitest'
import { nobleCrypto as crypto } from '../core/crypto.ts'
import { encode } from '../core/codec.ts'
import { fromHex } from '../core/bytes.ts'
import { pidOf, type NodeReply } from '../core/node.ts'
import {
  decodePayload, encodePayload, genesisValue, inviteFromText, inviteText, makeInvite, membersOf, parseGenesis, parseInvite,
  checkpointOf, checkpointRecord, parseCheckpoint, type Invite,
} from '../core/volume/index.ts'
import { Cluster } from '../sim/cluster.ts'
import { InvariantChecker } from '../sim/invariants.ts'
import { DEFAULT_SIM_CONFIG, runSim } from '../sim/run.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import { genesisOf, key } from './support/nodes.ts'

const VOL = 'docs' as VolumeName
const FAR = 4_000_000_000
const ID = (b: number): string => b.toString(16).padStart(2, '0').repeat(16)

describe('invite tokens', () => {
  const issuer = pidOf(crypto, key(1))
  const inv: Invite = { volume: VOL, issuer, id: ID(7), expiresS: FAR, invitee: null }

  it('round-trips through bytes and text and checks its signature', () => {
    const token = makeInvite(crypto, key(1), inv)
    const back = parseInvite(crypto, inviteFromText(inviteText(token))!)
    expect(back).toEqual({ ok: true, invite: inv })
    const bound = makeInvite(crypto, key(1), { ...inv, invitee: pidOf(crypto, key(2)) })
    expect(parseInvite(crypto, bound)).toEqual({ ok: true, invite: { ...inv, invitee: pidOf(crypto, key(2)) } })
  })

  it('rejects a token signed by another key, a changed one, malformed and oversized ones, with a typed reason', () => {
    // Claims key 1 as its issuer, signed by key 3: forged.
    expect(parseInvite(crypto, makeInvite(crypto, key(3), inv))).toEqual({ ok: false, why: 'invite-bad-signature' })
    const token = makeInvite(crypto, key(1), inv)
    const changed = token.slice()
    changed[changed.length - 70]! ^= 1 // inside the body (expiry / invitee), not the signature
    expect(parseInvite(crypto, changed).ok).toBe(false)
    expect(parseInvite(crypto, encode(['paciofs/invite/v1', VOL]))).toEqual({ ok: false, why: 'invite-malformed' })
    expect(parseInvite(crypto, new Uint8Array([0xff, 0x00]))).toEqual({ ok: false, why: 'invite-malformed' })
    expect(parseInvite(crypto, new Uint8Array(600))).toEqual({ ok: false, why: 'invite-malformed' })
    expect(inviteFromText('not a token!')).toBeUndefined()
  })
})

describe('payload and genesis forms', () => {
  it('the join without an invite keeps its old bytes; a join with one, and admit, round-trip; bad forms are rejected', () => {
    expect(encodePayload({ type: 'join', round: 3 })).toEqual(encode(['join', 3]))
    expect(decodePayload(encode(['join', 3]))).toEqual({ type: 'join', round: 3 })
    const token = makeInvite(crypto, key(1), { volume: VOL, issuer: pidOf(crypto, key(1)), id: ID(1), expiresS: FAR, invitee: null })
    expect(decodePayload(encodePayload({ type: 'join', round: 2, invite: token }))).toEqual({ type: 'join', round: 2, invite: token })
    const target = pidOf(crypto, key(4))
    expect(decodePayload(encodePayload({ type: 'admit', target, round: 5 }))).toEqual({ type: 'admit', target, round: 5 })
    expect(decodePayload(encode(['join', 2, 'text']))).toBeUndefined()
    expect(decodePayload(encode(['join', 2, new Uint8Array(513)]))).toBeUndefined()
    expect(decodePayload(encode(['admit', new Uint8Array(33), 1]))).toBeUndefined()
  })

  it('a v1 genesis (no admission) still parses and encodes as before; v2 carries open or closed', () => {
    const founders = [pidOf(crypto, key(1))]
    const v1 = ['paciofs/genesis/v1', VOL, 'majority', founders.map((p) => fromHex(p)!)]
    expect(parseGenesis(v1)).toEqual({ name: VOL, policy: 'majority', founders })
    expect(encode(genesisValue({ name: VOL, policy: 'majority', founders }))).toEqual(encode(v1))
    for (const admission of ['open', 'closed'] as const) expect(parseGenesis(genesisValue({ name: VOL, policy: 'majority', founders, admission }))).toEqual({ name: VOL, policy: 'majority', founders, admission })
    expect(parseGenesis(['paciofs/genesis/v2', VOL, 'majority', founders.map((p) => fromHex(p)!), 'ajar'])).toBeUndefined()
  })
})

function closedCluster() {
  const checker = new InvariantChecker({ correct: () => true })
  const cluster = new Cluster({ crypto, observe: (o, c) => checker.observe(o, c) })
  const pids = [1, 2, 3, 4, 5, 6, 7].map((i) => cluster.addNode(key(i))) as Pid[]
  const [a] = pids as [Pid]
  const g = genesisOf(cluster.request(a, { type: 'create-volume', name: VOL, policy: 'majority', admission: 'closed' }))
  let next = 0
  const invite = (issuer: Pid, invitee: Pid | null, expiresS = FAR, id = ID(++next)): Uint8Array => {
    const r: NodeReply = cluster.request(issuer, { type: 'invite', volume: VOL, id: fromHex(id)!, expiresS, invitee })
    if (!r.ok || !('invite' in r)) throw new Error(`no invite: ${JSON.stringify(r)}`)
    return r.invite
  }
  const join = (p: Pid, token?: Uint8Array): NodeReply => cluster.request(p, { type: 'join-volume', genesis: g, contacts: [a], ...(token ? { invite: token } : {}) })
  const v = (at: Pid, of = at) => cluster.node(at).state.volumes.get(VOL)!.status.get(of)
  const refusal = (at: Pid, of: Pid) => cluster.node(at).state.volumes.get(VOL)!.refusals.get(of)
  return { cluster, checker, pids, invite, join, v, refusal }
}

describe('closed admission in a simulated cluster', () => {
  it('[VOL-13] only invited or admitted applicants are voted in; the others stay applicants with a typed, counted reason', () => {
    const { cluster, checker, pids, invite, join, v, refusal } = closedCluster()
    const [a, b, c, d, e, f] = pids as [Pid, Pid, Pid, Pid, Pid, Pid]
    join(b, invite(a, b))
    cluster.runFor(2000)
    expect(v(a, b)).toBe('member')
    join(c) // no invite
    join(d, invite(a, d, 1)) // expired: the cluster's clock is past 1 s
    // Signed by a non-member (e itself) and forged in a's name.
    join(e, makeInvite(crypto, key(5), { volume: VOL, issuer: e, id: ID(9), expiresS: FAR, invitee: null }))
    join(f, makeInvite(crypto, key(6), { volume: VOL, issuer: a, id: ID(9), expiresS: FAR, invitee: null }))
    cluster.runFor(3000)
    for (const p of [c, d, e, f]) expect(v(a, p)).toBe('applicant')
    for (const at of [a, b]) {
      expect([refusal(at, c), refusal(at, d), refusal(at, e), refusal(at, f)]).toEqual(['no-invite', 'invite-expired', 'invite-issuer-not-member', 'invite-bad-signature'])
      expect(cluster.node(at).state.volumes.get(VOL)!.stats.get('refuse:no-invite')).toBe(1)
    }
    // A non-member cannot invite or admit.
    expect(cluster.request(c, { type: 'invite', volume: VOL, id: fromHex(ID(3))!, expiresS: FAR, invitee: null }).ok).toBe(false)
    expect(cluster.request(c, { type: 'admit', volume: VOL, target: c }).ok).toBe(false)
    // A member admits c by id; a refused d applies again with a fresh invite.
    expect(cluster.request(b, { type: 'admit', volume: VOL, target: c }).ok).toBe(true)
    expect(join(d, invite(b, d)).ok).toBe(true)
    cluster.runFor(3000)
    expect(v(a, c)).toBe('member')
    expect(v(a, d)).toBe('member')
    expect(membersOf(cluster.node(c).state.volumes.get(VOL)!)).toEqual([a, b, c, d].sort())
    expect(checker.violations).toEqual([])
  })

  it('[VOL-14] an invite admits one node: a second applicant with it is refused, also by members that joined later and after a restart', () => {
    const { cluster, checker, pids, invite, join, v, refusal } = closedCluster()
    const [a, b, c, d, e] = pids as [Pid, Pid, Pid, Pid, Pid]
    const bearer = invite(a, null)
    join(b, bearer)
    cluster.runFor(2000)
    expect(v(a, b)).toBe('member')
    join(c, invite(b, c))
    cluster.runFor(2000)
    expect(v(a, c)).toBe('member')
    // d reuses b's invite: c never voted for b, and d's join (round 1) sorts before b's.
    join(d, bearer)
    cluster.runFor(3000)
    expect(v(a, d)).toBe('applicant')
    for (const at of [a, b, c]) expect(refusal(at, d)).toBe('invite-used')
    // After a restart (from every record and from a checkpoint) the used invite is recomputed.
    cluster.request(c, { type: 'checkpoint' })
    cluster.crash(c)
    cluster.restart(c)
    const ckpt = checkpointOf(cluster.node(c).state.volumes.get(VOL)!)
    const parsed = parseCheckpoint(crypto, VOL, c, checkpointRecord(crypto, key(3), ckpt))
    expect(parsed.ok && parsed.checkpoint.state!.memberEvents.some((ev) => ev.payload.type === 'join' && ev.payload.invite !== undefined)).toBe(true)
    join(e, bearer)
    cluster.runFor(3000)
    expect(v(a, e)).toBe('applicant')
    for (const at of [a, b, c]) expect(refusal(at, e)).toBe('invite-used')
    expect(checker.violations).toEqual([])
  })

  it('[VOL-14] the simulator catches a core that accepts a reused invite', () => {
    const broken = runSim({ ...DEFAULT_SIM_CONFIG, seed: 3, ops: 40, admission: 'closed', mutation: 'accept-reused-invite' })
    expect(broken.violations.some((x) => x.id === 'VOL-14')).toBe(true)
    expect(runSim({ ...DEFAULT_SIM_CONFIG, seed: 3, ops: 40, admission: 'closed' }).violations).toEqual([])
  })

  it('[VOL-13] [VOL-14] closed simulated runs hold every invariant: joiners invited or admitted by id, rogue applicants refused', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const r = runSim({ ...DEFAULT_SIM_CONFIG, seed, ops: 40, admission: 'closed' })
      expect(r.violations, `seed ${seed}`).toEqual([])
    }
  })
})
