/**
 * Errors raised by block I/O: reading volumes, block indexes, changed-block maps.
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
