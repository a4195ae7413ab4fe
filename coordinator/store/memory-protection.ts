/**
 * Protected VMs, plans, schedule states, recovery points, notification channels and job logs in
 * memory. Each change reads through a `ProtectionReader` over the volume, applies the rules of
 * protection-rules.ts, and only then writes, synchronously, so a change that throws has written
 * nothing; the store runs each one under its write lock. Lists come out in the level store's order.
 */
import { jobNotFound, logFull } from '../jobs/errors.js'
import { MAX_JOB_LOG_ENTRIES } from '../jobs/job-defaults.js'
import type { ChannelInput, NotificationChannel } from './channel-records.js'
import { alreadyExists, notFound } from './errors.js'
import type { JobLogEntry, NewJobLogEntry } from './job-log-records.js'
import { activeCycle } from './memory-jobs.js'
import { byteOrder, copy, type MemoryStoreVolume, sortedCopies, type TenantRecords } from './memory-volume.js'
import type { Timestamp } from './metadata-store.js'
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
  pointToAdd,
  stateAfterRisk,
  stateAfterRun,
  vmToWrite,
} from './protection-rules.js'
import type { NewRecoveryPoint, RecoveryPoint } from './recovery-point-records.js'

export function memoryReader(volume: MemoryStoreVolume): ProtectionReader {
  const records = (tenantId: string) => volume.tenantRecords.get(tenantId)
  return {
    getTenant: async (tenantId) => copy(volume.tenants.get(tenantId)),
    getSite: async (tenantId, siteId) => copy(records(tenantId)?.sites.get(siteId)),
    getProtectedVm: async (tenantId, vmId) => copy(records(tenantId)?.vms.get(vmId)),
    volumeOwner: async (tenantId, volumeId) => records(tenantId)?.volumes.get(volumeId),
    listPlans: async (tenantId) => sortedCopies(records(tenantId)?.plans),
    hasRecoveryPoints: async (tenantId, vmId, volumeId) =>
      [...(records(tenantId)?.points.values() ?? [])].some(
        (point) => point.vmId === vmId && (volumeId === undefined || point.volumeId === volumeId),
      ),
    activeCycle: async (tenantId, vmId) => activeCycle(volume, tenantId, vmId),
  }
}

function tenant(volume: MemoryStoreVolume, tenantId: string): TenantRecords {
  const records = volume.tenantRecords.get(tenantId)
  if (records === undefined) throw notFound('tenant', tenantId)
  return records
}

export async function writeVm(
  volume: MemoryStoreVolume,
  tenantId: string,
  vmId: string,
  vm: ProtectedVmInput,
  now: Timestamp,
  creating: boolean,
): Promise<ProtectedVm> {
  const previous = copy(volume.tenantRecords.get(tenantId)?.vms.get(vmId))
  if (creating && previous !== undefined) throw alreadyExists('vm', vmId)
  if (!creating && previous === undefined) throw notFound('vm', vmId, tenantId)
  const record = await vmToWrite(memoryReader(volume), tenantId, vmId, vm, previous, now)
  const records = tenant(volume, tenantId)
  for (const old of previous?.volumes ?? []) records.volumes.delete(old.id)
  for (const volumeSpec of record.volumes) records.volumes.set(volumeSpec.id, vmId)
  records.vms.set(vmId, copy(record))
  return record
}

export async function deleteVm(volume: MemoryStoreVolume, tenantId: string, vmId: string): Promise<boolean> {
  const previous = volume.tenantRecords.get(tenantId)?.vms.get(vmId)
  if (previous === undefined) return false
  await checkVmRemovable(memoryReader(volume), tenantId, vmId)
  const records = tenant(volume, tenantId)
  for (const old of previous.volumes) records.volumes.delete(old.id)
  records.vms.delete(vmId)
  return true
}

export async function writePlan(
  volume: MemoryStoreVolume,
  tenantId: string,
  planId: string,
  plan: PlanInput,
  now: Timestamp,
  creating: boolean,
): Promise<Plan> {
  const previous = copy(volume.tenantRecords.get(tenantId)?.plans.get(planId))
  if (creating && previous !== undefined) throw alreadyExists('plan', planId)
  if (!creating && previous === undefined) throw notFound('plan', planId, tenantId)
  const record = await planToWrite(memoryReader(volume), tenantId, planId, plan, previous, now)
  tenant(volume, tenantId).plans.set(planId, copy(record))
  return record
}

export function deletePlan(volume: MemoryStoreVolume, tenantId: string, planId: string): boolean {
  const records = volume.tenantRecords.get(tenantId)
  if (records?.plans.has(planId) !== true) return false
  records.plans.delete(planId)
  records.planStates.delete(planId)
  return true
}

export function listEnabledPlans(volume: MemoryStoreVolume): Plan[] {
  return [...volume.tenantRecords.keys()]
    .sort(byteOrder)
    .flatMap((tenantId) =>
      sortedCopies(volume.tenantRecords.get(tenantId)!.plans).filter((plan) => plan.enabled),
    )
}

function planRecords(volume: MemoryStoreVolume, tenantId: string, planId: string): TenantRecords {
  const records = volume.tenantRecords.get(tenantId)
  if (records?.plans.has(planId) !== true) throw notFound('plan', planId, tenantId)
  return records
}

export function recordRun(
  volume: MemoryStoreVolume,
  tenantId: string,
  planId: string,
  run: PlanRun,
  now: Timestamp,
): PlanScheduleState {
  const records = planRecords(volume, tenantId, planId)
  const state = copy(records.planStates.get(planId))
  const next = stateAfterRun(tenantId, planId, state, run, now)
  if (next === undefined) return state!
  records.planStates.set(planId, copy(next))
  return next
}

export function flagRisk(
  volume: MemoryStoreVolume,
  tenantId: string,
  planId: string,
  risk: PlanRisk,
  now: Timestamp,
): PlanScheduleState {
  const records = planRecords(volume, tenantId, planId)
  const next = stateAfterRisk(tenantId, planId, copy(records.planStates.get(planId)), risk, now)
  records.planStates.set(planId, copy(next))
  return next
}

export async function addPoint(
  volume: MemoryStoreVolume,
  tenantId: string,
  point: NewRecoveryPoint & { tags: string[] },
): Promise<RecoveryPoint> {
  const existing = copy(volume.tenantRecords.get(tenantId)?.points.get(point.id))
  const { record, write } = await pointToAdd(memoryReader(volume), tenantId, point, existing)
  if (write) tenant(volume, tenantId).points.set(record.id, copy(record))
  return record
}

/** Ordered as the level index: volume id, then createdAt, then id. */
export function listPoints(
  volume: MemoryStoreVolume,
  tenantId: string,
  vmId: string,
  volumeId: string | undefined,
): RecoveryPoint[] {
  return [...(volume.tenantRecords.get(tenantId)?.points.values() ?? [])]
    .filter((point) => point.vmId === vmId && (volumeId === undefined || point.volumeId === volumeId))
    .sort((a, b) => byteOrder(a.volumeId, b.volumeId) || a.createdAt - b.createdAt || byteOrder(a.id, b.id))
    .map(copy)
}

export function tagPoint(
  volume: MemoryStoreVolume,
  tenantId: string,
  pointId: string,
  tags: string[],
): RecoveryPoint {
  const records = volume.tenantRecords.get(tenantId)
  const point = records?.points.get(pointId)
  if (records === undefined || point === undefined) throw notFound('recovery point', pointId, tenantId)
  const next: RecoveryPoint = { ...copy(point), tags }
  records.points.set(pointId, copy(next))
  return next
}

export function deletePoint(volume: MemoryStoreVolume, tenantId: string, pointId: string): boolean {
  return volume.tenantRecords.get(tenantId)?.points.delete(pointId) ?? false
}

export function writeChannel(
  volume: MemoryStoreVolume,
  tenantId: string,
  channelId: string,
  channel: ChannelInput,
  now: Timestamp,
  creating: boolean,
): NotificationChannel {
  const records = volume.tenantRecords.get(tenantId)
  if (creating && records === undefined) throw notFound('tenant', tenantId)
  const previous = records?.channels.get(channelId)
  if (creating && previous !== undefined) throw alreadyExists('channel', channelId)
  if (!creating && previous === undefined) throw notFound('channel', channelId, tenantId)
  const record: NotificationChannel = {
    tenantId,
    id: channelId,
    ...channel,
    createdAt: previous?.createdAt ?? now,
    updatedAt: now,
  }
  records!.channels.set(channelId, copy(record))
  return record
}

export function appendLog(
  volume: MemoryStoreVolume,
  tenantId: string,
  jobId: string,
  entry: NewJobLogEntry,
): JobLogEntry {
  const records = volume.tenantRecords.get(tenantId)
  if (records?.jobs.has(jobId) !== true) throw jobNotFound(tenantId, jobId)
  const log = records.jobLogs.get(jobId) ?? []
  const seenKey =
    entry.nodeId === undefined || entry.nodeSeq === undefined
      ? undefined
      : `${jobId} ${entry.nodeId} ${entry.nodeSeq}`
  const seen = seenKey === undefined ? undefined : records.logSeen.get(seenKey)
  if (seen !== undefined && seen.at === entry.at) return copy(log[seen.seq - 1])
  if (log.length >= MAX_JOB_LOG_ENTRIES) throw logFull(jobId, MAX_JOB_LOG_ENTRIES)
  const stored: JobLogEntry = { seq: log.length + 1, ...entry }
  log.push(copy(stored))
  records.jobLogs.set(jobId, log)
  if (seenKey !== undefined) records.logSeen.set(seenKey, { at: entry.at, seq: stored.seq })
  return stored
}

export function listLog(
  volume: MemoryStoreVolume,
  tenantId: string,
  jobId: string,
  after: number | undefined,
  limit: number,
): JobLogEntry[] {
  const log = volume.tenantRecords.get(tenantId)?.jobLogs.get(jobId) ?? []
  return log.slice(after ?? 0, (after ?? 0) + limit).map(copy)
}
