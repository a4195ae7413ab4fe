/**
 * acknowledgeJob — the node offered a job accepts it: the job runs under the node's lease.
 *
 * Inputs: tenant id, job id, the node's id, the lease id of the offer, `now`, the lease TTL (the one
 * the offer announced when omitted).
 * Preconditions, in this order (nothing is written when one fails):
 *   1. the input is well formed (STORE_INVALID_ID, STORE_INVALID_ARGUMENT);
 *   2. the job exists (JOB_NOT_FOUND);
 *   3. its current lease is this lease id and was granted to this node (JOB_LEASE_LOST);
 *   4. it is offered (JOB_STATE_CONFLICT: e.g. already acknowledged);
 *   5. the offer has not lapsed: now < ackDeadline (JOB_OFFER_EXPIRED; the sweeper requeues it).
 * Effects: one batch: the job becomes `running`, its lease expiring at now + TTL and granted now,
 * startedAt = now, the offer fields dropped; its offer-deadline entry makes way for a lease-expiry
 * entry (the node's active-job entry stays).
 */
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import { leaseLost, offerExpired, stateConflict } from './errors.js'
import type { Job } from './job.js'
import { checkLeaseTtl } from './job-input.js'
import { readJob } from './job-rules.js'
import type { JobTransaction } from './job-transaction.js'

export async function acknowledgeJob(
  tx: JobTransaction,
  tenantId: string,
  jobId: string,
  nodeId: string,
  leaseId: string,
  now: Timestamp,
  leaseTtlMs?: number,
): Promise<Job> {
  input.checkId('tenant', tenantId)
  input.checkId('job', jobId)
  input.checkId('node', nodeId)
  input.checkId('lease', leaseId)
  input.checkTime('now', now)
  const requestedTtl = leaseTtlMs === undefined ? undefined : checkLeaseTtl(leaseTtlMs)

  const job = await readJob(tx, tenantId, jobId)
  const lease = job.lease
  if (lease === undefined || lease.id !== leaseId || lease.nodeId !== nodeId) {
    throw leaseLost(
      jobId,
      `lease ${leaseId} of node ${nodeId} is not the job's current lease (the job is ${job.state})`,
    )
  }
  if (job.state !== 'offered') throw stateConflict(jobId, job.state, 'offered')
  const deadline = job.ackDeadline ?? lease.expiresAt
  if (now >= deadline) throw offerExpired(jobId, deadline)

  const ttlMs = requestedTtl ?? lease.ttlMs
  const { offeredTo: _offeredTo, ackDeadline: _ackDeadline, ...rest } = job
  const running: Job = {
    ...rest,
    state: 'running',
    lease: { ...lease, ttlMs, expiresAt: now + ttlMs, grantedAt: now },
    startedAt: now,
    updatedAt: now,
  }
  tx.putJob(running, job)
  return running
}
