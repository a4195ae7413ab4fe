/**
 * completeJob — the lease holder reports success: the job is done.
 *
 * Inputs: tenant id, job id, the holder's lease id, `now`, the result summary (optional).
 * Preconditions, in this order (nothing is written when one fails):
 *   1. the input is well formed (STORE_INVALID_ID, STORE_INVALID_ARGUMENT);
 *   2. the job exists (JOB_NOT_FOUND);
 *   3. a replay — the job already succeeded under this very lease (a RESULT sent again after a
 *      reconnect) — returns the job unchanged, writing nothing;
 *   4. otherwise the caller holds the lease: current (JOB_LEASE_LOST), running (JOB_STATE_CONFLICT),
 *      unexpired (JOB_LEASE_LOST).
 * Effects: one batch: the job becomes `succeeded`, finishedAt = now, its result stored and the last
 * attempt's error cleared, the lease kept as lastLease; its lease-expiry, node and by-state entries
 * move, and a replication cycle frees its VM's active-cycle entry.
 */
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import type { Job, JobSummary } from './job.js'
import { checkSummary } from './job-input.js'
import { checkLeaseHolder, finished, readJob } from './job-rules.js'
import type { JobTransaction } from './job-transaction.js'

export async function completeJob(
  tx: JobTransaction,
  tenantId: string,
  jobId: string,
  leaseId: string,
  now: Timestamp,
  result?: JobSummary,
): Promise<Job> {
  input.checkId('tenant', tenantId)
  input.checkId('job', jobId)
  input.checkId('lease', leaseId)
  input.checkTime('now', now)
  const summary = result === undefined ? undefined : checkSummary(result)

  const job = await readJob(tx, tenantId, jobId)
  if (job.state === 'succeeded' && job.lastLease?.id === leaseId) return job
  checkLeaseHolder(job, leaseId, now)

  const { error: _error, ...done } = finished(job, 'succeeded', now)
  const next: Job = summary === undefined ? done : { ...done, result: summary }
  tx.putJob(next, job)
  return next
}
