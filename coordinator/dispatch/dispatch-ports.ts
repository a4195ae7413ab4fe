/**
 * What the dispatcher needs from the rest of the coordinator: the *ports* that adapters over the job
 * store and the control link implement (and in-memory fakes in tests). It imports no implementation.
 *
 * Words used here:
 * - A *queued job* waits for a node. It names where it must run (tenant, site, role), the nodes it
 *   must not be offered to (`excludedNodes`: those that missed its ack deadline, refused it or handed
 *   it back) and, for a retry with backoff, `notBefore`.
 * - An *offer* moves a job from queued to offered under a new *lease* (leaseId + fencing token) with
 *   an *ack deadline*; the node answers JOB_ACK within it or the lease expires and the job returns to
 *   the queue for another node.
 *
 * Contract every queue adapter keeps (docs/SCHEDULING.md "The queue port"), each method one atomic
 * change in the store:
 * - `nextQueuedJobs(now, limit)`: queued jobs in dispatch order (oldest `queuedAt` first, or by
 *   priority then age), at most `limit`. It may leave out jobs whose `notBefore` is after `now`.
 * - `offerJob`: if the job is still queued, queued → offered to `nodeId`, a new lease whose ack
 *   deadline is `now + ackDeadlineMs`, and the JOB_OFFER fields back; undefined (nothing written)
 *   when it is no longer queued.
 * - `returnToQueue`: if `leaseId` is the job's current lease and `nodeId` holds it, back to queued
 *   without counting a failed attempt, `nodeId` added to `excludedNodes`, `queuedAt = now`; the job
 *   as queued again. Undefined (nothing written) for a stale lease: a second hand-back is harmless.
 * - `expireLeases(now)`: every offered job past its ack deadline returns to the queue with its node
 *   excluded; every running job whose lease TTL ran out returns to the queue (a counted attempt) or,
 *   out of attempts, fails. Each such change is reported once.
 */
import type { ErrorBody } from '../../protocol/errors.js'
import type { JobOffer } from '../../protocol/index.js'

export type DispatchRole = 'appliance' | 'connector'

/** A node's latest load report (HEARTBEAT `load`), as the dispatcher ranks by it. */
export interface NodeLoadSample {
  activeJobs: number
  /** The most jobs the node says it takes at once. */
  maxJobs?: number
  /** CPU utilisation over the node's last interval, 0..1. */
  cpu: number
  /** When the coordinator received the report, by its clock. */
  receivedAt: number
  /** The node's heartbeat interval (HEARTBEAT `intervalMs`). */
  intervalMs: number
}

export interface DispatchNode {
  nodeId: string
  tenantId: string
  siteId: string
  role: DispatchRole
  /** The node has a live control session. */
  online: boolean
  /** Absent until the node's first heartbeat. */
  load?: NodeLoadSample
}

export interface DispatchNodeView {
  /** The nodes of one site of one tenant, online or not. */
  nodesOfSite(tenantId: string, siteId: string): DispatchNode[] | Promise<DispatchNode[]>
}

export interface QueuedJob {
  tenantId: string
  jobId: string
  jobType: string
  siteId: string
  role: DispatchRole
  /** When the job last entered the queue (first enqueue, or back after an ack timeout, hand-back…). */
  queuedAt: number
  /** Not to be offered before this time (retry backoff). */
  notBefore?: number
  excludedNodes: readonly string[]
}

/** A JOB_OFFER without its envelope and request id, which the control link adds. */
export type JobOfferBody = JobOffer extends infer T
  ? T extends unknown
    ? Omit<T, 't' | 'rid'>
    : never
  : never

export interface OfferRequest {
  tenantId: string
  jobId: string
  nodeId: string
  ackDeadlineMs: number
  now: number
}

export type ReturnCause = 'offer-failed' | 'handback' | 'declined'

export interface ReturnRequest {
  tenantId: string
  jobId: string
  leaseId: string
  nodeId: string
  cause: ReturnCause
  reason: ErrorBody
  now: number
}

export interface ExpiredLease {
  tenantId: string
  jobId: string
  jobType: string
  leaseId: string
  nodeId: string
  /** `ack-deadline`: offered and never acknowledged; `lease-ttl`: running and not renewed. */
  kind: 'ack-deadline' | 'lease-ttl'
  /** The attempt that ended. */
  attempt: number
  /** false when the job had no attempt left and failed instead. */
  requeued: boolean
}

export interface DispatchQueuePort {
  nextQueuedJobs(now: number, limit: number): Promise<QueuedJob[]>
  offerJob(request: OfferRequest): Promise<JobOfferBody | undefined>
  returnToQueue(request: ReturnRequest): Promise<QueuedJob | undefined>
  expireLeases(now: number): Promise<ExpiredLease[]>
}

/** Sends a JOB_OFFER to a node over its control link; rejects when it could not be sent. */
export type SendOffer = (nodeId: string, offer: JobOfferBody) => Promise<void>
