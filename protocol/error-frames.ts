/**
 * ERROR frames (docs/PROTOCOL.md §6): building one from anything thrown, and turning a received one
 * back into an error. A *remote error* is an error the peer reported: it keeps the peer's code,
 * message, remediation and retryable flag, so a refusal by the coordinator (a lost lease, a fenced
 * volume) reaches the job log exactly as the coordinator worded it.
 */
import type { ErrorMessage } from './common-messages.js'
import { LifeboatError, toErrorBody } from './errors.js'
import { MAX_ERROR_CODE_LENGTH, MAX_TEXT_LENGTH } from './limits.js'
import { MessageType } from './message-types.js'
import type { FrameRef } from './protocol-errors.js'
import { ERROR_CODE_PATTERN } from './schema-types.js'

const codePattern = new RegExp(ERROR_CODE_PATTERN)

export class RemoteError extends LifeboatError {
  /** `t` of our frame the peer's error answers, when it said. */
  readonly reType?: number
  /** `rid` or `seq` of our frame the peer's error answers, when it said. */
  readonly reId?: number

  constructor(frame: ErrorMessage) {
    super(frame.code, frame.message, { remediation: frame.remediation, retryable: frame.retryable })
    this.name = 'RemoteError'
    if (frame.reType !== undefined) this.reType = frame.reType
    if (frame.reId !== undefined) this.reId = frame.reId
  }
}

/**
 * The ERROR message for anything thrown: a ProtocolError, any coded error (LifeboatError,
 * BlockioError) or a bare exception (as INTERNAL). Texts are cut to the wire's bounds and a code
 * the wire cannot carry becomes INTERNAL, so the result always encodes. `ref` names the frame it
 * answers; without it, a ProtocolError's own reType / reId are used.
 */
export function errorFrameFor(error: unknown, ref?: FrameRef): ErrorMessage {
  const body = toErrorBody(error)
  const validCode = body.code.length <= MAX_ERROR_CODE_LENGTH && codePattern.test(body.code)
  const frame: ErrorMessage = {
    t: MessageType.ERROR,
    code: validCode ? body.code : 'INTERNAL',
    message: clip(validCode ? body.message : `${body.code}: ${body.message}`),
    remediation: clip(body.remediation),
    retryable: body.retryable,
  }
  const own = error as Partial<FrameRef> | null
  const reType = ref?.reType ?? (typeof own === 'object' && own !== null ? own.reType : undefined)
  const reId = ref?.reId ?? (typeof own === 'object' && own !== null ? own.reId : undefined)
  if (isByte(reType)) frame.reType = reType
  if (isUint(reId)) frame.reId = reId
  return frame
}

/** The error a received ERROR frame reports. */
export function errorFromFrame(frame: ErrorMessage): RemoteError {
  return new RemoteError(frame)
}

function clip(text: string): string {
  return text.length <= MAX_TEXT_LENGTH ? text : `${text.slice(0, MAX_TEXT_LENGTH - 1)}…`
}

function isByte(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 255
}

function isUint(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}
