// The node's side of client/server mode (runtime/client-protocol.ts): answers 'cs/req' frames of
// the clients it admits, from the node's state (reads) or through its core (calls).
import { decode, encode, type Value } from '../core/codec.ts'
import { isVolumeName, type Pid, type VolumeName } from '../core/types.ts'
import type { Lookup } from '../core/fs/index.ts'
import { VolumeReader } from './backend.ts'
import type { NodeHost } from './host.ts'
import { attrToValue, callFromValue, CS_READ_BYTES_MAX, direntsToValue } from './client-protocol.ts'
import { frameTag } from './frames.ts'

export type ServerStat =
  | 'cs:request'
  | 'cs:refused-client' // a key that is not an admitted client
  | 'cs:malformed' // undecodable or ill-typed request
  | 'cs:call' // state-changing calls handed to the core
  | 'cs:failed' // a request the node could not answer (halted, timeout)
  | 'cs:wrong-volume' // a request for another volume than the one its channel was opened for

export class ClientServer {
  readonly stats = new Map<ServerStat, number>()

  constructor(
    private readonly host: NodeHost,
    /** Client keys admitted; a member of nothing, they may read and change these volumes. */
    private readonly clients: ReadonlySet<Pid>,
  ) {
    host.addFrameFilter((from, bytes) => this.onFrame(from, bytes))
  }

  private bump(s: ServerStat): void {
    this.stats.set(s, (this.stats.get(s) ?? 0) + 1)
  }

  private onFrame(from: Pid, bytes: Uint8Array): boolean {
    if (frameTag(bytes) !== 'cs/req') return false
    this.bump('cs:request')
    let v: Value
    try {
      v = decode(bytes)
    } catch {
      this.bump('cs:malformed')
      return true
    }
    if (!Array.isArray(v) || v.length !== 6 || typeof v[1] !== 'number') {
      this.bump('cs:malformed')
      return true
    }
    const id = v[1]
    const reply = (r: Value[]): void => void this.host.sendFrame(from, encode(['cs/res', id, ...r]))
    if (!this.clients.has(from)) {
      this.bump('cs:refused-client')
      reply([false, 'EACCES', `node ${this.host.pid.slice(0, 12)} does not serve client ${from}; start it with --client ${from}`])
      return true
    }
    void this.answer(v, reply, from).catch((err: Error) => {
      this.bump('cs:failed')
      reply([false, (err as { code?: string }).code === 'HOST_REQUEST_TIMEOUT' ? 'ETIMEDOUT' : 'EIO', err.message])
    })
    return true
  }

  private async answer(v: readonly Value[], reply: (r: Value[]) => void, from: Pid): Promise<void> {
    const [, , volume, at, method, args] = v
    const bad = (why: string): void => {
      this.bump('cs:malformed')
      reply([false, 'EINVAL', why])
    }
    if (typeof volume !== 'string' || !isVolumeName(volume)) return bad('bad volume name')
    // The client's channel names its volume in the handshake's prologue (spec/channel.md): a
    // request on it for another volume is not what the client connected for.
    const channel = this.host.channelOf(from)
    if (channel?.kind === 'client' && channel.volume !== volume) {
      this.bump('cs:wrong-volume')
      return reply([false, 'EACCES', `this connection was opened for volume '${channel.volume}', not '${volume}'`])
    }
    const state = this.host.state.volumes.get(volume as VolumeName)
    if (state === undefined) return reply([false, 'ENOENT', `this node does not serve volume '${volume}'`])
    if (at !== null && (typeof at !== 'number' || !Number.isSafeInteger(at) || at < state.fs.baseEpoch || at > state.fs.epoch)) {
      return reply([false, 'EINVAL', `epoch ${String(at)} is outside ${state.fs.baseEpoch}..${state.fs.epoch}`])
    }
    if (!Array.isArray(args)) return bad('args must be a list')
    const reader = new VolumeReader(this.host, volume as VolumeName, at === null ? undefined : (at as number))
    const path = typeof args[0] === 'string' ? args[0] : undefined
    const send = <T>(r: Lookup<T>, conv: (t: T) => Value): void => (r.ok ? reply([true, conv(r.value)]) : reply([false, r.errno, '']))
    switch (method) {
      case 'getattr':
        if (path === undefined) return bad('getattr(path)')
        return send(reader.getattr(path), attrToValue)
      case 'readdir':
        if (path === undefined) return bad('readdir(path)')
        return send(reader.readdir(path), direntsToValue)
      case 'read': {
        const [, offset, length] = args
        if (path === undefined || typeof offset !== 'number' || typeof length !== 'number' || !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || length > CS_READ_BYTES_MAX) {
          return bad(`read(path, offset, length <= ${CS_READ_BYTES_MAX})`)
        }
        return send(reader.read(path, offset, length), (b) => b)
      }
      case 'readlink':
        if (path === undefined) return bad('readlink(path)')
        return send(reader.readlink(path), (s) => s)
      case 'listxattr':
        if (path === undefined) return bad('listxattr(path)')
        return send(reader.listxattr(path), (l) => l)
      case 'getxattr':
        if (path === undefined || typeof args[1] !== 'string') return bad('getxattr(path, name)')
        return send(reader.getxattr(path, args[1]), (b) => b)
      case 'usage': {
        const u = reader.usage()
        return reply([true, [u.files, u.bytes]])
      }
      case 'call': {
        if (at !== null) return reply([false, 'EROFS', 'a past epoch is read-only'])
        const c = callFromValue(args[0] ?? null)
        if (!c.ok) return bad(c.reason)
        if (args[1] !== undefined && typeof args[1] !== 'boolean') return bad('call(FsCall, early?: boolean)')
        this.bump('cs:call')
        // The op names the client by the key it authenticated with; a claim in the request is
        // replaced, never trusted (spec/runtime.md RT-8).
        const call = { ...c.call, client: from }
        const r = await this.host.request({ type: 'fs', volume: volume as VolumeName, call }, { early: args[1] === true })
        if (r.ok) return reply([true, 'ino' in r && typeof r.ino === 'number' ? r.ino : null])
        return reply([false, r.errno, 'detail' in r ? r.detail : ''])
      }
      case 'sync':
        await this.host.sync()
        return reply([true, null])
      default:
        return bad(`unknown method ${String(method)}`)
    }
  }
}
