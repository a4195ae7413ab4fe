/**
 * Errors of the control link on the agent's side: enrolment, the enrolment file in the node's data
 * directory, and the control client. The *enrolment file* records that this node enrolled: its
 * node record as the coordinator accepted it, and which coordinator accepted it.
 *
 * Refusals by the coordinator are not raised here: they arrive as ERROR frames and are thrown as
 * the RemoteError they carry, with the coordinator's own code (ENROL_*, CONTROL_*, PROTOCOL_*).
 * Every code is listed in docs/ERRORS.md "Control link"; codes shared with coordinator/control/
 * (CONTROL_INVALID_OPTION, CONTROL_ROLE_MISMATCH) mean the same thing on both sides.
 */
import { LifeboatError } from '../../protocol/index.js'

export const AgentControlErrorCode = {
  /** An option of the control client, the enrolment or an agent start is out of range. */
  INVALID_OPTION: 'CONTROL_INVALID_OPTION',
  /** The node is not enrolled and no enrolment token was given. */
  ENROLMENT_REQUIRED: 'CONTROL_ENROLMENT_REQUIRED',
  /** The enrolment file exists but is not a valid enrolment record. */
  ENROLMENT_CORRUPT: 'CONTROL_ENROLMENT_CORRUPT',
  /** The enrolment file could not be read or written. */
  ENROLMENT_IO: 'CONTROL_ENROLMENT_IO',
  /** The node enrolled with another coordinator than the one it was told to connect to. */
  COORDINATOR_MISMATCH: 'CONTROL_COORDINATOR_MISMATCH',
  /** The node enrolled with another role than the one it was started with. */
  ROLE_MISMATCH: 'CONTROL_ROLE_MISMATCH',
  /** The coordinator closed the enrolment stream without answering, or answered out of turn. */
  NO_ANSWER: 'CONTROL_NO_ANSWER',
} as const

export type AgentControlErrorCode = (typeof AgentControlErrorCode)[keyof typeof AgentControlErrorCode]

export interface AgentControlErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class AgentControlError extends LifeboatError {
  declare readonly code: AgentControlErrorCode

  constructor(code: AgentControlErrorCode, message: string, init: AgentControlErrorInit) {
    super(code, message, init)
    this.name = 'AgentControlError'
  }
}

export function invalidOption(name: string, detail: string): AgentControlError {
  return new AgentControlError(AgentControlErrorCode.INVALID_OPTION, `${name} ${detail}`, {
    remediation: `Fix ${name}; docs/CONTROL.md lists every option with its range and default.`,
  })
}

export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(name, `must be an integer in [${min}, ${max}], got ${String(value)}`)
  }
  return value
}
