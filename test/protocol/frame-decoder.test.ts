import { describe, expect, it } from 'vitest'
import {
  encodeFrame,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  FrameTooLargeError,
  FrameTruncatedError,
  frameHeader,
  MAX_CONTROL_FRAME_SIZE,
  MAX_DATA_FRAME_SIZE,
  ProtocolErrorCode,
} from '../../protocol/index.js'

const body = (length: number, seed: number): Uint8Array =>
  Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff)
// Compared as hex: vitest's deep equality is slow on hundreds of typed arrays.
const hexes = (list: Uint8Array[]): string[] => list.map((b) => Buffer.from(b).toString('hex'))
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts))

function catchError(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected an error')
}

describe('FrameDecoder', () => {
  const bodies = [body(0, 1), body(1, 2), body(300, 3), body(3000, 4), body(5, 5)]
  const stream = concat(...bodies.map((b) => encodeFrame(b, MAX_DATA_FRAME_SIZE)))

  it('yields every body whatever the chunking: whole, byte by byte, and cut at every position', () => {
    const whole = new FrameDecoder(MAX_DATA_FRAME_SIZE)
    expect(hexes([...whole.decode(stream)])).toEqual(hexes(bodies))
    whole.end()

    const bytewise = new FrameDecoder(MAX_DATA_FRAME_SIZE)
    const out: Uint8Array[] = []
    for (let i = 0; i < stream.length; i++) out.push(...bytewise.decode(stream.subarray(i, i + 1)))
    expect(hexes(out)).toEqual(hexes(bodies))
    bytewise.end()

    const head = concat(...bodies.slice(0, 3).map((b) => encodeFrame(b, MAX_DATA_FRAME_SIZE)))
    for (let cut = 0; cut <= head.length; cut++) {
      const decoder = new FrameDecoder(MAX_DATA_FRAME_SIZE)
      const got = [...decoder.decode(head.subarray(0, cut)), ...decoder.decode(head.subarray(cut))]
      expect(hexes(got)).toEqual(hexes(bodies.slice(0, 3)))
      expect(decoder.bufferedBytes).toBe(0)
    }
  })

  it('returns a body inside one chunk as a view of it, and copies one that spans chunks', () => {
    const frame = encodeFrame(body(100, 9), 1000)
    const decoder = new FrameDecoder(1000)
    const [inOne] = [...decoder.decode(frame)]
    expect(inOne.buffer).toBe(frame.buffer)

    const [spanning] = [...decoder.decode(frame.subarray(0, 50)), ...decoder.decode(frame.subarray(50))]
    expect(spanning.buffer).not.toBe(frame.buffer)
    expect(spanning).toEqual(body(100, 9))
  })

  it('keeps complete frames for later when the consumer stops early', () => {
    const decoder = new FrameDecoder(MAX_DATA_FRAME_SIZE)
    decoder.push(stream)
    expect(decoder.next()).toEqual(bodies[0])
    expect([...decoder.frames()]).toEqual(bodies.slice(1))
    expect(decoder.next()).toBeUndefined()
  })

  it('refuses a 4 GiB prefix from its 4 bytes alone, without buffering or allocating the body', () => {
    const decoder = new FrameDecoder(MAX_CONTROL_FRAME_SIZE)
    const error = catchError(() => decoder.push(new Uint8Array([0xff, 0xff, 0xff, 0xff])))
    expect(error).toBeInstanceOf(FrameTooLargeError)
    expect(error).toMatchObject({ code: ProtocolErrorCode.FRAME_TOO_LARGE, fatal: true, size: 0xffff_ffff })
    expect(decoder.bufferedBytes).toBe(0)
  })

  it('refuses a prefix one byte over the maximum, accepts one at the maximum', () => {
    const max = 1024
    const over = new FrameDecoder(max)
    expect(() => over.push(frameHeader(max + 1))).toThrow(FrameTooLargeError)
    const at = new FrameDecoder(max)
    expect([...at.decode(encodeFrame(body(max, 1), max))]).toHaveLength(1)
  })

  it('refuses an oversize prefix that arrives a byte at a time, after the frames before it', () => {
    const decoder = new FrameDecoder(16)
    const bytes = concat(encodeFrame(body(3, 1), 16), frameHeader(17))
    const got: Uint8Array[] = []
    const error = catchError(() => {
      for (let i = 0; i < bytes.length; i++) got.push(...decoder.decode(bytes.subarray(i, i + 1)))
    })
    expect(error).toBeInstanceOf(FrameTooLargeError)
    expect(got).toEqual([body(3, 1)])
  })

  it('stays failed after an oversize prefix: the stream cannot be resynchronised', () => {
    const decoder = new FrameDecoder(16)
    expect(() => decoder.push(frameHeader(1000))).toThrow(FrameTooLargeError)
    expect(() => decoder.push(encodeFrame(body(1, 1), 16))).toThrow(FrameTooLargeError)
    expect(() => decoder.next()).toThrow(FrameTooLargeError)
    expect(() => decoder.end()).toThrow(FrameTooLargeError)
  })

  it('reports a stream that ends inside a prefix or a body as truncated, retryable and fatal', () => {
    const frame = encodeFrame(body(10, 1), 100)
    for (const cut of [1, 3, FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + 1, frame.length - 1]) {
      const decoder = new FrameDecoder(100)
      expect([...decoder.decode(frame.subarray(0, cut))]).toEqual([])
      const error = catchError(() => decoder.end())
      expect(error).toBeInstanceOf(FrameTruncatedError)
      expect(error).toMatchObject({ code: ProtocolErrorCode.FRAME_TRUNCATED, retryable: true, fatal: true })
    }
  })

  it('at the end, keeps complete frames readable and still reports a truncated one after them', () => {
    const decoder = new FrameDecoder(100)
    decoder.push(
      concat(encodeFrame(body(2, 1), 100), encodeFrame(body(3, 2), 100), frameHeader(9), body(4, 0)),
    )
    expect(() => decoder.end()).toThrow(FrameTruncatedError)
    expect([...decoder.frames()]).toEqual([body(2, 1), body(3, 2)])
  })

  it('ends cleanly when only complete frames are buffered, and they stay readable', () => {
    const decoder = new FrameDecoder(100)
    decoder.push(concat(encodeFrame(body(2, 1), 100), encodeFrame(body(0, 0), 100)))
    decoder.end()
    expect([...decoder.frames()]).toEqual([body(2, 1), body(0, 0)])
    expect(() => decoder.push(body(1, 1))).toThrow(RangeError)
  })

  it('at the end, reports an oversize prefix that follows complete frames', () => {
    const decoder = new FrameDecoder(100)
    decoder.push(concat(encodeFrame(body(2, 1), 100), frameHeader(5000)))
    expect(() => decoder.end()).toThrow(FrameTooLargeError)
  })

  it('ignores empty chunks', () => {
    const decoder = new FrameDecoder(100)
    expect([...decoder.decode(new Uint8Array(0))]).toEqual([])
    decoder.end()
  })

  it('refuses a maximum frame size that a 32-bit prefix cannot express', () => {
    expect(() => new FrameDecoder(-1)).toThrow(RangeError)
    expect(() => new FrameDecoder(2 ** 32)).toThrow(RangeError)
    expect(() => new FrameDecoder(1.5)).toThrow(RangeError)
  })
})

describe('encodeFrame', () => {
  it('writes a big-endian u32 length prefix', () => {
    const frame = encodeFrame(body(0x0102, 0), 100_000)
    expect([...frame.subarray(0, 4)]).toEqual([0x00, 0x00, 0x01, 0x02])
    expect([...frameHeader(0xa0b0c0d0)]).toEqual([0xa0, 0xb0, 0xc0, 0xd0])
  })

  it('refuses a body above the maximum', () => {
    expect(() => encodeFrame(body(11, 0), 10)).toThrow(FrameTooLargeError)
  })
})
