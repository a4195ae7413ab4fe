/**
 * The scheduler's store port (coordinator/scheduling/scheduler-store.ts, docs/SCHEDULING.md §6)
 * over the metadata store's plans, schedule states and job queue.
 *
 * Words used here:
 * - A plan's *VMs* are the VM ids of its groups, in group order; a replication plan enqueues one
 *   cycle per VM per due run (the scheduler names each job after its VM).
 * - A job's *payload* is the type-specific part of its JOB_OFFER (docs/PROTOCOL.md §8), built
 *   here at enqueue time from the plan, the VM and its volumes, so the offer carries what the node
 *   needs without another store read. A volume's `source` is the locator `lifeboat:vm/<vm>/volume/<id>`,
 *   which the appliance's volume map resolves (agent/replication/volume-map.ts; the store keeps no
 *   host paths). Each volume's `baseRecoveryPointId` is its newest catalogued recovery point.
 * - The *connector* of a replication cycle is an enrolled connector of the plan's target site
 *   (the first by id): where the appliance sends blocks. Its addresses are left empty here: the
 *   dispatch adapter fills in what the connector's session announced when it offers the job.
 * - A maintenance plan has no VM, so the store's active-cycle guard does not cover it: `enqueue`
 *   refuses a maintenance run with `active` while one of the plan's jobs is queued, offered or
 *   running (found through the store's by-plan job index), so runs of a slow maintenance task
 *   coalesce instead of piling up (docs/SCHEDULING.md §3). The check and the enqueue are two store
 *   calls: scheduler passes never overlap, so only a manual job of the same plan can slip between.
 */

import { MAX_PRUNE_POINTS } from '../../protocol/index.js'
import type { RetentionConflictEvent } from '../events/lifecycle-events.js'
import { unschedulable } from '../job-link/errors.js'
import type { JobPayload, JobState, JobType, NewJob } from '../jobs/job.js'
import { expiredPoints, retentionConflict } from '../replication/retention.js'
import type { ScheduledJob, ScheduledPlan, SchedulerStore } from '../scheduling/scheduler-store.js'
import type { MetadataStore, Node } from '../store/metadata-store.js'
import type { MaintenanceAction, Plan } from '../store/protection-records.js'

export type SchedulerAdapterStore = Pick<
  MetadataStore,
  | 'listEnabledPlans'
  | 'getPlan'
  | 'getPlanScheduleState'
  | 'recordPlanRun'
  | 'flagPlanRpoAtRisk'
  | 'enqueueJob'
  | 'getProtectedVm'
  | 'listNodes'
  | 'listRecoveryPoints'
  | 'listPlans'
  | 'listJobs'
>

export interface SchedulerStoreAdapterInit {
  /** Attempts each scheduled job gets; the store's MAX_ATTEMPTS when absent. */
  maxAttempts?: number
}

const MAINTENANCE_TASKS: Record<MaintenanceAction, 'upgrade' | 'rotate-key' | 'prune'> = {
  'upgrade-appliance': 'upgrade',
  'rotate-keys': 'rotate-key',
  'prune-recovery-points': 'prune',
}

/** The states in which a maintenance plan's job holds back the plan's next run. */
const ACTIVE_STATES: readonly JobState[] = ['queued', 'offered', 'running']

export function createSchedulerStoreAdapter(
  init: SchedulerStoreAdapterInit,
  components: {
    store: SchedulerAdapterStore
    /** Told when a plan's retention and RPO cannot both be met (the `retention-conflict` event). */
    onRetentionConflict?: (conflict: RetentionConflictEvent) => void
  },
): SchedulerStore {
  const { store } = components

  /**
   * What every VM of one plan's run shares — the plan and its target site's connectors — read once
   * per run: a run of a 10,000-VM plan enqueues 10,000 jobs at the same `enqueuedAt`, and reading
   * both for each one queued 20,000 reads in front of the enqueues (docs/BENCHMARKS.md "Dispatch").
   * Only the current run of each plan is kept.
   */
  const runReads = new Map<
    string,
    { enqueuedAt: number; reads: Promise<{ plan?: Plan; connectors: Node[] }> }
  >()
  const readsOfRun = (job: ScheduledJob): Promise<{ plan?: Plan; connectors: Node[] }> => {
    const key = `${job.tenantId}\0${job.planId}`
    const cached = runReads.get(key)
    if (cached !== undefined && cached.enqueuedAt === job.enqueuedAt) return cached.reads
    const reads = (async () => {
      const plan = await store.getPlan(job.tenantId, job.planId)
      if (plan === undefined || plan.job.type === 'maintenance') return { plan, connectors: [] }
      const nodes = await store.listNodes(plan.tenantId, plan.targetSiteId)
      return { plan, connectors: nodes.filter((node) => node.role === 'connector') }
    })()
    // A failed read is not kept: the next VM of the run reads again.
    reads.catch(() => runReads.delete(key))
    runReads.set(key, { enqueuedAt: job.enqueuedAt, reads })
    return reads
  }

  const replicationPayload = async (plan: Plan, vmId: string, connectors: Node[]): Promise<JobPayload> => {
    const vm = await store.getProtectedVm(plan.tenantId, vmId)
    if (vm === undefined) throw unschedulable(plan.id, `its VM ${vmId} no longer exists`)
    if (connectors.length === 0) {
      throw unschedulable(plan.id, `no connector is enrolled in its target site ${plan.targetSiteId}`)
    }
    return {
      tenant: plan.tenantId,
      planId: plan.id,
      vmId,
      volumes: await Promise.all(
        vm.volumes.map(async (volume) => {
          // The newest catalogued point is the base: blocks the cycle sends no record for keep it.
          const points = await store.listRecoveryPoints(plan.tenantId, vmId, volume.id)
          const base = points.at(-1)
          return {
            volumeId: volume.id,
            source: `lifeboat:vm/${vmId}/volume/${volume.id}`,
            size: volume.size,
            blockSize: volume.blockSize,
            ...(base === undefined ? {} : { baseRecoveryPointId: base.id }),
          }
        }),
      ),
      connector: { nodeId: connectors[0]!.id, addrs: [] },
    }
  }

  const newJob = async (plan: Plan, job: ScheduledJob, connectors: Node[]): Promise<NewJob> => {
    const base = { id: job.jobId, planId: plan.id, maxAttempts: init.maxAttempts }
    if (plan.job.type === 'replication-cycle') {
      if (job.vmId === undefined) throw unschedulable(plan.id, 'a replication cycle must name its VM')
      return {
        ...base,
        type: 'replication-cycle' as JobType,
        vmId: job.vmId,
        siteId: plan.sourceSiteId,
        role: 'appliance',
        payload: await replicationPayload(plan, job.vmId, connectors),
      }
    }
    if (plan.job.type === 'maintenance' && plan.job.action === 'prune-recovery-points') {
      // The connectors of the target site hold the points: one of them deletes what retention
      // expired, then collects the chunks nothing names any more.
      return {
        ...base,
        type: 'maintenance' as JobType,
        siteId: plan.targetSiteId,
        role: 'connector',
        payload: {
          task: 'prune',
          tenant: plan.tenantId,
          points: await expiredPointIds(plan, job.enqueuedAt),
        },
      }
    }
    if (plan.job.type === 'maintenance') {
      return {
        ...base,
        type: 'maintenance' as JobType,
        siteId: plan.sourceSiteId,
        role: 'appliance',
        payload: { task: MAINTENANCE_TASKS[plan.job.action], tenant: plan.tenantId },
      }
    }
    if (job.vmId === undefined) throw unschedulable(plan.id, 'a consistency check must name its VM')
    return {
      ...base,
      type: 'consistency-check' as JobType,
      vmId: job.vmId,
      // A check reads and writes no volume: it fences nothing.
      volumeIds: [],
      siteId: plan.targetSiteId,
      role: 'connector',
      payload: await checkPayload(plan, job.vmId),
    }
  }

  /** The newest recovery point of each of the VM's volumes: what a consistency check reads. */
  const checkPayload = async (plan: Plan, vmId: string): Promise<JobPayload> => {
    const vm = await store.getProtectedVm(plan.tenantId, vmId)
    if (vm === undefined) throw unschedulable(plan.id, `its VM ${vmId} no longer exists`)
    const volumes: Array<{ volumeId: string; recoveryPointId: string }> = []
    for (const volume of vm.volumes) {
      const newest = (await store.listRecoveryPoints(plan.tenantId, vmId, volume.id)).at(-1)
      if (newest !== undefined) volumes.push({ volumeId: volume.id, recoveryPointId: newest.id })
    }
    if (volumes.length === 0)
      throw unschedulable(plan.id, `its VM ${vmId} has no recovery point to check yet`)
    return { tenant: plan.tenantId, vmId, volumes }
  }

  /**
   * The points the retention of the tenant's replication plans into this plan's target site has
   * expired (coordinator/replication/retention.ts), at most MAX_PRUNE_POINTS, oldest first; the
   * rest go in the next run. Reports each plan whose retention and RPO cannot both be met.
   */
  const expiredPointIds = async (prune: Plan, now: number): Promise<string[]> => {
    const ids: string[] = []
    for (const plan of await store.listPlans(prune.tenantId)) {
      if (plan.job.type !== 'replication-cycle' || plan.targetSiteId !== prune.targetSiteId) continue
      const conflict = retentionConflict(plan.retention, plan.schedule)
      if (conflict !== undefined) {
        components.onRetentionConflict?.({
          tenantId: plan.tenantId,
          planId: plan.id,
          reason: conflict,
          at: now,
        })
      }
      for (const vmId of plan.groups.flatMap((group) => group.vmIds)) {
        const points = await store.listRecoveryPoints(plan.tenantId, vmId)
        for (const point of expiredPoints(points, plan.retention, now)) ids.push(point.id)
      }
    }
    return ids.slice(0, MAX_PRUNE_POINTS)
  }

  /** Whether one of the maintenance plan's jobs is still queued, offered or running. */
  const maintenanceActive = async (plan: Plan): Promise<boolean> => {
    for (const state of ACTIVE_STATES) {
      const active = await store.listJobs(plan.tenantId, { planId: plan.id, state }, { limit: 1 })
      if (active.length > 0) return true
    }
    return false
  }

  return {
    async listEnabledPlans(): Promise<ScheduledPlan[]> {
      const plans = await store.listEnabledPlans()
      return plans.map((plan) => {
        const scheduled: ScheduledPlan = {
          tenantId: plan.tenantId,
          planId: plan.id,
          jobType: plan.job.type,
          schedule: plan.schedule,
          // A plan stored enabled always has enabledAt; createdAt covers records from before it.
          anchorAt: plan.enabledAt ?? plan.createdAt,
        }
        if (plan.job.type !== 'maintenance') scheduled.vmIds = plan.groups.flatMap((group) => group.vmIds)
        return scheduled
      })
    },

    async getScheduleState(tenantId, planId) {
      const state = await store.getPlanScheduleState(tenantId, planId)
      if (state === undefined) return undefined
      return {
        lastDueAt: state.lastDueAt,
        lastJobId: state.lastJobId,
        rpoAtRisk: state.rpoAtRisk
          ? { since: state.rpoAtRiskSince ?? state.updatedAt, blockedDueAt: state.blockedDueAt ?? 0 }
          : undefined,
      }
    },

    async enqueue(job) {
      const { plan, connectors } = await readsOfRun(job)
      if (plan === undefined || !plan.enabled) return { enqueued: false, reason: 'plan-gone' }
      if (plan.job.type === 'maintenance' && (await maintenanceActive(plan))) {
        return { enqueued: false, reason: 'active' }
      }
      const result = await store.enqueueJob(job.tenantId, await newJob(plan, job, connectors), job.enqueuedAt)
      return result.enqueued ? { enqueued: true } : { enqueued: false, reason: result.reason }
    },

    async recordDue(record) {
      await store.recordPlanRun(
        record.tenantId,
        record.planId,
        { dueAt: record.dueAt, jobId: record.jobId, enqueuedAt: record.recordedAt },
        record.recordedAt,
      )
    },

    async setRpoAtRisk(tenantId, planId, risk) {
      // The port passes no lag: it is the age of the newest run that has its job, as stored.
      const state = await store.getPlanScheduleState(tenantId, planId)
      const plan = state?.lastDueAt === undefined ? await store.getPlan(tenantId, planId) : undefined
      const lastDueAt = state?.lastDueAt ?? plan?.enabledAt ?? risk.since
      await store.flagPlanRpoAtRisk(
        tenantId,
        planId,
        { blockedDueAt: risk.blockedDueAt, lagMs: Math.max(0, risk.since - lastDueAt) },
        risk.since,
      )
    },
  }
}
