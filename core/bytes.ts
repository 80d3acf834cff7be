// Small byte helpers used across the core. Pure functions, no Node built-ins, so the core
// runs unchanged in the simulator, the runtime and a browser-hosted trace viewer.

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
/** The two ASCII codes of each byte's hex digits, at 2 * byte. */
const HEX_CODES = new Uint8Array(512)
for (let i = 0; i < 256; i++) {
  HEX_CODES[2 * i] = HEX[i]!.charCodeAt(0)
  HEX_CODES[2 * i + 1] = HEX[i]!.charCodeAt(1)
}
const ASCII = new TextDecoder('latin1')
const SCRATCH = new Uint8Array(4096)

/** Lowercase hex, as one flat string. Built with `+=`, a 32-byte hash was a rope of 31 cons
 *  strings (872 heap bytes per retained string instead of 88, measured with tmp heap snapshots:
 *  356 MB of a 480 MB heap after restoring 200k ops), and every hex id the state keeps was one. */
export function toHex(bytes: Uint8Array): string {
  const n = bytes.length
  const out = 2 * n <= SCRATCH.length ? SCRATCH : new Uint8Array(2 * n)
  for (let i = 0; i < n; i++) {
    const x = 2 * bytes[i]!
    out[2 * i] = HEX_CODES[x]!
    out[2 * i + 1] = HEX_CODES[x + 1]!
  }
  return ASCII.decode(out.subarray(0, 2 * n))
}

// Value of each lowercase hex digit by char code, -1 for anything else.
const NIBBLE = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i

/** Decodes lowercase hex; returns undefined for anything else (odd length, upper case, junk). */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0) return undefined
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) {
    const a = hex.charCodeAt(2 * i)
    const b = hex.charCodeAt(2 * i + 1)
    const hi = a < 128 ? NIBBLE[a]! : -1
    const lo = b < 128 ? NIBBLE[b]! : -1
    if (hi < 0 || lo < 0) return undefined
    out[i] = (hi << 4) | lo
  }
  return out
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Total order on byte strings (shorter first, then lexicographic) — the order CBOR's
 *  deterministic encoding uses for map keys. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return 0
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text)
}

export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes)
}
