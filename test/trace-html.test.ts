// The space-time diagram of sim/trace-html.ts: self-contained (no script, nothing fetched), small
// even for a 100k-event trace, and rendered by a real headless browser (Debian's chromium driven
// by playwright-core) with one lane per node, message arrows and the violation marker visible.
import { describe, expect, it } from 'vitest'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { DEFAULT_SIM_CONFIG, runSim, type SimResult } from '../sim/run.ts'
import type { TraceEvent } from '../sim/cluster.ts'
import { MESSAGES_DRAWN_MAX, renderTraceHtml } from '../sim/trace-html.ts'

const ROOT = join(import.meta.dirname, '..')
const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p !== undefined && existsSync(p))
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const SYNTHETIC_ID = 'SYNTHETIC-1'

/** A real run with crashes, partitions and a Byzantine node, plus one synthetic violation in the
 *  middle of it (appended to both `violations` and `trace`), so the test does not depend on the
 *  simulator finding a real bug. */
function runWithSyntheticViolation(): SimResult {
  const config = { ...DEFAULT_SIM_CONFIG, seed: 5, nodes: 4, volumes: 1, ops: 30, faults: ['loss', 'delay', 'partition', 'crash'] as const }
  const result = runSim({ ...config, faults: [...config.faults] }, undefined, { keepTrace: true })
  const trace = result.trace!
  const sends = trace.filter((e) => e.t === 'send')
  const at = sends[Math.floor(sends.length / 3)]!.at
  const v = { id: SYNTHETIC_ID, message: 'synthetic violation appended by the test', at }
  return { ...result, violations: [...result.violations, v], trace: [...trace, { at, t: 'violation', id: v.id, message: v.message }] }
}

/** A trace far larger than what is drawn: 150k events between 5 processes. */
function hugeSyntheticResult(): SimResult {
  const base = runSim({ ...DEFAULT_SIM_CONFIG, seed: 1, nodes: 5, byzantine: 0, ops: 0, faults: [] }, undefined, { keepTrace: false })
  const ids = base.nodes.map((n) => n.id)
  const trace: TraceEvent[] = []
  for (let id = 1; trace.length < 150_000; id++) {
    const at = id * 2
    const from = ids[id % ids.length]!
    const to = ids[(id * 7 + 1) % ids.length]!
    trace.push({ at, t: 'send', id, from, to, kind: 'fotb/heads', size: 100 })
    trace.push({ at: at + 5, t: 'recv', id, from, to })
    trace.push({ at: at + 5, t: 'up', node: to, volume: 'vol0' as never, what: `deliver ${from}#${id}` })
  }
  const at = 200_000
  return {
    ...base,
    virtualMs: 300_000,
    violations: [{ id: SYNTHETIC_ID, message: 'synthetic', at }],
    trace: [...trace, { at, t: 'violation', id: SYNTHETIC_ID, message: 'synthetic' }],
  }
}

describe('trace HTML page', () => {
  it('is self-contained: inline CSS and SVG, no script, no external URL; header lists the (synthetic) violation', () => {
    const result = runWithSyntheticViolation()
    const html = renderTraceHtml(result, { replay: 'paciofs sim --seed 5' })
    expect(html).toMatch(/^<!doctype html>/)
    expect(html).not.toMatch(/<script/i)
    expect(html).not.toMatch(/<link\b|<img\b|@import|url\(\s*['"]?https?:/i)
    // The only http(s) text allowed is the SVG namespace name, which is never fetched.
    expect(html.replaceAll('xmlns="http://www.w3.org/2000/svg"', '')).not.toMatch(/https?:\/\//)
    expect(html).toContain(`<b>${SYNTHETIC_ID}</b>`)
    expect(html.match(/class="lane[ "]/g)).toHaveLength(result.nodes.length)
  })

  it('stays small for a 150k-event trace: at most the message cap is drawn, and a note says what was left out', () => {
    const result = hugeSyntheticResult()
    const html = renderTraceHtml(result)
    expect(html.length).toBeLessThan(3_000_000)
    const arrows = html.match(/class="msg[ "]/g)?.length ?? 0
    expect(arrows).toBeGreaterThan(100)
    expect(arrows).toBeLessThanOrEqual(MESSAGES_DRAWN_MAX)
    expect(html).toMatch(/Left out: \d+ events outside the window/)
    expect(html).toMatch(/id="violation-0"[^>]*data-invariant="SYNTHETIC-1"/)
  })

  it.skipIf(CHROMIUM === undefined)(
    `renders in headless chromium: one visible lane per node, message arrows, and the (synthetic) violation marker${CHROMIUM === undefined ? ' — SKIPPED: no chromium at /usr/bin/chromium (apt-get install chromium; .ci/run does)' : ''}`,
    async () => {
      const result = runWithSyntheticViolation()
      const html = renderTraceHtml(result)
      const browser = await chromium.launch({ executablePath: CHROMIUM!, args: CHROMIUM_ARGS })
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
        const requests: string[] = []
        page.on('request', (r) => requests.push(r.url()))
        await page.setContent(html, { waitUntil: 'load' })
        expect(requests.filter((u) => !u.startsWith('data:') && u !== 'about:blank')).toEqual([])

        const lanes = page.locator('svg.timeline .lane')
        expect(await lanes.count()).toBe(result.nodes.length)
        for (let i = 0; i < result.nodes.length; i++) {
          const box = await lanes.nth(i).boundingBox()
          expect(box, `lane ${i}`).not.toBeNull()
          expect(box!.height).toBeGreaterThan(20)
        }
        const labels = await page.locator('svg.labels .lane-label').allTextContents()
        expect(labels).toHaveLength(result.nodes.length)
        const byz = result.nodes.find((n) => n.byzantine !== null)
        if (byz) expect(labels.join(' ')).toContain(`Byzantine: ${byz.byzantine}`)

        const msgs = page.locator('svg.timeline .msg')
        expect(await msgs.count()).toBeGreaterThan(10)
        expect(await msgs.first().boundingBox()).not.toBeNull()

        const marker = page.locator(`svg.timeline .violation[data-invariant="${SYNTHETIC_ID}"]`)
        expect(await marker.count()).toBe(1)
        await marker.scrollIntoViewIfNeeded()
        const box = await marker.boundingBox()
        expect(box).not.toBeNull()
        expect(box!.height).toBeGreaterThan(result.nodes.length * 40) // spans every lane
        expect(await marker.locator('text').textContent()).toContain(SYNTHETIC_ID)
        const color = await marker.locator('line').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { stroke: string } }).getComputedStyle(el).stroke)
        expect(color).toBe('rgb(214, 39, 40)')
        await expect(page.locator('ol.violations li').first().textContent()).resolves.toContain(SYNTHETIC_ID)

        mkdirSync(join(ROOT, 'tmp'), { recursive: true })
        await page.screenshot({ path: join(ROOT, 'tmp', 'trace-html-test.png') })
      } finally {
        await browser.close()
      }
    },
  )
})
