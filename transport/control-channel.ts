/**
 * A control channel: one libp2p stream that carries control frames (docs/PROTOCOL.md §2–§6), with
 * the receiver's error rules applied once for every conversation the coordinator holds (enrolment,
 * node sessions on the coordinator; enrolment and the session on the agent). A *refused frame* is one the codec cannot accept (malformed, unknown type,
 * invalid field): it is answered with an ERROR naming it and skipped, and the stream stays usable.
 * A *fatal* condition (an oversize length prefix, half a frame and then silence, a refusal of the
 * conversation itself) is answered with an ERROR, after which the stream is flushed and reset.
 *
 * The stream's framing is transport/'s FramedStream with `resetOnBadFrame: false`, so an oversize
 * or stalled frame reaches this module before the stream is gone and the peer learns why.
 */
import type { Stream } from '@libp2p/interface'
import {
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  errorFrameFor,
  expectHello,
  type FrameRef,
  type Hello,
  HelloExpectedError,
  type LifeboatError,
  MAX_CONSECUTIVE_BAD_FRAMES,
  MAX_CONTROL_FRAME_SIZE,
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

export interface ControlChannelInit {
  /** Half a frame and then this long without a byte ends the stream. Default 30 s. */
  idleTimeoutMs?: number
  /** Refused frames in a row before the stream is closed. Default MAX_CONSECUTIVE_BAD_FRAMES. */
  maxBadFrames?: number
}

export class ControlChannel {
  readonly stream: Stream
  readonly #framed: FramedStream
  readonly #maxBadFrames: number
  #badInARow = 0
  #ended = false

  /** Build it in the stream handler, before any await: it owns the stream's readable side. */
  constructor(stream: Stream, init: ControlChannelInit = {}) {
    this.stream = stream
    this.#maxBadFrames = init.maxBadFrames ?? MAX_CONSECUTIVE_BAD_FRAMES
    this.#framed = createFramedStream(stream, {
      maxMessageBytes: MAX_CONTROL_FRAME_SIZE,
      idleTimeoutMs: init.idleTimeoutMs ?? DEFAULT_FRAME_IDLE_TIMEOUT_MS,
      resetOnBadFrame: false,
    })
  }

  /** True once the channel failed or was closed by this side. */
  get ended(): boolean {
    return this.#ended
  }

  /** Encodes (validating) and sends one message. */
  async send(message: ControlMessage, signal?: AbortSignal): Promise<void> {
    await this.#framed.write(encodeControlMessage(message), { signal })
  }

  /** Sends an ERROR frame for `error`; true when it was handed to the stream. Never throws. */
  async sendError(error: unknown, ref?: FrameRef): Promise<boolean> {
    try {
      await this.#framed.write(encodeControlMessage(errorFrameFor(error, ref)))
      return true
    } catch {
      return false
    }
  }

  /**
   * The next valid message, or undefined when the peer closed its end between two frames. Refused
   * frames are answered and skipped; an ERROR frame from the peer is returned like any message.
   * Throws, after answering where anyone is left to answer: TooManyErrorsError (after
   * `maxBadFrames` refused frames in a row), a fatal ProtocolError, or the transport's error for an
   * oversize frame, a stall, a truncated frame, a reset or the caller's abort. The stream is
   * reset after every throw except the caller's abort (TRANSPORT_ABORTED).
   */
  async receive(signal?: AbortSignal): Promise<ControlMessage | undefined> {
    for (;;) {
      let body: Uint8Array | undefined
      try {
        body = await this.#framed.read({ signal })
      } catch (error) {
        await this.#failOnTransportError(error)
        throw error
      }
      if (body === undefined) return undefined
      let message: ControlMessage
      try {
        message = decodeControlMessage(body)
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
    let body: Uint8Array | undefined
    try {
      body = await this.#framed.read({ signal })
    } catch (error) {
      await this.#failOnTransportError(error)
      throw error
    }
    if (body === undefined) return undefined
    let message: ControlMessage
    try {
      message = decodeControlMessage(body)
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

  /**
   * Answers a frame this side cannot act on (valid, but out of place) with `error` and counts it
   * as a refused frame: the stream stays usable until `maxBadFrames` in a row (§6).
   */
  async refuse(error: ProtocolError | LifeboatError): Promise<void> {
    await this.#refused(error)
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

  async #refused(error: ProtocolError | LifeboatError): Promise<void> {
    this.#badInARow++
    // Never answer an ERROR with an ERROR, even a malformed one (§6): that rules out error loops.
    if ((error as ProtocolError).reType !== MessageType.ERROR) await this.sendError(error)
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
        remediation: `Send control frames of at most ${MAX_CONTROL_FRAME_SIZE} bytes (docs/PROTOCOL.md §2).`,
        fatal: true,
      })
      await this.fail(wire)
    } else if (code === TransportErrorCode.TIMEOUT) {
      await this.fail(error)
    } else if (code !== TransportErrorCode.ABORTED) {
      // Reset, truncated, closed: nobody is left to tell. The caller's own abort leaves the
      // stream to the caller, who may still want to say why (an enrolment deadline).
      this.abort(error)
    }
  }
}
