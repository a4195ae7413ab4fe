/**
 * The one error shape that crosses process boundaries: job logs, API error bodies and protocol error
 * frames all carry `{ code, message, remediation, retryable }` (DESIGN.md "Errors").
 *
 * `code` is stable: once released, a code keeps its meaning forever. Every code is listed with its
 * meaning in docs/ERRORS.md. Part-specific codes (PROTOCOL_*, TRANSPORT_*, COORD_*, AGENT_*) are
 * declared next to the part that raises them and registered here so the table stays in one place.
 */

export interface ErrorBody {
  code: string
  message: string
  remediation: string
  retryable: boolean
}

export interface LifeboatErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class LifeboatError extends Error implements ErrorBody {
  readonly code: string
  readonly remediation: string
  readonly retryable: boolean

  constructor(code: string, message: string, init: LifeboatErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'LifeboatError'
    this.code = code
    this.remediation = init.remediation
    this.retryable = init.retryable ?? false
  }

  toBody(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      remediation: this.remediation,
      retryable: this.retryable,
    }
  }
}

/** True for anything shaped like an ErrorBody (a LifeboatError, a BlockioError, a decoded frame). */
export function isCodedError(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v.code === 'string' && typeof v.message === 'string' && typeof v.remediation === 'string'
}

/** Turns anything thrown into an ErrorBody, keeping codes of coded errors and wrapping the rest. */
export function toErrorBody(value: unknown): ErrorBody {
  if (isCodedError(value)) {
    return {
      code: value.code,
      message: value.message,
      remediation: value.remediation,
      retryable: (value as { retryable?: unknown }).retryable === true,
    }
  }
  const message = value instanceof Error ? value.message : String(value)
  return {
    code: 'INTERNAL',
    message,
    remediation: 'This is a bug in Lifeboat: report it with the log lines around this error.',
    retryable: false,
  }
}
