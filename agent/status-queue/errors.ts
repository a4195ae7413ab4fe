/**
 * Errors of the node's status queue and its replayer (agent/status-queue/). Every code is listed in
 * docs/ERRORS.md "Status queue (`AGENT_STATUS_*`)". A corrupt record is never thrown out of a read:
 * it is moved aside (quarantined) and reported with AGENT_STATUS_RECORD_CORRUPT through the queue's
 * `onQuarantine` hook, so one bad record cannot stop a node from reporting the rest.
 */
import { LifeboatError } from '../../protocol/errors.js'

export const StatusQueueErrorCode = {
  /** An option of the queue or the replayer is out of range. */
  INVALID_OPTION: 'AGENT_STATUS_INVALID_OPTION',
  /** The update handed to append is not a valid status update (the message names the field). */
  INVALID_UPDATE: 'AGENT_STATUS_INVALID_UPDATE',
  /** acknowledge() named a seq the queue never assigned. */
  INVALID_ACK: 'AGENT_STATUS_INVALID_ACK',
  /** A stored record did not decode as the status update its key names; it was quarantined. */
  RECORD_CORRUPT: 'AGENT_STATUS_RECORD_CORRUPT',
  /** The queue is at its bound and holds only updates that may not be dropped (RESULT, JOB_HANDBACK). */
  QUEUE_FULL: 'AGENT_STATUS_QUEUE_FULL',
  /** Another process (or another queue in this one) has the queue's directory open. */
  QUEUE_LOCKED: 'AGENT_STATUS_QUEUE_LOCKED',
  /** The queue's database could not be opened, read or written. */
  QUEUE_IO: 'AGENT_STATUS_QUEUE_IO',
  /** The queue was used before open() or after close(). */
  QUEUE_CLOSED: 'AGENT_STATUS_QUEUE_CLOSED',
  /** The coordinator answered a replay batch with an acknowledgement that covers none of it. */
  REPLAY_STALLED: 'AGENT_STATUS_REPLAY_STALLED',
  /** The replay was stopped (the agent is stopping, or the session closed) before the queue was empty. */
  REPLAY_STOPPED: 'AGENT_STATUS_REPLAY_STOPPED',
} as const

export type StatusQueueErrorCode = (typeof StatusQueueErrorCode)[keyof typeof StatusQueueErrorCode]

export interface StatusQueueErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class StatusQueueError extends LifeboatError {
  declare readonly code: StatusQueueErrorCode

  constructor(code: StatusQueueErrorCode, message: string, init: StatusQueueErrorInit) {
    super(code, message, init)
    this.name = 'StatusQueueError'
  }
}

export function invalidOption(name: string, detail: string): StatusQueueError {
  return new StatusQueueError(StatusQueueErrorCode.INVALID_OPTION, `${name} ${detail}`, {
    remediation: `Fix ${name}; docs/LIMITS.md "Status queue" lists its range.`,
  })
}

export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(name, `must be an integer in [${min}, ${max}], got ${String(value)}`)
  }
  return value
}

export function closed(location: string): StatusQueueError {
  return new StatusQueueError(
    StatusQueueErrorCode.QUEUE_CLOSED,
    `the status queue at ${location} is not open`,
    {
      remediation: 'Open the queue before use; this is a bug in the agent if it happens while it runs.',
    },
  )
}

export function ioError(action: string, location: string, error: unknown): StatusQueueError {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause
  if (cause?.code === 'LEVEL_LOCKED') {
    return new StatusQueueError(
      StatusQueueErrorCode.QUEUE_LOCKED,
      `the status queue at ${location} is open in another process`,
      {
        remediation: 'Stop the other agent using this data directory, or give this one its own.',
        retryable: true,
        cause: error,
      },
    )
  }
  const detail = String(cause?.message ?? (error as Error | null)?.message ?? error)
  return new StatusQueueError(
    StatusQueueErrorCode.QUEUE_IO,
    `the status queue at ${location} could not ${action}: ${detail}`,
    {
      remediation: 'Check that the data directory is writable, has free space, and is on a healthy disk.',
      retryable: true,
      cause: error,
    },
  )
}
