/**
 * Length-prefixed messages over a stream. A *frame* is a 4-byte unsigned big-endian length followed
 * by that many bytes, the *message*. The transport does not look inside messages: protocol/ decides
 * what they mean. A fixed-size prefix lets the reader refuse an oversize frame from its first four
 * bytes, before any of the body is buffered.
 *
 * Bounds: a frame larger than `maxMessageBytes` is refused on both sides (TRANSPORT_FRAME_TOO_LARGE;
 * the reader resets the stream, since it cannot find the next frame boundary). Once the first byte of a
 * frame has arrived the rest must keep coming: a peer that sends half a frame and stalls for
 * `idleTimeoutMs` gets its stream reset and the reader TRANSPORT_TIMEOUT. Waiting for the *next*
 * frame has no limit — a control stream may be quiet for hours. A stream that ends inside a frame
 * gives TRANSPORT_FRAME_TRUNCATED.
 */
import type { Stream } from '@libp2p/interface'
import { checkIntegerOption, TransportError, TransportErrorCode, toTransportError } from './errors.js'
import {
  DEFAULT_MAX_BUFFERED_WRITE_BYTES,
  SEND_SLICE_BYTES,
  STREAM_MAX_WRITE_BUFFER_BYTES,
} from './limits.js'
import { abortStream, type CloseOptions, closeStream } from './stream-close.js'
import {
  createStreamReader,
  type ReadOptions,
  type StreamReader,
  type StreamReaderInit,
} from './stream-reader.js'
import { type WriteOptions, writeToStream } from './stream-writer.js'

/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4
/** Default largest message: a batch of 64 KiB blocks with room to spare. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
/** The largest maxMessageBytes accepted: a reader holds a whole message in memory. */
export const MAX_MESSAGE_BYTES_LIMIT = 256 * 1024 * 1024
/** Default stall allowed inside a frame (reading) or before the write buffer drains (writing). */
export const DEFAULT_FRAME_IDLE_TIMEOUT_MS = 30_000
/** Messages up to this size are copied behind their prefix and sent as one piece. */
const COALESCE_MAX_BYTES = 64 * 1024

export interface FramedStreamInit extends StreamReaderInit {
  /** Largest message accepted or sent. Default DEFAULT_MAX_MESSAGE_BYTES. */
  maxMessageBytes?: number
  /** Default DEFAULT_FRAME_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number
  /** Passed to the writer: wait while this many bytes are queued. Default 4 MiB. */
  maxBufferedWriteBytes?: number
  /**
   * Reset the stream when a received frame is oversize or stalls (default true). Pass false to
   * answer with an error message of your own first: the writable end stays open, and every later
   * read rethrows the same error because frame boundaries are lost.
   */
  resetOnBadFrame?: boolean
}

export interface FramedStream {
  readonly stream: Stream
  /** The next message, or undefined when the peer closed its end between two frames. */
  read(options?: Pick<ReadOptions, 'signal'>): Promise<Uint8Array | undefined>
  /** Sends one message; calls may overlap, frames are written whole and in call order. */
  write(message: Uint8Array, options?: Pick<WriteOptions, 'signal'>): Promise<void>
  /** Flushes and closes our writable end (see closeStream); the peer's read() then ends. */
  closeWrite(options?: CloseOptions): Promise<boolean>
  /** Resets the stream at both ends. */
  abort(reason: unknown): void
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>
}

/** Wraps `stream`; build it as soon as the stream exists, before any await (see StreamReader). */
export function createFramedStream(stream: Stream, init: FramedStreamInit = {}): FramedStream {
  const maxMessageBytes = checkIntegerOption(
    'maxMessageBytes',
    init.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    1,
    MAX_MESSAGE_BYTES_LIMIT,
  )
  const idleTimeoutMs = checkIntegerOption(
    'idleTimeoutMs',
    init.idleTimeoutMs ?? DEFAULT_FRAME_IDLE_TIMEOUT_MS,
    1,
    24 * 3600_000,
  )
  const reader = createStreamReader(stream, init)
  const resetOnBadFrame = init.resetOnBadFrame ?? true
  let broken: TransportError | undefined
  let writing: Promise<void> = Promise.resolve()
  let pending = 0
  const maxBufferedWrite = checkIntegerOption(
    'maxBufferedWriteBytes',
    init.maxBufferedWriteBytes ?? DEFAULT_MAX_BUFFERED_WRITE_BYTES,
    1,
    STREAM_MAX_WRITE_BUFFER_BYTES - SEND_SLICE_BYTES,
  )

  const read = async (options: Pick<ReadOptions, 'signal'> = {}): Promise<Uint8Array | undefined> => {
    if (broken !== undefined) throw broken
    try {
      return await readFrame(reader, maxMessageBytes, idleTimeoutMs, options.signal)
    } catch (err) {
      const code = (err as TransportError).code
      if (code === TransportErrorCode.FRAME_TOO_LARGE || code === TransportErrorCode.TIMEOUT) {
        broken = err as TransportError
        if (resetOnBadFrame) abortStream(stream, err)
      }
      throw err
    }
  }

  const write = (message: Uint8Array, options: Pick<WriteOptions, 'signal'> = {}): Promise<void> => {
    if (message.byteLength > maxMessageBytes) {
      return Promise.reject(tooLarge(`a message of ${message.byteLength} bytes`, maxMessageBytes, 'send'))
    }
    const writeOptions = {
      signal: options.signal,
      idleTimeoutMs,
      maxBufferedBytes: maxBufferedWrite,
    }
    if (pending === 0 && message.byteLength <= COALESCE_MAX_BYTES && canSendNow(stream, maxBufferedWrite)) {
      // Fast path: nothing queued ahead of us and room in the buffer; no promise chain needed.
      try {
        stream.send(frameOf(message))
        return Promise.resolve()
      } catch (err) {
        return Promise.reject(toTransportError(err, 'frame write'))
      }
    }
    pending++
    const next = writing.then(async () => {
      try {
        await writeFrame(stream, message, writeOptions)
      } catch (err) {
        // Half a frame may be out: the peer can no longer find frame boundaries.
        if ((err as TransportError).code === TransportErrorCode.TIMEOUT) abortStream(stream, err)
        throw err
      } finally {
        pending--
      }
    })
    writing = next.catch(() => undefined)
    return next
  }

  const framed: FramedStream = {
    stream,
    read,
    write,
    async closeWrite(options) {
      await writing
      return closeStream(stream, options)
    },
    abort: (reason) => abortStream(stream, reason),
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const message = await framed.read()
        if (message === undefined) return
        yield message
      }
    },
  }
  return framed
}

async function writeFrame(stream: Stream, message: Uint8Array, options: WriteOptions): Promise<void> {
  if (message.byteLength <= COALESCE_MAX_BYTES) {
    await writeToStream(stream, frameOf(message), options)
    return
  }
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
  header.writeUInt32BE(message.byteLength, 0)
  await writeToStream(stream, header, options)
  await writeToStream(stream, message, options)
}

function frameOf(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + message.byteLength)
  frame.writeUInt32BE(message.byteLength, 0)
  frame.set(message, FRAME_HEADER_BYTES)
  return frame
}

function canSendNow(stream: Stream, maxBufferedBytes: number): boolean {
  return (
    stream.status === 'open' &&
    stream.writeStatus === 'writable' &&
    stream.writeBufferLength < maxBufferedBytes
  )
}

async function readFrame(
  reader: StreamReader,
  maxMessageBytes: number,
  idleTimeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<Uint8Array | undefined> {
  // Fast path: the whole frame is already queued.
  let header = reader.tryTake(FRAME_HEADER_BYTES)
  if (header === undefined) {
    // Between frames the peer may be silent as long as it likes.
    if (!(await reader.waitForData({ signal }))) return undefined
    header = await reader.readExactly(FRAME_HEADER_BYTES, { signal, idleTimeoutMs })
    if (header === undefined) throw truncated(reader.bufferedBytes, FRAME_HEADER_BYTES)
  }
  const length = Buffer.from(header.buffer, header.byteOffset, FRAME_HEADER_BYTES).readUInt32BE(0)
  if (length > maxMessageBytes)
    throw tooLarge(`a frame announcing ${length} bytes`, maxMessageBytes, 'receive')
  const whole = reader.tryTake(length)
  if (whole !== undefined) return whole
  let body: Uint8Array | undefined
  try {
    body = await reader.readExactly(length, { signal, idleTimeoutMs })
  } catch (err) {
    // A caller that gave up mid-frame leaves the frame whole for the next read.
    if ((err as TransportError).code === TransportErrorCode.ABORTED) reader.unread(header)
    throw err
  }
  if (body === undefined)
    throw truncated(reader.bufferedBytes + FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length)
  return body
}

function tooLarge(what: string, max: number, direction: 'send' | 'receive'): TransportError {
  return new TransportError(
    TransportErrorCode.FRAME_TOO_LARGE,
    `cannot ${direction} ${what}: the limit is ${max} bytes`,
    {
      remediation:
        direction === 'send'
          ? 'Split the message; this is a bug in the sender if it came from Lifeboat.'
          : 'The peer sent an oversize or corrupt frame; check that both ends run compatible versions.',
    },
  )
}

function truncated(have: number, need: number): TransportError {
  return new TransportError(
    TransportErrorCode.FRAME_TRUNCATED,
    `the stream ended inside a frame (${have} of ${need} bytes)`,
    {
      remediation: 'The peer closed the stream mid-message (crash or bug); retry the operation.',
      retryable: true,
    },
  )
}
