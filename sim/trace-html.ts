// A run's trace as a self-contained HTML page: a header (seed, configuration, fault plan,
// violations) and a space-time diagram drawn in inline SVG. One horizontal lane per process,
// time flowing left to right; messages are arrows from send to receive, dropped messages end in
// an x, faults and Byzantine actions are glyphs on their lane, deliveries, log records, member
// changes and requests are small ticks with tooltips, violations are red vertical markers.
// No script, no external URL: the page opens from a file, offline, in any browser.
//
// Traces can hold 100k+ events, so the drawing is capped: a window of at most MESSAGES_DRAWN_MAX
// messages (and MARKS_DRAWN_MAX other marks), placed around the first violation when there is
// one, else at the start; a note says what was left out. About 250 bytes per drawn element keeps
// the page under ~2 MB.
import type { NodeId, TraceEvent } from './cluster.ts'
import { describeConfig, type SimResult } from './run.ts'

export const MESSAGES_DRAWN_MAX = 4000
export const MARKS_DRAWN_MAX = 4000
/** Share of the message window placed before the first violation (the run up to it matters most). */
const WINDOW_SHARE_BEFORE = 0.85
/** Without a violation the window starts a little before the first fault. */
const WINDOW_SHARE_BEFORE_FAULTS = 0.05

const LANE_HEIGHT_PX = 64
const TOP_PX = 34
const LABEL_WIDTH_PX = 210
const WIDTH_MIN_PX = 1100
const WIDTH_MAX_PX = 24_000
/** Horizontal pixels per virtual millisecond we would like, so that a 5 ms hop is visibly slanted. */
const PX_PER_MS_WANTED = 3
/** A stretch without events longer than this is drawn as BREAK_PX pixels (marked ≈). */
const IDLE_GAP_MS = 60
const BREAK_PX = 14
const MARGIN_PX = 20
const RIGHT_MARGIN_PX = 160
const AXIS_TICK_PX = 120
/** Rough width of a 10 px label character, and the gap kept between labels. */
const LABEL_CHAR_PX = 5.6
const LABEL_GAP_PX = 6

export interface TraceHtmlOptions {
  /** The command that replays this run; shown in the header. */
  readonly replay?: string
}

interface Lane {
  readonly id: NodeId
  readonly index: number
  readonly label: string
  readonly byzantine: string | null
}

interface Window {
  readonly from: number // index into trace, inclusive
  readonly to: number // exclusive
  readonly startMs: number
  readonly endMs: number
}

export function renderTraceHtml(result: SimResult, options: TraceHtmlOptions = {}): string {
  const trace = result.trace ?? []
  const lanes = lanesOf(result, trace)
  const violations = allViolations(result, trace)
  const window = chooseWindow(trace, violations)
  const time = timeAxis(trace, window, violations)
  const width = time.width
  const x = time.x
  const laneOf = new Map(lanes.map((l) => [l.id, l]))
  const y = (id: NodeId): number => TOP_PX + (laneOf.get(id)?.index ?? 0) * LANE_HEIGHT_PX + LANE_HEIGHT_PX / 2
  const height = TOP_PX + lanes.length * LANE_HEIGHT_PX + 20

  const parts = { lanes: [] as string[], spans: [] as string[], msgs: [] as string[], marks: [] as string[], top: [] as string[] }
  const counts = { messagesDrawn: 0, messagesTotal: 0, marksDrawn: 0, marksTotal: 0 }
  const kinds = new Map<string, string>()

  for (const l of lanes) {
    const cy = y(l.id)
    parts.lanes.push(
      `<g class="lane${l.byzantine ? ' byzantine' : ''}" id="lane-${esc(l.id)}" data-node="${esc(l.id)}">` +
        `<rect class="lane-bg" x="0" y="${cy - LANE_HEIGHT_PX / 2}" width="${width}" height="${LANE_HEIGHT_PX}"/>` +
        `<line class="lane-line" x1="0" y1="${cy}" x2="${width}" y2="${cy}"/></g>`,
    )
  }

  // Sends and receives are paired by message id; a message may arrive twice (duplication).
  const sends = new Map<number, { at: number; from: NodeId; to: NodeId; kind: string; size: number; inWindow: boolean }>()
  for (let i = 0; i < trace.length; i++) {
    const e = trace[i]!
    if (e.t === 'send') sends.set(e.id, { at: e.at, from: e.from, to: e.to, kind: e.kind, size: e.size, inWindow: i >= window.from && i < window.to })
  }
  const downSince = new Map<NodeId, number>()
  const openBands = new Map<string, number>()
  const band = (x1: number, x2: number, what: string): string =>
    `<rect class="band" x="${x1}" y="${TOP_PX}" width="${Math.max(2, round1(x2 - x1))}" height="${height - TOP_PX - 20}"><title>${esc(what)}</title></rect>`
  // Per label row, where the last label ends (estimated from its length), so labels never overlap.
  const labelEndPx = new Map<string, number>()
  const labelFits = (key: string, px: number, text: string): boolean => {
    const end = labelEndPx.get(key)
    if (end !== undefined && px < end) return false
    labelEndPx.set(key, px + text.length * LABEL_CHAR_PX + LABEL_GAP_PX)
    return true
  }
  const mark = (svg: string): void => {
    counts.marksTotal++
    if (counts.marksDrawn >= MARKS_DRAWN_MAX) return
    counts.marksDrawn++
    parts.marks.push(svg)
  }

  for (let i = 0; i < trace.length; i++) {
    const e = trace[i]!
    const inWindow = i >= window.from && i < window.to
    if (e.t === 'send') counts.messagesTotal++
    // Down spans are tracked over the whole trace so a node that crashed before the window shows down.
    if (e.t === 'fault' && e.node !== undefined) {
      if (/^crash/.test(e.what)) downSince.set(e.node, e.at)
      else if (e.what === 'restart') {
        const since = downSince.get(e.node)
        downSince.delete(e.node)
        if (since !== undefined && e.at >= window.startMs && since <= window.endMs) parts.spans.push(downSpan(x(since), x(e.at), y(e.node)))
      } else if (e.what.startsWith('halted') && !downSince.has(e.node)) downSince.set(e.node, e.at) // down for good
    }
    // Cluster-wide spans ('partition ... begins' .. 'partition ... ends') as shaded bands.
    if (e.t === 'fault' && e.node === undefined) {
      const m = /^(.*) (begins|ends)$/.exec(e.what)
      if (m && m[2] === 'begins') openBands.set(m[1]!, e.at)
      else if (m) {
        const since = openBands.get(m[1]!)
        openBands.delete(m[1]!)
        if (since !== undefined && e.at >= window.startMs && since <= window.endMs) parts.spans.unshift(band(x(since), x(e.at), m[1]!))
      }
    }
    if (!inWindow) continue
    switch (e.t) {
      case 'send':
        break // drawn at its receive or drop
      case 'recv': {
        const s = sends.get(e.id)
        if (!s) break
        counts.messagesDrawn++
        if (counts.messagesDrawn > MESSAGES_DRAWN_MAX) break
        const color = kindColor(kinds, s.kind)
        const clipped = !s.inWindow
        parts.msgs.push(
          `<line class="msg${clipped ? ' clipped' : ''}" data-id="${e.id}" x1="${x(s.at)}" y1="${y(s.from)}" x2="${x(e.at)}" y2="${y(e.to)}" stroke="${color}" marker-end="url(#arrow)">` +
            `<title>#${e.id} ${esc(s.kind)} (${s.size} B) ${esc(short(s.from))} → ${esc(short(e.to))}, sent ${fmtMs(s.at)}, received ${fmtMs(e.at)}</title></line>`,
        )
        break
      }
      case 'drop': {
        const s = sends.get(e.id)
        if (!s) break
        counts.messagesDrawn++
        if (counts.messagesDrawn > MESSAGES_DRAWN_MAX) break
        const x1 = x(s.at)
        const y1 = y(s.from)
        const y2full = y(e.to)
        // Dropped in the network: a short stub toward the target; dropped at a down target: full length.
        const atTarget = e.why === 'down'
        const x2 = atTarget ? x(e.at) : x1 + 10
        const y2 = atTarget ? y2full : y1 + (y2full - y1) * 0.3
        parts.msgs.push(
          `<g class="msg dropped" data-id="${e.id}"><title>#${e.id} ${esc(s.kind)} ${esc(short(s.from))} → ${esc(short(e.to))} dropped (${esc(e.why)}) ${fmtMs(e.at)}</title>` +
            `<line x1="${x1}" y1="${y1}" x2="${round1(x2)}" y2="${round1(y2)}"/>${cross(round1(x2), round1(y2), 4)}</g>`,
        )
        break
      }
      case 'fault': {
        if (e.node === undefined) {
          // A cluster-wide fault (a partition starting or healing): a dashed line across all lanes.
          parts.spans.push(
            `<g class="fault global"><title>${fmtMs(e.at)} ${esc(e.what)}</title><line x1="${x(e.at)}" y1="${TOP_PX}" x2="${x(e.at)}" y2="${height - 20}"/>` +
              `<text x="${x(e.at) + 3}" y="${TOP_PX + 10}">${esc(clip(e.what, 40))}</text></g>`,
          )
          break
        }
        const cx = x(e.at)
        const cy = y(e.node)
        const glyph = /^crash/.test(e.what) ? cross(cx, cy, 7) : e.what === 'restart' ? `<circle cx="${cx}" cy="${cy}" r="5"/>` : `<rect x="${cx - 5}" y="${cy - 5}" width="10" height="10"/>`
        const label = labelFits(`${e.node}/fault`, cx, clip(e.what, 28)) ? `<text x="${cx + 8}" y="${cy - 8}">${esc(clip(e.what, 28))}</text>` : ''
        mark(`<g class="fault" data-node="${esc(e.node)}"><title>${fmtMs(e.at)} ${esc(short(e.node))}: ${esc(e.what)}</title>${glyph}${label}</g>`)
        break
      }
      case 'byz': {
        const cx = x(e.at)
        const cy = y(e.node)
        const label = labelFits(`${e.node}/byz`, cx, clip(e.what, 24)) ? `<text x="${cx + 7}" y="${cy + 16}">${esc(clip(e.what, 24))}</text>` : ''
        mark(
          `<g class="byz" data-node="${esc(e.node)}"><title>${fmtMs(e.at)} Byzantine ${esc(short(e.node))}: ${esc(e.what)}</title>` +
            `<path d="M${cx} ${cy - 7}L${cx + 6} ${cy}L${cx} ${cy + 7}L${cx - 6} ${cy}Z"/>${label}</g>`,
        )
        break
      }
      case 'request': {
        const cx = x(e.at)
        const cy = y(e.node) + 10
        const vote = /^vote /.test(e.what)
        const cls = vote ? 'vote' : e.result === 'ok' ? 'request' : 'request failed'
        const label = vote && labelFits(`${e.node}/req`, cx, 'vote') ? `<text x="${cx + 3}" y="${cy + 16}">vote</text>` : ''
        mark(
          `<g class="${cls}" data-node="${esc(e.node)}"><title>${fmtMs(e.at)} ${esc(short(e.node))} request: ${esc(e.what)} → ${esc(e.result)}</title>` +
            `<line x1="${cx}" y1="${cy}" x2="${cx}" y2="${cy + 8}"/>${label}</g>`,
        )
        break
      }
      case 'up': {
        const cx = x(e.at)
        const cy = y(e.node) - 10
        const kind = e.what.split(' ', 1)[0] ?? ''
        const cls = kind === 'deliver' ? 'deliver' : kind === 'log' ? 'log' : kind === 'members' ? 'members' : 'skip'
        const text = kind === 'deliver' ? e.what.slice(8) : kind === 'log' ? e.what.slice(4) : kind === 'members' ? 'members' : 'skip'
        // Two label rows above the lane: deliveries, then log records and member changes (rarer).
        const row = cls === 'deliver' || cls === 'skip' ? 0 : 1
        const label = labelFits(`${e.node}/up/${row}`, cx, clip(text, 16)) ? `<text x="${cx + 2}" y="${cy - 11 - row * 10}">${esc(clip(text, 16))}</text>` : ''
        mark(
          `<g class="up ${cls}" data-node="${esc(e.node)}"><title>${fmtMs(e.at)} ${esc(short(e.node))} ${esc(e.volume)}: ${esc(e.what)}</title>` +
            `<line x1="${cx}" y1="${cy}" x2="${cx}" y2="${cy - 8}"/>${label}</g>`,
        )
        break
      }
      case 'violation':
        break // drawn below from the merged list
    }
  }
  for (const [what, since] of openBands) if (since <= window.endMs) parts.spans.unshift(band(x(since), x(window.endMs), what))
  // Crashed nodes not restarted by the end of the window, and halted ones, stay down to its end.
  for (const [node, since] of downSince) if (since <= window.endMs) parts.spans.push(downSpan(x(since), x(window.endMs), y(node)))
  violations.forEach((v, i) => {
    const inside = v.at >= window.startMs && v.at <= window.endMs
    const vx = x(v.at)
    parts.top.push(
      `<g class="violation${inside ? '' : ' outside'}" id="violation-${i}" data-invariant="${esc(v.id)}"><title>${esc(v.id)} at ${fmtMs(v.at)}: ${esc(v.message)}</title>` +
        `<rect class="violation-hit" x="${vx - 4}" y="${TOP_PX - 14}" width="8" height="${height - TOP_PX - 6}"/>` +
        `<line x1="${vx}" y1="${TOP_PX - 14}" x2="${vx}" y2="${height - 20}"/>` +
        `<text x="${vx + 5}" y="${TOP_PX - 4 + (i % 3) * 12}">${esc(v.id)}${inside ? '' : ' (outside window)'}</text></g>`,
    )
  })

  const notes: string[] = []
  if (trace.length === 0) notes.push('This result carries no trace (run with keepTrace to draw the diagram).')
  else {
    if (window.from > 0 || window.to < trace.length) {
      notes.push(
        `Drawn: trace events ${window.from + 1}–${window.to} of ${trace.length} (${fmtMs(window.startMs)} to ${fmtMs(window.endMs)} of ${fmtMs(result.virtualMs)} virtual time)` +
          (violations.length > 0 ? ', a window around the first violation.' : ', from just before the first fault.') +
          ` Left out: ${trace.length - (window.to - window.from)} events outside the window.`,
      )
    }
    if (counts.messagesDrawn > MESSAGES_DRAWN_MAX) notes.push(`Only the first ${MESSAGES_DRAWN_MAX} of ${counts.messagesDrawn} message arrows in the window are drawn.`)
    if (counts.marksTotal > counts.marksDrawn) notes.push(`Only ${counts.marksDrawn} of ${counts.marksTotal} marks in the window are drawn.`)
  }

  const legendKinds = [...kinds].map(([k, c]) => `<span class="kind"><i style="background:${c}"></i>${esc(k)}</span>`).join(' ')
  const labels = lanes
    .map((l) => {
      const cy = y(l.id)
      return (
        `<g class="lane-label"><title>${esc(l.id)}</title><text x="8" y="${cy - 4}" class="name">${esc(l.label)}</text>` +
        `<text x="8" y="${cy + 12}" class="${l.byzantine ? 'byzlabel' : 'role'}">${l.byzantine ? `Byzantine: ${esc(l.byzantine)}` : 'correct'}</text></g>`
      )
    })
    .join('')

  const title = `PacioFS sim — seed ${result.seed} — ${violations.length === 0 ? 'no violation' : `${violations.length} violation${violations.length > 1 ? 's' : ''}`}`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>${CSS}</style></head>
<body>
<header>
<h1>${esc(title)}</h1>
${
  violations.length > 0
    ? `<ol class="violations">${violations.map((v, i) => `<li><b>${esc(v.id)}</b> at ${fmtMs(v.at)}: ${esc(v.message)} <a href="#violation-${i}">(in the diagram)</a></li>`).join('')}</ol>`
    : '<p class="ok">Every invariant held.</p>'
}
<p class="summary">seed <b>${result.seed}</b> · ${result.events} events · ${fmtMs(result.virtualMs)} virtual time · trace hash <code>${esc(result.traceHash)}</code></p>
${options.replay ? `<p class="replay">replay: <code>${esc(options.replay)}</code></p>` : ''}
<details open><summary>Configuration and fault plan</summary><pre class="config">${esc(describeConfig(result.config, result.plan))}</pre></details>
${notes.map((n) => `<p class="note">${esc(n)}</p>`).join('\n')}
<p class="legend">
<span class="kind"><i class="lg-drop"></i>dropped ×</span>
<span class="kind"><i class="lg-down"></i>node down</span>
<span class="kind"><i class="lg-band"></i>partition</span>
<span class="kind"><i class="lg-byz"></i>Byzantine action ◆</span>
<span class="kind"><i class="lg-deliver"></i>deliver</span>
<span class="kind"><i class="lg-log"></i>log</span>
<span class="kind"><i class="lg-members"></i>members / vote</span>
<span class="kind"><i class="lg-viol"></i>violation</span>
· messages by kind: ${legendKinds || 'none'}
</p>
</header>
<main class="diagram">
<svg class="labels" width="${LABEL_WIDTH_PX}" height="${height}" viewBox="0 0 ${LABEL_WIDTH_PX} ${height}" xmlns="http://www.w3.org/2000/svg">${labels}</svg>
<div class="scroll">
<svg class="timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">
<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L8 4L0 8z" fill="context-stroke"/></marker></defs>
<g class="lanes">${parts.lanes.join('')}</g>
${axis(time, height)}
<g class="spans">${parts.spans.join('')}</g>
<g class="msgs">${parts.msgs.join('\n')}</g>
<g class="marks">${parts.marks.join('\n')}</g>
<g class="violations">${parts.top.join('')}</g>
</svg>
</div>
</main>
</body></html>
`
}

function lanesOf(result: SimResult, trace: readonly TraceEvent[]): Lane[] {
  const lanes: Lane[] = []
  const seen = new Set<NodeId>()
  const add = (id: NodeId, pid: string | null, byzantine: string | null): void => {
    if (seen.has(id)) return
    seen.add(id)
    const label = pid === null || pid === id ? short(id) : `${clip(id, 14)} / ${short(pid)}`
    lanes.push({ id, index: lanes.length, label, byzantine })
  }
  for (const n of result.nodes) add(n.id, n.pid, n.byzantine)
  // Processes that appear only in the trace still get a lane, so no event is drawn on a wrong one.
  for (const e of trace) {
    if ('node' in e && e.node !== undefined) add(e.node, null, null)
    if ('from' in e) add(e.from, null, null)
    if ('to' in e) add(e.to, null, null)
  }
  return lanes
}

function allViolations(result: SimResult, trace: readonly TraceEvent[]): SimResult['violations'] {
  const seen = new Set<string>()
  const out: { id: string; message: string; at: number }[] = []
  const add = (v: { id: string; message: string; at: number }): void => {
    const key = `${v.id}\u0000${v.at}\u0000${v.message}`
    if (seen.has(key)) return
    seen.add(key)
    out.push(v)
  }
  for (const v of result.violations) add(v)
  for (const e of trace) if (e.t === 'violation') add({ id: e.id, message: e.message, at: e.at })
  return out.sort((a, b) => a.at - b.at)
}

/** The trace slice to draw: at most MESSAGES_DRAWN_MAX sends, around the first violation. */
function chooseWindow(trace: readonly TraceEvent[], violations: SimResult['violations']): Window {
  if (trace.length === 0) return { from: 0, to: 0, startMs: 0, endMs: 1 }
  let focus = 0
  const first = violations[0]
  if (first !== undefined) {
    // Violation events may be appended after the run (liveness checks), so search by time among
    // the others: the last event before the violation's time is the focus.
    const i = trace.findIndex((e) => e.t !== 'violation' && e.at > first.at)
    focus = i > 0 ? i - 1 : i === 0 ? 0 : trace.length - 1
  }
  else {
    // No violation: start shortly before the first fault or Byzantine action (setup is routine).
    const i = trace.findIndex((e) => e.t === 'fault' || e.t === 'byz')
    focus = Math.max(0, i)
  }
  const before = Math.floor(MESSAGES_DRAWN_MAX * (first === undefined ? WINDOW_SHARE_BEFORE_FAULTS : WINDOW_SHARE_BEFORE))
  let from = focus
  let sends = 0
  while (from > 0 && sends < before) {
    from--
    if (trace[from]!.t === 'send') sends++
  }
  let to = focus
  while (to < trace.length && sends < MESSAGES_DRAWN_MAX) {
    if (trace[to]!.t === 'send') sends++
    to++
  }
  // Near the end of a short trace, use the rest of the budget on what came before.
  while (from > 0 && sends < MESSAGES_DRAWN_MAX) {
    from--
    if (trace[from]!.t === 'send') sends++
  }
  // Include what happens at the same virtual time as the last event, so receives are not cut mid-tick.
  while (to < trace.length && trace[to]!.at === trace[to - 1]?.at) to++
  to = Math.max(to, Math.min(trace.length, focus + 1))
  // Stretch the time range to the receives of the last sends (bounded: a delayed message may be far).
  let endMs = trace[to - 1]!.at
  const startMs = trace[from]!.at
  while (to < trace.length && trace[to]!.t !== 'send' && trace[to]!.at <= endMs + 500) {
    endMs = trace[to]!.at
    to++
  }
  return { from, to, startMs, endMs: Math.max(endMs, startMs + 1) }
}

interface TimeAxis {
  readonly x: (at: number) => number
  readonly width: number
  /** Knots of the piecewise-linear map from virtual time to pixels. */
  readonly knotsMs: readonly number[]
  readonly knotsPx: readonly number[]
  /** Idle stretches drawn shortened: [fromMs, toMs, atPx]. */
  readonly breaks: readonly [number, number, number][]
}

/** Virtual time to pixels, linear while things happen and compressed over idle stretches: a run is
 *  mostly waiting for timers, and drawn linearly its messages would be a few pixels apart. */
function timeAxis(trace: readonly TraceEvent[], window: Window, violations: SimResult['violations']): TimeAxis {
  const set = new Set<number>([window.startMs, window.endMs])
  for (let i = window.from; i < window.to; i++) set.add(trace[i]!.at)
  for (const v of violations) if (v.at >= window.startMs && v.at <= window.endMs) set.add(v.at)
  const times = [...set].sort((a, b) => a - b)
  const knotsMs: number[] = [times[0]!]
  const knotsPx: number[] = [0]
  const breaks: [number, number, number][] = []
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!
    const last = knotsPx[knotsPx.length - 1]!
    if (gap > IDLE_GAP_MS) {
      breaks.push([times[i - 1]!, times[i]!, last + BREAK_PX / 2])
      knotsPx.push(last + BREAK_PX)
    } else knotsPx.push(last + gap * PX_PER_MS_WANTED)
    knotsMs.push(times[i]!)
  }
  const drawn = knotsPx[knotsPx.length - 1]!
  // Fit between the minimum and maximum width: stretch a short run, squeeze a long one.
  const scale = drawn <= 0 ? 1 : clamp(drawn, WIDTH_MIN_PX - MARGIN_PX - RIGHT_MARGIN_PX, WIDTH_MAX_PX - MARGIN_PX - RIGHT_MARGIN_PX) / drawn
  for (let i = 0; i < knotsPx.length; i++) knotsPx[i] = knotsPx[i]! * scale + MARGIN_PX
  for (const b of breaks) b[2] = b[2] * scale + MARGIN_PX
  const x = (at: number): number => {
    const t = clamp(at, knotsMs[0]!, knotsMs[knotsMs.length - 1]!)
    let lo = 0
    let hi = knotsMs.length - 1
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1
      if (knotsMs[mid]! <= t) lo = mid
      else hi = mid
    }
    const t0 = knotsMs[lo]!
    const t1 = knotsMs[hi]!
    const f = t1 === t0 ? 0 : (t - t0) / (t1 - t0)
    return round1(knotsPx[lo]! + f * (knotsPx[hi]! - knotsPx[lo]!))
  }
  // The right margin leaves room for the label of a violation found at the very end (liveness).
  return { x, width: Math.round(Math.max(drawn * scale, 0) + MARGIN_PX + RIGHT_MARGIN_PX), knotsMs, knotsPx, breaks }
}

/** Tick labels at event times about every AXIS_TICK_PX pixels, and a mark at each shortened stretch. */
function axis(time: TimeAxis, height: number): string {
  const out: string[] = []
  let lastPx = Number.NEGATIVE_INFINITY
  time.knotsMs.forEach((t, i) => {
    const px = time.knotsPx[i]!
    if (px - lastPx < AXIS_TICK_PX) return
    lastPx = px
    out.push(`<line x1="${round1(px)}" y1="14" x2="${round1(px)}" y2="22"/><text x="${round1(px) + 2}" y="12">${fmtMs(t)}</text>`)
  })
  for (const [from, to, px] of time.breaks) {
    out.push(
      `<g class="break"><title>${fmtMs(to - from)} without events, drawn shortened</title>` +
        `<line x1="${round1(px)}" y1="${TOP_PX}" x2="${round1(px)}" y2="${height - 20}"/><text x="${round1(px)}" y="30">≈</text></g>`,
    )
  }
  return `<g class="axis">${out.join('')}</g>`
}

const PALETTE = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#17becf', '#bcbd22', '#e377c2', '#7f7f7f', '#ff7f0e', '#393b79', '#637939', '#843c39']

function kindColor(kinds: Map<string, string>, kind: string): string {
  let c = kinds.get(kind)
  if (c === undefined) {
    c = PALETTE[kinds.size % PALETTE.length]!
    kinds.set(kind, c)
  }
  return c
}

function downSpan(x1: number, x2: number, cy: number): string {
  return `<rect class="down" x="${x1}" y="${cy - 6}" width="${Math.max(2, round1(x2 - x1))}" height="12"><title>node down</title></rect>`
}

function cross(cx: number, cy: number, r: number): string {
  return `<path class="x" d="M${cx - r} ${cy - r}L${cx + r} ${cy + r}M${cx - r} ${cy + r}L${cx + r} ${cy - r}"/>`
}

const short = (id: string): string => (id.length > 10 ? id.slice(0, 8) : id)
const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s)
const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v))
const round1 = (v: number): number => Math.round(v * 10) / 10
const fmtMs = (ms: number): string => `${Math.round(ms * 10) / 10} ms`

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

const CSS = `
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;background:#fff}
header{padding:10px 16px;border-bottom:1px solid #ddd}
h1{font-size:17px;margin:0 0 6px}
ol.violations{background:#fde8e8;border:2px solid #d62728;color:#a50f15;padding:6px 6px 6px 30px;margin:6px 0}
p.ok{color:#2a7a2a;font-weight:600;margin:4px 0}
p.note{background:#fff6d5;border:1px solid #e6cf75;padding:3px 8px;margin:4px 0}
pre.config{background:#f6f6f6;padding:6px 8px;margin:4px 0;white-space:pre-wrap}
code{font:12px ui-monospace,Menlo,Consolas,monospace}
p{margin:4px 0}
.legend .kind{display:inline-block;margin-right:10px}
.legend i{display:inline-block;width:14px;height:4px;margin-right:4px;vertical-align:middle}
.lg-drop{background:#999}.lg-down{background:repeating-linear-gradient(45deg,#bbb 0 2px,#eee 2px 4px);height:10px!important}
.lg-band{background:#ffb347;opacity:.5;height:10px!important}.lg-byz{background:#7b1fa2}.lg-deliver{background:#2ca02c}.lg-log{background:#1f5fbf}.lg-members{background:#e67e00}.lg-viol{background:#d62728}
main.diagram{display:flex;align-items:flex-start}
svg.labels{flex:none;border-right:1px solid #ccc;background:#fafafa}
div.scroll{overflow-x:auto;flex:1}
svg{font:10px system-ui,sans-serif}
.lane-bg{fill:#fff}.lane:nth-child(even) .lane-bg{fill:#f7f9fc}.lane.byzantine .lane-bg{fill:#f6effa}
.lane-line{stroke:#9aa;stroke-width:1.5}
.lane-label .name{font:600 13px ui-monospace,Menlo,Consolas,monospace}
.lane-label .role{fill:#2a7a2a}.lane-label .byzlabel{fill:#7b1fa2;font-weight:700}
.axis line{stroke:#888}.axis text{fill:#666}.axis .break line{stroke:#ccc;stroke-dasharray:1 4}.axis .break text{fill:#999;font-size:12px;text-anchor:middle}
.msg{stroke-width:1.1;opacity:.75}.msg.clipped{stroke-dasharray:3 2}
.msg.dropped line{stroke:#999;stroke-width:1.1}.x{stroke:#c00;stroke-width:1.8;fill:none}
.down{fill:#ddd;stroke:#aaa;opacity:.9}
.fault .x{stroke:#c00;stroke-width:2.5}.fault circle{fill:#2a7a2a}.fault rect{fill:#e67e00}.fault text{fill:#a00;font-weight:600}
.band{fill:#ffb347;opacity:.18}
.fault.global line{stroke:#e67e00;stroke-width:1.5;stroke-dasharray:6 4}.fault.global text{fill:#b35900}
.byz path{fill:#7b1fa2}.byz text{fill:#7b1fa2}
.request line{stroke:#555}.request.failed line{stroke:#c00}.vote line{stroke:#e67e00;stroke-width:2}.vote text{fill:#b35900}
.up line{stroke-width:1.6}.deliver line{stroke:#2ca02c}.log line{stroke:#1f5fbf}.members line{stroke:#e67e00;stroke-width:2.5}.skip line{stroke:#999}
.deliver text{fill:#237a23}.log text{fill:#1f5fbf}.members text{fill:#b35900;font-weight:600}.skip text{fill:#777}
.violation line{stroke:#d62728;stroke-width:3}.violation .violation-hit{fill:#d62728;opacity:.12}
.violation text{fill:#d62728;font-weight:700;font-size:12px}
`
