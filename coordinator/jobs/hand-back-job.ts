/**
 * handBackJob — the lease holder gives a running job back (it is overloaded, or shutting down): the
 * job returns to the queue at once, and the attempt does not count.
 *
 * Inputs: tenant id, job id, the holder's lease id, `now`, options: excludeNode.
 * Preconditions, in this order (nothing is written when one fails):
 *   1. the input is well formed (STORE_INVALID_ID, STORE_INVALID_ARGUMENT);
 *   2. the job exists (JOB_NOT_FOUND);
 *   3. the caller holds the lease: current (JOB_LEASE_LOST), running (JOB_STATE_CONFLICT), unexpired
 *      (JOB_LEASE_LOST).
 * Effects: one batch: the job becomes `queued`, due now, attempt − 1, the lease kept as lastLease;
 * its lease-expiry and node entries make way for queue entries. The node is added to excludedNodes
 * only with `excludeNode` (an overloaded node should not get the job straight back, but a node
 * shutting down for an upgrade may be the only one of its site).
 */
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import type { Job, ReturnOptions } from './job.js'
import { withExcluded } from './job-input.js'
import { checkLeaseHolder, readJob, requeued } from './job-rules.js'
import type { JobTransaction } from './job-transaction.js'

export async function handBackJob(
  tx: JobTransaction,
  tenantId: string,
  jobId: string,
  leaseId: string,
  now: Timestamp,
  options: ReturnOptions = {},
): Promise<Job> {
  input.checkId('tenant', tenantId)
  input.checkId('job', jobId)
  input.checkId('lease', leaseId)
  input.checkTime('now', now)

  const job = await readJob(tx, tenantId, jobId)
  const lease = checkLeaseHolder(job, leaseId, now)
  const back = requeued(job, now, now, true)
  const next =
    options.excludeNode === true ? { ...back, excludedNodes: withExcluded(job, lease.nodeId) } : back
  tx.putJob(next, job)
  return next
}
