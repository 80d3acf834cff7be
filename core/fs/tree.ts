// The materialized tree as records ("disk image"): exportTree writes the current tree as one
// canonical Value, importTree reads one back (validating it: a disk may be corrupted) into a
// fresh FsState without history, whose base epoch is the image's epoch.
import type { Value } from '../codec.ts'
import type { Crypto } from '../crypto.ts'
import type { ChunkHash, Epoch } from '../types.ts'
import { isHash32 } from '../types.ts'
import { checkName, compareNames } from './paths.ts'
import type { FsState } from './state.ts'
import { newInodeRec, newVersion } from './state.ts'
import { MemoryFsPast } from './past.ts'
import { HashCache } from './hashcache.ts'
import type { BlockRef, FsTime, InodeRec, InodeVersion } from './types.ts'
import { BLOCK_SIZE, EMPTY_XATTRS, ROOT_INO, kindOfMode } from './types.ts'
import { currentView, sortedBlocks } from './view.ts'
import { nodeHead } from './merkle.ts'
import { BlockTree, INDEX_LIMIT } from './blocks.ts'

export const TREE_FORMAT = 'paciofs/fs/tree/v1'

/** Every live inode reachable from the root, ascending ino, all fields present for every kind. */
export function exportTree(fs: FsState): Value {
  const view = currentView(fs)
  const nodes: Value[] = []
  const inos = [...fs.inodes.keys()].filter((i) => view.version(i) !== undefined).sort((a, b) => a - b)
  for (const ino of inos) {
    const v = view.version(ino)!
    nodes.push({
      ino, mode: v.mode, uid: v.uid, gid: v.gid, size: v.size, nlink: v.nlink,
      atime: [v.atime.sec, v.atime.nsec], mtime: [v.mtime.sec, v.mtime.nsec], ctime: [v.ctime.sec, v.ctime.nsec],
      rdev: v.rdev,
      xattrs: (nodeHead(ino, v)[11] as Value[]),
      blocks: sortedBlocks(v).map(([i, r]) => [i, r.hash, r.len]),
      target: v.target,
      entries: view.children(ino).map(([n, i]) => [n, i]),
    })
  }
  return { format: TREE_FORMAT, epoch: fs.epoch, nodes }
}

class Bad {
  constructor(readonly reason: string) {}
}
function bad(reason: string): never {
  throw new Bad(reason)
}
function rec(v: unknown, keys: readonly string[], what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) bad(`${what}: not a map`)
  const r = v as Record<string, unknown>
  const actual = Object.keys(r)
  if (actual.length !== keys.length || !keys.every((k) => Object.prototype.hasOwnProperty.call(r, k))) {
    bad(`${what}: fields must be exactly ${keys.join(', ')}`)
  }
  return r
}
function int(v: unknown, min: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) bad(`${what}: not an integer in [${min}, ${max}]`)
  return v
}
function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) bad(`${what}: not an array`)
  return v as unknown[]
}
function time(v: unknown, what: string): FsTime {
  const a = arr(v, what)
  if (a.length !== 2) bad(`${what}: not [sec, nsec]`)
  return { sec: int(a[0], Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, what), nsec: int(a[1], 0, 999_999_999, what) }
}

const NODE_KEYS = ['ino', 'mode', 'uid', 'gid', 'size', 'nlink', 'atime', 'mtime', 'ctime', 'rdev', 'xattrs', 'blocks', 'target', 'entries']

function parseImage(value: unknown, crypto: Crypto): FsState {
  const top = rec(value, ['format', 'epoch', 'nodes'], 'image')
  if (top.format !== TREE_FORMAT) bad(`image: format is not ${TREE_FORMAT}`)
  const epoch: Epoch = int(top.epoch, 0, Number.MAX_SAFE_INTEGER, 'image.epoch')
  const inodes = new Map<number, InodeRec>()
  const past = new MemoryFsPast(epoch)
  const pending: [number, [string, number][]][] = []
  let lastIno = 0
  for (const raw of arr(top.nodes, 'image.nodes')) {
    const n = rec(raw, NODE_KEYS, 'node')
    const ino = int(n.ino, 1, Number.MAX_SAFE_INTEGER, 'node.ino')
    if (ino <= lastIno) bad(`node ${ino}: inodes must be strictly ascending`)
    lastIno = ino
    const mode = int(n.mode, 0, 0o177777, `node ${ino} mode`)
    const kind = kindOfMode(mode)
    if (kind === undefined) bad(`node ${ino}: mode has no file type`)
    const xattrs = new Map<string, Uint8Array>()
    let prev: string | null = null
    for (const x of arr(n.xattrs, `node ${ino} xattrs`)) {
      const pair = arr(x, `node ${ino} xattr`)
      if (pair.length !== 2 || typeof pair[0] !== 'string' || !(pair[1] instanceof Uint8Array)) bad(`node ${ino}: xattr not [name, bytes]`)
      if (prev !== null && compareNames(prev, pair[0]) >= 0) bad(`node ${ino}: xattrs not sorted`)
      prev = pair[0]
      xattrs.set(pair[0], pair[1])
    }
    const blockList: [number, BlockRef][] = []
    let lastBlock = -1
    for (const b of arr(n.blocks, `node ${ino} blocks`)) {
      const t = arr(b, `node ${ino} block`)
      if (t.length !== 3 || typeof t[1] !== 'string' || !isHash32(t[1])) bad(`node ${ino}: block not [index, hash, len]`)
      const index = int(t[0], 0, Number.MAX_SAFE_INTEGER, `node ${ino} block index`)
      if (index <= lastBlock) bad(`node ${ino}: block indices not ascending`)
      lastBlock = index
      if (index >= INDEX_LIMIT) bad(`node ${ino}: block index ${index} beyond any file`)
      blockList.push([index, { hash: t[1] as ChunkHash, len: int(t[2], 1, BLOCK_SIZE, `node ${ino} block len`) }])
    }
    const blocks = BlockTree.fromEntries(blockList)
    if (typeof n.target !== 'string') bad(`node ${ino}: target not a string`)
    if (kind !== 'file' && blocks.size > 0) bad(`node ${ino}: blocks on a ${kind}`)
    if (kind !== 'symlink' && n.target !== '') bad(`node ${ino}: target on a ${kind}`)
    const entries: [string, number][] = []
    let prevName: string | null = null
    for (const e of arr(n.entries, `node ${ino} entries`)) {
      const pair = arr(e, `node ${ino} entry`)
      if (pair.length !== 2 || typeof pair[0] !== 'string') bad(`node ${ino}: entry not [name, ino]`)
      if (checkName(pair[0]) !== null) bad(`node ${ino}: invalid entry name`)
      if (prevName !== null && compareNames(prevName, pair[0]) >= 0) bad(`node ${ino}: entries not sorted`)
      prevName = pair[0]
      entries.push([pair[0], int(pair[1], 1, Number.MAX_SAFE_INTEGER, `node ${ino} entry ino`)])
    }
    if (kind !== 'dir' && entries.length > 0) bad(`node ${ino}: entries on a ${kind}`)
    const v: InodeVersion = newVersion(epoch, kind, {
      mode, uid: int(n.uid, 0, 0xffffffff, `node ${ino} uid`), gid: int(n.gid, 0, 0xffffffff, `node ${ino} gid`),
      size: int(n.size, 0, Number.MAX_SAFE_INTEGER, `node ${ino} size`), nlink: int(n.nlink, 0, Number.MAX_SAFE_INTEGER, `node ${ino} nlink`),
      atime: time(n.atime, `node ${ino} atime`), mtime: time(n.mtime, `node ${ino} mtime`), ctime: time(n.ctime, `node ${ino} ctime`),
      rdev: int(n.rdev, 0, 0xffffffff, `node ${ino} rdev`), xattrs: xattrs.size === 0 ? EMPTY_XATTRS : xattrs, blocks, target: n.target,
    })
    inodes.set(ino, newInodeRec(ino, v))
    past.putVersion(ino, v)
    pending.push([ino, entries])
  }
  const root = inodes.get(ROOT_INO)
  if (root === undefined || root.entries === null) bad('image: no root directory (ino 1)')
  for (const [dir, entries] of pending) {
    const d = inodes.get(dir)!
    for (const [name, child] of entries) {
      const c = inodes.get(child)
      if (c === undefined) bad(`node ${dir}: entry ${name} points to missing inode ${child}`)
      if (child === ROOT_INO) bad(`node ${dir}: entry ${name} points to the root`)
      if (c.entries !== null && c.parents.size > 0) bad(`directory ${child} has more than one name`)
      d.entries!.set(name, child)
      past.putEvent(dir, name, { epoch, ino: child })
      c.parents.set(dir, (c.parents.get(dir) ?? 0) + 1)
    }
  }
  // Every inode must be reachable from the root (this also rules out directory cycles).
  const seen = new Set<number>([ROOT_INO])
  const queue = [ROOT_INO]
  while (queue.length > 0) {
    const d = inodes.get(queue.pop()!)!
    if (d.entries === null) continue
    for (const child of d.entries.values()) {
      if (!seen.has(child)) {
        seen.add(child)
        queue.push(child)
      }
    }
  }
  if (seen.size !== inodes.size) bad(`image: ${inodes.size - seen.size} inode(s) unreachable from the root`)
  return { crypto, epoch, baseEpoch: epoch, inodes, past, hashCache: new HashCache(inodes), dirTrees: new Map(), dirty: new Set(inodes.keys()) }
}

/** Builds a state from an image. A bad image is a typed rejection with a reason, never a throw. */
export function importTree(value: Value, crypto: Crypto): { ok: true; fs: FsState } | { ok: false; reason: string } {
  try {
    return { ok: true, fs: parseImage(value, crypto) }
  } catch (err) {
    if (err instanceof Bad) return { ok: false, reason: err.reason }
    return { ok: false, reason: `malformed image: ${String((err as Error)?.message ?? err)}` }
  }
}
