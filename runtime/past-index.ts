// The store's index of the file system's past (spec/storage.md "The file system's past"): the
// `past` records of a volume, one per epoch, kept in level under keys the core's synchronous
// port reads with getSync — never all in memory; at start only the records after the last pages.
//
//   h:r:<vol>:<epoch 16 digits>          encode(body)            the record of one epoch
//   h:v:<vol>:<ino>                      encode(pages)           how many epoch pages ino has
//   h:v:<vol>:<ino>:<page 8 digits>      encode([epoch, ...])    up to PAGE epochs, ascending
//   h:n:<vol>:<dir>:<hex name>[:<page>]  the same for the events of one name in a directory
//   h:d:<vol>:<dir>[:<page>]             the same for the names ever bound in a directory
//
//   h:i:<vol>                            encode(epoch)           pages hold every record up to it
//
// Pages bound the cost of one more entry (read the last page, append, write it back: O(PAGE)),
// so an inode written a million times costs the same per write as a new one. Writing the pages
// of every batch cost ~6 of the ~9.5 level puts per small-file operation (measured: 5,000 ops,
// bench/scale-history.ts), so a batch writes only its `h:r:` records; durable records not yet
// in pages are indexed in memory (`unpaged`, at most FLUSH_EPOCHS of them) and written out as
// pages together, with the `h:i:` mark, in the level batch of the batch that reaches the bound:
// each touched page once per flush, not once per operation. Crash consistency is the level
// batch's: the pages and the mark are written together, and `recover` at open re-indexes the
// records after the mark (at most FLUSH_EPOCHS, read once). Records handed to `stage` and not
// yet durable are read from memory. Reads merge pages, unpaged and staged (epochs ascend).
import { decode, encode, type Value } from '../core/codec.ts'
import { toHex } from '../core/bytes.ts'
import type { Epoch, VolumeName } from '../core/types.ts'
import { MemoryPastStore, parsePastRecord, type ParsedPast, type PastStore } from '../core/volume/past.ts'

/** Entries per index page. */
export const PAST_PAGE = 256
/** Durable records indexed only in memory before their pages are written. */
export const FLUSH_EPOCHS = 4096

export type Put = { readonly type: 'put'; readonly key: string; readonly value: Uint8Array }

const pad = (n: number, w: number): string => String(n).padStart(w, '0')
const recordKey = (v: string, e: number): string => `h:r:${v}:${pad(e, 16)}`
const inoKey = (v: string, ino: number): string => `h:v:${v}:${ino}`
const nameKey = (v: string, dir: number, name: string): string => `h:n:${v}:${dir}:${toHex(new TextEncoder().encode(name))}`
const dirKey = (v: string, dir: number): string => `h:d:${v}:${dir}`
const markKey = (v: string): string => `h:i:${v}`
const RECORD_PREFIX = 'h:r:'

/** The index entries of records that are durable and not yet in pages (volatile: rebuilt from
 *  their `h:r:` records by `recover`). */
class Unpaged {
  readonly items: ParsedPast[] = []
  private readonly byIno = new Map<string, Epoch[]>()
  private readonly byName = new Map<string, Epoch[]>()
  private readonly dirs = new Map<string, Set<string>>()

  add(p: ParsedPast): void {
    // Without its body: the body is in level already (h:r:), only the index entries wait here.
    this.items.push({ volume: p.volume, epoch: p.epoch, body: null, inos: p.inos, names: p.names })
    for (const ino of p.inos) push(this.byIno, `${p.volume}/${ino}`, p.epoch)
    for (const [d, n] of p.names) {
      push(this.byName, `${p.volume}/${d}/${n}`, p.epoch)
      let set = this.dirs.get(`${p.volume}/${d}`)
      if (set === undefined) this.dirs.set(`${p.volume}/${d}`, (set = new Set()))
      set.add(n)
    }
  }
  clear(): void {
    this.items.length = 0
    this.byIno.clear()
    this.byName.clear()
    this.dirs.clear()
  }
  versionEpochs(v: VolumeName, ino: number): readonly Epoch[] {
    return this.byIno.get(`${v}/${ino}`) ?? []
  }
  nameEpochs(v: VolumeName, dir: number, name: string): readonly Epoch[] {
    return this.byName.get(`${v}/${dir}/${name}`) ?? []
  }
  dirNames(v: VolumeName, dir: number): readonly string[] {
    return [...(this.dirs.get(`${v}/${dir}`) ?? [])]
  }
}

function push(m: Map<string, Epoch[]>, k: string, e: Epoch): void {
  const l = m.get(k)
  if (l === undefined) m.set(k, [e])
  else if (l[l.length - 1] !== e) l.push(e)
}

/** The level reads the index needs: a synchronous get (the core's port is synchronous) and, at
 *  open only, an ascending scan of a key range. */
export interface PastLevel {
  getSync(key: string): Uint8Array | undefined
  scan(gte: string, lt: string): AsyncIterable<readonly [string, Uint8Array]>
}

export class PastIndex {
  /** Records staged and not yet durable; each leaves when its batch is durable (with pipelined
   *  group commit some batch is nearly always in flight, so waiting for none would never clear). */
  private staged = new MemoryPastStore()
  /** Durable records whose pages are not written yet. */
  private readonly unpaged = new Unpaged()
  /** The batch being written writes the pages of `unpaged` and of its own records. */
  private flushing = false
  private readonly getSync: (key: string) => Uint8Array | undefined

  constructor(private readonly level: PastLevel, private readonly flushEpochs = FLUSH_EPOCHS) {
    this.getSync = (key) => level.getSync(key)
  }

  /** At open: indexes, in memory, the durable records after each volume's mark (a crash or a
   *  stop left them unpaged). Returns how many it read. */
  async recover(): Promise<number> {
    this.unpaged.clear()
    let from = RECORD_PREFIX
    let read = 0
    for (;;) {
      let first: string | undefined
      for await (const [key] of this.level.scan(from, 'h:r;')) {
        first = key
        break
      }
      if (first === undefined) return read
      const volume = first.slice(RECORD_PREFIX.length, first.lastIndexOf(':'))
      const markRaw = this.getSync(markKey(volume))
      const mark = markRaw === undefined ? 0 : (decode(markRaw) as number)
      for await (const [key, value] of this.level.scan(recordKey(volume, mark + 1), `${RECORD_PREFIX}${volume};`)) {
        const epoch = Number(key.slice(key.lastIndexOf(':') + 1))
        const body = decode(value)
        const p = Array.isArray(body) ? parsePastRecord(['past', volume, epoch, ...body] as Value) : undefined
        if (p !== undefined) this.unpaged.add(p)
        read++
      }
      from = `${RECORD_PREFIX}${volume};`
    }
  }

  /** The host performed a persist effect: its past records are readable from now on. */
  stage(records: readonly Value[]): void {
    if (!records.some((r) => Array.isArray(r) && r[0] === 'past')) return
    this.staged.absorb(records)
  }

  /** The level puts of one batch: its `past` records under `h:r:`, and, once FLUSH_EPOCHS
   *  records wait, the pages of all of them with each volume's mark. Batches are written one
   *  after the other, so what earlier ones wrote is readable (getSync). */
  ops(records: readonly Value[]): Put[] {
    const out: Put[] = []
    const seen = new Set<string>()
    const fresh: ParsedPast[] = []
    for (const r of records) {
      const p = parsePastRecord(r)
      if (p === undefined) continue
      // An epoch's record is written once (a repeated one would index its entries twice).
      const rk = recordKey(p.volume, p.epoch)
      if (seen.has(rk) || this.getSync(rk) !== undefined) continue
      seen.add(rk)
      out.push({ type: 'put', key: rk, value: encode(p.body) })
      fresh.push(p)
    }
    this.flushing = this.unpaged.items.length + fresh.length >= this.flushEpochs
    if (this.flushing) out.push(...this.pages([...this.unpaged.items, ...fresh]))
    return out
  }

  /** Index pages (and marks) with the entries of `items` appended to what level holds. */
  private pages(items: readonly ParsedPast[]): Put[] {
    const pages = new Map<string, unknown[]>()
    const counts = new Map<string, number>()
    const marks = new Map<string, number>()
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
    for (const p of items) {
      for (const ino of p.inos) append(inoKey(p.volume, ino), p.epoch)
      for (const [dir, name] of p.names) {
        const nk = nameKey(p.volume, dir, name)
        if (counts.get(nk) === undefined && this.getSync(nk) === undefined) append(dirKey(p.volume, dir), name)
        append(nk, p.epoch)
      }
      marks.set(p.volume, Math.max(marks.get(p.volume) ?? 0, p.epoch))
    }
    const out: Put[] = []
    for (const [key, page] of pages) out.push({ type: 'put', key, value: encode(page as Value) })
    for (const [key, n] of counts) out.push({ type: 'put', key, value: encode(n) })
    for (const [volume, epoch] of marks) out.push({ type: 'put', key: markKey(volume), value: encode(epoch) })
    return out
  }

  /** A staged batch with past records is durable. */
  durable(records: readonly Value[]): void {
    if (this.flushing) this.unpaged.clear()
    else for (const r of records) {
      const p = parsePastRecord(r)
      if (p !== undefined) this.unpaged.add(p)
    }
    this.flushing = false
    if (!records.some((r) => Array.isArray(r) && r[0] === 'past')) return
    this.staged.forget(records)
  }

  /** Durable records indexed in memory only (bounded by FLUSH_EPOCHS). */
  get unpagedRecords(): number {
    return this.unpaged.items.length
  }

  /** Records staged and not yet durable (bounded by what is in flight). */
  get stagedRecords(): number {
    return this.staged.size
  }

  /** Forgets what was staged (the store closed or failed before it was durable). */
  reset(): void {
    this.staged = new MemoryPastStore()
    this.flushing = false
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

  /** Paged, then unpaged, then staged epochs: each part's epochs are above the one before's. */
  private merged(...parts: (readonly Epoch[])[]): Epoch[] {
    const out: Epoch[] = []
    for (const part of parts) {
      const last = out[out.length - 1] ?? -1
      for (const e of part) if (e > last) out.push(e)
    }
    return out
  }

  asPort(): PastStore {
    return {
      pastRecord: (volume: VolumeName, epoch: Epoch): Value | undefined => {
        const s = this.staged.pastRecord(volume, epoch)
        if (s !== undefined) return s
        const raw = this.getSync(recordKey(volume, epoch))
        return raw === undefined ? undefined : (decode(raw) as Value)
      },
      versionEpochs: (volume, ino) => this.merged(this.list(inoKey(volume, ino)) as Epoch[], this.unpaged.versionEpochs(volume, ino), this.staged.versionEpochs(volume, ino)),
      nameEpochs: (volume, dir, name) => this.merged(this.list(nameKey(volume, dir, name)) as Epoch[], this.unpaged.nameEpochs(volume, dir, name), this.staged.nameEpochs(volume, dir, name)),
      dirNames: (volume, dir) => [...new Set([...(this.list(dirKey(volume, dir)) as string[]), ...this.unpaged.dirNames(volume, dir), ...this.staged.dirNames(volume, dir)])],
    }
  }
}
