// The store's index of the file system's past (spec/storage.md "The file system's past"): the
// `past` records of a volume, one per epoch, kept in level under keys the core's synchronous
// port reads with getSync — never loaded at start, never all in memory.
//
//   h:r:<vol>:<epoch 16 digits>          encode(body)            the record of one epoch
//   h:v:<vol>:<ino>                      encode(pages)           how many epoch pages ino has
//   h:v:<vol>:<ino>:<page 8 digits>      encode([epoch, ...])    up to PAGE epochs, ascending
//   h:n:<vol>:<dir>:<hex name>[:<page>]  the same for the events of one name in a directory
//   h:d:<vol>:<dir>[:<page>]             the same for the names ever bound in a directory
//
// Pages bound the cost of one more entry (read the last page, append, write it back: O(PAGE)),
// so an inode written a million times costs the same per write as a new one. Index entries are
// written in the level batch of the batch that persisted the record (crash consistent: both or
// neither). Records handed to `stage` and not yet durable are read from memory.
import { decode, encode, type Value } from '../core/codec.ts'
import { toHex } from '../core/bytes.ts'
import type { Epoch, VolumeName } from '../core/types.ts'
import { MemoryPastStore, parsePastRecord, type PastStore } from '../core/volume/past.ts'

/** Entries per index page. */
export const PAST_PAGE = 256

export type Put = { readonly type: 'put'; readonly key: string; readonly value: Uint8Array }

const pad = (n: number, w: number): string => String(n).padStart(w, '0')
const recordKey = (v: string, e: number): string => `h:r:${v}:${pad(e, 16)}`
const inoKey = (v: string, ino: number): string => `h:v:${v}:${ino}`
const nameKey = (v: string, dir: number, name: string): string => `h:n:${v}:${dir}:${toHex(new TextEncoder().encode(name))}`
const dirKey = (v: string, dir: number): string => `h:d:${v}:${dir}`

export class PastIndex {
  /** Records staged and not yet durable; each leaves when its batch is durable (with pipelined
   *  group commit some batch is nearly always in flight, so waiting for none would never clear). */
  private staged = new MemoryPastStore()

  constructor(private readonly getSync: (key: string) => Uint8Array | undefined) {}

  /** The host performed a persist effect: its past records are readable from now on. */
  stage(records: readonly Value[]): void {
    if (!records.some((r) => Array.isArray(r) && r[0] === 'past')) return
    this.staged.absorb(records)
  }

  /** The level puts that store and index the past records of one batch, given what earlier
   *  batches wrote (read with getSync: batches are written one after the other). */
  ops(records: readonly Value[]): Put[] {
    const pages = new Map<string, unknown[]>()
    const counts = new Map<string, number>()
    const out: Put[] = []
    const seen = new Set<string>()
    const append = (base: string, item: unknown): void => {
      let n = counts.get(base)
      if (n === undefined) {
        const raw = this.getSync(base)
        n = raw === undefined ? 0 : (decode(raw) as number)
      }
      let key = `${base}:${pad(Math.max(0, n - 1), 8)}`
      let page = pages.get(key)
      if (page === undefined) {
        const raw = n === 0 ? undefined : this.getSync(key)
        page = raw === undefined ? [] : [...(decode(raw) as unknown[])]
      }
      if (n === 0 || page.length >= PAST_PAGE) {
        key = `${base}:${pad(n, 8)}`
        page = []
        n++
      }
      page.push(item)
      pages.set(key, page)
      counts.set(base, n)
    }
    for (const r of records) {
      const p = parsePastRecord(r)
      if (p === undefined) continue
      // An epoch's record is written once (a repeated one would index its entries twice).
      const rk = recordKey(p.volume, p.epoch)
      if (seen.has(rk) || this.getSync(rk) !== undefined) continue
      seen.add(rk)
      out.push({ type: 'put', key: rk, value: encode(p.body) })
      for (const ino of p.inos) append(inoKey(p.volume, ino), p.epoch)
      for (const [dir, name] of p.names) {
        const nk = nameKey(p.volume, dir, name)
        if (counts.get(nk) === undefined && this.getSync(nk) === undefined) append(dirKey(p.volume, dir), name)
        append(nk, p.epoch)
      }
    }
    for (const [key, page] of pages) out.push({ type: 'put', key, value: encode(page as Value) })
    for (const [key, n] of counts) out.push({ type: 'put', key, value: encode(n) })
    return out
  }

  /** A staged batch with past records is durable. */
  durable(records: readonly Value[]): void {
    if (!records.some((r) => Array.isArray(r) && r[0] === 'past')) return
    this.staged.forget(records)
  }

  /** Records staged and not yet durable (bounded by what is in flight). */
  get stagedRecords(): number {
    return this.staged.size
  }

  /** Forgets what was staged (the store closed or failed before it was durable). */
  reset(): void {
    this.staged = new MemoryPastStore()
  }

  private list(base: string): unknown[] {
    const raw = this.getSync(base)
    if (raw === undefined) return []
    const n = decode(raw) as number
    const out: unknown[] = []
    for (let i = 0; i < n; i++) {
      const page = this.getSync(`${base}:${pad(i, 8)}`)
      if (page !== undefined) out.push(...(decode(page) as unknown[]))
    }
    return out
  }

  private merged(stored: readonly Epoch[], staged: readonly Epoch[]): Epoch[] {
    if (staged.length === 0) return [...stored]
    const last = stored[stored.length - 1] ?? -1
    return [...stored, ...staged.filter((e) => e > last)]
  }

  asPort(): PastStore {
    return {
      pastRecord: (volume: VolumeName, epoch: Epoch): Value | undefined => {
        const s = this.staged.pastRecord(volume, epoch)
        if (s !== undefined) return s
        const raw = this.getSync(recordKey(volume, epoch))
        return raw === undefined ? undefined : (decode(raw) as Value)
      },
      versionEpochs: (volume, ino) => this.merged(this.list(inoKey(volume, ino)) as Epoch[], this.staged.versionEpochs(volume, ino)),
      nameEpochs: (volume, dir, name) => this.merged(this.list(nameKey(volume, dir, name)) as Epoch[], this.staged.nameEpochs(volume, dir, name)),
      dirNames: (volume, dir) => [...new Set([...(this.list(dirKey(volume, dir)) as string[]), ...this.staged.dirNames(volume, dir)])],
    }
  }
}
