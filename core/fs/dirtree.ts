// A directory's entries (name -> child) as a hash-keyed radix tree with a hash per node: the
// directory part of the Merkle state root (spec/fs.md "State root").
//
// Why: a directory's node hash used to cover all its (name, child hash) pairs, so a create, or
// any change below a directory of n entries, re-sorted and re-hashed n pairs. In this tree a
// change re-hashes the nodes on one path, O(log n) expected.
//
// Shape (canonical: a function of the set of names alone, not of the order of the ops that made
// it): each name has the key sha256(UTF-8 of the name); a node at depth d holds the names whose
// keys share their first d nibbles, in slot s the names whose next nibble (nibble d, the high
// nibble of each byte first) is s: one name as a leaf, two or more as a node at depth d + 1, none
// as nothing. The root (depth 0) holds the whole directory. Keys are sha256 so that no choice of
// names makes the tree deep: depth ~ log16(n), and the whole tree is balanced for any names.
//
// Node: its entries ascending by slot, a leaf [slot, name, childNodeHash], a node below [slot,
// nodeHash]; node hash sha256(encode(entries)). The directory's payload is the root's entries
// (inline: a directory whose names differ in their keys' first nibble costs one hash, as before).
//
// One DirTree per live directory of the current state is kept (volatile, like fs.hashCache) and
// updated in place by the ops: insert/remove on bind/unbind, and markDirty when a child's node
// hash changed (a node with hash null is re-hashed on demand). Snapshots build a fresh one.
import { encode } from '../codec.ts'
import type { Value } from '../codec.ts'
import type { Crypto } from '../crypto.ts'
import { utf8 } from '../bytes.ts'
import { assert } from '../types.ts'

const FANOUT = 16
/** A key has 64 nibbles; two names with equal keys would be a sha256 collision. */
const KEY_NIBBLES = 64

/** Nibbles of a key a leaf keeps: the first 14 (two 28-bit small integers). Deeper nodes need
 *  two names whose keys share 14 nibbles (56 bits: ~n^2 / 2^57 for n names), and then the key is
 *  recomputed; so a leaf costs no 32-byte array (about 200 bytes of heap per name). */
const KEPT_NIBBLES = 14

class Leaf {
  /** Nibbles 0-6 and 7-13 of the key, high nibble first. */
  private readonly k0: number
  private readonly k1: number
  constructor(readonly name: string, key: Uint8Array, public child: number) {
    let a = 0
    let b = 0
    for (let d = 0; d < 7; d++) a = (a << 4) | nibble(key, d)
    for (let d = 7; d < KEPT_NIBBLES; d++) b = (b << 4) | nibble(key, d)
    this.k0 = a
    this.k1 = b
  }

  /** Nibble `d` of the key (sha256 of the name, recomputed below the kept nibbles). */
  nib(d: number, crypto: Crypto): number {
    if (d < 7) return (this.k0 >>> (4 * (6 - d))) & 15
    if (d < KEPT_NIBBLES) return (this.k1 >>> (4 * (13 - d))) & 15
    return nibble(crypto.sha256(utf8(this.name)), d)
  }
}

/** A node's present slots only (a bitmap and a dense array ascending by slot, as a hash array
 *  mapped trie): most nodes below the root hold 2-4 names, and 16 slots cost 144 bytes each. */
class Node {
  /** Bit s set: slot s is present, at kids[popcount of the bits below s]. */
  bits = 0
  kids: (Node | Leaf)[] = NO_KIDS
  /** Names below this node. */
  count = 0
  /** The node hash as a 32-character one-byte string (48 bytes of heap, a Uint8Array ~330);
   *  null when something below changed since it was computed. */
  hash: string | null = null

  private at(s: number): number {
    return popcount(this.bits & ((1 << s) - 1))
  }

  get(s: number): Node | Leaf | undefined {
    return (this.bits >>> s) & 1 ? this.kids[this.at(s)] : undefined
  }

  set(s: number, x: Node | Leaf): void {
    const i = this.at(s)
    if ((this.bits >>> s) & 1) {
      this.kids[i] = x
      return
    }
    // A new array of the exact size: an array grown by splice or push gets 17 or more slots.
    const old = this.kids
    const kids = new Array<Node | Leaf>(old.length + 1)
    for (let j = 0; j < i; j++) kids[j] = old[j]!
    kids[i] = x
    for (let j = i; j < old.length; j++) kids[j + 1] = old[j]!
    this.kids = kids
    this.bits |= 1 << s
  }

  clear(s: number): void {
    if (((this.bits >>> s) & 1) === 0) return
    const i = this.at(s)
    const old = this.kids
    const kids = old.length === 1 ? NO_KIDS : new Array<Node | Leaf>(old.length - 1)
    for (let j = 0; j < i; j++) kids[j] = old[j]!
    for (let j = i + 1; j < old.length; j++) kids[j - 1] = old[j]!
    this.kids = kids
    this.bits &= ~(1 << s)
  }
}

/** The kids of an empty node (only the root can be empty); never written to. */
const NO_KIDS: (Node | Leaf)[] = []

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555)
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333)
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24
}

const toBinary = (h: Uint8Array): string => String.fromCharCode.apply(null, h as unknown as number[])
function fromBinary(s: string): Uint8Array {
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

function nibble(key: Uint8Array, depth: number): number {
  const b = key[depth >> 1]!
  return depth % 2 === 0 ? b >> 4 : b & 15
}

/** The child hash of a leaf, by the leaf's child number (an ino, or an index). */
export type ChildHash = (child: number) => Uint8Array

/** One entry of a node in a path proof: a leaf [slot, name, hash] or a node [slot, hash]; on the
 *  proved path the hash is null (the verifier fills in the running hash). */
export type DirTreeEntry = readonly [number, string, Uint8Array | null] | readonly [number, Uint8Array | null]

/** Where a child keeps one of its leaves (the current state: the child's InodeRec), so that the
 *  common child of one name costs no Map entry here; `leaf` is the DirTree's, opaque to others. */
export interface LeafHome {
  leaf: unknown
}

export class DirTree {
  private readonly root = new Node()
  /** The leaves of each child in this directory that are not in the child's home (every leaf
   *  when there are no homes): one as itself, several (hard links) as a list. A leaf is found by
   *  name through its key's path (a sha256 of the name), so a name costs no Map entry by name. */
  private readonly byChild = new Map<number, Leaf | Leaf[]>()

  /** `homes`: each child's home (live trees of the current state; a home's leaf may sit in
   *  another directory's tree, a hard link, or in none: it is checked by walking its path). */
  constructor(private readonly crypto: Crypto, private readonly homes?: (child: number) => LeafHome | undefined) {}

  /** A tree of these (name, child) pairs, any order, names unique. */
  static of(crypto: Crypto, entries: Iterable<readonly [string, number]>, homes?: (child: number) => LeafHome | undefined): DirTree {
    const t = new DirTree(crypto, homes)
    for (const [name, child] of entries) t.insert(name, child)
    return t
  }

  get size(): number {
    return this.root.count
  }

  /** True when `leaf` is in this tree (its key's path ends at it). */
  private holds(leaf: Leaf): boolean {
    let x: Node | Leaf | undefined = this.root
    for (let d = 0; x instanceof Node; d++) x = x.get(leaf.nib(d, this.crypto))
    return x === leaf
  }

  /** The child's home leaf when it is in this tree. */
  private homeLeaf(child: number): Leaf | undefined {
    const l = this.homes?.(child)?.leaf
    return l instanceof Leaf && l.child === child && this.holds(l) ? l : undefined
  }

  /** Every leaf of `child` in this tree. */
  private leavesOf(child: number): Leaf[] {
    const out: Leaf[] = []
    const h = this.homeLeaf(child)
    if (h !== undefined) out.push(h)
    const had = this.byChild.get(child)
    if (had instanceof Leaf) out.push(had)
    else if (had !== undefined) out.push(...had)
    return out
  }

  /** Names bound to `child` here. */
  namesOf(child: number): readonly string[] {
    return this.leavesOf(child).map((l) => l.name)
  }

  private unlist(leaf: Leaf): void {
    const had = this.byChild.get(leaf.child)
    if (had === leaf) this.byChild.delete(leaf.child)
    else if (had !== undefined && !(had instanceof Leaf)) {
      had.splice(had.indexOf(leaf), 1)
      if (had.length === 1) this.byChild.set(leaf.child, had[0]!)
    }
  }

  /** The leaf of `name` (undefined when absent), found by its key's path; `child`, when known,
   *  finds it without hashing the name. */
  private find(name: string, child?: number): Leaf | undefined {
    if (child !== undefined) return this.leavesOf(child).find((l) => l.name === name)
    const key = this.crypto.sha256(utf8(name))
    let x: Node | Leaf | undefined = this.root
    for (let d = 0; x instanceof Node; d++) x = x.get(nibble(key, d))
    return x !== undefined && x.name === name ? x : undefined
  }

  insert(name: string, child: number): void {
    const key = this.crypto.sha256(utf8(name))
    const leaf = new Leaf(name, key, child)
    let probe: Node | Leaf | undefined = this.root
    for (let d = 0; probe instanceof Node; d++) probe = probe.get(leaf.nib(d, this.crypto))
    assert(probe === undefined || probe.name !== name, `DirTree.insert: ${name} exists`)
    const home = this.homes?.(child)
    if (home !== undefined && home.leaf === undefined) home.leaf = leaf
    else {
      const had = this.byChild.get(child)
      if (had === undefined) this.byChild.set(child, leaf)
      else if (had instanceof Leaf) this.byChild.set(child, [had, leaf])
      else had.push(leaf)
    }
    let node = this.root
    for (let d = 0; ; d++) {
      assert(d < KEY_NIBBLES, 'DirTree.insert: two names with one key')
      node.count++
      node.hash = null
      const s: number = leaf.nib(d, this.crypto)
      const x = node.get(s)
      if (x === undefined) {
        node.set(s, leaf)
        return
      }
      if (x instanceof Node) {
        node = x
        continue
      }
      // A leaf: both go one level down, into a node of their own.
      const sub = new Node()
      sub.count = 1
      sub.set(x.nib(d + 1, this.crypto), x)
      node.set(s, sub)
      node = sub
    }
  }

  /** Removes `name` (present); `child`, its child when the caller knows it, saves a hash. */
  remove(name: string, child?: number): void {
    const leaf = this.find(name, child)
    assert(leaf !== undefined, `DirTree.remove: ${name} absent`)
    const home = this.homes?.(leaf.child)
    if (home !== undefined && home.leaf === leaf) {
      // Another leaf of the child here moves into its home, so that it costs no entry.
      const had = this.byChild.get(leaf.child)
      const next = had === undefined ? undefined : had instanceof Leaf ? had : had[had.length - 1]
      if (next !== undefined) this.unlist(next)
      home.leaf = next
    } else this.unlist(leaf)
    const path: Node[] = []
    let node = this.root
    for (let d = 0; ; d++) {
      path.push(node)
      node.count--
      node.hash = null
      const s: number = leaf.nib(d, this.crypto)
      const x: Node | Leaf = node.get(s)!
      if (x === leaf) {
        node.clear(s)
        break
      }
      node = x as Node
    }
    // Canonical shape: a node below the root with one name left becomes that name's leaf.
    for (let d = path.length - 1; d >= 1; d--) {
      const n = path[d]!
      if (n.count !== 1) break
      const only = n.kids[0]!
      if (!(only instanceof Leaf)) break // its own node will have been replaced already
      path[d - 1]!.set(leaf.nib(d - 1, this.crypto), only)
    }
  }

  /** The child's node hash changed: every node above its leaves must be re-hashed. */
  markDirty(child: number): void {
    for (const leaf of this.leavesOf(child)) {
      let node: Node | Leaf | undefined = this.root
      for (let d = 0; node instanceof Node; d++) {
        node.hash = null
        node = node.get(leaf.nib(d, this.crypto))
      }
    }
  }

  /** The root's entries, the directory's payload (empty for an empty directory); re-hashes
   *  only the nodes below that changed. */
  rootEntries(childHash: ChildHash): Value[] {
    return this.entries(this.root, childHash, -1, null)
  }

  private nodeHash(node: Node, childHash: ChildHash): Uint8Array {
    if (node.hash !== null) return fromBinary(node.hash)
    const h = this.crypto.sha256(encode(this.entries(node, childHash, -1, null)))
    node.hash = toBinary(h)
    return h
  }

  private entries(node: Node, childHash: ChildHash, open: number, openName: string | null): Value[] {
    const out: Value[] = []
    let i = 0
    for (let s = 0; s < FANOUT; s++) {
      if (((node.bits >>> s) & 1) === 0) continue
      const x = node.kids[i++]!
      if (x instanceof Leaf) out.push([s, x.name, s === open && x.name === openName ? null : childHash(x.child)])
      else out.push([s, s === open ? null : this.nodeHash(x, childHash)])
    }
    return out
  }

  /** The nodes from the root down to the one holding `name`'s leaf, each as its entries with the
   *  entry on the path open (hash null). */
  prove(name: string, childHash: ChildHash): DirTreeEntry[][] {
    const leaf = this.find(name)
    assert(leaf !== undefined, `DirTree.prove: ${name} absent`)
    const out: DirTreeEntry[][] = []
    let node: Node = this.root
    for (let d = 0; ; d++) {
      const s: number = leaf.nib(d, this.crypto)
      out.push(this.entries(node, childHash, s, name) as unknown as DirTreeEntry[])
      const x: Node | Leaf = node.get(s)!
      if (x === leaf) return out
      node = x as Node
    }
  }

  /** Problems with the shape (empty when canonical and consistent), for tests. */
  shapeProblems(): string[] {
    const out: string[] = []
    let seen = 0
    const walk = (n: Node, depth: number, prefix: (key: Uint8Array) => boolean): number => {
      let count = 0
      if (n.kids.length !== popcount(n.bits)) out.push(`node with ${n.kids.length} kids and ${popcount(n.bits)} slots`)
      for (let s = 0; s < FANOUT; s++) {
        const x = n.get(s)
        if (x === undefined) continue
        if (x instanceof Leaf) {
          seen++
          count++
          const key = this.crypto.sha256(utf8(x.name))
          if (!prefix(key) || nibble(key, depth) !== s || x.nib(depth, this.crypto) !== s) out.push(`leaf ${x.name} in the wrong slot`)
          if (this.find(x.name) !== x || this.find(x.name, x.child) !== x) out.push(`leaf ${x.name} not indexed`)
        } else {
          const c = walk(x, depth + 1, (k) => prefix(k) && nibble(k, depth) === s)
          if (c < 2) out.push(`node with ${c} names below the root`)
          count += c
        }
      }
      if (count !== n.count) out.push(`node count ${n.count}, holds ${count}`)
      return count
    }
    walk(this.root, 0, () => true)
    let indexed = 0
    for (const [c, x] of this.byChild) indexed += (x instanceof Leaf ? 1 : x.length) + (this.homeLeaf(c) !== undefined ? 1 : 0)
    const counted = new Set(this.byChild.keys())
    const visit = (n: Node): void => {
      for (const x of n.kids) {
        if (x instanceof Node) visit(x)
        else if (!counted.has(x.child)) {
          counted.add(x.child)
          if (this.homeLeaf(x.child) !== undefined) indexed++
        }
      }
    }
    visit(this.root)
    if (seen !== indexed) out.push(`${seen} leaves in the tree, ${indexed} indexed`)
    return out
  }
}

/** Recomputes a directory tree's root entries (the directory's payload) from a path proof's
 *  nodes (root first), `h` being the node hash of `name`'s child: null when the proof is malformed
 *  (slots not ascending, the open entry missing, misplaced or not alone, or not on `name`'s key
 *  path). Never throws. */
export function dirTreeRootFromProof(crypto: Crypto, name: string, h: Uint8Array, nodes: readonly (readonly DirTreeEntry[])[]): Value[] | null {
  if (nodes.length === 0 || nodes.length > KEY_NIBBLES) return null
  const key = crypto.sha256(utf8(name))
  let running = h
  for (let d = nodes.length - 1; d >= 0; d--) {
    const entries = nodes[d]!
    const want = nibble(key, d)
    const bottom = d === nodes.length - 1
    const filled: Value[] = []
    let prev = -1
    let open = 0
    for (const e of entries) {
      if (!Array.isArray(e) || (e.length !== 2 && e.length !== 3)) return null
      const s = e[0]
      if (typeof s !== 'number' || !Number.isInteger(s) || s <= prev || s >= FANOUT) return null
      prev = s
      const hash = e[e.length - 1]
      if (e.length === 3 && typeof e[1] !== 'string') return null
      if (hash === null) {
        // The open entry: the leaf of `name` at the bottom, the node on its path above.
        if (s !== want || (bottom ? e.length !== 3 || e[1] !== name : e.length !== 2)) return null
        open++
        filled.push(e.length === 3 ? [s, e[1] as string, running] : [s, running])
      } else {
        if (!(hash instanceof Uint8Array) || hash.length !== 32) return null
        filled.push(e as unknown as Value)
      }
    }
    if (open !== 1) return null
    if (d === 0) return filled
    running = crypto.sha256(encode(filled))
  }
  return null
}
