/**
 * The contract of the job queue: the Job record, what enqueueing and sweeping return, and the store
 * methods that change and query jobs (`JobRecords`, part of `MetadataStore`). Imports no
 * implementation. Each change is one atomic unit, written once in its own file in this folder and
 * run by every backend (job-transaction.ts says how).
 *
 * Words used here:
 * - A *job* is one unit of work for one node: a replication cycle of a VM, a consistency check, a
 *   failover step or a maintenance task. Its id is chosen by the enqueuer and unique within its
 *   tenant, so enqueueing it again (a retried request, a scheduler pass after a crash) is a no-op.
 * - Its *state* moves `queued → offered → running → succeeded | failed`, back to `queued` for a
 *   retry, a hand-back or a lapsed offer, or to `cancelled` from any state that is not final.
 *   *Active* states are queued, offered and running; *final* ones succeeded, failed and cancelled.
 * - An *offer* gives the job to one node, which must acknowledge it before the *ack deadline*.
 * - A *lease* is the holder's right to run the job: an id (the token the node quotes) plus an
 *   expiry, renewed by the node at half its TTL. It exists from the offer (expiring at the ack
 *   deadline) and, once acknowledged, while the job runs. A call quoting any other lease id, or an
 *   expired one, is refused with JOB_LEASE_LOST.
 * - A *fencing token* is a number per volume that only grows. Each offer takes, for all the job's
 *   volumes, one token above every token any of them had before, so a node that lost its lease holds
 *   a lower token than its successor and the connector refuses its writes (docs/PROTOCOL.md §4).
 * - *Excluded nodes* timed out on the job (an offer not acknowledged, a lease not renewed): it is
 *   offered to another node first.
 */
import type { ErrorBody } from '../../protocol/errors.js'
import type { JobType } from '../../protocol/job-payloads.js'
import type { NodeRole, Timestamp } from '../store/metadata-store.js'

export type { JobType }
export const JOB_TYPES: readonly JobType[] = [
  'replication-cycle',
  'consistency-check',
  'failover-step',
  'maintenance',
]

export type JobState = 'queued' | 'offered' | 'running' | 'succeeded' | 'failed' | 'cancelled'
export const JOB_STATES: readonly JobState[] = [
  'queued',
  'offered',
  'running',
  'succeeded',
  'failed',
  'cancelled',
]
export const ACTIVE_JOB_STATES: readonly JobState[] = ['queued', 'offered', 'running']

export function isActiveState(state: JobState): boolean {
  return state === 'queued' || state === 'offered' || state === 'running'
}

/** A job's result summary: a few named scalars (the RESULT `summary` of docs/PROTOCOL.md §8). */
export type JobSummary = Record<string, string | number | boolean>

/** A job's payload: the type-specific part of its JOB_OFFER, completed by the dispatcher. */
export type JobPayload = Record<string, unknown>

export interface JobLease {
  /** The lease id: 32 hex characters, sent in the JOB_OFFER and quoted by the holder. */
  id: string
  nodeId: string
  /** Granted when offered; each renewal sets expiresAt to now + ttlMs. */
  ttlMs: number
  /** The lease is valid while now < expiresAt. */
  expiresAt: Timestamp
  /** When the lease was granted (offered) or, once running, acknowledged. */
  grantedAt: Timestamp
}

export interface Job {
  tenantId: string
  id: string
  type: JobType
  planId?: string
  vmId?: string
  /** The volumes the job writes, each fenced; empty for jobs that write none. */
  volumeIds: string[]
  /** The site whose nodes may run the job. */
  siteId: string
  /** The role of the nodes that may run it. */
  role: NodeRole
  state: JobState
  /** The number of the current or last attempt; 0 until first offered (see job-defaults.ts). */
  attempt: number
  maxAttempts: number
  /** The job may not be offered before this time (retry backoff). */
  notBefore: Timestamp
  /** When the job last entered the queue: enqueued, or back after a retry, decline, hand-back or timeout. */
  queuedAt: Timestamp
  /** While offered: the node offered to, and when the offer lapses. */
  offeredTo?: string
  ackDeadline?: Timestamp
  /** While offered or running: the lease. */
  lease?: JobLease
  /** The lease of the last attempt once it ended: who ran it, and the key of replayed results. */
  lastLease?: JobLease
  /** Volume id → the fencing token of the latest offer; the same token for every volume. */
  fencingTokens: Record<string, number>
  /** Nodes that timed out on the job, oldest first, at most MAX_EXCLUDED_NODES. */
  excludedNodes: string[]
  payload: JobPayload
  createdAt: Timestamp
  updatedAt: Timestamp
  /** When the last attempt was acknowledged. */
  startedAt?: Timestamp
  /** When the job reached a final state. */
  finishedAt?: Timestamp
  /** The summary of a succeeded job. */
  result?: JobSummary
  /** Why the last attempt failed (a retry keeps it until the job succeeds), or why the job failed. */
  error?: ErrorBody
}

export interface NewJob {
  /** 1 – 128 id characters; unique within the tenant. */
  id: string
  type: JobType
  planId?: string
  vmId?: string
  /** The volumes to fence; all of the VM's volumes when omitted and a VM is named. */
  volumeIds?: string[]
  siteId: string
  /** `appliance` for replication cycles, `connector` for checks and failover steps. */
  role: NodeRole
  /** 1 – MAX_MAX_ATTEMPTS; MAX_ATTEMPTS when omitted. */
  maxAttempts?: number
  /** `now` when omitted. */
  notBefore?: Timestamp
  /** A JSON object of at most MAX_JOB_PAYLOAD_BYTES; `{}` when omitted. */
  payload?: JobPayload
}

export type EnqueueResult =
  | { enqueued: true; job: Job }
  /** A job with this id already exists in the tenant (in any state): it is returned unchanged. */
  | { enqueued: false; reason: 'duplicate'; job: Job }
  /** The VM already has an active replication cycle (returned): flag the plan's RPO at risk. */
  | { enqueued: false; reason: 'active'; job: Job }
  /** The plan named was deleted or disabled: nothing to run. */
  | { enqueued: false; reason: 'plan-gone' }

export interface OfferOptions {
  /** The lease TTL the offer announces (LEASE_TTL_MS by default). */
  leaseTtlMs?: number
  /**
   * Offer to a node that timed out on this job before. For the dispatcher when no other eligible
   * node is connected: otherwise a one-node site would never run the job again.
   */
  allowExcludedNode?: boolean
}

export interface ReturnOptions {
  /**
   * Add the node to the job's excludedNodes, so that the dispatcher offers the job to another node
   * first: for a node that declined or handed back because it is overloaded, or an offer the
   * coordinator could not deliver.
   */
  excludeNode?: boolean
}

export interface JobFilter {
  state?: JobState
  vmId?: string
  planId?: string
}

export interface JobPage {
  /** Jobs with an id above this one; from the first when absent. */
  after?: string
  /** 1 – MAX_JOB_PAGE_SIZE; DEFAULT_JOB_PAGE_SIZE when absent. */
  limit?: number
}

/** A site's queue: jobs for the nodes of one role in one site. */
export interface QueueScope {
  tenantId: string
  siteId: string
  role: NodeRole
}

/** One job the sweeper moved, and why. */
export interface ExpiredJob {
  /** The job after the change. */
  job: Job
  /** `ack-timeout`: an offer lapsed; `lease-expired`: a running lease was not renewed. */
  cause: 'ack-timeout' | 'lease-expired'
  /** The node that timed out (now excluded) and its lease. */
  nodeId: string
  leaseId: string
  /** The number of the attempt that ended (an unacknowledged one is given back: job.attempt is lower). */
  attempt: number
}

export interface ExpiryReport {
  expired: ExpiredJob[]
  /** More lapsed offers or expired leases remain: call again. */
  more: boolean
}

export interface JobRecords {
  /** coordinator/jobs/enqueue-job.ts */
  enqueueJob(tenantId: string, job: NewJob, now: Timestamp): Promise<EnqueueResult>
  /** coordinator/jobs/offer-job.ts */
  offerJob(
    tenantId: string,
    jobId: string,
    nodeId: string,
    now: Timestamp,
    ackTimeoutMs?: number,
    options?: OfferOptions,
  ): Promise<Job>
  /** coordinator/jobs/acknowledge-job.ts */
  acknowledgeJob(
    tenantId: string,
    jobId: string,
    nodeId: string,
    leaseId: string,
    now: Timestamp,
    leaseTtlMs?: number,
  ): Promise<Job>
  /** coordinator/jobs/decline-job.ts */
  declineJob(
    tenantId: string,
    jobId: string,
    nodeId: string,
    leaseId: string,
    now: Timestamp,
    options?: ReturnOptions,
  ): Promise<Job>
  /** coordinator/jobs/renew-lease.ts */
  renewLease(tenantId: string, jobId: string, leaseId: string, now: Timestamp): Promise<Job>
  /** coordinator/jobs/complete-job.ts */
  completeJob(
    tenantId: string,
    jobId: string,
    leaseId: string,
    now: Timestamp,
    result?: JobSummary,
  ): Promise<Job>
  /** coordinator/jobs/fail-job.ts */
  failJob(tenantId: string, jobId: string, leaseId: string, now: Timestamp, error: ErrorBody): Promise<Job>
  /** coordinator/jobs/hand-back-job.ts */
  handBackJob(
    tenantId: string,
    jobId: string,
    leaseId: string,
    now: Timestamp,
    options?: ReturnOptions,
  ): Promise<Job>
  /** coordinator/jobs/expire-leases.ts */
  expireLeases(now: Timestamp, limit?: number): Promise<ExpiryReport>
  /** coordinator/jobs/cancel-job.ts */
  cancelJob(tenantId: string, jobId: string, now: Timestamp): Promise<Job>

  getJob(tenantId: string, jobId: string): Promise<Job | undefined>
  /** The tenant's jobs matching every field of `filter`, ordered by id, one page at a time. */
  listJobs(tenantId: string, filter?: JobFilter, page?: JobPage): Promise<Job[]>
  /**
   * Queued jobs that are due (`notBefore <= now`), of every tenant or of one site's queue, ordered by
   * notBefore, then tenant id, then job id: the dispatcher's work list. At most `limit`
   * (DEFAULT_JOB_PAGE_SIZE when absent, at most MAX_JOB_PAGE_SIZE).
   */
  nextQueuedJobs(now: Timestamp, limit?: number, scope?: QueueScope): Promise<Job[]>
  /** Jobs offered to or running on the node: its load as the coordinator sees it. */
  activeJobsByNode(nodeId: string): Promise<number>
  /** The highest fencing token ever taken for the volume; 0 when none was. */
  fencingToken(tenantId: string, volumeId: string): Promise<number>
}

/**
 * The one fencing token a JOB_OFFER and LEASE_RENEWAL carry: the token of the job's volumes (every
 * volume of an offer gets the same one). A job without volumes fences nothing and carries 1, the
 * smallest token the protocol allows.
 */
export function offerFencingToken(job: Job): number {
  let token = 1
  for (const value of Object.values(job.fencingTokens)) token = Math.max(token, value)
  return token
}
