/**
 * Protected VMs, plans and schedule states on classic-level: each change as a function that reads
 * through the database and returns its result with the operations of its ONE batch (the store runs
 * it inside its write lock and commits the batch), and the reads. The rules shared with every
 * backend are in protection-rules.ts; keys in level-protection-layout.ts.
 *
 * Index entries written with their records: a VM's volumes (`…!volume!<id>` → its VM), the global
 * enabled-plan directory (`!enabled-plans!<tenant>!<plan>`) for the scheduler's pass over every
 * tenant.
 */
import { alreadyExists, corrupt, notFound } from './errors.js'
import * as jobs from './level-job-layout.js'
import * as layout from './level-layout.js'
import * as keys from './level-protection-layout.js'
import { getRecord, listRecords, put } from './level-records.js'
import type { Timestamp } from './metadata-store.js'
import type { StoreDatabase, StoreOperation } from './migrations.js'
import type {
  Plan,
  PlanInput,
  PlanRisk,
  PlanRun,
  PlanScheduleState,
  ProtectedVm,
  ProtectedVmInput,
} from './protection-records.js'
import {
  checkVmRemovable,
  type ProtectionReader,
  planToWrite,
  stateAfterRisk,
  stateAfterRun,
  vmToWrite,
} from './protection-rules.js'

export interface Planned<T> {
  result: T
  operations: StoreOperation[]
}

/** The reads protection-rules.ts needs, straight from the database. */
export function levelReader(db: StoreDatabase): ProtectionReader {
  return {
    getTenant: (tenantId) => getRecord(db, layout.tenantKey(tenantId), layout.decodeTenant),
    getSite: (tenantId, siteId) => getRecord(db, layout.siteKey(tenantId, siteId), layout.decodeSite),
    getProtectedVm: (tenantId, vmId) => getRecord(db, keys.vmKey(tenantId, vmId), keys.decodeVm),
    volumeOwner: async (tenantId, volumeId) =>
      (await getRecord(db, keys.volumeKey(tenantId, volumeId), keys.decodeVolumeEntry))?.vmId,
    listPlans: (tenantId) => listRecords(db, keys.planPrefix(tenantId), keys.decodePlan),
    hasRecoveryPoints: async (tenantId, vmId, volumeId) => {
      const range = layout.prefixRange(keys.pointIndexPrefix(tenantId, vmId, volumeId))
      return (await db.keys({ ...range, limit: 1 }).all()).length > 0
    },
    activeCycle: async (tenantId, vmId) =>
      (await getRecord(db, jobs.activeCycleKey(tenantId, vmId), jobs.decodeJobRef))?.jobId,
  }
}

/** The VM's record and volume entries, replacing those of `previous`. */
function vmOperations(next: ProtectedVm, previous: ProtectedVm | undefined): StoreOperation[] {
  const operations: StoreOperation[] = [put(keys.vmKey(next.tenantId, next.id), next)]
  for (const old of previous?.volumes ?? []) {
    if (!next.volumes.some((volume) => volume.id === old.id)) {
      operations.push({ type: 'del', key: keys.volumeKey(next.tenantId, old.id) })
    }
  }
  for (const volume of next.volumes)
    operations.push(put(keys.volumeKey(next.tenantId, volume.id), { vmId: next.id }))
  return operations
}

export async function createVm(
  db: StoreDatabase,
  tenantId: string,
  vmId: string,
  vm: ProtectedVmInput,
  now: Timestamp,
): Promise<Planned<ProtectedVm>> {
  if ((await getRecord(db, keys.vmKey(tenantId, vmId), keys.decodeVm)) !== undefined)
    throw alreadyExists('vm', vmId)
  const record = await vmToWrite(levelReader(db), tenantId, vmId, vm, undefined, now)
  return { result: record, operations: vmOperations(record, undefined) }
}

export async function updateVm(
  db: StoreDatabase,
  tenantId: string,
  vmId: string,
  vm: ProtectedVmInput,
  now: Timestamp,
): Promise<Planned<ProtectedVm>> {
  const previous = await getRecord(db, keys.vmKey(tenantId, vmId), keys.decodeVm)
  if (previous === undefined) throw notFound('vm', vmId, tenantId)
  const record = await vmToWrite(levelReader(db), tenantId, vmId, vm, previous, now)
  return { result: record, operations: vmOperations(record, previous) }
}

export async function deleteVm(db: StoreDatabase, tenantId: string, vmId: string): Promise<Planned<boolean>> {
  const previous = await getRecord(db, keys.vmKey(tenantId, vmId), keys.decodeVm)
  if (previous === undefined) return { result: false, operations: [] }
  await checkVmRemovable(levelReader(db), tenantId, vmId)
  const operations: StoreOperation[] = [{ type: 'del', key: keys.vmKey(tenantId, vmId) }]
  for (const volume of previous.volumes)
    operations.push({ type: 'del', key: keys.volumeKey(tenantId, volume.id) })
  return { result: true, operations }
}

/** The plan's record and its enabled-plan entry. */
function planOperations(plan: Plan): StoreOperation[] {
  const entry = keys.enabledPlanKey(plan.tenantId, plan.id)
  return [
    put(keys.planKey(plan.tenantId, plan.id), plan),
    plan.enabled ? put(entry, { tenantId: plan.tenantId, planId: plan.id }) : { type: 'del', key: entry },
  ]
}

export async function createPlan(
  db: StoreDatabase,
  tenantId: string,
  planId: string,
  plan: PlanInput,
  now: Timestamp,
): Promise<Planned<Plan>> {
  if ((await getRecord(db, keys.planKey(tenantId, planId), keys.decodePlan)) !== undefined) {
    throw alreadyExists('plan', planId)
  }
  const record = await planToWrite(levelReader(db), tenantId, planId, plan, undefined, now)
  return { result: record, operations: planOperations(record) }
}

export async function updatePlan(
  db: StoreDatabase,
  tenantId: string,
  planId: string,
  plan: PlanInput,
  now: Timestamp,
): Promise<Planned<Plan>> {
  const previous = await getRecord(db, keys.planKey(tenantId, planId), keys.decodePlan)
  if (previous === undefined) throw notFound('plan', planId, tenantId)
  const record = await planToWrite(levelReader(db), tenantId, planId, plan, previous, now)
  return { result: record, operations: planOperations(record) }
}

export async function deletePlan(
  db: StoreDatabase,
  tenantId: string,
  planId: string,
): Promise<Planned<boolean>> {
  if ((await getRecord(db, keys.planKey(tenantId, planId), keys.decodePlan)) === undefined) {
    return { result: false, operations: [] }
  }
  return {
    result: true,
    operations: [
      { type: 'del', key: keys.planKey(tenantId, planId) },
      { type: 'del', key: keys.planStateKey(tenantId, planId) },
      { type: 'del', key: keys.enabledPlanKey(tenantId, planId) },
    ],
  }
}

/** Every enabled plan, through the directory; an entry without its plan (or a disabled one) is corruption. */
export async function listEnabledPlans(db: StoreDatabase): Promise<Plan[]> {
  const entries = await listRecords(db, keys.ENABLED_PLANS_PREFIX, keys.decodePlanEntry)
  if (entries.length === 0) return []
  const planKeys = entries.map((entry) => keys.planKey(entry.tenantId, entry.planId))
  const raws = await db.getMany(planKeys)
  return raws.map((raw, n) => {
    const plan = raw === undefined ? undefined : keys.decodePlan(planKeys[n], raw)
    if (plan === undefined || !plan.enabled) {
      const { tenantId, planId } = entries[n]
      throw corrupt(`${keys.enabledPlanKey(tenantId, planId)} names a plan that is missing or disabled`)
    }
    return plan
  })
}

async function planState(
  db: StoreDatabase,
  tenantId: string,
  planId: string,
): Promise<PlanScheduleState | undefined> {
  if ((await getRecord(db, keys.planKey(tenantId, planId), keys.decodePlan)) === undefined) {
    throw notFound('plan', planId, tenantId)
  }
  return getRecord(db, keys.planStateKey(tenantId, planId), keys.decodePlanState)
}

export async function recordRun(
  db: StoreDatabase,
  tenantId: string,
  planId: string,
  run: PlanRun,
  now: Timestamp,
): Promise<Planned<PlanScheduleState>> {
  const state = await planState(db, tenantId, planId)
  const next = stateAfterRun(tenantId, planId, state, run, now)
  if (next === undefined) return { result: state!, operations: [] }
  return { result: next, operations: [put(keys.planStateKey(tenantId, planId), next)] }
}

export async function flagRisk(
  db: StoreDatabase,
  tenantId: string,
  planId: string,
  risk: PlanRisk,
  now: Timestamp,
): Promise<Planned<PlanScheduleState>> {
  const state = await planState(db, tenantId, planId)
  const next = stateAfterRisk(tenantId, planId, state, risk, now)
  return { result: next, operations: [put(keys.planStateKey(tenantId, planId), next)] }
}
