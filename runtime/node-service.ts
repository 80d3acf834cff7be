// A running PacioFS node as `paciofs serve` and the local mode of `paciofs mount` run it: the
// NodeHost (core + store + transport) on a data directory, its control socket, and the runtime
// messages that are not protocol messages of the core:
//   ['rt/genesis?', volume]            any authenticated peer may ask which volume a name is
//   ['rt/genesis', volume, genesis|null]  the answer (a joiner trusts its contacts: spec/fotb.md)
// Client requests of client/server mode ('cs/' frames) are served by runtime/server.ts.
import { decode } from '../core/codec.ts'
import { encode, type Value } from '../core/codec.ts'
import type { NodeReply } from '../core/node.ts'
import { genesisValue, inviteFromText, inviteText, parseGenesis, INVITE_ID_BYTES, type Admission, type Genesis, type Order, type Policy, type VolumeParams, DEFAULT_VOLUME_PARAMS } from '../core/volume/index.ts'
import { isPid, isVolumeName, type Pid, type VolumeName } from '../core/types.ts'
import { randomBytes } from 'node:crypto'
import type { Server } from 'node:net'
import { unlinkSync } from 'node:fs'
import { controlSocketPath, loadKey, storePath } from './datadir.ts'
import { NodeHost, type HostAddress } from './host.ts'
import { runInspect, INSPECT_COMMANDS, type CommandOutput, type InspectCommand } from './inspect.ts'
import { serveControl, type ControlRequest } from './control.ts'
import { retentionControl } from './retention-commands.ts'
import { verifyLive } from './live-verify.ts'
import { frameTag } from './frames.ts'

export interface PacioNodeOptions {
  readonly dataDir: string
  readonly listen: HostAddress
  readonly peers?: readonly HostAddress[]
  /** Volumes to create when this node has none of that name. */
  readonly create?: readonly VolumeName[]
  readonly policy?: Policy
  /** Volumes this node creates admit every applicant (`--open`); default closed: only invited or
   *  admitted ones (spec/paciofs.md "Admission"). */
  readonly open?: boolean
  /** Volumes this node creates apply operations in one total order (`--order totb`, spec/totb.md);
   *  default fotb. */
  readonly order?: Order
  /** This node's allow-list: applicants it votes to accept without an invite or an admit. */
  readonly admit?: readonly Pid[]
  readonly tickMs?: number
  readonly requestTimeoutMs?: number
  readonly reconnectMinMs?: number
  readonly reconnectMaxMs?: number
  /** Start on a lost tail (RT-9) and recover the own chains from the members (spec/fotb.md). */
  readonly recoverTail?: boolean
  readonly log?: (line: string) => void
}

type Waiter = (from: Pid, genesis: Genesis | undefined) => void

export class PacioNode {
  readonly host: NodeHost
  readonly dataDir: string
  private control: Server | undefined
  private readonly log: (line: string) => void
  private readonly genesisWaiters = new Map<VolumeName, Set<Waiter>>()
  private stopping: Promise<void> | undefined

  private constructor(host: NodeHost, dataDir: string, log: (line: string) => void) {
    this.host = host
    this.dataDir = dataDir
    this.log = log
  }

  static async start(opts: PacioNodeOptions): Promise<PacioNode> {
    const secretKey = loadKey(opts.dataDir)
    const params: VolumeParams = opts.admit && opts.admit.length > 0
      ? { ...DEFAULT_VOLUME_PARAMS, allow: new Set(opts.admit) }
      : DEFAULT_VOLUME_PARAMS
    const host = await NodeHost.start({
      dataDir: storePath(opts.dataDir),
      secretKey,
      listen: opts.listen,
      peers: opts.peers ?? [],
      params,
      ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}),
      ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
      ...(opts.reconnectMinMs !== undefined ? { reconnectMinMs: opts.reconnectMinMs } : {}),
      ...(opts.reconnectMaxMs !== undefined ? { reconnectMaxMs: opts.reconnectMaxMs } : {}),
      ...(opts.recoverTail ? { recoverTail: true } : {}),
    })
    const node = new PacioNode(host, opts.dataDir, opts.log ?? (() => undefined))
    host.addFrameFilter((from, bytes) => node.onFrame(from, bytes))
    host.on('halt', (err) => node.log(`paciofs: the node halted: ${err.message}`))
    try {
      for (const name of opts.create ?? []) await node.ensureVolume(name, opts.policy ?? 'majority', opts.open === true ? 'open' : 'closed', opts.order)
      for (const [name, v] of host.state.volumes) {
        if (v.genesis.admission === undefined) node.log(`paciofs: warning: volume '${name}' was created before admission was a volume setting: its members admit as they did then (${opts.admit && opts.admit.length > 0 ? 'this node: only its --admit list, invites and admits' : 'this node: every applicant'}); a volume created now is closed unless made with --open (spec/paciofs.md "Admission")`)
      }
      node.control = await serveControl(controlSocketPath(opts.dataDir), (req) => node.onControl(req))
    } catch (err) {
      await host.stop()
      throw err
    }
    return node
  }

  get pid(): Pid {
    return this.host.pid
  }

  volumes(): VolumeName[] {
    return [...this.host.state.volumes.keys()]
  }

  /** Creates `name` unless this node already has it. Returns whether it created it. */
  async ensureVolume(name: VolumeName, policy: Policy = 'majority', admission: Admission = 'closed', order: Order = 'fotb'): Promise<boolean> {
    if (this.host.state.volumes.has(name)) return false
    const r = await this.host.request({ type: 'create-volume', name, policy, admission, ...(order === 'totb' ? { order } : {}) })
    if (!r.ok) throw new Error(`cannot create volume '${name}': ${'detail' in r ? r.detail : r.errno}`)
    this.log(`paciofs: created volume '${name}' (policy ${policy}, admission ${admission}, order ${order}${admission === 'closed' ? ': members admit others with paciofs invite or paciofs admit' : ''}); this node is its founder`)
    return true
  }

  /** A one-time invite to `name`, signed by this node (spec/paciofs.md "Admission"): 16 random
   *  bytes and the expiry are the host's part. */
  async invite(name: VolumeName, validForS: number, invitee: Pid | null): Promise<{ token: Uint8Array; expiresS: number }> {
    const expiresS = Math.floor(Date.now() / 1000) + validForS
    const r = await this.host.request({ type: 'invite', volume: name, id: new Uint8Array(randomBytes(INVITE_ID_BYTES)), expiresS, invitee })
    if (!r.ok) throw new Error(`cannot invite to '${name}': ${'detail' in r ? r.detail : r.errno}`)
    if (!('invite' in r)) throw new Error(`cannot invite to '${name}': the node answered without a token`)
    return { token: r.invite, expiresS }
  }

  /** Admits `target` to `name` by id: an admit entry in the ledger, which every member sees. */
  async admitById(name: VolumeName, target: Pid): Promise<void> {
    const r = await this.host.request({ type: 'admit', volume: name, target })
    if (!r.ok) throw new Error(`cannot admit to '${name}': ${'detail' in r ? r.detail : r.errno}`)
  }

  /** Asks every connected peer for the genesis of `name`, then applies to join it with the peers
   *  that answered alike as contacts. Members vote on the application (spec/paciofs.md). */
  async join(name: VolumeName, timeoutMs = 5_000, invite?: Uint8Array): Promise<{ genesis: Genesis; contacts: Pid[] }> {
    const had = this.host.state.volumes.get(name)
    if (had !== undefined) {
      // Still an applicant (refused, or waiting): apply again with the invite given now.
      if (invite === undefined || had.status.get(this.pid) === 'member') throw new Error(`this node already has volume '${name}'`)
      const r: NodeReply = await this.host.request({ type: 'join-volume', genesis: had.genesis, contacts: [...had.contacts], invite })
      if (!r.ok) throw new Error(`cannot join '${name}': ${'detail' in r ? r.detail : r.errno}`)
      return { genesis: had.genesis, contacts: [...had.contacts] }
    }
    const peers = this.host.connectedPeers()
    if (peers.length === 0) throw new Error(`no peer is connected; start the node with --peer host:port of a member of '${name}'`)
    const answers = new Map<Pid, Genesis>()
    await new Promise<void>((done) => {
      let left = peers.length
      const waiter: Waiter = (from, g) => {
        if (g !== undefined) answers.set(from, g)
        if (--left === 0 || answers.size > 0) finish()
      }
      const timer = setTimeout(() => finish(), timeoutMs)
      const finish = (): void => {
        clearTimeout(timer)
        this.genesisWaiters.get(name)?.delete(waiter)
        done()
      }
      let set = this.genesisWaiters.get(name)
      if (!set) this.genesisWaiters.set(name, (set = new Set()))
      set.add(waiter)
      for (const p of peers) this.host.sendFrame(p, encode(['rt/genesis?', name]))
    })
    // Give the other peers a moment to answer too, so that every one that knows it is a contact.
    await new Promise((r) => setTimeout(r, 200))
    const first = [...answers.values()][0]
    if (first === undefined) throw new Error(`no connected peer knows volume '${name}' (asked ${peers.length})`)
    const same = (g: Genesis): boolean => encode(genesisValue(g)).join() === encode(genesisValue(first)).join()
    const contacts = [...answers].filter(([, g]) => same(g)).map(([p]) => p)
    const r: NodeReply = await this.host.request({ type: 'join-volume', genesis: first, contacts, ...(invite !== undefined ? { invite } : {}) })
    if (!r.ok) throw new Error(`cannot join '${name}': ${'detail' in r ? r.detail : r.errno}`)
    return { genesis: first, contacts }
  }

  async leave(name: VolumeName): Promise<void> {
    const r = await this.host.request({ type: 'leave-volume', volume: name })
    if (!r.ok) throw new Error(`cannot leave '${name}': ${'detail' in r ? r.detail : r.errno}`)
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.control) {
        await new Promise<void>((ok) => this.control!.close(() => ok()))
        try {
          unlinkSync(controlSocketPath(this.dataDir))
        } catch {
          // already gone
        }
      }
      await this.host.stop()
    })()
    return this.stopping
  }

  private onFrame(from: Pid, bytes: Uint8Array): boolean {
    const tag = frameTag(bytes)
    if (tag === undefined || !tag.startsWith('rt/')) return false
    let v: Value
    try {
      v = decode(bytes)
    } catch {
      return true // a malformed runtime frame: dropped (the core never sees 'rt/' frames)
    }
    if (!Array.isArray(v) || typeof v[1] !== 'string' || !isVolumeName(v[1])) return true
    const name = v[1] as VolumeName
    if (tag === 'rt/genesis?') {
      const vol = this.host.state.volumes.get(name)
      this.host.sendFrame(from, encode(['rt/genesis', name, vol ? genesisValue(vol.genesis) : null]))
    } else if (tag === 'rt/genesis') {
      const g = v[2] === null ? undefined : parseGenesis(v[2] as Value)
      for (const w of [...(this.genesisWaiters.get(name) ?? [])]) w(from, g && g.name === name ? g : undefined)
    }
    return true
  }

  private async onControl(req: ControlRequest): Promise<CommandOutput> {
    // verify reads the disk (RT-11); the other commands answer from memory between two steps.
    if (req.command === 'verify' && !req.argv.includes('-h') && !req.argv.includes('--help')) return verifyLive(this.host, this.host.config, req.argv)
    if ((INSPECT_COMMANDS as readonly string[]).includes(req.command)) {
      return runInspect(req.command as InspectCommand, req.argv, {
        config: this.host.config,
        state: this.host.state,
        chunks: this.host.chunkStore,
        storeProblems: [],
        restoreProblems: [],
        restoredFrom: this.host.restoredFrom,
        source: 'live',
      })
    }
    if (req.command === 'retain' || req.command === 'hold' || req.command === 'retention') return retentionControl(this.host, req.command, req.argv)
    const name = req.argv[0]
    const usage = (msg: string): CommandOutput => ({ exitCode: 2, stdout: '', stderr: `paciofs ${req.command}: ${msg}\n` })
    switch (req.command) {
      case 'join':
        if (name === undefined || !isVolumeName(name)) return usage('give the volume to join: paciofs join <volume> [--invite <token>]')
        try {
          const token = req.argv[1] !== undefined ? inviteFromText(req.argv[1]) : undefined
          if (req.argv[1] !== undefined && token === undefined) return usage('bad --invite: not an invite token')
          const { contacts } = await this.join(name, 5_000, token)
          return { exitCode: 0, stdout: `applied to join '${name}' through ${contacts.length} member(s); members vote on it (paciofs members --volume ${name})\n`, stderr: '' }
        } catch (err) {
          return { exitCode: 1, stdout: '', stderr: `paciofs join: ${(err as Error).message}\n` }
        }
      case 'leave':
        if (name === undefined || !isVolumeName(name)) return usage('give the volume to leave: paciofs leave <volume>')
        try {
          await this.leave(name)
          return { exitCode: 0, stdout: `left '${name}'\n`, stderr: '' }
        } catch (err) {
          return { exitCode: 1, stdout: '', stderr: `paciofs leave: ${(err as Error).message}\n` }
        }
      case 'invite': {
        // argv: volume, seconds valid, invitee pid or '' (runtime/node-commands.ts parses the flags).
        const secs = Number(req.argv[1])
        const invitee = req.argv[2] ?? ''
        if (name === undefined || !isVolumeName(name) || !Number.isSafeInteger(secs) || secs <= 0 || (invitee !== '' && !isPid(invitee))) return usage('paciofs invite --volume <name> [--expires 24h] [--for <node-id>]')
        try {
          const { token, expiresS } = await this.invite(name, secs, invitee === '' ? null : invitee)
          return { exitCode: 0, stdout: `${inviteText(token)}
`, stderr: `paciofs: a one-time invite to '${name}'${invitee === '' ? ' for whichever node uses it first' : ` for node ${invitee}`}, valid until ${new Date(expiresS * 1000).toISOString()}; the applicant runs: paciofs serve --join ${name} --invite <token> --peer <this node>\n` }
        } catch (err) {
          return { exitCode: 1, stdout: '', stderr: `paciofs invite: ${(err as Error).message}\n` }
        }
      }
      case 'admit': {
        const target = req.argv[1]
        if (name === undefined || !isVolumeName(name) || target === undefined || !isPid(target)) return usage('paciofs admit --volume <name> <node-id>')
        try {
          await this.admitById(name, target)
          return { exitCode: 0, stdout: `admitted ${target} to '${name}': the members vote to accept it once its join arrives (paciofs members --volume ${name})\n`, stderr: '' }
        } catch (err) {
          return { exitCode: 1, stdout: '', stderr: `paciofs admit: ${(err as Error).message}\n` }
        }
      }
      case 'create':
        if (name === undefined || !isVolumeName(name)) return usage('give the volume to create: paciofs create <volume> [--open]')
        try {
          const made = await this.ensureVolume(name, 'majority', req.argv.includes('--open') ? 'open' : 'closed', req.argv.includes('--totb') ? 'totb' : 'fotb')
          return made ? { exitCode: 0, stdout: `created '${name}'\n`, stderr: '' } : { exitCode: 1, stdout: '', stderr: `paciofs create: this node already has '${name}'\n` }
        } catch (err) {
          return { exitCode: 1, stdout: '', stderr: `paciofs create: ${(err as Error).message}\n` }
        }
      default:
        return usage(`unknown control command '${req.command}'`)
    }
  }
}
