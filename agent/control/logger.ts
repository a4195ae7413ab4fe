/**
 * The logger the agent's control link writes to: the part of pino's interface it uses
 * (`logger.info({ …fields }, 'message')`), so the CLI passes a pino logger and tests a recorder.
 */

export interface AgentLogger {
  debug(fields: object, message: string): void
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

/** Logs nothing: the default when no logger is given. */
export const silentLogger: AgentLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
}
