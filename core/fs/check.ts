// Executable invariants of the current state (spec/fs.md FS-4, FS-5, FS-8), for tests and for
// the simulator to run after every step. Returns violations; never throws on a bad state.
import { ROOT_INO, BLOCK_SIZE } from './types.ts'
import type { InodeVersion, Violation } from './types.ts'
import type { FsState } from './state.ts'
import { currentVersion } from './state.ts'
import { utf8Length } from './paths.ts'
import { stateRoot, stateRootUncached } from './merkle.ts'

export interface CheckOptions {
  /** Also recompute the state root without the cache and compare (O(tree)). */
  readonly deep?: boolean
}

export function checkFsInvariants(fs: FsState, opts: CheckOptions = {}): Violation[] {
  const out: Violation[] = []
  const v = (id: string, message: string): void => {
    out.push({ id, message })
  }
  const root = currentVersion(fs, ROOT_INO)
  if (root === undefined || root.kind !== 'dir') {
    v('FS-4', 'the root (ino 1) is not a live directory')
    return out
  }
  if (fs.past.logLength !== fs.epoch - fs.baseEpoch) v('FS-7', `log has ${fs.past.logLength} lines for epochs ${fs.baseEpoch + 1}..${fs.epoch}`)
  // Count names per inode from the directories' entries.
  const names = new Map<number, Map<number, number>>()
  const subdirs = new Map<number, number>()
  for (const [ino, rec] of fs.inodes) {
    const cur = currentVersion(fs, ino)
    let last = -1
    const versions = fs.past.versions(ino)
    for (const ver of versions) {
      if (ver.epoch <= last) v('FS-7', `inode ${ino}: versions not in strictly ascending epochs`)
      last = ver.epoch
    }
    const lastV = versions[versions.length - 1]
    const same = (x: InodeVersion, y: InodeVersion): boolean =>
      x === y || (x.epoch === y.epoch && x.kind === y.kind && x.mode === y.mode && x.size === y.size && x.nlink === y.nlink && x.deleted === y.deleted && x.target === y.target && x.blocks.size === y.blocks.size)
    if (lastV === undefined || !same(lastV, rec.cur)) v('FS-7', `inode ${ino}: the current version is not the last one of its history`)
    if (last > fs.epoch) v('FS-7', `inode ${ino}: version from the future epoch ${last}`)
    if (cur === undefined) {
      v('FS-4', `deleted inode ${ino} is still in the current state`)
      continue
    }
    if (rec.entries !== null) {
      for (const [name, child] of rec.entries) {
        const cv = currentVersion(fs, child)
        if (cv === undefined) {
          v('FS-4', `directory ${ino}: entry ${JSON.stringify(name)} points to dead inode ${child}`)
          continue
        }
        let m = names.get(child)
        if (m === undefined) names.set(child, (m = new Map()))
        m.set(ino, (m.get(ino) ?? 0) + 1)
        if (cv.kind === 'dir') subdirs.set(ino, (subdirs.get(ino) ?? 0) + 1)
        const hist = fs.past.nameHistory(ino, name)
        if (hist?.[hist.length - 1]?.ino !== child) v('FS-7', `directory ${ino}: name history of ${JSON.stringify(name)} disagrees with the entry`)
      }
    }
  }
  for (const [ino, rec] of fs.inodes) {
    const cur = currentVersion(fs, ino)
    if (cur === undefined) continue
    const m = names.get(ino) ?? new Map<number, number>()
    let count = 0
    for (const n of m.values()) count += n
    const same = m.size === rec.parents.size && [...m].every(([p, n]) => rec.parents.get(p) === n)
    if (!same) v('FS-4', `inode ${ino}: parent links disagree with the directory entries`)
    if (ino === ROOT_INO) {
      if (count !== 0) v('FS-4', 'the root has a name in some directory')
    } else if (count === 0) v('FS-4', `inode ${ino} is live but has no name`)
    if (cur.kind === 'dir') {
      if (ino !== ROOT_INO && count !== 1) v('FS-4', `directory ${ino} has ${count} names`)
      const want = 2 + (subdirs.get(ino) ?? 0)
      if (cur.nlink !== want) v('FS-4', `directory ${ino}: nlink ${cur.nlink}, expected ${want}`)
      if (cur.size !== 0) v('FS-5', `directory ${ino}: size ${cur.size}, expected 0`)
    } else if (cur.nlink !== count) v('FS-4', `inode ${ino}: nlink ${cur.nlink}, but ${count} names`)
    if (cur.kind === 'file') {
      for (const [k, ref] of cur.blocks) {
        if (ref.len < 1 || ref.len > BLOCK_SIZE) v('FS-5', `inode ${ino}: block ${k} has valid length ${ref.len}`)
        if (k * BLOCK_SIZE + ref.len > cur.size) v('FS-5', `inode ${ino}: block ${k} reaches beyond the size ${cur.size}`)
      }
    } else if (cur.blocks.size > 0) v('FS-5', `inode ${ino}: a ${cur.kind} with blocks`)
    if (cur.kind === 'symlink' && cur.size !== utf8Length(cur.target)) v('FS-5', `symlink ${ino}: size ${cur.size} is not the target length`)
  }
  // Reachability and no cycles: walk from the root.
  const seen = new Set<number>([ROOT_INO])
  const queue = [ROOT_INO]
  while (queue.length > 0) {
    const rec = fs.inodes.get(queue.pop()!)!
    if (rec.entries === null) continue
    for (const child of rec.entries.values()) if (!seen.has(child)) {
      seen.add(child)
      queue.push(child)
    }
  }
  for (const ino of fs.inodes.keys()) {
    if (currentVersion(fs, ino) !== undefined && !seen.has(ino)) v('FS-4', `inode ${ino} is live but unreachable from the root`)
  }
  if (opts.deep === true && out.length === 0) {
    const cached = stateRoot(fs)
    const fresh = stateRootUncached(fs)
    if (cached !== fresh) v('FS-8', `cached state root ${cached} differs from the recomputed ${fresh}`)
  }
  return out
}
