/**
 * The appliance's records on their way to the wire: what the scan yields (agent/scan/scan-batch.ts
 * BlockRecord: index, digest, blockio flags ZERO / RAW / CHANGED, payload for changed non-zero
 * blocks of a compressing scan) checked and cut into *groups*, each of which becomes one
 * BLOCK_BATCH: at most `maxRecords` records and `maxPayloadBytes` payload bytes (docs/PROTOCOL.md
 * §9), block numbers strictly increasing.
 *
 * A group is the unit the sender queries (HAVE_QUERY) and then sends; only one group is built at a
 * time, so memory is one batch whatever the volume's size.
 */
import { BlockFlag } from '../../blockio/block-flags.js'
import {
  blockLengthOf,
  MAX_BATCH_PAYLOAD_BYTES,
  MAX_BATCH_RECORDS,
  type VolumeGeometry,
} from '../../protocol/index.js'
import { BlockLinkError, BlockLinkErrorCode } from './errors.js'

/** One block as the scan yields it. */
export interface ScanRecordLike {
  index: number
  /** BLAKE3 of the block's plaintext; ignored for a ZERO block. */
  digest: Uint8Array
  /** blockio/block-flags.ts BlockFlag bits; CHANGED is ignored. */
  flags: number
  /** LZ4 (`compressSync` form) or, flagged RAW, the plaintext; absent → sendable only as HELD. */
  payload?: Uint8Array
}

/** A record of a group: ZERO, or a digest with an optional payload (RAW or LZ4). */
export interface OutgoingRecord {
  index: number
  zero: boolean
  raw: boolean
  digest: Uint8Array
  payload: Uint8Array | undefined
}

export interface GroupLimits {
  maxRecords: number
  maxPayloadBytes: number
  /** Skip ZERO records: without a base point the new map starts all zero. */
  skipZero: boolean
}

export const DEFAULT_GROUP_LIMITS: Omit<GroupLimits, 'skipZero'> = {
  maxRecords: MAX_BATCH_RECORDS,
  maxPayloadBytes: MAX_BATCH_PAYLOAD_BYTES,
}

/** Counts what groupRecords skipped. */
export interface GroupTally {
  zeroSkipped: number
}

/**
 * Cuts `records` into groups. Throws AGENT_BLOCKS_INVALID_RECORD for a block number out of order or
 * past the volume, or a RAW payload that is not the block's length.
 */
export async function* groupRecords(
  records: AsyncIterable<ScanRecordLike> | Iterable<ScanRecordLike>,
  volume: VolumeGeometry,
  limits: GroupLimits,
  tally: GroupTally,
): AsyncGenerator<OutgoingRecord[]> {
  let group: OutgoingRecord[] = []
  let groupBytes = 0
  let previous = -1
  for await (const record of records) {
    const outgoing = toOutgoing(record, volume, previous)
    previous = record.index
    if (outgoing.zero && limits.skipZero) {
      tally.zeroSkipped++
      continue
    }
    const bytes = outgoing.payload?.length ?? 0
    if (
      group.length > 0 &&
      (group.length >= limits.maxRecords || groupBytes + bytes > limits.maxPayloadBytes)
    ) {
      yield group
      group = []
      groupBytes = 0
    }
    group.push(outgoing)
    groupBytes += bytes
  }
  if (group.length > 0) yield group
}

function toOutgoing(record: ScanRecordLike, volume: VolumeGeometry, previous: number): OutgoingRecord {
  const { index } = record
  if (!Number.isSafeInteger(index) || index <= previous || index >= volume.blockCount) {
    throw invalidRecord(
      `block ${index} comes after block ${previous}; records must be in increasing block order below ${volume.blockCount}`,
    )
  }
  const zero = (record.flags & BlockFlag.ZERO) !== 0
  const raw = !zero && (record.flags & BlockFlag.RAW) !== 0
  if (raw && record.payload !== undefined && record.payload.length !== blockLengthOf(volume, index)) {
    throw invalidRecord(
      `block ${index} is RAW with ${record.payload.length} bytes, the block has ${blockLengthOf(volume, index)}`,
    )
  }
  const payload =
    zero || record.payload === undefined || record.payload.length === 0 ? undefined : record.payload
  return { index, zero, raw, digest: record.digest, payload }
}

export function invalidRecord(detail: string): BlockLinkError {
  return new BlockLinkError(BlockLinkErrorCode.INVALID_RECORD, `cannot send the volume: ${detail}`, {
    remediation: 'This is a bug in the scan feeding the sender: report it with the log lines around it.',
  })
}
