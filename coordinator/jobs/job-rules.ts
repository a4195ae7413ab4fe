/**
 * The rules several job-state changes share: finding the job, checking that a caller holds its
 * lease, and the shapes of a job going back to the queue or reaching a final state. Pure functions
 * over records; the changes that use them write the results.
 *
 * A *lease holder* is the node whose lease id matches the job's current lease while that lease has
 * not expired (`now < expiresAt`). A lease id that is not the current one — the job was taken from
 * the node, or finished — is JOB_LEASE_LOST, whatever the job's state; a current lease on a job
 * that is not running (offered, not yet acknowledged) is JOB_STATE_CONFLICT.
 */
import type { ErrorBody } from '../../protocol/errors.js'
import type { Timestamp } from '../store/metadata-store.js'
import { JobErrorCode, jobNotFound, leaseLost, stateConflict } from './errors.js'
import type { Job, JobLease, JobState } from './job.js'
import type { JobTransaction } from './job-transaction.js'

export async function readJob(tx: JobTransaction, tenantId: string, jobId: string): Promise<Job> {
  const job = await tx.getJob(tenantId, jobId)
  if (job === undefined) throw jobNotFound(tenantId, jobId)
  return job
}

/** The job's lease if `leaseId` holds it and the job is running; throws otherwise. */
export function checkLeaseHolder(job: Job, leaseId: string, now: Timestamp): JobLease {
  const lease = job.lease
  if (lease === undefined || lease.id !== leaseId) {
    throw leaseLost(job.id, `lease ${leaseId} is not the job's current lease (the job is ${job.state})`)
  }
  if (job.state !== 'running') throw stateConflict(job.id, job.state, 'running')
  if (now >= lease.expiresAt) {
    throw leaseLost(job.id, `lease ${leaseId} expired at ${new Date(lease.expiresAt).toISOString()}`)
  }
  return lease
}

/** The job without its offer and lease fields; the lease, if any, kept as `lastLease`. */
function withoutLease(job: Job): Job {
  const { offeredTo: _offeredTo, ackDeadline: _ackDeadline, lease, ...rest } = job
  return lease === undefined ? rest : { ...rest, lastLease: lease }
}

/**
 * The job back in the queue, due at `notBefore`. `refund`: the attempt never really ran (declined,
 * not acknowledged, handed back), so it does not count.
 */
export function requeued(job: Job, now: Timestamp, notBefore: Timestamp, refund: boolean): Job {
  return {
    ...withoutLease(job),
    state: 'queued',
    attempt: refund ? Math.max(0, job.attempt - 1) : job.attempt,
    notBefore,
    queuedAt: now,
    updatedAt: now,
  }
}

/** The job in a final state at `now`. */
export function finished(
  job: Job,
  state: JobState & ('succeeded' | 'failed' | 'cancelled'),
  now: Timestamp,
): Job {
  return { ...withoutLease(job), state, updatedAt: now, finishedAt: now }
}

/** The reason recorded on a job whose running lease expired. */
export function leaseExpiredError(job: Job, lease: JobLease): ErrorBody {
  return {
    code: JobErrorCode.LEASE_EXPIRED,
    message: `node ${lease.nodeId} did not renew its lease on job ${job.id} (attempt ${job.attempt} of ${job.maxAttempts}) before ${new Date(lease.expiresAt).toISOString()}`,
    remediation:
      'Check that the node is running and connected, and that it renews leases at half their TTL; look at its log for this job.',
    retryable: true,
  }
}
