/**
 * The rules of changing protected VMs, plans, schedule states and recovery points that depend on
 * other records, written once for every backend. A backend reads through a `ProtectionReader`
 * inside its change (under its write lock), calls a rule, and writes the record the rule returns;
 * a rule that throws leaves nothing written.
 *
 * *References*: a plan names sites and VMs, a recovery point names a VM and one of its volumes, a job
 * names a VM. A record others refer to cannot be removed, nor changed so that a reference breaks
 * (STORE_IN_USE); a reference to a record that does not exist is STORE_NOT_FOUND. A volume id
 * belongs to at most one VM of a tenant (STORE_ALREADY_EXISTS), because fencing tokens and recovery
 * points are kept per volume.
 */
import { alreadyExists, inUse, invalidArgument, notFound } from './errors.js'
import type { Site, Tenant, Timestamp } from './metadata-store.js'
import type {
  Plan,
  PlanInput,
  PlanRisk,
  PlanRun,
  PlanScheduleState,
  ProtectedVm,
  ProtectedVmInput,
} from './protection-records.js'
import type { NewRecoveryPoint, RecoveryPoint } from './recovery-point-records.js'
import * as input from './store-input.js'

export interface ProtectionReader {
  getTenant(tenantId: string): Promise<Tenant | undefined>
  getSite(tenantId: string, siteId: string): Promise<Site | undefined>
  getProtectedVm(tenantId: string, vmId: string): Promise<ProtectedVm | undefined>
  /** The id of the VM that has this volume. */
  volumeOwner(tenantId: string, volumeId: string): Promise<string | undefined>
  listPlans(tenantId: string): Promise<Plan[]>
  /** Whether the VM (or one volume of it) has any recovery point. */
  hasRecoveryPoints(tenantId: string, vmId: string, volumeId?: string): Promise<boolean>
  /** The id of the VM's active replication cycle, if any. */
  activeCycle(tenantId: string, vmId: string): Promise<string | undefined>
}

const planVmIds = (plan: PlanInput): string[] => plan.groups.flatMap((group) => group.vmIds)
/** Replication and consistency plans tie their VMs to the source site; maintenance plans do not. */
const tiesVmsToSource = (plan: PlanInput): boolean => plan.job.type !== 'maintenance'

/** The VM record to write for a create (`previous` undefined) or an update. */
export async function vmToWrite(
  read: ProtectionReader,
  tenantId: string,
  vmId: string,
  vm: ProtectedVmInput,
  previous: ProtectedVm | undefined,
  now: Timestamp,
): Promise<ProtectedVm> {
  if (previous === undefined && (await read.getTenant(tenantId)) === undefined)
    throw notFound('tenant', tenantId)
  if ((await read.getSite(tenantId, vm.siteId)) === undefined) throw notFound('site', vm.siteId, tenantId)
  for (const volume of vm.volumes) {
    const owner = await read.volumeOwner(tenantId, volume.id)
    if (owner !== undefined && owner !== vmId) throw alreadyExists('volume', volume.id)
  }
  if (previous !== undefined) {
    for (const old of previous.volumes) {
      if (vm.volumes.some((volume) => volume.id === old.id)) continue
      if (await read.hasRecoveryPoints(tenantId, vmId, old.id)) {
        throw inUse(
          `volume ${old.id} of VM ${vmId} has recovery points and cannot be removed`,
          'Delete the volume’s recovery points first (or keep the volume).',
        )
      }
    }
    if (vm.siteId !== previous.siteId) {
      const plan = (await read.listPlans(tenantId)).find(
        (p) => tiesVmsToSource(p) && p.sourceSiteId !== vm.siteId && planVmIds(p).includes(vmId),
      )
      if (plan !== undefined) {
        throw inUse(
          `VM ${vmId} is protected by plan ${plan.id} from site ${plan.sourceSiteId}`,
          'Move the VM out of the plan (or change the plan’s source site) first.',
        )
      }
    }
  }
  return { tenantId, id: vmId, ...vm, createdAt: previous?.createdAt ?? now, updatedAt: now }
}

/** Throws STORE_IN_USE while the VM is referred to. */
export async function checkVmRemovable(
  read: ProtectionReader,
  tenantId: string,
  vmId: string,
): Promise<void> {
  const plan = (await read.listPlans(tenantId)).find((p) => planVmIds(p).includes(vmId))
  if (plan !== undefined) {
    throw inUse(`VM ${vmId} is in plan ${plan.id}`, 'Remove the VM from the plan’s groups first.')
  }
  if (await read.hasRecoveryPoints(tenantId, vmId)) {
    throw inUse(
      `VM ${vmId} has recovery points`,
      'Delete (or let retention prune) its recovery points first.',
    )
  }
  if ((await read.activeCycle(tenantId, vmId)) !== undefined) {
    throw inUse(`VM ${vmId} has an active replication cycle`, 'Cancel the cycle, or wait for it to finish.')
  }
}

/** The plan record to write for a create (`previous` undefined) or an update. */
export async function planToWrite(
  read: ProtectionReader,
  tenantId: string,
  planId: string,
  plan: PlanInput,
  previous: Plan | undefined,
  now: Timestamp,
): Promise<Plan> {
  if (previous === undefined && (await read.getTenant(tenantId)) === undefined)
    throw notFound('tenant', tenantId)
  for (const siteId of [plan.sourceSiteId, plan.targetSiteId]) {
    if ((await read.getSite(tenantId, siteId)) === undefined) throw notFound('site', siteId, tenantId)
  }
  if (tiesVmsToSource(plan) && plan.sourceSiteId === plan.targetSiteId) {
    throw invalidArgument(
      `a ${plan.job.type} plan’s target site must differ from its source site ${plan.sourceSiteId}`,
      'Replicas belong at another site than the VMs they protect.',
    )
  }
  for (const vmId of planVmIds(plan)) {
    const vm = await read.getProtectedVm(tenantId, vmId)
    if (vm === undefined) throw notFound('vm', vmId, tenantId)
    if (tiesVmsToSource(plan) && vm.siteId !== plan.sourceSiteId) {
      throw invalidArgument(
        `VM ${vmId} runs at site ${vm.siteId}, not at the plan’s source site ${plan.sourceSiteId}`,
        'Put only VMs of the source site in the plan.',
      )
    }
  }
  const enabledAt = plan.enabled && previous?.enabled !== true ? now : previous?.enabledAt
  return {
    tenantId,
    id: planId,
    ...plan,
    ...(enabledAt === undefined ? {} : { enabledAt }),
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  }
}

/** The schedule state after a recorded run, or undefined when the run is not newer (no change). */
export function stateAfterRun(
  tenantId: string,
  planId: string,
  state: PlanScheduleState | undefined,
  run: PlanRun,
  now: Timestamp,
): PlanScheduleState | undefined {
  if (state?.lastDueAt !== undefined && run.dueAt <= state.lastDueAt) return undefined
  return {
    tenantId,
    planId,
    lastDueAt: run.dueAt,
    lastEnqueuedAt: run.enqueuedAt,
    lastJobId: run.jobId,
    rpoAtRisk: false,
    lagMs: 0,
    updatedAt: now,
  }
}

/** The schedule state after a flag of RPO at risk. */
export function stateAfterRisk(
  tenantId: string,
  planId: string,
  state: PlanScheduleState | undefined,
  risk: PlanRisk,
  now: Timestamp,
): PlanScheduleState {
  const {
    rpoAtRiskSince: _since,
    blockedDueAt: _blocked,
    ...rest
  } = state ?? {
    tenantId,
    planId,
    rpoAtRisk: false,
    lagMs: 0,
    updatedAt: now,
  }
  return {
    ...rest,
    rpoAtRisk: true,
    rpoAtRiskSince:
      state?.rpoAtRisk === true && state.rpoAtRiskSince !== undefined ? state.rpoAtRiskSince : now,
    blockedDueAt: Math.max(risk.blockedDueAt, state?.blockedDueAt ?? 0),
    lagMs: risk.lagMs,
    updatedAt: now,
  }
}

export function checkRun(run: PlanRun): PlanRun {
  if (typeof run !== 'object' || run === null) {
    throw invalidArgument(
      'a plan run must be { dueAt, jobId, enqueuedAt }',
      'Pass the run the job stands for.',
    )
  }
  return {
    dueAt: input.checkTime('dueAt', run.dueAt),
    jobId: input.checkId('job', run.jobId),
    enqueuedAt: input.checkTime('enqueuedAt', run.enqueuedAt),
  }
}

export function checkRisk(risk: PlanRisk): PlanRisk {
  if (typeof risk !== 'object' || risk === null) {
    throw invalidArgument(
      'an RPO risk must be { blockedDueAt, lagMs }',
      'Pass the run that could not be enqueued.',
    )
  }
  return {
    blockedDueAt: input.checkTime('blockedDueAt', risk.blockedDueAt),
    lagMs: input.checkTime('lagMs', risk.lagMs),
  }
}

/**
 * What adding a recovery point does: `write` the record, or return the equal one already there (a
 * replayed commit). Throws STORE_NOT_FOUND for a VM or volume that does not exist, and
 * STORE_ALREADY_EXISTS for a different record under the same id.
 */
export async function pointToAdd(
  read: ProtectionReader,
  tenantId: string,
  point: NewRecoveryPoint & { tags: string[] },
  existing: RecoveryPoint | undefined,
): Promise<{ record: RecoveryPoint; write: boolean }> {
  const record: RecoveryPoint = { tenantId, ...point }
  if (existing !== undefined) {
    if (JSON.stringify(existing) === JSON.stringify(record)) return { record: existing, write: false }
    throw alreadyExists('recovery point', point.id)
  }
  const vm = await read.getProtectedVm(tenantId, point.vmId)
  if (vm === undefined) throw notFound('vm', point.vmId, tenantId)
  if (!vm.volumes.some((volume) => volume.id === point.volumeId))
    throw notFound('volume', point.volumeId, tenantId)
  return { record, write: true }
}
