/**
 * Errors raised while making and changing the demo's disk images (demo/): the external e2fsprogs
 * tools (mkfs.ext4, debugfs, e2fsck) failing or missing, bad options, and host file I/O.
 *
 * Every code is stable and listed in docs/ERRORS.md "Demo images". A `DemoError` is a
 * `LifeboatError`, so the demo prints it like any other coded error.
 */
import { LifeboatError, type LifeboatErrorInit } from '../protocol/errors.js'
import type { ToolRun } from './run-tool.js'

export const DemoErrorCode = {
  /** An option of an image function is missing, of the wrong type or out of range. */
  INVALID_OPTION: 'DEMO_INVALID_OPTION',
  /** A tool the function needs (mkfs.ext4, debugfs, e2fsck) is not installed. */
  IMAGE_TOOL_MISSING: 'DEMO_IMAGE_TOOL_MISSING',
  /** A tool ran but failed: non-zero exit, killed, timed out, or errors on its stderr. */
  IMAGE_TOOL_FAILED: 'DEMO_IMAGE_TOOL_FAILED',
  /** The image or a temporary host file could not be read or written. */
  IMAGE_IO: 'DEMO_IMAGE_IO',
} as const

export type DemoErrorCode = (typeof DemoErrorCode)[keyof typeof DemoErrorCode]

export class DemoError extends LifeboatError {
  declare readonly code: DemoErrorCode

  constructor(code: DemoErrorCode, message: string, init: LifeboatErrorInit) {
    super(code, message, init)
    this.name = 'DemoError'
  }
}

const E2FSPROGS_REMEDIATION =
  'Install e2fsprogs (Debian/Ubuntu: apt-get install e2fsprogs; Fedora: dnf install e2fsprogs), or let the demo fall back to a generated image.'

export function invalidDemoOption(option: string, problem: string): DemoError {
  return new DemoError(DemoErrorCode.INVALID_OPTION, `demo image option ${option} ${problem}`, {
    remediation: 'Pass a value in the range named in the message (docs/LIMITS.md "Demo images").',
  })
}

export function toolMissing(tool: string): DemoError {
  return new DemoError(
    DemoErrorCode.IMAGE_TOOL_MISSING,
    `${tool} was not found (searched: the given path, or PATH, /sbin and /usr/sbin)`,
    { remediation: E2FSPROGS_REMEDIATION },
  )
}

/** A tool that could not be started at all (a path that is not executable, a vanished binary). */
export function toolNotStarted(tool: string, cause: unknown): DemoError {
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new DemoError(DemoErrorCode.IMAGE_TOOL_FAILED, `${tool} could not be started: ${detail}`, {
    remediation: E2FSPROGS_REMEDIATION,
    cause,
  })
}

/** A tool that ran and failed; the message carries how it ended and the tail of its stderr. */
export function toolFailed(tool: string, what: string, run: ToolRun, problem?: string): DemoError {
  const ending = run.timedOut
    ? `timed out after ${Math.round(run.ms)} ms`
    : run.signal !== null
      ? `was killed by ${run.signal}`
      : (problem ?? `exited with code ${run.code}`)
  const stderr = run.stderr.trim().split('\n').slice(-8).join(' | ')
  return new DemoError(
    DemoErrorCode.IMAGE_TOOL_FAILED,
    `${tool} ${ending} while ${what}${stderr ? `: ${stderr}` : ''}`,
    {
      remediation: run.timedOut
        ? 'The machine may be overloaded: retry, or make the image smaller.'
        : 'Check free space in the image folder and the temporary folder; the message quotes the tool. If e2fsprogs is broken, reinstall it (apt-get install --reinstall e2fsprogs).',
      retryable: run.timedOut,
    },
  )
}

export function imageIoError(what: string, cause: unknown): DemoError {
  const detail = cause instanceof Error ? cause.message : String(cause)
  return new DemoError(DemoErrorCode.IMAGE_IO, `${what}: ${detail}`, {
    remediation: 'Check that the folder exists, is writable and has free space.',
    retryable: true,
    cause,
  })
}
