// Properties of the canonical encoding (spec/codec.md). Non-canonical inputs come from a small
// CBOR writer in this file that deviates from RFC 8949 §4.2.1 in exactly the ways the rule
// forbids (long heads, indefinite lengths, unsorted or duplicated map keys) and says whether it did.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode as cborEncode, decode as cborDecode, rfc8949EncodeOptions } from 'cborg'
import { encode, encodeArrayOfEncoded, decode, tryDecode, CodecError } from '../core/codec.ts'
import type { Value } from '../core/codec.ts'
import { bytesEqual, compareBytes, concatBytes, fromHex, toHex, utf8 } from '../core/bytes.ts'

// ---- admitted values ----

const keyArb = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.constantFrom('a', 'b', 'aa', '', '__proto__', 'constructor', 'toString', '1', '10', 'x'.repeat(24)),
)

const leafArb: fc.Arbitrary<Value> = fc.oneof(
  fc.maxSafeInteger(),
  fc.integer({ min: -1000, max: 1000 }),
  // the boundaries where the shortest integer head changes size
  fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -24, -25, -256, -257, -65537, -(2 ** 32) - 1),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.uint8Array({ maxLength: 40 }),
  fc.boolean(),
  fc.constant(null),
)

const valueArb: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  ),
})).value

// ---- a CBOR writer that can be sloppy ----

/** The deviations the writer may take; each returns how to deviate, or a "canonical" answer. */
interface Sloppiness {
  /** Extra head bytes beyond the shortest form: 0 = shortest. */
  widen(): number
  indefinite(): boolean
  /** A permutation of 0..n-1 for a map's entries (identity = sorted). */
  order(n: number): number[]
  /** Index of an entry to write twice, or -1. */
  duplicate(n: number): number
}

const HEAD_SIZES = [0, 1, 2, 4, 8] as const // extra bytes for additional info <24, 24, 25, 26, 27

function head(major: number, arg: number, extra: number): Uint8Array {
  let size = arg < 24 ? 0 : arg < 0x100 ? 1 : arg < 0x10000 ? 2 : arg < 2 ** 32 ? 4 : 8
  let rank: number = HEAD_SIZES.indexOf(size as (typeof HEAD_SIZES)[number])
  rank = Math.min(rank + extra, 4)
  size = HEAD_SIZES[rank]!
  if (size === 0) return new Uint8Array([(major << 5) | arg])
  const out = new Uint8Array(1 + size)
  out[0] = (major << 5) | (23 + rank)
  let rest = arg
  for (let i = size; i >= 1; i--) {
    out[i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  return out
}

interface Written {
  bytes: Uint8Array
  /** True iff the writer deviated from the canonical form somewhere. */
  sloppy: boolean
}

function write(value: Value, s: Sloppiness): Written {
  const parts: Uint8Array[] = []
  let sloppy = false
  const headOf = (major: number, arg: number) => {
    const bytes = head(major, arg, s.widen())
    if (bytes.length !== head(major, arg, 0).length) sloppy = true
    parts.push(bytes)
  }
  const walk = (v: Value): void => {
    if (v === null) parts.push(new Uint8Array([0xf6]))
    else if (v === true) parts.push(new Uint8Array([0xf5]))
    else if (v === false) parts.push(new Uint8Array([0xf4]))
    else if (typeof v === 'number') v >= 0 ? headOf(0, v) : headOf(1, -1 - v)
    else if (typeof v === 'string' || v instanceof Uint8Array) {
      const major = typeof v === 'string' ? 3 : 2
      const bytes = typeof v === 'string' ? utf8(v) : v
      if (s.indefinite()) {
        sloppy = true
        parts.push(new Uint8Array([(major << 5) | 31]))
        // one definite chunk inside the indefinite string
        headOf(major, bytes.length)
        parts.push(bytes)
        parts.push(new Uint8Array([0xff]))
      } else {
        headOf(major, bytes.length)
        parts.push(bytes)
      }
    } else if (Array.isArray(v)) {
      const items = v as readonly Value[]
      const indefinite = s.indefinite()
      if (indefinite) {
        sloppy = true
        parts.push(new Uint8Array([0x9f]))
      } else headOf(4, items.length)
      for (const item of items) walk(item)
      if (indefinite) parts.push(new Uint8Array([0xff]))
    } else {
      const record = v as { readonly [key: string]: Value }
      const sorted = Object.keys(record).sort((a, b) => compareBytes(utf8(a), utf8(b)))
      const perm = s.order(sorted.length)
      if (perm.some((p, i) => p !== i)) sloppy = true
      const keys = perm.map((i) => sorted[i]!)
      const dup = s.duplicate(keys.length)
      if (dup >= 0) {
        sloppy = true
        keys.splice(dup + 1, 0, keys[dup]!)
      }
      const indefinite = s.indefinite()
      if (indefinite) {
        sloppy = true
        parts.push(new Uint8Array([0xbf]))
      } else headOf(5, keys.length)
      for (const k of keys) {
        walk(k)
        walk(record[k]!)
      }
      if (indefinite) parts.push(new Uint8Array([0xff]))
    }
  }
  walk(value)
  return { bytes: concatBytes(...parts), sloppy }
}

const canonical: Sloppiness = { widen: () => 0, indefinite: () => false, order: (n) => [...Array(n).keys()], duplicate: () => -1 }

/** Sloppiness driven by fast-check, so a failing case shrinks to the fewest deviations. */
function sloppinessFrom(g: fc.GeneratorValue, rate: number): Sloppiness {
  const chance = () => g(fc.integer, { min: 0, max: 99 }) < rate
  return {
    widen: () => (chance() ? g(fc.integer, { min: 1, max: 4 }) : 0),
    indefinite: chance,
    order: (n) => (n >= 2 && chance() ? g(fc.shuffledSubarray, [...Array(n).keys()], { minLength: n, maxLength: n }) : [...Array(n).keys()]),
    duplicate: (n) => (n >= 1 && chance() ? g(fc.integer, { min: 0, max: n - 1 }) : -1),
  }
}

/** The outcome every byte string must have: a CodecError, or a value that encodes to exactly it. */
function expectRejectedOrCanonical(bytes: Uint8Array): { rejected: boolean } {
  let value: Value
  try {
    value = decode(bytes)
  } catch (err) {
    expect(err).toBeInstanceOf(CodecError)
    return { rejected: true }
  }
  expect(bytesEqual(encode(value), bytes)).toBe(true)
  return { rejected: false }
}

// ---- properties ----

describe('codec', () => {
  it('[CODEC-1] round trip: decode(encode(v)) equals v for every admitted value', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const bytes = encode(v)
        const back = decode(bytes)
        expect(back).toEqual(v)
        expect(bytesEqual(encode(back), bytes)).toBe(true)
      }),
      { numRuns: 500 },
    )
  })

  it('[CODEC-1] an array of items encoded one by one is byte-identical to encoding the array, at every length head', () => {
    fc.assert(fc.property(fc.array(valueArb, { maxLength: 30 }), (items) => {
      expect(toHex(encodeArrayOfEncoded(items.map(encode)))).toBe(toHex(encode(items)))
    }), { numRuns: 300 })
    for (const n of [0, 23, 24, 255, 256, 65535, 65536]) {
      const items = Array.from({ length: n }, (_, i) => i % 3)
      expect(bytesEqual(encodeArrayOfEncoded(items.map(encode)), encode(items))).toBe(true)
    }
  })

  it('[CODEC-1] encode (its own fast path, cborg for the rest) writes exactly cborg\'s RFC 8949 bytes', () => {
    const same = (v: Value): void => {
      expect(toHex(encode(v))).toBe(toHex(cborEncode(v, rfc8949EncodeOptions)))
    }
    fc.assert(fc.property(valueArb, same), { numRuns: 2000 })
    // Length heads at every size boundary, many keys, and values around the 64 KiB scratch buffer.
    const sizes = fc.constantFrom(0, 1, 23, 24, 255, 256, 65535, 65536, 70000)
    const wide: fc.Arbitrary<Value> = fc.oneof(
      sizes.map((n) => 'k'.repeat(n)),
      sizes.map((n) => new Uint8Array(n).fill(7)),
      sizes.map((n) => Array.from({ length: Math.min(n, 300) }, (_, i) => i * 1000)),
      fc.dictionary(keyArb, leafArb, { minKeys: 20, maxKeys: 40, noNullPrototype: true }),
      fc.array(fc.uint8Array({ minLength: 1000, maxLength: 5000 }), { minLength: 10, maxLength: 16 }),
    )
    fc.assert(fc.property(fc.array(wide, { maxLength: 3 }), same), { numRuns: 200 })
    for (const v of [-0, 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 32 + 5, -(2 ** 32) - 7, 'é', '\u{1F600}', { é: 1, e: 2 }]) same(v as Value)
  })

  it('[CODEC-2] decode (its own fast path, cborg for the rest) gives cborg\'s value or the same CodecError, also on damaged bytes', () => {
    // The reference: cborg's strict decode, then the canonical check by re-encoding.
    const opts = { strict: true, allowIndefinite: false, allowUndefined: false, allowInfinity: false, allowNaN: false, allowBigInt: false, rejectDuplicateMapKeys: true, useMaps: false }
    const reference = (b: Uint8Array): { value: unknown } | { code: string } => {
      let v: unknown
      try {
        v = cborDecode(b, opts)
      } catch {
        return { code: 'malformed' }
      }
      try {
        return bytesEqual(encode(v as Value), b) ? { value: v } : { code: 'non-canonical' }
      } catch {
        return { code: 'non-canonical' }
      }
    }
    const actual = (b: Uint8Array): { value: unknown } | { code: string } => {
      const r = tryDecode(b)
      return r.ok ? { value: r.value } : { code: r.error.code }
    }
    const damage = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('add' as const), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.constant({ kind: 'none' as const }),
    )
    fc.assert(fc.property(valueArb, damage, (v, d) => {
      let b = encode(v)
      if (d.kind === 'flip' && b.length > 0) {
        b = b.slice()
        b[d.at % b.length]! ^= d.xor
      } else if (d.kind === 'cut') b = b.slice(0, d.at % (b.length + 1))
      else if (d.kind === 'add') b = concatBytes(b, new Uint8Array([d.byte]))
      expect(actual(b)).toEqual(reference(b))
    }), { numRuns: 3000 })
    // Duplicated keys, long heads, __proto__, a huge length, deep nesting.
    for (const hex of ['a2616101616102', '1817', '1900ff', 'a1695f5f70726f746f5f5f01', '9bffffffffffffffff', '81'.repeat(40) + '00', '3b001fffffffffffff', '1b0020000000000000']) {
      const b = fromHex(hex)!
      expect(actual(b)).toEqual(reference(b))
    }
  })

  it('[CODEC-1] keys that are special in JavaScript stay plain own properties', () => {
    const v = JSON.parse('{"__proto__": {"x": 1}, "constructor": 2, "10": 3, "9": 4}') as Value
    const back = decode(encode(v)) as Record<string, Value>
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(Object.keys(back).sort()).toEqual(['10', '9', '__proto__', 'constructor'])
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ x: 1 })
  })

  it('[CODEC-1] known encodings (RFC 8949 Appendix A) and key order by encoded bytes', () => {
    const cases: [Value, string][] = [
      [0, '00'], [23, '17'], [24, '1818'], [256, '190100'], [1000000, '1a000f4240'],
      [Number.MAX_SAFE_INTEGER, '1b001fffffffffffff'], [-1, '20'], [-1000, '3903e7'],
      ['', '60'], ['IETF', '6449455446'], ['ü', '62c3bc'], [new Uint8Array([1, 2]), '420102'],
      [true, 'f5'], [false, 'f4'], [null, 'f6'], [[], '80'], [[1, [2, 3]], '8201820203'],
      // shorter keys first, then bytewise: "b" < "aa"
      [{ aa: 1, b: 2 }, 'a261620262616101'],
    ]
    for (const [v, hex] of cases) {
      expect(encode(v)).toEqual(fromHex(hex))
      expect(decode(fromHex(hex)!)).toEqual(v)
    }
  })

  it('[CODEC-2] the sloppy writer is canonical when it takes no deviation', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const w = write(v, canonical)
        expect(w.sloppy).toBe(false)
        // compared as hex: a failure then shows the two encodings side by side
        expect(toHex(w.bytes)).toBe(toHex(encode(v)))
      }),
      { numRuns: 300 },
    )
  })

  it('[CODEC-2] long heads, indefinite lengths, unsorted and duplicated keys are rejected with CodecError', () => {
    fc.assert(
      fc.property(valueArb, fc.gen(), (v, g) => {
        const w = write(v, sloppinessFrom(g, 15))
        const outcome = expectRejectedOrCanonical(w.bytes)
        expect(outcome.rejected).toBe(w.sloppy)
        if (!w.sloppy) expect(decode(w.bytes)).toEqual(v)
      }),
      { numRuns: 1000 },
    )
  })

  it('[CODEC-2] flipped, truncated and extended encodings: CodecError or exactly canonical', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('append' as const), tail: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
    )
    fc.assert(
      fc.property(valueArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (v, mutations) => {
        let bytes = encode(v)
        for (const m of mutations) {
          if (m.kind === 'flip') {
            if (bytes.length === 0) continue
            bytes = new Uint8Array(bytes)
            bytes[m.at % bytes.length] = bytes[m.at % bytes.length]! ^ m.xor
          } else if (m.kind === 'truncate') bytes = bytes.subarray(0, m.at % Math.max(1, bytes.length))
          else if (m.kind === 'append') bytes = concatBytes(bytes, m.tail)
          else {
            const at = m.at % (bytes.length + 1)
            bytes = concatBytes(bytes.subarray(0, at), new Uint8Array([m.byte]), bytes.subarray(at))
          }
        }
        expectRejectedOrCanonical(bytes)
      }),
      { numRuns: 1000 },
    )
  })

  it('[CODEC-2] arbitrary bytes: CodecError or exactly canonical, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expectRejectedOrCanonical(bytes)
        const r = tryDecode(bytes)
        if (!r.ok) expect(r.error).toBeInstanceOf(CodecError)
      }),
      { numRuns: 2000 },
    )
  })

  it('[CODEC-2] hostile shapes are rejected with CodecError: floats, tags, simple values, huge lengths, deep nesting', () => {
    const hostile = [
      '', 'f93c00', 'f98000', 'fb3ff0000000000000', 'f97e00', 'f7', 'f0', 'f818', 'c11a00000000',
      '1b0020000000000000', '3b0020000000000000', 'a10101', '61ff', '0000', 'ff', '1c', '5f41ff',
      '5b7fffffffffffffff', '9b7fffffffffffffff', 'bb7fffffffffffffff', '7a7fffffff',
      '81'.repeat(100_000) + '00',
    ]
    for (const hex of hostile) {
      const r = tryDecode(fromHex(hex)!)
      expect(r.ok, hex.slice(0, 20)).toBe(false)
      if (!r.ok) expect(r.error).toBeInstanceOf(CodecError)
    }
  })

  it('[CODEC-3] unsupported values are refused at encode with CodecError unsupported-value', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const bad: unknown[] = [
      0.5, -1.25, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, 1n, undefined,
      new Map(), new Set(), new Date(0), () => 1, Symbol('s'), cyclic,
    ]
    const wrapped = fc.oneof(
      fc.constantFrom(...bad),
      fc.double().filter((d) => !Number.isSafeInteger(d)),
      fc.bigInt(),
    ).chain((b) => fc.constantFrom<unknown>(b, [b], [1, [b]], { k: b }, { a: 1, z: [null, { b }] }))
    fc.assert(
      fc.property(wrapped, (v) => {
        let caught: unknown
        try {
          encode(v as Value)
        } catch (err) {
          caught = err
        }
        expect(caught).toBeInstanceOf(CodecError)
        expect((caught as CodecError).code).toBe('unsupported-value')
      }),
      { numRuns: 300 },
    )
  })

  it('[CODEC-1] encode returns a plain Uint8Array that owns its whole buffer, for every output size', () => {
    // cborg alone returns, for some sizes, a Node Buffer viewing Node's shared 8 KiB pool. Sizes
    // cover cborg's 256-byte chunk, Node's pool and the codec's 64 KiB scratch buffer.
    const sizes = [0, 1, 23, 24, 63, 64, 65, 127, 128, 129, 255, 256, 257, 4095, 4096, 8191, 8192, 65_530, 65_536, 70_000, 300_000]
    const values: Value[] = [
      ...Array.from({ length: 40 }, (_, n) => Array.from({ length: n }, (_, i) => ({ k: 'x'.repeat(i % 30) }))),
      ...sizes.map((n) => new Uint8Array(n).fill(7)),
      ...sizes.map((n) => ['a'.repeat(n), n]),
      ...sizes.map((n) => ({ chunk: new Uint8Array(n), pieces: [new Uint8Array(n >> 2), new Uint8Array(100)] })),
    ]
    for (const v of values) {
      const bytes = encode(v)
      expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype)
      expect(bytes.byteOffset).toBe(0)
      expect(bytes.buffer.byteLength).toBe(bytes.length)
      expect(bytesEqual(encode(decode(bytes)), bytes)).toBe(true) // toEqual on 300 KB arrays is slow
    }
  })

  it('[CODEC-1] two encodings never share memory: writing into one leaves the other intact', () => {
    const small = [1, 'a']
    const large = new Uint8Array(100_000).fill(1)
    for (const v of [small, large] as Value[]) {
      const first = encode(v)
      const second = encode(v)
      const hex = toHex(second)
      first.fill(0xff)
      expect(toHex(second)).toBe(hex)
      expect(toHex(encode(v))).toBe(hex)
    }
  })

  it('[CODEC-3] text that is not well-formed UTF-16 (lone surrogates) is refused at encode, also as a map key', () => {
    for (const s of ['\uD800', 'a\uDC00b', '\uDBFF', 'x\uDBFF', '\uDC00\uD800', '\uD83D\uD83D\uDE00', '\uD83D\uDE00\uDE00']) {
      for (const v of [s, [1, s], { [s]: 1 }, { a: { [s]: null } }] as Value[]) {
        let caught: unknown
        try {
          encode(v)
        } catch (err) {
          caught = err
        }
        expect(caught).toBeInstanceOf(CodecError)
        expect((caught as CodecError).code).toBe('unsupported-value')
      }
    }
  })

  it('[CODEC-3] lone surrogates anywhere in generated text are refused; well-formed text is accepted', () => {
    // fast-check's 'binary' unit yields whole code points only, so surrogate halves are added by hand
    const half = fc.oneof(fc.integer({ min: 0xd800, max: 0xdbff }), fc.integer({ min: 0xdc00, max: 0xdfff }))
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 6 }), half, fc.string({ unit: 'binary', maxLength: 6 }), (pre, h, post) => {
        const s = pre + String.fromCharCode(h) + post
        const wellFormed = !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)
        if (wellFormed) expect(decode(encode({ [s]: s }))).toEqual({ [s]: s })
        else {
          expect(() => encode(s)).toThrow(CodecError)
          expect(() => encode({ [s]: 1 })).toThrow(CodecError)
        }
      }),
      { numRuns: 500 },
    )
    // surrogate pairs are ordinary code points
    for (const s of ['\uD83D\uDE00', 'a\uDBFF\uDFFFb', '\uD800\uDC00']) expect(decode(encode({ [s]: s }))).toEqual({ [s]: s })
  })
})

describe('hex (core/bytes.ts)', () => {
  it('toHex is the two lowercase digits of every byte, at any length (also past its scratch buffer), and fromHex inverts it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), (bytes) => {
        const hex = toHex(bytes)
        expect(hex).toBe(Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''))
        expect(fromHex(hex)).toEqual(bytes)
      }),
      { numRuns: 200 },
    )
    expect(toHex(Uint8Array.from({ length: 256 }, (_, i) => i))).toMatch(/^(?:[0-9a-f]{2}){256}$/)
  })
})
