/**
 * Errors of the coordinator's internal event bus. The bus itself never throws at an emitter: a
 * failing handler is logged with its own code and the bus moves on, so the only error here is an
 * option out of range when the bus is built. Listed in docs/ERRORS.md "Scheduling and dispatch".
 */
import { LifeboatError } from '../../protocol/errors.js'

export const EventBusErrorCode = {
  /** An option of the event bus is out of range (the message names it). */
  INVALID_OPTION: 'EVENTS_INVALID_OPTION',
} as const

export type EventBusErrorCode = (typeof EventBusErrorCode)[keyof typeof EventBusErrorCode]

export class EventBusError extends LifeboatError {
  declare readonly code: EventBusErrorCode

  constructor(code: EventBusErrorCode, message: string, remediation: string) {
    super(code, message, { remediation })
    this.name = 'EventBusError'
  }
}
