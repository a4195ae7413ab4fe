/**
 * The type-specific part of a JOB_OFFER (docs/PROTOCOL.md §8 "Payloads"). A *job type* names one of
 * the four kinds of work the orchestration engine schedules: replication cycles, consistency
 * checks, failover steps and maintenance. The coordinator fills a payload; the node that accepts the
 * job reads it. Optional fields may be added in a minor version; unknown ones are ignored.
 */
import { type Static, type TObject, Type } from '@sinclair/typebox'
import {
  MAX_ADDR_LENGTH,
  MAX_BLOCK_SIZE,
  MAX_BOOT_GROUP,
  MAX_CONNECTOR_ADDRS,
  MAX_JOB_VOLUMES,
  MAX_PRUNE_POINTS,
  MAX_SOURCE_LENGTH,
  MAX_STEP_VMS,
  MAX_VOLUME_SIZE,
  MIN_BLOCK_SIZE,
} from './limits.js'
import { Id, NodeId, ScalarMap, Text, Uint } from './schema-types.js'

export const JobType = Type.Union([
  Type.Literal('replication-cycle'),
  Type.Literal('consistency-check'),
  Type.Literal('failover-step'),
  Type.Literal('maintenance'),
])
export type JobType = Static<typeof JobType>

/** A block size: checked to be a power of two by isPowerOfTwo() in the message's refine step. */
export const BlockSize = Uint({ minimum: MIN_BLOCK_SIZE, maximum: MAX_BLOCK_SIZE })

export function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0
}

export const ReplicationVolume = Type.Object({
  volumeId: Id,
  source: Text(MAX_SOURCE_LENGTH, 1),
  size: Uint({ maximum: MAX_VOLUME_SIZE }),
  blockSize: BlockSize,
  baseRecoveryPointId: Type.Optional(Id),
})
export type ReplicationVolume = Static<typeof ReplicationVolume>

export const ReplicationCyclePayload = Type.Object({
  tenant: Id,
  planId: Id,
  vmId: Id,
  volumes: Type.Array(ReplicationVolume, { minItems: 1, maxItems: MAX_JOB_VOLUMES }),
  connector: Type.Object({
    nodeId: NodeId,
    addrs: Type.Array(Text(MAX_ADDR_LENGTH, 1), { maxItems: MAX_CONNECTOR_ADDRS }),
  }),
})
export type ReplicationCyclePayload = Static<typeof ReplicationCyclePayload>

export const ConsistencyCheckPayload = Type.Object({
  tenant: Id,
  vmId: Id,
  volumes: Type.Array(Type.Object({ volumeId: Id, recoveryPointId: Id }), {
    minItems: 1,
    maxItems: MAX_JOB_VOLUMES,
  }),
  sample: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
})
export type ConsistencyCheckPayload = Static<typeof ConsistencyCheckPayload>

export const FailoverStep = Type.Union([
  Type.Literal('validate'),
  Type.Literal('pre-hook'),
  Type.Literal('boot-group'),
  Type.Literal('network'),
  Type.Literal('post-hook'),
])
export type FailoverStep = Static<typeof FailoverStep>

export const FailoverStepPayload = Type.Object({
  tenant: Id,
  failoverId: Id,
  planId: Id,
  mode: Type.Union([Type.Literal('failover'), Type.Literal('drill')]),
  step: FailoverStep,
  group: Type.Optional(Uint({ maximum: MAX_BOOT_GROUP })),
  vmIds: Type.Array(Id, { maxItems: MAX_STEP_VMS }),
  recoveryPointId: Type.Optional(Id),
  params: Type.Optional(ScalarMap),
})
export type FailoverStepPayload = Static<typeof FailoverStepPayload>

export const MaintenancePayload = Type.Object({
  task: Type.Union([Type.Literal('upgrade'), Type.Literal('rotate-key'), Type.Literal('prune')]),
  tenant: Type.Optional(Id),
  params: Type.Optional(ScalarMap),
  /** Control 1.1, `prune` only: the recovery points retention expired, which the connector deletes. */
  points: Type.Optional(Type.Array(Id, { maxItems: MAX_PRUNE_POINTS })),
})
export type MaintenancePayload = Static<typeof MaintenancePayload>

/** The payload schema of each job type; a JOB_OFFER's payload is checked against its type's. */
export const jobPayloadSchemas: Record<JobType, TObject> = {
  'replication-cycle': ReplicationCyclePayload,
  'consistency-check': ConsistencyCheckPayload,
  'failover-step': FailoverStepPayload,
  maintenance: MaintenancePayload,
}

export interface JobPayloads {
  'replication-cycle': ReplicationCyclePayload
  'consistency-check': ConsistencyCheckPayload
  'failover-step': FailoverStepPayload
  maintenance: MaintenancePayload
}
