// A totb DAG run as a self-contained HTML page (`paciofs sim --order totb --seed N --trace f.html`):
// one correct member's DAG, epoch after epoch, one row per member and one column per round.
// Each valid vertex is a dot with lines to the vertices of the previous round it refers to
// strongly; leader rounds are shaded; a committed leader is a filled ring (gold: committed
// directly by f + 1 votes, orange: ordered through a later leader's path), a leader round of
// the epoch with no ordered leader is marked "skipped"; Byzantine members' rows are red. No
// script, no external URL. Drawing is capped at VERTICES_DRAWN_MAX vertices (a note says so).
import type { Pid } from '../../core/types.ts'
import type { DagSimResult } from './dag.ts'

export const VERTICES_DRAWN_MAX = 3000
const ROW_PX = 26
const COL_PX = 22
const LEFT_PX = 120
const TOP_PX = 70
const EPOCH_GAP_PX = 40

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

const short = (p: Pid): string => p.slice(2, 10)

export function renderDagHtml(result: DagSimResult, replay?: string): string {
  const t = result.trace
  if (t === undefined) throw new Error('renderDagHtml needs a run with keepTrace')
  const c = result.config
  const drawn = t.vertices.slice(0, VERTICES_DRAWN_MAX)
  const row = new Map(t.members.map((p, i) => [p, i]))
  const byz = new Set(t.byzantine)
  // Columns: epochs left to right, each as wide as its highest drawn round.
  const epochs = [...new Set([...t.epochs.map((e) => e.epoch), ...drawn.map((v) => v.epoch)])].sort((a, b) => a - b)
  const width = new Map<number, number>()
  for (const v of drawn) width.set(v.epoch, Math.max(width.get(v.epoch) ?? 0, v.round))
  const x0 = new Map<number, number>()
  let x = LEFT_PX
  for (const e of epochs) {
    x0.set(e, x)
    x += Math.max(1, width.get(e) ?? 0) * COL_PX + EPOCH_GAP_PX
  }
  const svgWidth = x + 40
  const svgHeight = TOP_PX + t.members.length * ROW_PX + 40
  const px = (epoch: number, round: number): number => x0.get(epoch)! + (round - 0.5) * COL_PX
  const py = (p: Pid): number => TOP_PX + (row.get(p) ?? 0) * ROW_PX + ROW_PX / 2
  const parts: string[] = []
  // Rows and epoch headers.
  for (const p of t.members) {
    parts.push(`<text x="8" y="${py(p) + 4}" class="${byz.has(p) ? 'byz' : 'lbl'}">${short(p)}${byz.has(p) ? ' (Byz.)' : ''}${p === t.viewer ? ' (view)' : ''}</text>`)
    parts.push(`<line x1="${LEFT_PX - 6}" y1="${py(p)}" x2="${svgWidth - 20}" y2="${py(p)}" class="lane"/>`)
  }
  const committed = new Map<string, { direct: boolean; at: number }>()
  for (const l of t.commits) committed.set(`${l.epoch}:${l.round}`, { direct: l.direct, at: l.at })
  const orderedUpTo = new Map<number, number>()
  for (const l of t.commits) orderedUpTo.set(l.epoch, Math.max(orderedUpTo.get(l.epoch) ?? 0, l.round))
  for (const e of epochs) {
    const info = t.epochs.find((k) => k.epoch === e)
    const committee = info?.committee ?? []
    const w = width.get(e) ?? 0
    parts.push(`<text x="${x0.get(e)!}" y="20" class="hdr">epoch ${e}${info ? ` (from ${info.at} ms)` : ''}: ${committee.length} members</text>`)
    for (let r = 1; r <= w; r++) {
      const cx = px(e, r)
      if (r % 2 === 1) {
        parts.push(`<rect x="${cx - COL_PX / 2}" y="${TOP_PX - 6}" width="${COL_PX}" height="${t.members.length * ROW_PX + 12}" class="leadround"/>`)
        const k = committed.get(`${e}:${r}`)
        const label = k ? (k.direct ? 'C' : 'c') : r < (orderedUpTo.get(e) ?? 0) ? 'skip' : ''
        if (label) parts.push(`<text x="${cx - 4}" y="${TOP_PX - 10}" class="${k ? 'cl' : 'sk'}"><title>round ${r}: ${k ? (k.direct ? 'leader committed directly' : 'leader ordered through a later leader') : 'leader skipped'}</title>${label}</text>`)
      }
      if (r % 5 === 0 || r === 1) parts.push(`<text x="${cx - 5}" y="${svgHeight - 20}" class="ax">${r}</text>`)
    }
  }
  // Strong refs, then the vertices over them.
  const at = new Map(drawn.map((v) => [`${v.epoch}:${v.round}:${v.author}`, v]))
  for (const v of drawn) {
    for (const a of v.strong) {
      if (!at.has(`${v.epoch}:${v.round - 1}:${a}`)) continue
      parts.push(`<line x1="${px(v.epoch, v.round)}" y1="${py(v.author)}" x2="${px(v.epoch, v.round - 1)}" y2="${py(a)}" class="ref"/>`)
    }
  }
  for (const v of drawn) {
    const k = v.round % 2 === 1 ? committed.get(`${v.epoch}:${v.round}`) : undefined
    const isCommittedLeader = k !== undefined && t.commits.some((l) => l.epoch === v.epoch && l.round === v.round && l.author === v.author)
    const cls = isCommittedLeader ? (k!.direct ? 'vd' : 'vi') : byz.has(v.author) ? 'vb' : 'v'
    parts.push(`<circle cx="${px(v.epoch, v.round)}" cy="${py(v.author)}" r="${isCommittedLeader ? 6 : 4}" class="${cls}"><title>${short(v.author)}#${v.seq}: epoch ${v.epoch}, round ${v.round}, judged valid at ${v.at} ms; refs ${v.strong.map(short).join(', ') || 'none'}</title></circle>`)
  }
  const violations = result.violations.map((v) => `<li><b>${esc(v.id)}</b> at ${v.at} ms: ${esc(v.message)}</li>`).join('')
  const note = t.vertices.length > drawn.length ? `<p class="note">Drawn: the first ${drawn.length} of ${t.vertices.length} valid vertices.</p>` : ''
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>totb seed ${c.seed}</title>
<style>
body{font:13px system-ui,sans-serif;margin:16px;color:#222}
svg text{font:10px monospace}
.lbl{fill:#333}.byz{fill:#b00}.hdr{font-weight:bold;fill:#333}.ax{fill:#888}
.lane{stroke:#eee}.leadround{fill:#f6f3e6}.ref{stroke:#9ab;stroke-width:0.7}
.v{fill:#3a6ea5}.vb{fill:#c33}.vd{fill:#e8b400;stroke:#7a5e00;stroke-width:1.5}.vi{fill:#f08020;stroke:#7a3d00;stroke-width:1.5}
.cl{fill:#7a5e00;font-weight:bold}.sk{fill:#999}.note{color:#a60}
</style></head><body>
<h1>totb DAG, seed ${c.seed}</h1>
<p>${c.nodes} members, ${c.byzantine} Byzantine (${Object.entries(result.strategies).map(([p, s]) => `${esc(p)} ${esc(s)}`).join(', ') || 'none'}), ${c.ops} ops, faults ${c.faults ? 'on' : 'off'}${c.reconfigure ? ', committee changes' : ''}${c.mutation ? `, mutation ${esc(c.mutation)}` : ''}.
Viewed from ${short(t.viewer)}: ${result.ordered.join(', ')} entries ordered per correct member, ${result.epochs} epoch change(s), ${result.restarts} restart(s).
${replay ? `Replay: <code>${esc(replay)}</code>` : ''}</p>
<p>Rows: members; columns: rounds of each epoch (leader rounds shaded). Lines: strong refs to the previous round.
Gold ring: leader committed directly (C); orange: ordered through a later leader (c); "skip": a leader round passed over. Red: Byzantine.</p>
${violations ? `<h2>Violations</h2><ul>${violations}</ul>` : '<p>Every TOTB invariant held.</p>'}
${note}
<svg xmlns="http://www.w3.org/2000/svg" width="${svgWidth}" height="${svgHeight}">
${parts.join('\n')}
</svg>
</body></html>
`
}
