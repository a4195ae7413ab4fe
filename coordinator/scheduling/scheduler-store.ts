/**
 * What the scheduler needs from the metadata store: the *port* an adapter over the store's plan and
 * job records implements (and an in-memory fake in tests). It imports no implementation.
 *
 * Words used here:
 * - A *plan* is a schedule plus what to run: a replication plan makes a `replication-cycle` for one
 *   VM; a maintenance plan a `maintenance` job.
 * - A plan's *schedule state* is what the scheduler has recorded for it: the last due time it
 *   enqueued a job for (`lastDueAt`), and whether the plan is flagged *RPO at risk*.
 * - A *scheduled job id* is derived from the plan and the due time (scheduledJobId), so enqueueing
 *   the same due run twice — two passes, or a crash between enqueue and recordDue — names the same
 *   job, and the store refuses the second as a duplicate.
 *
 * Contract every adapter keeps (docs/SCHEDULING.md "The store port"):
 * - `enqueue` is one atomic change. It refuses, writing nothing, with `duplicate` when a job with
 *   this id exists in any state, and with `active` when the plan (for replication: its VM) already
 *   has a job queued, offered or running. It answers `plan-gone` when the plan was deleted or
 *   disabled since it was listed.
 * - `recordDue` sets `lastDueAt` (only forwards) and clears the RPO flag in one atomic change.
 * - `setRpoAtRisk` sets the flag; it is cleared only by `recordDue`.
 */
import { createHash } from 'node:crypto'
import type { Schedule } from './schedule.js'

/** Longest job id (protocol `id`, docs/PROTOCOL.md §3.2). */
export const MAX_JOB_ID_LENGTH = 128
/** Characters of the plan id kept in a scheduled job id that would otherwise be too long. */
const LONG_PLAN_ID_PREFIX = 80

export interface ScheduledPlan {
  tenantId: string
  planId: string
  /** The job type this plan's runs are: `replication-cycle` or `maintenance` (or a later type). */
  jobType: string
  /**
   * The VM a single-VM plan protects; absent for maintenance. Its jobs are named
   * scheduledJobId(planId, dueAt), as before plans had several VMs.
   */
  vmId?: string
  /**
   * The VMs a plan covers (its groups, in order). When present, each due run enqueues one job per
   * VM, named scheduledJobId(planId, dueAt, vmId), and `vmId` is ignored.
   */
  vmIds?: string[]
  /** The schedule as stored; the scheduler checks it with parseSchedule every pass. */
  schedule: Schedule
  /** When the plan was enabled: the anchor of its first due time (schedule.ts firstDue). */
  anchorAt: number
}

export interface RpoRisk {
  /** The first pass that found the plan's cycle still active when the next run was due. */
  since: number
  /** The due time that could not be enqueued. */
  blockedDueAt: number
}

export interface ScheduleState {
  /** The due time of the last run a job was enqueued for. */
  lastDueAt?: number
  /** The id of that job. */
  lastJobId?: string
  /** Present while the plan is flagged RPO at risk. */
  rpoAtRisk?: RpoRisk
}

export interface ScheduledJob {
  tenantId: string
  planId: string
  jobType: string
  vmId?: string
  /** scheduledJobId(planId, dueAt), or scheduledJobId(planId, dueAt, vmId) for a plan with vmIds. */
  jobId: string
  /** The due time this job stands for (the latest of the coalesced runs). */
  dueAt: number
  /** Earlier due runs this job replaces: missed while the coordinator was down or the VM busy. */
  coalesced: number
  /** When the scheduler enqueued it: the job's enqueue time. */
  enqueuedAt: number
}

export type EnqueueOutcome =
  | { enqueued: true }
  | { enqueued: false; reason: 'duplicate' | 'active' | 'plan-gone' }

export interface DueRecord {
  tenantId: string
  planId: string
  dueAt: number
  jobId: string
  coalesced: number
  recordedAt: number
}

export interface SchedulerStore {
  /** Every enabled plan of every tenant, as of `now`. */
  listEnabledPlans(now: number): Promise<ScheduledPlan[]>
  /** The plan's schedule state; undefined for a plan that was never scheduled. */
  getScheduleState(tenantId: string, planId: string): Promise<ScheduleState | undefined>
  /** Adds the job to the queue (see the contract above). */
  enqueue(job: ScheduledJob): Promise<EnqueueOutcome>
  /** Records that the run due at `dueAt` has its job; clears the RPO flag. */
  recordDue(record: DueRecord): Promise<void>
  /** Flags the plan RPO at risk. */
  setRpoAtRisk(tenantId: string, planId: string, risk: RpoRisk): Promise<void>
}

/** Characters of each of plan id and VM id kept in a per-VM job id that would otherwise be too long. */
const LONG_VM_PART_PREFIX = 40

/**
 * The id of the job for the run of `planId` due at `dueAt`: `<planId>.<dueAt>`. A plan id too long
 * for that to fit 128 characters keeps its first 80 characters and adds 16 hex characters of its
 * SHA-256, so the id stays unique and deterministic. Job ids are unique within a tenant.
 *
 * With `vmId` (a plan of several VMs enqueues one job per VM), `<planId>.<vmId>.<dueAt>`; too long,
 * the first 40 characters of each and 16 hex characters of the SHA-256 of both.
 */
export function scheduledJobId(planId: string, dueAt: number, vmId?: string): string {
  if (vmId !== undefined) {
    const plain = `${planId}.${vmId}.${dueAt}`
    if (plain.length <= MAX_JOB_ID_LENGTH) return plain
    const digest = createHash('sha256').update(`${planId}\n${vmId}`).digest('hex').slice(0, 16)
    return `${planId.slice(0, LONG_VM_PART_PREFIX)}.${vmId.slice(0, LONG_VM_PART_PREFIX)}-${digest}.${dueAt}`
  }
  const plain = `${planId}.${dueAt}`
  if (plain.length <= MAX_JOB_ID_LENGTH) return plain
  const digest = createHash('sha256').update(planId).digest('hex').slice(0, 16)
  return `${planId.slice(0, LONG_PLAN_ID_PREFIX)}-${digest}.${dueAt}`
}
