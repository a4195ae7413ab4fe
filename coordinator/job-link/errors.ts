/**
 * Errors of the coordinator's job link and of the adapters that feed the scheduler and the
 * dispatcher from the store (`COORD_JOB_*`). Every code is listed in docs/ERRORS.md "Job link".
 *
 * A *job stream* is the control stream the coordinator opens to a node for one offered job
 * (docs/PROTOCOL.md §4); the *job link* holds the coordinator's side of every such conversation.
 */
import { LifeboatError } from '../../protocol/errors.js'

export const JobLinkErrorCode = {
  /** The JOB_OFFER could not be delivered: no connection, no HELLO back, a refused stream. */
  OFFER_UNSENT: 'COORD_JOB_OFFER_UNSENT',
  /** A message on a job stream names another job or lease than the stream's offer. */
  WRONG_JOB: 'COORD_JOB_WRONG_JOB',
  /** A plan's job cannot be built: a job type not scheduled yet, or no connector to copy to. */
  UNSCHEDULABLE: 'COORD_JOB_UNSCHEDULABLE',
} as const

export type JobLinkErrorCode = (typeof JobLinkErrorCode)[keyof typeof JobLinkErrorCode]

export class JobLinkError extends LifeboatError {
  declare readonly code: JobLinkErrorCode

  constructor(
    code: JobLinkErrorCode,
    message: string,
    init: { remediation: string; retryable?: boolean; cause?: unknown },
  ) {
    super(code, message, init)
    this.name = 'JobLinkError'
  }
}

export function offerUnsent(nodeId: string, jobId: string, why: string, cause?: unknown): JobLinkError {
  return new JobLinkError(
    JobLinkErrorCode.OFFER_UNSENT,
    `could not offer job ${jobId} to node ${nodeId}: ${why}`,
    {
      remediation: 'Nothing: the job goes back to the queue for another node. Check the node is connected.',
      retryable: true,
      cause,
    },
  )
}

export function wrongJob(
  jobId: string,
  leaseId: string,
  got: { jobId: string; leaseId?: string },
): JobLinkError {
  return new JobLinkError(
    JobLinkErrorCode.WRONG_JOB,
    `this job stream carries job ${jobId} under lease ${leaseId}, not job ${got.jobId}${got.leaseId === undefined ? '' : ` under lease ${got.leaseId}`}`,
    { remediation: 'Send updates of a job on the job stream its offer came on, quoting its lease.' },
  )
}

export function unschedulable(planId: string, why: string): JobLinkError {
  return new JobLinkError(JobLinkErrorCode.UNSCHEDULABLE, `plan ${planId} cannot enqueue its job: ${why}`, {
    remediation:
      'Enrol a connector in the plan’s target site, check the plan’s VMs exist; a consistency check runs once its VM has a recovery point.',
    retryable: true,
  })
}
