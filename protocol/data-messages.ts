/**
 * Messages of `/lifeboat/blocks/1.0.0`, from an appliance to a connector (docs/PROTOCOL.md §9): their
 * schemas, their types, and the blocks codec (encode, decode, validate).
 *
 * One stream carries one volume of one job: OPEN_VOLUME names it and carries the lease's fencing
 * token; HAVE_QUERY asks which digests the connector already holds, so a resync moves hashes rather
 * than data; BLOCK_BATCHes carry block records (block-records.ts); COMMIT turns what was sent into a
 * *recovery point*: the volume's block map (block number → digest) as of this job, visible only once
 * every block it names is stored.
 */
import { type Static, Type } from '@sinclair/typebox'
import { type BlockRecord, recordProblem } from './block-records.js'
import { commonSpecs, type ErrorMessage, type Hello } from './common-messages.js'
import { heldBitmapLength, unusedBitsClear } from './have-bitmap.js'
import { BlockSize, isPowerOfTwo } from './job-payloads.js'
import {
  DIGEST_LENGTH,
  MAX_BATCH_PAYLOAD_BYTES,
  MAX_BATCH_RECORDS,
  MAX_BLOCK_SIZE,
  MAX_DATA_FRAME_SIZE,
  MAX_HAVE_DIGESTS,
  MAX_VOLUME_SIZE,
  MIN_BLOCK_SIZE,
} from './limits.js'
import { createMessageCodec, type MessageCodec } from './message-codec.js'
import { MessageType } from './message-types.js'
import { BLOCKS_PROTOCOL_ID, BLOCKS_PROTOCOL_VERSION } from './protocol-ids.js'
import { Digest, ErrorBodySchema, Id, Message, Uint } from './schema-types.js'
import { type MessageSpec, MessageValidator, type Problem, under } from './validate.js'

const Rid = Uint()
const Seq = Uint({ minimum: 1 })
/** The largest block number any volume can have. */
const MAX_BLOCK_INDEX = MAX_VOLUME_SIZE / MIN_BLOCK_SIZE - 1

export const OpenVolumeSchema = Message(MessageType.OPEN_VOLUME, {
  rid: Rid,
  tenant: Id,
  vmId: Id,
  volumeId: Id,
  jobId: Id,
  fencingToken: Uint({ minimum: 1 }),
  blockSize: BlockSize,
  volumeSize: Uint({ maximum: MAX_VOLUME_SIZE }),
  blockCount: Uint({ maximum: MAX_BLOCK_INDEX + 1 }),
  baseRecoveryPointId: Type.Optional(Id),
})
export type OpenVolume = Static<typeof OpenVolumeSchema>

export const VolumeOpenedSchema = Message(MessageType.VOLUME_OPENED, { rid: Rid, volumeId: Id })
export type VolumeOpened = Static<typeof VolumeOpenedSchema>

export const HaveQuerySchema = Message(MessageType.HAVE_QUERY, {
  rid: Rid,
  digests: Type.Uint8Array({ minByteLength: DIGEST_LENGTH, maxByteLength: MAX_HAVE_DIGESTS * DIGEST_LENGTH }),
})
export type HaveQuery = Static<typeof HaveQuerySchema>

export const HaveAnswerSchema = Message(MessageType.HAVE_ANSWER, {
  rid: Rid,
  count: Uint({ minimum: 1, maximum: MAX_HAVE_DIGESTS }),
  held: Type.Uint8Array({ maxByteLength: heldBitmapLength(MAX_HAVE_DIGESTS) }),
})
export type HaveAnswer = Static<typeof HaveAnswerSchema>

export const BlockRecordSchema = Type.Object({
  index: Uint({ maximum: MAX_BLOCK_INDEX }),
  digest: Digest,
  flags: Uint({ maximum: 255 }),
  payload: Type.Uint8Array({ maxByteLength: MAX_BLOCK_SIZE }),
})

export const BlockBatchSchema = Message(MessageType.BLOCK_BATCH, {
  seq: Seq,
  records: Type.Array(BlockRecordSchema, { minItems: 1, maxItems: MAX_BATCH_RECORDS }),
})
export type BlockBatch = Omit<Static<typeof BlockBatchSchema>, 'records'> & { records: BlockRecord[] }

export const BatchAckSchema = Message(MessageType.BATCH_ACK, {
  seq: Seq,
  stored: Uint({ maximum: MAX_BATCH_RECORDS }),
})
export type BatchAck = Static<typeof BatchAckSchema>

export const CommitSummarySchema = Type.Object({
  blockCount: Uint({ maximum: MAX_BLOCK_INDEX + 1 }),
  mapDigest: Digest,
  lastSeq: Uint(),
  records: Uint(),
  payloadBytes: Uint(),
})
export type CommitSummary = Static<typeof CommitSummarySchema>

export const CommitSchema = Message(MessageType.COMMIT, { rid: Rid, jobId: Id, summary: CommitSummarySchema })
export type Commit = Static<typeof CommitSchema>

export const CommittedSchema = Message(MessageType.COMMITTED, { rid: Rid, volumeId: Id, recoveryPointId: Id })
export type Committed = Static<typeof CommittedSchema>

export const AbortSchema = Message(MessageType.ABORT, { jobId: Id, reason: ErrorBodySchema })
export type Abort = Static<typeof AbortSchema>

export type DataMessage =
  | Hello
  | ErrorMessage
  | OpenVolume
  | VolumeOpened
  | HaveQuery
  | HaveAnswer
  | BlockBatch
  | BatchAck
  | Commit
  | Committed
  | Abort

function refineOpenVolume(open: OpenVolume): Problem | undefined {
  if (!isPowerOfTwo(open.blockSize)) return { path: '/blockSize', detail: 'is not a power of two' }
  const expected = Math.ceil(open.volumeSize / open.blockSize)
  if (open.blockCount !== expected) {
    return { path: '/blockCount', detail: `is ${open.blockCount}, ⌈volumeSize / blockSize⌉ is ${expected}` }
  }
  return undefined
}

function refineHaveQuery(query: HaveQuery): Problem | undefined {
  if (query.digests.length % DIGEST_LENGTH !== 0) {
    return { path: '/digests', detail: `${query.digests.length} bytes is not a whole number of digests` }
  }
  return undefined
}

function refineHaveAnswer(answer: HaveAnswer): Problem | undefined {
  if (answer.held.length !== heldBitmapLength(answer.count)) {
    return {
      path: '/held',
      detail: `has ${answer.held.length} bytes, ${answer.count} bits need ${heldBitmapLength(answer.count)}`,
    }
  }
  if (!unusedBitsClear(answer.held, answer.count)) return { path: '/held', detail: 'has bits set past count' }
  return undefined
}

function refineBlockBatch(batch: BlockBatch): Problem | undefined {
  let payloadBytes = 0
  let previous = -1
  for (const [i, record] of batch.records.entries()) {
    if (record.index <= previous)
      return { path: `/records/${i}/index`, detail: 'is not greater than the previous record' }
    previous = record.index
    const problem = under(`/records/${i}`, recordProblem(record))
    if (problem !== undefined) return problem
    payloadBytes += record.payload.length
  }
  if (payloadBytes > MAX_BATCH_PAYLOAD_BYTES) {
    return { path: '/records', detail: `${payloadBytes} payload bytes exceed ${MAX_BATCH_PAYLOAD_BYTES}` }
  }
  return undefined
}

function refineCommit(commit: Commit): Problem | undefined {
  if (commit.summary.records > 0 && commit.summary.lastSeq === 0) {
    return { path: '/summary/lastSeq', detail: 'is 0 although records were sent' }
  }
  return undefined
}

const dataSpecs: MessageSpec<DataMessage>[] = [
  ...(commonSpecs as unknown as MessageSpec<DataMessage>[]),
  { t: MessageType.OPEN_VOLUME, schema: OpenVolumeSchema, refine: (m) => refineOpenVolume(m as OpenVolume) },
  { t: MessageType.VOLUME_OPENED, schema: VolumeOpenedSchema },
  { t: MessageType.HAVE_QUERY, schema: HaveQuerySchema, refine: (m) => refineHaveQuery(m as HaveQuery) },
  { t: MessageType.HAVE_ANSWER, schema: HaveAnswerSchema, refine: (m) => refineHaveAnswer(m as HaveAnswer) },
  { t: MessageType.BLOCK_BATCH, schema: BlockBatchSchema, refine: (m) => refineBlockBatch(m as BlockBatch) },
  { t: MessageType.BATCH_ACK, schema: BatchAckSchema },
  { t: MessageType.COMMIT, schema: CommitSchema, refine: (m) => refineCommit(m as Commit) },
  { t: MessageType.COMMITTED, schema: CommittedSchema },
  { t: MessageType.ABORT, schema: AbortSchema },
]

export const dataCodec: MessageCodec<DataMessage> = createMessageCodec({
  protocolId: BLOCKS_PROTOCOL_ID,
  version: BLOCKS_PROTOCOL_VERSION,
  maxFrameSize: MAX_DATA_FRAME_SIZE,
  validator: new MessageValidator<DataMessage>('blocks', dataSpecs),
})

/** The msgpack body of a block-stream message (validated first). */
export const encodeDataMessage = (message: DataMessage): Uint8Array => dataCodec.encode(message)
/** A complete block-stream frame: length prefix and body (validated first). */
export const encodeDataFrame = (message: DataMessage): Uint8Array => dataCodec.encodeFrame(message)
/** A block-stream frame body as a validated message; throws ProtocolError only. */
export const decodeDataMessage = (body: Uint8Array): DataMessage => dataCodec.decode(body)
/** Any value as a validated block-stream message; throws ProtocolError only. */
export const validateDataMessage = (value: unknown): DataMessage => dataCodec.validate(value)
