// Child process of test/host.test.ts's kill -9 test: runs one node (runtime/host.ts) on the data
// directory argv[2] with the key of seed argv[3], creates volume 'v' if it has none, then creates
// and writes files /f<n> forever. It prints `ok <path>` only after the write's reply arrived,
// i.e. after its records were durable: every printed path is a promise that a SIGKILL at any
// moment must not break.
import { NodeHost } from '../../runtime/host.ts'
import type { VolumeName } from '../../core/types.ts'
import { genesisOf, key } from './nodes.ts'

const dir = process.argv[2]
const seed = Number(process.argv[3])
if (!dir || !(seed >= 1 && seed <= 255)) throw new Error('usage: host-node.ts <dataDir> <key seed 1..255>')
const V = 'v' as VolumeName
const cred = { uid: 1000, gid: 1000 }

const host = await NodeHost.start({ dataDir: dir, secretKey: key(seed), listen: { host: '127.0.0.1', port: 0 }, peers: [] })
if (!host.state.volumes.has(V)) genesisOf(await host.request({ type: 'create-volume', name: V, policy: 'majority' }))
process.stdout.write('ready\n')
for (let n = 0; ; n++) {
  const path = `/f${n}`
  const time = { sec: 1_700_000_000 + n, nsec: 0 }
  const created = await host.request({ type: 'fs', volume: V, call: { type: 'create', path, mode: 0o644, cred, time } })
  if (!created.ok) throw new Error(`create ${path}: ${JSON.stringify(created)}`)
  const data = new TextEncoder().encode(`content of ${path}\n`.repeat(50))
  const written = await host.request({ type: 'fs', volume: V, call: { type: 'write', path, writes: [{ offset: 0, data }], cred, time } })
  if (!written.ok) throw new Error(`write ${path}: ${JSON.stringify(written)}`)
  process.stdout.write(`ok ${path}\n`)
}
