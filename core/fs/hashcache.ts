// The current state's cache of node hashes (FsState.hashCache), one per live inode.
//
// Why not a Map<ino, Uint8Array>: a 32-byte Uint8Array costs ~330 bytes of V8 heap (the typed
// array, its ArrayBuffer and its backing store), the largest single part of a live file's memory.
// Here each hash is kept as a 32-character one-byte string (48 bytes) and turned back into bytes
// when read; reads happen only when a directory node above it is re-hashed, at most 16 per node.
// The string sits in the inode's record (InodeRec.hash), not in a Map of its own: an entry of a
// Map keyed by a 48-bit ino cost ~60 bytes more per live inode (the entry and the key's number).
// Only live inodes are cached (the Merkle walk hashes the current state's inodes); a record
// leaving FsState.inodes takes its hash with it.
import { assert } from '../types.ts'
import type { InodeRec } from './types.ts'

/** What the Merkle walk needs of a hash cache: this class, or a plain Map for snapshots. */
export interface HashCacheLike {
  get(ino: number): Uint8Array | undefined
  set(ino: number, hash: Uint8Array): unknown
  has(ino: number): boolean
}

export class HashCache implements HashCacheLike {
  /** FsState.inodes: the records whose `hash` field this cache reads and writes. */
  constructor(private readonly inodes: ReadonlyMap<number, InodeRec>) {}

  /** Number of cached hashes (O(live inodes): for tests). */
  get size(): number {
    let n = 0
    for (const rec of this.inodes.values()) if (rec.hash !== undefined) n++
    return n
  }

  has(ino: number): boolean {
    return this.inodes.get(ino)?.hash !== undefined
  }

  get(ino: number): Uint8Array | undefined {
    const s = this.inodes.get(ino)?.hash
    if (s === undefined) return undefined
    const out = new Uint8Array(s.length)
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
    return out
  }

  set(ino: number, hash: Uint8Array): this {
    const rec = this.inodes.get(ino)
    assert(rec !== undefined, `HashCache.set: inode ${ino} is not live`)
    rec.hash = String.fromCharCode.apply(null, hash as unknown as number[])
    return this
  }

  delete(ino: number): boolean {
    const rec = this.inodes.get(ino)
    if (rec?.hash === undefined) return false
    rec.hash = undefined
    return true
  }

  clear(): void {
    for (const rec of this.inodes.values()) rec.hash = undefined
  }
}
