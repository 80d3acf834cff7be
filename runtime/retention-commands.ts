// `paciofs retain`, `paciofs hold`, `paciofs retention` (spec/fs.md "Retention and legal hold"):
// the CLI side parses the flags and asks the running node through its control socket; the node
// side turns a request into a retention op (an operation in the ledger, authored by this node)
// or reads the state. The rules are the core's (core/fs/retention.ts); nothing is decided here.
import { parseArgs } from 'node:util'
import type { FsCall } from '../core/volume/index.ts'
import type { VolumeState } from '../core/volume/index.ts'
import { isPid, isVolumeName, type Pid, type VolumeName } from '../core/types.ts'
import { getattr } from '../core/fs/view.ts'
import { ROOT_INO, type Cred, type FsTime } from '../core/fs/types.ts'
import { retentionOf, RETENTION_XATTR, volumeRetentionOf, type Retention } from '../core/fs/retention.ts'
import type { CommandOutput } from './inspect.ts'
import type { NodeReply, NodeRequest } from '../core/node.ts'

export const RETENTION_USAGE: Record<string, string> = {
  retain: `usage: paciofs retain <path> (--until <date> | --for <duration>) [--override] [--volume <name>] [--data <dir>]
       paciofs retain --default <duration|0> --mode governance|compliance [--governor <node-id>]... [--volume <name>] [--data <dir>]

Puts <path> (a file, or a directory: its whole subtree) under retention until a time: readable,
but no write, truncate, unlink, rename, link, chmod, chown, utimens or xattr change by anybody,
root included, until then (EPERM). A period can be extended, never shortened; --override lets a
governor of a governance volume shorten or lift it (a past --until lifts it). The op is in the
ledger with this node as its author and the caller's uid; its time is this node's clock.
With --default: the volume's configuration: every regular file made afterwards is retained for
<duration> from its creation (its first write still goes in), the mode (governance: the listed
--governor nodes may override; compliance: nobody, and it is final), 0 = no default.
  --until <date>     an ISO 8601 date/time (2036-12-31, 2036-12-31T23:59:59Z)
  --for <duration>   <n>y (365.25 days), <n>d, <n>h, <n>m, <n>s
`,
  hold: `usage: paciofs hold <path> on|off [--volume <name>] [--data <dir>]

Sets or lifts a legal hold on <path> (a file or a directory subtree): while it is on, nothing
changes or deletes it, also after its retention period ended. Any member's owner of the file or
root may set or lift it (a hold is independent of the volume's mode).
`,
  retention: `usage: paciofs retention <path> [--volume <name>] [--data <dir>]

Shows the retention state of <path>: its own period and hold and which node set them, the
directories above it that protect it, and the volume's mode and default; with the epochs and
authors of every retention op on it (from the history).
`,
}

/** "10y", "30d", "12h", "90m", "45s" or plain seconds; `zero` allows 0. */
export function durationSec(text: string, zero = false): number | undefined {
  const m = /^(\d{1,12})([ydhms]?)$/.exec(text)
  if (!m) return undefined
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400, y: 31_557_600 }[m[2] as '' | 's' | 'm' | 'h' | 'd' | 'y']
  const n = Number(m[1]) * unit
  return Number.isSafeInteger(n) && (n > 0 || (zero && n === 0)) ? n : undefined
}

function nowTime(): FsTime {
  const ms = Date.now()
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 }
}

type Args = { volume: string; argv: string[] } | { error: string }

/** CLI side: the control request's argv for `retain` / `hold` / `retention`. argv[0] volume,
 *  argv[1] the caller's uid, argv[2] gid, then the command's own. */
export function retentionRequest(command: 'retain' | 'hold' | 'retention', argv: readonly string[], cred: Cred, defaultVolume: string): Args & { data?: string | undefined } {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      data: { type: 'string' }, volume: { type: 'string' }, until: { type: 'string' }, for: { type: 'string' },
      override: { type: 'boolean' }, default: { type: 'string' }, mode: { type: 'string' }, governor: { type: 'string', multiple: true },
    },
  })
  const volume = values.volume ?? defaultVolume
  const head = [volume, String(cred.uid), String(cred.gid)]
  const data = values.data
  if (command === 'retain' && values.default !== undefined) {
    const sec = durationSec(values.default, true)
    if (sec === undefined) return { error: `bad --default '${values.default}': <n>y, <n>d, <n>h, <n>m, <n>s or 0` }
    if (values.mode !== 'governance' && values.mode !== 'compliance') return { error: 'give the mode: --mode governance or --mode compliance' }
    const governors = [...new Set(values.governor ?? [])].sort()
    if (governors.some((g) => !isPid(g))) return { error: 'a --governor is a node id (66 hex digits; paciofs init prints it)' }
    if (positionals.length > 0) return { error: '--default configures the volume: give no path' }
    return { volume, data, argv: [...head, '--default', String(sec), values.mode, ...governors] }
  }
  if (positionals.length < 1 || !positionals[0]!.startsWith('/')) return { error: 'give the path inside the volume, absolute (e.g. /books/2026.pdf)' }
  const path = positionals[0]!
  if (command === 'hold') {
    const on = positionals[1]
    if (on !== 'on' && on !== 'off') return { error: 'say on or off: paciofs hold <path> on|off' }
    return { volume, data, argv: [...head, path, on] }
  }
  if (command === 'retention') return { volume, data, argv: [...head, path] }
  let untilSec: number
  if (values.until !== undefined && values.for === undefined) {
    const ms = Date.parse(values.until)
    if (!Number.isFinite(ms)) return { error: `bad --until '${values.until}': an ISO 8601 date or date/time` }
    untilSec = Math.floor(ms / 1000)
  } else if (values.for !== undefined && values.until === undefined) {
    const sec = durationSec(values.for)
    if (sec === undefined) return { error: `bad --for '${values.for}': <n>y, <n>d, <n>h, <n>m or <n>s` }
    untilSec = Math.floor(Date.now() / 1000) + sec
  } else return { error: 'give exactly one of --until <date> and --for <duration>' }
  return { volume, data, argv: [...head, path, String(untilSec), values.override === true ? 'override' : ''] }
}

interface Host {
  readonly state: { readonly volumes: ReadonlyMap<VolumeName, VolumeState> }
  request(r: NodeRequest): Promise<NodeReply>
}

const fail = (command: string, msg: string, code: 1 | 2 = 1): CommandOutput => ({ exitCode: code, stdout: '', stderr: `paciofs ${command}: ${msg}\n` })

/** Node side: one control request of `retain`, `hold` or `retention`. */
export async function retentionControl(host: Host, command: string, argv: readonly string[]): Promise<CommandOutput> {
  const [volume, uidText, gidText, ...rest] = argv
  const uid = Number(uidText)
  const gid = Number(gidText)
  if (volume === undefined || !isVolumeName(volume) || !Number.isSafeInteger(uid) || !Number.isSafeInteger(gid)) return fail(command, 'malformed request', 2)
  const vol = host.state.volumes.get(volume)
  if (vol === undefined) return fail(command, `this node has no volume '${volume}'`)
  const cred: Cred = { uid, gid }
  const time = nowTime()
  if (command === 'retention') return show(vol, rest[0] ?? '/')
  let call: FsCall
  let done: string
  if (command === 'retain' && rest[0] === '--default') {
    const governors = rest.slice(3).filter((g): g is Pid => isPid(g))
    const mode = rest[2] === 'compliance' ? 'compliance' : 'governance'
    call = { type: 'retention-config', mode, defaultSec: Number(rest[1]), governors, cred, time }
    done = `volume '${volume}': mode ${mode}, default ${Number(rest[1]) === 0 ? 'none' : `${rest[1]} s`}${governors.length > 0 ? `, governors ${governors.join(' ')}` : ''}`
  } else if (command === 'retain') {
    const until = { sec: Number(rest[1]), nsec: 0 }
    call = { type: 'retain', path: rest[0]!, until, override: rest[2] === 'override', cred, time }
    done = `${rest[0]} retained until ${iso(until)}`
  } else if (command === 'hold') {
    call = { type: 'hold', path: rest[0]!, on: rest[1] === 'on', cred, time }
    done = `${rest[0]}: legal hold ${rest[1]}`
  } else return fail(command, 'unknown retention command', 2)
  const r = await host.request({ type: 'fs', volume, call })
  if (!r.ok) {
    const errno = 'errno' in r ? r.errno : 'error'
    const why = errno === 'EPERM' ? explainEperm(command, call) : errno === 'EINVAL' ? (call.type === 'retention-config' ? 'compliance lists no governors (nobody may override)' : 'the period is already over (give a later --until or a longer --for)') : 'detail' in r ? String(r.detail) : errno
    return fail(command, `${errno}: ${why}`)
  }
  return { exitCode: 0, stdout: `${done}\n`, stderr: '' }
}

function explainEperm(command: string, call: FsCall): string {
  if (call.type === 'retention-config') return 'only root may configure, a governance volume only through a governor node, and compliance is final (no governance, no shorter default)'
  if (command === 'hold') return 'only the owner of the file or root may set or lift a hold'
  return call.type === 'retain' && call.override
    ? 'only a governor node of a governance volume may override (compliance: nobody)'
    : 'a retention period can be extended, never shortened (a governor may --override in governance mode), and only by the owner or root'
}

function iso(t: FsTime): string {
  const ms = t.sec * 1000
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : `${t.sec} s`
}

function describe(r: Retention): string {
  const parts: string[] = []
  parts.push(r.until === null ? 'no period' : `until ${iso(r.until)}${r.untilBy !== null ? ` (set by ${r.untilBy})` : ''}`)
  parts.push(r.hold ? `legal hold ON${r.holdBy !== null ? ` (by ${r.holdBy})` : ''}` : `no hold${r.holdBy !== null ? ` (lifted by ${r.holdBy})` : ''}`)
  if (r.open) parts.push('open for its first write')
  return parts.join(', ')
}

/** The state of `path`: own record, protecting directories above, the volume's configuration,
 *  and every retention op on its inode from the history (the versions whose record changed). */
function show(vol: VolumeState, path: string): CommandOutput {
  const fs = vol.fs
  const a = getattr(fs, path)
  if (!a.ok) return fail('retention', `${path}: ${a.errno}`)
  const lines: string[] = []
  const rec = fs.inodes.get(a.value.ino)!
  const own = retentionOf(rec.cur)
  lines.push(`${path}: ${own === null ? 'no retention of its own' : describe(own)}`)
  const names = path.split('/').filter((n) => n !== '')
  for (let i = names.length - 1; i >= 0; i--) {
    const dir = '/' + names.slice(0, i).join('/')
    const d = getattr(fs, dir)
    if (!d.ok) continue
    const r = retentionOf(fs.inodes.get(d.value.ino)!.cur)
    if (r !== null) lines.push(`  under ${dir}: ${describe(r)}`)
  }
  const cfg = volumeRetentionOf(fs.inodes.get(ROOT_INO)!.cur)
  lines.push(cfg === null
    ? `volume '${vol.genesis.name}': not configured (no default, no governors)`
    : `volume '${vol.genesis.name}': ${cfg.mode}, default ${cfg.defaultSec === 0 ? 'none' : `${cfg.defaultSec} s`}${cfg.governors.length > 0 ? `, governors ${cfg.governors.join(' ')}` : ''} (set by ${cfg.by})`)
  lines.push('retention history (epoch, op, author, uid):')
  let prev: Uint8Array | undefined
  for (const v of fs.past.versions(a.value.ino)) {
    const bytes = v.xattrs.get(RETENTION_XATTR)
    if (bytes !== prev && bytes !== undefined) {
      const line = fs.past.logLine(v.epoch)
      lines.push(`  ${v.epoch} ${line?.kind ?? 'base'} ${line?.author ?? ''} uid ${line?.uid ?? ''}: ${describe(retentionOf(v)!)}`)
    }
    prev = bytes
  }
  return { exitCode: 0, stdout: lines.join('\n') + '\n', stderr: '' }
}
