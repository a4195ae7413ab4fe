import { describe, expect, it } from 'vitest'
import { BlockioError, BlockioErrorCode } from '../../blockio/errors.js'
import {
  decodeControlMessage,
  decodeDataMessage,
  encodeControlMessage,
  encodeDataMessage,
  errorFrameFor,
  errorFromFrame,
  FrameTooLargeError,
  InvalidMessageError,
  LifeboatError,
  MAX_TEXT_LENGTH,
  MessageType,
  RemoteError,
  VolumeMismatchError,
} from '../../protocol/index.js'

describe('errorFrameFor', () => {
  it('carries a ProtocolError’s code, texts, retryable flag and the frame it answers', () => {
    const error = new InvalidMessageError(MessageType.LEASE_RENEWAL, '/fencingToken', 'Expected integer', {
      reId: 7,
    })
    const frame = errorFrameFor(error)
    expect(frame).toEqual({
      t: MessageType.ERROR,
      code: 'PROTOCOL_INVALID_MESSAGE',
      message: error.message,
      remediation: error.remediation,
      retryable: false,
      reType: MessageType.LEASE_RENEWAL,
      reId: 7,
    })
    expect(decodeControlMessage(encodeControlMessage(frame))).toEqual(frame)
  })

  it('prefers an explicit reference, and leaves both out when nothing is known', () => {
    const error = new VolumeMismatchError('block 9 is past the end', { reType: 68, reId: 2 })
    expect(errorFrameFor(error, { reType: 66, reId: 4 })).toMatchObject({ reType: 66, reId: 4 })
    const bare = errorFrameFor(new FrameTooLargeError(5, 4))
    expect(bare).not.toHaveProperty('reType')
    expect(bare).not.toHaveProperty('reId')
    expect(bare.code).toBe('PROTOCOL_FRAME_TOO_LARGE')
  })

  it('carries codes of other parts unchanged (coordinator, blockio)', () => {
    const lease = new LifeboatError('COORD_LEASE_LOST', 'lease expired', {
      remediation: 'stop',
      retryable: false,
    })
    expect(errorFrameFor(lease)).toMatchObject({
      code: 'COORD_LEASE_LOST',
      message: 'lease expired',
      remediation: 'stop',
    })
    const io = new BlockioError(BlockioErrorCode.SOURCE_UNREADABLE, 'EIO', {
      remediation: 'check the disk',
      retryable: true,
    })
    expect(errorFrameFor(io)).toMatchObject({ code: 'BLOCKIO_SOURCE_UNREADABLE', retryable: true })
  })

  it('wraps a bare exception as INTERNAL', () => {
    const frame = errorFrameFor(new TypeError('x is undefined'))
    expect(frame).toMatchObject({ code: 'INTERNAL', message: 'x is undefined', retryable: false })
    expect(() => encodeDataMessage(frame)).not.toThrow()
  })

  it('always encodes: long texts are cut and a code the wire cannot carry becomes INTERNAL', () => {
    const long = new LifeboatError('lower-case code', 'm'.repeat(10_000), { remediation: 'r'.repeat(10_000) })
    const frame = errorFrameFor(long, { reType: 300, reId: -1 })
    expect(frame.code).toBe('INTERNAL')
    expect(frame.message.startsWith('lower-case code: ')).toBe(true)
    expect(frame.message.length).toBe(MAX_TEXT_LENGTH)
    expect(frame.remediation.length).toBe(MAX_TEXT_LENGTH)
    expect(frame).not.toHaveProperty('reType')
    expect(frame).not.toHaveProperty('reId')
    expect(decodeDataMessage(encodeDataMessage(frame))).toEqual(frame)
  })
})

describe('errorFromFrame', () => {
  it('gives back the peer’s error with every field, as a RemoteError', () => {
    const sent = errorFrameFor(new VolumeMismatchError('block 9 is past the end', { reType: 68, reId: 2 }))
    const received = decodeDataMessage(encodeDataMessage(sent))
    if (received.t !== MessageType.ERROR) throw new Error('not an error frame')
    const error = errorFromFrame(received)
    expect(error).toBeInstanceOf(RemoteError)
    expect(error).toBeInstanceOf(LifeboatError)
    expect(error.toBody()).toEqual({
      code: 'PROTOCOL_VOLUME_MISMATCH',
      message: sent.message,
      remediation: sent.remediation,
      retryable: false,
    })
    expect(error).toMatchObject({ reType: 68, reId: 2 })
  })
})
