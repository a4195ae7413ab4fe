/**
 * The logger the control link writes to. It is the part of pino's interface the control link uses
 * (`logger.info({ …fields }, 'message')`), so the CLI passes a pino logger and tests pass one that
 * records what was logged. Fields are machine-readable (`event`, `peerId`, `code`); the message is
 * for people.
 */

export interface ControlLogger {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

/** Logs nothing: the default when no logger is given. */
export const silentLogger: ControlLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
}
