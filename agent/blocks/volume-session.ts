/**
 * One volume's session on the connector: what an OPEN_VOLUME starts on a block stream and a
 * COMMIT, an ABORT or the stream's end finishes (docs/PROTOCOL.md §4 "Block stream", §9). It knows
 * nothing of the channel: the conversation (volume-conversation.ts) hands it messages in the order
 * they arrived and sends what it returns or throws.
 *
 * Words used here:
 * - The *new map* is the block map the session builds: block 0 … blockCount − 1 → 32-byte digest.
 *   It starts as the base recovery point's map (or all zero digests without a base) and takes each
 *   batch's records only once the batch is durable in the store.
 * - A *resized base* is a base point of another volume size (the disk was resized between cycles):
 *   blocks past the new end are dropped, blocks past the old end start as the zero digest, and so
 *   does the one block whose length changed (the old short last block, or the new last block), so a
 *   block the appliance forgot to send shows up as a map digest mismatch, never as wrong data.
 * - The session is *spoiled* once one of its batches was refused: the new map misses that batch's
 *   records, so every later batch and the COMMIT are refused with AGENT_BLOCKS_VOLUME_INCOMPLETE.
 *   The stream stays usable (framing is intact); the appliance aborts.
 * - The session's *pin* holds every digest it answered as held or took in a batch, so garbage
 *   collection cannot remove a chunk the commit is about to name.
 */
import type { BlockMap, ChunkPin, ChunkStore, IncomingChunk } from '../../blockio/chunk-store/chunk-store.js'
import { ChunkEncoding } from '../../blockio/chunk-store/chunk-store.js'
import {
  type BatchAck,
  type BlockBatch,
  blockLengthOf,
  buildHeldBitmap,
  type Commit,
  type Committed,
  DIGEST_LENGTH,
  type HaveAnswer,
  type HaveQuery,
  MessageType,
  type OpenVolume,
  RecordFlag,
  type VolumeGeometry,
  ZERO_DIGEST,
} from '../../protocol/index.js'
import { blake3, loadBlake3 } from '../scan/blake3.js'
import { BlockLinkError, BlockLinkErrorCode } from './errors.js'
import { recoveryPointIdFor } from './recovery-point-id.js'

export interface VolumeSessionComponents {
  store: ChunkStore
  /** The connector's clock, milliseconds since the epoch: a committed point's createdAt. */
  now: () => number
}

/** What a COMMIT made, for the log. */
export interface CommittedVolume {
  committed: Committed
  dataBlocks: number
  mapDigest: string
}

export class VolumeSession {
  readonly open: OpenVolume
  readonly #store: ChunkStore
  readonly #now: () => number
  readonly #pin: ChunkPin
  readonly #map: Uint8Array
  #nextSeq = 1
  #records = 0
  #payloadBytes = 0
  #spoiledBy: number | undefined
  #released = false

  private constructor(open: OpenVolume, components: VolumeSessionComponents, map: Uint8Array) {
    this.open = open
    this.#store = components.store
    this.#now = components.now
    this.#map = map
    this.#pin = components.store.pin(open.tenant)
  }

  /**
   * Admits the fencing token, loads the base point's map when one is named, and pins. Throws the
   * store's error (BLOCKIO_FENCE_STALE, BLOCKIO_POINT_NOT_FOUND, …) or AGENT_BLOCKS_BASE_MISMATCH.
   */
  static async start(open: OpenVolume, components: VolumeSessionComponents): Promise<VolumeSession> {
    await loadBlake3()
    const { store } = components
    await store.admitFencingToken(open.tenant, open.volumeId, open.fencingToken)
    const map = new Uint8Array(open.blockCount * DIGEST_LENGTH)
    if (open.baseRecoveryPointId !== undefined) {
      const base = await store.readBlockMap(open.tenant, open.baseRecoveryPointId)
      checkBase(open, base)
      inheritBase(map, open, base)
    }
    return new VolumeSession(open, components, map)
  }

  /** Which of the query's digests the tenant holds; the held ones are pinned. */
  haveAnswer(query: HaveQuery): HaveAnswer {
    const count = query.digests.length / DIGEST_LENGTH
    const held = this.#store.heldDigests(this.open.tenant, query.digests)
    const bitmap = buildHeldBitmap(count, (i) => held[i] === true)
    const pinned: Uint8Array[] = []
    for (let i = 0; i < count; i++) {
      if (held[i] === true) pinned.push(query.digests.subarray(i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH))
    }
    this.#pin.add(pinned)
    return { t: MessageType.HAVE_ANSWER, rid: query.rid, count, held: bitmap }
  }

  /**
   * Marks the session spoiled by batch `seq`, refused before it reached storeBatch (it did not fit
   * the volume, or it broke the unacknowledged window).
   */
  spoil(seq: number): void {
    this.#spoiledBy ??= seq
  }

  /**
   * Stores a batch the volume geometry already accepted (checkBatchForVolume): seq in order, every
   * HELD digest really held, the data chunks durable (putChunks checks each against its digest),
   * then the new map takes the records. Anything thrown refuses the batch and spoils the session;
   * nothing of a refused batch is stored.
   */
  async storeBatch(batch: BlockBatch): Promise<BatchAck> {
    try {
      this.#checkUsable()
      if (batch.seq !== this.#nextSeq) {
        throw new BlockLinkError(
          BlockLinkErrorCode.BATCH_OUT_OF_ORDER,
          `block batch ${batch.seq} arrived where batch ${this.#nextSeq} was due`,
          {
            remediation: 'Number block batches 1, 2, 3, … in the order they are sent (docs/PROTOCOL.md §9).',
          },
        )
      }
      this.#checkHeld(batch)
      const chunks: IncomingChunk[] = []
      const digests: Uint8Array[] = []
      let payloadBytes = 0
      for (const record of batch.records) {
        payloadBytes += record.payload.length
        if (record.flags & RecordFlag.ZERO) continue
        digests.push(record.digest)
        if (record.flags & RecordFlag.HELD) continue
        chunks.push({
          digest: record.digest,
          encoding: record.flags & RecordFlag.RAW ? ChunkEncoding.RAW : ChunkEncoding.LZ4,
          plainLength: blockLengthOf(this.open, record.index),
          payload: record.payload,
        })
      }
      // Pinned before they are stored: a collection running meanwhile must not take them.
      this.#pin.add(digests)
      if (chunks.length > 0) await this.#store.putChunks(this.open.tenant, chunks)
      for (const record of batch.records) {
        const digest = record.flags & RecordFlag.ZERO ? ZERO_DIGEST : record.digest
        this.#map.set(digest, record.index * DIGEST_LENGTH)
      }
      this.#nextSeq++
      this.#records += batch.records.length
      this.#payloadBytes += payloadBytes
      return { t: MessageType.BATCH_ACK, seq: batch.seq, stored: batch.records.length }
    } catch (error) {
      this.spoil(batch.seq)
      throw error
    }
  }

  /**
   * Checks the summary against what was stored and the recomputed map digest, then makes the
   * recovery point (the store refuses a stale token, a map naming a chunk it does not hold, and a
   * point id already used for another map). A COMMIT refused here leaves nothing committed.
   */
  async commit(commit: Commit): Promise<CommittedVolume> {
    this.#checkUsable()
    const { summary } = commit
    const mismatches: string[] = []
    if (commit.jobId !== this.open.jobId)
      mismatches.push(`jobId ${commit.jobId}, the volume was opened for ${this.open.jobId}`)
    if (summary.blockCount !== this.open.blockCount)
      mismatches.push(`blockCount ${summary.blockCount}, the volume has ${this.open.blockCount}`)
    if (summary.lastSeq !== this.#nextSeq - 1)
      mismatches.push(`lastSeq ${summary.lastSeq}, the last batch stored is ${this.#nextSeq - 1}`)
    if (summary.records !== this.#records)
      mismatches.push(`records ${summary.records}, ${this.#records} were stored`)
    if (summary.payloadBytes !== this.#payloadBytes)
      mismatches.push(`payloadBytes ${summary.payloadBytes}, ${this.#payloadBytes} were received`)
    const mapDigest = blake3(this.#map)
    if (mismatches.length === 0 && !sameBytes(mapDigest, summary.mapDigest)) {
      mismatches.push(`mapDigest ${hex(summary.mapDigest)}, the connector's map gives ${hex(mapDigest)}`)
    }
    if (mismatches.length > 0) {
      throw new BlockLinkError(
        BlockLinkErrorCode.COMMIT_MISMATCH,
        `COMMIT of volume ${this.open.volumeId} disagrees with what was received: ${mismatches.join('; ')}`,
        {
          remediation:
            'The appliance and the connector disagree on the new block map; run the cycle again from a full scan.',
        },
      )
    }
    const info = await this.#store.commitPoint(this.open.tenant, {
      pointId: recoveryPointIdFor(this.open.jobId, this.open.volumeId),
      vmId: this.open.vmId,
      volumeId: this.open.volumeId,
      jobId: this.open.jobId,
      fencingToken: this.open.fencingToken,
      createdAt: this.#now(),
      volumeSize: this.open.volumeSize,
      blockSize: this.open.blockSize,
      blockMap: this.#map,
    })
    this.release()
    return {
      committed: {
        t: MessageType.COMMITTED,
        rid: commit.rid,
        volumeId: this.open.volumeId,
        recoveryPointId: info.pointId,
      },
      dataBlocks: info.dataBlocks,
      mapDigest: info.mapDigest,
    }
  }

  /** Batches stored so far and their records, for the log. */
  get progress(): { batches: number; records: number; payloadBytes: number } {
    return { batches: this.#nextSeq - 1, records: this.#records, payloadBytes: this.#payloadBytes }
  }

  /** Ends the session's hold on its chunks. Idempotent. */
  release(): void {
    if (this.#released) return
    this.#released = true
    this.#pin.release()
  }

  #checkUsable(): void {
    if (this.#spoiledBy !== undefined) {
      throw new BlockLinkError(
        BlockLinkErrorCode.VOLUME_INCOMPLETE,
        `block batch ${this.#spoiledBy} of volume ${this.open.volumeId} was refused, so this volume cannot commit on this stream`,
        { remediation: 'Abort the volume and send it again on a new block stream.', retryable: true },
      )
    }
  }

  /** Throws AGENT_BLOCKS_NOT_HELD unless the tenant holds every HELD record's digest. */
  #checkHeld(batch: BlockBatch): void {
    const held = batch.records.filter((r) => (r.flags & RecordFlag.HELD) !== 0)
    if (held.length === 0) return
    const digests = new Uint8Array(held.length * DIGEST_LENGTH)
    for (const [i, record] of held.entries()) digests.set(record.digest, i * DIGEST_LENGTH)
    const answers = this.#store.heldDigests(this.open.tenant, digests)
    const missing = held.findIndex((_, i) => answers[i] !== true)
    if (missing >= 0) {
      throw new BlockLinkError(
        BlockLinkErrorCode.NOT_HELD,
        `block ${held[missing]!.index} is sent as HELD, but the connector does not hold ${hex(held[missing]!.digest)}`,
        { remediation: 'Send HELD only for digests a HAVE_ANSWER of this stream said are held.' },
      )
    }
  }
}

/** Refuses a base point of another volume or block size. */
function checkBase(open: OpenVolume, base: BlockMap): void {
  const problems: string[] = []
  if (base.info.volumeId !== open.volumeId) problems.push(`is of volume ${base.info.volumeId}`)
  if (base.info.blockSize !== open.blockSize) problems.push(`has blocks of ${base.info.blockSize} bytes`)
  if (problems.length === 0) return
  throw new BlockLinkError(
    BlockLinkErrorCode.BASE_MISMATCH,
    `base recovery point ${base.info.pointId} ${problems.join(' and ')}; volume ${open.volumeId} with blocks of ${open.blockSize} bytes was opened`,
    { remediation: 'Name a recovery point of the same volume as base, or none (every block is then sent).' },
  )
}

/** Copies the base's digests into the new map, leaving zero what a resize made unknown. */
function inheritBase(map: Uint8Array, open: OpenVolume, base: BlockMap): void {
  const baseGeometry: VolumeGeometry = base.info
  const shared = Math.min(base.info.blockCount, open.blockCount)
  map.set(base.digests.subarray(0, shared * DIGEST_LENGTH))
  for (let index = shared - 1; index >= 0; index--) {
    if (blockLengthOf(baseGeometry, index) === blockLengthOf(open, index)) break
    map.fill(0, index * DIGEST_LENGTH, (index + 1) * DIGEST_LENGTH)
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}
