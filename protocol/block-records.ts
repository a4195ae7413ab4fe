/**
 * Block records, the entries of a BLOCK_BATCH (docs/PROTOCOL.md §9). A *record* says what block
 * `index` of the volume now holds: its BLAKE3 `digest`, `flags`, and a `payload` whose meaning the
 * flags give. The *block's length* is the volume's block size, except for a shorter last block.
 *
 * Two levels of checks: recordProblem() needs nothing but the record (run by every decoder);
 * checkBatchForVolume() also needs the volume the stream opened, so the connector runs it once it
 * has matched the batch to its OPEN_VOLUME.
 */
import { DIGEST_LENGTH, MAX_BLOCK_SIZE } from './limits.js'
import { MessageType } from './message-types.js'
import { VolumeMismatchError } from './protocol-errors.js'
import type { Problem } from './validate.js'

/** Record flags. Values match blockio/block-flags.ts where both define one; 0x04 is reserved. */
export const RecordFlag = {
  /** Every byte of the block is zero. No payload; the digest is 32 zero bytes. */
  ZERO: 0x01,
  /** The payload is the block's plaintext: LZ4 did not shrink it. */
  RAW: 0x02,
  /** The connector already holds this digest (HAVE_ANSWER): no payload, map the index to it. */
  HELD: 0x08,
} as const

/** Bits a v1 record may set. 0x04 is blockio's CHANGED, which never goes on the wire. */
export const KNOWN_RECORD_FLAGS = RecordFlag.ZERO | RecordFlag.RAW | RecordFlag.HELD

/** Bytes of lz4-napi `compressSync`'s little-endian length prefix in front of the LZ4 block. */
export const LZ4_LENGTH_PREFIX = 4

export interface BlockRecord {
  index: number
  digest: Uint8Array
  flags: number
  payload: Uint8Array
}

/** The volume facts a batch is checked against (an OPEN_VOLUME carries them). */
export interface VolumeGeometry {
  blockSize: number
  volumeSize: number
  blockCount: number
}

/** Length in bytes of block `index`; 0 past the end. */
export function blockLengthOf(volume: VolumeGeometry, index: number): number {
  return Math.max(0, Math.min(volume.blockSize, volume.volumeSize - index * volume.blockSize))
}

/** The uncompressed length an LZ4 payload declares (lz4-napi `compressSync` format). */
export function lz4DeclaredLength(payload: Uint8Array): number {
  return (payload[0] | (payload[1] << 8) | (payload[2] << 16) | (payload[3] << 24)) >>> 0
}

/** The first rule a record breaks on its own, with paths relative to the record. */
export function recordProblem(record: BlockRecord): Problem | undefined {
  const { flags, payload } = record
  if ((flags & ~KNOWN_RECORD_FLAGS) !== 0) {
    return { path: '/flags', detail: `unknown flag bits 0x${(flags & ~KNOWN_RECORD_FLAGS).toString(16)}` }
  }
  const kinds =
    (flags & RecordFlag.ZERO ? 1 : 0) + (flags & RecordFlag.RAW ? 1 : 0) + (flags & RecordFlag.HELD ? 1 : 0)
  if (kinds > 1) return { path: '/flags', detail: 'at most one of ZERO, RAW and HELD may be set' }
  if (flags & (RecordFlag.ZERO | RecordFlag.HELD)) {
    if (payload.length !== 0) return { path: '/payload', detail: 'must be empty for a ZERO or HELD record' }
    if (flags & RecordFlag.ZERO && record.digest.some((byte) => byte !== 0)) {
      return { path: '/digest', detail: 'must be 32 zero bytes for a ZERO record' }
    }
    return undefined
  }
  if (flags & RecordFlag.RAW) {
    return payload.length === 0
      ? { path: '/payload', detail: 'a RAW record needs its block as payload' }
      : undefined
  }
  if (payload.length <= LZ4_LENGTH_PREFIX) {
    return {
      path: '/payload',
      detail: `an LZ4 payload needs its ${LZ4_LENGTH_PREFIX}-byte length and a block`,
    }
  }
  const declared = lz4DeclaredLength(payload)
  if (declared === 0 || declared > MAX_BLOCK_SIZE) {
    return {
      path: '/payload',
      detail: `declares ${declared} uncompressed bytes, outside 1–${MAX_BLOCK_SIZE}`,
    }
  }
  return undefined
}

/**
 * Checks every record of a batch against the open volume: index inside the volume, a RAW payload
 * exactly the block's length, an LZ4 payload that declares the block's length and is shorter than
 * it. Throws VolumeMismatchError naming the batch, so the ERROR answers it.
 */
export function checkBatchForVolume(
  batch: { seq: number; records: readonly BlockRecord[] },
  volume: VolumeGeometry,
): void {
  const ref = { reType: MessageType.BLOCK_BATCH, reId: batch.seq }
  for (const [i, record] of batch.records.entries()) {
    const where = `record ${i} (block ${record.index})`
    if (record.index >= volume.blockCount) {
      throw new VolumeMismatchError(`${where} is past the volume's ${volume.blockCount} blocks`, ref)
    }
    if (record.flags & (RecordFlag.ZERO | RecordFlag.HELD)) continue
    const length = blockLengthOf(volume, record.index)
    if (record.flags & RecordFlag.RAW) {
      if (record.payload.length !== length) {
        throw new VolumeMismatchError(
          `${where} has ${record.payload.length} raw bytes, the block has ${length}`,
          ref,
        )
      }
      continue
    }
    if (record.payload.length >= length) {
      throw new VolumeMismatchError(
        `${where}: LZ4 payload of ${record.payload.length} bytes does not shrink the block`,
        ref,
      )
    }
    const declared = lz4DeclaredLength(record.payload)
    if (declared !== length) {
      throw new VolumeMismatchError(
        `${where}: LZ4 payload declares ${declared} bytes, the block has ${length}`,
        ref,
      )
    }
  }
}

/** 32 zero bytes: the digest field of a ZERO record. */
export const ZERO_DIGEST: Uint8Array = new Uint8Array(DIGEST_LENGTH)
