// One client's round trips against a running `paciofs serve` (issue 12): getattr('/') in a closed
// loop (one request in flight), 15 batches of N after 1,000 unmeasured; the fastest and the
// median batch, µs per round trip. Imports the client of the checkout given, so one script
// measures any checkout: bench/cs-rtt.sh runs it for several, alternating.
//   cd CHECKOUT && node --import tsx bench/cs-rtt.ts CHECKOUT CLIENT_DATA_DIR PORT N
const [co, dataDir, port, nArg] = process.argv.slice(2)
const { RemoteBackend } = await import(`${co}/runtime/client.ts`)
const { loadKey } = await import(`${co}/runtime/datadir.ts`)
const b = await RemoteBackend.connect({ server: { host: '127.0.0.1', port: Number(port) }, secretKey: loadKey(dataDir), volume: 'shared' })
const n = Number(nArg)
for (let i = 0; i < 1000; i++) await b.getattr('/')
const batches: number[] = []
for (let j = 0; j < 15; j++) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await b.getattr('/')
  batches.push(Number(process.hrtime.bigint() - t0) / 1e3 / n)
}
batches.sort((x, y) => x - y)
console.log(`getattr round trip min ${batches[0]!.toFixed(1)} median ${batches[7]!.toFixed(1)} µs`)
await b.close()
process.exit(0)
