// Effects are data: the core describes what must happen, the host (simulator or runtime)
// performs it. Order rule (as raft's Ready): the host makes every `persist` of a step durable
// before it performs any `send` or `reply` of that step, so nothing leaves a node that its disk
// would not remember. `Out` collects effects during one step; `Out.effects()` returns them with
// the single persist first.
import type { Value } from './codec.ts'
import type { Pid, TimeMs, VolumeName } from './types.ts'

export type RequestId = number

/** A record the host must store durably; its canonical encoding is what goes to disk. */
export type PersistRecord = Value

export interface TraceEvent {
  readonly kind: string
  readonly volume?: VolumeName
  readonly peer?: Pid
  readonly detail?: string
}

export type Effect<Reply = unknown, Up = unknown> =
  | { readonly type: 'persist'; readonly records: readonly PersistRecord[] }
  | { readonly type: 'send'; readonly to: Pid; readonly bytes: Uint8Array }
  | { readonly type: 'setTimer'; readonly id: string; readonly at: TimeMs }
  | { readonly type: 'reply'; readonly req: RequestId; readonly result: Reply }
  | { readonly type: 'deliver'; readonly volume: VolumeName; readonly up: Up }
  | { readonly type: 'trace'; readonly event: TraceEvent }

export class Out<Reply = unknown, Up = unknown> {
  readonly records: PersistRecord[] = []
  private readonly rest: Effect<Reply, Up>[] = []

  persist(...records: PersistRecord[]): void {
    for (const r of records) this.records.push(r)
  }
  send(to: Pid, bytes: Uint8Array): void {
    this.rest.push({ type: 'send', to, bytes })
  }
  setTimer(id: string, at: TimeMs): void {
    this.rest.push({ type: 'setTimer', id, at })
  }
  reply(req: RequestId, result: Reply): void {
    this.rest.push({ type: 'reply', req, result })
  }
  deliver(volume: VolumeName, up: Up): void {
    this.rest.push({ type: 'deliver', volume, up })
  }
  trace(event: TraceEvent): void {
    this.rest.push({ type: 'trace', event })
  }
  /** All effects of the step, the one persist (if any) first. */
  effects(): Effect<Reply, Up>[] {
    if (this.records.length === 0) return this.rest
    return [{ type: 'persist', records: this.records }, ...this.rest]
  }
}
