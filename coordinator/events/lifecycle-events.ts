/**
 * The coordinator's one internal event map: job lifecycle events (queued → offered → acknowledged →
 * running → succeeded | failed, with retried in between), the scheduler's RPO warnings, node
 * presence, and site load for the agents' load sharing. docs/SCHEDULING.md "Events" lists who emits
 * each.
 *
 * Events are facts that already happened and were already stored where they change a record (a job
 * is in the queue before `queued` is emitted). They are hints for notifications, the dispatcher's
 * wake-up and the API's live views, not a log: the store is the record, and a subscriber that falls
 * behind may miss events (event-bus.ts).
 *
 * Every payload names its tenant, so a notification channel never sees another tenant's events,
 * and carries `at`: when it happened, in milliseconds since the epoch, by the coordinator's clock.
 */
import type { ErrorBody } from '../../protocol/errors.js'
import { createEventBus, type EventBus, type EventBusComponents, type EventBusInit } from './event-bus.js'

/** The role of a node, as the events name it (the store's NodeRole has the same values). */
export type EventNodeRole = 'appliance' | 'connector'

/** Why a job entered the queue. */
export type QueuedSource =
  | 'schedule'
  | 'manual'
  | 'retry'
  | 'handback'
  | 'offer-failed'
  | 'ack-timeout'
  | 'lease-expired'

export interface JobEventBase {
  tenantId: string
  jobId: string
  at: number
}

export interface JobQueuedEvent extends JobEventBase {
  jobType: string
  source: QueuedSource
  planId?: string
  vmId?: string
  /** For a scheduled job, the due time it stands for. */
  dueAt?: number
  /** For a scheduled job, how many earlier due runs it replaces (missed while nothing could run). */
  coalesced?: number
}

export interface JobOfferedEvent extends JobEventBase {
  nodeId: string
  leaseId: string
  attempt: number
  /** From the job becoming ready (queued and past notBefore) to its offer being sent. */
  latencyMs: number
}

export interface JobAcknowledgedEvent extends JobEventBase {
  nodeId: string
  leaseId: string
}

export interface JobRunningEvent extends JobEventBase {
  nodeId: string
  leaseId: string
}

export interface JobSucceededEvent extends JobEventBase {
  nodeId: string
  leaseId: string
  summary?: Record<string, string | number | boolean>
}

export interface JobFailedEvent extends JobEventBase {
  nodeId?: string
  error: ErrorBody
  attempt: number
  /** No attempt is left: the job stays failed until someone acts. */
  final: boolean
}

export interface JobRetriedEvent extends JobEventBase {
  /** The node the previous attempt was offered to or ran on. */
  nodeId?: string
  /** The attempt that ended (the next one is attempt + 1, unless the attempt was not counted). */
  attempt: number
  reason: ErrorBody
}

export interface RpoAtRiskEvent {
  tenantId: string
  planId: string
  vmId?: string
  /** true when the flag is raised, false when it is cleared (a cycle was enqueued again). */
  atRisk: boolean
  /** now − the due time of the last run enqueued (the age of the newest data a cycle has started for). */
  lagMs: number
  /** The due time of the last run enqueued, if any. */
  lastDueAt?: number
  /** The due time that could not be enqueued because a cycle was still active (when raised). */
  blockedDueAt?: number
  at: number
}

/**
 * A plan's due run was held back because the plan's previous job is still active: the maintenance
 * counterpart of `rpo-at-risk` (docs/SCHEDULING.md §5). Raised once when the hold starts
 * (`held: true`) and once when a run is enqueued again (`held: false`).
 */
export interface RunHeldEvent {
  tenantId: string
  planId: string
  jobType: string
  held: boolean
  /** The due time that could not be enqueued (when raised). */
  blockedDueAt?: number
  /** The due time of the last run enqueued, if any. */
  lastDueAt?: number
  at: number
}

/**
 * Recovery points changed in the catalogue: a replication cycle's commit was recorded
 * (`recorded`), or a prune removed expired ones (`pruned`).
 */
export interface RecoveryPointsEvent {
  tenantId: string
  jobId: string
  change: 'recorded' | 'pruned'
  pointIds: string[]
  at: number
}

/**
 * A plan's retention policy and its RPO cannot both be met (coordinator/replication/retention.ts),
 * found when a prune run is planned. `reason` says which way.
 */
export interface RetentionConflictEvent {
  tenantId: string
  planId: string
  reason: string
  at: number
}

export interface NodePresenceEvent {
  nodeId: string
  tenantId: string
  siteId: string
  role: EventNodeRole
  at: number
}

export interface NodeOfflineEvent extends NodePresenceEvent {
  /** The node's last heartbeat (or hello) this coordinator received, if any. */
  lastSeenAt?: number
  /** Heartbeat intervals the node missed in a row. */
  missedHeartbeats?: number
}

/** What a node's HEARTBEAT `load` says, as the dispatcher and the agents' gossip use it. */
export interface SiteLoad {
  activeJobs: number
  maxJobs?: number
  /** CPU utilisation over the last interval, all cores, 0..1. */
  cpu: number
  freeMemory?: number
  sendRate?: number
  receiveRate?: number
  queuedUpdates?: number
}

/**
 * One node's load, relayed by the coordinator to the other nodes of its site (docs/SCHEDULING.md
 * "Agents-first load sharing"). Emitted for every heartbeat the coordinator accepts.
 */
export interface SiteLoadEvent {
  tenantId: string
  siteId: string
  nodeId: string
  role: EventNodeRole
  load: SiteLoad
  /** The interval the node heartbeats at (HEARTBEAT `intervalMs`): the report is stale after a few. */
  intervalMs: number
  /** When the coordinator received the report (its clock; the node's `at` may be skewed). */
  at: number
}

export interface LifecycleEventMap {
  queued: JobQueuedEvent
  offered: JobOfferedEvent
  acknowledged: JobAcknowledgedEvent
  running: JobRunningEvent
  succeeded: JobSucceededEvent
  failed: JobFailedEvent
  retried: JobRetriedEvent
  'rpo-at-risk': RpoAtRiskEvent
  'run-held': RunHeldEvent
  'recovery-points': RecoveryPointsEvent
  'retention-conflict': RetentionConflictEvent
  'node-online': NodePresenceEvent
  'node-offline': NodeOfflineEvent
  'site-load': SiteLoadEvent
}

export type LifecycleEventType = keyof LifecycleEventMap

export const LIFECYCLE_EVENT_TYPES: readonly LifecycleEventType[] = [
  'queued',
  'offered',
  'acknowledged',
  'running',
  'succeeded',
  'failed',
  'retried',
  'rpo-at-risk',
  'run-held',
  'recovery-points',
  'retention-conflict',
  'node-online',
  'node-offline',
  'site-load',
]

export type LifecycleEvents = EventBus<LifecycleEventMap>

export function createLifecycleEvents(
  init: EventBusInit = {},
  components: EventBusComponents = {},
): LifecycleEvents {
  return createEventBus<LifecycleEventMap>(init, components)
}
