/**
 * Messages of `/lifeboat/control/1.0.0`, between a node and the coordinator (docs/PROTOCOL.md §8):
 * their schemas, their types, and the control codec (encode, decode, validate).
 *
 * A *status update* (PROGRESS, RESULT, LOG_ENTRY, JOB_HANDBACK) carries `seq`, numbered by the node,
 * and `at`, when the node made it; the node keeps it until a STATUS_ACK covers its `seq`, and
 * replays what is left after a reconnect (STATUS_REPLAY). A *lease* is a job attempt's right to
 * run: an ID, a TTL renewed at half its length, and a *fencing token* that only grows, so stores
 * can refuse writes from a node whose lease was given to another.
 */
import { type Static, Type } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { commonSpecs, type ErrorMessage, type Hello } from './common-messages.js'
import { isPowerOfTwo, type JobPayloads, JobType, jobPayloadSchemas } from './job-payloads.js'
import {
  MAX_ACK_DEADLINE_MS,
  MAX_ATTEMPT,
  MAX_CONTROL_FRAME_SIZE,
  MAX_HEARTBEAT_INTERVAL_MS,
  MAX_LEASE_TTL_MS,
  MAX_NAME_LENGTH,
  MAX_REPLAY_ITEMS,
  MAX_REPORTED_JOBS,
  MAX_STEP_LENGTH,
  MAX_TEXT_LENGTH,
  MAX_TOKEN_LENGTH,
  MIN_ACK_DEADLINE_MS,
  MIN_LEASE_TTL_MS,
  MIN_TOKEN_LENGTH,
} from './limits.js'
import { createMessageCodec, type MessageCodec } from './message-codec.js'
import { MessageType } from './message-types.js'
import { CONTROL_PROTOCOL_ID, CONTROL_PROTOCOL_VERSION } from './protocol-ids.js'
import {
  ErrorBodySchema,
  Id,
  Message,
  NodeId,
  Ratio,
  ScalarMap,
  Text,
  Timestamp,
  Uint,
} from './schema-types.js'
import { type MessageSpec, MessageValidator, type Problem, under } from './validate.js'

const Rid = Uint()
const Seq = Uint({ minimum: 1 })
const FencingToken = Uint({ minimum: 1 })
const LeaseTtlMs = Uint({ minimum: MIN_LEASE_TTL_MS, maximum: MAX_LEASE_TTL_MS })
const Step = Text(MAX_STEP_LENGTH, 1)

export const EnrolSchema = Message(MessageType.ENROL, {
  rid: Rid,
  token: Type.String({
    minLength: MIN_TOKEN_LENGTH,
    maxLength: MAX_TOKEN_LENGTH,
    pattern: '^[A-Za-z0-9._~+/=-]+$',
  }),
  name: Type.Optional(Text(MAX_NAME_LENGTH)),
})
export type Enrol = Static<typeof EnrolSchema>

export const NodeRecordSchema = Type.Object({
  nodeId: NodeId,
  role: Type.Union([Type.Literal('appliance'), Type.Literal('connector')]),
  tenant: Id,
  site: Id,
  name: Text(MAX_NAME_LENGTH),
  enrolledAt: Timestamp,
})
export type NodeRecord = Static<typeof NodeRecordSchema>

export const EnrolAcceptedSchema = Message(MessageType.ENROL_ACCEPTED, { rid: Rid, node: NodeRecordSchema })
export type EnrolAccepted = Static<typeof EnrolAcceptedSchema>

export const LoadReportSchema = Type.Object({
  activeJobs: Uint({ maximum: MAX_REPORTED_JOBS }),
  maxJobs: Type.Optional(Uint({ maximum: MAX_REPORTED_JOBS })),
  cpu: Ratio,
  freeMemory: Uint(),
  sendRate: Uint(),
  receiveRate: Uint(),
  queuedUpdates: Uint(),
})
export type LoadReport = Static<typeof LoadReportSchema>

export const HeartbeatSchema = Message(MessageType.HEARTBEAT, {
  at: Timestamp,
  intervalMs: Uint({ minimum: 1, maximum: MAX_HEARTBEAT_INTERVAL_MS }),
  load: LoadReportSchema,
})
export type Heartbeat = Static<typeof HeartbeatSchema>

/**
 * control 1.1: one node's load report, relayed by the coordinator to the other nodes of the same
 * tenant and site on their session streams (docs/PROTOCOL.md §8), for the agents' load sharing.
 * Sent only on sessions whose node announced 1.1 or higher; no answer.
 */
export const SiteLoadSchema = Message(MessageType.SITE_LOAD, {
  nodeId: NodeId,
  role: Type.Union([Type.Literal('appliance'), Type.Literal('connector')]),
  intervalMs: Uint({ minimum: 1, maximum: MAX_HEARTBEAT_INTERVAL_MS }),
  load: LoadReportSchema,
})
export type SiteLoad = Static<typeof SiteLoadSchema>

export const JobOfferSchema = Message(MessageType.JOB_OFFER, {
  rid: Rid,
  jobId: Id,
  jobType: JobType,
  leaseId: Id,
  fencingToken: FencingToken,
  ackDeadlineMs: Uint({ minimum: MIN_ACK_DEADLINE_MS, maximum: MAX_ACK_DEADLINE_MS }),
  leaseTtlMs: LeaseTtlMs,
  attempt: Uint({ minimum: 1, maximum: MAX_ATTEMPT }),
  // Checked against the schema of `jobType` (job-payloads.ts) by refineJobOffer.
  payload: Type.Object({}),
})
type JobOfferFields = Omit<Static<typeof JobOfferSchema>, 'jobType' | 'payload'>
/** A JOB_OFFER whose payload type follows its job type. */
export type JobOffer = { [K in JobType]: JobOfferFields & { jobType: K; payload: JobPayloads[K] } }[JobType]

export const JobAckSchema = Message(MessageType.JOB_ACK, {
  rid: Rid,
  jobId: Id,
  leaseId: Id,
  accepted: Type.Boolean(),
  reason: Type.Optional(ErrorBodySchema),
})
export type JobAck = Static<typeof JobAckSchema>

export const LeaseRenewalSchema = Message(MessageType.LEASE_RENEWAL, {
  rid: Rid,
  jobId: Id,
  leaseId: Id,
  fencingToken: FencingToken,
})
export type LeaseRenewal = Static<typeof LeaseRenewalSchema>

export const LeaseRenewedSchema = Message(MessageType.LEASE_RENEWED, {
  rid: Rid,
  jobId: Id,
  leaseId: Id,
  leaseTtlMs: LeaseTtlMs,
})
export type LeaseRenewed = Static<typeof LeaseRenewedSchema>

export const ProgressSchema = Message(MessageType.PROGRESS, {
  seq: Seq,
  at: Timestamp,
  jobId: Id,
  step: Step,
  bytesDone: Uint(),
  bytesTotal: Type.Optional(Uint()),
  percent: Type.Number({ minimum: 0, maximum: 100 }),
})
export type Progress = Static<typeof ProgressSchema>

export const JobResultSchema = Message(MessageType.RESULT, {
  seq: Seq,
  at: Timestamp,
  jobId: Id,
  leaseId: Id,
  ok: Type.Boolean(),
  error: Type.Optional(ErrorBodySchema),
  summary: Type.Optional(ScalarMap),
})
export type JobResult = Static<typeof JobResultSchema>

export const LogLevel = Type.Union([
  Type.Literal('debug'),
  Type.Literal('info'),
  Type.Literal('warn'),
  Type.Literal('error'),
])
export type LogLevel = Static<typeof LogLevel>

export const LogEntrySchema = Message(MessageType.LOG_ENTRY, {
  seq: Seq,
  at: Timestamp,
  jobId: Id,
  nodeId: NodeId,
  step: Step,
  level: LogLevel,
  message: Text(MAX_TEXT_LENGTH),
  bytesDone: Type.Optional(Uint()),
  error: Type.Optional(ErrorBodySchema),
})
export type LogEntry = Static<typeof LogEntrySchema>

export const JobHandbackSchema = Message(MessageType.JOB_HANDBACK, {
  seq: Seq,
  at: Timestamp,
  jobId: Id,
  leaseId: Id,
  reason: ErrorBodySchema,
})
export type JobHandback = Static<typeof JobHandbackSchema>

export type StatusUpdate = Progress | JobResult | LogEntry | JobHandback

export const StatusReplaySchema = Message(MessageType.STATUS_REPLAY, {
  rid: Rid,
  // Each item is checked as the status update its own `t` names, by refineStatusReplay.
  items: Type.Array(Type.Object({ t: Type.Integer() }), { minItems: 1, maxItems: MAX_REPLAY_ITEMS }),
})
export type StatusReplay = Omit<Static<typeof StatusReplaySchema>, 'items'> & { items: StatusUpdate[] }

export const StatusAckSchema = Message(MessageType.STATUS_ACK, { rid: Type.Optional(Rid), seq: Uint() })
export type StatusAck = Static<typeof StatusAckSchema>

export type ControlMessage =
  | Hello
  | ErrorMessage
  | Enrol
  | EnrolAccepted
  | Heartbeat
  | SiteLoad
  | JobOffer
  | JobAck
  | LeaseRenewal
  | LeaseRenewed
  | StatusUpdate
  | StatusReplay
  | StatusAck

const payloadChecks = new Map(
  Object.entries(jobPayloadSchemas).map(([jobType, schema]) => [jobType, TypeCompiler.Compile(schema)]),
)

function refineJobOffer(offer: JobOffer): Problem | undefined {
  const check = payloadChecks.get(offer.jobType)!
  if (!check.Check(offer.payload)) {
    const first = check.Errors(offer.payload).First()
    return { path: `/payload${first?.path ?? ''}`, detail: first?.message ?? 'does not match the job type' }
  }
  if (offer.jobType === 'replication-cycle') {
    const seen = new Set<string>()
    for (const [i, volume] of offer.payload.volumes.entries()) {
      if (!isPowerOfTwo(volume.blockSize)) {
        return { path: `/payload/volumes/${i}/blockSize`, detail: 'is not a power of two' }
      }
      if (seen.has(volume.volumeId))
        return { path: `/payload/volumes/${i}/volumeId`, detail: 'appears twice' }
      seen.add(volume.volumeId)
    }
  }
  return undefined
}

/** `field` is present if and only if `flag` is false (a reason for a refusal, an error for a failure). */
function presentIffFalse(
  flag: boolean,
  value: unknown,
  field: string,
  flagName: string,
): Problem | undefined {
  if (!flag && value === undefined)
    return { path: `/${field}`, detail: `is required when ${flagName} is false` }
  if (flag && value !== undefined)
    return { path: `/${field}`, detail: `must be absent when ${flagName} is true` }
  return undefined
}

function refineProgress(progress: Progress): Problem | undefined {
  if (progress.bytesTotal !== undefined && progress.bytesTotal < progress.bytesDone) {
    return { path: '/bytesTotal', detail: 'is smaller than bytesDone' }
  }
  return undefined
}

const statusSpecs: MessageSpec<StatusUpdate>[] = [
  { t: MessageType.PROGRESS, schema: ProgressSchema, refine: (m) => refineProgress(m as Progress) },
  {
    t: MessageType.RESULT,
    schema: JobResultSchema,
    refine: (m) => presentIffFalse((m as JobResult).ok, (m as JobResult).error, 'error', 'ok'),
  },
  { t: MessageType.LOG_ENTRY, schema: LogEntrySchema },
  { t: MessageType.JOB_HANDBACK, schema: JobHandbackSchema },
]
const statusValidator = new MessageValidator<StatusUpdate>('control', statusSpecs)

function refineStatusReplay(replay: StatusReplay): Problem | undefined {
  let previous = 0
  for (const [i, item] of replay.items.entries()) {
    const t = (item as { t: number }).t
    if (!statusValidator.has(t)) return { path: `/items/${i}/t`, detail: `type ${t} is not a status update` }
    const problem = under(`/items/${i}`, statusValidator.problemOf(t, item))
    if (problem !== undefined) return problem
    if (item.seq <= previous)
      return { path: `/items/${i}/seq`, detail: 'is not greater than the previous item' }
    previous = item.seq
  }
  return undefined
}

const controlSpecs: MessageSpec<ControlMessage>[] = [
  ...(commonSpecs as unknown as MessageSpec<ControlMessage>[]),
  { t: MessageType.ENROL, schema: EnrolSchema },
  { t: MessageType.ENROL_ACCEPTED, schema: EnrolAcceptedSchema },
  { t: MessageType.HEARTBEAT, schema: HeartbeatSchema },
  { t: MessageType.SITE_LOAD, schema: SiteLoadSchema },
  { t: MessageType.JOB_OFFER, schema: JobOfferSchema, refine: (m) => refineJobOffer(m as JobOffer) },
  {
    t: MessageType.JOB_ACK,
    schema: JobAckSchema,
    refine: (m) => presentIffFalse((m as JobAck).accepted, (m as JobAck).reason, 'reason', 'accepted'),
  },
  { t: MessageType.LEASE_RENEWAL, schema: LeaseRenewalSchema },
  { t: MessageType.LEASE_RENEWED, schema: LeaseRenewedSchema },
  ...(statusSpecs as MessageSpec<ControlMessage>[]),
  {
    t: MessageType.STATUS_REPLAY,
    schema: StatusReplaySchema,
    refine: (m) => refineStatusReplay(m as StatusReplay),
  },
  { t: MessageType.STATUS_ACK, schema: StatusAckSchema },
]

export const controlCodec: MessageCodec<ControlMessage> = createMessageCodec({
  protocolId: CONTROL_PROTOCOL_ID,
  version: CONTROL_PROTOCOL_VERSION,
  maxFrameSize: MAX_CONTROL_FRAME_SIZE,
  validator: new MessageValidator<ControlMessage>('control', controlSpecs),
})

/** The msgpack body of a control message (validated first). */
export const encodeControlMessage = (message: ControlMessage): Uint8Array => controlCodec.encode(message)
/** A complete control frame: length prefix and body (validated first). */
export const encodeControlFrame = (message: ControlMessage): Uint8Array => controlCodec.encodeFrame(message)
/** A control frame body as a validated message; throws ProtocolError only. */
export const decodeControlMessage = (body: Uint8Array): ControlMessage => controlCodec.decode(body)
/** Any value as a validated control message; throws ProtocolError only. */
export const validateControlMessage = (value: unknown): ControlMessage => controlCodec.validate(value)
