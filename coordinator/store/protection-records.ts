/**
 * The contract's records of what is protected and how: protected VMs with their volumes, plans, and
 * each plan's schedule state. Part of `MetadataStore` (metadata-store.ts); imports no implementation.
 * docs/STORE.md "Contract rules" applies: tenant-scoped, atomic changes, times passed in.
 *
 * Words used here:
 * - A *protected VM* is a virtual machine at a site whose volumes (virtual disks) are replicated.
 *   A *volume* has an id unique within its tenant (fencing tokens and recovery points are per
 *   volume), a size in bytes and a block size (a power of two, 4 KiB – 16 MiB).
 * - A *plan* says what to run and when: its *VM groups* (the VMs it covers, in the order a failover
 *   boots them), its *schedule* (an interval for replication RPOs, a cron expression in a time zone
 *   for maintenance), the *job* each due run enqueues, the *retention* of recovery points, and its
 *   source and target sites. A disabled plan enqueues nothing.
 * - A plan's *schedule state* is what the scheduler last recorded for it: the last due time it
 *   enqueued a job for, and whether the plan is *RPO at risk* (a run came due while the previous
 *   cycle was still active) with how far behind it is (`lagMs`).
 */
import type { Timestamp } from './metadata-store.js'

export interface VolumeSpec {
  /** Unique within the tenant. */
  id: string
  /** Bytes; at most 2^46 (64 TiB, docs/PROTOCOL.md §10). */
  size: number
  /** Bytes per block: a power of two from 4 KiB to 16 MiB. */
  blockSize: number
}

export interface ProtectedVmInput {
  name: string
  /** The site the VM runs at, where its appliance reads it. */
  siteId: string
  /** 1 – MAX_VM_VOLUMES volumes, ids distinct. */
  volumes: VolumeSpec[]
}

export interface NewProtectedVm extends ProtectedVmInput {
  /** Omit to have a random id generated. */
  id?: string
}

export interface ProtectedVm extends ProtectedVmInput {
  tenantId: string
  id: string
  createdAt: Timestamp
  updatedAt: Timestamp
}

export type PlanSchedule =
  | { kind: 'interval'; everyMs: number }
  /** Five cron fields or a nickname (`@daily`), read in the IANA zone `timeZone`. */
  | { kind: 'cron'; expression: string; timeZone: string }

export type MaintenanceAction = 'upgrade-appliance' | 'rotate-keys' | 'prune-recovery-points'
export const MAINTENANCE_ACTIONS: readonly MaintenanceAction[] = [
  'upgrade-appliance',
  'rotate-keys',
  'prune-recovery-points',
]

/** The job each due run of a plan enqueues. */
export type PlanJob =
  | { type: 'replication-cycle' }
  | { type: 'consistency-check' }
  | { type: 'maintenance'; action: MaintenanceAction }

export interface RetentionPolicy {
  /** Recovery points kept per volume, newest first. */
  count: number
  /** Recovery points older than this are pruned even within `count`; none when absent. */
  maxAgeMs?: number
  /** Recovery points carrying any of these tags are never pruned. */
  preservedTags: string[]
}

/** VMs booted together in a failover; groups boot in the order the plan lists them. */
export interface VmGroup {
  name?: string
  vmIds: string[]
}

export interface PlanInput {
  name: string
  /** Replication and consistency plans name at least one VM; no VM appears twice. */
  groups: VmGroup[]
  schedule: PlanSchedule
  job: PlanJob
  retention: RetentionPolicy
  /** Where the VMs run (every VM of a replication or consistency plan is at this site). */
  sourceSiteId: string
  /** Where their replicas live; differs from the source for replication and consistency plans. */
  targetSiteId: string
  enabled: boolean
}

export interface NewPlan extends PlanInput {
  /** Omit to have a random id generated. */
  id?: string
}

export interface Plan extends PlanInput {
  tenantId: string
  id: string
  /** When the plan was last enabled (created enabled, or switched on): its schedule's anchor. */
  enabledAt?: Timestamp
  createdAt: Timestamp
  updatedAt: Timestamp
}

export interface PlanScheduleState {
  tenantId: string
  planId: string
  /** The due time of the last run a job was enqueued for; only moves forwards. */
  lastDueAt?: Timestamp
  /** When that job was enqueued. */
  lastEnqueuedAt?: Timestamp
  /** That job's id. */
  lastJobId?: string
  /** A run came due while the plan's previous job was still active. Cleared by the next recorded run. */
  rpoAtRisk: boolean
  /** Since when the plan has been at risk (the first flag after the last recorded run). */
  rpoAtRiskSince?: Timestamp
  /** The latest due time that could not be enqueued. */
  blockedDueAt?: Timestamp
  /** How far behind its schedule the plan was when last flagged; 0 once a run is recorded. */
  lagMs: number
  updatedAt: Timestamp
}

/** A run of a plan that has its job (the scheduler's recordDue). */
export interface PlanRun {
  dueAt: Timestamp
  jobId: string
  enqueuedAt: Timestamp
}

/** The scheduler found a run due while the plan's previous job was still active. */
export interface PlanRisk {
  blockedDueAt: Timestamp
  lagMs: number
}

export interface ProtectedVmRecords {
  /**
   * Throws STORE_NOT_FOUND (tenant, site), STORE_ALREADY_EXISTS (the VM id, or a volume id used by
   * another VM of the tenant), STORE_INVALID_ID / STORE_INVALID_ARGUMENT for bad input.
   */
  createProtectedVm(tenantId: string, vm: NewProtectedVm, now: Timestamp): Promise<ProtectedVm>
  /**
   * Replaces the VM's name, site and volumes (createdAt stays). Throws STORE_NOT_FOUND, and
   * STORE_IN_USE when a removed volume still has recovery points or a new site contradicts a plan's
   * source site.
   */
  updateProtectedVm(
    tenantId: string,
    vmId: string,
    vm: ProtectedVmInput,
    now: Timestamp,
  ): Promise<ProtectedVm>
  getProtectedVm(tenantId: string, vmId: string): Promise<ProtectedVm | undefined>
  /** The tenant's VMs, optionally of one site only, ordered by id. */
  listProtectedVms(tenantId: string, siteId?: string): Promise<ProtectedVm[]>
  /**
   * Removes the VM and frees its volume ids. Throws STORE_IN_USE while a plan names it, it has
   * recovery points, or a replication cycle of it is active. False when there was no such VM.
   */
  deleteProtectedVm(tenantId: string, vmId: string): Promise<boolean>
}

export interface PlanRecords {
  /**
   * Throws STORE_NOT_FOUND (tenant, a site, a VM), STORE_ALREADY_EXISTS, STORE_INVALID_ARGUMENT
   * (schedule, retention, groups, a VM not at the source site, source = target for replication).
   */
  createPlan(tenantId: string, plan: NewPlan, now: Timestamp): Promise<Plan>
  /** Replaces everything but id and createdAt; switching `enabled` on stamps `enabledAt`. */
  updatePlan(tenantId: string, planId: string, plan: PlanInput, now: Timestamp): Promise<Plan>
  getPlan(tenantId: string, planId: string): Promise<Plan | undefined>
  /** The tenant's plans, ordered by id. */
  listPlans(tenantId: string): Promise<Plan[]>
  /** Every enabled plan of every tenant, ordered by tenant id then plan id: the scheduler's pass. */
  listEnabledPlans(): Promise<Plan[]>
  /** Removes the plan and its schedule state; its jobs stay. False when there was no such plan. */
  deletePlan(tenantId: string, planId: string): Promise<boolean>
  /** Undefined for a plan that was never scheduled (or does not exist). */
  getPlanScheduleState(tenantId: string, planId: string): Promise<PlanScheduleState | undefined>
  /**
   * Records that the run due at `run.dueAt` has its job: lastDueAt moves forwards only (an older
   * run changes nothing), and the RPO flag is cleared. Throws STORE_NOT_FOUND for an unknown plan.
   */
  recordPlanRun(tenantId: string, planId: string, run: PlanRun, now: Timestamp): Promise<PlanScheduleState>
  /**
   * Flags the plan RPO at risk: `rpoAtRiskSince` is kept from the first flag since the last recorded
   * run, `blockedDueAt` and `lagMs` are updated. Throws STORE_NOT_FOUND for an unknown plan.
   */
  flagPlanRpoAtRisk(
    tenantId: string,
    planId: string,
    risk: PlanRisk,
    now: Timestamp,
  ): Promise<PlanScheduleState>
}
