/**
 * renewLease — the lease holder says it is still working: its lease is extended by its TTL.
 *
 * Inputs: tenant id, job id, the holder's lease id, `now`.
 * Preconditions, in this order (nothing is written when one fails):
 *   1. the input is well formed (STORE_INVALID_ID, STORE_INVALID_ARGUMENT);
 *   2. the job exists (JOB_NOT_FOUND);
 *   3. the lease id is the job's current lease (JOB_LEASE_LOST: another node has the job, or it ended);
 *   4. the job is running (JOB_STATE_CONFLICT: an offer is acknowledged, not renewed);
 *   5. the lease has not expired: now < expiresAt (JOB_LEASE_LOST; the sweeper takes the job back).
 * Effects: one batch: lease.expiresAt = max(expiresAt, now + ttlMs); the lease-expiry entry moves.
 *
 * Nodes renew at half the TTL (LEASE_RENEW_AFTER_MS), so a lost renewal leaves time for the next.
 * The backends may commit renewals without waiting for fsync: a renewal lost in a power cut can only
 * make the lease look older after the restart, and a job then taken back is re-offered with a higher
 * fencing token, so the old holder cannot write (docs/STORE.md "Writes and atomicity").
 */
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import type { Job } from './job.js'
import { checkLeaseHolder, readJob } from './job-rules.js'
import type { JobTransaction } from './job-transaction.js'

export async function renewLease(
  tx: JobTransaction,
  tenantId: string,
  jobId: string,
  leaseId: string,
  now: Timestamp,
): Promise<Job> {
  input.checkId('tenant', tenantId)
  input.checkId('job', jobId)
  input.checkId('lease', leaseId)
  input.checkTime('now', now)

  const job = await readJob(tx, tenantId, jobId)
  const lease = checkLeaseHolder(job, leaseId, now)
  const renewed: Job = {
    ...job,
    lease: { ...lease, expiresAt: Math.max(lease.expiresAt, now + lease.ttlMs) },
    updatedAt: now,
  }
  tx.putJob(renewed, job)
  return renewed
}
