/**
 * A message channel: one libp2p stream carrying Lifeboat frames of one message family (control or
 * blocks, docs/PROTOCOL.md §2–§6), with the receiver's error rules applied once for every
 * conversation on either side (enrolment, node sessions and job streams on the control protocol;
 * the block link on the blocks protocol). `ControlChannel` and `BlockChannel` are this class bound
 * to the control codec (1 MiB frames) and the data codec (17 MiB frames).
 *
 * A *refused frame* is one the codec cannot accept (malformed, unknown type, invalid field) or a
 * valid one out of place: it is answered with an ERROR naming it and skipped, and the stream stays
 * usable until MAX_CONSECUTIVE_BAD_FRAMES in a row. A *fatal* condition (an oversize length prefix,
 * half a frame and then silence, a version mismatch, a missing hello) is answered with an ERROR,
 * after which the stream is flushed and reset. The framing is FramedStream with
 * `resetOnBadFrame: false`, so an oversize or stalled frame reaches this module before the stream
 * is gone and the peer learns why.
 */
import type { Stream } from '@libp2p/interface'
import {
  type ControlMessage,
  controlCodec,
  type DataMessage,
  dataCodec,
  errorFrameFor,
  expectHello,
  type FrameRef,
  FrameTooLargeError,
  type Hello,
  HelloExpectedError,
  type LifeboatError,
  MAX_CONSECUTIVE_BAD_FRAMES,
  type MessageCodec,
  MessageType,
  ProtocolError,
  ProtocolErrorCode,
  TooManyErrorsError,
} from '../protocol/index.js'
import { TransportErrorCode } from './errors.js'
import { createFramedStream, DEFAULT_FRAME_IDLE_TIMEOUT_MS, type FramedStream } from './framed-stream.js'
import { abortStream, closeStream } from './stream-close.js'

/** How long a channel that failed waits for its last ERROR frame to flush before resetting. */
export const FAIL_FLUSH_TIMEOUT_MS = 2_000

export interface MessageChannelInit {
  /** Half a frame and then this long without a byte ends the stream. Default 30 s. */
  idleTimeoutMs?: number
  /** Refused frames in a row before the stream is closed. Default MAX_CONSECUTIVE_BAD_FRAMES. */
  maxBadFrames?: number
}

export class MessageChannel<M extends { t: number }> {
  readonly #codec: MessageCodec<M>
  readonly stream: Stream
  readonly #framed: FramedStream
  readonly #maxBadFrames: number
  #badInARow = 0
  #ended = false

  /** Build it in the stream handler, before any await: it owns the stream's readable side. */
  constructor(codec: MessageCodec<M>, stream: Stream, init: MessageChannelInit = {}) {
    this.#codec = codec
    this.stream = stream
    this.#maxBadFrames = init.maxBadFrames ?? MAX_CONSECUTIVE_BAD_FRAMES
    this.#framed = createFramedStream(stream, {
      maxMessageBytes: this.#codec.maxFrameSize,
      idleTimeoutMs: init.idleTimeoutMs ?? DEFAULT_FRAME_IDLE_TIMEOUT_MS,
      resetOnBadFrame: false,
    })
  }

  /** True once the channel failed or was closed by this side. */
  get ended(): boolean {
    return this.#ended
  }

  /** Encodes (validating) and sends one message. */
  async send(message: M, signal?: AbortSignal): Promise<void> {
    await this.#framed.write(this.#codec.encode(message), { signal })
  }

  /**
   * Validates `message` as send() does, then sends the body `encode` writes of it — an encoder
   * giving exactly the codec's bytes for that message type, without the codec's intermediate
   * buffer (agent/blocks/block-batch-encoding.ts). When `encode` gives undefined the codec encodes.
   */
  async sendEncoded(
    message: M,
    encode: (valid: M) => Uint8Array | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const valid = this.#codec.validate(message)
    const body = encode(valid) ?? this.#codec.encode(valid)
    if (body.length > this.#codec.maxFrameSize)
      throw new FrameTooLargeError(body.length, this.#codec.maxFrameSize)
    await this.#framed.write(body, { signal })
  }

  /** Sends raw bytes as one frame, unchecked: for tests of a peer's error handling only. */
  async sendRawFrame(body: Uint8Array): Promise<void> {
    await this.#framed.write(body)
  }

  /** Sends an ERROR frame for `error`; true when it was handed to the stream. Never throws. */
  async sendError(error: unknown, ref?: FrameRef): Promise<boolean> {
    try {
      // Every message family has ERROR (docs/PROTOCOL.md §3), so the family's codec encodes it.
      await this.#framed.write(this.#codec.encode(errorFrameFor(error, ref) as unknown as M))
      return true
    } catch {
      return false
    }
  }

  /**
   * The next valid message, or undefined when the peer closed its end between two frames. Refused
   * frames are answered and skipped; an ERROR frame from the peer is returned like any message.
   * Throws, after answering where anyone is left to answer: TooManyErrorsError, a fatal
   * ProtocolError, or the transport's error for an oversize frame, a stall, a truncated frame, a
   * reset or the caller's abort.
   */
  async receive(signal?: AbortSignal): Promise<M | undefined> {
    for (;;) {
      const body = await this.#read(signal)
      if (body === undefined) return undefined
      let message: M
      try {
        message = this.#codec.decode(body)
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error
        if (error.fatal) {
          await this.fail(error)
          throw error
        }
        await this.#refused(error)
        continue
      }
      this.#badInARow = 0
      return message
    }
  }

  /**
   * The peer's HELLO, which must be the stream's first frame (§5). Anything else is fatal: a frame
   * the codec refuses (a HELLO of another major among them) or another message is answered with
   * its ERROR and the stream is reset; a peer's ERROR is thrown as the RemoteError it carries.
   * Undefined when the peer closed without sending anything.
   */
  async receiveHello(signal?: AbortSignal): Promise<Hello | undefined> {
    const body = await this.#read(signal)
    if (body === undefined) return undefined
    let message: M
    try {
      message = this.#codec.decode(body)
    } catch (error) {
      await this.fail(error)
      throw error
    }
    try {
      return expectHello(message)
    } catch (error) {
      if (error instanceof HelloExpectedError) await this.fail(error)
      else this.abort(error)
      throw error
    }
  }

  /** Answers a valid frame this side cannot act on and counts it as refused (§6). */
  async refuse(error: ProtocolError | LifeboatError, ref?: FrameRef): Promise<void> {
    await this.#refused(error, ref)
  }

  /** Sends `error` as an ERROR frame, flushes it for a bounded time, and resets the stream. */
  async fail(error: unknown, ref?: FrameRef): Promise<void> {
    if (this.#ended) return
    this.#ended = true
    await this.sendError(error, ref)
    await closeStream(this.stream, { timeoutMs: FAIL_FLUSH_TIMEOUT_MS })
    abortStream(this.stream, error)
  }

  /** Closes this side's writable end after flushing; the peer's reads then end. Never throws. */
  async close(): Promise<void> {
    this.#ended = true
    await this.#framed.closeWrite({ timeoutMs: FAIL_FLUSH_TIMEOUT_MS })
  }

  /** Resets the stream at both ends. */
  abort(reason: unknown): void {
    this.#ended = true
    abortStream(this.stream, reason)
  }

  async #read(signal?: AbortSignal): Promise<Uint8Array | undefined> {
    try {
      return await this.#framed.read({ signal })
    } catch (error) {
      await this.#failOnTransportError(error)
      throw error
    }
  }

  async #refused(error: ProtocolError | LifeboatError, ref?: FrameRef): Promise<void> {
    this.#badInARow++
    // Never answer an ERROR with an ERROR, even a malformed one (§6): that rules out error loops.
    const reType = ref?.reType ?? (error as ProtocolError).reType
    if (reType !== MessageType.ERROR) await this.sendError(error, ref)
    if (this.#badInARow >= this.#maxBadFrames) {
      const tooMany = new TooManyErrorsError(this.#badInARow)
      await this.fail(tooMany)
      throw tooMany
    }
  }

  async #failOnTransportError(error: unknown): Promise<void> {
    const code = (error as { code?: unknown }).code
    if (code === TransportErrorCode.FRAME_TOO_LARGE) {
      // The wire's code for this is the protocol's (§2); the transport's message keeps the sizes.
      const wire = new ProtocolError(ProtocolErrorCode.FRAME_TOO_LARGE, (error as Error).message, {
        remediation: `Send ${this.#codec.family} frames of at most ${this.#codec.maxFrameSize} bytes (docs/PROTOCOL.md §2).`,
        fatal: true,
      })
      await this.fail(wire)
    } else if (code === TransportErrorCode.TIMEOUT) {
      await this.fail(error)
    } else if (code !== TransportErrorCode.ABORTED) {
      // Reset, truncated, closed: nobody is left to tell. The caller's own abort leaves the stream
      // to the caller, who may still want to say why (a hello deadline).
      this.abort(error)
    }
  }
}

/** The control protocol's channel (`/lifeboat/control/1.0.0`, `/lifeboat/enrol/1.0.0`). */
export class ControlChannel extends MessageChannel<ControlMessage> {
  constructor(stream: Stream, init: MessageChannelInit = {}) {
    super(controlCodec, stream, init)
  }
}

/** The blocks protocol's channel (`/lifeboat/blocks/1.0.0`). */
export class BlockChannel extends MessageChannel<DataMessage> {
  constructor(stream: Stream, init: MessageChannelInit = {}) {
    super(dataCodec, stream, init)
  }
}
