// A file's block map (index -> BlockRef) as a persistent radix tree with a Merkle hash per node.
//
// Why: a write op changes a few blocks of a possibly huge file. A plain Map copied per version
// and a hash over the whole sorted block list cost O(file size) per write; this tree costs
// O(changed blocks x height) new nodes and, with each node's hash cached inside it, as many
// hashes. Old versions keep their trees (nothing is ever mutated), and share every unchanged node
// with the newer ones, so history stays cheap too.
//
// Shape (canonical: a pure function of the map, never of the order of the writes that made it;
// spec/fs.md "State root"): fixed fan-out 16 by index bits. A node at level l covers 16^(l+1)
// consecutive indices; its slot s holds the subtree (level l-1) or, at level 0, the BlockRef of
// the indices base + s*16^l ... An empty subtree is absent (no node is empty). The root's level is
// the smallest that covers the largest present index (a root at level >= 1 always has something
// beyond slot 0). Height is at most 9: indices are below 2^34 (MAX_FILE_SIZE / BLOCK_SIZE).
//
// Node: [level, entries], entries ascending by slot, present slots only: level 0 [slot, chunk hash
// (32 bytes), len], level >= 1 [slot, child node hash (32 bytes)]; node hash sha256(encode(node)).
// A file's node holds the root node itself (merkle.ts), the nodes below by their hashes.
import type { Crypto } from '../crypto.ts'
import { assert } from '../types.ts'
import type { ChunkHash } from '../types.ts'
import type { BlockRef } from './types.ts'

export const TREE_BITS = 4
export const TREE_FANOUT = 1 << TREE_BITS
/** Deepest level a tree may have: 16^(TREE_MAX_LEVEL + 1) = 2^36 > 2^34 block indices. */
export const TREE_MAX_LEVEL = 8
/** POW[l] = 16^l: the number of indices one slot of a level-l node covers. */
const POW: readonly number[] = Array.from({ length: TREE_MAX_LEVEL + 2 }, (_, l) => TREE_FANOUT ** l)
/** Indices a tree can hold at all: [0, INDEX_LIMIT). */
export const INDEX_LIMIT = POW[TREE_MAX_LEVEL + 1]!

/** A slot: a child node, or at level 0 the block's ref packed into one string (PackedRef). */
type Slot = TreeNode | PackedRef | undefined

/** A block ref as one one-byte string: the chunk hash's 32 bytes as chars 0-31, then `len` in
 *  three chars (24 bits, big-endian). 56 bytes of V8 heap, where a BlockRef object with its
 *  64-character hex string costs 120; refs are made (hex -> bytes) when a tree is updated and
 *  unpacked into a fresh BlockRef when read (get, list, changesFrom). A node's encoding copies
 *  the hash's bytes from it. Two refs are equal exactly when their strings are. */
type PackedRef = string
const PACKED_LEN = 35

function pack(ref: BlockRef): PackedRef {
  const hex = ref.hash
  assert(hex.length === 64, `block tree: chunk hash ${hex} is not 32 bytes of hex`)
  const len = ref.len
  assert(Number.isInteger(len) && len >= 0 && len < 2 ** 24, `block tree: block length ${len} out of range`)
  for (let i = 0; i < 32; i++) {
    const a = hex.charCodeAt(2 * i)
    const b = hex.charCodeAt(2 * i + 1)
    const hi = a < 128 ? NIBBLE[a]! : -1
    const lo = b < 128 ? NIBBLE[b]! : -1
    assert(hi >= 0 && lo >= 0, `block tree: chunk hash ${hex} is not lowercase hex`)
    PACK_CODES[i] = (hi << 4) | lo
  }
  PACK_CODES[32] = len >>> 16
  PACK_CODES[33] = (len >>> 8) & 0xff
  PACK_CODES[34] = len & 0xff
  return String.fromCharCode.apply(null, PACK_CODES as unknown as number[])
}

const packedLen = (p: PackedRef): number => (p.charCodeAt(32) << 16) | (p.charCodeAt(33) << 8) | p.charCodeAt(34)

const HEX_DIGITS = '0123456789abcdef'
function unpack(p: PackedRef): BlockRef {
  for (let i = 0; i < 32; i++) {
    const x = p.charCodeAt(i)
    HEX_CODES[2 * i] = HEX_DIGITS.charCodeAt(x >> 4)
    HEX_CODES[2 * i + 1] = HEX_DIGITS.charCodeAt(x & 15)
  }
  return { hash: LATIN1.decode(HEX_CODES) as ChunkHash, len: packedLen(p) }
}

class TreeNode {
  /** The node hash, computed on demand and cached with the crypto that computed it (a node is
   *  immutable, so its hash never changes; hosts may plug different implementations). */
  private hashed: Uint8Array | undefined
  private hashedBy: Crypto | undefined

  /** Up to TREE_FANOUT slots (slot s is slots[s]; empty slots at the end are not stored, so a
   *  small file's node holds an array of 1, not 16). Level 0: block refs; above: child nodes of
   *  level - 1. */
  readonly slots: readonly Slot[]

  constructor(
    readonly level: number,
    /** A fresh array the node takes over (or a trimmed copy of it). */
    slots: Slot[],
    /** Number of blocks in this subtree (>= 1). */
    readonly size: number,
  ) {
    let n = slots.length
    while (n > 0 && slots[n - 1] === undefined) n--
    // A copy, not `length = n`: V8 keeps the backing store of an array whose length shrinks.
    this.slots = n < slots.length ? slots.slice(0, n) : slots
  }

  hash(crypto: Crypto): Uint8Array {
    if (this.hashedBy === crypto && this.hashed !== undefined) return this.hashed
    const h = crypto.sha256(this.encode(crypto, false))
    this.hashed = h
    this.hashedBy = crypto
    return h
  }

  /** The hash recomputed from the blocks up, neither reading nor filling any cache (checkers). */
  freshHash(crypto: Crypto): Uint8Array {
    return crypto.sha256(this.encode(crypto, true))
  }

  /** encode([level, entries]) (core/codec.ts canonical CBOR), written byte by byte: the same
   *  bytes as encode() of the Value (test/fs-blocks.test.ts checks it), without cborg's per-call
   *  cost, which for a full leaf was ~14 µs, several times the sha256 of its 659 bytes. */
  encode(crypto: Crypto, fresh: boolean): Uint8Array {
    let n = 0
    let bytes = 3
    for (let s = 0; s < TREE_FANOUT; s++) {
      const x = this.slots[s]
      if (x === undefined) continue
      n++
      bytes += 4 + 32 + (this.level === 0 ? uintBytes(packedLen(x as PackedRef)) : 0)
    }
    const out = new Uint8Array(bytes)
    out[0] = 0x82 // array(2)
    out[1] = this.level // uint < 24
    out[2] = 0x80 | n // array(n), n <= 16
    let p = 3
    for (let s = 0; s < TREE_FANOUT; s++) {
      const x = this.slots[s]
      if (x === undefined) continue
      out[p++] = this.level === 0 ? 0x83 : 0x82
      out[p++] = s
      out[p++] = 0x58 // bytes, one-byte length
      out[p++] = 32
      if (this.level === 0) {
        const ref = x as PackedRef
        for (let i = 0; i < 32; i++) out[p + i] = ref.charCodeAt(i)
        p += 32
        p = putUint(out, p, packedLen(ref))
      } else {
        const child = x as TreeNode
        out.set(fresh ? child.freshHash(crypto) : child.hash(crypto), p)
        p += 32
      }
    }
    assert(p === bytes, 'block tree: node encoding length')
    return out
  }
}

const uintBytes = (v: number): number => (v < 24 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : 5)

// Value of each lowercase hex digit by char code, -1 for anything else (as core/bytes.ts fromHex).
const NIBBLE = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i

// Scratch for pack and unpack (single-threaded: no call is re-entered).
const PACK_CODES: number[] = new Array<number>(PACKED_LEN).fill(0)
const HEX_CODES = new Uint8Array(64)
const LATIN1 = new TextDecoder('latin1')

/** A CBOR unsigned integer head (major type 0) for 0 <= v < 2^32, shortest form. */
function putUint(out: Uint8Array, p: number, v: number): number {
  assert(Number.isInteger(v) && v >= 0 && v < 2 ** 32, `block tree: ${v} is not a small unsigned integer`)
  if (v < 24) out[p++] = v
  else if (v < 0x100) {
    out[p++] = 0x18
    out[p++] = v
  } else if (v < 0x10000) {
    out[p++] = 0x19
    out[p++] = v >>> 8
    out[p++] = v & 0xff
  } else {
    out[p++] = 0x1a
    out[p++] = v >>> 24
    out[p++] = (v >>> 16) & 0xff
    out[p++] = (v >>> 8) & 0xff
    out[p++] = v & 0xff
  }
  return p
}

function sizeOf(level: number, slots: readonly Slot[]): number {
  let n = 0
  for (let s = 0; s < TREE_FANOUT; s++) {
    const x = slots[s]
    if (x !== undefined) n += level === 0 ? 1 : (x as TreeNode).size
  }
  return n
}

function makeNode(level: number, slots: Slot[]): TreeNode | undefined {
  const size = sizeOf(level, slots)
  return size === 0 ? undefined : new TreeNode(level, slots, size)
}

function emptySlots(): Slot[] {
  return new Array<Slot>(TREE_FANOUT).fill(undefined)
}

/** Smallest level whose node covers `index`. */
function levelFor(index: number): number {
  let l = 0
  while (index >= POW[l + 1]!) l++
  return l
}

/** Canonical root: drops levels whose node has nothing beyond slot 0. */
function normalize(root: TreeNode | undefined): TreeNode | undefined {
  let r = root
  while (r !== undefined && r.level > 0) {
    let beyond = false
    for (let s = 1; s < TREE_FANOUT && !beyond; s++) beyond = r.slots[s] !== undefined
    if (beyond) break
    r = r.slots[0] as TreeNode | undefined
  }
  return r
}

/** A change: set the block (a ref) or make it a hole (null). */
export type BlockChange = readonly [index: number, ref: BlockRef | null]

/** changes[lo..hi) (ascending, all inside this node's range) applied to `node` (undefined = an
 *  empty subtree): a new node, or undefined when nothing is left. Unchanged slots are shared. */
function update(node: TreeNode | undefined, level: number, base: number, changes: readonly BlockChange[], lo: number, hi: number): TreeNode | undefined {
  const slots = node === undefined ? emptySlots() : node.slots.slice()
  const step = POW[level]!
  let i = lo
  while (i < hi) {
    const index = changes[i]![0]
    const s = Math.floor((index - base) / step)
    if (level === 0) {
      const ref = changes[i]![1]
      slots[s] = ref === null ? undefined : pack(ref)
      i++
      continue
    }
    const end = base + (s + 1) * step
    let j = i + 1
    while (j < hi && changes[j]![0] < end) j++
    const child = slots[s] as TreeNode | undefined
    // A hole punched into an absent subtree changes nothing: no node to copy.
    let onlyHoles = child === undefined
    for (let k = i; k < j && onlyHoles; k++) onlyHoles = changes[k]![1] === null
    if (!onlyHoles) slots[s] = update(child, level - 1, base + s * step, changes, i, j)
    i = j
  }
  return makeNode(level, slots)
}

/** `node` without the indices >= count (base <= count < base + 16^(level+1)). */
function cut(node: TreeNode, level: number, base: number, count: number): TreeNode | undefined {
  const step = POW[level]!
  const s = Math.floor((count - base) / step)
  const slots = emptySlots()
  for (let t = 0; t < s; t++) slots[t] = node.slots[t]
  const rest = count - (base + s * step)
  const child = node.slots[s]
  if (level > 0 && rest > 0 && child !== undefined) slots[s] = cut(child as TreeNode, level - 1, base + s * step, count)
  return makeNode(level, slots)
}

/** Appends the entries of `node` with from <= index < to to `out`, ascending (subtrees outside
 *  the range are skipped, not walked). */
function collect(node: TreeNode, base: number, from: number, to: number, out: [number, BlockRef][]): void {
  const step = POW[node.level]!
  const first = Math.max(0, Math.floor((from - base) / step))
  for (let s = first; s < TREE_FANOUT; s++) {
    const start = base + s * step
    if (start >= to) return
    const x = node.slots[s]
    if (x === undefined) continue
    if (node.level === 0) out.push([start, unpack(x as PackedRef)])
    else collect(x as TreeNode, start, from, to, out)
  }
}

/** Appends to `out` the changes that turn slot `a` into slot `b` (both of `level`, at `base`):
 *  identical subtrees (the same object: unchanged since they were shared) are skipped, so the
 *  cost is O(changed blocks x height), not O(file size). */
function diffSlots(a: Slot, b: Slot, level: number, base: number, out: BlockChange[]): void {
  if (a === b) return
  if (level < 0) {
    const rb = b as PackedRef | undefined
    if (rb === undefined) out.push([base, null])
    else out.push([base, unpack(rb)]) // a !== b: strings differ, so the refs do
    return
  }
  const na = a as TreeNode | undefined
  const nb = b as TreeNode | undefined
  const step = POW[level]!
  for (let s = 0; s < TREE_FANOUT; s++) diffSlots(na?.slots[s], nb?.slots[s], level - 1, base + s * step, out)
}

/** `root` seen as a node of `level` (>= its own): wrapped in slot 0 of new parents. */
function lift(root: TreeNode | undefined, level: number): TreeNode | undefined {
  let r = root
  while (r !== undefined && r.level < level) {
    const slots = emptySlots()
    slots[0] = r
    r = new TreeNode(r.level + 1, slots, r.size)
  }
  return r
}

/** An immutable block map of one file version: block index -> BlockRef, holes absent. */
export class BlockTree {
  static readonly EMPTY = new BlockTree(undefined)

  /** The root node, or, for the tree of one block at index 0 (most small files), that block's
   *  ref alone: a level-0 node of one slot, materialized by `root` when a walk needs it (the
   *  node, its slot array and its cached hash cost ~120 bytes of heap per such file; a file's node
   *  hash covers the root's bytes inline, so its own hash is never cached for a parent). */
  private readonly top: TreeNode | PackedRef | undefined

  private constructor(root: TreeNode | undefined) {
    this.top = root !== undefined && root.level === 0 && root.slots.length === 1 ? (root.slots[0] as PackedRef) : root
  }

  /** The root node (a fresh one for a one-block tree: identity is not shared then). */
  private get root(): TreeNode | undefined {
    const t = this.top
    return t === undefined || t instanceof TreeNode ? t : new TreeNode(0, [t], 1)
  }

  /** A tree holding exactly these entries (any order, indices unique). */
  static fromEntries(entries: Iterable<readonly [number, BlockRef]>): BlockTree {
    const list: BlockChange[] = [...entries].sort((a, b) => a[0] - b[0])
    return BlockTree.EMPTY.update(list)
  }

  /** Number of blocks (not holes). */
  get size(): number {
    const t = this.top
    return t === undefined ? 0 : t instanceof TreeNode ? t.size : 1
  }

  /** Levels of the tree (0 when empty). */
  get height(): number {
    const t = this.top
    return t === undefined ? 0 : t instanceof TreeNode ? t.level + 1 : 1
  }

  get(index: number): BlockRef | undefined {
    const p = this.packedAt(index)
    return p === undefined ? undefined : unpack(p)
  }

  /** The valid length of the block at `index` (undefined for a hole), without unpacking its
   *  hash (the write path asks for it per write). */
  lenAt(index: number): number | undefined {
    const p = this.packedAt(index)
    return p === undefined ? undefined : packedLen(p)
  }

  private packedAt(index: number): PackedRef | undefined {
    const t = this.top
    if (typeof t === 'string') return index === 0 ? t : undefined
    let n = t
    if (n === undefined || !(index >= 0 && index < POW[n.level + 1]!)) return undefined
    for (;;) {
      const x = n.slots[Math.floor(index / POW[n.level]!) % TREE_FANOUT]
      if (x === undefined) return undefined
      if (n.level === 0) return x as PackedRef
      n = x as TreeNode
    }
  }

  has(index: number): boolean {
    return this.get(index) !== undefined
  }

  /** The largest present index, -1 when empty. O(height). */
  lastIndex(): number {
    const t = this.top
    if (t === undefined) return -1
    if (!(t instanceof TreeNode)) return 0
    let n = t
    let base = 0
    for (;;) {
      let s = TREE_FANOUT - 1
      while (n.slots[s] === undefined) s--
      base += s * POW[n.level]!
      if (n.level === 0) return base
      n = n.slots[s] as TreeNode
    }
  }

  /** A new tree with the changes applied (indices strictly ascending, each < INDEX_LIMIT).
   *  O(changes x height) new nodes; every untouched subtree is shared with this tree. */
  update(changes: readonly BlockChange[]): BlockTree {
    if (changes.length === 0) return this
    let maxSet = -1
    let prev = -1
    for (const [index, ref] of changes) {
      assert(Number.isSafeInteger(index) && index > prev && index < INDEX_LIMIT, `BlockTree.update: index ${index} not ascending or out of range`)
      prev = index
      if (ref !== null) maxSet = index
    }
    let root = this.root
    let level = root?.level ?? 0
    if (maxSet >= 0) {
      const need = levelFor(maxSet)
      if (root === undefined) level = need
      while (root !== undefined && root.level < need) {
        const slots = emptySlots()
        slots[0] = root
        root = new TreeNode(root.level + 1, slots, root.size)
        level = root.level
      }
    } else if (root === undefined) return this
    // Holes beyond the root's range are holes already.
    let hi = changes.length
    while (hi > 0 && changes[hi - 1]![0] >= POW[level + 1]!) hi--
    if (hi === 0) return this
    return new BlockTree(normalize(update(root, level, 0, changes, 0, hi)))
  }

  /** A new tree without the indices >= count. O(height) new nodes; nothing beyond is walked. */
  truncate(count: number): BlockTree {
    if (this.top === undefined || count > this.lastIndex()) return this
    if (count <= 0) return BlockTree.EMPTY
    const root = this.root!
    return new BlockTree(normalize(cut(root, root.level, 0, count)))
  }

  /** The changes (ascending index; a ref to set, null for a new hole) that turn `prev` into this
   *  tree: `prev.update(this.changesFrom(prev))` equals this tree. Subtrees shared with `prev` are
   *  not walked: O(changed blocks x height) for a tree made from `prev` by updates. */
  changesFrom(prev: BlockTree): BlockChange[] {
    const out: BlockChange[] = []
    if (prev.top === this.top) return out
    const a = prev.root
    const b = this.root
    const level = Math.max(a?.level ?? 0, b?.level ?? 0)
    diffSlots(lift(a, level), lift(b, level), level, 0, out)
    return out
  }

  /** Entries with from <= index < to, ascending index, as a list. O(height + entries in range). */
  list(from = 0, to = Infinity): [number, BlockRef][] {
    const out: [number, BlockRef][] = []
    const t = this.top
    if (t === undefined || from >= to) return out
    if (t instanceof TreeNode) collect(t, 0, from, to, out)
    else if (from <= 0 && to > 0) out.push([0, unpack(t)])
    return out
  }

  /** Entries with from <= index < to, ascending index. O(height + entries in range). */
  entries(from = 0, to = Infinity): IterableIterator<[number, BlockRef]> {
    return this.list(from, to)[Symbol.iterator]()
  }

  keys(from = 0, to = Infinity): IterableIterator<number> {
    return this.list(from, to).map(([k]) => k)[Symbol.iterator]()
  }

  [Symbol.iterator](): IterableIterator<[number, BlockRef]> {
    return this.entries()
  }

  /** The root's node hash (spec/fs.md "State root"), null for an empty tree. Cached per node:
   *  after a change of k blocks only the O(k x height) new nodes are hashed. */
  hash(crypto: Crypto): Uint8Array | null {
    return this.root?.hash(crypto) ?? null
  }

  /** encode(root node) = encode([level, entries]) of the root, null for an empty tree: what a
   *  file's node hash covers (the root inline, so a file of up to 16 blocks costs one hash).
   *  `fresh`: every node hash below recomputed, no cache read or filled (checkers: FS-8). */
  rootBytes(crypto: Crypto, fresh = false): Uint8Array | null {
    return this.root?.encode(crypto, fresh) ?? null
  }

  /** Every node of the tree (identity), for tests of structure sharing. */
  nodes(): Set<object> {
    const out = new Set<object>()
    const stack: TreeNode[] = this.root === undefined ? [] : [this.root]
    while (stack.length > 0) {
      const n = stack.pop()!
      out.add(n)
      if (n.level > 0) for (const x of n.slots) if (x !== undefined) stack.push(x as TreeNode)
    }
    return out
  }

  /** Problems with the tree's canonical shape (empty list when well formed), for tests. */
  shapeProblems(): string[] {
    const out: string[] = []
    const r = this.root
    if (r === undefined) return out
    if (normalize(r) !== r) out.push('root has nothing beyond slot 0')
    const check = (n: TreeNode, level: number): void => {
      if (n.level !== level) out.push(`node at level ${level} says ${n.level}`)
      if (n.slots.length > TREE_FANOUT || (n.slots.length > 0 && n.slots[n.slots.length - 1] === undefined)) out.push(`node with ${n.slots.length} slots, the last empty or too many`)
      if (n.size < 1 || n.size !== sizeOf(n.level, n.slots)) out.push(`node size ${n.size} is not its blocks' count`)
      if (level > 0) for (const x of n.slots) if (x !== undefined) check(x as TreeNode, level - 1)
    }
    check(r, r.level)
    return out
  }
}
