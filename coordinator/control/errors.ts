/**
 * Errors of the control link on the coordinator's side: the control and enrolment listeners, node
 * sessions and the local admin endpoint. A *session* is the long-lived control stream a node opens
 * after connecting; the *admin endpoint* is the HTTP server on the coordinator's Unix socket.
 *
 * Codes that cross the wire (in ERROR frames) or the admin socket (in JSON error bodies) are
 * stable; every one is listed in docs/ERRORS.md "Control link". The agent's side raises its own
 * CONTROL_* codes (agent/control/errors.ts); the two sets never share a code with two meanings.
 */
import { LifeboatError } from '../../protocol/errors.js'

export const ControlErrorCode = {
  /** An option of the control server, the admin endpoint or a coordinator start is out of range. */
  INVALID_OPTION: 'CONTROL_INVALID_OPTION',
  /** A HELLO names a node id other than the peer id its connection proved. */
  NODE_ID_MISMATCH: 'CONTROL_NODE_ID_MISMATCH',
  /** The peer has no node record: it never enrolled, or its record was removed. */
  NOT_ENROLLED: 'CONTROL_NOT_ENROLLED',
  /** A node's HELLO claims a role other than the one it enrolled with. */
  ROLE_MISMATCH: 'CONTROL_ROLE_MISMATCH',
  /** A node's HELLO names a site other than the one it enrolled in. */
  SITE_MISMATCH: 'CONTROL_SITE_MISMATCH',
  /** A session stream stayed without a HELLO for too long. */
  HELLO_TIMEOUT: 'CONTROL_HELLO_TIMEOUT',
  /** A newer session of the same node took this one's place. */
  SESSION_REPLACED: 'CONTROL_SESSION_REPLACED',
  /** An enrolment conversation did not finish within the enrolment deadline. */
  ENROL_TIMEOUT: 'CONTROL_ENROL_TIMEOUT',
  /** The coordinator is stopping: the conversation was cut short. */
  STOPPING: 'CONTROL_STOPPING',
  /** A node id given to openStreamTo is not a peer id. */
  INVALID_NODE_ID: 'CONTROL_INVALID_NODE_ID',
  /** An admin request body is not JSON or does not match the request's schema. */
  ADMIN_BAD_REQUEST: 'CONTROL_ADMIN_BAD_REQUEST',
  /** An admin request body is larger than the endpoint accepts. */
  ADMIN_BODY_TOO_LARGE: 'CONTROL_ADMIN_BODY_TOO_LARGE',
  /** No admin route has this path. */
  ADMIN_NOT_FOUND: 'CONTROL_ADMIN_NOT_FOUND',
  /** The admin route exists but not for this HTTP method. */
  ADMIN_METHOD_NOT_ALLOWED: 'CONTROL_ADMIN_METHOD_NOT_ALLOWED',
  /** No coordinator answers on the admin socket (none runs on this data directory). */
  ADMIN_UNAVAILABLE: 'CONTROL_ADMIN_UNAVAILABLE',
  /** The admin endpoint answered something that is not a valid answer. */
  ADMIN_BAD_RESPONSE: 'CONTROL_ADMIN_BAD_RESPONSE',
} as const

export type ControlErrorCode = (typeof ControlErrorCode)[keyof typeof ControlErrorCode]

export interface ControlErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class ControlError extends LifeboatError {
  declare readonly code: ControlErrorCode

  constructor(code: ControlErrorCode, message: string, init: ControlErrorInit) {
    super(code, message, init)
    this.name = 'ControlError'
  }
}

/** An option checked at the boundary; `name` is the option as its caller spells it. */
export function invalidOption(name: string, detail: string): ControlError {
  return new ControlError(ControlErrorCode.INVALID_OPTION, `${name} ${detail}`, {
    remediation: `Fix ${name}; docs/CONTROL.md lists every option with its range and default.`,
  })
}

/** Checks one integer option against its range and returns it. */
export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(name, `must be an integer in [${min}, ${max}], got ${String(value)}`)
  }
  return value
}
