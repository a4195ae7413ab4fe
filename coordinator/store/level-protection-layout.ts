/**
 * The classic-level keys and value codecs of schema version 2's tenant records other than jobs:
 * protected VMs and their volume entries, plans, schedule states, the enabled-plan directory,
 * recovery points and their per-VM index, and notification channels (docs/STORE.md "Key layout").
 *
 * A *time key* is a time (or sequence number) as 16 decimal digits, zero-padded: every safe integer
 * fits, and byte order is then numeric order, so ranges over time keys are ranges over time.
 * Composite keys join ids and time keys with `!`, which no id holds, so each part is found by
 * splitting and a prefix ending in `!` selects exactly one value of the parts before it.
 */
import { Type } from '@sinclair/typebox'
import type { NotificationChannel } from './channel-records.js'
import { codec, Id, Time, tenantPrefix } from './level-layout.js'
import type { Plan, PlanScheduleState, ProtectedVm } from './protection-records.js'
import type { RecoveryPoint } from './recovery-point-records.js'

/** 16 zero-padded decimal digits: byte order is numeric order for every safe integer. */
export function timeKey(value: number): string {
  return String(value).padStart(16, '0')
}

export const ENABLED_PLANS_PREFIX = '!enabled-plans!'

export const vmPrefix = (tenantId: string): string => `${tenantPrefix(tenantId)}!vm!`
export const vmKey = (tenantId: string, vmId: string): string => vmPrefix(tenantId) + vmId
export const volumeKey = (tenantId: string, volumeId: string): string =>
  `${tenantPrefix(tenantId)}!volume!${volumeId}`
export const planPrefix = (tenantId: string): string => `${tenantPrefix(tenantId)}!plan!`
export const planKey = (tenantId: string, planId: string): string => planPrefix(tenantId) + planId
export const planStateKey = (tenantId: string, planId: string): string =>
  `${tenantPrefix(tenantId)}!plan-state!${planId}`
export const enabledPlanKey = (tenantId: string, planId: string): string =>
  `${ENABLED_PLANS_PREFIX}${tenantId}!${planId}`
export const pointKey = (tenantId: string, pointId: string): string =>
  `${tenantPrefix(tenantId)}!rp!${pointId}`
/** The recovery points of one VM, or of one volume of it when given. */
export const pointIndexPrefix = (tenantId: string, vmId: string, volumeId?: string): string =>
  `${tenantPrefix(tenantId)}!rp-vm!${vmId}!${volumeId === undefined ? '' : `${volumeId}!`}`
export const pointIndexKey = (tenantId: string, point: RecoveryPoint): string =>
  `${pointIndexPrefix(tenantId, point.vmId, point.volumeId)}${timeKey(point.createdAt)}!${point.id}`
export const channelPrefix = (tenantId: string): string => `${tenantPrefix(tenantId)}!channel!`
export const channelKey = (tenantId: string, channelId: string): string => channelPrefix(tenantId) + channelId

const Count = Type.Integer({ minimum: 0 })
const Tags = Type.Array(Type.String({ minLength: 1 }))

const VmRecord = Type.Object({
  tenantId: Id,
  id: Id,
  name: Type.String(),
  siteId: Id,
  volumes: Type.Array(Type.Object({ id: Id, size: Count, blockSize: Count }), { minItems: 1 }),
  createdAt: Time,
  updatedAt: Time,
})
const Schedule = Type.Union([
  Type.Object({ kind: Type.Literal('interval'), everyMs: Count }),
  Type.Object({ kind: Type.Literal('cron'), expression: Type.String(), timeZone: Type.String() }),
])
const PlanJob = Type.Union([
  Type.Object({ type: Type.Literal('replication-cycle') }),
  Type.Object({ type: Type.Literal('consistency-check') }),
  Type.Object({
    type: Type.Literal('maintenance'),
    action: Type.Union([
      Type.Literal('upgrade-appliance'),
      Type.Literal('rotate-keys'),
      Type.Literal('prune-recovery-points'),
    ]),
  }),
])
const PlanRecord = Type.Object({
  tenantId: Id,
  id: Id,
  name: Type.String(),
  groups: Type.Array(Type.Object({ name: Type.Optional(Type.String()), vmIds: Type.Array(Id) })),
  schedule: Schedule,
  job: PlanJob,
  retention: Type.Object({ count: Count, maxAgeMs: Type.Optional(Count), preservedTags: Tags }),
  sourceSiteId: Id,
  targetSiteId: Id,
  enabled: Type.Boolean(),
  enabledAt: Type.Optional(Time),
  createdAt: Time,
  updatedAt: Time,
})
const PlanStateRecord = Type.Object({
  tenantId: Id,
  planId: Id,
  lastDueAt: Type.Optional(Time),
  lastEnqueuedAt: Type.Optional(Time),
  lastJobId: Type.Optional(Id),
  rpoAtRisk: Type.Boolean(),
  rpoAtRiskSince: Type.Optional(Time),
  blockedDueAt: Type.Optional(Time),
  lagMs: Count,
  updatedAt: Time,
})
const PointRecord = Type.Object({
  tenantId: Id,
  id: Id,
  vmId: Id,
  volumeId: Id,
  createdAt: Time,
  blockMapDigest: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  size: Count,
  tags: Tags,
})
const ChannelRecord = Type.Object({
  tenantId: Id,
  id: Id,
  kind: Type.Union([
    Type.Literal('webhook'),
    Type.Literal('slack'),
    Type.Literal('email'),
    Type.Literal('pagerduty'),
  ]),
  target: Type.String({ minLength: 1 }),
  events: Type.Array(Type.String({ minLength: 1 })),
  enabled: Type.Boolean(),
  createdAt: Time,
  updatedAt: Time,
})

/** `!t!!<tenant>!!volume!<volumeId>`: which VM has the volume. */
export interface VolumeEntry {
  vmId: string
}
/** `!enabled-plans!<tenant>!<plan>` and `…!rp-vm!…`: a pointer to a record. */
export interface PlanEntry {
  tenantId: string
  planId: string
}
export interface PointEntry {
  pointId: string
}

export const decodeVm = codec<ProtectedVm>(VmRecord)
export const decodePlan = codec<Plan>(PlanRecord)
export const decodePlanState = codec<PlanScheduleState>(PlanStateRecord)
export const decodePoint = codec<RecoveryPoint>(PointRecord)
export const decodeChannel = codec<NotificationChannel>(ChannelRecord)
export const decodeVolumeEntry = codec<VolumeEntry>(Type.Object({ vmId: Id }))
export const decodePlanEntry = codec<PlanEntry>(Type.Object({ tenantId: Id, planId: Id }))
export const decodePointEntry = codec<PointEntry>(Type.Object({ pointId: Id }))
