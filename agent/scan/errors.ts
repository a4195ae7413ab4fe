/**
 * Errors raised by the scan pipeline (agent/scan/): reading a volume, hashing and compressing its
 * blocks in worker threads, and diffing them against the previous block index.
 *
 * Every code is stable and listed in docs/ERRORS.md "Scan pipeline". A `ScanError` is a
 * `LifeboatError`, so job logs and error frames carry it unchanged. The cause (a BlockioError, a
 * worker's Error) is kept as `cause` and named in the message.
 */
import type { BlockRun } from '../../blockio/changed-block-map.js'
import { BlockioError, BlockioErrorCode } from '../../blockio/errors.js'
import { isCodedError, LifeboatError, type LifeboatErrorInit } from '../../protocol/errors.js'
import type { WorkerReadFailure } from './scan-messages.js'

export const ScanErrorCode = {
  /** An option of the scan is missing, of the wrong type or out of its documented range. */
  INVALID_OPTION: 'SCAN_INVALID_OPTION',
  /** The previous index or the changed-block map does not describe the volume being scanned. */
  INDEX_MISMATCH: 'SCAN_INDEX_MISMATCH',
  /** The block source failed to read a run of blocks. */
  SOURCE_READ_FAILED: 'SCAN_SOURCE_READ_FAILED',
  /** A worker thread crashed, failed to start, or threw while hashing a batch. */
  WORKER_FAILED: 'SCAN_WORKER_FAILED',
  /** The scan's AbortSignal fired, or the scan was closed while it was being iterated. */
  ABORTED: 'SCAN_ABORTED',
  /** No BLAKE3 implementation loads and hashes a known vector correctly, or none was loaded yet. */
  BLAKE3_UNAVAILABLE: 'SCAN_BLAKE3_UNAVAILABLE',
  /** The scan was used out of order: iterated twice, or its index read before it finished. */
  INVALID_STATE: 'SCAN_INVALID_STATE',
} as const

export type ScanErrorCode = (typeof ScanErrorCode)[keyof typeof ScanErrorCode]

export class ScanError extends LifeboatError {
  declare readonly code: ScanErrorCode

  constructor(code: ScanErrorCode, message: string, init: LifeboatErrorInit) {
    super(code, message, init)
    this.name = 'ScanError'
  }
}

/** `option` is refused; the message names it, as every boundary check must. */
export function invalidOption(option: string, problem: string, remediation: string): ScanError {
  return new ScanError(ScanErrorCode.INVALID_OPTION, `scan option ${option} ${problem}`, { remediation })
}

/** A short description of anything thrown, keeping the code of coded errors. */
export function describeCause(cause: unknown): string {
  if (isCodedError(cause)) return `${cause.message} (${cause.code})`
  if (cause instanceof Error) return cause.message
  return String(cause)
}

export function sourceReadError(
  source: string,
  first: number,
  count: number,
  problem: string,
  cause?: unknown,
) {
  return new ScanError(
    ScanErrorCode.SOURCE_READ_FAILED,
    `reading blocks ${first}–${first + count - 1} of ${source} failed: ${problem}`,
    {
      remediation: 'Check that the volume is readable and did not change size during the scan, then retry.',
      retryable: isCodedError(cause) ? (cause as { retryable?: unknown }).retryable === true : true,
      cause,
    },
  )
}

/**
 * A worker read of `run` failed: the same SCAN_SOURCE_READ_FAILED, over the same BlockioError codes,
 * that a failed `BlockSource.read()` of a file gives (blockio/file-block-source.ts).
 */
export function workerReadError(
  source: { name: string; size: number },
  run: BlockRun,
  failure: WorkerReadFailure,
): ScanError {
  const cause = failure.short
    ? new BlockioError(
        BlockioErrorCode.SOURCE_SHORT_READ,
        `${source.name} ended at byte ${failure.position}, but it was ${source.size} bytes when opened`,
        {
          remediation: 'The volume shrank while it was read: scan from a snapshot, or run the scan again.',
          retryable: true,
        },
      )
    : new BlockioError(
        BlockioErrorCode.SOURCE_UNREADABLE,
        `reading ${source.name} at byte ${failure.position} in a worker thread failed: ${failure.message}`,
        {
          remediation:
            failure.errno === 'ENOENT'
              ? 'The volume was removed or renamed while it was scanned: scan from a stable path or snapshot.'
              : 'Check the disk and the kernel log for I/O errors, then run the scan again.',
          retryable: true,
        },
      )
  return sourceReadError(source.name, run.first, run.count, describeCause(cause), cause)
}

/** `what` says which worker failed and where; the cause's message follows. */
export function workerError(what: string, cause: unknown): ScanError {
  return new ScanError(ScanErrorCode.WORKER_FAILED, `${what}: ${describeCause(cause)}`, {
    remediation: 'Retry the scan; if it fails again, check memory limits and report it with this log.',
    retryable: true,
    cause,
  })
}

export function abortedError(message: string, cause?: unknown): ScanError {
  return new ScanError(ScanErrorCode.ABORTED, message, {
    remediation: 'Run the scan again when it is wanted; nothing was committed by the stopped scan.',
    retryable: true,
    cause,
  })
}
