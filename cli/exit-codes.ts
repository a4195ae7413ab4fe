/**
 * Exit codes of the `lifeboat` command (docs/CLI.md "Exit codes"). Stable: scripts depend on them.
 */
export const ExitCode = {
  OK: 0,
  /** An unexpected failure: a bug, reported with code INTERNAL. */
  INTERNAL: 1,
  /** Bad arguments or options: fix the command line. */
  USAGE: 2,
  /** An input is missing, unreadable, corrupt or of the wrong version (image, index, extents). */
  INPUT: 3,
  /** Writing an output (index file, image) failed. */
  OUTPUT: 4,
  /** The coordinator refused the node: a bad enrolment token, a role mismatch, a refused session. */
  REFUSED: 5,
  /** The run was interrupted (SIGINT / SIGTERM). */
  INTERRUPTED: 130,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** Which exit code an error code maps to. */
export function exitCodeFor(code: string): ExitCode {
  if (code.startsWith('CLI_USAGE') || code === 'BLOCKIO_INVALID_OPTION' || code === 'SCAN_INVALID_OPTION') {
    return ExitCode.USAGE
  }
  if (
    code === 'BLOCKIO_INDEX_WRITE_FAILED' ||
    code === 'CLI_OUTPUT_FAILED' ||
    code.startsWith('AGENT_RESTORE_')
  ) {
    return ExitCode.OUTPUT
  }
  if (code.startsWith('ENROL_') || code.startsWith('CONTROL_')) return ExitCode.REFUSED
  if (code === 'CLI_INTERRUPTED' || code === 'SCAN_ABORTED') return ExitCode.INTERRUPTED
  if (
    code.startsWith('BLOCKIO_') ||
    code.startsWith('CLI_INPUT') ||
    code === 'SCAN_SOURCE_READ_FAILED' ||
    code === 'SCAN_INDEX_MISMATCH'
  ) {
    return ExitCode.INPUT
  }
  return ExitCode.INTERNAL
}
