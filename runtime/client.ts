// The client's side of client/server mode (runtime/client-protocol.ts): a VolumeBackend whose
// every request goes over an encrypted, authenticated channel (runtime/transport.ts,
// spec/channel.md) to the node that serves the volume. The client proves its own key in the
// handshake and learns the node's; the volume it mounts is in the channel's prologue, so the node
// knows, bound to the handshake, which volume this connection is for. A request that gets no
// answer within its timeout fails with ETIMEDOUT (the mount maps it), never hangs the kernel.
import { decode, encode, type Value } from '../core/codec.ts'
import type { Attr, DirEntry, Errno, Lookup } from '../core/fs/index.ts'
import type { CallResult, FsCall } from '../core/volume/index.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import type { VolumeBackend, VolumeUsage } from './backend.ts'
import { attrFromValue, callToValue, CS_READ_BYTES_MAX, direntsFromValue, type CsMethod } from './client-protocol.ts'
import { CodedError } from './errors.ts'
import type { HostAddress } from './host.ts'
import { nodeCrypto } from './node-crypto.ts'
import { frameTag } from './frames.ts'
import { Transport } from './transport.ts'

export type ClientErrorCode = 'CLIENT_NO_SERVER' | 'CLIENT_TIMEOUT' | 'CLIENT_BAD_ANSWER' | 'CLIENT_CLOSED'
export class ClientError extends CodedError<ClientErrorCode> {}

interface Pending {
  resolve(r: { ok: true; value: Value } | { ok: false; errno: string; detail: string }): void
  reject(err: Error): void
  timer: NodeJS.Timeout
}

export interface RemoteOptions {
  readonly server: HostAddress
  readonly secretKey: Uint8Array
  readonly volume: VolumeName
  readonly at?: number
  readonly requestTimeoutMs?: number
  readonly connectTimeoutMs?: number
}

export class RemoteBackend implements VolumeBackend {
  readonly readOnly: boolean
  private readonly transport: Transport
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private serverPid: Pid | undefined
  private closed = false

  private constructor(private readonly opts: RemoteOptions) {
    this.readOnly = opts.at !== undefined
    this.transport = new Transport({
      crypto: nodeCrypto,
      secretKey: opts.secretKey,
      onMessage: (from, bytes) => this.onMessage(from, bytes),
      onPeer: (pid, state) => {
        if (state === 'up') this.serverPid = pid
        else if (pid === this.serverPid) this.serverPid = undefined
      },
      reconnectMaxMs: 1_000,
    })
  }

  /** Connects and checks that the node serves the volume (and the epoch). */
  static async connect(opts: RemoteOptions): Promise<RemoteBackend> {
    const b = new RemoteBackend(opts)
    b.transport.connect(opts.server.host, opts.server.port, undefined, { volume: opts.volume })
    const until = Date.now() + (opts.connectTimeoutMs ?? 10_000)
    while (b.serverPid === undefined) {
      if (Date.now() > until) {
        await b.close()
        throw new ClientError('CLIENT_NO_SERVER', `no paciofs node answered at ${opts.server.host}:${opts.server.port}; is \`paciofs serve\` running there?`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
    const r = await b.request('getattr', ['/'])
    if (!r.ok) {
      await b.close()
      throw new ClientError('CLIENT_NO_SERVER', `the node at ${opts.server.host}:${opts.server.port} refused volume '${opts.volume}': ${r.detail || r.errno}`)
    }
    return b
  }

  get server(): Pid | undefined {
    return this.serverPid
  }

  async close(): Promise<void> {
    this.closed = true
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(new ClientError('CLIENT_CLOSED', 'the client was closed'))
    }
    this.pending.clear()
    await this.transport.close()
  }

  private onMessage(_from: Pid, bytes: Uint8Array): void {
    if (frameTag(bytes) !== 'cs/res') return
    let v: Value
    try {
      v = decode(bytes)
    } catch {
      return
    }
    if (!Array.isArray(v) || typeof v[1] !== 'number') return
    const p = this.pending.get(v[1])
    if (p === undefined) return
    this.pending.delete(v[1])
    clearTimeout(p.timer)
    if (v[2] === true && v.length === 4) p.resolve({ ok: true, value: v[3]! })
    else if (v[2] === false && typeof v[3] === 'string') p.resolve({ ok: false, errno: v[3], detail: typeof v[4] === 'string' ? v[4] : '' })
    else p.reject(new ClientError('CLIENT_BAD_ANSWER', 'the node sent a malformed answer'))
  }

  private request(method: CsMethod, args: Value[]): Promise<{ ok: true; value: Value } | { ok: false; errno: string; detail: string }> {
    if (this.closed) return Promise.reject(new ClientError('CLIENT_CLOSED', 'the client was closed'))
    const to = this.serverPid
    if (to === undefined) return Promise.reject(new ClientError('CLIENT_NO_SERVER', 'not connected to the node (reconnecting)'))
    const id = this.nextId++
    const timeoutMs = this.opts.requestTimeoutMs ?? 20_000
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new ClientError('CLIENT_TIMEOUT', `the node did not answer ${method} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer })
      if (!this.transport.send(to, encode(['cs/req', id, this.opts.volume, this.opts.at ?? null, method, args]))) {
        clearTimeout(timer)
        this.pending.delete(id)
        reject(new ClientError('CLIENT_NO_SERVER', 'the connection to the node is down or its queue is full'))
      }
    })
  }

  private async lookup<T>(method: CsMethod, args: Value[], conv: (v: Value) => T | undefined): Promise<Lookup<T>> {
    const r = await this.request(method, args)
    if (!r.ok) return { ok: false, errno: r.errno as Errno }
    const value = conv(r.value)
    if (value === undefined) throw new ClientError('CLIENT_BAD_ANSWER', `the node sent a malformed ${method} answer`)
    return { ok: true, value }
  }

  getattr(path: string): Promise<Lookup<Attr>> {
    return this.lookup('getattr', [path], attrFromValue)
  }
  readdir(path: string): Promise<Lookup<DirEntry[]>> {
    return this.lookup('readdir', [path], direntsFromValue)
  }
  async read(path: string, offset: number, length: number): Promise<Lookup<Uint8Array>> {
    const parts: Uint8Array[] = []
    let got = 0
    while (got < length) {
      const n = Math.min(CS_READ_BYTES_MAX, length - got)
      const r = await this.lookup('read', [path, offset + got, n], (v) => (v instanceof Uint8Array && v.length <= n ? v : undefined))
      if (!r.ok) return r
      parts.push(r.value)
      got += r.value.length
      if (r.value.length < n) break
    }
    return { ok: true, value: parts.length === 1 ? parts[0]! : Buffer.concat(parts) }
  }
  readlink(path: string): Promise<Lookup<string>> {
    return this.lookup('readlink', [path], (v) => (typeof v === 'string' ? v : undefined))
  }
  listxattr(path: string): Promise<Lookup<string[]>> {
    return this.lookup('listxattr', [path], (v) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined))
  }
  getxattr(path: string, name: string): Promise<Lookup<Uint8Array>> {
    return this.lookup('getxattr', [path, name], (v) => (v instanceof Uint8Array ? v : undefined))
  }
  async usage(): Promise<VolumeUsage> {
    const r = await this.request('usage', [])
    if (r.ok && Array.isArray(r.value) && typeof r.value[0] === 'number' && typeof r.value[1] === 'number') return { files: r.value[0], bytes: r.value[1] }
    return { files: 0, bytes: 0 }
  }
  async sync(): Promise<void> {
    if (this.readOnly) return
    const r = await this.request('sync', [])
    if (!r.ok) throw new ClientError('CLIENT_BAD_ANSWER', `the node could not sync: ${r.detail || r.errno}`)
  }
  async call(call: FsCall, opts: { readonly early?: boolean } = {}): Promise<CallResult> {
    const r = await this.request('call', [callToValue(call), opts.early === true])
    if (r.ok) return typeof r.value === 'number' ? { ok: true, ino: r.value } : { ok: true }
    return { ok: false, errno: r.errno as Errno, detail: r.detail } as CallResult
  }
}
