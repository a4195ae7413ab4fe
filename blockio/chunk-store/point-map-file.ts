/**
 * A recovery point on disk (docs/FORMATS.md "Chunk store v1" / "Point map"): the facts of the point
 * (PointInfo, as JSON) and its block map, closed by a BLAKE3 checksum. The file's rename into place
 * is the point's *marker*: a point exists exactly when its map file does.
 */
import { readFile } from 'node:fs/promises'
import { blake3 } from '@napi-rs/blake-hash'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import type { BlockMap, PointInfo } from './chunk-store.js'
import { DIGEST_LENGTH } from './pack-format.js'
import { errnoOf, storeIo } from './store-files.js'

// docs/FORMATS.md "Point map <pointId>.map".
const MAP_MAGIC = Buffer.from('LBPNT\0', 'latin1')
const MAP_VERSION = 1
const READABLE_MAP_VERSIONS: readonly number[] = [1]
const HEADER_LENGTH_OFFSET = 8
const HEADER_OFFSET = 12
const CHECKSUM_LENGTH = 32
const MAX_HEADER_LENGTH = 64 * 1024
export const MAP_SUFFIX = '.map'

const NUMBER_FIELDS = [
  'fencingToken',
  'createdAt',
  'volumeSize',
  'blockSize',
  'blockCount',
  'dataBlocks',
] as const satisfies ReadonlyArray<keyof PointInfo>
const STRING_FIELDS = [
  'tenant',
  'pointId',
  'vmId',
  'volumeId',
  'jobId',
  'mapDigest',
] as const satisfies ReadonlyArray<keyof PointInfo>

/** Blocks of `digests` (32 bytes each) that are not the zero digest. */
export function countDataBlocks(digests: Uint8Array): number {
  let count = 0
  for (let at = 0; at < digests.byteLength; at += DIGEST_LENGTH) {
    for (let i = at; i < at + DIGEST_LENGTH; i++) {
      if (digests[i] !== 0) {
        count++
        break
      }
    }
  }
  return count
}

export function isZeroDigest(digests: Uint8Array, at: number): boolean {
  for (let i = at; i < at + DIGEST_LENGTH; i++) if (digests[i] !== 0) return false
  return true
}

export function encodePointMap(info: PointInfo, digests: Uint8Array): Uint8Array {
  const header = Buffer.from(JSON.stringify(info), 'utf8')
  const out = Buffer.alloc(HEADER_OFFSET + header.byteLength + digests.byteLength + CHECKSUM_LENGTH)
  MAP_MAGIC.copy(out, 0)
  out.writeUInt16LE(MAP_VERSION, 6)
  out.writeUInt32LE(header.byteLength, HEADER_LENGTH_OFFSET)
  header.copy(out, HEADER_OFFSET)
  out.set(digests, HEADER_OFFSET + header.byteLength)
  const end = out.byteLength - CHECKSUM_LENGTH
  out.set(blake3(out.subarray(0, end)), end)
  return out
}

/** Decodes and checks a map file against the tenant, volume and point its path names. */
export function decodePointMap(
  bytes: Buffer,
  path: string,
  expected: { tenant: string; volumeId: string; pointId: string },
): BlockMap {
  const corrupt = (why: string) =>
    new BlockioError(BlockioErrorCode.POINT_CORRUPT, `recovery point map ${path}: ${why}`, {
      remediation: 'Delete the point (its chunks are collected later) or restore the file from backup.',
    })
  if (bytes.byteLength < HEADER_OFFSET + CHECKSUM_LENGTH)
    throw corrupt(`${bytes.byteLength} bytes is too short`)
  if (!bytes.subarray(0, 6).equals(MAP_MAGIC)) throw corrupt('not a point map (magic)')
  const end = bytes.byteLength - CHECKSUM_LENGTH
  if (!blake3(bytes.subarray(0, end)).equals(bytes.subarray(end))) throw corrupt('checksum mismatch')
  const version = bytes.readUInt16LE(6)
  if (!READABLE_MAP_VERSIONS.includes(version)) {
    throw new BlockioError(
      BlockioErrorCode.STORE_VERSION,
      `recovery point map ${path} is of version ${version}; this build reads ${READABLE_MAP_VERSIONS.join(', ')}`,
      { remediation: 'Run a Lifeboat release that reads this version.' },
    )
  }
  const headerLength = bytes.readUInt32LE(HEADER_LENGTH_OFFSET)
  if (headerLength > MAX_HEADER_LENGTH || HEADER_OFFSET + headerLength > end)
    throw corrupt('bad header length')
  let info: PointInfo
  try {
    info = JSON.parse(bytes.subarray(HEADER_OFFSET, HEADER_OFFSET + headerLength).toString('utf8'))
  } catch {
    throw corrupt('header is not JSON')
  }
  if (typeof info !== 'object' || info === null) throw corrupt('header is not an object')
  for (const field of NUMBER_FIELDS) {
    if (!Number.isSafeInteger(info[field]) || info[field] < 0)
      throw corrupt(`header field ${field} is not a count`)
  }
  for (const field of STRING_FIELDS) {
    if (typeof info[field] !== 'string') throw corrupt(`header field ${field} is not a string`)
  }
  if (
    info.tenant !== expected.tenant ||
    info.volumeId !== expected.volumeId ||
    info.pointId !== expected.pointId
  ) {
    throw corrupt('header names another tenant, volume or point than its path')
  }
  const digests = bytes.subarray(HEADER_OFFSET + headerLength, end)
  if (digests.byteLength !== info.blockCount * DIGEST_LENGTH)
    throw corrupt('block map length disagrees with blockCount')
  if (info.blockSize === 0 || info.blockCount !== Math.ceil(info.volumeSize / info.blockSize)) {
    throw corrupt('blockCount disagrees with volumeSize and blockSize')
  }
  if (blake3(digests).toString('hex') !== info.mapDigest)
    throw corrupt('mapDigest disagrees with the block map')
  if (countDataBlocks(digests) !== info.dataBlocks) throw corrupt('dataBlocks disagrees with the block map')
  return { info, digests: new Uint8Array(digests.buffer, digests.byteOffset, digests.byteLength) }
}

/** The map file at `path`; POINT_NOT_FOUND when absent. */
export async function readPointMapFile(
  path: string,
  expected: { tenant: string; volumeId: string; pointId: string },
): Promise<BlockMap> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (cause) {
    if (errnoOf(cause) === 'ENOENT') throw pointNotFound(expected.tenant, expected.pointId)
    throw storeIo('read', path, cause)
  }
  return decodePointMap(bytes, path, expected)
}

export function pointNotFound(tenant: string, pointId: string): BlockioError {
  return new BlockioError(
    BlockioErrorCode.POINT_NOT_FOUND,
    `tenant ${tenant} has no recovery point ${pointId}`,
    {
      remediation: "List the tenant's recovery points and use one of them.",
    },
  )
}
