// Length-prefixed frames over a byte stream: a 4-byte big-endian body length, then the body.
// Sans-I/O (h11 style): bytes in, whole frames out; the transport owns the socket.
//
// Why the decoder keeps a list of received chunks instead of allocating the body when the header
// arrives: a peer that announces a 16 MiB frame and then sends nothing would otherwise cost us
// 16 MiB per connection for free. Here memory grows only with bytes actually received, and a
// length above the limit is rejected as soon as its 4th header byte is seen, before any buffering.

export const FRAME_HEADER_BYTES = 4
/** Default limit on a frame body; the core's largest message (a batch of chunks) fits well below. */
export const FRAME_BYTES_MAX_DEFAULT = 16 * 1024 * 1024
/** The header is a uint32, so no limit above this can be expressed on the wire. */
export const FRAME_BYTES_LIMIT = 0xffff_ffff

export type FrameErrorCode = 'oversized' | 'failed'

/** A peer's bad stream (not our bug): the connection that produced it is closed and counted. */
export class FrameError extends Error {
  readonly code: FrameErrorCode
  constructor(code: FrameErrorCode, message: string) {
    super(`${code}: ${message}`)
    this.code = code
    this.name = 'FrameError'
  }
}

/** One frame ready for the wire: header and body in one buffer, so one write per message. */
export function encodeFrame(body: Uint8Array, maxFrameBytes: number = FRAME_BYTES_MAX_DEFAULT): Uint8Array {
  if (body.length > maxFrameBytes) {
    // The sender's own bug: the host must not hand the transport messages larger than the limit.
    throw new Error(`assertion failed: frame body of ${body.length} bytes exceeds the limit of ${maxFrameBytes}`)
  }
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length)
  new DataView(out.buffer).setUint32(0, body.length, false)
  out.set(body, FRAME_HEADER_BYTES)
  return out
}

export class FrameDecoder {
  /** Read at every header, so a host may raise it once a peer is authenticated. */
  maxFrameBytes: number
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES)
  private headerFilled = 0
  /** Body length of the frame being read, or -1 while reading a header. */
  private bodyBytes = -1
  private parts: Uint8Array[] = []
  private partsBytes = 0
  private failed = false

  constructor(maxFrameBytes: number = FRAME_BYTES_MAX_DEFAULT) {
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 0 || maxFrameBytes > FRAME_BYTES_LIMIT) {
      throw new Error(`assertion failed: maxFrameBytes must be an integer in 0..${FRAME_BYTES_LIMIT}`)
    }
    this.maxFrameBytes = maxFrameBytes
  }

  /** Bytes held for the frame being read (header excluded): what a slow or hostile peer costs us. */
  get bufferedBytes(): number {
    return this.partsBytes
  }

  /**
   * Feeds one chunk as TCP delivered it (any split, any coalescing). Calls onFrame for every frame
   * completed by it, in order, then throws FrameError if the stream turned out bad; frames before
   * the bad header are still delivered. After an error the decoder refuses all further input.
   * Frame bodies are fresh copies: the caller may keep them after the chunk is reused.
   */
  push(chunk: Uint8Array, onFrame: (body: Uint8Array) => void): void {
    if (this.failed) throw new FrameError('failed', 'the stream already failed; close the connection')
    let offset = 0
    // Each pass consumes at least one byte or completes a (possibly empty) frame: bounded by length + frames.
    while (offset < chunk.length || this.bodyBytes === 0) {
      if (this.bodyBytes < 0) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.length - offset)
        this.header.set(chunk.subarray(offset, offset + take), this.headerFilled)
        this.headerFilled += take
        offset += take
        if (this.headerFilled < FRAME_HEADER_BYTES) return
        const length = new DataView(this.header.buffer).getUint32(0, false)
        this.headerFilled = 0
        if (length > this.maxFrameBytes) {
          this.failed = true
          throw new FrameError('oversized', `frame of ${length} bytes announced, the limit is ${this.maxFrameBytes}`)
        }
        this.bodyBytes = length
        continue
      }
      const take = Math.min(this.bodyBytes - this.partsBytes, chunk.length - offset)
      const part = chunk.subarray(offset, offset + take)
      offset += take
      this.partsBytes += take
      if (this.partsBytes < this.bodyBytes) {
        // The frame continues in a later chunk: keep a copy, the caller may reuse this chunk.
        this.parts.push(new Uint8Array(part))
        return
      }
      if (take > 0) this.parts.push(part)
      const body = new Uint8Array(this.bodyBytes)
      let at = 0
      for (const p of this.parts) {
        body.set(p, at)
        at += p.length
      }
      this.parts = []
      this.partsBytes = 0
      this.bodyBytes = -1
      onFrame(body)
    }
  }
}

/** The tag of a frame (the first element of its top-level CBOR array) without decoding the rest:
 *  runtime frames are told from the core's by it. */
export function frameTag(bytes: Uint8Array): string | undefined {
  const b0 = bytes[0]
  if (b0 === undefined) return undefined
  let i: number
  if (b0 >= 0x80 && b0 <= 0x97) i = 1
  else if (b0 === 0x98) i = 2
  else if (b0 === 0x99) i = 3
  else return undefined
  const t = bytes[i]
  if (t === undefined) return undefined
  let len: number
  let start: number
  if (t >= 0x60 && t <= 0x77) {
    len = t - 0x60
    start = i + 1
  } else if (t === 0x78 && bytes[i + 1] !== undefined) {
    len = bytes[i + 1]!
    start = i + 2
  } else return undefined
  if (start + len > bytes.length || len > 64) return undefined
  return new TextDecoder().decode(bytes.subarray(start, start + len))
}
