// A stopped node's data directory tampered with in every way an insider could: a flipped byte in
// a stored chunk, in a metadata (log) record, in a ledger entry; a chunk or a plain operation
// rewritten behind the store's back with a valid batch checksum; the raw database files edited.
// `paciofs verify` must exit 1 naming what is wrong, and the node must refuse to start on it
// (fail-stop, VOL-12). Then crash safety: kill -9 the node during a stream of fsync'd writes;
// after a restart every write whose fsync and close had returned is there and verify is clean.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { decode, encode, type Value } from '../core/codec.ts'
import { storePath } from '../runtime/datadir.ts'
import { CHUNK_INLINE_MAX, decodeBatch, encodeBatch, segmentDir, segmentName } from '../runtime/store.ts'
import { cleanupAll, mountPaciofs, runPaciofs, startPaciofs, stopProc, waitFor } from './support/procs.ts'

const root = mkdtempSync(join(tmpdir(), 'paciofs-tamper-'))
const pristine = join(root, 'pristine')
const mounts = [join(root, 'mnt'), join(root, 'crash-mnt')]

beforeAll(async () => {
  const p = await mountPaciofs(mounts[0]!, ['--data', pristine])
  await fs.writeFile(join(mounts[0]!, 'invoice-001.txt'), 'amount: 1000 EUR\n')
  await fs.writeFile(join(mounts[0]!, 'invoice-001.txt'), 'amount: 1000 EUR\npaid\n')
  await fs.mkdir(join(mounts[0]!, 'ledger'))
  await fs.writeFile(join(mounts[0]!, 'ledger/scan.bin'), Buffer.alloc(200_000, 0x5a))
  expect(await stopProc(p)).toBe(0)
  expect((await runPaciofs(['verify', '--data', pristine])).code).toBe(0)
}, 120_000)

afterAll(async () => {
  await cleanupAll(mounts)
  rmSync(root, { recursive: true, force: true })
})

let copies = 0
function copyOfPristine(): string {
  const d = join(root, `copy-${++copies}`)
  cpSync(pristine, d, { recursive: true })
  rmSync(join(d, 'control.sock'), { force: true })
  return d
}

/** Opens the copy's level database and rewrites the first batch holding a record of `kind`. */
async function editBatch(dataDir: string, kind: string, edit: (key: string, value: Uint8Array, records: Value[]) => Uint8Array): Promise<string> {
  const db = new Level<string, Uint8Array>(storePath(dataDir), { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  try {
    for await (const [key, value] of db.iterator({ gte: 'b:', lt: 'b;' })) {
      const b = decodeBatch(Number(key.slice(2)), value)
      if (!b.ok) continue
      if (!b.records.some((r) => Array.isArray(r) && (r[0] === kind || (kind === 'chunk' && (r[0] === 'chunk~' || r[0] === 'chunk@'))))) continue
      await db.put(key, edit(key, value, b.records))
      return key
    }
  } finally {
    await db.close()
  }
  throw new Error(`no batch holds a '${kind}' record`)
}

/** Opens the copy's level database and rewrites the value of the first key under `prefix`. */
async function editKey(dataDir: string, prefix: string, edit: (key: string, value: Uint8Array) => Uint8Array): Promise<string> {
  const db = new Level<string, Uint8Array>(storePath(dataDir), { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  try {
    for await (const [key, value] of db.iterator({ gte: prefix, lt: prefix.slice(0, -1) + ';', limit: 1 })) {
      await db.put(key, edit(key, value))
      return key
    }
  } finally {
    await db.close()
  }
  throw new Error(`no key under ${prefix}`)
}

/** Flips one byte in the middle of the stored value (checksum no longer matches). */
const flip = (_k: string, value: Uint8Array): Uint8Array => {
  const v = value.slice()
  const i = Math.floor(v.length * 0.75)
  v[i] = v[i]! ^ 0x01
  return v
}

async function verifyFails(dataDir: string): Promise<{ findings: { where: string; what: string; expected: string; found: string }[]; text: string }> {
  const r = await runPaciofs(['verify', '--json', '--data', dataDir])
  expect(r.code).toBe(1)
  const json = JSON.parse(r.stdout) as { clean: boolean; findings: { where: string; what: string; expected: string; found: string }[] }
  expect(json.clean).toBe(false)
  const text = await runPaciofs(['verify', '--data', dataDir])
  expect(text.code).toBe(1)
  return { findings: json.findings, text: text.stdout }
}

async function refusesToStart(dataDir: string): Promise<void> {
  const p = startPaciofs(['serve', '--data', dataDir, '--listen', '127.0.0.1:0'])
  expect(await p.exited).toBe(1)
  expect(p.stderr).toMatch(/refuses to start/)
}

/** The node starts on the damaged directory (a start from the tail does not read the damage), and
 *  verify on the running node, which reads the disk (RT-11), exits 1 naming `name`. */
async function startsAndLiveVerifyNames(dataDir: string, name: string): Promise<void> {
  const p = startPaciofs(['serve', '--data', dataDir, '--listen', '127.0.0.1:0'])
  try {
    await waitFor('the node to serve', async () => (await runPaciofs(['status', '--data', dataDir])).stdout.includes('tree image'))
    const live = await runPaciofs(['verify', '--data', dataDir])
    expect(live.code).toBe(1)
    expect(live.stdout).toContain(name)
  } finally {
    await stopProc(p)
  }
}

describe('[VOL-9] [RT-3] tampering with a stopped node\'s data directory is found by verify', () => {
  for (const kind of ['chunk']) {
    it(`a flipped byte in a stored '${kind}' record: exit 1, naming its batch, offline and on the running node (a batch below the checkpoint is not read at start)`, async () => {
      const d = copyOfPristine()
      const key = await editBatch(d, kind, flip)
      const { findings, text } = await verifyFails(d)
      expect(findings.some((f) => f.where.includes(key))).toBe(true)
      expect(text).toContain(key)
      await startsAndLiveVerifyNames(d, key)
    })
  }

  it('a flipped byte in the newest batch (the tail a restart reads): the node refuses to start, and verify names the batch', async () => {
    const d = copyOfPristine()
    const db = new Level<string, Uint8Array>(storePath(d), { keyEncoding: 'utf8', valueEncoding: 'view' })
    let key = ''
    try {
      key = (await db.keys({ gte: 'b:', lt: 'b;', reverse: true, limit: 1 }).all())[0]!
      await db.put(key, flip(key, (await db.get(key))!))
    } finally {
      await db.close()
    }
    const { findings } = await verifyFails(d)
    expect(findings.some((f) => f.where.includes(key)), JSON.stringify(findings)).toBe(true)
    await refusesToStart(d)
  })

  // Plain operations and entries are stored under keys of their own (spec/runtime.md "Store
  // format"), read through the storage port and checked as the node restores: the finding names
  // the plain op (its obf) or the chain (its author) whose check failed.
  for (const [kind, prefix] of [['entry', 'e:'], ['plain', 'p:']] as const) {
    it(`[STORE-5] a flipped byte in a stored ${kind} (its ${prefix} key): exit 1, naming it, offline and on the running node (a start from the tail never reads it)`, async () => {
      const d = copyOfPristine()
      const key = await editKey(d, prefix, flip)
      const name = key.split(':')[2]!.slice(0, 12) // the author of an entry, the obf of a plain op
      const { findings, text } = await verifyFails(d)
      expect(findings.some((f) => f.where.includes(name) || f.found.includes(name) || f.expected.includes(name)), JSON.stringify(findings)).toBe(true)
      expect(text).toContain(name)
      // The pristine node stopped cleanly: its checkpoint and tree image cover every op, so a
      // start reads only the tail after them: no entry and no plain op below (spec/checkpoint.md
      // "Restart from the tail"). It starts; verify, which replays from genesis, finds the damage
      // on the running node too (it reads the disk, RT-11).
      await startsAndLiveVerifyNames(d, name)
    })
  }

  it('[STORE-7] a flipped byte in a stored log record (its g: key): verify exits 1 naming its epoch, also on the running node (a start reads no log record its tree image covers)', async () => {
    const d = copyOfPristine()
    const key = await editKey(d, 'g:', flip)
    const epoch = Number(key.slice(key.lastIndexOf(':') + 1))
    const { findings, text } = await verifyFails(d)
    expect(findings.some((f) => f.where === `log epoch ${epoch}`), JSON.stringify(findings)).toBe(true)
    expect(text).toContain(`log epoch ${epoch}`)
    await startsAndLiveVerifyNames(d, `log epoch ${epoch}`)
  })

  it('[STORE-2] a chunk rewritten in its index entry (valid everything else): verify exits 1 naming the chunk; reading it is refused, never served', async () => {
    const d = copyOfPristine()
    // The current invoice's chunk (small: its bytes are inline in the chunk index entry,
    // runtime/store.ts): change a byte.
    const db = new Level<string, Uint8Array>(storePath(d), { keyEncoding: 'utf8', valueEncoding: 'view' })
    let chunkHex = ''
    for await (const [key, value] of db.iterator({ gte: 'c:', lt: 'c;' })) {
      const entry = decode(value) as Value[]
      if (entry[0] !== 'inline' || Buffer.from(entry[1] as Uint8Array).toString() !== 'amount: 1000 EUR\npaid\n') continue
      const bytes = (entry[1] as Uint8Array).slice()
      bytes[0] = bytes[0]! ^ 0xff
      await db.put(key, encode(['inline', bytes]))
      chunkHex = key.split(':')[2]!
      break
    }
    await db.close()
    expect(chunkHex).toMatch(/^[0-9a-f]{64}$/)
    const { findings } = await verifyFails(d)
    expect(findings).toContainEqual(expect.objectContaining({ where: `chunk ${chunkHex}`, what: 'chunk does not hash to its name' }))
    // Chunks are read on demand (spec/storage.md): the damage shows when the chunk is read.
    const cat = await runPaciofs(['cat', '/invoice-001.txt', '--data', d])
    expect(cat.code).toBe(1)
    expect(cat.stderr).toContain(`chunk ${chunkHex} does not hash to its name`)
  })

  it('a chunk\'s bytes changed in its segment file: exit 1, naming the chunk; a truncated segment: exit 1, naming the batch', async () => {
    const d = copyOfPristine()
    const seg = join(segmentDir(storePath(d)), segmentName(1))
    const bytes = readFileSync(seg)
    expect(bytes.length).toBeGreaterThanOrEqual(CHUNK_INLINE_MAX) // the 200 kB scan went there
    bytes[100] = bytes[100]! ^ 0x01
    writeFileSync(seg, bytes)
    const { findings } = await verifyFails(d)
    expect(findings.some((f) => /chunk [0-9a-f]{64}/.test(f.where) || /chunk [0-9a-f]{64}/.test(f.found))).toBe(true)

    const t = copyOfPristine()
    const tseg = join(segmentDir(storePath(t)), segmentName(1))
    writeFileSync(tseg, readFileSync(tseg).subarray(0, 1000))
    const truncated = await verifyFails(t)
    expect(truncated.text).toMatch(/chunk [0-9a-f]{64}: chunk as stored: expected present, hashing to its name, found is cut short or missing in segment seg-000001/)
    const cat = await runPaciofs(['cat', '/ledger/scan.bin', '--data', t])
    expect(cat.code).toBe(1)
    expect(cat.stderr).toMatch(/is cut short or missing in segment seg-000001/)
  })

  it('a plain operation rewritten behind the store\'s back (valid batch checksum): exit 1, naming it', async () => {
    const d = copyOfPristine()
    await editKey(d, 'p:', (_key, value) => {
      const [salt, opBytes] = decode(value) as [Uint8Array, Uint8Array]
      const op = opBytes.slice()
      // Change one byte of the op's text (a path or a mode): still CBOR, no longer the hashed op.
      const i = op.length - 2
      op[i] = op[i]! ^ 0x01
      return encode([salt, op])
    })
    const { findings } = await verifyFails(d)
    expect(findings.length).toBeGreaterThan(0)
  })

  it('the raw database files edited: verify names damage, or (a byte level never reads, e.g. a block trailer) reports the very same volume', async () => {
    const pristineVerify = await runPaciofs(['verify', '--data', pristine])
    const pristineRoot = JSON.parse((await runPaciofs(['status', '--json', '--data', pristine])).stdout).volumes[0].stateRoot as string
    let named = 0
    for (const at of [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) {
      const d = copyOfPristine()
      // Opening the store may have compacted the write-ahead log into tables: flip in all files.
      for (const f of readdirSync(storePath(d))) {
        if (!/\.(ldb|log|sst)$/.test(f)) continue
        const p = join(storePath(d), f)
        if (statSync(p).size < 64) continue
        const b = readFileSync(p)
        const i = Math.floor(b.length * at)
        b[i] = b[i]! ^ 0x10
        writeFileSync(p, b)
      }
      const r = await runPaciofs(['verify', '--data', d])
      if (r.code === 1) {
        named++
        expect(r.stdout).toMatch(/^FINDING /m)
        continue
      }
      // Clean is only allowed for exactly the pristine volume: same counts, same state root.
      expect(r.code).toBe(0)
      expect(r.stdout).toBe(pristineVerify.stdout)
      const root = JSON.parse((await runPaciofs(['status', '--json', '--data', d])).stdout).volumes[0].stateRoot
      expect(root).toBe(pristineRoot)
    }
    expect(named).toBeGreaterThan(0)
  })
})

describe('crash: kill -9 during a stream of fsync\'d writes', () => {
  it('[RT-2] every write whose fsync and close returned is there after a restart, and verify is clean', async () => {
    const data = join(root, 'crash-data')
    const mnt = mounts[1]!
    const node = await mountPaciofs(mnt, ['--data', data])
    // The writer is its own process (never the serving one); it prints each file once its
    // fsync and close returned, and stops at the first error (the mount goes away).
    const writer = spawn(process.execPath, ['-e', `
      const fs = require('node:fs')
      for (let i = 0; ; i++) {
        try {
          const fd = fs.openSync(${JSON.stringify(mnt)} + '/f' + i, 'w')
          fs.writeSync(fd, Buffer.alloc(1000 + i, i % 251))
          fs.fsyncSync(fd)
          fs.closeSync(fd)
          process.stdout.write('acked ' + i + '\\n')
        } catch (e) { process.stdout.write('error ' + e.code + '\\n'); process.exit(0) }
      }`], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    writer.stdout.on('data', (c: Buffer) => (out += c.toString()))
    await waitFor('40 acknowledged writes', () => /acked 40\n/.test(out), 60_000, 20)
    await stopProc(node, 'SIGKILL')
    await new Promise<void>((ok) => writer.once('exit', () => ok()))
    const acked = [...out.matchAll(/acked (\d+)/g)].map((m) => Number(m[1]))
    expect(acked.length).toBeGreaterThanOrEqual(41)

    const again = await mountPaciofs(mnt, ['--data', data])
    for (const i of acked) {
      const b = await fs.readFile(join(mnt, `f${i}`))
      expect(b.equals(Buffer.alloc(1000 + i, i % 251))).toBe(true)
    }
    expect(await stopProc(again)).toBe(0)
    const v = await runPaciofs(['verify', '--data', data])
    expect(v.code).toBe(0)
  })
})
