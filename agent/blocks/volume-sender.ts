/**
 * The appliance's sender of one volume over a block stream (docs/PROTOCOL.md §4 "Block stream",
 * §9): OPEN_VOLUME, then for each group of records (outgoing-records.ts) a HAVE_QUERY of its
 * non-zero digests and a BLOCK_BATCH in which the held ones are HELD records without payload, then
 * COMMIT with the summary, and the recovery point id of COMMITTED.
 *
 * Pipelined: the next group is queried and sent while earlier batches wait for their BATCH_ACK, up
 * to MAX_UNACKED_BATCHES batches in flight; only then does the sender wait for the oldest. Memory
 * is bounded: the group being built, the stream's write buffer, and the frames' encode buffers
 * (BatchBuffers: one per batch in flight, reused once acknowledged; block-batch-encoding.ts).
 *
 * Any failure — the connector's ERROR (thrown as the RemoteError it carries), a deadline, a bad
 * record, the caller's signal — ends the volume: the sender sends ABORT (best effort), closes the
 * stream and throws. Nothing is committed then; the chunks already stored stay on the connector,
 * so a retry on a new stream sends them as HELD.
 */
import {
  type BlockRecord,
  DIGEST_LENGTH,
  errorFrameFor,
  InvalidMessageError,
  isHeld,
  MAX_UNACKED_BATCHES,
  MessageType,
  type OpenVolume,
  RecordFlag,
  ZERO_DIGEST,
} from '../../protocol/index.js'
import { abortedError } from '../../transport/index.js'
import { blake3, loadBlake3 } from '../scan/blake3.js'
import { BlockAnswers, DEFAULT_ANSWER_TIMEOUT_MS } from './block-answers.js'
import { type EncodableBlockBatch, encodeBlockBatch } from './block-batch-encoding.js'
import type { BlockStream } from './block-client.js'
import { invalidBlockOption } from './errors.js'
import {
  DEFAULT_GROUP_LIMITS,
  type GroupTally,
  groupRecords,
  invalidRecord,
  type OutgoingRecord,
  type ScanRecordLike,
} from './outgoing-records.js'

/** How long the ABORT sent after a failure may take to leave. */
const ABORT_SEND_TIMEOUT_MS = 2_000

export interface SendVolumeOptions {
  /** OPEN_VOLUME without `t` and `rid` (the sender numbers its requests). */
  open: Omit<OpenVolume, 't' | 'rid'>
  /**
   * The blocks to send, in increasing block order: every block without a base point (zero blocks
   * may be left out), the blocks that differ from the base with one.
   */
  records: AsyncIterable<ScanRecordLike> | Iterable<ScanRecordLike>
  /**
   * The whole new block map, blockCount × 32 bytes: COMMIT's mapDigest is BLAKE3 over it. A function
   * is called once every record was sent, for a caller whose map is only known then (a scan that is
   * still running while its records are sent).
   */
  blockMap: Uint8Array | (() => Uint8Array)
  signal?: AbortSignal
  /** Called after each BATCH_ACK. */
  onProgress?: (progress: SendProgress) => void
  /** Called as the volume passes each step (for the cycle's timing log). */
  onStep?: (step: SendStep) => void
  /** Default DEFAULT_ANSWER_TIMEOUT_MS. */
  answerTimeoutMs?: number
  /** Records per batch, 1–MAX_BATCH_RECORDS (the default). */
  maxBatchRecords?: number
}

/**
 * The sender's steps: `opened` (VOLUME_OPENED received), `sent` (the last batch handed to the
 * stream), `acked` (every batch acknowledged), `committed` (COMMITTED received).
 */
export type SendStep = 'opened' | 'sent' | 'acked' | 'committed'

export interface SendProgress {
  batchesAcked: number
  recordsAcked: number
  payloadBytesAcked: number
}

export interface SentVolume {
  recoveryPointId: string
  /** Records in BLOCK_BATCHes. */
  recordsSent: number
  /** Records sent HELD: the connector held the digest, no payload went. */
  heldRecords: number
  /** ZERO records sent (with a base point: zero blocks are records then). */
  zeroRecords: number
  /** Zero blocks not sent: without a base the new map starts all zero. */
  zeroBlocksSkipped: number
  /** Records with a payload. */
  dataRecords: number
  payloadBytes: number
  batches: number
}

/** Sends one volume on `blocks` (fresh from openBlockStream) and commits it. Closes the stream. */
export async function sendVolume(blocks: BlockStream, options: SendVolumeOptions): Promise<SentVolume> {
  const { open, signal } = options
  const mapOf = (): Uint8Array => {
    const map = typeof options.blockMap === 'function' ? options.blockMap() : options.blockMap
    if (map.length !== open.blockCount * DIGEST_LENGTH) {
      throw invalidBlockOption(
        'blockMap',
        `has ${map.length} bytes, ${open.blockCount} blocks need ${open.blockCount * DIGEST_LENGTH}`,
      )
    }
    return map
  }
  if (typeof options.blockMap !== 'function') mapOf()
  const maxRecords = options.maxBatchRecords ?? DEFAULT_GROUP_LIMITS.maxRecords
  if (!Number.isInteger(maxRecords) || maxRecords < 1 || maxRecords > DEFAULT_GROUP_LIMITS.maxRecords) {
    throw invalidBlockOption('maxBatchRecords', `must be 1–${DEFAULT_GROUP_LIMITS.maxRecords}`)
  }
  await loadBlake3()
  let rid = 0
  try {
    await blocks.openVolume({ ...open, rid: ++rid }, signal)
  } catch (error) {
    await blocks.close()
    throw signal?.aborted === true ? abortedError(signal, `open volume ${open.volumeId}`) : error
  }
  options.onStep?.('opened')
  const answers = new BlockAnswers(
    blocks.channel,
    blocks.connector.nodeId,
    options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS,
  )
  const sent: SentVolume = {
    recoveryPointId: '',
    recordsSent: 0,
    heldRecords: 0,
    zeroRecords: 0,
    zeroBlocksSkipped: 0,
    dataRecords: 0,
    payloadBytes: 0,
    batches: 0,
  }
  const progress: SendProgress = { batchesAcked: 0, recordsAcked: 0, payloadBytesAcked: 0 }
  const buffers = new BatchBuffers()
  const inFlight: Array<Promise<unknown>> = []
  try {
    const tally: GroupTally = { zeroSkipped: 0 }
    const limits = { ...DEFAULT_GROUP_LIMITS, maxRecords, skipZero: open.baseRecoveryPointId === undefined }
    for await (const group of groupRecords(options.records, open, limits, tally)) {
      signal?.throwIfAborted()
      const held = await queryHeld(blocks, answers, group, ++rid, signal)
      const records = group.map((record, i) => toWireRecord(record, held[i] === true))
      while (inFlight.length >= MAX_UNACKED_BATCHES) await inFlight.shift()
      const seq = ++sent.batches
      const payloadBytes = records.reduce((sum, r) => sum + r.payload.length, 0)
      // Counted here so that the wait below does not keep the batch's payloads alive.
      const recordCount = records.length
      const acked = answers.batchAck(seq, signal).then(() => {
        progress.batchesAcked++
        progress.recordsAcked += recordCount
        progress.payloadBytesAcked += payloadBytes
        options.onProgress?.({ ...progress })
      })
      // Awaited in turn below, or abandoned after the first failure: never unhandled.
      acked.catch(() => undefined)
      inFlight.push(acked)
      // Not aborted mid-frame: half a frame on the wire would garble the ABORT that follows.
      signal?.throwIfAborted()
      let buffer: Buffer | undefined
      await blocks.channel.sendEncoded({ t: MessageType.BLOCK_BATCH, seq, records }, (valid) =>
        encodeBlockBatch(valid as EncodableBlockBatch, (bytes) => {
          buffer = buffers.take(bytes)
          return buffer
        }),
      )
      // Once acknowledged, the connector has the whole frame: nothing on this side reads it again.
      const used = buffer
      if (used !== undefined) acked.then(() => buffers.give(used), noop)
      count(sent, records)
    }
    sent.zeroBlocksSkipped = tally.zeroSkipped
    options.onStep?.('sent')
    while (inFlight.length > 0) await inFlight.shift()
    options.onStep?.('acked')
    const mapDigest = blake3(mapOf())
    const commitRid = ++rid
    const committed = answers.committed(commitRid, signal)
    signal?.throwIfAborted()
    await blocks.channel.send({
      t: MessageType.COMMIT,
      rid: commitRid,
      jobId: open.jobId,
      summary: {
        blockCount: open.blockCount,
        mapDigest,
        lastSeq: sent.batches,
        records: sent.recordsSent,
        payloadBytes: sent.payloadBytes,
      },
    })
    sent.recoveryPointId = (await committed).recoveryPointId
    options.onStep?.('committed')
    await blocks.close()
    return sent
  } catch (error) {
    const failure = signal?.aborted === true ? abortedError(signal, `send volume ${open.volumeId}`) : error
    await abortVolume(blocks, open.jobId, failure)
    throw failure
  }
}

const MiB = 1024 * 1024
const noop = (): void => {}

/**
 * The encode buffers of one volume's BLOCK_BATCH frames: a buffer goes back (`give`) when the
 * connector acknowledged the batch written in it, and the next batch that fits takes it. At most
 * MAX_UNACKED_BATCHES + 1 are kept — one per batch in flight and the one being written, each a
 * batch's size rounded up to 1 MiB (≤ 17 MiB) — and dropped with the sender when the volume ends.
 */
class BatchBuffers {
  private readonly free: Buffer[] = []

  take(bytes: number): Buffer {
    const fits = this.free.findIndex((buffer) => buffer.length >= bytes)
    if (fits >= 0) return this.free.splice(fits, 1)[0]!
    return Buffer.allocUnsafeSlow(Math.ceil(bytes / MiB) * MiB)
  }

  give(buffer: Buffer): void {
    if (this.free.length <= MAX_UNACKED_BATCHES) this.free.push(buffer)
  }
}

/** Which of the group's records the connector holds (always false for ZERO records). */
async function queryHeld(
  blocks: BlockStream,
  answers: BlockAnswers,
  group: readonly OutgoingRecord[],
  rid: number,
  signal?: AbortSignal,
): Promise<boolean[]> {
  const asked = group.flatMap((record, i) => (record.zero ? [] : [i]))
  const held = new Array<boolean>(group.length).fill(false)
  if (asked.length === 0) return held
  const digests = new Uint8Array(asked.length * DIGEST_LENGTH)
  for (const [k, i] of asked.entries()) digests.set(group[i]!.digest, k * DIGEST_LENGTH)
  const answer = answers.haveAnswer(rid, signal)
  signal?.throwIfAborted()
  await blocks.channel.send({ t: MessageType.HAVE_QUERY, rid, digests })
  const { count, held: bitmap } = await answer
  if (count !== asked.length) {
    throw new InvalidMessageError(
      MessageType.HAVE_ANSWER,
      '/count',
      `is ${count}, ${asked.length} digests were asked`,
    )
  }
  for (const [k, i] of asked.entries()) held[i] = isHeld(bitmap, k)
  return held
}

function toWireRecord(record: OutgoingRecord, held: boolean): BlockRecord {
  const empty = new Uint8Array(0)
  if (record.zero) return { index: record.index, digest: ZERO_DIGEST, flags: RecordFlag.ZERO, payload: empty }
  if (held) return { index: record.index, digest: record.digest, flags: RecordFlag.HELD, payload: empty }
  if (record.payload === undefined) {
    throw invalidRecord(`block ${record.index} has no payload and the connector does not hold its digest`)
  }
  return {
    index: record.index,
    digest: record.digest,
    flags: record.raw ? RecordFlag.RAW : 0,
    payload: record.payload,
  }
}

function count(sent: SentVolume, records: readonly BlockRecord[]): void {
  for (const record of records) {
    sent.recordsSent++
    if (record.flags & RecordFlag.ZERO) sent.zeroRecords++
    else if (record.flags & RecordFlag.HELD) sent.heldRecords++
    else sent.dataRecords++
    sent.payloadBytes += record.payload.length
  }
}

/** Best effort: tells the connector to discard the volume, then closes the stream. */
async function abortVolume(blocks: BlockStream, jobId: string, failure: unknown): Promise<void> {
  if (!blocks.channel.ended) {
    // errorFrameFor cuts the texts to the wire's bounds, so the ABORT always encodes.
    const { code, message, remediation, retryable } = errorFrameFor(failure)
    await blocks.channel
      .send(
        { t: MessageType.ABORT, jobId, reason: { code, message, remediation, retryable } },
        AbortSignal.timeout(ABORT_SEND_TIMEOUT_MS),
      )
      .catch(() => undefined)
  }
  await blocks.close()
}
