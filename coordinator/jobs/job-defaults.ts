/**
 * The defaults and bounds of the job queue and its leases (docs/LIMITS.md "Jobs and leases").
 *
 * An *attempt* is one run of a job by one node: it begins when the job is offered. An attempt that
 * never really started or was given up on by the coordinator's choice — an offer declined or not
 * acknowledged in time, a job handed back by an overloaded node — is given back and does not count.
 * An attempt that failed or whose lease expired counts; after `maxAttempts` of them the job fails.
 * The *backoff* is how long a job waits in the queue before its next attempt: exponential in the
 * attempts used, capped.
 */
import { MAX_ACK_DEADLINE_MS, MAX_ATTEMPT, MIN_ACK_DEADLINE_MS } from '../../protocol/limits.js'

/** How long a node has to acknowledge an offer (orchestration: 60 s, then another node gets it). */
export const ACK_TIMEOUT_MS = 60_000
/** Bounds of the ack timeout: the JOB_OFFER field's (docs/PROTOCOL.md §8). */
export const MIN_ACK_TIMEOUT_MS = MIN_ACK_DEADLINE_MS
export const MAX_ACK_TIMEOUT_MS = MAX_ACK_DEADLINE_MS

/** A lease lasts this long after its grant or last renewal. */
export const LEASE_TTL_MS = 60_000
/**
 * Nodes renew at half the TTL, so one lost or late renewal still leaves half a TTL before the lease
 * expires (the BullMQ / graphile-worker rule).
 */
export const LEASE_RENEW_AFTER_MS = LEASE_TTL_MS / 2

/** Attempts a job gets unless its enqueuer says otherwise. */
export const MAX_ATTEMPTS = 5
/** Largest maxAttempts a job may ask for: the JOB_OFFER `attempt` bound. */
export const MAX_MAX_ATTEMPTS = MAX_ATTEMPT

/** The wait before the second attempt; each later one doubles it. */
export const BACKOFF_BASE_MS = 5_000
/** The longest wait between attempts: a retry is never put off by more than this. */
export const BACKOFF_MAX_MS = 5 * 60_000

/** Nodes remembered per job as having timed out on it; the oldest is forgotten beyond this. */
export const MAX_EXCLUDED_NODES = 32
/** Lapsed offers and expired leases handled by one expireLeases call (one batch). */
export const EXPIRE_BATCH_LIMIT = 500
/** Volumes a job may fence: the payload bound of docs/PROTOCOL.md §8. */
export const MAX_JOB_VOLUMES = 64
/** Largest job payload, as UTF-8 JSON: a JOB_OFFER frame (1 MiB) must still fit around it. */
export const MAX_JOB_PAYLOAD_BYTES = 64 * 1024

/** Jobs per listJobs or nextQueuedJobs page unless the caller asks for fewer; and at most. */
export const DEFAULT_JOB_PAGE_SIZE = 100
export const MAX_JOB_PAGE_SIZE = 1_000

/** Entries one job's log may hold; and entries per listJobLog page, at most. */
export const MAX_JOB_LOG_ENTRIES = 10_000
export const MAX_JOB_LOG_PAGE_SIZE = 1_000

/**
 * The wait before the attempt after `attemptsUsed` counted attempts: BACKOFF_BASE_MS doubled for
 * each attempt after the first, capped at BACKOFF_MAX_MS. No jitter: the dispatcher's per-node
 * limits already spread a herd of retries, and a fixed delay keeps the queue order predictable.
 */
export function backoffDelay(attemptsUsed: number): number {
  const doublings = Math.max(0, attemptsUsed - 1)
  // 2^30 · 5 s is far past the cap; stopping there keeps the arithmetic exact.
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(doublings, 30))
}
