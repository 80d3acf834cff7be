// The Merkle state root: one sha256 per inode over its canonical CBOR encoding; directories
// include their children's hashes. Incremental for the current state (fs.hashCache, invalidated
// in state.ts along parent links), recomputed for snapshots. Byte layout: spec/fs.md "State root".
import type { Value } from '../codec.ts'
import { encode } from '../codec.ts'
import type { Crypto } from '../crypto.ts'
import { bytesEqual, fromHex, toHex } from '../bytes.ts'
import type { Epoch } from '../types.ts'
import { assert } from '../types.ts'
import { compareNames, parsePath } from './paths.ts'
import type { FsState } from './state.ts'
import type { FsTime, InodeVersion, Lookup } from './types.ts'
import { ROOT_INO } from './types.ts'
import { FsView, currentView, snapshotAt } from './view.ts'

export const TAG_FILE = 'paciofs/fs/file/v2'
export const TAG_DIR = 'paciofs/fs/dir/v1'
export const TAG_SYMLINK = 'paciofs/fs/symlink/v1'
export const TAG_SPECIAL = 'paciofs/fs/special/v1'

const timeValue = (t: FsTime): Value => [t.sec, t.nsec]

function tagOf(v: InodeVersion): string {
  switch (v.kind) {
    case 'file': return TAG_FILE
    case 'dir': return TAG_DIR
    case 'symlink': return TAG_SYMLINK
    default: return TAG_SPECIAL
  }
}

/** [tag, ino, mode, uid, gid, size, nlink, atime, mtime, ctime, rdev, xattrs]: every node's head. */
export function nodeHead(ino: number, v: InodeVersion): Value[] {
  const xattrs = [...v.xattrs.entries()].sort((a, b) => compareNames(a[0], b[0]))
  return [
    tagOf(v), ino, v.mode, v.uid, v.gid, v.size, v.nlink, timeValue(v.atime), timeValue(v.mtime), timeValue(v.ctime),
    v.rdev, xattrs.map(([name, value]) => [name, value]),
  ]
}

/** The payload that follows the head: the block tree's root hash (or null: no blocks), entries,
 *  target or null. A file's payload is O(1) to encode: the tree caches its nodes' hashes, so a
 *  write of k blocks re-hashes O(k x height) tree nodes, not the file's whole block list. */
function payload(crypto: Crypto, v: InodeVersion, children: readonly (readonly [string, Uint8Array])[]): Value {
  switch (v.kind) {
    case 'file':
      return v.blocks.hash(crypto)
    case 'dir':
      return children.map(([name, hash]) => [name, hash])
    case 'symlink':
      return v.target
    default:
      return null
  }
}

/** Hash of one inode version given its children's (name, hash) pairs in name order (dirs). */
export function hashInodeVersion(crypto: Crypto, ino: number, v: InodeVersion,
  children: readonly (readonly [string, Uint8Array])[] = []): Uint8Array {
  assert(v.kind === 'dir' || children.length === 0, 'hashInodeVersion: children of a non-directory')
  return crypto.sha256(encode([...nodeHead(ino, v), payload(crypto, v, children)]))
}

function hashIn(view: FsView, ino: number, cache: Map<number, Uint8Array>): Uint8Array {
  const hit = cache.get(ino)
  if (hit !== undefined) return hit
  const v = view.version(ino)
  assert(v !== undefined, `hash: inode ${ino} not live at ${view.epoch}`)
  const children = v.kind === 'dir'
    ? view.children(ino).map(([name, child]) => [name, hashIn(view, child, cache)] as const)
    : []
  const h = hashInodeVersion(view.fs.crypto, ino, v, children)
  cache.set(ino, h)
  return h
}

/** Node hash of a live inode in the current state (cached). */
export function inodeHash(fs: FsState, ino: number): Uint8Array {
  return hashIn(currentView(fs), ino, fs.hashCache)
}

/** Hex sha256 of the root directory's node: binds the whole current tree. */
export function stateRoot(fs: FsState): string {
  return toHex(inodeHash(fs, ROOT_INO))
}

/** Node hash of an inode in any view (uncached for snapshots). */
export function viewInodeHash(view: FsView, ino: number, cache: Map<number, Uint8Array> = new Map()): Uint8Array {
  if (view.isCurrent) return inodeHash(view.fs, ino)
  return hashIn(view, ino, cache)
}

/** The state root as it was right after the op at `epoch` (recomputed: O(tree)). */
export function stateRootAt(fs: FsState, epoch: Epoch): string {
  if (epoch === fs.epoch) return stateRoot(fs)
  return toHex(hashIn(snapshotAt(fs, epoch), ROOT_INO, new Map()))
}

/** Recomputes the root from scratch, ignoring the cache (for checkers: FS-4 cache soundness). */
export function stateRootUncached(fs: FsState): string {
  const view = new FsView(fs, fs.epoch)
  return toHex(hashIn(view, ROOT_INO, new Map()))
}

// ---------------------------------------------------------------------------------------------
// Path proofs: one file against a root without the rest of the tree.

/** One directory on the way from the node up to the root: its head and its entries, where
 *  the entry on the path has hash null (the verifier fills it in). */
export interface ProofStep {
  readonly head: Value[]
  readonly entries: [string, Uint8Array | null][]
}

export interface PathProof {
  /** The node hash of the object at the path. */
  readonly leaf: Uint8Array
  /** From the parent of the object up to the root directory. */
  readonly steps: ProofStep[]
}

export function provePath(fs: FsState, path: string): Lookup<PathProof> {
  const parsed = parsePath(path)
  if (!parsed.ok) return parsed
  const view = currentView(fs)
  const found = view.lookup(path)
  if (!found.ok) return found
  const dirs: number[] = [ROOT_INO]
  for (const name of parsed.names.slice(0, -1)) dirs.push(view.childIno(dirs[dirs.length - 1]!, name)!)
  const steps: ProofStep[] = []
  for (let k = parsed.names.length - 1; k >= 0; k--) {
    const dir = dirs[k]!
    const name = parsed.names[k]!
    steps.push({
      head: nodeHead(dir, view.version(dir)!),
      entries: view.children(dir).map(([n, child]) => [n, n === name ? null : inodeHash(fs, child)]),
    })
  }
  return { ok: true, value: { leaf: inodeHash(fs, found.value), steps } }
}

/** Checks that `leaf` is the node at `path` under `rootHex`. Never throws on a bad proof. */
export function verifyPathProof(crypto: Crypto, rootHex: string, path: string, leaf: Uint8Array, proof: PathProof): boolean {
  try {
    const parsed = parsePath(path)
    if (!parsed.ok || proof.steps.length !== parsed.names.length) return false
    let h = leaf
    for (let i = 0; i < proof.steps.length; i++) {
      const step = proof.steps[i]!
      const name = parsed.names[parsed.names.length - 1 - i]!
      if (step.head[0] !== TAG_DIR || step.head.length !== 12) return false
      let slots = 0
      const entries: Value[] = []
      let prev: string | null = null
      for (const [n, eh] of step.entries) {
        if (prev !== null && compareNames(prev, n) >= 0) return false
        prev = n
        if (eh === null) {
          if (n !== name) return false
          slots++
          entries.push([n, h])
        } else entries.push([n, eh])
      }
      if (slots !== 1) return false
      h = crypto.sha256(encode([...step.head, entries]))
    }
    const root = fromHex(rootHex)
    return root !== undefined && bytesEqual(h, root)
  } catch {
    return false
  }
}
