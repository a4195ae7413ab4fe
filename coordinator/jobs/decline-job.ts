/**
 * declineJob — the node offered a job says no (it is full, or shutting down): the job goes straight
 * back to the queue for any node, and the attempt does not count.
 *
 * Inputs: tenant id, job id, the node's id, the lease id of the offer, `now`, options: excludeNode.
 * Preconditions, in this order (nothing is written when one fails):
 *   1. the input is well formed (STORE_INVALID_ID, STORE_INVALID_ARGUMENT);
 *   2. the job exists (JOB_NOT_FOUND);
 *   3. its current lease is this lease id, granted to this node (JOB_LEASE_LOST);
 *   4. it is offered (JOB_STATE_CONFLICT).
 * Effects: one batch: the job becomes `queued`, due now, attempt − 1, the offer and lease dropped (the
 * lease kept as lastLease); its offer-deadline and node entries make way for queue entries. The node
 * is added to excludedNodes only with `excludeNode`: declining is an answer, not a timeout, but the
 * dispatcher may prefer not to ask the same node again at once. The dispatcher also uses this change
 * to take back an offer it could not deliver.
 */
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import { leaseLost, stateConflict } from './errors.js'
import type { Job, ReturnOptions } from './job.js'
import { withExcluded } from './job-input.js'
import { readJob, requeued } from './job-rules.js'
import type { JobTransaction } from './job-transaction.js'

export async function declineJob(
  tx: JobTransaction,
  tenantId: string,
  jobId: string,
  nodeId: string,
  leaseId: string,
  now: Timestamp,
  options: ReturnOptions = {},
): Promise<Job> {
  input.checkId('tenant', tenantId)
  input.checkId('job', jobId)
  input.checkId('node', nodeId)
  input.checkId('lease', leaseId)
  input.checkTime('now', now)

  const job = await readJob(tx, tenantId, jobId)
  const lease = job.lease
  if (lease === undefined || lease.id !== leaseId || lease.nodeId !== nodeId) {
    throw leaseLost(
      jobId,
      `lease ${leaseId} of node ${nodeId} is not the job's current lease (the job is ${job.state})`,
    )
  }
  if (job.state !== 'offered') throw stateConflict(jobId, job.state, 'offered')

  const back = requeued(job, now, now, true)
  const next = options.excludeNode === true ? { ...back, excludedNodes: withExcluded(job, nodeId) } : back
  tx.putJob(next, job)
  return next
}
