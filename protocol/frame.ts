/**
 * Framing (docs/PROTOCOL.md §2): a *frame* is a 4-byte unsigned big-endian *length prefix* and a
 * *body* of that many bytes. A FrameDecoder turns chunks of a stream, cut anywhere, into bodies.
 *
 * The decoder checks a prefix against the maximum frame size as soon as its 4 bytes are in, before
 * buffering any of the body, so a 4 GiB prefix is refused after 4 bytes. It then fails for good:
 * after an oversize prefix nobody can tell where the next frame starts. It never copies bytes it
 * does not have to: a body inside one chunk is returned as a view of that chunk; only a body that
 * spans chunks is copied, once, into a buffer of its exact size, allocated when all of it is there.
 * Pushed chunks must therefore not be modified afterwards.
 */
import { FRAME_HEADER_SIZE } from './limits.js'
import { FrameTooLargeError, FrameTruncatedError, type ProtocolError } from './protocol-errors.js'

/** The 4-byte length prefix of a body of `length` bytes. */
export function frameHeader(length: number): Uint8Array {
  const header = new Uint8Array(FRAME_HEADER_SIZE)
  new DataView(header.buffer).setUint32(0, length)
  return header
}

/** A frame around an already encoded body (one copy). Message codecs use packFrame() instead. */
export function encodeFrame(body: Uint8Array, maxFrameSize: number): Uint8Array {
  if (body.length > maxFrameSize) throw new FrameTooLargeError(body.length, maxFrameSize)
  const frame = new Uint8Array(FRAME_HEADER_SIZE + body.length)
  new DataView(frame.buffer).setUint32(0, body.length)
  frame.set(body, FRAME_HEADER_SIZE)
  return frame
}

export class FrameDecoder {
  readonly maxFrameSize: number
  /** Chunks not yet consumed; `chunks[head]` starts at `offset`. */
  private chunks: Uint8Array[] = []
  private head = 0
  private offset = 0
  private buffered = 0
  /** Body length of the frame being assembled, once its prefix is read. */
  private bodyLength: number | undefined
  private failure: ProtocolError | undefined
  private ended = false

  constructor(maxFrameSize: number) {
    if (!Number.isInteger(maxFrameSize) || maxFrameSize < 0 || maxFrameSize > 0xffff_ffff) {
      throw new RangeError(`maxFrameSize ${maxFrameSize} is not an integer in [0, 2^32 − 1]`)
    }
    this.maxFrameSize = maxFrameSize
  }

  /** Bytes received and not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.buffered
  }

  /** Adds a chunk. Throws FrameTooLargeError once a prefix above the maximum is complete. */
  push(chunk: Uint8Array): void {
    this.throwIfFailed()
    if (this.ended) throw new RangeError('push() after end()')
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
    this.readPrefix()
  }

  /** The next complete body, or undefined when more bytes are needed. */
  next(): Uint8Array | undefined {
    this.throwIfFailed()
    this.readPrefix()
    const length = this.bodyLength
    if (length === undefined || this.buffered < length) return undefined
    const body = this.take(length)
    this.bodyLength = undefined
    this.readPrefix()
    return body
  }

  /** Every complete body now buffered, in order. */
  *frames(): Generator<Uint8Array> {
    for (let body = this.next(); body !== undefined; body = this.next()) yield body
  }

  /** push() then frames(): the bodies this chunk completes. */
  decode(chunk: Uint8Array): Generator<Uint8Array> {
    this.push(chunk)
    return this.frames()
  }

  /**
   * The stream ended: no more push(). Complete frames still buffered stay readable with next().
   * Throws FrameTruncatedError when the bytes after them are not a whole frame.
   */
  end(): void {
    this.throwIfFailed()
    this.ended = true
    // Not recorded as the decoder's failure: complete frames before the broken one stay readable.
    const truncated = (have: number, expected: number | undefined): never => {
      throw new FrameTruncatedError(have, expected)
    }
    // Walk the buffered frames without consuming them: the one whose prefix is read, then each
    // further prefix and body.
    let at = 0
    if (this.bodyLength !== undefined) {
      const frameSize = FRAME_HEADER_SIZE + this.bodyLength
      if (this.buffered < this.bodyLength) truncated(FRAME_HEADER_SIZE + this.buffered, frameSize)
      at = this.bodyLength
    }
    while (this.buffered - at >= FRAME_HEADER_SIZE) {
      const length = this.peekUint32(at)
      if (length > this.maxFrameSize) throw new FrameTooLargeError(length, this.maxFrameSize)
      const have = this.buffered - at
      if (have - FRAME_HEADER_SIZE < length) truncated(have, FRAME_HEADER_SIZE + length)
      at += FRAME_HEADER_SIZE + length
    }
    if (at < this.buffered) truncated(this.buffered - at, undefined)
  }

  /** The big-endian u32 `at` bytes past the read position, without consuming anything. */
  private peekUint32(at: number): number {
    let value = 0
    let chunk = this.head
    let offset = this.offset + at
    for (let i = 0; i < FRAME_HEADER_SIZE; i++) {
      while (offset >= this.chunks[chunk].length) {
        offset -= this.chunks[chunk].length
        chunk++
      }
      value = value * 256 + this.chunks[chunk][offset++]
    }
    return value
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure
  }

  private readPrefix(): void {
    if (this.bodyLength !== undefined || this.buffered < FRAME_HEADER_SIZE) return
    const prefix = this.take(FRAME_HEADER_SIZE)
    const length = ((prefix[0] << 24) | (prefix[1] << 16) | (prefix[2] << 8) | prefix[3]) >>> 0
    if (length > this.maxFrameSize) {
      this.failure = new FrameTooLargeError(length, this.maxFrameSize)
      this.chunks = []
      this.buffered = 0
      throw this.failure
    }
    this.bodyLength = length
  }

  /** Removes `length` buffered bytes (length ≤ buffered): a view when they sit in one chunk. */
  private take(length: number): Uint8Array {
    const first = this.chunks[this.head]
    let result: Uint8Array
    if (length === 0) {
      result = new Uint8Array(0)
    } else if (first.length - this.offset >= length) {
      result = first.subarray(this.offset, this.offset + length)
      this.offset += length
    } else {
      result = new Uint8Array(length)
      let filled = 0
      while (filled < length) {
        const chunk = this.chunks[this.head]
        const n = Math.min(chunk.length - this.offset, length - filled)
        result.set(chunk.subarray(this.offset, this.offset + n), filled)
        filled += n
        this.offset += n
        if (this.offset === chunk.length) this.dropHead()
      }
    }
    this.buffered -= length
    if (this.head < this.chunks.length && this.offset === this.chunks[this.head].length) this.dropHead()
    return result
  }

  private dropHead(): void {
    this.head++
    this.offset = 0
    // Compact now and then instead of shift() per chunk, which is O(n) each.
    if (this.head === this.chunks.length) {
      this.chunks = []
      this.head = 0
    } else if (this.head >= 64 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head)
      this.head = 0
    }
  }
}
