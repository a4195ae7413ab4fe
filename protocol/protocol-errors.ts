/**
 * Errors of the wire protocol (docs/PROTOCOL.md §6). A *fatal* error leaves a stream unusable: the
 * receiver sends an ERROR frame and closes (oversize prefix, version mismatch, missing hello). Any
 * other error skips one frame and the stream continues. `reType` / `reId` name the frame an error
 * answers when it is known, so the peer can fail the matching request at once.
 *
 * Decoders throw these and nothing else. Every code is listed in docs/ERRORS.md "Protocol".
 */
import { LifeboatError } from './errors.js'
import { type MessageFamily, messageTypeName } from './message-types.js'

export const ProtocolErrorCode = {
  FRAME_TOO_LARGE: 'PROTOCOL_FRAME_TOO_LARGE',
  FRAME_TRUNCATED: 'PROTOCOL_FRAME_TRUNCATED',
  MALFORMED: 'PROTOCOL_MALFORMED',
  UNKNOWN_TYPE: 'PROTOCOL_UNKNOWN_TYPE',
  UNEXPECTED_MESSAGE: 'PROTOCOL_UNEXPECTED_MESSAGE',
  INVALID_MESSAGE: 'PROTOCOL_INVALID_MESSAGE',
  VERSION_MISMATCH: 'PROTOCOL_VERSION_MISMATCH',
  HELLO_EXPECTED: 'PROTOCOL_HELLO_EXPECTED',
  UNEXPECTED_ROLE: 'PROTOCOL_UNEXPECTED_ROLE',
  VOLUME_MISMATCH: 'PROTOCOL_VOLUME_MISMATCH',
  TOO_MANY_ERRORS: 'PROTOCOL_TOO_MANY_ERRORS',
} as const

export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode]

/** The frame an error answers: its `t` and its `rid` (or `seq`). */
export interface FrameRef {
  reType?: number
  reId?: number
}

export interface ProtocolErrorInit extends FrameRef {
  remediation: string
  retryable?: boolean
  fatal?: boolean
  cause?: unknown
}

export class ProtocolError extends LifeboatError {
  declare readonly code: ProtocolErrorCode
  /** The stream cannot continue after this error. */
  readonly fatal: boolean
  readonly reType?: number
  readonly reId?: number

  constructor(code: ProtocolErrorCode, message: string, init: ProtocolErrorInit) {
    super(code, message, init)
    this.name = 'ProtocolError'
    this.fatal = init.fatal ?? false
    if (init.reType !== undefined) this.reType = init.reType
    if (init.reId !== undefined) this.reId = init.reId
  }
}

export class FrameTooLargeError extends ProtocolError {
  readonly size: number
  readonly maxSize: number

  constructor(size: number, maxSize: number) {
    super(
      ProtocolErrorCode.FRAME_TOO_LARGE,
      `frame of ${size} bytes exceeds the maximum of ${maxSize} bytes`,
      {
        remediation: `Send frames of at most ${maxSize} bytes (docs/PROTOCOL.md §2); split block batches.`,
        fatal: true,
      },
    )
    this.name = 'FrameTooLargeError'
    this.size = size
    this.maxSize = maxSize
  }
}

export class FrameTruncatedError extends ProtocolError {
  constructor(buffered: number, expected: number | undefined) {
    const wanted = expected === undefined ? 'a complete length prefix' : `${expected} bytes`
    super(ProtocolErrorCode.FRAME_TRUNCATED, `stream ended inside a frame: ${buffered} bytes of ${wanted}`, {
      remediation: 'The peer or the connection went away mid-frame; retry on a new stream.',
      retryable: true,
      fatal: true,
    })
    this.name = 'FrameTruncatedError'
  }
}

export class MalformedMessageError extends ProtocolError {
  constructor(detail: string, cause?: unknown) {
    super(ProtocolErrorCode.MALFORMED, `malformed message: ${detail}`, {
      remediation: 'Send one msgpack map per frame, without ext types (docs/PROTOCOL.md §3).',
      cause,
    })
    this.name = 'MalformedMessageError'
  }
}

export class UnknownMessageTypeError extends ProtocolError {
  constructor(t: unknown, family: MessageFamily, ref: FrameRef = {}) {
    const shown = typeof t === 'number' ? String(t) : t === undefined ? 'missing' : `a ${typeof t}`
    super(ProtocolErrorCode.UNKNOWN_TYPE, `unknown ${family} message type (t: ${shown})`, {
      remediation: 'Send only message types of the negotiated protocol version (docs/PROTOCOL.md §3.1).',
      ...ref,
    })
    this.name = 'UnknownMessageTypeError'
  }
}

export class UnexpectedMessageError extends ProtocolError {
  constructor(t: number, context: string, ref: FrameRef = {}) {
    super(ProtocolErrorCode.UNEXPECTED_MESSAGE, `${messageTypeName(t)} is not expected ${context}`, {
      remediation: 'Follow the conversation of docs/PROTOCOL.md §4 for this stream.',
      reType: t,
      ...ref,
    })
    this.name = 'UnexpectedMessageError'
  }
}

export class InvalidMessageError extends ProtocolError {
  /** JSON pointer of the offending field, `''` for the message itself. */
  readonly path: string

  constructor(t: number, path: string, detail: string, ref: FrameRef = {}) {
    const where = path === '' ? '' : ` at ${path}`
    super(ProtocolErrorCode.INVALID_MESSAGE, `invalid ${messageTypeName(t)}${where}: ${detail}`, {
      remediation: `Send ${messageTypeName(t)} with the fields and bounds of docs/PROTOCOL.md.`,
      reType: t,
      ...ref,
    })
    this.name = 'InvalidMessageError'
    this.path = path
  }
}

export class VolumeMismatchError extends ProtocolError {
  constructor(detail: string, ref: FrameRef = {}) {
    super(ProtocolErrorCode.VOLUME_MISMATCH, `block batch does not fit the open volume: ${detail}`, {
      remediation: 'Send only blocks of the volume named in OPEN_VOLUME, with payloads of their length.',
      ...ref,
    })
    this.name = 'VolumeMismatchError'
  }
}

export class TooManyErrorsError extends ProtocolError {
  constructor(count: number) {
    super(ProtocolErrorCode.TOO_MANY_ERRORS, `closing the stream after ${count} bad frames in a row`, {
      remediation: 'Fix the sender: every frame it sent was refused (see the previous errors).',
      fatal: true,
    })
    this.name = 'TooManyErrorsError'
  }
}

export class VersionMismatchError extends ProtocolError {
  readonly localVersion: string
  readonly remoteVersion: string

  constructor(local: string, remote: string) {
    super(ProtocolErrorCode.VERSION_MISMATCH, `peer speaks protocol ${remote}, this side speaks ${local}`, {
      remediation: `Upgrade the side with the older version so both speak major ${Math.max(
        Number.parseInt(local, 10),
        Number.parseInt(remote, 10),
      )} (docs/PROTOCOL.md §5).`,
      fatal: true,
    })
    this.name = 'VersionMismatchError'
    this.localVersion = local
    this.remoteVersion = remote
  }
}

export class HelloExpectedError extends ProtocolError {
  constructor(t: number) {
    super(
      ProtocolErrorCode.HELLO_EXPECTED,
      `the first frame of a stream must be a hello, not ${messageTypeName(t)}`,
      {
        remediation: 'Send a HELLO as the first frame of every stream (docs/PROTOCOL.md §5).',
        fatal: true,
        reType: t,
      },
    )
    this.name = 'HelloExpectedError'
  }
}

export class UnexpectedRoleError extends ProtocolError {
  constructor(role: string, expected: readonly string[]) {
    super(
      ProtocolErrorCode.UNEXPECTED_ROLE,
      `a ${role} may not open or answer this stream (expected ${expected.join(' or ')})`,
      {
        remediation: 'Check that the peer is the kind of node this stream is for (docs/PROTOCOL.md §4).',
        fatal: true,
      },
    )
    this.name = 'UnexpectedRoleError'
  }
}

/** True for errors the protocol layer raises; anything else reaching a decoder's caller is a bug. */
export function isProtocolError(value: unknown): value is ProtocolError {
  return value instanceof ProtocolError
}
