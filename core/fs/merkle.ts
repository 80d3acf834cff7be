// The Merkle state root: one sha256 per inode over its canonical CBOR encoding; directories
// include their children's hashes through an entry tree (dirtree.ts), files their blocks through
// the block tree (blocks.ts). Incremental for the current state (fs.hashCache and fs.dirTrees,
// invalidated in state.ts along parent links), recomputed for snapshots (the block trees' node
// hashes are shared with the versions they belong to). Byte layout: spec/fs.md "State root".
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
import type { DirTreeEntry } from './dirtree.ts'
import { DirTree, dirTreeRootFromProof } from './dirtree.ts'
import type { HashCacheLike } from './hashcache.ts'

export const TAG_FILE = 'paciofs/fs/file/v2'
export const TAG_DIR = 'paciofs/fs/dir/v2'
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

/** The node hash of a non-directory. A file's payload is its block tree's root node (or null:
 *  no blocks), whose bytes the tree writes; the nodes below are in it by their cached hashes, so
 *  a write of k blocks re-hashes O(k x height) tree nodes, not the file's whole block list. */
function hashLeafNode(crypto: Crypto, ino: number, v: InodeVersion, fresh = false): Uint8Array {
  if (v.kind === 'file') {
    const root = v.blocks.rootBytes(crypto, fresh)
    if (root !== null) {
      // encode([...head, root]): the head's 12-element array with one more element appended.
      const head = encode(nodeHead(ino, v))
      assert(head[0] === 0x8c, 'hash: a node head is not a CBOR array of 12')
      const out = new Uint8Array(head.length + root.length)
      out.set(head)
      out[0] = 0x8d
      out.set(root, head.length)
      return crypto.sha256(out)
    }
  }
  return hashNode(crypto, ino, v, v.kind === 'symlink' ? v.target : null)
}

function hashNode(crypto: Crypto, ino: number, v: InodeVersion, payload: Value): Uint8Array {
  return crypto.sha256(encode([...nodeHead(ino, v), payload]))
}

/** Hash of one inode version given its children's (name, hash) pairs (dirs; any order). */
export function hashInodeVersion(crypto: Crypto, ino: number, v: InodeVersion,
  children: readonly (readonly [string, Uint8Array])[] = []): Uint8Array {
  if (v.kind !== 'dir') {
    assert(children.length === 0, 'hashInodeVersion: children of a non-directory')
    return hashLeafNode(crypto, ino, v)
  }
  const tree = DirTree.of(crypto, children.map(([name], i) => [name, i] as const))
  return hashNode(crypto, ino, v, tree.rootEntries((i) => children[i]![1]))
}

/** The entry tree of a current directory, built on first use and then kept up to date by the
 *  ops (state.ts bind/unbind/invalidate). */
function liveDirTree(fs: FsState, ino: number): DirTree {
  let tree = fs.dirTrees.get(ino)
  if (tree === undefined) {
    const entries = fs.inodes.get(ino)?.entries
    assert(entries !== null && entries !== undefined, `liveDirTree: ${ino} is not a directory`)
    tree = DirTree.of(fs.crypto, entries, (child) => fs.inodes.get(child))
    fs.dirTrees.set(ino, tree)
  }
  return tree
}

/** Hashes `ino` and every uncached node below it, children before their directory, with an
 *  explicit stack: a tree can be far deeper than the JS call stack (a path of FS_PATH_MAX_BYTES
 *  names 32768 directories, and renames nest directories without any limit).
 *  With `cache` = fs.hashCache (the current state's), the directories' live entry trees are used
 *  and kept; with any other cache the directories are recomputed (snapshots), and with `fresh`
 *  the files' block trees too, ignoring the hashes cached in their nodes (FS-8 cache soundness). */
function hashIn(view: FsView, ino: number, cache: HashCacheLike, fresh = false): Uint8Array {
  const hit = cache.get(ino)
  if (hit !== undefined) return hit
  const crypto = view.fs.crypto
  const live = cache === view.fs.hashCache
  assert(!live || view.isCurrent, 'hash: the live cache with a snapshot')
  /** A node to hash; once visited, its version and entries (its unhashed children lie above it). */
  type Frame = { ino: number; v: InodeVersion | undefined; children: [string, number][] | undefined }
  const stack: Frame[] = [{ ino, v: undefined, children: undefined }]
  const open = new Set<number>()
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    if (top.children === undefined) {
      if (cache.has(top.ino)) { // a hard-linked file met again
        stack.pop()
        continue
      }
      const v = view.version(top.ino)
      assert(v !== undefined, `hash: inode ${top.ino} not live at ${view.epoch}`)
      assert(!open.has(top.ino), `hash: directory ${top.ino} is its own ancestor`)
      top.v = v
      top.children = v.kind === 'dir' ? view.children(top.ino) : []
      if (v.kind === 'dir') open.add(top.ino)
      for (const [, child] of top.children) if (!cache.has(child)) stack.push({ ino: child, v: undefined, children: undefined })
      continue
    }
    stack.pop()
    open.delete(top.ino)
    const v = top.v!
    let h: Uint8Array
    if (v.kind === 'dir') {
      const tree = live ? liveDirTree(view.fs, top.ino) : DirTree.of(crypto, top.children)
      h = hashNode(crypto, top.ino, v, tree.rootEntries((child) => cache.get(child)!))
    } else h = hashLeafNode(crypto, top.ino, v, fresh)
    cache.set(top.ino, h)
  }
  return cache.get(ino)!
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

/** Recomputes the root from scratch, ignoring every cache: fs.hashCache, the live entry trees
 *  and the block trees' node hashes (for checkers: FS-8 cache soundness). O(tree + blocks). */
export function stateRootUncached(fs: FsState): string {
  const view = new FsView(fs, fs.epoch)
  return toHex(hashIn(view, ROOT_INO, new Map(), true))
}

// ---------------------------------------------------------------------------------------------
// Path proofs: one file against a root without the rest of the tree.

/** One directory on the way from the node up to the root: its head, and the nodes of its entry
 *  tree from the tree's root down to the leaf of the name on the path, each as its entries with
 *  the one on the path open (hash null: the verifier fills in the running hash). */
export interface ProofStep {
  readonly head: Value[]
  readonly nodes: DirTreeEntry[][]
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
  const leaf = inodeHash(fs, found.value) // also hashes (and so cleans) every tree on the path
  const dirs: number[] = [ROOT_INO]
  for (const name of parsed.names.slice(0, -1)) dirs.push(view.childIno(dirs[dirs.length - 1]!, name)!)
  const steps: ProofStep[] = []
  for (let k = parsed.names.length - 1; k >= 0; k--) {
    const dir = dirs[k]!
    steps.push({
      head: nodeHead(dir, view.version(dir)!),
      nodes: liveDirTree(fs, dir).prove(parsed.names[k]!, (child) => inodeHash(fs, child)),
    })
  }
  return { ok: true, value: { leaf, steps } }
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
      const entries = dirTreeRootFromProof(crypto, name, h, step.nodes)
      if (entries === null) return false
      h = crypto.sha256(encode([...step.head, entries]))
    }
    const root = fromHex(rootHex)
    return root !== undefined && bytesEqual(h, root)
  } catch {
    return false
  }
}
