/**
 * Errors of the job queue and its leases (`JOB_*`), raised by the job-state changes in this folder
 * and by the store methods that run them. Every code is listed in docs/ERRORS.md ("Jobs and
 * leases").
 *
 * A *stale call* is a change that names a job, a lease or a state that is no longer current: a
 * node renewing a lease that was taken from it, an acknowledgement after the offer lapsed, a result
 * for a job that was cancelled. A stale call is refused with one of these codes and changes
 * nothing, so the caller can answer the node with the error and move on.
 */
import { LifeboatError } from '../../protocol/errors.js'

export const JobErrorCode = {
  /** No job with this id in the tenant named. */
  NOT_FOUND: 'JOB_NOT_FOUND',
  /** The job is not in a state the change applies to (offering a running job, renewing before ack). */
  STATE_CONFLICT: 'JOB_STATE_CONFLICT',
  /** The caller's lease is not the job's current lease, or it has expired: stop working on the job. */
  LEASE_LOST: 'JOB_LEASE_LOST',
  /** Recorded on a job (never thrown) whose running lease expired without renewal. */
  LEASE_EXPIRED: 'JOB_LEASE_EXPIRED',
  /** An acknowledgement arrived at or after the offer's deadline. */
  OFFER_EXPIRED: 'JOB_OFFER_EXPIRED',
  /** The job's notBefore (retry backoff) is still in the future. */
  NOT_DUE: 'JOB_NOT_DUE',
  /** The node may not run the job: unknown, another tenant, another site, or another role. */
  NODE_INELIGIBLE: 'JOB_NODE_INELIGIBLE',
  /** The node timed out on this job before; it is offered to it again only when no other can take it. */
  NODE_EXCLUDED: 'JOB_NODE_EXCLUDED',
  /** The job's log holds MAX_JOB_LOG_ENTRIES entries. */
  LOG_FULL: 'JOB_LOG_FULL',
} as const

export type JobErrorCode = (typeof JobErrorCode)[keyof typeof JobErrorCode]

export interface JobErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class JobError extends LifeboatError {
  declare readonly code: JobErrorCode

  constructor(code: JobErrorCode, message: string, init: JobErrorInit) {
    super(code, message, init)
    this.name = 'JobError'
  }
}

export function jobNotFound(tenantId: string, jobId: string): JobError {
  return new JobError(JobErrorCode.NOT_FOUND, `no job ${jobId} in tenant ${tenantId}`, {
    remediation: 'Check the job id; list the tenant’s jobs to see which exist.',
  })
}

export function stateConflict(jobId: string, state: string, expected: string): JobError {
  return new JobError(JobErrorCode.STATE_CONFLICT, `job ${jobId} is ${state}, not ${expected}`, {
    remediation:
      'The job moved on since the caller last looked (another change came first): read it again and act on its current state.',
  })
}

export function leaseLost(jobId: string, why: string): JobError {
  return new JobError(JobErrorCode.LEASE_LOST, `the lease on job ${jobId} is lost: ${why}`, {
    remediation:
      'Stop working on the job: it was or will be given to another node, whose fencing token the connector prefers.',
  })
}

export function offerExpired(jobId: string, deadline: number): JobError {
  return new JobError(
    JobErrorCode.OFFER_EXPIRED,
    `the offer of job ${jobId} lapsed at ${new Date(deadline).toISOString()}`,
    {
      remediation:
        'Do not start the job: it goes back to the queue for another node. Check the node answers offers within the ack deadline.',
    },
  )
}

export function notDue(jobId: string, notBefore: number): JobError {
  return new JobError(
    JobErrorCode.NOT_DUE,
    `job ${jobId} may not be offered before ${new Date(notBefore).toISOString()}`,
    {
      remediation:
        'Offer the job once its notBefore has passed (nextQueuedJobs returns only jobs that are due).',
      retryable: true,
    },
  )
}

export function nodeIneligible(jobId: string, nodeId: string, why: string): JobError {
  return new JobError(JobErrorCode.NODE_INELIGIBLE, `node ${nodeId} may not run job ${jobId}: ${why}`, {
    remediation: 'Offer the job to an enrolled node of its tenant, in its site, with its role.',
  })
}

export function nodeExcluded(jobId: string, nodeId: string): JobError {
  return new JobError(
    JobErrorCode.NODE_EXCLUDED,
    `node ${nodeId} timed out on job ${jobId} before; offer it to another node`,
    {
      remediation:
        'Offer the job to another eligible node; pass allowExcludedNode only when no other node of its site and role is connected.',
      retryable: true,
    },
  )
}

export function logFull(jobId: string, max: number): JobError {
  return new JobError(JobErrorCode.LOG_FULL, `the log of job ${jobId} already holds ${max} entries`, {
    remediation: 'Log less per job (progress belongs in PROGRESS updates, not log entries).',
  })
}
