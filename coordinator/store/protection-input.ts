/**
 * Checks of protected VMs and plans as callers pass them, shared by every backend so that all refuse
 * the same input with the same codes. Each check returns the value as it is stored: only the fields
 * the contract names (anything else is dropped), schedules in canonical form (time zones spelled as
 * the tz database does, cron fields separated by one space).
 *
 * A *cron expression* here is five fields (minute hour day-of-month month day-of-week) or a nickname
 * (`@daily`), the form the scheduler (coordinator/scheduling/schedule.ts) reads; it must match some
 * date. The interval bounds are the scheduler's: a run more often than every 10 s is noise against
 * its 30 s pass, and 31 days is the longest gap a monthly plan written as an interval needs.
 */
import { Cron } from 'croner'
import { MAX_BLOCK_SIZE, MAX_VOLUME_SIZE, MIN_BLOCK_SIZE } from '../../protocol/limits.js'
import { invalidArgument } from './errors.js'
import {
  MAINTENANCE_ACTIONS,
  type MaintenanceAction,
  type PlanInput,
  type PlanJob,
  type PlanSchedule,
  type ProtectedVmInput,
  type RetentionPolicy,
  type VmGroup,
  type VolumeSpec,
} from './protection-records.js'
import * as input from './store-input.js'

/** Volumes per protected VM: the volumes one replication job may carry (docs/PROTOCOL.md §8). */
export const MAX_VM_VOLUMES = 64
/** VM groups per plan: the failover boot groups (docs/PROTOCOL.md §8 `group`). */
export const MAX_PLAN_GROUPS = 1_000
/** VMs per plan, over all its groups. */
export const MAX_PLAN_VMS = 1_024
export const MIN_PLAN_INTERVAL_MS = 10_000
export const MAX_PLAN_INTERVAL_MS = 31 * 24 * 60 * 60 * 1000
export const MAX_CRON_EXPRESSION_LENGTH = 256
/** Recovery points a retention policy may keep per volume. */
export const MAX_RETENTION_COUNT = 100_000
/** Shortest and longest retention age: an hour, and ten years (a compliance archive). */
export const MIN_RETENTION_AGE_MS = 60 * 60 * 1000
export const MAX_RETENTION_AGE_MS = 10 * 366 * 24 * 60 * 60 * 1000
/** Tags on a recovery point or preserved by a policy, and the characters of one tag. */
export const MAX_TAGS = 32
export const MAX_TAG_LENGTH = 64

const TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/

export function checkVmInput(value: ProtectedVmInput): ProtectedVmInput {
  if (typeof value !== 'object' || value === null) {
    throw invalidArgument('a protected VM must be an object', 'Pass { name, siteId, volumes }.')
  }
  const volumes = value.volumes
  if (!Array.isArray(volumes) || volumes.length === 0 || volumes.length > MAX_VM_VOLUMES) {
    throw invalidArgument(
      `a protected VM has 1 to ${MAX_VM_VOLUMES} volumes`,
      'List every virtual disk of the VM to protect, each once.',
    )
  }
  const checked = volumes.map(checkVolume)
  if (new Set(checked.map((v) => v.id)).size !== checked.length) {
    throw invalidArgument('a protected VM lists a volume id twice', 'Give each volume its own id.')
  }
  return {
    name: input.checkName('vm', value.name),
    siteId: input.checkId('site', value.siteId),
    volumes: checked,
  }
}

function checkVolume(value: VolumeSpec): VolumeSpec {
  if (typeof value !== 'object' || value === null) {
    throw invalidArgument(
      'a volume must be { id, size, blockSize }',
      'Describe each volume with its id and sizes.',
    )
  }
  const { size, blockSize } = value
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1 || size > MAX_VOLUME_SIZE) {
    throw invalidArgument(
      `volume size must be an integer from 1 to ${MAX_VOLUME_SIZE} bytes, got ${String(size)}`,
      'Give the virtual disk’s size in bytes (at most 64 TiB).',
    )
  }
  if (
    typeof blockSize !== 'number' ||
    !Number.isSafeInteger(blockSize) ||
    blockSize < MIN_BLOCK_SIZE ||
    blockSize > MAX_BLOCK_SIZE ||
    (blockSize & (blockSize - 1)) !== 0
  ) {
    throw invalidArgument(
      `volume blockSize must be a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}, got ${String(blockSize)}`,
      'Use the default 65536 (64 KiB) unless the hypervisor’s change tracking needs another.',
    )
  }
  return { id: input.checkId('volume', value.id), size, blockSize }
}

export function checkPlanInput(value: PlanInput): PlanInput {
  if (typeof value !== 'object' || value === null) {
    throw invalidArgument(
      'a plan must be an object',
      'Pass { name, groups, schedule, job, retention, sourceSiteId, targetSiteId, enabled }.',
    )
  }
  if (typeof value.enabled !== 'boolean') {
    throw invalidArgument('a plan’s enabled must be true or false', 'Say whether the plan runs.')
  }
  const job = checkPlanJob(value.job)
  const groups = checkGroups(value.groups)
  const vmCount = groups.reduce((sum, group) => sum + group.vmIds.length, 0)
  if (job.type !== 'maintenance' && vmCount === 0) {
    throw invalidArgument(
      `a ${job.type} plan must name at least one VM`,
      'Add the VMs the plan protects to its groups.',
    )
  }
  return {
    name: input.checkName('plan', value.name),
    groups,
    schedule: checkSchedule(value.schedule),
    job,
    retention: checkRetention(value.retention),
    sourceSiteId: input.checkId('site', value.sourceSiteId),
    targetSiteId: input.checkId('site', value.targetSiteId),
    enabled: value.enabled,
  }
}

function checkGroups(value: unknown): VmGroup[] {
  if (!Array.isArray(value) || value.length > MAX_PLAN_GROUPS) {
    throw invalidArgument(
      `groups must be an array of at most ${MAX_PLAN_GROUPS} VM groups`,
      'List the boot groups in order.',
    )
  }
  const seen = new Set<string>()
  const groups = value.map((group: VmGroup): VmGroup => {
    if (
      typeof group !== 'object' ||
      group === null ||
      !Array.isArray(group.vmIds) ||
      group.vmIds.length === 0
    ) {
      throw invalidArgument('each VM group is { name?, vmIds } with at least one VM', 'Drop empty groups.')
    }
    const vmIds = group.vmIds.map((id) => input.checkId('vm', id))
    for (const id of vmIds) {
      if (seen.has(id))
        throw invalidArgument(`VM ${id} appears twice in the plan’s groups`, 'Put each VM in one group.')
      seen.add(id)
    }
    return group.name === undefined ? { vmIds } : { name: input.checkName('group', group.name), vmIds }
  })
  if (seen.size > MAX_PLAN_VMS) {
    throw invalidArgument(`a plan covers at most ${MAX_PLAN_VMS} VMs`, 'Split the VMs over several plans.')
  }
  return groups
}

function checkPlanJob(value: PlanJob): PlanJob {
  const type = (value as { type?: unknown } | null)?.type
  if (type === 'replication-cycle' || type === 'consistency-check') return { type }
  if (type === 'maintenance') {
    const action = (value as { action?: unknown }).action
    if (MAINTENANCE_ACTIONS.includes(action as MaintenanceAction))
      return { type, action: action as MaintenanceAction }
    throw invalidArgument(
      `a maintenance plan’s action must be one of ${MAINTENANCE_ACTIONS.join(', ')}, got ${JSON.stringify(action)}`,
      'Choose what the maintenance runs do.',
    )
  }
  throw invalidArgument(
    `a plan’s job type must be replication-cycle, consistency-check or maintenance, got ${JSON.stringify(type)}`,
    'Failover is run on demand, not on a schedule.',
  )
}

export function checkSchedule(value: PlanSchedule): PlanSchedule {
  const kind = (value as { kind?: unknown } | null)?.kind
  if (kind === 'interval') {
    const everyMs = (value as { everyMs?: unknown }).everyMs
    if (
      typeof everyMs !== 'number' ||
      !Number.isSafeInteger(everyMs) ||
      everyMs < MIN_PLAN_INTERVAL_MS ||
      everyMs > MAX_PLAN_INTERVAL_MS
    ) {
      throw invalidArgument(
        `an interval schedule’s everyMs must be an integer from ${MIN_PLAN_INTERVAL_MS} to ${MAX_PLAN_INTERVAL_MS}, got ${String(everyMs)}`,
        'Give the RPO in milliseconds, from 10 s to 31 days; for a time of day use a cron schedule.',
      )
    }
    return { kind, everyMs }
  }
  if (kind === 'cron') {
    const { expression, timeZone } = value as { expression?: unknown; timeZone?: unknown }
    const zone = canonicalTimeZone(timeZone)
    return { kind, expression: checkCron(expression, zone), timeZone: zone }
  }
  throw invalidArgument(
    `a schedule’s kind must be interval or cron, got ${JSON.stringify(kind)}`,
    "Pass { kind: 'interval', everyMs } or { kind: 'cron', expression, timeZone }.",
  )
}

function canonicalTimeZone(value: unknown): string {
  const remediation = "Give an IANA time zone name such as 'Europe/Berlin' or 'UTC'."
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
    throw invalidArgument('a cron schedule’s timeZone must be an IANA time zone name', remediation)
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone
  } catch {
    throw invalidArgument(`unknown time zone ${JSON.stringify(value)}`, remediation)
  }
}

function checkCron(value: unknown, timeZone: string): string {
  const remediation =
    "Write five fields (minute hour day-of-month month day-of-week), such as '30 2 * * *', or a nickname such as '@daily'."
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > MAX_CRON_EXPRESSION_LENGTH) {
    throw invalidArgument(`a cron expression is 1 to ${MAX_CRON_EXPRESSION_LENGTH} characters`, remediation)
  }
  const expression = value.trim().replace(/\s+/g, ' ')
  let cron: Cron
  try {
    // Paused and without a callback, croner starts no timer: the object only parses and computes.
    cron = new Cron(expression, { timezone: timeZone, mode: '5-part', paused: true })
  } catch (cause) {
    throw invalidArgument(
      `invalid cron expression ${JSON.stringify(expression)}: ${(cause as Error).message}`,
      remediation,
    )
  }
  // A date (croner accepts ISO times) runs once, and a pattern such as 30 February never runs.
  if (cron.getOnce() !== null || cron.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) {
    throw invalidArgument(`cron expression ${JSON.stringify(expression)} never repeats`, remediation)
  }
  return expression
}

function checkRetention(value: RetentionPolicy): RetentionPolicy {
  if (typeof value !== 'object' || value === null) {
    throw invalidArgument(
      'retention must be { count, maxAgeMs?, preservedTags }',
      'Say how many recovery points to keep.',
    )
  }
  const { count, maxAgeMs } = value
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1 || count > MAX_RETENTION_COUNT) {
    throw invalidArgument(
      `retention count must be an integer from 1 to ${MAX_RETENTION_COUNT}, got ${String(count)}`,
      'Keep at least the latest recovery point.',
    )
  }
  const checked: RetentionPolicy = { count, preservedTags: checkTags(value.preservedTags ?? []) }
  if (maxAgeMs !== undefined) {
    if (
      typeof maxAgeMs !== 'number' ||
      !Number.isSafeInteger(maxAgeMs) ||
      maxAgeMs < MIN_RETENTION_AGE_MS ||
      maxAgeMs > MAX_RETENTION_AGE_MS
    ) {
      throw invalidArgument(
        `retention maxAgeMs must be an integer from ${MIN_RETENTION_AGE_MS} to ${MAX_RETENTION_AGE_MS}, got ${String(maxAgeMs)}`,
        'Give the age in milliseconds (at least an hour), or omit it to keep points by count only.',
      )
    }
    checked.maxAgeMs = maxAgeMs
  }
  return checked
}

/** 0 – MAX_TAGS distinct tags of 1 – MAX_TAG_LENGTH characters `[A-Za-z0-9._:-]`, sorted. */
export function checkTags(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_TAGS) {
    throw invalidArgument(`tags must be an array of at most ${MAX_TAGS} tags`, 'Use fewer tags.')
  }
  for (const tag of value) {
    if (typeof tag !== 'string' || tag.length > MAX_TAG_LENGTH || !TAG_PATTERN.test(tag)) {
      throw invalidArgument(
        `invalid tag ${JSON.stringify(tag)}: tags are 1-${MAX_TAG_LENGTH} characters of [A-Za-z0-9._:-], starting with a letter or digit`,
        'Use short labels such as quarter-end or pre-upgrade.',
      )
    }
  }
  return [...new Set(value as string[])].sort()
}
