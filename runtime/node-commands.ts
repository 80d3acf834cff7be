// The runtime's subcommands of `paciofs`: init, serve, mount, create, join, leave, and the
// read-only ones (status, members, log, history, cat, verify), which ask the node running on the
// data directory through its control socket, or read a stopped node's store directly.
import { existsSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { inviteExpired, inviteFromText, isMember, membersOf, parseInvite, type Order } from '../core/volume/index.ts'
import { decode } from '../core/codec.ts'
import { isPid, isVolumeName, type Pid, type VolumeName } from '../core/types.ts'
import { LocalBackend, type VolumeBackend } from './backend.ts'
import { callControl } from './control.ts'
import { controlSocketPath, defaultDataDir, hasKey, initDataDir, loadKey, storePath } from './datadir.ts'
import { RemoteBackend } from './client.ts'
import { ClientServer } from './server.ts'
import { CodedError } from './errors.ts'
import type { HostAddress } from './host.ts'
import { INSPECT_COMMANDS, INSPECT_USAGE, loadSnapshot, runInspect, type CommandOutput, type InspectCommand } from './inspect.ts'
import { PacioMount } from './fuse.ts'
import { PacioNode } from './node-service.ts'
import type { CommandIo } from './sim-command.ts'
import { RETENTION_USAGE, retentionRequest } from './retention-commands.ts'

export const DEFAULT_VOLUME = 'default' as VolumeName
export const DEFAULT_LISTEN = '127.0.0.1:7420'

export const RUNTIME_USAGE: Record<string, string> = {
  ...RETENTION_USAGE,
  init: `usage: paciofs init [--data <dir>]

Creates a data directory with a fresh node key (secp256k1) and prints the node's id.
  --data <dir>   default: $PACIOFS_HOME or ~/.paciofs
`,
  serve: `usage: paciofs serve [--data <dir>] [--listen host:port] [--peer host:port]... [--volume <name>]... [--open] [--join <name>]... [--invite <token>]... [--admit <node-id>]...

Runs a node until SIGINT/SIGTERM: replicates its volumes with its peers over TCP.
  --listen host:port   where peers connect (default ${DEFAULT_LISTEN})
  --peer host:port     a node to keep a connection to (repeatable)
  --volume <name>      create this volume if the node has none of that name (repeatable)
  --open               volumes this node creates admit every applicant; without it a volume is
                       closed: its members vote only for applicants a member invited
                       (paciofs invite) or admitted by id (paciofs admit), or on their --admit list
  --join <name>        apply to join this volume through the peers if the node lacks it (repeatable)
  --invite <token>     the invite to carry in the join of the volume it names (paciofs invite
                       prints it on a member; repeatable, one per volume)
  --admit <node-id>    also vote to accept these applicants without an invite (repeatable)
  --policy <p>         majority | any: the vote rule of volumes this node creates (default majority)
  --order <o>          fotb | totb: how volumes this node creates order operations (default
                       fotb; totb: one total order at every member, replies once applied in it;
                       README "Which order")
  --client <node-id>   a client key that may mount this node's volumes (paciofs mount --server);
                       repeatable; without it no client is served
  --recover-tail       start although the store lost its newest batches (HOST_TAIL_LOST): the
                       node takes no write until it has learnt its own chains back from the
                       members (give --peer); what no member held is lost
`,
  mount: `usage: paciofs mount <dir> [--data <dir>] [--volume <name>] [--open] [--at <epoch>] [--listen host:port] [--peer host:port]... [--join [--invite <token>]]

Mounts a volume on <dir> until SIGINT/SIGTERM, in local mode: the node runs in this process.
With no options: the data directory $PACIOFS_HOME or ~/.paciofs (created on first use) and
the volume '${DEFAULT_VOLUME}' (created on first use).
  --volume <name>   the volume to mount (created if the node has none of that name)
  --at <epoch>      mount the volume read-only as it was right after that epoch
  --open            as for serve: a volume this mount creates admits every applicant
  --order <o>       as for serve: fotb (default) | totb, for a volume this mount creates
  --admit <node-id> as for serve: also vote to accept these applicants (repeatable)
  --join            when the node lacks the volume, apply to join it through the peers and mount
                    once the members accepted this node (instead of creating it)
  --invite <token>  with --join: the invite to carry (paciofs invite prints it on a member)
  --listen, --peer  as for serve: the node replicates while mounted (default listen: none)
  --server host:port  client mode: mount the volume a node serves there (started with
                    --client <this data directory's node id>); --data holds the client's key
  --recover-tail    as for serve
`,
  create: `usage: paciofs create <volume> [--open] [--order fotb|totb] [--data <dir>]      (asks the running node)

A volume is closed unless created with --open: its members vote only for applicants a member
invited (paciofs invite) or admitted by id (paciofs admit), or on their --admit list.
`,
  join: `usage: paciofs join <volume> [--invite <token>] [--data <dir>]        (asks the running node; it must be connected to a member)
`,
  invite: `usage: paciofs invite --volume <name> [--expires <time>] [--for <node-id>] [--data <dir>]      (asks the running node)

Prints a one-time invite to the volume, signed by this node's key (it must be a member). The
applicant passes it to paciofs serve|mount --join <name> --invite <token>. The members vote to
accept the first node whose join carries it, until it expires.
  --expires <time>  how long it is valid: <n>s, <n>m, <n>h or <n>d (default 24h)
  --for <node-id>   only this node may use it (its id: paciofs init prints it); without it,
                    whichever node uses it first
`,
  admit: `usage: paciofs admit --volume <name> <node-id> [--data <dir>]      (asks the running node)

Admits a node by its id: an admit entry in the volume's ledger, so every member sees who admitted
whom. The members then vote to accept that node once its join arrives (this node must be a member).
`,
  leave: `usage: paciofs leave <volume> [--data <dir>]       (asks the running node)\n`,
}

class UsageError extends CodedError<'USAGE'> {}

export function parseAddress(text: string, what = 'address'): HostAddress {
  const m = /^(.*):(\d{1,5})$/.exec(text)
  const port = m ? Number(m[2]) : NaN
  if (!m || !m[1] || port > 65535) throw new UsageError('USAGE', `bad ${what} '${text}': expected host:port`)
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port }
}

function volumeArg(text: string | undefined): VolumeName {
  const v = text ?? DEFAULT_VOLUME
  if (!isVolumeName(v)) throw new UsageError('USAGE', `bad volume name '${v}' (letters, digits, '.', '_', '-')`)
  return v
}

function dataArg(text: string | undefined): string {
  return text === undefined ? defaultDataDir() : resolve(text)
}

function print(io: CommandIo, out: CommandOutput): number {
  if (typeof out.stdout === 'string') io.stdout(out.stdout)
  else process.stdout.write(out.stdout)
  if (out.stderr) io.stderr(out.stderr)
  return out.exitCode
}

/** Runs a runtime subcommand; resolves with its exit code. Long-running ones (serve, mount)
 *  resolve when stopped by a signal. */
export async function runtimeCommand(command: string, argv: readonly string[], io: CommandIo): Promise<number> {
  try {
    if ((INSPECT_COMMANDS as readonly string[]).includes(command)) return await inspect(command as InspectCommand, argv, io)
    switch (command) {
      case 'init':
        return init(argv, io)
      case 'serve':
        return await serve(argv, io)
      case 'mount':
        return await mount(argv, io)
      case 'create':
      case 'join':
      case 'leave':
        return await controlOnly(command, argv, io)
      case 'invite':
      case 'admit':
        return await admissionCommand(command, argv, io)
      case 'retain':
      case 'hold':
      case 'retention':
        return await retentionCommand(command, argv, io)
      default:
        throw new UsageError('USAGE', `unknown command '${command}'`)
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      io.stderr(`paciofs ${command}: ${(err as Error).message}\n\n${RUNTIME_USAGE[command] ?? INSPECT_USAGE[command as InspectCommand] ?? ''}`)
      return 2
    }
    io.stderr(`paciofs ${command}: ${(err as Error).message}\n`)
    return 1
  }
}

function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('-h') || argv.includes('--help')
}

function init(argv: readonly string[], io: CommandIo): number {
  if (wantsHelp(argv)) return io.stdout(RUNTIME_USAGE.init!), 0
  const { values } = parseArgs({ args: [...argv], options: { data: { type: 'string' } }, strict: true })
  const dir = dataArg(values.data)
  const { pid } = initDataDir(dir)
  io.stdout(`initialised ${dir}\nnode id ${pid}\n`)
  return 0
}

async function inspect(command: InspectCommand, argv: readonly string[], io: CommandIo): Promise<number> {
  // --data is ours; the rest is the command's own (runtime/inspect.ts).
  const rest: string[] = []
  let data: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--data') data = argv[++i]
    else if (a.startsWith('--data=')) data = a.slice('--data='.length)
    else rest.push(a)
  }
  if (wantsHelp(rest)) return print(io, runInspect(command, rest, undefined as never))
  const dir = dataArg(data)
  const live = await callControl(controlSocketPath(dir), { command, argv: rest })
  if (live !== undefined) return print(io, live)
  if (!hasKey(dir)) throw new Error(`${dir} is not a paciofs data directory (no key); give --data`)
  let snap
  try {
    snap = await loadSnapshot(dir)
  } catch (err) {
    const code = (err as { code?: string }).code
    // For an auditor a store that cannot even be read is a finding like any other, on stdout.
    if (command === 'verify' && (code === 'STORE_READ_FAILED' || code === 'STORE_OPEN_FAILED')) {
      const finding = { where: `store ${storePath(dir)}`, what: 'unreadable database', expected: 'a readable level database', found: (err as Error).message }
      if (rest.includes('--json')) io.stdout(JSON.stringify({ clean: false, findings: [finding] }) + '\n')
      else io.stdout(`FINDING ${finding.where}: ${finding.what}: expected ${finding.expected}, found ${finding.found}\nverify: FAILED: the store could not be read\n`)
      return 1
    }
    throw err
  }
  try {
    return print(io, runInspect(command, rest, snap))
  } finally {
    await snap.close()
  }
}

/** `--order fotb|totb` (default fotb). */
function orderArg(text: string | undefined): Order {
  if (text === undefined || text === 'fotb') return 'fotb'
  if (text === 'totb') return 'totb'
  throw new UsageError('USAGE', `bad --order '${text}': fotb or totb`)
}

async function controlOnly(command: string, argv: readonly string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return io.stdout(RUNTIME_USAGE[command]!), 0
  const options: ParseArgsConfig['options'] = {
    data: { type: 'string' },
    ...(command === 'create' ? { open: { type: 'boolean' }, order: { type: 'string' } } : {}),
    ...(command === 'join' ? { invite: { type: 'string' } } : {}),
  }
  const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true })
  const dir = dataArg(values.data as string | undefined)
  const extra = command === 'create'
    ? [...(values.open === true ? ['--open'] : []), ...(orderArg(values.order as string | undefined) === 'totb' ? ['--totb'] : [])]
    : command === 'join' && typeof values.invite === 'string' ? [inviteArg(values.invite)] : []
  const out = await callControl(controlSocketPath(dir), { command, argv: [...positionals, ...extra] })
  if (out === undefined) throw new Error(`no node is running on ${dir}; start it with \`paciofs serve --data ${dir}\``)
  return print(io, out)
}

/** `paciofs invite` and `paciofs admit`: asks the running node (it signs, and it must be a member). */
async function admissionCommand(command: 'invite' | 'admit', argv: readonly string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return io.stdout(RUNTIME_USAGE[command]!), 0
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { data: { type: 'string' }, volume: { type: 'string' }, expires: { type: 'string' }, for: { type: 'string' } },
    allowPositionals: command === 'admit',
    strict: true,
  })
  if (values.volume === undefined) throw new UsageError('USAGE', 'give the volume: --volume <name>')
  const volume = volumeArg(values.volume)
  let args: string[]
  if (command === 'invite') {
    if (values.for !== undefined && !isPid(values.for)) throw new UsageError('USAGE', `bad node id '${values.for}' for --for (66 hex digits; paciofs init prints it)`)
    args = [volume, String(durationS(values.expires ?? '24h')), values.for ?? '']
  } else {
    if (values.expires !== undefined || values.for !== undefined) throw new UsageError('USAGE', '--expires and --for belong to paciofs invite')
    if (positionals.length !== 1 || !isPid(positionals[0]!)) throw new UsageError('USAGE', 'give exactly one node id to admit (66 hex digits)')
    args = [volume, positionals[0]!]
  }
  const dir = dataArg(values.data)
  const out = await callControl(controlSocketPath(dir), { command, argv: args })
  if (out === undefined) throw new Error(`no node is running on ${dir}; start it with \`paciofs serve --data ${dir}\` (it signs the ${command === 'invite' ? 'invite' : 'admit entry'} and must be a member)`)
  return print(io, out)
}

/** `paciofs retain`, `hold`, `retention` (runtime/retention-commands.ts): asks the running node,
 *  with the caller's uid and gid (the control socket is its owner's and root's only). */
async function retentionCommand(command: 'retain' | 'hold' | 'retention', argv: readonly string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return io.stdout(RETENTION_USAGE[command]!), 0
  const cred = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }
  const req = retentionRequest(command, argv, cred, DEFAULT_VOLUME)
  if ('error' in req) throw new UsageError('USAGE', req.error)
  volumeArg(req.volume)
  const dir = dataArg(req.data)
  const out = await callControl(controlSocketPath(dir), { command, argv: req.argv })
  if (out === undefined) throw new Error(`no node is running on ${dir}; start it with \`paciofs serve --data ${dir}\` or mount the volume (the node authors the operation)`)
  return print(io, out)
}

/** "24h", "90m", "3600s", "7d", or plain seconds. */
function durationS(text: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text)
  if (!m) throw new UsageError('USAGE', `bad --expires '${text}': <n>s, <n>m, <n>h or <n>d`)
  const n = Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as const)[m[2] as '' | 's' | 'm' | 'h' | 'd']
  if (n <= 0) throw new UsageError('USAGE', `bad --expires '${text}': it must be more than 0`)
  return n
}

/** An --invite argument: the printed token (base64url), checked only for its form here (the
 *  members check the rest). */
function inviteArg(text: string): string {
  if (inviteFromText(text) === undefined) throw new UsageError('USAGE', `bad --invite: not an invite token (paciofs invite prints one)`)
  return text.trim()
}

/** What an applicant can tell about its own invite before the members judge it (spec/paciofs.md
 *  "Admission": they do not answer an applicant; it waits). */
function inviteNotes(node: PacioNode, volume: VolumeName, token: Uint8Array | undefined): string[] {
  const v = node.host.state.volumes.get(volume)
  const closedNote = `the members vote only for nodes a member invited or admitted: ask one for \`paciofs invite --volume ${volume} --for ${node.pid}\` (then join with --invite), or to run \`paciofs admit --volume ${volume} ${node.pid}\``
  if (token === undefined) return v?.genesis.admission === 'closed' ? [`applied to '${volume}' without an invite: ${closedNote}`] : []
  const r = parseInvite(node.host.config.crypto, token)
  if (!r.ok) return [`the invite is no valid token (${r.why}); the members will not count it: ${closedNote}`]
  const notes: string[] = []
  if (r.invite.volume !== volume) notes.push(`the invite is for volume '${r.invite.volume}', not '${volume}'`)
  if (r.invite.invitee !== null && r.invite.invitee !== node.pid) notes.push(`the invite is for node ${r.invite.invitee}, not this node (${node.pid})`)
  if (inviteExpired(r.invite, Date.now())) notes.push(`the invite expired at ${new Date(r.invite.expiresS * 1000).toISOString()}`)
  return notes.map((n) => `${n}; the members will refuse it: ${closedNote}`)
}

/** Resolves when SIGINT or SIGTERM arrives (once). */
function untilSignal(): Promise<string> {
  return new Promise((ok) => {
    const on = (sig: string): void => {
      process.off('SIGINT', on)
      process.off('SIGTERM', on)
      ok(sig)
    }
    process.on('SIGINT', on)
    process.on('SIGTERM', on)
  })
}

interface NodeFlags {
  data?: string | undefined
  listen?: string | undefined
  peer?: string[] | undefined
  admit?: string[] | undefined
}

function nodeOptions(values: NodeFlags, io: CommandIo, listenDefault: string) {
  const admit = (values.admit ?? []).map((a) => {
    if (!isPid(a)) throw new UsageError('USAGE', `bad node id '${a}' for --admit (66 hex digits)`)
    return a as Pid
  })
  return {
    dataDir: dataArg(values.data),
    listen: parseAddress(values.listen ?? listenDefault, '--listen'),
    peers: (values.peer ?? []).map((p) => parseAddress(p, '--peer')),
    admit,
    log: (line: string) => io.stderr(line + '\n'),
  }
}

async function serve(argv: readonly string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return io.stdout(RUNTIME_USAGE.serve!), 0
  const { values } = parseArgs({
    args: [...argv],
    options: {
      data: { type: 'string' }, listen: { type: 'string' }, peer: { type: 'string', multiple: true },
      volume: { type: 'string', multiple: true }, join: { type: 'string', multiple: true },
      admit: { type: 'string', multiple: true }, policy: { type: 'string' }, client: { type: 'string', multiple: true },
      'recover-tail': { type: 'boolean' }, open: { type: 'boolean' }, invite: { type: 'string', multiple: true },
      order: { type: 'string' },
    },
    strict: true,
  })
  const clients = (values.client ?? []).map((c) => {
    if (!isPid(c)) throw new UsageError('USAGE', `bad node id '${c}' for --client (66 hex digits; \`paciofs init\` prints it)`)
    return c as Pid
  })
  const policy = values.policy ?? 'majority'
  if (policy !== 'majority' && policy !== 'any') throw new UsageError('USAGE', `bad --policy '${policy}': majority or any`)
  const create = (values.volume ?? []).map(volumeArg)
  const joins = (values.join ?? []).map(volumeArg)
  const invites = invitesFor(values.invite ?? [], joins)
  const opts = nodeOptions(values, io, DEFAULT_LISTEN)
  if (!hasKey(opts.dataDir)) throw new Error(`${opts.dataDir} has no node key; run \`paciofs init --data ${opts.dataDir}\` first`)
  const node = await PacioNode.start({ ...opts, create, policy, order: orderArg(values.order), ...(values.open ? { open: true } : {}), ...(values['recover-tail'] ? { recoverTail: true } : {}) })
  if (values['recover-tail']) sayRecovery(node, io)
  if (clients.length > 0) new ClientServer(node.host, new Set(clients))
  io.stdout(`serving node ${node.pid} on ${opts.listen.host}:${node.host.port} (data ${opts.dataDir}); volumes: ${node.volumes().join(', ') || '(none)'}\n`)
  const stopped = untilSignal()
  void joinWhenConnected(node, joins, io, invites)
  const sig = await stopped
  io.stderr(`paciofs: ${sig}: stopping\n`)
  await node.stop()
  return 0
}

/** --recover-tail: says, per volume, where the node's lost entries can come back from. A volume
 *  this node alone is a member of has nobody who holds them: what the lost batches held is gone. */
function sayRecovery(node: PacioNode, io: CommandIo): void {
  for (const [name, v] of node.host.state.volumes) {
    const others = membersOf(v).filter((p) => p !== node.pid).length
    if (others === 0) io.stderr(`paciofs: --recover-tail: volume '${name}': this node is its only member, so nobody holds a copy of what the lost batches held; those writes are gone and the volume goes on from what the store holds\n`)
    else io.stderr(`paciofs: --recover-tail: volume '${name}': this node learns its own chain back from the ${others} other member(s) before it takes a write\n`)
  }
}

/** --invite tokens by the volume each names (read without checking: the members check). */
function invitesFor(texts: readonly string[], joins: readonly VolumeName[]): Map<VolumeName, Uint8Array> {
  const out = new Map<VolumeName, Uint8Array>()
  for (const text of texts) {
    const token = inviteFromText(inviteArg(text))!
    const named = inviteVolume(token)
    const volume = named ?? (joins.length === 1 ? joins[0]! : undefined)
    if (volume === undefined) throw new UsageError('USAGE', 'bad --invite: it names no volume, and there is not exactly one --join to give it to')
    if (!joins.includes(volume)) throw new UsageError('USAGE', `--invite is for volume '${volume}', which no --join names`)
    if (out.has(volume)) throw new UsageError('USAGE', `two --invite for volume '${volume}'`)
    out.set(volume, token)
  }
  return out
}

/** The volume a token names, without its signature checked. */
function inviteVolume(token: Uint8Array): VolumeName | undefined {
  try {
    const v = decode(token)
    return Array.isArray(v) && typeof v[1] === 'string' && isVolumeName(v[1]) ? v[1] : undefined
  } catch {
    return undefined
  }
}

/** --join: keeps asking until a peer is connected that knows the volume. A node that already
 *  has the volume as an applicant applies again when given an invite (a refused one can retry). */
async function joinWhenConnected(node: PacioNode, joins: readonly VolumeName[], io: CommandIo, invites: ReadonlyMap<VolumeName, Uint8Array> = new Map()): Promise<void> {
  for (const name of joins) {
    const invite = invites.get(name)
    const had = node.host.state.volumes.get(name)
    if (had !== undefined && invite !== undefined && had.status.get(node.pid) !== 'member' && had.status.get(node.pid) !== 'removed') {
      try {
        await node.join(name, 2_000, invite)
        io.stdout(`applied again to join '${name}', with the invite\n`)
        for (const n of inviteNotes(node, name, invite)) io.stderr(`paciofs: ${n}\n`)
      } catch (err) {
        io.stderr(`paciofs: cannot apply again to '${name}': ${(err as Error).message}\n`)
      }
      continue
    }
    for (let attempt = 0; !node.host.state.volumes.has(name); attempt++) {
      try {
        const { contacts } = await node.join(name, 2_000, invite)
        io.stdout(`applied to join '${name}' through ${contacts.length} member(s)${invite !== undefined ? ', with an invite' : ''}; waiting for the members to admit this node\n`)
        for (const n of inviteNotes(node, name, invite)) io.stderr(`paciofs: ${n}\n`)
      } catch (err) {
        if (node.host.halted) return
        if (attempt % 10 === 0) io.stderr(`paciofs: cannot join '${name}' yet (${(err as Error).message}); retrying\n`)
        await new Promise((r) => setTimeout(r, 1_000))
      }
    }
  }
}

/** Client mode: the node serving the volume is elsewhere; this process only mounts. */
async function mountClient(dir: string, volume: VolumeName, at: number | undefined, server: HostAddress, dataDir: string, io: CommandIo): Promise<number> {
  const backend = await RemoteBackend.connect({ server, secretKey: loadKey(dataDir), volume, ...(at !== undefined ? { at } : {}) })
  try {
    await serveMount(backend, dir, io, `volume '${volume}'${at !== undefined ? ` at epoch ${at} (read-only)` : ''} on ${dir} (client of node ${backend.server} at ${server.host}:${server.port})`)
  } finally {
    await backend.close()
  }
  return 0
}

/** Mounts `backend` on `dir`, prints "mounted <what>", and unmounts on SIGINT/SIGTERM. */
async function serveMount(backend: VolumeBackend, dir: string, io: CommandIo, what: string): Promise<void> {
  const m = new PacioMount({ backend, mountpoint: dir, cred: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }, log: (l) => io.stderr(l + '\n') })
  try {
    const stopped = untilSignal()
    await m.mount()
    io.stdout(`mounted ${what}\n`)
    const sig = await stopped
    io.stderr(`paciofs: ${sig}: unmounting ${dir}\n`)
  } finally {
    await m.unmount()
  }
}

async function untilMember(node: PacioNode, volume: VolumeName): Promise<void> {
  for (;;) {
    const v = node.host.state.volumes.get(volume)
    if (v !== undefined && isMember(v, v.me)) return
    if (node.host.halted) throw node.host.halted
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function mount(argv: readonly string[], io: CommandIo): Promise<number> {
  if (wantsHelp(argv)) return io.stdout(RUNTIME_USAGE.mount!), 0
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      data: { type: 'string' }, volume: { type: 'string' }, at: { type: 'string' },
      listen: { type: 'string' }, peer: { type: 'string', multiple: true }, join: { type: 'boolean' },
      server: { type: 'string' }, admit: { type: 'string', multiple: true }, 'recover-tail': { type: 'boolean' },
      open: { type: 'boolean' }, invite: { type: 'string' }, order: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  })
  if (positionals.length !== 1) throw new UsageError('USAGE', 'give exactly one mount directory')
  const dir = resolve(positionals[0]!)
  const volume = volumeArg(values.volume)
  let at: number | undefined
  if (values.at !== undefined) {
    at = Number(values.at)
    if (!Number.isSafeInteger(at) || at < 0) throw new UsageError('USAGE', `bad --at '${values.at}': an epoch (integer >= 0)`)
  }
  const opts = nodeOptions(values, io, '127.0.0.1:0')
  if (!hasKey(opts.dataDir)) {
    // The embedded default: a fresh data directory gets its key on first mount. A directory
    // that exists with other content is not taken over.
    if (existsSync(opts.dataDir) && readdirSync(opts.dataDir).length > 0) throw new Error(`${opts.dataDir} exists but is not a paciofs data directory (no key)`)
    const { pid } = initDataDir(opts.dataDir)
    io.stderr(`paciofs: initialised ${opts.dataDir} (node id ${pid})\n`)
  }
  if (values.server !== undefined) return mountClient(dir, volume, at, parseAddress(values.server, '--server'), opts.dataDir, io)
  let node: PacioNode
  try {
    node = await PacioNode.start({ ...opts, create: at === undefined && !values.join ? [volume] : [], order: orderArg(values.order), ...(values.open ? { open: true } : {}), ...(values['recover-tail'] ? { recoverTail: true } : {}) })
    if (values['recover-tail']) sayRecovery(node, io)
  } catch (err) {
    if ((err as { code?: string }).code === 'STORE_LOCKED') throw new Error(`a node is already running on ${opts.dataDir}; mount through it with --server <its --listen address> (client mode), or stop it first`)
    throw err
  }
  try {
    if (values.invite !== undefined && !values.join) throw new UsageError('USAGE', '--invite goes with --join')
    const mine = node.host.state.volumes.get(volume)
    if (values.join && (mine === undefined || (values.invite !== undefined && mine.status.get(node.pid) === 'applicant'))) {
      if (opts.peers.length === 0) throw new UsageError('USAGE', '--join needs --peer host:port of a member')
      await joinWhenConnected(node, [volume], io, values.invite !== undefined ? invitesFor([values.invite], [volume]) : new Map())
      io.stderr(`paciofs: waiting for the members of '${volume}' to accept this node\n`)
      await untilMember(node, volume)
    }
    const v = node.host.state.volumes.get(volume)
    if (v === undefined) throw new Error(`this node has no volume '${volume}'`)
    if (at !== undefined && (at < v.fs.baseEpoch || at > v.fs.epoch)) throw new Error(`--at ${at} is outside the volume's epochs ${v.fs.baseEpoch}..${v.fs.epoch}`)
    const backend: VolumeBackend = new LocalBackend(node.host, volume, at)
    await serveMount(backend, dir, io, `volume '${volume}'${at !== undefined ? ` at epoch ${at} (read-only)` : ''} on ${dir} (local mode; node ${node.pid}; data ${opts.dataDir})`)
  } finally {
    await node.stop()
  }
  return 0
}
