// Which objects a heap grew by between two heap snapshots (issue 11: what a live file costs):
//   node --import tsx bench/heap-diff.ts A.heapsnapshot B.heapsnapshot [per=1] [top=30]
// Groups every node of each snapshot by V8 type and constructor/name (strings: "string", code,
// arrays...) and prints, per group, count and self bytes of B minus A, divided by `per` (e.g. the
// number of files made between the two snapshots). Snapshots: v8.writeHeapSnapshot() or
// memory-probe.ts with PROBE_SNAPSHOTS=<dir>.
import { readFileSync } from 'node:fs'

const [a, b, perArg, topArg] = process.argv.slice(2)
if (a === undefined || b === undefined) throw new Error('usage: heap-diff.ts A.heapsnapshot B.heapsnapshot [per] [top]')
const per = Number(perArg ?? 1)
const top = Number(topArg ?? 30)

interface Snap { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] }
function groups(file: string): Map<string, [number, number]> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snap
  const f = s.snapshot.meta.node_fields
  const nf = f.length
  const iType = f.indexOf('type')
  const iName = f.indexOf('name')
  const iSize = f.indexOf('self_size')
  const types = s.snapshot.meta.node_types[0]
  const out = new Map<string, [number, number]>()
  for (let i = 0; i < s.nodes.length; i += nf) {
    const type = types[s.nodes[i + iType]!]!
    const name = s.strings[s.nodes[i + iName]!]!
    const key = type === 'object' || type === 'closure' || type === 'hidden' || type === 'array' || type === 'object shape'
      ? `${type} ${name.slice(0, 60)}`
      : type
    const g = out.get(key) ?? [0, 0]
    g[0]++
    g[1] += s.nodes[i + iSize]!
    out.set(key, g)
  }
  return out
}
const ga = groups(a)
const gb = groups(b)
const rows: [string, number, number][] = []
for (const [k, [n, bytes]] of gb) {
  const [n0, b0] = ga.get(k) ?? [0, 0]
  rows.push([k, (n - n0) / per, (bytes - b0) / per])
}
for (const [k, [n0, b0]] of ga) if (!gb.has(k)) rows.push([k, -n0 / per, -b0 / per])
rows.sort((x, y) => Math.abs(y[2]) - Math.abs(x[2]))
let total = 0
for (const r of rows) total += r[2]
process.stdout.write(`total ${total.toFixed(1)} bytes per unit (${per} units)\n`)
for (const [k, n, bytes] of rows.slice(0, top)) process.stdout.write(`${bytes.toFixed(1).padStart(9)} B ${n.toFixed(2).padStart(7)} objs  ${k}\n`)
