/**
 * Errors of the dispatcher. `DISPATCH_NO_ELIGIBLE_NODE` says why a queued job waits (which filter
 * removed which nodes); the ack and lease codes are the reasons recorded when an offer or a lease
 * runs out; `DISPATCH_OFFER_FAILED` when a JOB_OFFER could not be sent. All but the option error are
 * retryable: the job stays in, or returns to, the queue. docs/ERRORS.md "Scheduling and dispatch".
 */
import { LifeboatError } from '../../protocol/errors.js'

export const DispatchErrorCode = {
  /** An option of the dispatcher or of node selection is out of range (the message names it). */
  INVALID_OPTION: 'DISPATCH_INVALID_OPTION',
  /** No node can take the job now: none enrolled, or every one offline, stale, overloaded or excluded. */
  NO_ELIGIBLE_NODE: 'DISPATCH_NO_ELIGIBLE_NODE',
  /** Sending the JOB_OFFER to the chosen node failed (its link dropped): the job went back to the queue. */
  OFFER_FAILED: 'DISPATCH_OFFER_FAILED',
  /** The node did not answer the JOB_OFFER within the ack deadline: the job is offered to another node. */
  ACK_TIMEOUT: 'DISPATCH_ACK_TIMEOUT',
  /** A running job's lease was not renewed within its TTL: the job is retried elsewhere. */
  LEASE_EXPIRED: 'DISPATCH_LEASE_EXPIRED',
} as const

export type DispatchErrorCode = (typeof DispatchErrorCode)[keyof typeof DispatchErrorCode]

export interface DispatchErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class DispatchError extends LifeboatError {
  declare readonly code: DispatchErrorCode

  constructor(code: DispatchErrorCode, message: string, init: DispatchErrorInit) {
    super(code, message, init)
    this.name = 'DispatchError'
  }
}

/** Checks one numeric option against its range (integers unless `integer` is false) and returns it. */
export function checkDispatchOption(
  name: string,
  value: number,
  min: number,
  max: number,
  integer = true,
): number {
  const ok = integer ? Number.isSafeInteger(value) : Number.isFinite(value)
  if (!ok || value < min || value > max) {
    throw new DispatchError(
      DispatchErrorCode.INVALID_OPTION,
      `${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${String(value)}`,
      { remediation: `Fix ${name}; docs/LIMITS.md "Scheduling and dispatch" gives its range and default.` },
    )
  }
  return value
}

/** The node did not answer a JOB_OFFER within the ack deadline. */
export function ackTimeoutError(nodeId: string, jobId: string, ackDeadlineMs: number): DispatchError {
  return new DispatchError(
    DispatchErrorCode.ACK_TIMEOUT,
    `node ${nodeId} did not acknowledge job ${jobId} within ${ackDeadlineMs / 1000} s`,
    {
      remediation: 'Nothing: the job is offered to another node. If it recurs, check the node is responsive.',
      retryable: true,
    },
  )
}

/** A running job's lease ran out; `requeued` false when the job had no attempt left. */
export function leaseExpiredError(nodeId: string, jobId: string, requeued: boolean): DispatchError {
  return new DispatchError(
    DispatchErrorCode.LEASE_EXPIRED,
    `node ${nodeId} stopped renewing its lease on job ${jobId}`,
    {
      remediation: requeued
        ? 'Nothing: the job is retried. If it recurs, check the node did not crash or lose its connection.'
        : 'The job has no attempt left: check the node, then start the job again.',
      retryable: requeued,
    },
  )
}
