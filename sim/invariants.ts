// Executable checkers of the spec's invariants over a whole cluster (spec/fotb.md, spec/paciofs.md).
// Safety checks run on every observation (after every step); liveness checks run once the
// cluster has quiesced after faults stopped (`checkQuiesced`). Each violation names its spec ID.
import { decode, type Value } from '../core/codec.ts'
import { restoreNode, verifyNodeVolume, type CheckpointUse } from '../core/node.ts'
import { checkpointOf, decodePayload, foldImages, inviteExpired, inviteKey, membersOf, obfuscate, parseCheckpoint, parseInvite, replayMembership, type VolumeState } from '../core/volume/index.ts'
import { toHex } from '../core/bytes.ts'
import { recoveryWaitingFor } from '../core/fotb/index.ts'
import { StoredFsPast } from '../core/volume/past.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import { entryHash, headerOf, type Entry } from '../core/ledger/index.ts'
import type { Crypto } from '../core/crypto.ts'
import { checkFsInvariants } from '../core/fs/check.ts'
import { checkPermInvariants } from '../core/fs/perm.ts'
import { checkRetentionInvariants } from '../core/fs/retention-check.ts'
import type { EntryHash, Pid, Seq, TimeMs, VolumeName } from '../core/types.ts'
import type { Cluster, Observation, SimNode } from './cluster.ts'

export interface Violation {
  readonly id: string
  readonly message: string
  readonly at: TimeMs
}

const short = (p: string): string => p.slice(0, 8)
const hashAt = (crypto: Crypto, e: Entry): EntryHash => entryHash(crypto, headerOf(crypto, e))

export interface CheckerOptions {
  /** Nodes that follow the protocol; only their behaviour is held to the invariants. */
  readonly correct: (pid: Pid) => boolean
}

/** Whether `pid` put a `leave` into its own chain of this volume (it may never learn of its
 *  removal: the others stop talking to it). */
function askedToLeave(node: SimNode, v: VolumeState, pid: Pid): boolean {
  const seq = v.fotb.chains.get(pid)?.view.seq ?? 0
  for (let s = 1; s <= seq; s++) if (decodePayload(node.chunks.entry(v.genesis.name, pid, s)?.payload ?? new Uint8Array())?.type === 'leave') return true
  return false
}

export class InvariantChecker {
  readonly violations: Violation[] = []
  /** Checks skipped for a stated reason (not violations; printed in traces and results). */
  readonly notes: string[] = []
  /** (volume, author, seq) -> the hash some correct node delivered (FOTB-4). */
  private readonly deliveredHash = new Map<string, EntryHash>()
  /** (node, volume, author) -> last delivered seq (FOTB-3). */
  private readonly lastDelivered = new Map<string, Seq>()
  /** (node, volume, author, seq) of logged own ops (VOL-3). */
  private readonly loggedOwn = new Set<string>()
  /** (author process, volume, holder process) pairs already reported for FOTB-8. */
  private readonly selfEquivocations = new Set<string>()
  /** checkOwnChains: the heads (own view, the other's view of it) last compared, per node, volume and other node. */
  private readonly ownChainsSeen = new Map<string, Map<string, Map<string, { ms: number; mh: string; ts: number; th: string }>>>()
  /** (volume, author, seq) -> the processes that delivered it (FOTB-4 after a lost tail). */
  private readonly deliveredBy = new Map<string, Set<string>>()
  /** Own entries a correct process acknowledged to a request (FOTB-9); `atRisk`: it was above
   *  the restored chain when the process lost its tail. */
  private readonly acked: { nodeId: string; volume: VolumeName; seq: Seq; hash: string; atRisk: boolean }[] = []
  /** totb volumes (spec/totb.md TOTB-7): (volume, epoch) -> the log record and state root the
   *  first correct replica had after applying that epoch, and which node it was. */
  private readonly replicaAt = new Map<string, { record: string; root: string; node: string }>()
  /** totb volumes (TOTB-1 on the whole stack): per volume, the entry at each position of the
   *  order as the first correct node ordered it ("author:seq:hash"); per (node, volume) the last
   *  seq of each author it ordered (TOTB-3). */
  private readonly orderAt = new Map<VolumeName, string[]>()
  private readonly orderedSeq = new Map<string, Map<Pid, Seq>>()
  private readonly furthest = new Map<string, number>()
  /** totb volumes (TOTB-8): (volume, totb epoch) -> the committee the first correct node had. */
  private readonly committeeOf = new Map<string, { members: string; node: string }>()

  /** (node, volume) -> own chain seq up to which its accept votes were checked (VOL-13, VOL-14). */
  private readonly admissionChecked = new Map<string, Seq>()
  /** Accept votes already judged: "node/volume/seq/prev/payloadHash" (one entry, whatever seq
   *  range a lost tail makes the node look at again). */
  private readonly checkedVotes = new Set<string>()
  /** (node, volume, invite key) -> the applicant the node voted for on that invite (VOL-14). */
  private readonly inviteVotes = new Map<string, Pid>()

  /** Per node: `cluster.changes` when its per-step checks (observe) last passed; likewise for
   *  checkOwnChains at a send. */
  private readonly passedAt = new Map<string, number>()
  private readonly ownChainsAt = new Map<string, number>()

  constructor(private readonly options: CheckerOptions) {}

  /** VOL-13 and VOL-14 on the accept votes a correct node appended since the last look,
   *  judged from the node's delivered entries and its clock (the step's time: the simulator's
   *  nodes read no skewed clock, only skewed timers). */
  private checkAdmissionVotes(node: SimNode, at: TimeMs): void {
    if (!this.options.correct(node.pid)) return
    for (const [name, v] of node.state.volumes) {
      const key = `${node.id}/${name}`
      const seq = v.fotb.chains.get(node.pid)?.view.seq ?? 0
      let last = Math.min(this.admissionChecked.get(key) ?? 0, seq) // a lost tail appends again
      for (let s = last + 1; s <= seq; s++) {
        const e = node.chunks.entry(name, node.pid, s)
        const p = decodePayload(e?.payload ?? new Uint8Array())
        // A vote the node appended and this checker judged before comes back unchanged after a
        // damaged batch or a lost tail (handed back by the members, seed 2 closed): it was judged
        // by what the node had delivered then, not by the repaired node's shorter view now.
        const id = `${key}/${s}/${e?.prev}/${e?.payloadHash}`
        if (p?.type === 'vote-accept' && !this.checkedVotes.has(id)) {
          this.checkedVotes.add(id)
          this.checkAcceptVote(node, v, p.target, at)
        }
        last = s
      }
      this.admissionChecked.set(key, last)
    }
  }

  private checkAcceptVote(node: SimNode, v: VolumeState, target: Pid, at: TimeMs): void {
    const params = node.config.params
    const everyone = v.genesis.admission === 'open' || (v.genesis.admission === undefined && params.allow === undefined)
    const wasMember = (p: Pid): boolean => v.status.get(p) === 'member' || v.status.get(p) === 'removed'
    const byList = params.allow?.has(target) === true
    const byAdmit = v.memberEvents.some((e) => e.payload.type === 'admit' && e.payload.target === target && wasMember(e.author))
    // Invites of the target's delivered joins that a member signed for this volume, in time.
    const keys: string[] = []
    for (const e of v.memberEvents) {
      if (e.author !== target || e.payload.type !== 'join' || e.payload.invite === undefined) continue
      const r = parseInvite(node.config.crypto, e.payload.invite)
      if (!r.ok || r.invite.volume !== v.genesis.name || !wasMember(r.invite.issuer) || inviteExpired(r.invite, at)) continue
      if (r.invite.invitee !== null && r.invite.invitee !== target) continue
      keys.push(inviteKey(r.invite))
    }
    if (!everyone && !byList && !byAdmit && keys.length === 0) {
      this.fail('VOL-13', `${v.genesis.name}: ${short(node.pid)} voted to accept ${short(target)} without an invite, an allow-list entry or an admit by a member`, at)
    }
    if (everyone || byList || byAdmit) return
    for (const k of keys) {
      const slot = `${node.id}/${v.genesis.name}/${k}`
      const first = this.inviteVotes.get(slot)
      if (first === undefined) this.inviteVotes.set(slot, target)
      else if (first !== target) this.fail('VOL-14', `${v.genesis.name}: ${short(node.pid)} voted to accept ${short(target)} on the invite it had accepted ${short(first)} on`, at)
      const holder = [...this.holdersOf(node, v, k)].find((h) => h !== target && wasMember(h))
      if (holder !== undefined) this.fail('VOL-14', `${v.genesis.name}: ${short(node.pid)} voted to accept ${short(target)} on the invite that admitted ${short(holder)}`, at)
    }
  }

  /** The applicants whose delivered joins carry an invite with key `k`, signed by its issuer. */
  private holdersOf(node: SimNode, v: VolumeState, k: string): Set<Pid> {
    const out = new Set<Pid>()
    for (const e of v.memberEvents) {
      if (e.payload.type !== 'join' || e.payload.invite === undefined) continue
      const r = parseInvite(node.config.crypto, e.payload.invite)
      if (r.ok && r.invite.volume === v.genesis.name && inviteKey(r.invite) === k) out.add(e.author)
    }
    return out
  }

  /** VOL-14 on the outcome: no two members of a closed volume, as a correct node sees them, got
   *  in on one invite alone (no admit entry, no allow-list). */
  private checkInviteMembers(node: SimNode, v: VolumeState, at: TimeMs): void {
    if (v.genesis.admission !== 'closed' || !this.options.correct(node.pid)) return
    const byKey = new Map<string, Pid[]>()
    for (const [pid, s] of v.status) {
      if (s !== 'member' || v.genesis.founders.includes(pid) || node.config.params.allow?.has(pid) === true) continue
      if (v.memberEvents.some((e) => e.payload.type === 'admit' && e.payload.target === pid)) continue
      const keys = new Set<string>()
      for (const e of v.memberEvents) {
        if (e.author !== pid || e.payload.type !== 'join' || e.payload.invite === undefined) continue
        const r = parseInvite(node.config.crypto, e.payload.invite)
        if (r.ok && r.invite.volume === v.genesis.name) keys.add(inviteKey(r.invite))
      }
      // A member that applied again with another invite got in on one of them: which one is
      // not visible here, so only a member with a single invite is counted (the per-vote check,
      // checkAcceptVote, covers the others).
      if (keys.size === 1) for (const k of keys) byKey.set(k, [...(byKey.get(k) ?? []), pid])
    }
    for (const [k, holders] of byKey) {
      if (holders.length > 1) this.fail('VOL-14', `${v.genesis.name}: at ${short(node.pid)} members ${holders.map(short).join(', ')} got in on one invite (${k.slice(-8)})`, at)
    }
  }

  private fail(id: string, message: string, at: TimeMs): void {
    this.violations.push({ id, message, at })
  }

  observe(o: Observation, cluster: Cluster): void {
    if (o.type === 'restart') {
      this.checkCheckpointRestore(cluster.node(o.nodeId), o.records, o.checkpoints, o.halted, o.at)
      return this.onRestart(o, cluster)
    }
    if (o.type === 'tail-lost') return this.onRestart(o, cluster)
    if (o.type === 'checkpoint') return this.checkCheckpoint(cluster.node(o.nodeId), o.record, o.at)
    if (o.type === 'acked') {
      if (this.options.correct(o.node)) this.acked.push({ nodeId: o.nodeId, volume: o.volume, seq: o.seq, hash: o.hash, atRisk: false })
      return
    }
    // STORE-3, STORE-4 and STORE-6 after every step that had an effect: the step's chunks, plain
    // ops, entries and past records went out with its persist.
    const n = cluster.node(o.type === 'send' ? o.fromId : o.nodeId)
    // A step's effects come as several observations (a HEADS to every member): these checks see
    // the same node and cluster at each of them, so one that passed is not run again until
    // something changed (cluster.changes). One that failed runs again, as it always did.
    if (this.passedAt.get(n.id) !== cluster.changes) {
      const before = this.violations.length
      this.checkAdmissionVotes(n, o.at)
      this.checkNoChunkBytes(n, o.at)
      this.checkNoPlainOrEntries(n, o.at)
      if (this.violations.length === before) this.passedAt.set(n.id, cluster.changes)
      else this.passedAt.delete(n.id)
    }
    if (o.type === 'send') {
      // FOTB-8 where it matters: before anything of a new own entry leaves the process.
      if (this.options.correct(o.from) && this.ownChainsAt.get(o.fromId) !== cluster.changes) {
        const before = this.violations.length
        this.checkOwnChains(cluster.node(o.fromId), cluster, o.at)
        if (this.violations.length === before) this.ownChainsAt.set(o.fromId, cluster.changes)
        else this.ownChainsAt.delete(o.fromId)
      }
      return this.onSend(o, cluster)
    }
    if (o.type !== 'up' || !this.options.correct(o.node)) return
    const node = cluster.node(o.nodeId)
    const v = node.state.volumes.get(o.volume)
    if (!v) return
    const up = o.up
    if (up.type === 'entries') {
      const key = `${o.node}/${o.volume}/${up.author}`
      const last = this.lastDelivered.get(key) ?? 0
      if (up.from !== last + 1) this.fail('FOTB-3', `${short(o.node)} delivered ${short(up.author)} from seq ${up.from} after ${last}`, o.at)
      const chain = v.fotb.chains.get(up.author)
      up.hashes.forEach((hash, i) => {
        const seq = up.from + i
        if (!chain || seq > chain.view.seq || chain.view.hashes.get(seq - 1) !== hash) {
          this.fail('FOTB-1', `${short(o.node)} delivered ${short(up.author)}#${seq} that is not on its sealed chain`, o.at)
        }
        // STORE-5: what was delivered is readable from the port, as the entry with that hash.
        const stored = node.chunks.entry(o.volume, up.author, seq)
        if (stored === undefined || hashAt(node.config.crypto, stored) !== hash) {
          this.fail('STORE-5', `${short(o.node)} delivered ${short(up.author)}#${seq} but its store ${stored === undefined ? 'lacks the entry' : 'holds another entry'}`, o.at)
        }
        const g = `${o.volume}/${up.author}/${seq}`
        let by = this.deliveredBy.get(g)
        if (!by) this.deliveredBy.set(g, (by = new Set()))
        by.add(o.nodeId)
        const seen = this.deliveredHash.get(g)
        if (seen === undefined) this.deliveredHash.set(g, hash)
        else if (seen !== hash) this.fail('FOTB-4', `${short(o.node)} delivered a different entry at ${short(up.author)}#${seq}`, o.at)
        if (this.options.correct(up.author)) {
          const own = cluster.nodes.get(up.author)?.state.volumes.get(o.volume)?.fotb.chains.get(up.author)
          if (own && seq <= own.view.seq && own.view.hashes.get(seq - 1) !== hash) {
            this.fail('FOTB-2', `${short(o.node)} delivered ${short(up.author)}#${seq} which its correct author did not append`, o.at)
          }
        }
      })
      this.lastDelivered.set(key, up.from + up.hashes.length - 1)
    } else if (up.type === 'logged') {
      const r = up.record
      if (r.author === o.node && r.seq !== null) {
        const k = `${o.node}/${o.volume}/${r.seq}`
        if (this.loggedOwn.has(k)) this.fail('VOL-3', `${short(o.node)} logged its own op #${r.seq} twice`, o.at)
        this.loggedOwn.add(k)
      }
      if (v.fs.epoch !== v.log.length) this.fail('VOL-3', `${short(o.node)} replica epoch ${v.fs.epoch} != log length ${v.log.length}`, o.at)
      if (v.order !== undefined) this.checkSameReplica(o.node, v, r, o.at)
      if (r.obf !== null) {
        // STORE-5: the plain op of an applied op is readable from the port (the step that applied
        // it is over: its persist was performed); VOL-4: and it is the one the ledger committed to.
        const plain = node.chunks.plain(o.volume, r.obf)
        if (!plain) this.fail('STORE-5', `${short(o.node)} logged epoch ${r.epoch} but its store lacks the plain op`, o.at)
        else if (obfuscate(node.config.crypto, plain.salt, plain.opBytes) !== r.obf) {
          this.fail('VOL-4', `${short(o.node)} logged epoch ${r.epoch} without a plain op hashing to its obf`, o.at)
        }
      }
    } else if (up.type === 'ordered') {
      this.checkOrdered(o.node, o.volume, up.entries, o.at)
    } else if (up.type === 'members' && v.order !== undefined) {
      this.checkInviteMembers(node, v, o.at)
      this.checkCommittee(o.node, v, o.at)
    } else if (up.type === 'members') {
      this.checkInviteMembers(node, v, o.at)
      const expected = replayMembership(v.genesis, v.memberEvents).status
      for (const [pid, s] of expected) {
        if (v.status.get(pid) !== s) this.fail('VOL-1', `${short(o.node)} has ${short(pid)} ${v.status.get(pid)}, the rule says ${s}`, o.at)
      }
      for (const [pid, s] of v.status) {
        if (expected.get(pid) !== s) this.fail('VOL-1', `${short(o.node)} has ${short(pid)} ${s}, the rule does not know it`, o.at)
      }
    }
  }

  /** TOTB-7 (spec/totb.md): in a totb volume every correct replica that applied epoch e applied
   *  the same operation there, with the same result, and has the same state root after it —
   *  whatever the workload, concurrent conflicting writes included. */
  private checkSameReplica(node: Pid, v: VolumeState, r: { epoch: number; author: Pid; seq: Seq | null; obf: string | null; kind: string; result: string }, at: TimeMs): void {
    const key = `${v.genesis.name}/${r.epoch}`
    const record = `${r.author}#${r.seq}:${r.obf}:${r.kind}:${r.result}`
    // The observation comes after the step: the replica's root is the one after its newest
    // epoch only (a step may apply several); the records of the earlier ones are compared.
    const root = r.epoch === v.fs.epoch ? stateRoot(v.fs) : ''
    const first = this.replicaAt.get(key)
    if (first === undefined || (first.root === '' && root !== '' && first.record === record)) {
      this.replicaAt.set(key, { record, root, node })
      return
    }
    if (first.record !== record) this.fail('TOTB-7', `${v.genesis.name} epoch ${r.epoch}: ${short(node)} applied ${short(r.author)}#${r.seq} ${r.kind} -> ${r.result}, ${short(first.node)} applied ${first.record.slice(0, 8)}#${first.record.split('#')[1]!.split(':')[0]} ${first.record.split(':').slice(-2).join(' -> ')}`, at)
    else if (first.root !== '' && root !== '' && first.root !== root) this.fail('TOTB-7', `${v.genesis.name} epoch ${r.epoch}: ${short(node)} has state root ${root.slice(0, 12)}, ${short(first.node)} had ${first.root.slice(0, 12)}`, at)
  }

  /** TOTB-1 and TOTB-3 (spec/totb.md) on the whole stack: the entries every correct node orders
   *  at a position are the same, and each author's come in seq order (a restarted node orders
   *  from where its derived order ends: positions, not a count, place them). */
  private checkOrdered(node: Pid, volume: VolumeName, entries: readonly { author: Pid; seq: Seq; hash: string; position: number }[], at: TimeMs): void {
    let ref = this.orderAt.get(volume)
    if (ref === undefined) this.orderAt.set(volume, (ref = []))
    const k = `${node}/${volume}`
    let last = this.orderedSeq.get(k)
    if (last === undefined) this.orderedSeq.set(k, (last = new Map()))
    for (const e of entries) {
      const id = `${e.author}:${e.seq}:${e.hash}`
      const had = ref[e.position - 1]
      if (had === undefined) ref[e.position - 1] = id
      else if (had !== id) this.fail('TOTB-1', `${volume}: ${short(node)} ordered ${short(e.author)}#${e.seq} at position ${e.position}, another correct node ${short(had)}#${had.split(':')[1]}`, at)
      // A restarted node (a lost tail: fewer delivered entries) may order positions it had
      // ordered before again (TOTB-1 compares them); FIFO is checked beyond its furthest one.
      const furthest = this.furthest.get(k) ?? 0
      if (e.position > furthest) {
        const before = last.get(e.author) ?? 0
        if (e.seq <= before) this.fail('TOTB-3', `${volume}: ${short(node)} ordered ${short(e.author)}#${e.seq} after its seq ${before}`, at)
        last.set(e.author, e.seq)
        this.furthest.set(k, e.position)
      }
    }
  }

  /** TOTB-8 (spec/totb.md): a totb volume's members are its committee, and every correct node
   *  has the same committee in each epoch of the order. */
  private checkCommittee(node: Pid, v: VolumeState, at: TimeMs): void {
    const t = v.order!.totb
    const members = membersOf(v).join(',')
    if (t.committee.join(',') !== members) this.fail('TOTB-8', `${v.genesis.name}: ${short(node)} has members ${membersOf(v).map(short).join(',')} but committee ${t.committee.map(short).join(',')} in epoch ${t.epoch}`, at)
    const key = `${v.genesis.name}/${t.epoch}`
    const first = this.committeeOf.get(key)
    if (first === undefined) this.committeeOf.set(key, { members: t.committee.join(','), node })
    else if (first.members !== t.committee.join(',')) this.fail('TOTB-8', `${v.genesis.name} epoch ${t.epoch}: ${short(node)} has committee ${t.committee.map(short).join(',')}, ${short(first.node)} had ${first.members.split(',').map(short).join(',')}`, at)
  }

  private onSend(o: Extract<Observation, { type: 'send' }>, cluster: Cluster): void {
    if (!this.options.correct(o.from)) return
    const msg = cluster.decodeMessage(o.bytes)
    if (msg === undefined) return this.fail('FOTB-7', `${short(o.from)} sent bytes that do not decode`, o.at)
    if (Array.isArray(msg) && msg[0] === 'vol/put') {
      const v = cluster.node(o.fromId).state.volumes.get(msg[1] as VolumeName)
      if (!v || v.status.get(o.to) !== 'member') this.fail('VOL-7', `${short(o.from)} sent a plain op to non-member ${short(o.to)}`, o.at)
    }
  }

  /** FOTB-8: no process holds an entry of a correct author that differs from the author's own
   *  entry at that seq — also after the author lost its tail and sealed again. Comparing heads is
   *  enough: chains are hash-linked, so equal hashes at one seq mean equal chains below it. */
  private checkOwnChains(node: SimNode, cluster: Cluster, at: TimeMs): void {
    for (const [name, v] of node.state.volumes) {
      const mine = v.fotb.chains.get(node.pid)?.view
      if (mine === undefined || mine.seq === 0) continue
      for (const other of cluster.nodes.values()) {
        if (other.id === node.id) continue
        const theirs = other.state.volumes.get(name)?.fotb.chains.get(node.pid)?.view
        if (theirs === undefined || theirs.seq === 0) continue
        // Compared already at these two heads: the same answer (chains are hash-linked, a head
        // at a seq fixes the chain below it), so only a changed head is compared again.
        let byVolume = this.ownChainsSeen.get(node.id)
        if (byVolume === undefined) this.ownChainsSeen.set(node.id, (byVolume = new Map()))
        let byOther = byVolume.get(name)
        if (byOther === undefined) byVolume.set(name, (byOther = new Map()))
        const seen = byOther.get(other.id)
        if (seen !== undefined && seen.ms === mine.seq && seen.mh === mine.head && seen.ts === theirs.seq && seen.th === theirs.head) continue
        if (seen === undefined) byOther.set(other.id, { ms: mine.seq, mh: mine.head, ts: theirs.seq, th: theirs.head })
        else {
          seen.ms = mine.seq
          seen.mh = mine.head
          seen.ts = theirs.seq
          seen.th = theirs.head
        }
        const s = Math.min(mine.seq, theirs.seq)
        if (mine.hashes.get(s - 1) === theirs.hashes.get(s - 1)) continue
        const key = `${node.id}/${name}/${other.id}`
        if (this.selfEquivocations.has(key)) continue // once per pair
        this.selfEquivocations.add(key)
        this.fail('FOTB-8', `${short(node.pid)} holds another own entry at ${name} up to #${s} than ${other.id} accepted from it (sealed twice at one seq)`, at)
      }
    }
  }

  private onRestart(o: Extract<Observation, { type: 'restart' | 'tail-lost' }>, cluster: Cluster): void {
    const node = cluster.node(o.nodeId)
    if (o.type !== 'tail-lost') return
    for (const [name, v] of node.state.volumes) {
      const seq = v.fotb.chains.get(node.pid)?.view.seq ?? 0
      // Own entries above the restored chain that only this process delivered are gone with the
      // tail: nobody else holds them, and sealing those seqs again is unobservable (FOTB-8).
      for (const [g, by] of this.deliveredBy) {
        const [vol, author, s] = g.split('/')
        if (vol === name && author === node.pid && Number(s) > seq && by.size === 1 && by.has(node.id)) {
          this.deliveredHash.delete(g)
          this.deliveredBy.delete(g)
        }
      }
      // What the lost tail held happens again here: deliveries (FOTB-3 counts from the restored
      // counters), and own ops regained from the members are logged again (VOL-3).
      for (const [author, d] of v.fotb.delivered) this.lastDelivered.set(`${node.pid}/${name}/${author}`, d)
      for (const key of [...this.lastDelivered.keys()]) {
        const [p, vol, author] = key.split('/')
        if (p === node.pid && vol === name && !v.fotb.delivered.has(author as Pid)) this.lastDelivered.delete(key)
      }
      // A totb volume applies its own ops in the order: the ones whose log records went with the
      // tail are applied and logged again, also below the restored chain's head.
      const again = v.order !== undefined ? Math.min(seq, v.log.lastDone(node.pid)) : seq
      for (const k of [...this.loggedOwn]) {
        const [p, vol, s] = k.split('/')
        if (p === node.pid && vol === name && Number(s) > again) this.loggedOwn.delete(k)
      }
      for (const a of this.acked) if (a.nodeId === node.id && a.volume === name && a.seq > seq) a.atRisk = true
    }
  }

  /** FOTB-9 at the end: every own entry a correct process acknowledged is in its chain — unless
   *  it lost its tail and no other correct process ever held the entry (then nothing could
   *  bring it back; the loss was reported at its restart — by the tail witness, or as the
   *  batches cut at a damaged one whose intact copy of the entry was void — never silent). */
  private checkAcked(cluster: Cluster, at: TimeMs): void {
    for (const a of this.acked) {
      const node = cluster.nodes.get(a.nodeId)
      if (!node || !node.up || node.halted) continue
      const view = node.state.volumes.get(a.volume)?.fotb.chains.get(node.pid)?.view
      if (view !== undefined && a.seq <= view.seq && view.hashes.get(a.seq - 1) === a.hash) continue
      const heldElsewhere = [...cluster.nodes.values()].some((n) => n.id !== node.id && this.options.correct(n.pid) && n.state.volumes.get(a.volume)?.fotb.chains.get(node.pid)?.view.hashes.get(a.seq - 1) === a.hash)
      if (a.atRisk && !heldElsewhere) {
        this.notes.push(`${a.volume}: ${short(node.pid)}#${a.seq} was lost with its tail before any member held it (reported at its restart: by the tail witness, or as the batches cut at a damaged one)`)
        continue
      }
      this.fail('FOTB-9', `${short(node.pid)} lost its acknowledged own entry ${a.volume}#${a.seq}${heldElsewhere ? ' though a member holds it' : ''}`, at)
    }
  }

  /** STORE-3: no chunk bytes held in a volume's state between steps. */
  /** CKPT-3: a checkpoint names the heads and the state root its node has at the end of the
   *  step that persisted it. */
  private checkCheckpoint(node: SimNode, record: Value, at: TimeMs): void {
    const name = (record as Value[])[1] as VolumeName
    const v = node.state.volumes.get(name)
    const parsed = parseCheckpoint(node.config.crypto, name, node.pid, record)
    if (!v || !parsed.ok) return this.fail('CKPT-3', `${short(node.pid)} persisted a checkpoint of ${name} that does not parse: ${parsed.ok ? 'no such volume' : parsed.why}`, at)
    const c = parsed.checkpoint
    const now = checkpointOf(v)
    const heads = (m: ReadonlyMap<Pid, { seq: number; head: string }>): string => [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, h]) => `${p}:${h.seq}:${h.head}`).join(',')
    if (c.epoch !== now.epoch || c.root !== now.root || heads(c.heads) !== heads(now.heads)) {
      this.fail('CKPT-3', `${short(node.pid)}'s checkpoint of ${name} at epoch ${c.epoch} does not name its state at the end of the step (epoch ${now.epoch})`, at)
    }
  }

  /** CKPT-1 and CKPT-2 at every restart: the restored node equals one restored with every
   *  checkpoint ignored, and the checkpoint used is the newest valid one. */
  private checkCheckpointRestore(node: SimNode, records: readonly Value[], used: ReadonlyMap<VolumeName, CheckpointUse>, halted: boolean, at: TimeMs): void {
    const reference = restoreNode(node.config, records, { ignoreCheckpoints: true })
    // A node that halted at restart kept its old state: only CKPT-2 (which checkpoint) applies.
    for (const [name, v] of halted ? reference.state.volumes : node.state.volumes) {
      const ref = reference.state.volumes.get(name)
      if (!ref) {
        this.fail('CKPT-1', `${short(node.pid)} restored volume ${name} only with its checkpoints`, at)
        continue
      }
      const views = (x: VolumeState): string => [...x.fotb.chains].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, l]) => `${p}:${l.view.seq}:${l.view.head}`).join(',')
      const delivered = (x: VolumeState): string => [...x.fotb.delivered].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, q]) => `${p}:${q}`).join(',')
      const status = (x: VolumeState): string => [...x.status].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, q]) => `${p}:${q}`).join(',')
      // What a restart from the tail takes from the checkpoint instead of the records (CKPT-5).
      const queues = (x: VolumeState): string => [...x.queues].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, q]) => `${p}:${q.map((e) => `${e.seq}/${e.txid}/${e.obf}`).join(' ')}`).join(',')
      const skipped = (x: VolumeState): string => x.skipped.map((k) => `${k.author}/${k.seq}/${k.why}`).sort().join(',')
      const votes = (x: VolumeState): string => `${[...x.myVotes].sort().join(',')}@${x.maxRound}`
      const events = (x: VolumeState): string => x.memberEvents.map((e) => `${e.author}/${e.seq}`).sort().join(',')
      const done = (x: VolumeState): string => x.log.lastDoneAll().map(([p, q]) => `${p}:${q}`).join(',')
      const proofs = (x: VolumeState): string => [...x.fotb.proofs.keys()].sort().join(',')
      const differs = [
        views(v) !== views(ref) && 'ledger views',
        delivered(v) !== delivered(ref) && 'delivered positions',
        v.log.length !== ref.log.length && `log (${v.log.length} vs ${ref.log.length} records)`,
        stateRoot(v.fs) !== stateRoot(ref.fs) && 'state root',
        status(v) !== status(ref) && 'membership',
        queues(v) !== queues(ref) && 'queues of delivered ops',
        skipped(v) !== skipped(ref) && 'skip records',
        votes(v) !== votes(ref) && 'own votes and rounds',
        events(v) !== events(ref) && 'membership events',
        done(v) !== done(ref) && 'logged seqs',
        proofs(v) !== proofs(ref) && 'equivocation proofs',
      ].filter((d): d is string => typeof d === 'string')
      const tail = used.get(name)?.tail === true
      if (differs.length > 0) this.fail(tail ? 'CKPT-5' : 'CKPT-1', `${short(node.pid)} restored ${name} from a checkpoint${tail ? ' and the tail after it' : ''} with other ${differs.join(', ')} than from genesis`, at)
      // CKPT-2: the newest checkpoint that is valid by the spec's rule, computed independently.
      let newest: number | null = null
      const cut = new Set(records.filter((r) => Array.isArray(r) && r[0] === 'cut' && r[1] === name).map((r) => toHex((r as Value[])[2] as Uint8Array)))
      // A restart from the tail reads no chain below the checkpoint: its heads must be the port's
      // entries (spec/checkpoint.md "Restart from the tail"); otherwise they must be in the chains
      // a restart from genesis restores.
      const fromTail = used.get(name)?.tail === true
      const cutAfter = (rec: Value): Set<string> => new Set(records.slice(records.indexOf(rec) + 1).filter((r) => Array.isArray(r) && r[0] === 'cut' && r[1] === name).map((r) => toHex((r as Value[])[2] as Uint8Array)))
      for (const rec of records) {
        if (!Array.isArray(rec) || rec[0] !== 'checkpoint' || rec[1] !== name) continue
        const p = parseCheckpoint(node.config.crypto, name, node.pid, rec)
        if (!p.ok) continue
        const tailCut = fromTail ? cutAfter(rec) : cut
        const inChains = [...p.checkpoint.heads].every(([author, h]) => {
          if (tailCut.has(author)) return true
          if (!fromTail) return ref.fotb.chains.get(author)?.view.hashes.get(h.seq - 1) === h.head
          const e = node.chunks.entry(name, author, h.seq)
          return e !== undefined && hashAt(node.config.crypto, e) === h.head
        })
        if (inChains && (newest === null || p.checkpoint.epoch > newest)) newest = p.checkpoint.epoch
      }
      const u = used.get(name)?.used ?? null
      if (u !== newest) this.fail('CKPT-2', `${short(node.pid)} restored ${name} from checkpoint ${u ?? 'none'}, the newest valid one is ${newest ?? 'none'}`, at)
      // CKPT-4: the simulator never damages an image, so the one of the checkpoint used is used.
      const fold = foldImages(name, records)
      const image = used.get(name)?.image
      if (!halted && u !== null && fold !== undefined && ('bad' in fold || fold.epoch === u) && image !== 'used') {
        this.fail('CKPT-4', `${short(node.pid)} restored ${name} from checkpoint ${u} without its image (${'bad' in fold ? fold.bad : typeof image === 'object' ? image.rejected : String(image)})`, at)
      }
    }
  }

  private checkNoChunkBytes(node: SimNode, at: TimeMs): void {
    for (const [name, v] of node.state.volumes) {
      if (v.written.size > 0) this.fail('STORE-3', `${name} at ${short(node.pid)}: ${v.written.size} chunks held in the state after a step`, at)
      if (v.fs.past instanceof StoredFsPast && v.fs.past.holdsStep) this.fail('STORE-6', `${name} at ${short(node.pid)}: its past holds records after a step`, at)
      if (v.log.held >= v.log.keepLimit) this.fail('STORE-7', `${name} at ${short(node.pid)}: ${v.log.held} log records held in the state after a step (at most ${v.log.keepLimit - 1})`, at)
    }
  }

  /** STORE-4: no plain operations or ledger entries held in a volume's state between steps (the
   *  only copies of entries are the candidate branches of equivocators, not yet accepted). */
  private checkNoPlainOrEntries(node: SimNode, at: TimeMs): void {
    for (const [name, v] of node.state.volumes) {
      const entries = [...v.fotb.written.values()].reduce((n, m) => n + m.size, 0)
      if (v.writtenPlain.size > 0 || entries > 0 || v.fotb.cuts.size > 0) {
        this.fail('STORE-4', `${name} at ${short(node.pid)}: ${v.writtenPlain.size} plain ops, ${entries} entries, ${v.fotb.cuts.size} cuts held in the state after a step`, at)
      }
    }
  }

  /** STORE-5: every accepted entry of every chain is readable from the port, as the entry the
   *  chain's view names, and nothing beyond the chain's head is (a cut dropped the losing branch). */
  checkStoredChains(node: SimNode, at: TimeMs): void {
    for (const [name, v] of node.state.volumes) {
      for (const [author, log] of [...v.fotb.chains].sort(([a], [b]) => (a < b ? -1 : 1))) {
        for (let seq = 1; seq <= log.view.seq; seq++) {
          const e = node.chunks.entry(name, author, seq)
          if (e === undefined || hashAt(node.config.crypto, e) !== log.view.hashes.get(seq - 1)) {
            this.fail('STORE-5', `${name} at ${short(node.pid)}: entry ${short(author)}#${seq} of the accepted chain is ${e === undefined ? 'not in' : 'another one in'} its store`, at)
            break
          }
        }
        if (node.chunks.entry(name, author, log.view.seq + 1) !== undefined) {
          this.fail('STORE-5', `${name} at ${short(node.pid)}: its store holds ${short(author)}#${log.view.seq + 1}, beyond the accepted chain`, at)
        }
      }
      // STORE-7: every record of the log is readable (most of them through the port) at its epoch.
      let unreadable = 0
      for (let e = 1; e <= v.log.length; e++) {
        const rec = v.log.at(e)
        if (rec === undefined) unreadable++
        else if (rec.epoch !== e) {
          this.fail('STORE-7', `${name} at ${short(node.pid)}: the log reads epoch ${rec.epoch} at epoch ${e}`, at)
          break
        }
      }
      if (unreadable > 0) this.fail('STORE-7', `${name} at ${short(node.pid)}: ${unreadable} of ${v.log.length} log records cannot be read back`, at)
      for (const rec of v.log) {
        if (rec.obf !== null && node.chunks.plain(name, rec.obf) === undefined) {
          this.fail('STORE-5', `${name} at ${short(node.pid)}: the plain op of log epoch ${rec.epoch} is not in its store`, at)
          break
        }
      }
    }
  }

  /** STORE-1: every chunk a version of the replica references is in the node's storage port. */
  checkReferencedChunks(node: SimNode, at: TimeMs): void {
    for (const [name, v] of node.state.volumes) {
      let missing = 0
      let first = ''
      for (const ino of v.fs.past.everInodes()) {
        for (const ver of v.fs.past.versions(ino)) {
          for (const [, ref] of ver.blocks) {
            if (node.chunks.hasChunk(name, ref.hash)) continue
            missing++
            first ||= `inode ${ino} epoch ${ver.epoch} chunk ${ref.hash.slice(0, 12)}`
          }
        }
      }
      if (missing > 0) this.fail('STORE-1', `${name} at ${short(node.pid)}: ${missing} referenced chunks not in its store (first: ${first})`, at)
    }
  }

  /** Liveness and end-state checks, after faults stopped and the cluster had time to settle. */
  checkQuiesced(
    cluster: Cluster,
    opts: {
      equalRoots: boolean
      expectRemoved?: readonly { volume: VolumeName; pid: Pid }[]
      mustStay?: readonly { volume: VolumeName; pid: Pid }[]
      /** False when more processes failed than the fault model allows: only safety and audit are checked. */
      liveness?: boolean
      /** Volumes whose liveness is not promised (beyond the fault model), with the reason: only
       *  safety and audit are checked in them. */
      unpromised?: ReadonlyMap<VolumeName, string>
    },
  ): Violation[] {
    const at = cluster.now
    const before = this.violations.length
    const correct = [...cluster.nodes.values()].filter((n) => this.options.correct(n.pid) && n.up && !n.halted)
    for (const n of correct) {
      this.checkReferencedChunks(n, at)
      this.checkStoredChains(n, at)
    }
    for (const n of correct) this.checkOwnChains(n, cluster, at)
    this.checkAcked(cluster, at)
    // FOTB-8 also means: a recovery ends (the own chain resumes) once the members are heard.
    const livenessIn = (name: VolumeName): boolean => opts.liveness !== false && !(opts.unpromised?.has(name) ?? false)
    // The spec promises that end only when every other member echoes: one that is stopped for
    // good, or Byzantine, keeps the node read-only until it is removed (spec/fotb.md
    // "Recovering the own chain", its stated cost); then it is a note, not a violation.
    const running = new Set(correct.map((n) => n.pid))
    for (const n of correct) for (const [name, v] of n.state.volumes) {
      if (!livenessIn(name) || v.fotb.recovering === undefined || !membersOf(v).includes(n.pid)) continue
      const waits = recoveryWaitingFor(v.fotb)
      if (waits.some((p) => running.has(p)) || waits.length === 0) this.fail('FOTB-8', `${name}: ${short(n.pid)} still learns its own chain head after the heal phase (waits for ${waits.map(short).join(', ') || 'nobody'})`, at)
      else this.notes.push(`${name}: FOTB-8 recovery end not checked: ${short(n.pid)} waits for the echo of ${waits.map(short).join(', ')}, stopped for good or Byzantine and not removed`)
    }
    const volumes = new Set<VolumeName>()
    for (const n of correct) for (const name of n.state.volumes.keys()) volumes.add(name)
    for (const name of [...volumes].sort()) {
      // Members that hold the volume: a node that left is no longer served, so it is not held
      // to liveness (its own view may lag behind its removal).
      const holders = correct.filter((n) => {
        const v = n.state.volumes.get(name)
        return v !== undefined && membersOf(v).includes(n.pid) && !askedToLeave(n, v, n.pid)
      })
      if (holders.length === 0) continue
      if (!livenessIn(name)) {
        for (const n of holders) {
          const v = n.state.volumes.get(name)!
          for (const f of verifyNodeVolume(n.config, n.state, name)) this.fail('VOL-8', `${name}: verify at ${short(n.pid)}: ${f.where}: ${f.what}: expected ${f.expected}, found ${f.found}`, at)
          for (const x of [...checkFsInvariants(v.fs), ...checkPermInvariants(v.fs), ...checkRetentionInvariants(v.fs)]) this.fail(x.id, `${name} at ${short(n.pid)}: ${x.message}`, at)
        }
        continue
      }
      // FOTB-5 for every author, Byzantine ones included: what one correct member delivered,
      // every correct member delivered.
      const authors = new Set<Pid>()
      for (const n of holders) for (const a of n.state.volumes.get(name)!.fotb.delivered.keys()) authors.add(a)
      for (const a of [...authors].sort()) {
        const counts = holders.map((n) => n.state.volumes.get(name)!.fotb.delivered.get(a) ?? 0)
        const vs = holders.map((n) => n.state.volumes.get(name)!)
        if (vs.every((v) => v.order !== undefined && v.status.get(a) === 'removed')) {
          // A totb volume's removed author: what the order reached of its chain is what every
          // member must have delivered (spec/totb.md "Membership and committee"); entries past
          // that are outside the order, and fotb stops taking them at the removal.
          const ordered = vs.map((v) => v.order!.orderedSeq.get(a) ?? 0)
          if (new Set(ordered).size > 1 || counts.some((c, i) => c < ordered[i]!)) this.fail('FOTB-5', `${name}: members ordered different prefixes of removed ${short(a)}'s chain: ${holders.map((n, i) => `${short(n.pid)}=${ordered[i]}/${counts[i]}`).join(' ')}`, at)
          continue
        }
        if (new Set(counts).size > 1) this.fail('FOTB-5', `${name}: members delivered different numbers of ${short(a)}'s entries: ${holders.map((n, i) => `${short(n.pid)}=${counts[i]}`).join(' ')}`, at)
      }
      const views = holders.map((n) => membersOf(n.state.volumes.get(name)!).join(','))
      if (new Set(views).size > 1) this.fail('VOL-2', `${name}: member views differ: ${views.map((v) => v.split(',').map(short).join('+')).join(' | ')}`, at)
      for (const n of holders) {
        const v = n.state.volumes.get(name)!
        // FOTB-5: every correct author's whole chain is delivered at every correct member — but
        // for a member that left: what it appends after its removal goes to nobody.
        for (const a of correct) {
          const own = a.state.volumes.get(name)?.fotb.chains.get(a.pid)
          if (!own || v.leaves.has(a.pid) || askedToLeave(a, a.state.volumes.get(name)!, a.pid)) continue
          // A joiner nobody knows (no holder has delivered its join, not even as an applicant)
          // sent its entries only to its contacts, and they stopped for good: the join waits.
          if (holders.every((h) => h.state.volumes.get(name)!.status.get(a.pid) === undefined)) {
            if (n === holders[0]) this.notes.push(`${name}: FOTB-5 not checked for ${short(a.pid)}: no member knows it (a joiner whose contacts stopped for good)`)
            continue
          }
          const got = v.fotb.delivered.get(a.pid) ?? 0
          if (got < own.view.seq) this.fail('FOTB-5', `${name}: ${short(n.pid)} delivered ${got} of ${own.view.seq} entries of correct ${short(a.pid)}`, at)
        }
        // FOTB-6: a proof held by one correct member is held by all.
        for (const m of holders) for (const author of m.state.volumes.get(name)!.fotb.proofs.keys()) {
          if (!v.fotb.proofs.has(author)) this.fail('FOTB-6', `${name}: ${short(n.pid)} lacks the equivocation proof against ${short(author)}`, at)
        }
        const waiting = [...v.queues.values()].reduce((s, q) => s + q.length, 0)
        if (waiting > 0) this.fail('VOL-5', `${name}: ${short(n.pid)} still waits for ${waiting} plain operations`, at)
        for (const f of verifyNodeVolume(n.config, n.state, name)) this.fail('VOL-8', `${name}: verify at ${short(n.pid)}: ${f.where}: ${f.what}: expected ${f.expected}, found ${f.found}`, at)
        for (const x of [...checkFsInvariants(v.fs), ...checkPermInvariants(v.fs), ...checkRetentionInvariants(v.fs)]) this.fail(x.id, `${name} at ${short(n.pid)}: ${x.message}`, at)
        for (const { volume, pid: good } of opts.mustStay ?? []) {
          if (volume !== name || v.status.get(good) !== 'removed' || v.leaves.has(good)) continue
          // A member that lost its tail and regained from the others an own entry whose plain
          // operation nobody else had received withholds it for good: the members cannot tell
          // that loss from withholding and remove it (spec/paciofs.md VOL-11; the loss was
          // reported by its tail witness, never silent).
          const lost = lostPlainOps(cluster, name, good, v)
          if (lost.length > 0) {
            if (n === holders[0]) this.notes.push(`${name}: ${short(good)} removed as a withholder of ${lost.map((s) => `#${s}`).join(', ')}, plain operations lost with its tail before any member held them`)
            continue
          }
          this.fail('VOL-11', `${name}: ${short(n.pid)} removed correct member ${short(good)}`, at)
        }
        for (const { volume, pid: bad } of opts.expectRemoved ?? []) {
          if (volume === name && v.status.get(bad) !== 'removed') this.fail('VOL-10', `${name}: ${short(n.pid)} did not remove ${short(bad)} (${v.status.get(bad) ?? 'unknown'})`, at)
        }
      }
      // VOL-6's stated exception (spec/paciofs.md, remote_get 5): replicas may differ on an op of
      // a removed author that one member obtained just after another gave up on it.
      const skipSets = holders.map((n) => n.state.volumes.get(name)!.skipped.map((x) => `${x.author}/${x.seq}`).sort().join(','))
      const skipsAgree = new Set(skipSets).size <= 1
      if (!skipsAgree) this.notes.push(`${name}: VOL-6 not checked: replicas disagree on a removed author's withheld operation (known limit of fotb)`)
      if (opts.equalRoots && skipsAgree) {
        const roots = holders.map((n) => stateRoot(n.state.volumes.get(name)!.fs))
        if (new Set(roots).size > 1) this.fail('VOL-6', `${name}: state roots differ: ${holders.map((n, i) => `${short(n.pid)}=${roots[i]!.slice(0, 12)}`).join(' ')}`, at)
      }
    }
    return this.violations.slice(before)
  }
}

/** Own entries of `pid` that `viewer` skipped as withheld and that `pid` regained from the
 *  members after losing its tail (its plain operations went with the tail): see VOL-11. */
function lostPlainOps(cluster: Cluster, volume: VolumeName, pid: Pid, viewer: VolumeState): Seq[] {
  const regained = cluster.processesOf(pid).flatMap((p) => p.state.volumes.get(volume)?.fotb.regained ?? [])
  return viewer.skipped.filter((s) => s.author === pid && s.why === 'withheld' && regained.some((r) => s.seq >= r.from && s.seq <= r.to)).map((s) => s.seq)
}
