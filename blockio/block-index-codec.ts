/**
 * The byte form of a block index, docs/FORMATS.md "Block index": a fixed *frame* (magic, format
 * version, trailing checksum) around a version-specific *header* and *body* (all digests, then all
 * flags bytes). Encoding and decoding are pure; blockio/block-index-file.ts puts the bytes on disk.
 *
 * The decoder trusts nothing: it checks the frame, the checksum, the version and then every header
 * field before it allocates or copies, and it never returns part of a damaged file.
 */
import { blake3 } from '@napi-rs/blake-hash'
import { INDEX_FLAG_MASK } from './block-flags.js'
import { BlockIndex, DIGEST_LENGTH } from './block-index.js'
import { blockCountOf, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from './block-source.js'
import { BlockioError, BlockioErrorCode } from './errors.js'

// docs/FORMATS.md "Block index" / "Frame (fixed for every version)".
/** `LBIDX\0`. */
export const INDEX_MAGIC = Uint8Array.of(0x4c, 0x42, 0x49, 0x44, 0x58, 0x00)
const VERSION_OFFSET = 6
const CHECKSUM_LENGTH = 32
/** Magic, version and checksum: no file of any version is shorter. */
const FRAME_MIN_LENGTH = INDEX_MAGIC.byteLength + 2 + CHECKSUM_LENGTH

// docs/FORMATS.md "Block index" / "Version 1".
export const INDEX_FORMAT_VERSION = 1
/** Versions this build decodes; named in BLOCKIO_INDEX_VERSION messages. */
export const READABLE_INDEX_VERSIONS: readonly number[] = [1]
export const DIGEST_ALGORITHM_BLAKE3 = 1
const ALGORITHM_OFFSET = 8
const DIGEST_LENGTH_OFFSET = 9
const RESERVED_OFFSET = 10
const BLOCK_SIZE_OFFSET = 12
const VOLUME_SIZE_OFFSET = 16
const BLOCK_COUNT_OFFSET = 24
const V1_HEADER_LENGTH = 32
/** 2^26 blocks (4 TiB at 64 KiB): keeps the file (64 + 33 × n bytes) inside one Node Buffer. */
export const MAX_INDEX_BLOCK_COUNT = 2 ** 26

/** Length in bytes of the version-1 file of an index of `blockCount` blocks. */
export function encodedIndexLength(blockCount: number): number {
  return V1_HEADER_LENGTH + blockCount * (DIGEST_LENGTH + 1) + CHECKSUM_LENGTH
}

/** The version-1 file bytes of `index`. Flag bits outside INDEX_FLAG_MASK are not stored. */
export function encodeBlockIndex(index: BlockIndex): Uint8Array {
  const n = index.blockCount
  if (n > MAX_INDEX_BLOCK_COUNT) {
    throw new BlockioError(
      BlockioErrorCode.INVALID_OPTION,
      `a block index of ${n} blocks exceeds the limit of ${MAX_INDEX_BLOCK_COUNT}`,
      { remediation: 'Scan this volume with a larger block size (--block-size), e.g. 1M.' },
    )
  }
  const bytes = new Uint8Array(encodedIndexLength(n))
  const view = new DataView(bytes.buffer)
  bytes.set(INDEX_MAGIC, 0)
  view.setUint16(VERSION_OFFSET, INDEX_FORMAT_VERSION, true)
  view.setUint8(ALGORITHM_OFFSET, DIGEST_ALGORITHM_BLAKE3)
  view.setUint8(DIGEST_LENGTH_OFFSET, DIGEST_LENGTH)
  view.setUint16(RESERVED_OFFSET, 0, true)
  view.setUint32(BLOCK_SIZE_OFFSET, index.blockSize, true)
  view.setBigUint64(VOLUME_SIZE_OFFSET, BigInt(index.volumeSize), true)
  view.setBigUint64(BLOCK_COUNT_OFFSET, BigInt(n), true)
  const digestsAt = V1_HEADER_LENGTH
  const flagsAt = digestsAt + n * DIGEST_LENGTH
  const checksumAt = flagsAt + n
  bytes.set(index.digests, digestsAt)
  for (let i = 0; i < n; i++) bytes[flagsAt + i] = index.flags[i] & INDEX_FLAG_MASK
  bytes.set(blake3(bytes.subarray(0, checksumAt)), checksumAt)
  return bytes
}

/**
 * The index in `bytes`, or a BlockioError: INDEX_CORRUPT for a damaged or malformed file,
 * INDEX_VERSION for an intact file of a version this build does not read. `name` (a path) is
 * used in messages.
 */
export function decodeBlockIndex(bytes: Uint8Array, name: string): BlockIndex {
  const length = bytes.byteLength
  if (length < FRAME_MIN_LENGTH) {
    throw corrupt(name, `${length} bytes is shorter than any block index (${FRAME_MIN_LENGTH})`)
  }
  for (let i = 0; i < INDEX_MAGIC.byteLength; i++) {
    if (bytes[i] !== INDEX_MAGIC[i]) throw corrupt(name, 'not a block index (wrong magic)')
  }
  const checksumAt = length - CHECKSUM_LENGTH
  const expected = blake3(bytes.subarray(0, checksumAt))
  if (!expected.equals(bytes.subarray(checksumAt))) {
    throw corrupt(name, 'checksum mismatch (truncated or damaged)')
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, length)
  const version = view.getUint16(VERSION_OFFSET, true)
  if (!READABLE_INDEX_VERSIONS.includes(version)) {
    throw new BlockioError(
      BlockioErrorCode.INDEX_VERSION,
      `block index ${name} has format version ${version}; this build reads version ${READABLE_INDEX_VERSIONS.join(', ')}`,
      {
        remediation:
          'Run a Lifeboat release that reads this version, or delete the index so the next scan starts afresh.',
      },
    )
  }
  return decodeVersion1(bytes, view, name)
}

function decodeVersion1(bytes: Uint8Array, view: DataView, name: string): BlockIndex {
  if (bytes.byteLength < V1_HEADER_LENGTH + CHECKSUM_LENGTH) throw corrupt(name, 'header is truncated')
  const algorithm = view.getUint8(ALGORITHM_OFFSET)
  if (algorithm !== DIGEST_ALGORITHM_BLAKE3) throw corrupt(name, `unknown digest algorithm id ${algorithm}`)
  const digestLength = view.getUint8(DIGEST_LENGTH_OFFSET)
  if (digestLength !== DIGEST_LENGTH)
    throw corrupt(name, `digest length ${digestLength} is not ${DIGEST_LENGTH}`)
  if (view.getUint16(RESERVED_OFFSET, true) !== 0) throw corrupt(name, 'reserved header field is not zero')
  const blockSize = view.getUint32(BLOCK_SIZE_OFFSET, true)
  const isPowerOfTwo = (blockSize & (blockSize - 1)) === 0
  if (!isPowerOfTwo || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw corrupt(
      name,
      `block size ${blockSize} is not a power of two in [${MIN_BLOCK_SIZE}, ${MAX_BLOCK_SIZE}]`,
    )
  }
  const volumeSize = view.getBigUint64(VOLUME_SIZE_OFFSET, true)
  if (volumeSize > BigInt(Number.MAX_SAFE_INTEGER))
    throw corrupt(name, `volume size ${volumeSize} is too large`)
  const blockCount = view.getBigUint64(BLOCK_COUNT_OFFSET, true)
  const expectedCount = blockCountOf(Number(volumeSize), blockSize)
  if (blockCount !== BigInt(expectedCount)) {
    throw corrupt(
      name,
      `block count ${blockCount} does not match volume size ${volumeSize} / block size ${blockSize}`,
    )
  }
  if (expectedCount > MAX_INDEX_BLOCK_COUNT) {
    throw corrupt(name, `block count ${blockCount} exceeds the limit of ${MAX_INDEX_BLOCK_COUNT}`)
  }
  const n = expectedCount
  if (bytes.byteLength !== encodedIndexLength(n)) {
    throw corrupt(name, `file is ${bytes.byteLength} bytes; ${n} blocks need ${encodedIndexLength(n)}`)
  }
  const digestsAt = V1_HEADER_LENGTH
  const flagsAt = digestsAt + n * DIGEST_LENGTH
  // Copies, so the index does not keep the whole file buffer alive.
  // (Buffer#slice would not copy.)
  const digests = new Uint8Array(bytes.subarray(digestsAt, flagsAt))
  const flags = new Uint8Array(bytes.subarray(flagsAt, flagsAt + n))
  for (let i = 0; i < n; i++) {
    if ((flags[i] & ~INDEX_FLAG_MASK) !== 0) {
      throw corrupt(name, `block ${i} has unknown flag bits 0x${flags[i].toString(16).padStart(2, '0')}`)
    }
  }
  return new BlockIndex(Number(volumeSize), blockSize, digests, flags)
}

function corrupt(name: string, detail: string): BlockioError {
  return new BlockioError(BlockioErrorCode.INDEX_CORRUPT, `block index ${name}: ${detail}`, {
    remediation:
      'Move the file aside; the next scan then hashes the whole volume, and the target already holds most blocks.',
  })
}
