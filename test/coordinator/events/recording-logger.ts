// A CoordinatorLogger that keeps what was logged, for assertions on events and codes.
import type { CoordinatorLogger } from '../../../coordinator/events/logger.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface LogRecord {
  level: LogLevel
  fields: Record<string, unknown>
  message: string
}

export interface RecordingLogger extends CoordinatorLogger {
  records: LogRecord[]
  /** Records whose `event` field is `event` (at `level`, when given). */
  find(event: string, level?: LogLevel): LogRecord[]
}

export function recordingLogger(): RecordingLogger {
  const records: LogRecord[] = []
  const at =
    (level: LogLevel) =>
    (fields: object, message: string): void => {
      records.push({ level, fields: fields as Record<string, unknown>, message })
    }
  return {
    records,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    find: (event, level) =>
      records.filter((r) => r.fields.event === event && (level === undefined || r.level === level)),
  }
}
