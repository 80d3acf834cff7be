// Determinism of the core (spec/README.md "Model": every reducer is deterministic — the same
// state and input always give the same result), cited as FS-1 (spec/fs.md "FS-1 Determinism":
// replaying the same ops into fresh states gives byte-identical state roots after every op),
// here extended from the fs state machine to the whole node reducer that applies the ops.
//
// Two fresh nodes with the same key get the same random sequence of requests and ticks at the
// same `now`, stepped alternately, with a third "noise" node doing unrelated work in between (so
// that hidden shared state — module-level caches, scratch buffers, aliasing of returned bytes —
// would show). After every step their effect streams must be byte-identical and their state roots
// equal. At the end, a node rebuilt from the persisted records has the same state root.
import { MemoryStorage } from '../core/storage.ts'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { nobleCrypto as crypto } from '../core/crypto.ts'
import { decode, encode, type Value } from '../core/codec.ts'
import { toHex } from '../core/bytes.ts'
import { createNode, nodeConfig, restoreNode, settleStep, step, stepGroup, verifyNodeVolume, type NodeConfig, type NodeEffect, type NodeInput, type NodeState } from '../core/node.ts'
import type { FsCall } from '../core/volume/index.ts'
import { stateRoot } from '../core/fs/merkle.ts'
import type { VolumeName } from '../core/types.ts'

const VOL = 'det' as VolumeName
const NOISE_VOL = 'noise' as VolumeName
const cred = { uid: 1000, gid: 1000 }
const PATHS = ['/a', '/b', '/d', '/d/x', '/d/y', '/d/x/z']

function key(i: number): Uint8Array {
  const k = new Uint8Array(32)
  k[31] = i
  return k
}

type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
type Req = { kind: 'call'; call: DistOmit<FsCall, 'time' | 'cred'> } | { kind: 'tick' }

const arbPath = fc.constantFrom(...PATHS)
const arbCall: fc.Arbitrary<Req> = fc.oneof(
  arbPath.map((path) => ({ kind: 'call' as const, call: { type: 'create' as const, path, mode: 0o644 } })),
  arbPath.map((path) => ({ kind: 'call' as const, call: { type: 'mkdir' as const, path, mode: 0o755 } })),
  fc
    .record({
      path: arbPath,
      offset: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 65_500, max: 65_600 })),
      data: fc.uint8Array({ minLength: 1, maxLength: 80 }),
    })
    .map(({ path, offset, data }) => ({ kind: 'call' as const, call: { type: 'write' as const, path, writes: [{ offset, data }] } })),
  fc.record({ from: arbPath, to: arbPath }).map(({ from, to }) => ({ kind: 'call' as const, call: { type: 'rename' as const, from, to } })),
  arbPath.map((path) => ({ kind: 'call' as const, call: { type: 'unlink' as const, path } })),
  fc.record({ path: arbPath, mode: fc.integer({ min: 0, max: 0o777 }) }).map(({ path, mode }) => ({ kind: 'call' as const, call: { type: 'chmod' as const, path, mode } })),
  fc
    .record({ path: arbPath, name: fc.constantFrom('user.a', 'user.b'), value: fc.uint8Array({ maxLength: 16 }), flags: fc.constantFrom(0, 1, 2) })
    .map((x) => ({ kind: 'call' as const, call: { type: 'setxattr' as const, ...x } })),
  fc.constant({ kind: 'tick' as const }),
)

/** A canonical, comparable rendering of one effect: persisted records and sent messages as their
 *  exact bytes, everything else as JSON with bytes in hex. */
function render(e: NodeEffect): string {
  const json = (x: unknown): string =>
    JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint8Array ? `0x${toHex(v)}` : v instanceof Map ? [...v] : v instanceof Set ? [...v] : v))
  switch (e.type) {
    case 'persist':
      return `persist ${e.records.map((r) => toHex(encode(r))).join(',')}`
    case 'send':
      return `send ${e.to} ${toHex(e.bytes)}`
    case 'setTimer':
      return `timer ${e.id} ${e.at}`
    case 'reply':
      return `reply ${e.req} ${json(e.result)}`
    case 'deliver':
      return `deliver ${e.volume} ${json(e.up)}`
    case 'trace':
      return `trace ${json(e.event)}`
  }
}

class Host {
  readonly config: NodeConfig
  state: NodeState
  readonly disk: Uint8Array[] = []
  /** The storage port this host fills as it performs persist effects (spec/storage.md). */
  readonly chunks = new MemoryStorage()
  constructor(secret: Uint8Array) {
    this.config = nodeConfig(crypto, secret, undefined, undefined, this.chunks)
    this.state = createNode(this.config)
  }
  /** Performs the persist effects: to the disk, and the chunks to the port. */
  persist(effects: readonly NodeEffect[]): void {
    for (const e of effects) {
      if (e.type !== 'persist') continue
      for (const rec of e.records) this.disk.push(encode(rec))
      this.chunks.absorb(e.records)
    }
  }
  input(input: NodeInput): string[] {
    const r = step(this.config, this.state, input)
    this.state = r.state
    this.persist(r.effects)
    return r.effects.map(render)
  }
}

function inputOf(r: Req, i: number, volume: VolumeName): NodeInput {
  const now = 1000 + 37 * i
  if (r.kind === 'tick') return { type: 'tick', now }
  const call = { ...r.call, cred, time: { sec: 1_700_000_000 + i, nsec: 1000 * i } } as FsCall
  return { type: 'request', now, req: 100 + i, request: { type: 'fs', volume, call } }
}

describe('determinism of the core reducer', () => {
  const okSeqs: number[] = []
  it('[FS-1] two nodes fed the same requests produce byte-identical effects and equal state roots after every step', () => {
    fc.assert(
      fc.property(fc.array(arbCall, { minLength: 1, maxLength: 40 }), fc.array(arbCall, { maxLength: 40 }), (reqs, noiseReqs) => {
        const one = new Host(key(5))
        const two = new Host(key(5))
        const noise = new Host(key(6))
        const create: NodeInput = { type: 'request', now: 0, req: 1, request: { type: 'create-volume', name: VOL, policy: 'majority' } }
        expect(two.input(create)).toEqual(one.input(create))
        noise.input({ type: 'request', now: 0, req: 1, request: { type: 'create-volume', name: NOISE_VOL, policy: 'any' } })
        // A few calls that succeed first, so that later random calls find something to work on.
        const setup: Req[] = [
          { kind: 'call', call: { type: 'mkdir', path: '/d', mode: 0o755 } },
          { kind: 'call', call: { type: 'create', path: '/a', mode: 0o644 } },
          { kind: 'call', call: { type: 'mkdir', path: '/d/x', mode: 0o755 } },
        ]
        ;[...setup, ...reqs].forEach((r, i) => {
          const a = one.input(inputOf(r, i, VOL))
          const n = noiseReqs[i]
          if (n) noise.input(inputOf(n, i, NOISE_VOL))
          const b = two.input(inputOf(r, i, VOL))
          expect(b).toEqual(a)
          expect(stateRoot(two.state.volumes.get(VOL)!.fs)).toBe(stateRoot(one.state.volumes.get(VOL)!.fs))
        })
        expect(one.disk.map(toHex)).toEqual(two.disk.map(toHex))
        okSeqs.push(one.state.volumes.get(VOL)!.fotb.own.seq)
        // The replica is what the log says, and a node rebuilt from its disk is the same replica.
        expect(verifyNodeVolume(one.config, one.state, VOL)).toEqual([])
        const restored = restoreNode(one.config, one.disk.map((b) => decode(b) as Value))
        expect(restored.problems).toEqual([])
        expect(stateRoot(restored.state.volumes.get(VOL)!.fs)).toBe(stateRoot(one.state.volumes.get(VOL)!.fs))
        expect(restored.state.volumes.get(VOL)!.log.length).toBe(one.state.volumes.get(VOL)!.log.length)
      }),
      { numRuns: 100 },
    )
    // The property exercised broadcasting operations, not only failing calls.
    expect(okSeqs.reduce((x, y) => x + y, 0)).toBeGreaterThan(3.5 * okSeqs.length)
  })

  it('[FS-1] stepGroup (settled at once or by a later settleStep): the same inputs in groups give the same replies, replica and log as one by one, with fewer seals', () => {
    fc.assert(
      fc.property(fc.array(arbCall, { minLength: 1, maxLength: 60 }), fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 20 }), (reqs, sizes) => {
        const single = new Host(key(5))
        const grouped = new Host(key(5))
        const create: NodeInput = { type: 'request', now: 0, req: 1, request: { type: 'create-volume', name: VOL, policy: 'majority' } }
        single.input(create)
        grouped.input(create)
        const setup: Req[] = [{ kind: 'call', call: { type: 'mkdir', path: '/d', mode: 0o755 } }, { kind: 'call', call: { type: 'create', path: '/a', mode: 0o644 } }]
        const inputs = [...setup, ...reqs].map((r, i) => inputOf(r, i, VOL))
        const replies = (effects: readonly NodeEffect[]) => effects.filter((e) => e.type === 'reply').map(render)
        const one: string[] = []
        for (const input of inputs) {
          const r = step(single.config, single.state, input)
          single.state = r.state
          single.persist(r.effects)
          one.push(...replies(r.effects))
        }
        const many: string[] = []
        for (let i = 0, k = 0; i < inputs.length; k++) {
          const n = sizes[k % sizes.length]!
          // Odd groups as the runtime host steps them: unsettled, then sealed by a settleStep.
          const deferred = k % 2 === 1
          const r = stepGroup(grouped.config, grouped.state, inputs.slice(i, i + n), { settle: !deferred })
          grouped.state = r.state
          const effects = [...r.effects]
          if (deferred) {
            const sealed = settleStep(grouped.config, grouped.state, inputs[Math.min(i + n, inputs.length) - 1]!.now)
            grouped.state = sealed.state
            effects.push(...sealed.effects)
          }
          grouped.persist(effects)
          many.push(...replies(effects))
          i += n
        }
        expect(many).toEqual(one)
        const [a, b] = [single.state.volumes.get(VOL)!, grouped.state.volumes.get(VOL)!]
        expect(stateRoot(b.fs)).toBe(stateRoot(a.fs))
        expect(b.log.toArray().map((l) => [l.epoch, l.kind, l.result])).toEqual(a.log.toArray().map((l) => [l.epoch, l.kind, l.result]))
        expect(b.fotb.own.seq).toBe(a.fotb.own.seq)
        const seals = (h: Host) => h.disk.filter((bytes) => (decode(bytes) as Value[])[0] === 'seal').length
        expect(seals(grouped)).toBeLessThanOrEqual(seals(single))
        expect(verifyNodeVolume(grouped.config, grouped.state, VOL)).toEqual([])
        const restored = restoreNode(grouped.config, grouped.disk.map((bytes) => decode(bytes) as Value))
        expect(restored.problems).toEqual([])
        expect(stateRoot(restored.state.volumes.get(VOL)!.fs)).toBe(stateRoot(a.fs))
      }),
      { numRuns: 60 },
    )
  })

  it('the comparison can fail: a different time or a different key changes the effect stream', () => {
    const call: Req = { kind: 'call', call: { type: 'create', path: '/a', mode: 0o644 } }
    const create: NodeInput = { type: 'request', now: 0, req: 1, request: { type: 'create-volume', name: VOL, policy: 'majority' } }
    const base = new Host(key(5))
    base.input(create)
    const ref = base.input(inputOf(call, 1, VOL))
    const later = new Host(key(5))
    later.input(create)
    expect(later.input(inputOf(call, 2, VOL))).not.toEqual(ref)
    const other = new Host(key(7))
    other.input(create)
    expect(other.input(inputOf(call, 1, VOL))).not.toEqual(ref)
  })
})
