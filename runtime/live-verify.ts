// `paciofs verify` on a running node (spec/runtime.md RT-11): the audit reads what is ON DISK,
// not only what the node holds in memory. A byte flipped in a segment or in a level file of a
// running node must fail verify, though the node's memory (and LevelDB's memtable and block
// cache) still hold the good bytes.
//
// How: while the node steps nothing and everything it stepped is durable (NodeHost.whileQuiet),
// copy the level database's files (the store's log, tables, manifest) and the tail witness into
// a scratch directory, and note the memory's per-volume state root and chain heads. Then, with
// the node running again, open the copy with a fresh LevelDB — which reads every file from disk,
// checking its log records' CRCs — and audit it exactly like a stopped node's data directory
// (every batch's checksum and number, the tail witness, the restore, ledger, replay, and every
// referenced chunk read from the live segment files and hashed), and compare the state the disk
// rebuilds with the memory's: a difference is a finding too.
//
// Why a copy and not the open database: LevelDB serves recent writes from its memtable and recent
// reads from its block cache, never from the files; a second handle on the live directory is
// refused (its lock), and a flipped byte in the write-ahead log is only noticed by a recovery.
import { cp, mkdtemp, readdir, rm, symlink, copyFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { restoreNode, type NodeConfig } from '../core/node.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import type { Pid, VolumeName } from '../core/types.ts'
import type { NodeHost } from './host.ts'
import { runInspect, type CommandOutput, type DiskFinding } from './inspect.ts'
import { RecordStore, segmentDir } from './store.ts'
import { witnessPath } from './tail-witness.ts'

/** What memory held when the disk was copied: per volume, the state root and every chain head. */
interface MemoryView {
  readonly volumes: Map<VolumeName, { root: string; heads: Map<Pid, { seq: number; head: string }> }>
  readonly lastBatch: number
  readonly settled: boolean
}

function memoryView(host: NodeHost, settled: boolean, lastBatch: number): MemoryView {
  const volumes: MemoryView['volumes'] = new Map()
  for (const [name, v] of host.state.volumes) {
    const heads = new Map<Pid, { seq: number; head: string }>()
    for (const [author, c] of v.fotb.chains) heads.set(author, { seq: c.view.seq, head: c.view.head })
    volumes.set(name, { root: stateRoot(v.fs), heads })
  }
  return { volumes, lastBatch, settled }
}

/** Copies the level files (not LOCK, whose lock belongs to the live handle, nor the info logs). */
async function copyStore(storeDir: string, to: string): Promise<void> {
  await cp(storeDir, to, { recursive: true, filter: (src) => !/\/(LOCK|LOG|LOG\.old)$/.test(src) })
  if (existsSync(witnessPath(storeDir))) await copyFile(witnessPath(storeDir), witnessPath(to))
  // Segments are read where they are (append-only files the audit only reads).
  if (existsSync(segmentDir(storeDir))) await symlink(segmentDir(storeDir), segmentDir(to))
}

/** Runs `paciofs verify <argv>` for a running node against what its disk holds. */
export async function verifyLive(host: NodeHost, config: NodeConfig, argv: readonly string[]): Promise<CommandOutput> {
  const scratch = await mkdtemp(join(tmpdir(), 'paciofs-verify-'))
  try {
    let memory: MemoryView | undefined
    let copied: RecordStore | undefined
    let openError: Error | undefined
    // A compaction running while the files are copied may leave a copy whose manifest names a
    // table it deleted: copy again (a few times; each copy is taken while the node is quiet).
    for (let attempt = 0; attempt < 3 && copied === undefined; attempt++) {
      const dir = join(scratch, `store-${attempt}`)
      await host.whileQuiet(async (settled) => {
        memory = memoryView(host, settled, host.chunkStore.lastBatch)
        await copyStore(host.storeDir, dir)
      })
      try {
        copied = await RecordStore.open(dir)
      } catch (err) {
        openError = err as Error
      }
    }
    if (copied === undefined || memory === undefined) {
      const finding: DiskFinding = { volume: null, where: `store ${host.storeDir}`, what: 'unreadable database', expected: 'a level database that opens from its files', found: openError?.message ?? 'not copied' }
      return runInspect('verify', argv, { config, state: host.state, chunks: host.chunkStore, storeProblems: [], restoreProblems: [], restoredFrom: host.restoredFrom, source: 'live', disk: { findings: [finding], note: 'the store files could not be opened' } })
    }
    try {
      let loaded: Awaited<ReturnType<RecordStore['loadAll']>>
      try {
        loaded = await copied.loadAll()
      } catch (err) {
        // LevelDB itself could not read its files (a damaged table block): a finding, never a crash.
        const finding: DiskFinding = { volume: null, where: `store ${host.storeDir}`, what: 'unreadable database', expected: 'level files that read back', found: (err as Error).message }
        return runInspect('verify', argv, { config, state: host.state, chunks: host.chunkStore, storeProblems: [], restoreProblems: [], restoredFrom: host.restoredFrom, source: 'live', disk: { findings: [finding], note: 'the store files could not be read back' } })
      }
      const { records, highest } = loaded
      // Name the live witness, not the scratch copy's.
      const problems = loaded.problems.map((p) => (p.tail ? { ...p, key: `tail ${witnessPath(host.storeDir)}` } : p))
      const withStore = { ...config, storage: copied }
      const restored = copied.passThrough(() => restoreNode(withStore, records))
      const findings = compare(memory, restored.state.volumes, highest)
      const segments = existsSync(segmentDir(host.storeDir)) ? (await readdir(segmentDir(host.storeDir))).filter((f) => /^seg-\d{6}$/.test(f)).length : 0
      const note = `read from disk: ${highest} batches of the level files (copied while the node was quiet, opened by a fresh LevelDB), the tail witness, ${segments} segment file(s); compared with the running node's memory${memory.settled ? '' : ' (a batch waits for disk space: memory is ahead of the disk, not compared)'}`
      return runInspect('verify', argv, { config: withStore, state: restored.state, chunks: copied, storeProblems: problems, restoreProblems: restored.problems, restoredFrom: restored.checkpoints, source: 'live', disk: { findings, note } })
    } finally {
      await copied.close()
    }
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

/** Where what the disk rebuilds differs from what the node holds in memory. */
function compare(memory: MemoryView, disk: ReadonlyMap<VolumeName, import('../core/volume/index.ts').VolumeState>, diskLastBatch: number): DiskFinding[] {
  const out: DiskFinding[] = []
  if (!memory.settled) return out
  if (diskLastBatch < memory.lastBatch) {
    out.push({ volume: null, where: `store batches ${diskLastBatch + 1}..${memory.lastBatch}`, what: 'durable batches missing on disk', expected: `batches up to ${memory.lastBatch} (the running store wrote them)`, found: `the files end at batch ${diskLastBatch}` })
  }
  for (const [name, m] of [...memory.volumes].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const d = disk.get(name)
    if (d === undefined) {
      out.push({ volume: name, where: 'disk', what: 'volume missing on disk', expected: 'the volume the node serves', found: 'no genesis in the stored records' })
      continue
    }
    const root = stateRoot(d.fs)
    if (root !== m.root) out.push({ volume: name, where: 'state root', what: 'the disk rebuilds another state than the node holds', expected: m.root, found: root })
    for (const [author, h] of [...m.heads].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const c = d.fotb.chains.get(author)
      const seq = c?.view.seq ?? 0
      if (seq !== h.seq || (c !== undefined && c.view.head !== h.head)) {
        out.push({ volume: name, where: `chain ${author.slice(0, 12)}`, what: 'the disk holds another chain than the node', expected: `seq ${h.seq} head ${h.head.slice(0, 16)}`, found: `seq ${seq}${c ? ` head ${c.view.head.slice(0, 16)}` : ''}` })
      }
    }
  }
  return out
}
