/**
 * Errors raised by block I/O: reading volumes, block indexes, changed-block maps, the chunk store.
 *
 * Every error carries a stable `code` (listed in docs/ERRORS.md), a message, a `remediation` hint for
 * the operator and whether retrying the same operation can help. blockio imports nothing of ours, so
 * this class mirrors the shape of `protocol/errors.ts`'s `LifeboatError`; the agent forwards both
 * unchanged into job logs and error frames.
 */

export const BlockioErrorCode = {
  /** The volume could not be opened or read (missing file, permission, I/O error). */
  SOURCE_UNREADABLE: 'BLOCKIO_SOURCE_UNREADABLE',
  /** The volume changed size or ended while it was being read. */
  SOURCE_SHORT_READ: 'BLOCKIO_SOURCE_SHORT_READ',
  /** A read was asked of a block source after its close(). */
  SOURCE_CLOSED: 'BLOCKIO_SOURCE_CLOSED',
  /** An option (block size, read size, …) is out of its documented range. */
  INVALID_OPTION: 'BLOCKIO_INVALID_OPTION',
  /** A block index file is truncated, corrupted, or fails its checksum. */
  INDEX_CORRUPT: 'BLOCKIO_INDEX_CORRUPT',
  /** A block index file does not exist (for a volume's first scan, the caller's expected case). */
  INDEX_MISSING: 'BLOCKIO_INDEX_MISSING',
  /** A block index file exists but could not be read (permission, a directory, an I/O error). */
  INDEX_UNREADABLE: 'BLOCKIO_INDEX_UNREADABLE',
  /** A block index file has a format version this build does not read. */
  INDEX_VERSION: 'BLOCKIO_INDEX_VERSION',
  /** Two indexes (or an index and a volume) disagree on block size. */
  INDEX_MISMATCH: 'BLOCKIO_INDEX_MISMATCH',
  /** A block index could not be written. */
  INDEX_WRITE_FAILED: 'BLOCKIO_INDEX_WRITE_FAILED',
  /** A changed-block extent list is malformed or names bytes outside the volume. */
  EXTENTS_INVALID: 'BLOCKIO_EXTENTS_INVALID',
  /** A changed-block extent report file could not be read (missing, permission, a directory). */
  EXTENTS_UNREADABLE: 'BLOCKIO_EXTENTS_UNREADABLE',
  /** The chunk store holds no chunk of that digest for the tenant. */
  CHUNK_MISSING: 'BLOCKIO_CHUNK_MISSING',
  /** A stored chunk fails authentication, its length, decompression or its digest. */
  CHUNK_CORRUPT: 'BLOCKIO_CHUNK_CORRUPT',
  /** An incoming chunk's plaintext does not hash to the digest it was sent with. */
  CHUNK_DIGEST_MISMATCH: 'BLOCKIO_CHUNK_DIGEST_MISMATCH',
  /** An incoming chunk is malformed: bad LZ4, wrong length, unknown encoding, bad digest length. */
  CHUNK_INVALID: 'BLOCKIO_CHUNK_INVALID',
  /** The index names a pack file that does not exist. */
  PACK_MISSING: 'BLOCKIO_PACK_MISSING',
  /** No recovery point of that id for the tenant. */
  POINT_NOT_FOUND: 'BLOCKIO_POINT_NOT_FOUND',
  /** A recovery point's map file fails its checks. */
  POINT_CORRUPT: 'BLOCKIO_POINT_CORRUPT',
  /** A point of that id exists with another block map. */
  POINT_EXISTS: 'BLOCKIO_POINT_EXISTS',
  /** A commit's block map names a digest the store does not hold. */
  POINT_INCOMPLETE: 'BLOCKIO_POINT_INCOMPLETE',
  /** A commit's facts are inconsistent (block count, map length, sizes). */
  POINT_INVALID: 'BLOCKIO_POINT_INVALID',
  /** A fencing token lower than the highest seen for the volume. */
  FENCE_STALE: 'BLOCKIO_FENCE_STALE',
  /** Another live process holds the chunk store's writer lock. */
  STORE_LOCKED: 'BLOCKIO_STORE_LOCKED',
  /** The folder is not a chunk store, or a store file is damaged. */
  STORE_CORRUPT: 'BLOCKIO_STORE_CORRUPT',
  /** The store (or one of its files) has a format version this build does not read. */
  STORE_VERSION: 'BLOCKIO_STORE_VERSION',
  /** A chunk store file could not be read or written (I/O error, no space, permission). */
  STORE_IO: 'BLOCKIO_STORE_IO',
  /** The chunk store was used after close(). */
  STORE_CLOSED: 'BLOCKIO_STORE_CLOSED',
  /** A tenant's wrapped data key does not unwrap: wrong master key or a damaged key file. */
  KEY_INVALID: 'BLOCKIO_KEY_INVALID',
  /** A tenant holds packs but its key file is gone. */
  KEY_MISSING: 'BLOCKIO_KEY_MISSING',
  /** The master key file is missing, of the wrong size, or readable by group or others. */
  KEY_FILE_INVALID: 'BLOCKIO_KEY_FILE_INVALID',
} as const

export type BlockioErrorCode = (typeof BlockioErrorCode)[keyof typeof BlockioErrorCode]

export interface BlockioErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class BlockioError extends Error {
  readonly code: BlockioErrorCode
  readonly remediation: string
  readonly retryable: boolean

  constructor(code: BlockioErrorCode, message: string, init: BlockioErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'BlockioError'
    this.code = code
    this.remediation = init.remediation
    this.retryable = init.retryable ?? false
  }
}
