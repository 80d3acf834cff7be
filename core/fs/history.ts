// Version history of a path: which inodes were bound to the path during which epochs (from the
// directories' name histories), and every version those inodes had meanwhile.
import type { Value } from '../codec.ts'
import { encode } from '../codec.ts'
import { toHex } from '../bytes.ts'
import type { Epoch, Pid } from '../types.ts'
import { parsePath } from './paths.ts'
import type { FsState } from './state.ts'
import type { Cred, Errno, FsTime, InodeVersion, Lookup, NodeKind } from './types.ts'
import { ROOT_INO } from './types.ts'
import { lastAtOrBefore, snapshotAt, sortedBlocks } from './view.ts'

export const TAG_CONTENT = 'paciofs/fs/content/v1'

export interface HistoryEntry {
  readonly epoch: Epoch
  /** Author and op kind of the op at `epoch` ('' / 'base' for the initial tree). */
  readonly author: Pid | ''
  readonly op: string
  /** Credentials of the op's caller (groups only when it had supplementary groups). */
  readonly cred: Cred
  /** The client node a server applied the op for (only then). */
  readonly client?: Pid
  readonly ino: number
  readonly kind: NodeKind | 'deleted'
  readonly size: number
  /** Hex sha256 of the content (blocks, target or entries); null for deletion markers. */
  readonly contentHash: string | null
  readonly mode: number
  /** Owner of the object in this version. */
  readonly uid: number
  readonly gid: number
  readonly mtime: FsTime | null
}

/** A span of epochs [from, to) during which the path resolved to `ino`. */
interface Span {
  from: Epoch
  to: Epoch
  ino: number
}

function bindings(fs: FsState, names: readonly string[]): Span[] {
  let spans: Span[] = [{ from: fs.baseEpoch, to: Infinity, ino: ROOT_INO }]
  for (const name of names) {
    const next: Span[] = []
    for (const s of spans) {
      const hist = fs.past.nameHistory(s.ino, name)
      if (hist === undefined) continue
      for (let i = 0; i < hist.length; i++) {
        const e = hist[i]!
        if (e.ino === 0) continue
        const from = Math.max(s.from, e.epoch)
        const to = Math.min(s.to, hist[i + 1]?.epoch ?? Infinity)
        if (from < to) next.push({ from, to, ino: e.ino })
      }
    }
    next.sort((a, b) => a.from - b.from)
    spans = []
    for (const s of next) {
      const last = spans[spans.length - 1]
      if (last !== undefined && last.ino === s.ino && last.to === s.from) last.to = s.to
      else spans.push({ ...s })
    }
  }
  return spans
}

function contentHash(fs: FsState, ino: number, v: InodeVersion, at: Epoch): string {
  let body: Value
  if (v.kind === 'file') body = [v.size, sortedBlocks(v).map(([i, r]) => [i, r.hash, r.len])]
  else if (v.kind === 'symlink') body = v.target
  else if (v.kind === 'dir') body = snapshotAt(fs, at).children(ino).map(([n, i]) => [n, i])
  else body = null
  return toHex(fs.crypto.sha256(encode([TAG_CONTENT, v.kind, body])))
}

function logOf(fs: FsState, epoch: Epoch): { author: Pid | ''; op: string; cred: Cred; client?: Pid } {
  const line = fs.past.logLine(epoch)
  if (line === undefined) return { author: '', op: 'base', cred: { uid: 0, gid: 0 } }
  const cred: Cred = line.groups !== undefined ? { uid: line.uid, gid: line.gid, groups: line.groups } : { uid: line.uid, gid: line.gid }
  return line.client !== undefined ? { author: line.author, op: line.kind, cred, client: line.client } : { author: line.author, op: line.kind, cred }
}

/** Every version of the object(s) at `path` in epoch order: the entry with the largest epoch
 *  <= e describes what the path held right after epoch e, a 'deleted' marker where the path
 *  stopped resolving. Empty when nothing was ever there. */
export function history(fs: FsState, path: string): Lookup<HistoryEntry[]> {
  const parsed = parsePath(path)
  if (!parsed.ok) return parsed as { ok: false; errno: Errno }
  const spans = bindings(fs, parsed.names)
  const out: HistoryEntry[] = []
  const starts = new Set(spans.map((s) => s.from))
  for (const s of spans) {
    const versions = fs.past.versions(s.ino)
    // The version in effect when the object arrived at the path, reported at the arrival epoch
    // (a rename of an ancestor moves an object without changing it), then its later versions.
    for (let i = Math.max(0, lastAtOrBefore(versions, s.from)); i < versions.length; i++) {
      const v = versions[i]!
      if (v.epoch >= s.to) break
      if (v.deleted) continue
      const epoch = Math.max(v.epoch, s.from)
      out.push({
        epoch, ...logOf(fs, epoch), ino: s.ino, kind: v.kind, size: v.size,
        contentHash: contentHash(fs, s.ino, v, epoch), mode: v.mode, uid: v.uid, gid: v.gid, mtime: v.mtime,
      })
    }
    if (s.to !== Infinity && !starts.has(s.to)) {
      out.push({
        epoch: s.to, ...logOf(fs, s.to), ino: s.ino, kind: 'deleted', size: 0, contentHash: null,
        mode: 0, uid: 0, gid: 0, mtime: null,
      })
    }
  }
  out.sort((a, b) => a.epoch - b.epoch)
  return { ok: true, value: out }
}
