/**
 * cancelJob — an operator (or the orchestrator) calls a job off.
 *
 * Inputs: tenant id, job id, `now`.
 * Preconditions, in this order (nothing is written when one fails):
 *   1. the input is well formed (STORE_INVALID_ID, STORE_INVALID_ARGUMENT);
 *   2. the job exists (JOB_NOT_FOUND);
 *   3. it is active (queued, offered or running); an already cancelled job is returned unchanged,
 *      a succeeded or failed one is JOB_STATE_CONFLICT.
 * Effects: one batch: the job becomes `cancelled`, finishedAt = now, its offer and lease dropped
 * (kept as lastLease) so that the node's next renewal or result gets JOB_LEASE_LOST and it stops; all
 * its queue, offer, lease and node entries go, and a replication cycle frees its VM.
 */
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import { stateConflict } from './errors.js'
import { isActiveState, type Job } from './job.js'
import { finished, readJob } from './job-rules.js'
import type { JobTransaction } from './job-transaction.js'

export async function cancelJob(
  tx: JobTransaction,
  tenantId: string,
  jobId: string,
  now: Timestamp,
): Promise<Job> {
  input.checkId('tenant', tenantId)
  input.checkId('job', jobId)
  input.checkTime('now', now)

  const job = await readJob(tx, tenantId, jobId)
  if (job.state === 'cancelled') return job
  if (!isActiveState(job.state)) throw stateConflict(jobId, job.state, 'queued, offered or running')
  const next = finished(job, 'cancelled', now)
  tx.putJob(next, job)
  return next
}
