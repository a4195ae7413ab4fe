/**
 * expireLeases — the sweeper: takes back jobs whose node timed out.
 *
 * Inputs: `now`, the most jobs to handle (EXPIRE_BATCH_LIMIT by default).
 * Preconditions: none; with nothing lapsed or expired it writes nothing.
 * Effects: ONE batch for all the jobs it handles, at most `limit`, lapsed offers first (oldest
 * deadline first), then expired leases (oldest expiry first):
 *   - an offer not acknowledged by its deadline (now >= ackDeadline): the job becomes `queued`, due
 *     now, attempt − 1 (it never ran), and the node is added to excludedNodes so that the dispatcher
 *     offers it to another node;
 *   - a running lease not renewed (now >= expiresAt): the node is excluded and JOB_LEASE_EXPIRED is
 *     recorded as the job's error; with attempts left the job becomes `queued`, due after the
 *     backoff; after maxAttempts it becomes `failed` with that reason;
 *   - the lease is kept as lastLease; the index entries move with each job.
 * Returns each job after the change with its cause, and `more` when the limit cut the sweep short.
 */
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import type { ExpiredJob, ExpiryReport, Job } from './job.js'
import { backoffDelay, EXPIRE_BATCH_LIMIT } from './job-defaults.js'
import { checkLimit, withExcluded } from './job-input.js'
import { finished, leaseExpiredError, requeued } from './job-rules.js'
import type { JobTransaction } from './job-transaction.js'

export async function expireLeases(
  tx: JobTransaction,
  now: Timestamp,
  limit: number = EXPIRE_BATCH_LIMIT,
): Promise<ExpiryReport> {
  input.checkTime('now', now)
  const max = checkLimit(limit, EXPIRE_BATCH_LIMIT)

  const offers = await tx.lapsedOffers(now, max + 1)
  const room = Math.max(0, max - offers.length)
  // One more than there is room for tells whether more remain, also when there is no room at all.
  const leases = await tx.expiredLeases(now, room + 1)
  const more = offers.length > max || leases.length > room
  const expired: ExpiredJob[] = []

  for (const job of offers.slice(0, max)) {
    const lease = job.lease!
    const next: Job = { ...requeued(job, now, now, true), excludedNodes: withExcluded(job, lease.nodeId) }
    tx.putJob(next, job)
    expired.push({
      job: next,
      cause: 'ack-timeout',
      nodeId: lease.nodeId,
      leaseId: lease.id,
      attempt: job.attempt,
    })
  }
  for (const job of leases.slice(0, room)) {
    const lease = job.lease!
    const error = leaseExpiredError(job, lease)
    const excludedNodes = withExcluded(job, lease.nodeId)
    const next: Job =
      job.attempt < job.maxAttempts
        ? { ...requeued(job, now, now + backoffDelay(job.attempt), false), excludedNodes, error }
        : { ...finished(job, 'failed', now), excludedNodes, error }
    tx.putJob(next, job)
    expired.push({
      job: next,
      cause: 'lease-expired',
      nodeId: lease.nodeId,
      leaseId: lease.id,
      attempt: job.attempt,
    })
  }
  return { expired, more }
}
