// The current state's cache of node hashes (FsState.hashCache), one per live inode.
//
// Why not a Map<ino, Uint8Array>: a 32-byte Uint8Array costs ~330 bytes of V8 heap (the typed
// array, its ArrayBuffer and its backing store), the largest single part of a live file's memory.
// Here each hash is kept as a 32-character one-byte string (48 bytes) and turned back into bytes
// when read; reads happen only when a directory node above it is re-hashed, at most 16 per node.

/** What the Merkle walk needs of a hash cache: this class, or a plain Map for snapshots. */
export interface HashCacheLike {
  get(ino: number): Uint8Array | undefined
  set(ino: number, hash: Uint8Array): unknown
  has(ino: number): boolean
}

export class HashCache implements HashCacheLike {
  private readonly map = new Map<number, string>()

  get size(): number {
    return this.map.size
  }

  has(ino: number): boolean {
    return this.map.has(ino)
  }

  get(ino: number): Uint8Array | undefined {
    const s = this.map.get(ino)
    if (s === undefined) return undefined
    const out = new Uint8Array(s.length)
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
    return out
  }

  set(ino: number, hash: Uint8Array): this {
    this.map.set(ino, String.fromCharCode.apply(null, hash as unknown as number[]))
    return this
  }

  delete(ino: number): boolean {
    return this.map.delete(ino)
  }

  clear(): void {
    this.map.clear()
  }
}
