/**
 * Checks of a commit's facts before anything is read or written: ids, sizes, the block map's length
 * (docs/FORMATS.md "Chunk store v1" / "Point map"). Every failure is BLOCKIO_POINT_INVALID, except
 * an id that cannot be a file name (BLOCKIO_INVALID_OPTION, as everywhere in the store).
 */
import { BlockioError, BlockioErrorCode } from '../errors.js'
import type { NewPoint } from './chunk-store.js'
import { DIGEST_LENGTH } from './pack-format.js'
import { checkId } from './store-files.js'

// As blockio/block-source.ts and PROTOCOL.md §9 OPEN_VOLUME.
const MIN_BLOCK_SIZE = 4 * 1024
const MAX_BLOCK_SIZE = 16 * 1024 * 1024
const MAX_VOLUME_SIZE = 2 ** 46

function invalid(point: NewPoint, why: string): BlockioError {
  return new BlockioError(BlockioErrorCode.POINT_INVALID, `recovery point ${String(point.pointId)}: ${why}`, {
    remediation: 'A bug in the caller: commit consistent facts (docs/PROTOCOL.md §9 COMMIT).',
  })
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

export function checkNewPoint(point: NewPoint): void {
  checkId('pointId', point.pointId)
  checkId('vmId', point.vmId)
  checkId('volumeId', point.volumeId)
  checkId('jobId', point.jobId)
  for (const field of ['fencingToken', 'createdAt', 'volumeSize', 'blockSize'] as const) {
    if (!isCount(point[field]))
      throw invalid(point, `${field} ${String(point[field])} is not a non-negative integer`)
  }
  const { blockSize, volumeSize } = point
  if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw invalid(point, `block size ${blockSize} is not a power of two of 4 KiB–16 MiB`)
  }
  if (volumeSize > MAX_VOLUME_SIZE) throw invalid(point, `volume size ${volumeSize} exceeds 2^46`)
  if (!(point.blockMap instanceof Uint8Array)) throw invalid(point, 'blockMap is not bytes')
  const blockCount = Math.ceil(volumeSize / blockSize)
  if (point.blockMap.byteLength !== blockCount * DIGEST_LENGTH) {
    throw invalid(
      point,
      `block map of ${point.blockMap.byteLength} bytes; ${blockCount} blocks of ${blockSize} bytes need ${blockCount * DIGEST_LENGTH}`,
    )
  }
}
