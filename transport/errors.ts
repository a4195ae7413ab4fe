/**
 * Errors raised by the transport: the node identity on disk, the libp2p node, streams and framing.
 *
 * Every code is listed in docs/ERRORS.md ("Transport"). A *peer* is the node at the other end of a
 * connection; a *stream* is one multiplexed channel on that connection. Errors that libp2p raises
 * (and the events it rejects with, which are not always Errors) are turned into these coded errors
 * by `toTransportError` so callers switch on `code`, never on a libp2p class name.
 */
import { LifeboatError } from '../protocol/errors.js'

export const TransportErrorCode = {
  /** An option passed to a transport factory or helper is out of its documented range. */
  INVALID_OPTION: 'TRANSPORT_INVALID_OPTION',
  /** The identity key file is readable or writable by others than its owner. */
  IDENTITY_PERMISSIONS: 'TRANSPORT_IDENTITY_PERMISSIONS',
  /** The identity key file exists but does not hold a valid Ed25519 private key. */
  IDENTITY_CORRUPT: 'TRANSPORT_IDENTITY_CORRUPT',
  /** The identity key file could not be read, created or written. */
  IDENTITY_IO: 'TRANSPORT_IDENTITY_IO',
  /** The peer has no open connection any more (it went away, or never connected). */
  PEER_GONE: 'TRANSPORT_PEER_GONE',
  /** Dialling a peer failed (refused, unreachable, wrong peer id, timed out). */
  DIAL_FAILED: 'TRANSPORT_DIAL_FAILED',
  /** The peer does not speak the requested protocol. */
  PROTOCOL_UNSUPPORTED: 'TRANSPORT_PROTOCOL_UNSUPPORTED',
  /** The stream was reset or aborted, by the peer or locally, before the operation finished. */
  STREAM_RESET: 'TRANSPORT_STREAM_RESET',
  /** The stream's writable end is closed: nothing more can be sent on it. */
  STREAM_CLOSED: 'TRANSPORT_STREAM_CLOSED',
  /** No progress for longer than the idle timeout (a stalled frame, a write that never drains). */
  TIMEOUT: 'TRANSPORT_TIMEOUT',
  /** A length prefix announces a message larger than the configured maximum. */
  FRAME_TOO_LARGE: 'TRANSPORT_FRAME_TOO_LARGE',
  /** The stream ended in the middle of a length-prefixed message. */
  FRAME_TRUNCATED: 'TRANSPORT_FRAME_TRUNCATED',
  /** The caller's AbortSignal fired. */
  ABORTED: 'TRANSPORT_ABORTED',
} as const

export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode]

export interface TransportErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class TransportError extends LifeboatError {
  declare readonly code: TransportErrorCode

  constructor(code: TransportErrorCode, message: string, init: TransportErrorInit) {
    super(code, message, init)
    this.name = 'TransportError'
  }
}

const PEER_GONE_NAMES = new Set([
  'ConnectionClosedError',
  'ConnectionClosingError',
  'MuxerClosedError',
  'NoValidAddressesError',
  'ConnectionFailedError',
])
const RESET_NAMES = new Set([
  'StreamResetError',
  'StreamAbortedError',
  'StreamBufferError',
  'StreamClosedError',
])

/**
 * Turns whatever libp2p threw or rejected with into a TransportError. libp2p sometimes rejects with
 * an Event (a StreamResetEvent from `stream.close()`, pitfall 10) rather than an Error: its `error`
 * property, when present, is unwrapped first.
 */
export function toTransportError(value: unknown, context: string): TransportError {
  if (value instanceof TransportError) return value
  const inner = unwrapEvent(value)
  if (inner instanceof TransportError) return inner
  const name = inner instanceof Error ? inner.name : typeof inner
  const detail = inner instanceof Error ? inner.message : String(inner)
  if (PEER_GONE_NAMES.has(name)) {
    return new TransportError(TransportErrorCode.PEER_GONE, `${context}: the peer is gone (${name})`, {
      remediation: 'The peer disconnected; it redials on its own. Retry once it is connected again.',
      retryable: true,
      cause: inner,
    })
  }
  if (name === 'UnsupportedProtocolError') {
    return new TransportError(
      TransportErrorCode.PROTOCOL_UNSUPPORTED,
      `${context}: the peer does not support this protocol`,
      {
        remediation: 'Upgrade the peer to a Lifeboat version that speaks this protocol.',
        cause: inner,
      },
    )
  }
  if (name === 'AbortError' || name === 'TimeoutError') {
    return new TransportError(TransportErrorCode.ABORTED, `${context}: aborted (${detail})`, {
      remediation: 'The operation was cancelled or ran out of time; retry it.',
      retryable: true,
      cause: inner,
    })
  }
  if (RESET_NAMES.has(name) || isCloseEvent(value)) {
    return new TransportError(
      TransportErrorCode.STREAM_RESET,
      `${context}: the stream was reset (${detail})`,
      {
        remediation: 'The peer or this node abandoned the stream; retry the operation on a new stream.',
        retryable: true,
        cause: inner,
      },
    )
  }
  if (name === 'StreamStateError') {
    return new TransportError(TransportErrorCode.STREAM_CLOSED, `${context}: ${detail}`, {
      remediation: 'The stream is already closed for writing; open a new stream.',
      retryable: true,
      cause: inner,
    })
  }
  return new TransportError(TransportErrorCode.STREAM_RESET, `${context}: ${name}: ${detail}`, {
    remediation: 'The link failed; retry the operation. Persistent failures: check the peer and its log.',
    retryable: true,
    cause: inner,
  })
}

function isCloseEvent(value: unknown): value is Event & { error?: unknown } {
  return typeof Event !== 'undefined' && value instanceof Event
}

function unwrapEvent(value: unknown): unknown {
  if (isCloseEvent(value) && value.error !== undefined) return value.error
  return value
}

/** The error to throw when a caller's signal fires: its reason when coded, else TRANSPORT_ABORTED. */
export function abortedError(signal: AbortSignal, context: string): TransportError {
  const reason: unknown = signal.reason
  if (reason instanceof TransportError) return reason
  return new TransportError(TransportErrorCode.ABORTED, `${context}: aborted`, {
    remediation: 'The operation was cancelled; retry it if it is still wanted.',
    retryable: true,
    cause: reason,
  })
}

/** Checks one numeric option at the boundary; `name` is the option as the caller spelled it. */
export function checkIntegerOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TransportError(
      TransportErrorCode.INVALID_OPTION,
      `${name} must be an integer in [${min}, ${max}], got ${value}`,
      { remediation: `Pass ${name} within [${min}, ${max}] or leave it unset for the default.` },
    )
  }
  return value
}
