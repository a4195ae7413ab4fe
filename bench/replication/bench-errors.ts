/**
 * Errors raised by the replication benchmark's peer harness (bench/replication/): the rsync
 * daemon and transfers, the image mutations and the extents file.
 *
 * Every code is stable and listed in docs/ERRORS.md "Replication benchmark harness".
 */
import { LifeboatError, type LifeboatErrorInit } from '../../protocol/errors.js'

export const BenchErrorCode = {
  /** An option of a harness function is missing, of the wrong type or out of range. */
  INVALID_OPTION: 'BENCH_INVALID_OPTION',
  /** rsync is not installed. */
  RSYNC_MISSING: 'BENCH_RSYNC_MISSING',
  /** The rsync daemon did not start or accept connections, or a transfer failed or timed out. */
  RSYNC_FAILED: 'BENCH_RSYNC_FAILED',
  /** After a transfer, the target is not byte-identical to the image. */
  TARGET_MISMATCH: 'BENCH_TARGET_MISMATCH',
  /** The image or the extents file could not be read or written. */
  IMAGE_IO: 'BENCH_IMAGE_IO',
} as const

export type BenchErrorCode = (typeof BenchErrorCode)[keyof typeof BenchErrorCode]

export class BenchError extends LifeboatError {
  declare readonly code: BenchErrorCode

  constructor(code: BenchErrorCode, message: string, init: LifeboatErrorInit) {
    super(code, message, init)
    this.name = 'BenchError'
  }
}

export function invalidBenchOption(option: string, problem: string): BenchError {
  return new BenchError(BenchErrorCode.INVALID_OPTION, `benchmark option ${option} ${problem}`, {
    remediation: 'Pass a value in the range named in the message.',
  })
}

export function benchIoError(what: string, cause: unknown): BenchError {
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new BenchError(BenchErrorCode.IMAGE_IO, `${what}: ${detail}`, {
    remediation: 'Check that the path exists, is writable and that its folder has free space.',
    retryable: true,
    cause,
  })
}

export function rsyncMissing(): BenchError {
  return new BenchError(
    BenchErrorCode.RSYNC_MISSING,
    'rsync was not found on PATH, in /sbin or in /usr/sbin',
    {
      remediation: 'Install rsync (Debian/Ubuntu: apt-get install rsync; Fedora: dnf install rsync).',
    },
  )
}

export function rsyncFailed(message: string, retryable = false, cause?: unknown): BenchError {
  return new BenchError(BenchErrorCode.RSYNC_FAILED, message, {
    remediation:
      'Read rsync’s message quoted above; check free space in the target folder and that nothing else uses the port. Retry once the machine is idle.',
    retryable,
    cause,
  })
}
