/**
 * A *message codec* binds one family's messages to its protocol: its ID, its version, its maximum
 * frame size and its validator. Each family module (control-messages.ts, data-messages.ts) builds
 * one and exports its functions; stream code can take a codec and work for either protocol.
 *
 * Both directions validate: decode() so nothing unchecked reaches the application, encode() so this
 * side never sends what a peer would refuse. decode() returns a valid message or throws a
 * ProtocolError, never anything else.
 */
import { packBody, packFrame, unpackEnvelope } from './codec.js'
import { FrameDecoder } from './frame.js'
import { checkHelloMajor } from './hello.js'
import type { MessageFamily } from './message-types.js'
import { FrameTooLargeError, MalformedMessageError, ProtocolError } from './protocol-errors.js'
import type { ProtocolVersion } from './protocol-ids.js'
import type { MessageValidator } from './validate.js'

export interface MessageCodec<M extends { t: number }> {
  readonly family: MessageFamily
  readonly protocolId: string
  readonly version: Readonly<ProtocolVersion>
  /** Largest frame body on this protocol's streams. */
  readonly maxFrameSize: number
  /** The msgpack body of a message, without its length prefix. */
  encode(message: M): Uint8Array
  /** A complete frame: length prefix and body. */
  encodeFrame(message: M): Uint8Array
  /** A frame body as a validated message. Throws ProtocolError only. */
  decode(body: Uint8Array): M
  /** A value (decoded elsewhere, or built by hand) as a validated message. Throws ProtocolError only. */
  validate(value: unknown): M
  /** A FrameDecoder with this protocol's maximum frame size. */
  createFrameDecoder(): FrameDecoder
}

export interface MessageCodecInit<M extends { t: number }> {
  protocolId: string
  version: Readonly<ProtocolVersion>
  maxFrameSize: number
  validator: MessageValidator<M>
}

export function createMessageCodec<M extends { t: number }>(init: MessageCodecInit<M>): MessageCodec<M> {
  const { validator, maxFrameSize, version } = init

  const validate = (value: unknown): M => guard(() => validator.validate(value))

  return {
    family: validator.family,
    protocolId: init.protocolId,
    version,
    maxFrameSize,
    encode(message: M): Uint8Array {
      const body = packBody(validate(message))
      if (body.length > maxFrameSize) throw new FrameTooLargeError(body.length, maxFrameSize)
      return body
    },
    encodeFrame(message: M): Uint8Array {
      return packFrame(validate(message), maxFrameSize)
    },
    decode(body: Uint8Array): M {
      return guard(() => {
        if (body instanceof Uint8Array && body.length > maxFrameSize) {
          throw new FrameTooLargeError(body.length, maxFrameSize)
        }
        const envelope = unpackEnvelope(body)
        checkHelloMajor(envelope, version)
        return validator.validate(envelope)
      })
    },
    validate,
    createFrameDecoder(): FrameDecoder {
      return new FrameDecoder(maxFrameSize)
    },
  }
}

/**
 * Runs `fn`, letting ProtocolErrors through and wrapping anything else (a stack overflow in a
 * validator, say) so callers can rely on the promise that only ProtocolErrors leave a decoder.
 */
function guard<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    if (error instanceof ProtocolError) throw error
    throw new MalformedMessageError(
      `could not be checked: ${error instanceof Error ? error.message : String(error)}`,
      error,
    )
  }
}
