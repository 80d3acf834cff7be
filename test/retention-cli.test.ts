// The CLI side of paciofs retain / hold / retention (runtime/retention-commands.ts): durations,
// dates and flags become the control request's argv, and bad input is a usage error (exit 2)
// that says what to give, before any node is asked.
import { describe, expect, it } from 'vitest'
import { durationSec, retentionRequest } from '../runtime/retention-commands.ts'
import { main } from '../runtime/cli.ts'

const CRED = { uid: 1000, gid: 1000 }
const PID = '02'.padEnd(66, 'a')

describe('paciofs retain / hold / retention: arguments', () => {
  it('durations in years, days, hours, minutes and seconds', () => {
    expect(durationSec('10y')).toBe(315_576_000)
    expect(durationSec('8d')).toBe(691_200)
    expect(durationSec('3h')).toBe(10_800)
    expect(durationSec('90m')).toBe(5_400)
    expect(durationSec('5s')).toBe(5)
    expect(durationSec('0')).toBeUndefined()
    expect(durationSec('0', true)).toBe(0)
    expect(durationSec('ten years')).toBeUndefined()
    expect(durationSec('-1d')).toBeUndefined()
  })

  it('requests carry the volume, the caller and the op arguments', () => {
    expect(retentionRequest('retain', ['/b/x.pdf', '--until', '2036-12-31T00:00:00Z'], CRED, 'default'))
      .toMatchObject({ volume: 'default', argv: ['default', '1000', '1000', '/b/x.pdf', String(Date.UTC(2036, 11, 31) / 1000), ''] })
    expect(retentionRequest('retain', ['/b', '--for', '1d', '--override', '--volume', 'books'], CRED, 'default'))
      .toMatchObject({ volume: 'books', argv: expect.arrayContaining(['books', '/b', 'override']) })
    expect(retentionRequest('hold', ['/b/x.pdf', 'on'], CRED, 'default')).toMatchObject({ argv: ['default', '1000', '1000', '/b/x.pdf', 'on'] })
    expect(retentionRequest('retain', ['--default', '10y', '--mode', 'governance', '--governor', PID], CRED, 'default'))
      .toMatchObject({ argv: ['default', '1000', '1000', '--default', '315576000', 'governance', PID] })
  })

  it('bad input says what to give', () => {
    const err = (c: 'retain' | 'hold' | 'retention', a: string[]) => (retentionRequest(c, a, CRED, 'default') as { error?: string }).error
    expect(err('retain', ['/x'])).toContain('exactly one of --until')
    expect(err('retain', ['/x', '--until', 'soon'])).toContain('ISO 8601')
    expect(err('retain', ['/x', '--for', '10 years'])).toContain('<n>y')
    expect(err('retain', ['x', '--for', '1y'])).toContain('absolute')
    expect(err('hold', ['/x', 'maybe'])).toContain('on or off')
    expect(err('retain', ['--default', '1y'])).toContain('--mode')
    expect(err('retain', ['--default', '1y', '--mode', 'compliance', '--governor', 'nobody'])).toContain('node id')
  })

  it('a usage error exits 2 before any node is asked', async () => {
    let stderr = ''
    const io = { stdout: () => undefined, stderr: (s: string) => void (stderr += s), stderrStream: process.stderr, stderrIsTTY: false }
    expect(await main(['retain', '/x', '--data', '/nonexistent'], io)).toBe(2)
    expect(stderr).toContain('give exactly one of --until <date> and --for <duration>')
    stderr = ''
    expect(await main(['hold', '/x', 'on', '--data', '/nonexistent-paciofs'], io)).toBe(1)
    expect(stderr).toContain('no node is running')
  })
})
