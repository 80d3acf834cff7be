// The store's tail witness (spec/runtime.md "Tail witness", RT-9): the newest durable batch's
// number and SHA-256, kept OUTSIDE the level database in a small file `<store>-tail`, written
// and fdatasync'd after each batch and before anything of that batch is acknowledged.
//
// Why a second place: LevelDB, at open, skips a log record whose CRC does not match (bit rot,
// a torn or tampered newest record) without an error. Batch numbers then show no gap — the
// newest batch is simply gone — and the node would start one batch back, losing acknowledged
// writes and, in a cluster, sealing new entries at sequence numbers it had already sealed and
// sent. The witness says how far the store had come; a store that holds less is reported.
//
// Format: two 64-byte slots; batch n goes to slot n % 2, so a torn write of one slot leaves the
// other (batch n-1) intact. A slot: 'PTW1', seq as 8 bytes big-endian, the batch value's SHA-256
// (32 bytes), the first 16 bytes of the SHA-256 of the 44 bytes before, 4 bytes zero. Overwritten
// in place: a full disk cannot make the write fail for want of space (the file keeps its size).
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'

export const WITNESS_SLOT_BYTES = 64
const MAGIC = [0x50, 0x54, 0x57, 0x31] // 'PTW1'

export function witnessPath(storeDir: string): string {
  return `${storeDir}-tail`
}

/** What the witness says: the newest batch durable when it was written (seq 0: none yet). */
export interface Witness {
  readonly seq: number
  readonly hash: Uint8Array
}

export type WitnessRead =
  | { readonly ok: true; readonly witness: Witness }
  | { readonly ok: false; readonly missing: boolean; readonly problem: string }

function digest(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

export function encodeSlot(w: Witness): Uint8Array {
  const slot = new Uint8Array(WITNESS_SLOT_BYTES)
  slot.set(MAGIC, 0)
  new DataView(slot.buffer).setBigUint64(4, BigInt(w.seq))
  slot.set(w.hash, 12)
  slot.set(digest(slot.subarray(0, 44)).subarray(0, 16), 44)
  return slot
}

function decodeSlot(slot: Uint8Array): Witness | undefined {
  if (slot.length !== WITNESS_SLOT_BYTES || MAGIC.some((b, i) => slot[i] !== b)) return undefined
  const sum = digest(slot.subarray(0, 44)).subarray(0, 16)
  if (!sum.every((b, i) => slot[44 + i] === b)) return undefined
  const seq = new DataView(slot.buffer, slot.byteOffset, slot.byteLength).getBigUint64(4)
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  return { seq: Number(seq), hash: slot.slice(12, 44) }
}

/** Reads the witness: the valid slot with the higher seq. */
export function readWitness(storeDir: string): WitnessRead {
  const path = witnessPath(storeDir)
  if (!existsSync(path)) return { ok: false, missing: true, problem: `the tail witness ${path} is missing` }
  let bytes: Uint8Array
  try {
    bytes = readFileSync(path)
  } catch (err) {
    return { ok: false, missing: false, problem: `the tail witness ${path} is unreadable (${(err as Error).message})` }
  }
  if (bytes.length !== 2 * WITNESS_SLOT_BYTES) return { ok: false, missing: false, problem: `the tail witness ${path} has ${bytes.length} bytes, not ${2 * WITNESS_SLOT_BYTES}` }
  const slots = [decodeSlot(bytes.subarray(0, WITNESS_SLOT_BYTES)), decodeSlot(bytes.subarray(WITNESS_SLOT_BYTES))].filter((s): s is Witness => s !== undefined)
  if (slots.length === 0) return { ok: false, missing: false, problem: `neither slot of the tail witness ${path} checks out (damaged)` }
  return { ok: true, witness: slots.reduce((a, b) => (b.seq > a.seq ? b : a)) }
}

/** The witness file, open for in-place writes. */
export class WitnessFile {
  private constructor(private readonly handle: FileHandle) {}

  /** Opens the witness, creating it (seq 0 in both slots) when `create`. */
  static async open(storeDir: string, create: boolean): Promise<WitnessFile> {
    const path = witnessPath(storeDir)
    if (create) {
      const h = await open(path, 'w')
      const zero = encodeSlot({ seq: 0, hash: new Uint8Array(32) })
      await h.write(Buffer.concat([zero, zero]), 0, 2 * WITNESS_SLOT_BYTES, 0)
      await h.sync()
      await h.close()
    }
    return new WitnessFile(await open(path, 'r+'))
  }

  /** Records batch `w.seq` as the newest durable one: written in place, then fdatasync'd. */
  async write(w: Witness): Promise<void> {
    const slot = encodeSlot(w)
    const at = (w.seq % 2) * WITNESS_SLOT_BYTES
    let done = 0
    while (done < slot.length) {
      const { bytesWritten } = await this.handle.write(slot, done, slot.length - done, at + done)
      if (bytesWritten === 0) throw new Error(`short write to the tail witness: ${done} of ${slot.length} bytes`)
      done += bytesWritten
    }
    await this.handle.datasync()
  }

  /** Both slots say `w` (after an accepted loss: no slot may name a batch beyond it). */
  async reset(w: Witness): Promise<void> {
    const slot = encodeSlot(w)
    await this.handle.write(Buffer.concat([slot, slot]), 0, 2 * WITNESS_SLOT_BYTES, 0)
    await this.handle.datasync()
  }

  close(): Promise<void> {
    return this.handle.close()
  }
}

/** What the store holds against what the witness says (RT-9). `highest`: the store's highest batch
 *  number; `hashOf(seq)`: the SHA-256 of that stored batch value, undefined when absent. A problem
 *  when batches the witness vouches for are gone or differ; none when the store is the witness's
 *  batch or one beyond it (a crash between the batch and its witness write). */
export function checkTail(w: Witness, highest: number, hashOf: (seq: number) => Uint8Array | undefined): string | undefined {
  if (highest < w.seq) {
    const lost = highest + 1 === w.seq ? `batch ${w.seq} is` : `batches ${highest + 1}..${w.seq} are`
    return `the tail witness says batch ${w.seq} was durable, the store ends at batch ${highest}: ${lost} lost (a damaged newest record skipped by LevelDB, or files rolled back); acknowledged writes may be gone`
  }
  if (highest > w.seq + 1) return `the store holds batches up to ${highest}, the tail witness only up to ${w.seq}: the witness was rolled back or batches were added behind the store's back`
  if (w.seq === 0) return undefined
  const h = hashOf(w.seq)
  if (h === undefined) return `batch ${w.seq}, which the tail witness vouches for, is missing`
  if (!h.every((b, i) => b === w.hash[i])) return `batch ${w.seq} differs from the one the tail witness vouches for (rewritten after it was durable)`
  return undefined
}
