// The read-only subcommands of `paciofs` (status, members, log, history, cat, verify) as pure
// functions over a snapshot of a node: its config and state plus what its store and restore
// reported. The same code answers for a running node (the node process calls runInspect on its
// live state, through its control socket) and for a stopped one (loadSnapshot reads the data
// directory), so that both give byte-identical answers for equal states.
//
// runInspect only reads the state (the Merkle root cache is the one thing filled in, as the core
// itself does), and it runs synchronously: on a live node it sees the state between two steps,
// never half of one.
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { checkRetentionInvariants, futureTimedChanges, retentionSummary } from '../core/fs/retention-check.ts'
import { createNode, nodeConfig, restoreNode, verifyNodeVolume, type CheckpointUse, type NodeConfig, type NodeRestoreProblem, type NodeState } from '../core/node.ts'
import { opOfRecord, plainReader, type LogRecord, type SkipRecord, type Status, type VolumeState } from '../core/volume/index.ts'
import { recoveryWaitingFor } from '../core/fotb/index.ts'
import { chunkHash } from '../core/fs/content.ts'
import { history } from '../core/fs/history.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import { opPaths, type FsOp } from '../core/fs/ops.ts'
import { parsePath } from '../core/fs/paths.ts'
import type { Errno, FsTime } from '../core/fs/types.ts'
import { currentView, snapshotAt, type FsView } from '../core/fs/view.ts'
import type { ChunkHash, Pid, VolumeName } from '../core/types.ts'
import { MemoryStorage, type ChunkAudit, type Storage } from '../core/storage.ts'
import { chunksSetIn, StoredFsPast } from '../core/volume/past.ts'
import { toHex } from '../core/bytes.ts'
import { loadKey, storePath } from './datadir.ts'
import { nodeCrypto } from './node-crypto.ts'
import { RecordStore, type StoreProblem } from './store.ts'

/** The node's stored chunks as inspect reads them: the storage port plus totals and an audit
 *  read (runtime/store.ts RecordStore; core/storage.ts MemoryStorage in tests). */
export interface SnapshotChunks extends Storage {
  chunkStats(volume: VolumeName): { readonly chunks: number; readonly bytes: number }
  /** How many plain operations of the volume the store holds (status). */
  plainCount(volume: VolumeName): number
  /** Reads the chunk as stored (no cache) and checks its hash. */
  auditChunk(volume: VolumeName, hash: ChunkHash): ChunkAudit
  /** Runs `fn` with its reads kept out of the store's caches (runtime/store.ts RecordStore). */
  passThrough?<T>(fn: () => T, opts?: { readonly chunks?: boolean }): T
  /** What the port read since the store was opened (runtime/store.ts ChunkCounters). */
  readonly counters?: { readonly reads: number; readonly cacheHits: number; readonly bytesRead: number; readonly damaged: number }
}

export interface NodeSnapshot {
  readonly config: NodeConfig
  readonly state: NodeState
  /** The node's chunk store (live: the running node's; offline: its data dir's, open while the
   *  command runs). */
  readonly chunks: SnapshotChunks
  /** damaged batches the store reported (RecordStore.loadAll problems); [] for a live node */
  readonly storeProblems: readonly StoreProblem[]
  /** problems restoreNode reported; [] for a live node */
  readonly restoreProblems: readonly NodeRestoreProblem[]
  /** The checkpoint the (last) restore used per volume and the ones it skipped (spec/checkpoint.md). */
  readonly restoredFrom: ReadonlyMap<VolumeName, CheckpointUse>
  /** 'live' when answered by the running node, 'offline' when loaded from a stopped node's data dir */
  readonly source: 'live' | 'offline'
  /** A running node's verify (runtime/live-verify.ts): the snapshot is what its disk rebuilds;
   *  `findings` where that differs from its memory, `note` what was read from disk. */
  readonly disk?: { readonly findings: readonly DiskFinding[]; readonly note: string }
}

/** A finding of the live disk check (volume null: the store as a whole). */
export interface DiskFinding {
  readonly volume: string | null
  readonly where: string
  readonly what: string
  readonly expected: string
  readonly found: string
}

export type InspectCommand = 'status' | 'members' | 'log' | 'history' | 'cat' | 'verify'
export const INSPECT_COMMANDS: readonly InspectCommand[] = ['status', 'members', 'log', 'history', 'cat', 'verify']

export interface CommandOutput {
  readonly exitCode: 0 | 1 | 2
  readonly stdout: Uint8Array | string
  readonly stderr: string
}

const NODE_NOTE = `The node is the one of --data <dir> (default: $PACIOFS_HOME, else ~/.paciofs): a running
node answers itself, a stopped one is read from its data directory.`

const VOLUME_OPTION = `  --volume <name>   the volume (default: the node's only volume)`
const JSON_OPTION = `  --json            print one JSON object instead of text`
const HELP_OPTION = `  -h, --help        show this help`

export const INSPECT_USAGE: Record<InspectCommand, string> = {
  status: `usage: paciofs status [--volume <name>] [--json]

Shows the node and, for each of its volumes (or the one named), this node's status in it, the
member count, the epoch and state root of its replica, its ledger position, the entries delivered
per author, the remote_gets still waiting for a plain operation, and the node's counters.

options:
  --volume <name>   only this volume (default: every volume)
${JSON_OPTION}
${HELP_OPTION}

${NODE_NOTE}
exit status: 0
`,
  members: `usage: paciofs members [--volume <name>] [--json]

Lists every process the volume knows: its pid, its status (member, applicant, removed, with the
reasons of the kick votes against it) and which one is this node.

options:
${VOLUME_OPTION}
${JSON_OPTION}
${HELP_OPTION}

${NODE_NOTE}
exit status: 0 listed, 1 no such volume, 2 bad usage
`,
  log: `usage: paciofs log [<path>] [--volume <name>] [--json]

Lists the volume's log: one line per applied operation (epoch, author node, ledger seq, kind,
the caller's uid/gid and, in client/server mode, the client node's key, result: ok or the errno
it gave here, the paths it named), then the delivered operations
that were not applied (skipped: withheld or invalid). With a path: only the operations that named
that path or something below it, and renames of a directory above it.

options:
${VOLUME_OPTION}
${JSON_OPTION}
${HELP_OPTION}

${NODE_NOTE}
exit status: 0 listed, 1 no such volume, 2 bad usage
`,
  history: `usage: paciofs history <path> [--volume <name>] [--json]

Lists every version the path has had, oldest first: the epoch, the author node, who made it (the
caller's uid and gid, and the client node's key in client/server mode), the operation, kind,
size, mode, owner, mtime and the content hash; 'deleted' where the path stopped existing.

options:
${VOLUME_OPTION}
${JSON_OPTION}
${HELP_OPTION}

${NODE_NOTE}
exit status: 0 listed, 1 the path never existed (or no such volume), 2 bad usage
`,
  cat: `usage: paciofs cat <path> [--at <epoch>] [--volume <name>]

Writes the content of a regular file to stdout: as it is now, or with --at as it was right after
the operation of that epoch (see paciofs log). Every chunk read is checked against its hash.

options:
  --at <epoch>      the epoch to read at (0 .. the volume's current epoch)
${VOLUME_OPTION}
${HELP_OPTION}

${NODE_NOTE}
exit status: 0 written, 1 no such file at that epoch, not a regular file, epoch out of range,
a chunk missing or damaged (or no such volume), 2 bad usage
`,
  verify: `usage: paciofs verify [--volume <name>] [--json]

Audits the node: re-validates every author's ledger from its seals, checks every log record
against its ledger entry and plain operation, replays the log from an empty file system and
compares the result with the replica, tree and history; checks that every chunk hashes to its
name; and reports every damaged store batch and every record the node could not restore from.
Prints one line per finding, then a summary.

options:
  --volume <name>   only this volume (default: every volume)
${JSON_OPTION}
${HELP_OPTION}

${NODE_NOTE}
exit status: 0 clean, 1 at least one finding, 2 bad usage
`,
}

/** Bad usage: exit 2 with the message and the usage. */
class UsageError extends Error {}
/** The command ran but cannot answer (no such volume, path, epoch): exit 1 with the message. */
class Failure extends Error {}

export function runInspect(command: InspectCommand, argv: readonly string[], snap: NodeSnapshot): CommandOutput {
  try {
    switch (command) {
      case 'status':
        return status(argv, snap)
      case 'members':
        return members(argv, snap)
      case 'log':
        return log(argv, snap)
      case 'history':
        return historyCommand(argv, snap)
      case 'cat':
        return cat(argv, snap)
      case 'verify':
        return verify(argv, snap)
    }
  } catch (e) {
    if (e instanceof UsageError || isParseArgsError(e)) {
      return { exitCode: 2, stdout: '', stderr: `paciofs ${command}: ${(e as Error).message}\n\n${INSPECT_USAGE[command]}` }
    }
    if (e instanceof Failure) return { exitCode: 1, stdout: '', stderr: `paciofs ${command}: ${e.message}\n` }
    throw e
  }
}

function isParseArgsError(e: unknown): boolean {
  return e instanceof TypeError && 'code' in e && String((e as { code: unknown }).code).startsWith('ERR_PARSE_ARGS')
}

// ---------------------------------------------------------------------------------------------
// Arguments

interface Args {
  readonly help: boolean
  readonly volume: string | undefined
  readonly json: boolean
  readonly at: string | undefined
  readonly positionals: string[]
}

function parse(argv: readonly string[], opts: { json: boolean; at: boolean; positionals: readonly [min: number, max: number]; names: string }): Args {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      volume: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      ...(opts.json ? { json: { type: 'boolean' as const } } : {}),
      ...(opts.at ? { at: { type: 'string' as const } } : {}),
    },
  })
  const v = values as { volume?: string; help?: boolean; json?: boolean; at?: string }
  const args: Args = { help: v.help === true, volume: v.volume, json: v.json === true, at: v.at, positionals }
  if (args.help) return args
  const [min, max] = opts.positionals
  if (positionals.length > max) throw new UsageError(`unexpected argument '${positionals[max]}'`)
  if (positionals.length < min) throw new UsageError(`missing ${opts.names}`)
  return args
}

const help = (command: InspectCommand): CommandOutput => ({ exitCode: 0, stdout: INSPECT_USAGE[command], stderr: '' })
const ok = (stdout: string): CommandOutput => ({ exitCode: 0, stdout, stderr: '' })
const json = (value: unknown): string => `${JSON.stringify(value)}\n`

function volumeNames(snap: NodeSnapshot): VolumeName[] {
  return [...snap.state.volumes.keys()].sort()
}

function listed(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(', ')
}

/** The named volume, or the node's only one. */
function oneVolume(snap: NodeSnapshot, name: string | undefined): VolumeState {
  if (name !== undefined) return namedVolume(snap, name)
  const names = volumeNames(snap)
  // No --volume could help a node without volumes: that is a state, not a usage mistake.
  if (names.length === 0) throw new Failure(`node ${snap.state.me} holds no volume yet`)
  if (names.length > 1) throw new UsageError(`the node holds ${names.length} volumes (${listed(names)}); name one with --volume <name>`)
  return snap.state.volumes.get(names[0]!)!
}

function namedVolume(snap: NodeSnapshot, name: string): VolumeState {
  const v = snap.state.volumes.get(name as VolumeName)
  if (v === undefined) throw new Failure(`node ${snap.state.me} has no volume '${name}'; its volumes: ${listed(volumeNames(snap))}`)
  return v
}

/** The named volume, or all of them (status, verify). */
function someVolumes(snap: NodeSnapshot, name: string | undefined): VolumeState[] {
  if (name !== undefined) return [namedVolume(snap, name)]
  return volumeNames(snap).map((n) => snap.state.volumes.get(n)!)
}

/** A path as the user typed it, normalized the way the file system names it (no trailing '/'). */
function userPath(text: string): { path: string; names: string[] } {
  const path = text.length > 1 ? text.replace(/\/+$/, '') || '/' : text
  const parsed = parsePath(path)
  if (!parsed.ok) throw new Failure(`'${text}' is not a valid path in a volume (${pathErrno(parsed.errno)})`)
  return { path, names: parsed.names }
}

function pathErrno(errno: Errno): string {
  switch (errno) {
    case 'EINVAL':
      return 'a path starts with / and has no empty, "." or ".." names'
    case 'ENAMETOOLONG':
      return 'the path or one of its names is too long'
    default:
      return errno
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** The pid prefix used in every per-record line (as core/verify.ts names authors). */
const short = (pid: string): string => (pid === '' ? '(base)' : pid.slice(0, 12))

const mapObject = (m: ReadonlyMap<string, number>): Record<string, number> =>
  Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

const octal = (mode: number): string => mode.toString(8).padStart(6, '0')

/** An FsTime as UTC ISO 8601 with nanoseconds; the raw numbers where Date cannot show it. */
function formatTime(t: FsTime): string {
  const frac = String(t.nsec).padStart(9, '0')
  const ms = t.sec * 1000
  if (!Number.isSafeInteger(ms) || Math.abs(ms) > 8.64e15) return `${t.sec}.${frac}s`
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`)
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = []
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n').join('')
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

// ---------------------------------------------------------------------------------------------
// status

/** A node that holds a volume without a status in it has asked to join and its join is not yet
 *  delivered: it is an applicant as far as anyone can tell. */
function myStatus(v: VolumeState): Status {
  return v.status.get(v.me) ?? 'applicant'
}

function countStatus(v: VolumeState, s: Status): number {
  let n = 0
  for (const x of v.status.values()) if (x === s) n++
  return n
}

function pendingGets(v: VolumeState): { author: Pid; waiting: number; headSeq: number; attempts: number; asked: Pid | null }[] {
  return [...v.queues]
    .filter(([, q]) => q.length > 0)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([author, q]) => ({ author, waiting: q.length, headSeq: q[0]!.seq, attempts: q[0]!.attempt, asked: q[0]!.asked }))
}

function status(argv: readonly string[], snap: NodeSnapshot): CommandOutput {
  const a = parse(argv, { json: true, at: false, positionals: [0, 0], names: '' })
  if (a.help) return help('status')
  const vols = someVolumes(snap, a.volume).map((v) => {
    const delivered = [...v.fotb.delivered].sort(([x], [y]) => (x < y ? -1 : 1))
    return {
      name: v.genesis.name,
      policy: v.genesis.policy,
      // spec/paciofs.md "Admission": a v1 genesis has no admission field (each node's old rule).
      admission: v.genesis.admission ?? 'v1',
      order: v.genesis.order ?? 'fotb',
      ...(v.order !== undefined ? { totb: { epoch: v.order.totb.epoch, round: v.order.totb.ownRound, position: v.order.totb.position, waiting: v.order.queue.length } } : {}),
      refusals: Object.fromEntries([...v.refusals].sort(([x], [y]) => (x < y ? -1 : 1))),
      myStatus: myStatus(v),
      members: countStatus(v, 'member'),
      applicants: countStatus(v, 'applicant'),
      removed: countStatus(v, 'removed'),
      epoch: v.fs.epoch,
      stateRoot: stateRoot(v.fs),
      lastCheckpoint: v.lastCheckpoint,
      restoredFrom: snap.restoredFrom.get(v.genesis.name) ?? null,
      ledger: {
        ownSeq: v.fotb.own.seq,
        ownSealedSeq: v.fotb.own.sealedSeq,
        delivered: Object.fromEntries(delivered),
        equivocators: [...v.fotb.proofs.keys()].sort(),
        // After a lost tail (spec/fotb.md): the own chain resumes once these members are heard.
        recovering: v.fotb.recovering === undefined ? null : { fromSeq: v.fotb.recovering.from, waitingFor: recoveryWaitingFor(v.fotb) },
      },
      pendingGets: pendingGets(v),
      logRecords: v.log.length,
      skipped: v.skipped.length,
      plainOps: snap.chunks.plainCount(v.genesis.name),
      chunks: snap.chunks.chunkStats(v.genesis.name).chunks,
      stats: { volume: mapObject(v.stats), fotb: mapObject(v.fotb.stats) },
    }
  })
  const body = {
    node: snap.state.me,
    source: snap.source,
    volumes: vols,
    stats: mapObject(snap.state.stats),
    chunkReads: snap.chunks.counters ?? null,
    storeProblems: snap.storeProblems.length,
    restoreProblems: snap.restoreProblems.length,
  }
  if (a.json) return ok(json(body))
  const lines: string[] = [`node ${body.node} (${snap.source === 'live' ? 'live: answered by the running node' : 'offline: read from its data directory'})`]
  if (body.storeProblems + body.restoreProblems > 0) {
    lines.push(`  damaged: ${plural(body.storeProblems, 'store batch', 'store batches')}, ${plural(body.restoreProblems, 'record')} not restored; run paciofs verify`)
  }
  const counters = (m: Record<string, number>): string => Object.entries(m).map(([k, n]) => `${k}=${n}`).join(' ') || 'none'
  lines.push(`  node counters: ${counters(body.stats)}`)
  const cr = body.chunkReads
  if (cr !== null) lines.push(`  chunk reads since start: ${cr.reads} (${cr.cacheHits} from memory, ${cr.bytesRead} bytes from disk), ${cr.damaged} damaged`)
  if (vols.length === 0) lines.push('no volumes')
  for (const v of vols) {
    lines.push(`volume ${v.name} (policy ${v.policy}): this node is ${v.myStatus === 'member' ? 'a member' : v.myStatus === 'applicant' ? 'an applicant' : 'removed'}; ${plural(v.members, 'member')}, ${plural(v.applicants, 'applicant')}, ${v.removed} removed`)
    lines.push(`  admission: ${v.admission === 'v1' ? 'as before admission was a volume parameter (v1 genesis): every applicant unless a node has --admit; invites and admits count too' : v.admission === 'open' ? 'open: every applicant' : 'closed: invited or admitted applicants only'}`)
    lines.push(`  order: ${v.order === 'totb' ? `totb: one total order at every member (epoch ${v.totb?.epoch}, position ${v.totb?.position}, ${v.totb?.waiting} ordered op(s) not applied yet)` : 'fotb: each author\'s operations in its order'}`)
    const refused = Object.entries(v.refusals)
    if (refused.length > 0) lines.push(`  applicants this node refused to vote for: ${refused.map(([p, why]) => `${short(p)} (${why})`).join(', ')}`)
    lines.push(`  epoch ${v.epoch}, state root ${v.stateRoot}`)
    const from = v.restoredFrom
    const skipped = from === null || from.rejected.length === 0 ? '' : `; skipped ${from.rejected.map((r) => `${r.epoch ?? '?'} (${r.why})`).join(', ')}`
    const image = from === null || from.used === null ? '' : from.image === 'used' ? `, replica from its tree image (log replayed after epoch ${from.used})` : from.image === 'none' ? ', no tree image of that epoch (log replayed from epoch 1)' : `, tree image rejected: ${from.image.rejected} (log replayed from epoch 1)`
    const tail = from === null || from.used === null ? '' : from.tail ? '; read only the records after it' : `; read every record${from.fullBecause !== undefined ? ` (not from its tail: ${from.fullBecause})` : ''}`
    lines.push(`  checkpoint: last written at epoch ${v.lastCheckpoint || 'none'}; ${from === null ? 'not restarted' : from.used === null ? 'restored from genesis (every signature checked)' : `restored from the one at epoch ${from.used}`}${image}${tail}${skipped}`)
    const delivered = Object.entries(v.ledger.delivered).map(([p, s]) => `${short(p)} ${s}`).join(', ') || 'none'
    lines.push(`  ledger: own seq ${v.ledger.ownSeq} (sealed ${v.ledger.ownSealedSeq}); delivered per author: ${delivered}`)
    if (v.ledger.equivocators.length > 0) lines.push(`  equivocation proofs against: ${v.ledger.equivocators.map(short).join(', ')}`)
    const rec = v.ledger.recovering
    if (rec !== null) lines.push(`  recovering the own chain after a lost tail (from seq ${rec.fromSeq}): read-only until ${rec.waitingFor.length === 0 ? 'the next echo' : `${rec.waitingFor.map(short).join(', ')} echo(es) it`}`)
    const waiting = v.pendingGets.reduce((n, p) => n + p.waiting, 0)
    lines.push(
      `  pending remote gets: ${waiting === 0 ? 'none' : `${waiting} (${v.pendingGets.map((p) => `${short(p.author)}: ${p.waiting} from seq ${p.headSeq}, attempt ${p.attempts}${p.asked ? `, asked ${short(p.asked)}` : ''}`).join('; ')})`}`,
    )
    lines.push(`  log ${plural(v.logRecords, 'record')}, ${v.skipped} skipped, ${plural(v.plainOps, 'plain op')}, ${plural(v.chunks, 'chunk')}`)
    lines.push(`  volume counters: ${counters(v.stats.volume)}`)
    lines.push(`  fotb counters: ${counters(v.stats.fotb)}`)
  }
  return ok(lines.join('\n') + '\n')
}

// ---------------------------------------------------------------------------------------------
// members

function members(argv: readonly string[], snap: NodeSnapshot): CommandOutput {
  const a = parse(argv, { json: true, at: false, positionals: [0, 0], names: '' })
  if (a.help) return help('members')
  const v = oneVolume(snap, a.volume)
  // Kick reasons are only in the delivered vote entries; the status map does not keep them.
  const reasons = new Map<Pid, Set<string>>()
  for (const e of v.memberEvents) {
    if (e.payload.type !== 'vote-kick') continue
    let set = reasons.get(e.payload.target)
    if (!set) reasons.set(e.payload.target, (set = new Set()))
    set.add(e.payload.reason)
  }
  const pids = new Set<Pid>(v.status.keys())
  pids.add(v.me)
  const memberSet = new Set([...v.status].filter(([, s]) => s === 'member').map(([p]) => p))
  const countFrom = (voters: ReadonlySet<Pid> | undefined): number => [...(voters ?? [])].filter((p) => memberSet.has(p)).length
  const list = [...pids].sort().map((pid) => ({
    pid,
    status: pid === v.me ? myStatus(v) : v.status.get(pid)!,
    me: pid === v.me,
    founder: v.genesis.founders.includes(pid),
    kickReasons: [...(reasons.get(pid) ?? [])].sort(),
    kickVotes: countFrom(v.kickVotes.get(pid)),
    acceptVotes: countFrom(v.acceptVotes.get(pid)),
    equivocated: v.fotb.proofs.has(pid),
    refused: v.refusals.get(pid) ?? null,
    admittedBy: v.memberEvents.filter((e) => e.payload.type === 'admit' && e.payload.target === pid).map((e) => e.author).sort(),
  }))
  if (a.json) return ok(json({ volume: v.genesis.name, members: list }))
  const rows = list.map((m) => {
    const notes: string[] = []
    if (m.status === 'removed') notes.push(m.kickReasons.length > 0 ? `kicked: ${m.kickReasons.join(', ')}` : 'kick reason not known here')
    else if (m.status === 'member' && m.kickVotes > 0) notes.push(`${plural(m.kickVotes, 'kick vote')} (${m.kickReasons.join(', ')})`)
    if (m.status === 'applicant') notes.push(`${plural(m.acceptVotes, 'accept vote')}`)
    if (m.status === 'applicant' && m.refused !== null) notes.push(`this node refused: ${m.refused}`)
    if (m.admittedBy.length > 0) notes.push(`admitted by ${m.admittedBy.map(short).join(', ')}`)
    if (m.equivocated) notes.push('equivocation proof held')
    if (m.founder) notes.push('founder')
    if (m.me) notes.push('this node')
    return [m.pid, m.status, notes.join('; ')]
  })
  return ok(`volume ${v.genesis.name}: ${plural(list.length, 'known process', 'known processes')}\n${table(rows)}`)
}

// ---------------------------------------------------------------------------------------------
// log

/** Whether an op touched the path `target` (its names): it names the path itself or something
 *  below it (which changes the directory's entries or what lies under it), or it renames a
 *  directory above it (which moves it). */
function touches(op: FsOp, target: readonly string[]): boolean {
  return opPaths(op).some((p) => {
    const parsed = parsePath(p)
    if (!parsed.ok) return false
    const names = parsed.names
    const prefix = (a: readonly string[], b: readonly string[]): boolean => a.length <= b.length && a.every((n, i) => n === b[i])
    return prefix(target, names) || (op.type === 'rename' && prefix(names, target))
  })
}

function log(argv: readonly string[], snap: NodeSnapshot): CommandOutput {
  const a = parse(argv, { json: true, at: false, positionals: [0, 1], names: '' })
  if (a.help) return help('log')
  const v = oneVolume(snap, a.volume)
  const target = a.positionals[0] === undefined ? undefined : userPath(a.positionals[0])
  let unknown = 0
  const records: ReturnType<typeof logLine>[] = []
  const plain = plainReader(v, snap.config.crypto, snap.chunks)
  for (const rec of v.log) {
    const op = opOfRecord(plain, rec)
    if (target !== undefined) {
      if (op === undefined) {
        unknown++
        continue
      }
      if (!touches(op, target.names)) continue
    }
    records.push(logLine(v, rec, op))
  }
  // Skipped ops have no plain operation here (withheld, or invalid bytes): no path to filter by.
  const skipped = target === undefined ? v.skipped.map(skipLine) : []
  if (a.json) {
    return ok(json({ volume: v.genesis.name, path: target?.path ?? null, records, skipped, ...(target !== undefined ? { unknownOps: unknown } : {}) }))
  }
  const head = `volume ${v.genesis.name}: ${target ? `${plural(records.length, 'log record')} touching ${target.path}` : `${plural(records.length, 'log record')}, ${skipped.length} skipped`}`
  const rows = records.map((r) => [
    `epoch ${r.epoch}`,
    short(r.author),
    r.seq === null ? 'local' : `seq ${r.seq}`,
    r.kind,
    r.uid === null ? 'uid ? gid ?' : `uid ${r.uid} gid ${r.gid}${r.client ? ` client ${short(r.client)}` : ''}`,
    r.result,
    r.paths === null ? '(plain operation missing)' : r.paths.join(' -> '),
  ])
  let text = `${head}\n${table(rows)}`
  if (skipped.length > 0) {
    text += table(skipped.map((s) => [`skipped after epoch ${s.atEpoch}`, short(s.author), `seq ${s.seq}`, s.why, `obf ${s.obf}`]))
  }
  if (unknown > 0) text += `note: ${plural(unknown, 'record')} not shown: the plain operation is missing here, so its paths are unknown (run paciofs verify)\n`
  return ok(text)
}

function logLine(v: VolumeState, rec: LogRecord, op: FsOp | undefined) {
  // The replica's own op line holds the caller's credentials, also for records whose plain
  // operation went missing.
  const line = v.fs.past.logLine(rec.epoch)
  const cred = line ? { uid: line.uid, gid: line.gid, groups: line.groups } : op ? op.cred : null
  const client = line ? line.client : op?.client
  return {
    epoch: rec.epoch,
    author: rec.author,
    seq: rec.seq,
    txid: rec.txid,
    obf: rec.obf,
    kind: rec.kind,
    uid: cred?.uid ?? null,
    gid: cred?.gid ?? null,
    groups: cred?.groups ?? [],
    /** In client/server mode: the key of the client the op was made for. */
    client: client ?? null,
    result: rec.result,
    paths: op ? opPaths(op) : null,
  }
}

function skipLine(s: SkipRecord) {
  return { atEpoch: s.atEpoch, author: s.author, seq: s.seq, obf: s.obf, why: s.why }
}

// ---------------------------------------------------------------------------------------------
// history

function historyCommand(argv: readonly string[], snap: NodeSnapshot): CommandOutput {
  const a = parse(argv, { json: true, at: false, positionals: [1, 1], names: 'the path: paciofs history <path>' })
  if (a.help) return help('history')
  const v = oneVolume(snap, a.volume)
  const { path } = userPath(a.positionals[0]!)
  const h = history(v.fs, path)
  if (!h.ok) throw new Failure(`${path}: ${h.errno}`)
  if (h.value.length === 0) throw new Failure(`${path}: no such file or directory in volume ${v.genesis.name}, at any epoch (ENOENT)`)
  const versions = h.value.map((e) => ({
    epoch: e.epoch,
    author: e.author,
    op: e.op,
    cred: e.cred,
    client: e.client ?? null,
    ino: e.ino,
    kind: e.kind,
    size: e.size,
    contentHash: e.contentHash,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
  }))
  if (a.json) return ok(json({ volume: v.genesis.name, path, versions }))
  const rows = versions.map((e) =>
    e.kind === 'deleted'
      ? [`epoch ${e.epoch}`, short(e.author), byWhom(e.cred, e.client), e.op, 'deleted', '', '', '', '', '']
      : [
          `epoch ${e.epoch}`,
          short(e.author),
          byWhom(e.cred, e.client),
          e.op,
          e.kind,
          `size ${e.size}`,
          `mode ${octal(e.mode)}`,
          `owner ${e.uid}:${e.gid}`,
          `mtime ${e.mtime ? formatTime(e.mtime) : '-'}`,
          `content ${e.contentHash}`,
        ],
  )
  return ok(`${path} in volume ${v.genesis.name}: ${plural(versions.length, 'version')}\n${table(rows)}`)
}

/** Who made a version: the caller's uid and gid (and, in client/server mode, the client's key). */
function byWhom(cred: { readonly uid: number; readonly gid: number }, client?: string | null): string {
  return `by uid ${cred.uid} gid ${cred.gid}${client ? ` client ${short(client)}` : ''}`
}

// ---------------------------------------------------------------------------------------------
// cat

/** Largest file cat returns in one buffer (stdout is one Uint8Array). */
const CAT_MAX_BYTES = 2 ** 31 - 1

function cat(argv: readonly string[], snap: NodeSnapshot): CommandOutput {
  const a = parse(argv, { json: false, at: true, positionals: [1, 1], names: 'the path: paciofs cat <path>' })
  if (a.help) return help('cat')
  let at: number | undefined
  if (a.at !== undefined) {
    if (!/^\d+$/.test(a.at)) throw new UsageError(`--at wants an epoch, a whole number, not '${a.at}'`)
    at = Number(a.at)
  }
  const v = oneVolume(snap, a.volume)
  const { path } = userPath(a.positionals[0]!)
  if (at !== undefined && (at < v.fs.baseEpoch || at > v.fs.epoch)) {
    throw new Failure(`epoch ${a.at} is out of range: volume ${v.genesis.name} has epochs ${v.fs.baseEpoch}..${v.fs.epoch}`)
  }
  const view: FsView = at === undefined ? currentView(v.fs) : snapshotAt(v.fs, at)
  const when = at === undefined ? '' : ` at epoch ${at}`
  const attr = view.getattr(path)
  if (!attr.ok) {
    const why = attr.errno === 'ENOENT' ? 'no such file' : attr.errno === 'ENOTDIR' ? 'a component of the path is not a directory' : attr.errno
    throw new Failure(`${path}: ${why}${when} in volume ${v.genesis.name} (${attr.errno})`)
  }
  if (attr.value.kind === 'dir') throw new Failure(`${path}: is a directory${when} (EISDIR)`)
  if (attr.value.kind === 'symlink') {
    const target = view.readlink(path)
    throw new Failure(`${path}: is a symbolic link${when}${target.ok ? ` to ${target.value}` : ''}; cat its target`)
  }
  if (attr.value.kind !== 'file') throw new Failure(`${path}: is a ${attr.value.kind}${when}; only regular files have content`)
  if (attr.value.size > CAT_MAX_BYTES) throw new Failure(`${path}: ${attr.value.size} bytes${when}, more than cat returns at once (${CAT_MAX_BYTES})`)
  // A chunk that does not hash to its name is refused like a missing one: cat never hands out
  // bytes the log does not vouch for.
  let bad: { hash: ChunkHash; problem: string } | undefined
  const reader = (h: ChunkHash): Uint8Array | undefined => {
    const data = snap.chunks.chunk(v.genesis.name, h)
    if (data === undefined) {
      const audit = snap.chunks.auditChunk(v.genesis.name, h)
      bad ??= { hash: h, problem: audit.ok ? 'is unreadable' : audit.problem }
    }
    else if (chunkHash(snap.config.crypto, data) !== h) bad ??= { hash: h, problem: 'does not hash to its name (damaged)' }
    else return data
    return undefined
  }
  const r = view.readInode(reader, attr.value.ino, 0, attr.value.size)
  if (!r.ok) {
    if (bad) throw new Failure(`${path}${when}: chunk ${bad.hash} ${bad.problem}; run paciofs verify`)
    throw new Failure(`${path}${when}: ${r.errno}`)
  }
  return { exitCode: 0, stdout: r.value, stderr: '' }
}

// ---------------------------------------------------------------------------------------------
// verify

interface Finding {
  /** null for a store batch: it is not known which volume its records belonged to */
  readonly volume: string | null
  readonly where: string
  readonly what: string
  readonly expected: string
  readonly found: string
}

function verify(argv: readonly string[], snap: NodeSnapshot): CommandOutput {
  const a = parse(argv, { json: true, at: false, positionals: [0, 0], names: '' })
  if (a.help) return help('verify')
  const vols = someVolumes(snap, a.volume)
  const findings: Finding[] = []
  for (const p of snap.storeProblems) {
    if (p.tail) findings.push({ volume: null, where: `store ${p.key}`, what: 'lost tail (RT-9)', expected: 'every batch the tail witness vouches for', found: p.problem })
    else findings.push({ volume: null, where: `store batch ${p.key}`, what: 'damaged batch', expected: 'an intact batch, in sequence, matching its checksum', found: p.problem })
  }
  // Restore problems of other volumes belong to those volumes' verify; those of a volume the node
  // does not hold (no genesis, unreadable records) to every verify, since no --volume names them.
  const chosen = new Set<string>(vols.map((v) => v.genesis.name))
  for (const p of snap.restoreProblems) {
    const known = snap.state.volumes.has(p.volume as VolumeName)
    if (known && !chosen.has(p.volume)) continue
    findings.push({ volume: known ? p.volume : null, where: known ? `restore ${p.record}` : `restore ${p.volume}/${p.record}`, what: 'record not restored', expected: 'a record the node can rebuild from', found: p.problem })
  }
  for (const f of snap.disk?.findings ?? []) if (f.volume === null || chosen.has(f.volume)) findings.push(f)
  const summaries = vols.map((v) => {
    const name = v.genesis.name
    let ledgerEntries = 0
    for (const c of v.fotb.chains.values()) ledgerEntries += c.view.seq
    try {
      // Every entry, plain operation and live chunk is read once: none is kept in the store's
      // caches (they would only hold 16 + 64 MiB of what is not read again).
      const audit = (): ReturnType<typeof verifyNodeVolume> => verifyNodeVolume(snap.config, snap.state, name)
      const volumeFindings = snap.chunks.passThrough !== undefined ? snap.chunks.passThrough(audit, { chunks: true }) : audit()
      for (const f of volumeFindings) findings.push({ volume: name, ...f })
    } catch (e) {
      // verify trusts nothing it reads, but tampered state may still trip an assertion deeper in
      // the core; that is a failed audit, never a clean one.
      findings.push({ volume: name, where: 'audit', what: 'verify could not complete', expected: 'a completed audit', found: (e as Error).message })
    }
    // Every chunk any version references is read as stored and hashed, one at a time (bounded
    // memory: one chunk and the recent hashes, referencedChunks).
    let chunkBytes = 0
    let chunkCount = 0
    for (const h of referencedChunks(v)) {
      const audit = snap.chunks.auditChunk(name, h)
      chunkCount++
      if (audit.ok) chunkBytes += audit.bytes
      else if (audit.actual !== undefined) findings.push({ volume: name, where: `chunk ${h}`, what: 'chunk does not hash to its name', expected: h, found: audit.actual })
      else findings.push({ volume: name, where: `chunk ${h}`, what: 'chunk as stored', expected: 'present, hashing to its name', found: audit.problem })
    }
    // Retention (spec/fs.md "Retention and legal hold"): the state now, and FS-14/FS-15 over the
    // replica's whole past: a change of a retained or held object, or a shortened period.
    for (const x of checkRetentionInvariants(v.fs)) findings.push({ volume: name, where: 'retention', what: x.id, expected: 'no change of a retained or held object, no shortened period', found: x.message })
    const ms = Date.now()
    // A claimed op time more than 10 minutes ahead of this clock (more than any sane skew).
    for (const x of futureTimedChanges(v.fs, { sec: Math.floor(ms / 1000), nsec: 0 }, 600)) findings.push({ volume: name, where: 'retention', what: 'claimed time in the future', expected: 'op times not later than the auditor\'s clock', found: x.message })
    const retention = retentionSummary(v.fs, { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 })
    // Only a volume that uses retention gets the field (the JSON of the others stays as it was).
    const used = retention.mode !== null || retention.retained + retention.held + retention.expired + retention.open > 0
    return { name, ledgerEntries, opsReplayed: v.log.length, chunks: chunkCount, chunkBytes, findings: 0, ...(used ? { retention } : {}) }
  })
  for (const s of summaries) s.findings = findings.filter((f) => f.volume === s.name).length
  const counts = {
    volumes: summaries.length,
    ledgerEntries: summaries.reduce((n, s) => n + s.ledgerEntries, 0),
    opsReplayed: summaries.reduce((n, s) => n + s.opsReplayed, 0),
    chunks: summaries.reduce((n, s) => n + s.chunks, 0),
    chunkBytes: summaries.reduce((n, s) => n + s.chunkBytes, 0),
    storeProblems: snap.storeProblems.length,
    restoreProblems: snap.restoreProblems.length,
    findings: findings.length,
  }
  const clean = findings.length === 0
  const exitCode = clean ? 0 : 1
  const checked = snap.disk?.note ?? (snap.source === 'offline' ? 'read from disk: the stopped node\'s data directory' : 'checked the node\'s memory only')
  if (a.json) return { exitCode, stdout: json({ clean, node: snap.state.me, source: snap.source, checked, findings, volumes: summaries, counts }), stderr: '' }
  const lines = findings.map((f) => `FINDING ${f.volume === null ? '' : `${f.volume}:`}${f.where}: ${f.what}: expected ${f.expected}, found ${f.found}`)
  lines.push(
    `verify: ${clean ? 'clean' : 'FAILED'}: ${plural(counts.volumes, 'volume')} (${listed(summaries.map((s) => s.name))}), ` +
      `${plural(counts.ledgerEntries, 'ledger entry', 'ledger entries')} checked, ${plural(counts.opsReplayed, 'op')} replayed, ` +
      `${plural(counts.chunks, 'chunk')} (${plural(counts.chunkBytes, 'byte')}) hashed, ${plural(counts.findings, 'finding')}`,
  )
  for (const s of summaries) {
    const r = s.retention
    if (r === undefined) continue
    lines.splice(lines.length - 1, 0, `verify: retention ${s.name}: ${r.mode ?? 'no mode set'}${r.defaultSec > 0 ? `, default ${r.defaultSec} s` : ''}${r.governors > 0 ? `, ${plural(r.governors, 'governor')}` : ''}; ` +
      `${r.retained} retained${r.latestUntilSec !== null ? ` (latest until ${Math.abs(r.latestUntilSec) < 8.64e12 ? new Date(r.latestUntilSec * 1000).toISOString() : `${r.latestUntilSec} s`})` : ''}, ${r.held} held, ${r.expired} expired, ${r.open} open for their first write`)
  }
  // A running node says what it read from disk, before the summary (which stays the last line).
  if (snap.disk !== undefined) lines.splice(lines.length - 1, 0, `verify: ${checked}`)
  return { exitCode, stdout: lines.join('\n') + '\n', stderr: '' }
}

/** Every chunk any version of any inode references, each named once while it is recent. With the
 *  past in the store, from each epoch's record in epoch order: its versions carry the blocks set
 *  at that epoch, so every referenced chunk is named where it was written (walking every
 *  version's whole block list cost O(file size) per version: 1,024 versions of a 1 GiB file
 *  written in 1 MiB writes are 8 million block references), and the segments are read in the
 *  order they were written. Memory stays bounded: a chunk is not named again while it is among
 *  the last RECENT_CHUNKS named (a set of every hash ever referenced grew with the archive:
 *  ~100 bytes per chunk); one written again after that is read and hashed again. The current
 *  tree's blocks are only walked when a record is missing (verify names the record; the blocks
 *  are still checked), since otherwise every one of them was set by some epoch's record. */
export function* referencedChunks(v: VolumeState, recent = RECENT_CHUNKS): Generator<ChunkHash> {
  const seen = new RecentSet<ChunkHash>(recent)
  const past = v.fs.past
  if (past instanceof StoredFsPast) {
    let missing = false
    for (let epoch = 1; epoch <= v.fs.epoch; epoch++) {
      const body = past.recordBody(epoch)
      if (body === undefined) missing = true
      for (const h of chunksSetIn(body)) {
        const hex = toHex(h) as ChunkHash
        if (seen.add(hex)) yield hex
      }
    }
    if (missing) for (const rec of v.fs.inodes.values()) for (const [, ref] of rec.cur.blocks) if (seen.add(ref.hash)) yield ref.hash
  } else {
    for (const ino of past.everInodes()) for (const ver of past.versions(ino)) for (const [, ref] of ver.blocks) if (seen.add(ref.hash)) yield ref.hash
  }
}

/** How many chunk hashes verify remembers to read each chunk once (~6.5 MB of hex strings). */
export const RECENT_CHUNKS = 65_536

/** A set of at most ~2 x `limit` recent keys: two generations, the older dropped when the newer
 *  fills. `add` answers whether the key was new (not in either generation). */
class RecentSet<K> {
  private young = new Set<K>()
  private old = new Set<K>()
  constructor(private readonly limit: number) {}
  add(key: K): boolean {
    if (this.young.has(key)) return false
    const known = this.old.has(key)
    if (this.young.size >= this.limit) {
      this.old = this.young
      this.young = new Set()
    }
    this.young.add(key)
    return !known
  }
}

// ---------------------------------------------------------------------------------------------
// A stopped node

/** Opens a stopped node's data dir (runtime/datadir.ts loadKey + storePath; RecordStore.open,
 *  loadAll, restoreNode with nodeCrypto and default params), closes the store again, and returns
 *  the snapshot. Throws the StoreError (e.g. STORE_LOCKED when a node runs on it) / DataDirError
 *  as they are. */
export async function loadSnapshot(dataDir: string): Promise<NodeSnapshot & { close(): Promise<void> }> {
  const secretKey = loadKey(dataDir)
  const config = nodeConfig(nodeCrypto, secretKey)
  const dir = storePath(dataDir)
  // A node that never started has no store yet; opening one would create it, and a read-only
  // command should leave the directory as it found it.
  if (!existsSync(dir)) {
    const chunks = new MemoryStorage()
    return { config: { ...config, storage: chunks }, state: createNode(config), chunks, storeProblems: [], restoreProblems: [], restoredFrom: new Map(), source: 'offline', close: async () => undefined }
  }
  const store = await RecordStore.open(dir)
  try {
    // Every batch is read and checked, none kept; the node is restored as a start restores it
    // (from the tail: spec/checkpoint.md), and verify reads everything below the checkpoint
    // through the store (entries, seals, log, plain ops, the past), so that an audit's memory is
    // the node's, not the history's. A volume that cannot start from its tail is restored from
    // every record, as a start does.
    const { problems } = await store.loadAll({ check: true })
    // Unlike NodeHost.start, restore even when batches are damaged: an audit must show what is
    // intact next to what is not, and the problems become findings of verify.
    const withStore = { ...config, storage: store }
    let restored = await restoreFrom(store, withStore, true)
    if (restored.needsFull.length > 0) restored = await restoreFrom(store, withStore, false)
    return { config: withStore, state: restored.state, chunks: store, storeProblems: problems, restoreProblems: restored.problems, restoredFrom: restored.checkpoints, source: 'offline', close: () => store.close() }
  } catch (err) {
    await store.close()
    throw err
  }
}

/** The node restored from the store's records: from the tail, or from every record. A function of
 *  its own so that the records are garbage once it returns: a closure in loadSnapshot's scope
 *  shared its context with the snapshot's `close` and kept them for the whole verify (with the
 *  tree images decoded, 163 MB of heap on a 20 GiB, 200k-op store; bench/README.md "Session 26"). */
async function restoreFrom(store: RecordStore, config: NodeConfig, tail: boolean): Promise<ReturnType<typeof restoreNode>> {
  const loaded = await store.loadAll(tail ? { tail: true } : {})
  return store.passThrough(() => restoreNode(config, loaded.records, tail ? { tail: loaded.from > 1 } : undefined))
}
