/**
 * Version negotiation (docs/PROTOCOL.md §5). Each side's first frame on a stream is a HELLO; the
 * *negotiated version* is the common major with the lower of the two minors, and each side then
 * sends only what that minor defines. Different majors do not interoperate: the receiver answers
 * with an ERROR naming both versions and closes.
 */
import type { Envelope } from './codec.js'
import type { ErrorMessage, Hello, NodeRole } from './common-messages.js'
import { errorFromFrame } from './error-frames.js'
import { MessageType } from './message-types.js'
import { HelloExpectedError, UnexpectedRoleError, VersionMismatchError } from './protocol-errors.js'
import { formatVersion, type ProtocolVersion } from './protocol-ids.js'

export interface CheckHelloOptions {
  /** Roles allowed to send this hello on this stream; any role when absent. */
  roles?: readonly NodeRole[]
}

/**
 * Checks a peer's validated HELLO against the version this side speaks and returns the negotiated
 * version. Throws VersionMismatchError (majors differ) or UnexpectedRoleError; both are fatal.
 */
export function checkHello(
  hello: Hello,
  supported: ProtocolVersion,
  options: CheckHelloOptions = {},
): ProtocolVersion {
  if (hello.protocol.major !== supported.major) {
    throw new VersionMismatchError(formatVersion(supported), formatVersion(hello.protocol))
  }
  if (options.roles !== undefined && !options.roles.includes(hello.role)) {
    throw new UnexpectedRoleError(hello.role, options.roles)
  }
  return { major: supported.major, minor: Math.min(supported.minor, hello.protocol.minor) }
}

/**
 * The first message of a stream as a HELLO. An ERROR there means the peer refused the stream and
 * is thrown as a RemoteError with the peer's code; anything else is HelloExpectedError.
 */
export function expectHello(message: { t: number }): Hello {
  if (message.t === MessageType.HELLO) return message as Hello
  if (message.t === MessageType.ERROR) throw errorFromFrame(message as ErrorMessage)
  throw new HelloExpectedError(message.t)
}

/**
 * Run by decoders before validation: a HELLO of another major may have other fields, so its
 * `protocol` is read first, and a different major is reported as such rather than as an invalid
 * hello. Nothing happens when `protocol` is not a plausible version: validation then names it.
 */
export function checkHelloMajor(envelope: Envelope, supported: ProtocolVersion): void {
  if (envelope.t !== MessageType.HELLO) return
  const version = envelope.protocol as Partial<Record<string, unknown>> | undefined
  if (typeof version !== 'object' || version === null) return
  const { major, minor } = version
  if (!Number.isSafeInteger(major) || !Number.isSafeInteger(minor)) return
  if (major !== supported.major) {
    throw new VersionMismatchError(formatVersion(supported), `${major}.${minor}`)
  }
}
