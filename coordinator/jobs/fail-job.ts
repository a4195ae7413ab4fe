/**
 * failJob — the lease holder reports failure: the job is retried after a backoff, or fails.
 *
 * Inputs: tenant id, job id, the holder's lease id, `now`, the error body (code, message,
 * remediation, retryable).
 * Preconditions, in this order (nothing is written when one fails):
 *   1. the input is well formed (STORE_INVALID_ID, STORE_INVALID_ARGUMENT);
 *   2. the job exists (JOB_NOT_FOUND);
 *   3. a replay — the job already failed under this very lease — returns it unchanged;
 *   4. otherwise the caller holds the lease: current (JOB_LEASE_LOST), running (JOB_STATE_CONFLICT),
 *      unexpired (JOB_LEASE_LOST).
 * Effects: one batch, the error stored on the job and the lease kept as lastLease:
 *   - retryable error and attempt < maxAttempts: the job becomes `queued`, due at
 *     now + backoffDelay(attempt) (the attempt counts);
 *   - otherwise: the job becomes `failed`, finishedAt = now, and a replication cycle frees its VM.
 * Its index entries move with it.
 */
import type { ErrorBody } from '../../protocol/errors.js'
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import type { Job } from './job.js'
import { backoffDelay } from './job-defaults.js'
import { checkErrorBody } from './job-input.js'
import { checkLeaseHolder, finished, readJob, requeued } from './job-rules.js'
import type { JobTransaction } from './job-transaction.js'

export async function failJob(
  tx: JobTransaction,
  tenantId: string,
  jobId: string,
  leaseId: string,
  now: Timestamp,
  error: ErrorBody,
): Promise<Job> {
  input.checkId('tenant', tenantId)
  input.checkId('job', jobId)
  input.checkId('lease', leaseId)
  input.checkTime('now', now)
  const body = checkErrorBody(error)

  const job = await readJob(tx, tenantId, jobId)
  if (job.state === 'failed' && job.lastLease?.id === leaseId) return job
  checkLeaseHolder(job, leaseId, now)

  const retry = body.retryable && job.attempt < job.maxAttempts
  const next: Job = retry
    ? { ...requeued(job, now, now + backoffDelay(job.attempt), false), error: body }
    : { ...finished(job, 'failed', now), error: body }
  tx.putJob(next, job)
  return next
}
