// verify(disk, log) (spec/paciofs.md "verify", core/verify.ts via core/node.ts verifyNodeVolume):
// clean on every untouched node after a varied workload (VOL-8), and for each kind of tampering
// with a node's disk, log, plain operations or ledger, at least one finding that names what was
// changed (VOL-9). Every tampering runs on a fresh cluster, so the cases are independent.
import { describe, expect, it } from 'vitest'
import { nobleCrypto as crypto } from '../core/crypto.ts'
import { verifyNodeVolume } from '../core/node.ts'
import { membersOf, type FsCall, type VolumeState } from '../core/volume/index.ts'
import { applyOp, invalidate } from '../core/fs/state.ts'
import { currentView, getattr, lookup } from '../core/fs/view.ts'
import { opToValue, validateOp, type FsOp } from '../core/fs/ops.ts'
import { decode, encode, type Value } from '../core/codec.ts'
import type { VolumeFinding } from '../core/verify.ts'
import { Cluster } from '../sim/cluster.ts'
import { InvariantChecker } from '../sim/invariants.ts'
import type { ChunkHash, ObfHash, Pid, VolumeName } from '../core/types.ts'
import { genesisOf, key } from './support/nodes.ts'
import { referencedChunks } from '../runtime/inspect.ts'
import { chunksSetIn } from '../core/volume/past.ts'
import { toHex } from '../core/bytes.ts'

const VOL = 'archive' as VolumeName
const user = { uid: 1000, gid: 1000 }
const root = { uid: 0, gid: 0 }
const t = (sec: number) => ({ sec, nsec: 500 })
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

const INVOICE = '/docs/2024/q1/invoice.txt'
const HARDLINK = '/docs/invoice-hardlink'
const README = '/docs/README'
const SYMLINK = '/latest'


interface World {
  cluster: Cluster
  checker: InvariantChecker
  a: Pid
  b: Pid
  c: Pid
}

/** Three members; A and B work one call after the other (no concurrent conflicts), C only
 *  replicates. Exercises files over two blocks, dirs, a deep path, symlinks, hard links, xattrs,
 *  rename, chmod, chown, utimens, unlink and a failed call. */
function world(): World {
  const checker = new InvariantChecker({ correct: () => true })
  const cluster = new Cluster({ crypto, observe: (o, c) => checker.observe(o, c) })
  const [a, b, c] = [1, 2, 3].map((i) => cluster.addNode(key(i))) as [Pid, Pid, Pid]
  const g = genesisOf(cluster.request(a, { type: 'create-volume', name: VOL, policy: 'majority' }))
  for (const p of [b, c]) {
    cluster.request(p, { type: 'join-volume', genesis: g, contacts: [a] })
    cluster.runFor(1000)
  }
  for (const p of [a, b, c]) expect(membersOf(cluster.node(p).state.volumes.get(VOL)!)).toEqual([a, b, c].sort())
  const big = new Uint8Array(70_000)
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff
  const calls: [Pid, FsCall, boolean][] = [
    [a, { type: 'mkdir', path: '/docs', mode: 0o755, cred: user, time: t(1) }, true],
    [a, { type: 'mkdir', path: '/docs/2024', mode: 0o755, cred: user, time: t(2) }, true],
    [b, { type: 'mkdir', path: '/docs/2024/q1', mode: 0o750, cred: user, time: t(3) }, true],
    [a, { type: 'create', path: INVOICE, mode: 0o644, cred: user, time: t(4) }, true],
    [a, { type: 'write', path: INVOICE, writes: [{ offset: 0, data: big }], cred: user, time: t(5) }, true],
    [b, { type: 'create', path: '/docs/readme', mode: 0o644, cred: user, time: t(6) }, true],
    [b, { type: 'write', path: '/docs/readme', writes: [{ offset: 0, data: text('read me first') }], cred: user, time: t(7) }, true],
    [b, { type: 'symlink', path: SYMLINK, target: INVOICE, cred: user, time: t(8) }, true],
    [a, { type: 'link', from: INVOICE, to: HARDLINK, cred: user, time: t(9) }, true],
    [b, { type: 'setxattr', path: '/docs/readme', name: 'user.retention', value: text('10y'), flags: 0, cred: user, time: t(10) }, true],
    [a, { type: 'rename', from: '/docs/readme', to: README, cred: user, time: t(11) }, true],
    [a, { type: 'chmod', path: INVOICE, mode: 0o640, cred: user, time: t(12) }, true],
    [b, { type: 'chown', path: README, uid: 0, gid: 0, cred: root, time: t(13) }, true],
    [a, { type: 'utimens', path: '/docs/2024', atime: t(100), mtime: 'omit', cred: user, time: t(14) }, true],
    [b, { type: 'create', path: '/docs/scratch', mode: 0o600, cred: user, time: t(15) }, true],
    [b, { type: 'unlink', path: '/docs/scratch', cred: user, time: t(16) }, true],
    [a, { type: 'mkdir', path: '/docs', mode: 0o755, cred: user, time: t(17) }, false], // EEXIST: a local record
    [a, { type: 'write', path: README, writes: [{ offset: 5, data: text('ME') }], cred: user, time: t(18) }, true],
  ]
  for (const [p, call, ok] of calls) {
    const r = cluster.request(p, { type: 'fs', volume: VOL, call })
    expect(r.ok, `${call.type} ${JSON.stringify(r)}`).toBe(ok)
    cluster.runFor(200)
  }
  cluster.runFor(5000)
  return { cluster, checker, a, b, c }
}

const volAt = (w: World, p: Pid): VolumeState => w.cluster.node(p).state.volumes.get(VOL)!
const verifyAt = (w: World, p: Pid): VolumeFinding[] => verifyNodeVolume(w.cluster.node(p).config, w.cluster.node(p).state, VOL)

/** An unlogged op applied straight to a replica (the disk changed behind the log's back). */
function sneak(v: VolumeState, op: FsOp, author: Pid): void {
  const { result } = applyOp(v.fs, op, { epoch: v.fs.epoch + 1, author })
  expect(result.ok, JSON.stringify(result)).toBe(true)
}

function named(findings: VolumeFinding[], where: string | ((w: string) => boolean), what?: RegExp): boolean {
  return findings.some((f) => (typeof where === 'string' ? f.where === where || f.where.includes(where) : where(f.where)) && (what === undefined || what.test(f.what)))
}

function chunkOf(v: VolumeState, path: string, block = 0): ChunkHash {
  const view = currentView(v.fs)
  const ino = view.lookup(path)
  if (!ino.ok) throw new Error(`no ${path}`)
  const ref = view.version(ino.value)!.blocks.get(block)
  if (!ref) throw new Error(`no block ${block} in ${path}`)
  return ref.hash
}

describe('[VOL-8] verify is clean on untouched nodes', () => {
  const w = world()

  it('[VOL-8] verify returns no finding on any node after the workload', () => {
    expect(w.checker.violations).toEqual([])
    for (const p of [w.a, w.b, w.c]) {
      const v = volAt(w, p)
      expect(v.log.length).toBeGreaterThanOrEqual(17)
      expect(verifyAt(w, p)).toEqual([])
    }
    // The failed call is a local record at A only.
    expect(volAt(w, w.a).log.toArray().filter((r) => r.seq === null).map((r) => r.result)).toEqual(['EEXIST'])
    expect(volAt(w, w.b).log.toArray().filter((r) => r.seq === null)).toEqual([])
  })

  it('[VOL-8] the workload did what it says (so the clean verify covers every kind of node)', () => {
    const v = volAt(w, w.c)
    expect(getattr(v.fs, INVOICE).ok && (getattr(v.fs, INVOICE) as { value: { nlink: number; size: number } }).value).toMatchObject({ nlink: 2, size: 70_000 })
    expect(lookup(v.fs, HARDLINK)).toEqual(lookup(v.fs, INVOICE))
    expect(currentView(v.fs).readlink(SYMLINK)).toEqual({ ok: true, value: INVOICE })
    expect(currentView(v.fs).getxattr(README, 'user.retention')).toEqual({ ok: true, value: text('10y') })
    expect(lookup(v.fs, '/docs/scratch').ok).toBe(false)
    expect(lookup(v.fs, '/docs/readme').ok).toBe(false)
  })
})

describe('[VOL-9] verify finds every kind of tampering and names it', () => {
  /** tamper returns what the finding must name (a path or record), for the check to use. */
  type Case = [name: string, tamper: (w: World, v: VolumeState) => unknown, expectNamed: (f: VolumeFinding[], info: any) => boolean]
  const cases: Case[] = [
    [
      'a chunk of a file replaced by other bytes',
      (w, v) => {
        const h = chunkOf(v, INVOICE, 1)
        const store = w.cluster.node(w.a).chunks
        const bytes = store.chunk(VOL, h)!.slice()
        bytes[17]! ^= 0x01
        store.overwrite(VOL, h, bytes)
      },
      (f) => named(f, INVOICE, /chunk/) && named(f, HARDLINK, /chunk/),
    ],
    [
      'a chunk missing from the store',
      (w, v) => {
        w.cluster.node(w.a).chunks.overwrite(VOL, chunkOf(v, README), undefined)
      },
      (f) => named(f, README, /chunk/),
    ],
    [
      'a block reference changed by an unlogged write to the replica',
      (w, v) => {
        const other = chunkOf(v, README)
        sneak(v, { type: 'write', path: INVOICE, size: 70_000, blocks: [[0, other]], cred: user, time: t(50) }, w.a)
      },
      (f) => named(f, INVOICE, /content block 0/),
    ],
    [
      'the mode of a deep file changed (unlogged chmod)',
      (w, v) => sneak(v, { type: 'chmod', path: INVOICE, mode: 0o666, cred: user, time: t(12) }, w.a),
      (f) => named(f, INVOICE, /^mode$/),
    ],
    [
      'the owner of a file changed (unlogged chown)',
      (w, v) => sneak(v, { type: 'chown', path: README, uid: 4242, gid: -1, cred: root, time: t(13) }, w.a),
      (f) => named(f, README, /^uid$/),
    ],
    [
      'the mtime of a file changed (unlogged utimens)',
      (w, v) => sneak(v, { type: 'utimens', path: INVOICE, atime: 'omit', mtime: t(999), cred: user, time: t(12) }, w.a),
      (f) => named(f, INVOICE, /^mtime$/),
    ],
    [
      'a directory entry deleted (unlogged unlink)',
      (w, v) => sneak(v, { type: 'unlink', path: README, cred: user, time: t(60) }, w.a),
      (f) => named(f, README, /entry/),
    ],
    [
      'a directory entry added (unlogged create)',
      (w, v) => sneak(v, { type: 'create', path: '/docs/2024/q1/planted', mode: 0o644, ino: 999_999, cred: user, time: t(61) }, w.a),
      (f) => named(f, '/docs/2024/q1/planted', /entry/),
    ],
    [
      'a symlink target changed on disk',
      (_w, v) => {
        const ino = lookup(v.fs, SYMLINK)
        if (!ino.ok) throw new Error('no symlink')
        const rec = v.fs.inodes.get(ino.value)!
        const cur = rec.cur
        // The current tree is what verify compares; the past on disk keeps the old target.
        rec.cur = { ...cur, target: '/docs/2024/q1/invoice.tx_', size: cur.size }
        invalidate(v.fs, ino.value)
      },
      (f) => named(f, SYMLINK, /symlink target/),
    ],
    [
      'an xattr value changed (unlogged setxattr)',
      (w, v) => sneak(v, { type: 'setxattr', path: README, name: 'user.retention', value: text('1y'), flags: 0, cred: root, time: t(10) }, w.a),
      (f) => named(f, README, /xattr/),
    ],
    [
      'a hard link added (unlogged link)',
      (w, v) => sneak(v, { type: 'link', from: README, to: '/docs/2024/readme-too', cred: root, time: t(62) }, w.a),
      (f) => named(f, '/docs/2024/readme-too', /entry/) && named(f, README, /nlink/),
    ],
    [
      'a log record\'s result altered',
      (_w, v) => {
        const i = v.log.toArray().findIndex((r) => r.kind === 'chmod')
        v.log.rewriteForTest((log) => (log[i] = { ...log[i]!, result: 'EPERM' }))
        return `log epoch ${i + 1}`
      },
      (f, where: string) => named(f, where, /result/),
    ],
    [
      'a log record\'s obf replaced by another op\'s',
      (_w, v) => {
        const i = v.log.toArray().findIndex((r) => r.kind === 'link')
        const other = v.log.toArray().find((r) => r.kind === 'symlink')!.obf
        v.log.rewriteForTest((log) => (log[i] = { ...log[i]!, obf: other }))
        return `log epoch ${i + 1}`
      },
      (f, where: string) => named(f, where, /obf/),
    ],
    [
      'a log record\'s kind altered',
      (_w, v) => {
        const i = v.log.toArray().findIndex((r) => r.kind === 'rename')
        v.log.rewriteForTest((log) => (log[i] = { ...log[i]!, kind: 'link' }))
        return `log epoch ${i + 1}`
      },
      (f, where: string) => named(f, where, /kind/),
    ],
    [
      'a log record removed (epochs no longer contiguous)',
      (_w, v) => {
        v.log.rewriteForTest((log) => log.splice(3, 1))
      },
      (f) => named(f, 'log epoch 5', /epoch/),
    ],
    [
      'a plain operation\'s salt replaced',
      (w, v) => {
        const obf = v.log.toArray().find((r) => r.kind === 'setxattr')!.obf!
        const store = w.cluster.node(w.a).chunks
        const p = store.plain(VOL, obf)!
        const salt = p.salt.slice()
        salt[31]! ^= 0x80
        store.overwritePlain(VOL, obf, { ...p, salt })
        return `log epoch ${v.log.toArray().find((r) => r.kind === 'setxattr')!.epoch}`
      },
      (f, where: string) => named(f, where, /salted hash/),
    ],
    [
      'a plain operation replaced by another valid op (chmod to 0777)',
      (w, v) => {
        const obf = v.log.toArray().find((r) => r.kind === 'chmod')!.obf!
        const store = w.cluster.node(w.a).chunks
        const p = store.plain(VOL, obf)!
        const other = encode(opToValue({ ...(validateOp(decode(p.opBytes) as Value) as { ok: true; op: Extract<FsOp, { type: 'chmod' }> }).op, mode: 0o777 }))
        store.overwritePlain(VOL, obf, { ...p, opBytes: other })
        return `log epoch ${v.log.toArray().find((r) => r.kind === 'chmod')!.epoch}`
      },
      (f, where: string) => named(f, where, /plain operation/),
    ],
    [
      'a plain operation removed',
      (w, v) => {
        w.cluster.node(w.a).chunks.overwritePlain(VOL, v.log.toArray().find((r) => r.kind === 'symlink')!.obf!, undefined)
        return `log epoch ${v.log.toArray().find((r) => r.kind === 'symlink')!.epoch}`
      },
      (f, where: string) => named(f, where, /plain operation|replay/),
    ],
    [
      'a byte of a ledger entry payload flipped (another author\'s chain)',
      (w, v) => {
        const seq = v.fotb.chains.get(w.b)!.view.seq
        const store = w.cluster.node(w.a).chunks
        const e = store.entry(VOL, w.b, seq)!
        const payload = e.payload.slice()
        payload[payload.length - 1]! ^= 0x01
        store.overwriteEntry(VOL, w.b, seq, { ...e, payload })
        return w.b.slice(0, 12)
      },
      (f, author: string) => named(f, (where) => where.startsWith('ledger ') && where.includes(author)),
    ],
    [
      'a byte of a ledger entry payload flipped (own chain)',
      (w, v) => {
        const seq = v.fotb.chains.get(w.a)!.view.seq
        const store = w.cluster.node(w.a).chunks
        const e = store.entry(VOL, w.a, seq)!
        const payload = e.payload.slice()
        payload[payload.length - 3]! ^= 0x10
        store.overwriteEntry(VOL, w.a, seq, { ...e, payload })
        return w.a.slice(0, 12)
      },
      (f, author: string) => named(f, (where) => where.startsWith('ledger ') && where.includes(author)),
    ],
  ]

  for (const [name, tamper, expectNamed] of cases) {
    it(`[VOL-9] ${name}`, () => {
      const w = world()
      expect(verifyAt(w, w.a)).toEqual([])
      const v = volAt(w, w.a)
      const info = tamper(w, v)
      const findings = verifyAt(w, w.a)
      expect(findings.length).toBeGreaterThan(0)
      expect(expectNamed(findings, info), JSON.stringify(findings, null, 1)).toBe(true)
      // Other nodes are not affected by A's tampering.
      expect(verifyAt(w, w.c)).toEqual([])
    })
  }
})

describe('[VOL-9] unlogged changes that leave the current tree as it was', () => {
  // verify compares the disk's history (epoch, op lines, every inode version) with the replay too.
  it('[VOL-9] a file planted and removed again behind the log\'s back is found (epoch and history)', () => {
    const w = world()
    const v = volAt(w, w.a)
    const dir = getattr(v.fs, '/docs/2024/q1')
    if (!dir.ok) throw new Error('no dir')
    const at = dir.value.mtime
    expect(dir.value.ctime).toEqual(at)
    sneak(v, { type: 'create', path: '/docs/2024/q1/ghost', mode: 0o644, ino: 777_777, cred: user, time: at }, w.a)
    sneak(v, { type: 'unlink', path: '/docs/2024/q1/ghost', cred: user, time: at }, w.a)
    expect(v.fs.epoch).toBe(v.log.length + 2)
    expect(verifyAt(w, w.a)).not.toEqual([])
  })

  it('[VOL-9] a changed or lost record of the past is named by its epoch: the replay compares its record of every epoch with the disk\'s as it goes (it keeps no history)', () => {
    const w = world()
    const storage = w.cluster.node(w.a).chunks
    expect(verifyAt(w, w.a)).toEqual([])
    // The first epoch whose record holds a version: one bit of its first version's mode flipped.
    let epoch = 1
    while ((storage.pastRecord(VOL, epoch) as Value[][])[0]!.length === 0) epoch++
    const body = storage.pastRecord(VOL, epoch) as Value[]
    const versions = body[0] as Value[][]
    const [ino, version] = versions[0] as [number, Value[]]
    const changed: Value = [[[ino, [version[0]!, (version[1] as number) ^ 1, ...version.slice(2)]], ...versions.slice(1)], body[1]!, body[2]!]
    storage.overwritePast(VOL, epoch, changed)
    expect(verifyAt(w, w.a)).toEqual([expect.objectContaining({ where: `(epoch ${epoch}) inode ${ino}`, what: 'history: version' })])
    storage.overwritePast(VOL, epoch, undefined)
    expect(verifyAt(w, w.a)).toEqual([{ where: `(epoch ${epoch})`, what: 'history: record', expected: 'the past record of the epoch', found: 'missing or malformed' }])
    storage.overwritePast(VOL, epoch, body)
    expect(verifyAt(w, w.a)).toEqual([])
  })

  it('the chunk audit names every referenced chunk, each once while it is recent, with bounded memory; a missing record\'s blocks come from the current tree', () => {
    const w = world()
    const block = (n: number) => new Uint8Array(1000).fill(n)
    // The same content written again after other chunks: D, E, F, D.
    for (const [i, n] of [[1, 0xd], [2, 0xe], [3, 0xf], [4, 0xd]] as const) {
      for (const call of [
        { type: 'create', path: `/dup${i}`, mode: 0o644, cred: user, time: t(20 + i) },
        { type: 'write', path: `/dup${i}`, writes: [{ offset: 0, data: block(n) }], cred: user, time: t(20 + i) },
      ] as FsCall[]) expect(w.cluster.request(w.a, { type: 'fs', volume: VOL, call }).ok).toBe(true)
    }
    w.cluster.runFor(2000)
    const v = volAt(w, w.a)
    const storage = w.cluster.node(w.a).chunks
    const expected = new Set<string>()
    for (let e = 1; e <= v.fs.epoch; e++) for (const h of chunksSetIn(storage.pastRecord(VOL, e))) expected.add(toHex(h))
    const named = [...referencedChunks(v)]
    expect(new Set(named)).toEqual(expected)
    expect(named.length).toBe(expected.size) // each once
    // A window of one (two generations): D is forgotten after E and F, and named again.
    const small = [...referencedChunks(v, 1)]
    expect(new Set(small)).toEqual(expected)
    expect(small.length).toBe(expected.size + 1)
    // The epoch that wrote the 70,000-byte invoice loses its record: its chunks still get audited,
    // from the current tree (verify names the record itself).
    let epoch = 1
    while (!chunksSetIn(storage.pastRecord(VOL, epoch)).some((h) => h.length > 0)) epoch++
    const body = storage.pastRecord(VOL, epoch)
    storage.overwritePast(VOL, epoch, undefined)
    expect(new Set(referencedChunks(v))).toEqual(expected)
    storage.overwritePast(VOL, epoch, body)
  })
})
