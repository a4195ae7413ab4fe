/**
 * The logger the scheduler, the dispatcher and the event bus write to: the part of pino's interface
 * they use (`log.warn({ …fields }, 'message')`), so the coordinator passes its pino logger and tests
 * pass one that records what was logged. Fields are machine-readable (`event`, `code`, `planId`,
 * `jobId`, `nodeId`); the message is for people.
 *
 * The control link declares the same shape as `ControlLogger` (coordinator/control/logger.ts); the
 * two are structurally identical, so one pino logger satisfies both.
 */

export interface CoordinatorLogger {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

/** Logs nothing: the default when no logger is given. */
export const silentLogger: CoordinatorLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
}
