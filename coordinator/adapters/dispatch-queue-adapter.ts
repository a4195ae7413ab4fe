/**
 * The dispatcher's queue port (coordinator/dispatch/dispatch-ports.ts, docs/SCHEDULING.md §11)
 * over the metadata store's job queue. Each method is one store change (or a loop of them, for
 * lease expiry), so the port's atomicity is the store's.
 *
 * Words used here:
 * - A *stale offer* is one the store refuses because the job moved on since the dispatcher read it
 *   (taken, cancelled, backed off): the port answers undefined and the dispatcher counts a race.
 * - A *return* puts an offered or running job back in the queue without counting an attempt: a
 *   decline or an undeliverable offer (declineJob), a hand-back (handBackJob); the node is
 *   excluded either way, so the next pass prefers another.
 */

import type { ReplicationCyclePayload } from '../../protocol/index.js'
import type { DispatchQueuePort, ExpiredLease, JobOfferBody, QueuedJob } from '../dispatch/dispatch-ports.js'
import { JobErrorCode } from '../jobs/errors.js'
import { type Job, offerFencingToken } from '../jobs/job.js'
import { MAX_JOB_PAGE_SIZE } from '../jobs/job-defaults.js'
import type { MetadataStore } from '../store/metadata-store.js'

export type DispatchAdapterStore = Pick<
  MetadataStore,
  'nextQueuedJobs' | 'offerJob' | 'declineJob' | 'handBackJob' | 'expireLeases' | 'getJob'
>

/**
 * Where a connector can be reached now: the block listen addresses its current session announced
 * (ControlServer.blockAddressesOf). Addresses are live facts: a connector restarted on another port
 * announces new ones, so they go into each offer, never into the stored job.
 */
export type ConnectorAddressLookup = (nodeId: string) => string[] | undefined

export interface DispatchQueueAdapterInit {
  /** The lease TTL each offer announces; the store's LEASE_TTL_MS (60 s) when absent. */
  leaseTtlMs?: number
  /** expireLeases calls per sweep at most (each handles up to 500 jobs). Default 20. */
  maxExpiryBatches?: number
}

/** Store refusals that mean "the job moved on": the port's undefined, not an error. */
const STALE_CODES: ReadonlySet<string> = new Set([
  JobErrorCode.STATE_CONFLICT,
  JobErrorCode.NOT_FOUND,
  JobErrorCode.NOT_DUE,
  JobErrorCode.LEASE_LOST,
])

function isStale(error: unknown): boolean {
  return STALE_CODES.has((error as { code?: string }).code ?? '')
}

export function queuedJobOf(job: Job): QueuedJob {
  return {
    tenantId: job.tenantId,
    jobId: job.id,
    jobType: job.type,
    siteId: job.siteId,
    role: job.role,
    queuedAt: job.queuedAt,
    notBefore: job.notBefore,
    excludedNodes: job.excludedNodes,
  }
}

/** The JOB_OFFER fields (without `t` and `rid`) of a job just offered. */
export function offerBodyOf(job: Job, ackDeadlineMs: number): JobOfferBody {
  const lease = job.lease!
  return {
    jobId: job.id,
    jobType: job.type,
    leaseId: lease.id,
    fencingToken: offerFencingToken(job),
    ackDeadlineMs,
    leaseTtlMs: lease.ttlMs,
    attempt: job.attempt,
    payload: job.payload,
  } as JobOfferBody
}

/**
 * The offer with a replication payload's connector addresses filled from `addressesOf` when the
 * connector announced any; otherwise as stored (the appliance then reports the connector unreachable
 * and the cycle is retried).
 */
export function withConnectorAddresses(
  body: JobOfferBody,
  addressesOf: ConnectorAddressLookup,
): JobOfferBody {
  if (body.jobType !== 'replication-cycle') return body
  const payload = body.payload as ReplicationCyclePayload
  const addrs = addressesOf(payload.connector.nodeId)
  if (addrs === undefined) return body
  return { ...body, payload: { ...payload, connector: { ...payload.connector, addrs } } } as JobOfferBody
}

export function createDispatchQueueAdapter(
  init: DispatchQueueAdapterInit,
  components: { store: DispatchAdapterStore; connectorAddresses?: ConnectorAddressLookup },
): DispatchQueuePort {
  const { store } = components
  const addressesOf: ConnectorAddressLookup = components.connectorAddresses ?? (() => undefined)
  const maxBatches = init.maxExpiryBatches ?? 20

  return {
    async nextQueuedJobs(now, limit) {
      const jobs = await store.nextQueuedJobs(now, Math.min(limit, MAX_JOB_PAGE_SIZE))
      return jobs.map(queuedJobOf)
    },

    async offerJob({ tenantId, jobId, nodeId, ackDeadlineMs, now }) {
      let job: Job
      try {
        // The dispatcher already applied the exclusion rules (and their grace): it decides.
        job = await store.offerJob(tenantId, jobId, nodeId, now, ackDeadlineMs, {
          leaseTtlMs: init.leaseTtlMs,
          allowExcludedNode: true,
        })
      } catch (error) {
        if (isStale(error)) return undefined
        throw error
      }
      return withConnectorAddresses(offerBodyOf(job, ackDeadlineMs), addressesOf)
    },

    async returnToQueue({ tenantId, jobId, leaseId, nodeId, cause, now }) {
      try {
        if (cause === 'handback') {
          // handBackJob checks the lease, not who holds it: a node may hand back only its own job.
          const current = await store.getJob(tenantId, jobId)
          if (current?.lease?.id !== leaseId || current.lease.nodeId !== nodeId) return undefined
          return queuedJobOf(await store.handBackJob(tenantId, jobId, leaseId, now, { excludeNode: true }))
        }
        return queuedJobOf(
          await store.declineJob(tenantId, jobId, nodeId, leaseId, now, { excludeNode: true }),
        )
      } catch (error) {
        if (isStale(error)) return undefined
        throw error
      }
    },

    async expireLeases(now) {
      const expired: ExpiredLease[] = []
      for (let batch = 0; batch < maxBatches; batch++) {
        const report = await store.expireLeases(now)
        for (const item of report.expired) {
          expired.push({
            tenantId: item.job.tenantId,
            jobId: item.job.id,
            jobType: item.job.type,
            leaseId: item.leaseId,
            nodeId: item.nodeId,
            kind: item.cause === 'ack-timeout' ? 'ack-deadline' : 'lease-ttl',
            attempt: item.attempt,
            requeued: item.job.state === 'queued',
          })
        }
        if (!report.more) break
      }
      return expired
    },
  }
}
