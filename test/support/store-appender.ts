// Child process of test/store.test.ts's crash test: opens the store in argv[2], continues the
// numbering after what it finds there, and appends batches forever. It prints `ack <n>` only
// after `await append` resolved, so every printed number is a promise of durability that a
// SIGKILL at any moment must not break.
import { RecordStore } from '../../runtime/store.ts'

const dir = process.argv[2]
if (!dir) throw new Error('usage: store-appender.ts <dir>')
const store = await RecordStore.open(dir)
const { records, problems } = await store.loadAll()
if (problems.length > 0) throw new Error(`damaged store: ${JSON.stringify(problems)}`)
// Two records per batch, so a half-written batch would show as an odd count.
for (let n = records.length / 2 + 1; ; n++) {
  await store.append([['batch', n, 0], ['batch', n, 1, new Uint8Array(1000).fill(n & 0xff)]])
  process.stdout.write(`ack ${n}\n`)
}
