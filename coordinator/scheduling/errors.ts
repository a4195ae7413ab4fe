/**
 * Errors of the scheduler: a schedule that cannot be used (a bad cron expression, an unknown time
 * zone, an interval out of bounds) and a scheduler option out of range. Each names what is wrong and
 * how to fix it; docs/ERRORS.md "Scheduling and dispatch" lists them.
 */
import { LifeboatError } from '../../protocol/errors.js'

export const ScheduleErrorCode = {
  /** A schedule is malformed: kind, interval bounds, cron expression or time zone (message says which). */
  INVALID: 'SCHEDULE_INVALID',
  /** An option of the scheduler is out of range (the message names it). */
  INVALID_OPTION: 'SCHEDULE_INVALID_OPTION',
} as const

export type ScheduleErrorCode = (typeof ScheduleErrorCode)[keyof typeof ScheduleErrorCode]

export class ScheduleError extends LifeboatError {
  declare readonly code: ScheduleErrorCode

  constructor(code: ScheduleErrorCode, message: string, remediation: string, cause?: unknown) {
    super(code, message, { remediation, cause })
    this.name = 'ScheduleError'
  }
}

/** A schedule that cannot be used; `remediation` says how to write a good one. */
export function invalidSchedule(message: string, remediation: string, cause?: unknown): ScheduleError {
  return new ScheduleError(ScheduleErrorCode.INVALID, message, remediation, cause)
}

/** Checks one integer option of the scheduler against its range and returns it. */
export function checkScheduleOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ScheduleError(
      ScheduleErrorCode.INVALID_OPTION,
      `${name} must be an integer in [${min}, ${max}], got ${String(value)}`,
      `Fix ${name}; docs/LIMITS.md "Scheduling and dispatch" gives its range and default.`,
    )
  }
  return value
}
