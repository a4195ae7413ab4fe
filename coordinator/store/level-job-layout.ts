/**
 * The classic-level keys and value codecs of jobs, their indexes, fencing counters and job logs
 * (docs/STORE.md "Key layout", schema version 2).
 *
 * A job's *index entries* are derived from its record by `jobIndexEntries`, and every change writes
 * the record and moves the entries in the same batch, so the set of index keys is always exactly
 * the union of jobIndexEntries over all job records (the crash test checks this). Entries are:
 *   - tenant-scoped: by state, by VM, by plan, the site's queue (queued), the VM's active cycle
 *     (a replication cycle that is queued, offered or running);
 *   - global, for the dispatcher and the sweeper, which work across tenants: the queue by notBefore
 *     (queued), offers by ack deadline (offered), leases by expiry (running), and the node's active
 *     jobs (offered or running).
 * Each entry's value is `{"tenantId","jobId"}`, so a reader finds the record without parsing keys.
 */
import { Type } from '@sinclair/typebox'
import { ErrorBodySchema } from '../../protocol/schema-types.js'
import type { Job, JobState } from '../jobs/job.js'
import { isActiveState } from '../jobs/job.js'
import type { JobLogEntry } from './job-log-records.js'
import { codec, encodeRecord, Id, Role, Time, tenantPrefix } from './level-layout.js'
import { timeKey } from './level-protection-layout.js'
import type { NodeRole } from './metadata-store.js'

export const JOB_QUEUE_PREFIX = '!job-queue!'
export const JOB_OFFERS_PREFIX = '!job-offers!'
export const JOB_LEASES_PREFIX = '!job-leases!'
export const NODE_JOBS_PREFIX = '!node-jobs!'

export const jobPrefix = (tenantId: string): string => `${tenantPrefix(tenantId)}!job!`
export const jobKey = (tenantId: string, jobId: string): string => jobPrefix(tenantId) + jobId
export const jobStatePrefix = (tenantId: string, state: JobState): string =>
  `${tenantPrefix(tenantId)}!job-state!${state}!`
export const jobVmPrefix = (tenantId: string, vmId: string): string =>
  `${tenantPrefix(tenantId)}!job-vm!${vmId}!`
export const jobPlanPrefix = (tenantId: string, planId: string): string =>
  `${tenantPrefix(tenantId)}!job-plan!${planId}!`
export const siteQueuePrefix = (tenantId: string, siteId: string, role: NodeRole): string =>
  `${tenantPrefix(tenantId)}!job-queue!${siteId}!${role}!`
export const activeCycleKey = (tenantId: string, vmId: string): string =>
  `${tenantPrefix(tenantId)}!active-cycle!${vmId}`
export const fenceKey = (tenantId: string, volumeId: string): string =>
  `${tenantPrefix(tenantId)}!fence!${volumeId}`
export const nodeJobsPrefix = (nodeId: string): string => `${NODE_JOBS_PREFIX}${nodeId}!`
export const jobLogPrefix = (tenantId: string, jobId: string): string =>
  `${tenantPrefix(tenantId)}!job-log!${jobId}!`
export const jobLogKey = (tenantId: string, jobId: string, seq: number): string =>
  jobLogPrefix(tenantId, jobId) + timeKey(seq)
export const jobLogSeenKey = (tenantId: string, jobId: string, nodeId: string, nodeSeq: number): string =>
  `${tenantPrefix(tenantId)}!job-log-seen!${jobId}!${nodeId}!${timeKey(nodeSeq)}`

/** Every index key under these prefixes is a job index entry (the crash test lists them by these). */
export const GLOBAL_JOB_INDEX_PREFIXES = [
  JOB_QUEUE_PREFIX,
  JOB_OFFERS_PREFIX,
  JOB_LEASES_PREFIX,
  NODE_JOBS_PREFIX,
]
export const TENANT_JOB_INDEX_NAMES = ['job-state', 'job-vm', 'job-plan', 'job-queue', 'active-cycle']

/** The key → value of every index entry of `job`. */
export function jobIndexEntries(job: Job): Map<string, string> {
  const { tenantId, id } = job
  const ref = encodeRecord({ tenantId, jobId: id })
  const tail = `${tenantId}!${id}`
  const entries = new Map<string, string>()
  entries.set(jobStatePrefix(tenantId, job.state) + id, ref)
  if (job.vmId !== undefined) entries.set(jobVmPrefix(tenantId, job.vmId) + id, ref)
  if (job.planId !== undefined) entries.set(jobPlanPrefix(tenantId, job.planId) + id, ref)
  if (job.state === 'queued') {
    entries.set(`${JOB_QUEUE_PREFIX}${timeKey(job.notBefore)}!${tail}`, ref)
    entries.set(`${siteQueuePrefix(tenantId, job.siteId, job.role)}${timeKey(job.notBefore)}!${id}`, ref)
  } else if (job.state === 'offered' && job.lease !== undefined) {
    entries.set(`${JOB_OFFERS_PREFIX}${timeKey(job.ackDeadline ?? job.lease.expiresAt)}!${tail}`, ref)
    entries.set(nodeJobsPrefix(job.lease.nodeId) + tail, ref)
  } else if (job.state === 'running' && job.lease !== undefined) {
    entries.set(`${JOB_LEASES_PREFIX}${timeKey(job.lease.expiresAt)}!${tail}`, ref)
    entries.set(nodeJobsPrefix(job.lease.nodeId) + tail, ref)
  }
  if (job.type === 'replication-cycle' && job.vmId !== undefined && isActiveState(job.state)) {
    entries.set(activeCycleKey(tenantId, job.vmId), ref)
  }
  return entries
}

const Count = Type.Integer({ minimum: 0 })
const Lease = Type.Object({ id: Id, nodeId: Id, ttlMs: Count, expiresAt: Time, grantedAt: Time })
const JobRecord = Type.Object({
  tenantId: Id,
  id: Id,
  type: Type.Union([
    Type.Literal('replication-cycle'),
    Type.Literal('consistency-check'),
    Type.Literal('failover-step'),
    Type.Literal('maintenance'),
  ]),
  planId: Type.Optional(Id),
  vmId: Type.Optional(Id),
  volumeIds: Type.Array(Id),
  siteId: Id,
  role: Role,
  state: Type.Union([
    Type.Literal('queued'),
    Type.Literal('offered'),
    Type.Literal('running'),
    Type.Literal('succeeded'),
    Type.Literal('failed'),
    Type.Literal('cancelled'),
  ]),
  attempt: Count,
  maxAttempts: Type.Integer({ minimum: 1 }),
  notBefore: Time,
  queuedAt: Time,
  offeredTo: Type.Optional(Id),
  ackDeadline: Type.Optional(Time),
  lease: Type.Optional(Lease),
  lastLease: Type.Optional(Lease),
  fencingTokens: Type.Record(Type.String(), Type.Integer({ minimum: 1 })),
  excludedNodes: Type.Array(Id),
  payload: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Time,
  updatedAt: Time,
  startedAt: Type.Optional(Time),
  finishedAt: Type.Optional(Time),
  result: Type.Optional(
    Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  ),
  error: Type.Optional(ErrorBodySchema),
})
const LogRecord = Type.Object({
  seq: Type.Integer({ minimum: 1 }),
  at: Time,
  level: Type.Union([
    Type.Literal('debug'),
    Type.Literal('info'),
    Type.Literal('warn'),
    Type.Literal('error'),
  ]),
  step: Type.String(),
  message: Type.String(),
  nodeId: Type.Optional(Id),
  nodeSeq: Type.Optional(Type.Integer({ minimum: 1 })),
  bytesDone: Type.Optional(Count),
  error: Type.Optional(ErrorBodySchema),
})

export interface JobRef {
  tenantId: string
  jobId: string
}
export interface FenceRecord {
  token: number
}
/** `…!job-log-seen!<job>!<node>!<nodeSeq>`: a node's entry already in the log, at `seq`. */
export interface LogSeenRecord {
  at: number
  seq: number
}

export const decodeJob = codec<Job>(JobRecord)
export const decodeJobRef = codec<JobRef>(Type.Object({ tenantId: Id, jobId: Id }))
export const decodeFence = codec<FenceRecord>(Type.Object({ token: Type.Integer({ minimum: 1 }) }))
export const decodeLogEntry = codec<JobLogEntry>(LogRecord)
export const decodeLogSeen = codec<LogSeenRecord>(
  Type.Object({ at: Time, seq: Type.Integer({ minimum: 1 }) }),
)
