// The exclusion grace follows the ack deadline unless set (docs/SCHEDULING.md §7 "Exclusion grace").
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_ACK_DEADLINE_MS,
  DEFAULT_EXCLUSION_GRACE_MS,
  dispatcherOptions,
  exclusionGraceFor,
  MAX_EXCLUSION_GRACE_MS,
} from '../../coordinator/dispatch/dispatcher-options.js'

describe('exclusion grace default', () => {
  it('is the ack deadline: 60 s by default, 5 s with a 5 s deadline, 10 min with a 10 min one', () => {
    expect(dispatcherOptions({}).exclusionGraceMs).toBe(DEFAULT_ACK_DEADLINE_MS)
    expect(DEFAULT_EXCLUSION_GRACE_MS).toBe(exclusionGraceFor(DEFAULT_ACK_DEADLINE_MS))
    expect(dispatcherOptions({ ackDeadlineMs: 5_000 }).exclusionGraceMs).toBe(5_000)
    expect(dispatcherOptions({ ackDeadlineMs: 600_000 }).exclusionGraceMs).toBe(600_000)
    expect(exclusionGraceFor(MAX_EXCLUSION_GRACE_MS * 2)).toBe(MAX_EXCLUSION_GRACE_MS)
  })

  it('an explicit grace wins over the derived one, and is still checked', () => {
    expect(dispatcherOptions({ ackDeadlineMs: 5_000, exclusionGraceMs: 0 }).exclusionGraceMs).toBe(0)
    expect(dispatcherOptions({ ackDeadlineMs: 5_000, exclusionGraceMs: 90_000 }).exclusionGraceMs).toBe(
      90_000,
    )
    expect(() => dispatcherOptions({ exclusionGraceMs: -1 })).toThrow(
      expect.objectContaining({ code: 'DISPATCH_INVALID_OPTION' }),
    )
  })
})
