// Parsing and validating schedules, and their due times: interval arithmetic, cron runs, coalescing counts.
import { describe, expect, it } from 'vitest'
import {
  dueRunsBetween,
  firstDue,
  MAX_COUNTED_CRON_RUNS,
  MAX_INTERVAL_MS,
  MIN_INTERVAL_MS,
  missedRuns,
  nextDue,
  parseSchedule,
  type Schedule,
} from '../../../coordinator/scheduling/schedule.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const T0 = Date.parse('2025-06-01T00:00:00Z')

function invalid(input: unknown, fragment: string): void {
  let caught: unknown
  try {
    parseSchedule(input)
  } catch (error) {
    caught = error
  }
  expect(caught).toMatchObject({ code: 'SCHEDULE_INVALID', retryable: false })
  const error = caught as { message: string; remediation: string }
  expect(error.message).toContain(fragment)
  expect(error.remediation.length).toBeGreaterThan(20)
}

describe('parseSchedule', () => {
  it('accepts intervals from 10 s to 31 days', () => {
    expect(parseSchedule({ kind: 'interval', everyMs: MIN_INTERVAL_MS })).toEqual({
      kind: 'interval',
      everyMs: 10_000,
    })
    expect(parseSchedule({ kind: 'interval', everyMs: MAX_INTERVAL_MS, extra: 1 })).toEqual({
      kind: 'interval',
      everyMs: 31 * 24 * HOUR,
    })
  })

  it('refuses intervals out of bounds or not integers', () => {
    invalid({ kind: 'interval', everyMs: MIN_INTERVAL_MS - 1 }, 'everyMs')
    invalid({ kind: 'interval', everyMs: MAX_INTERVAL_MS + 1 }, 'everyMs')
    invalid({ kind: 'interval', everyMs: 15_000.5 }, 'everyMs')
    invalid({ kind: 'interval', everyMs: '60000' }, 'everyMs')
    invalid({ kind: 'interval' }, 'everyMs')
  })

  it('accepts five-field cron expressions and nicknames, spelling the time zone canonically', () => {
    expect(parseSchedule({ kind: 'cron', expression: ' 30  2 * * * ', timeZone: 'europe/berlin' })).toEqual({
      kind: 'cron',
      expression: '30 2 * * *',
      timeZone: 'Europe/Berlin',
    })
    expect(parseSchedule({ kind: 'cron', expression: '@daily', timeZone: 'UTC' })).toMatchObject({
      expression: '@daily',
    })
    expect(
      parseSchedule({ kind: 'cron', expression: '0 3 * * SUN', timeZone: 'America/New_York' }),
    ).toMatchObject({
      timeZone: 'America/New_York',
    })
  })

  it('refuses a bad cron expression with the reason and how to write one', () => {
    invalid({ kind: 'cron', expression: '61 2 * * *', timeZone: 'UTC' }, 'minute')
    invalid({ kind: 'cron', expression: 'every day', timeZone: 'UTC' }, 'invalid expression')
    invalid({ kind: 'cron', expression: '0 30 2 * * *', timeZone: 'UTC' }, '6 parts')
    invalid({ kind: 'cron', expression: '2025-01-01T00:00:00', timeZone: 'UTC' }, 'is a date')
    invalid({ kind: 'cron', expression: '0 0 30 2 *', timeZone: 'UTC' }, 'never matches')
    invalid({ kind: 'cron', expression: '', timeZone: 'UTC' }, 'expression')
    invalid({ kind: 'cron', expression: 'x'.repeat(300), timeZone: 'UTC' }, 'expression')
  })

  it('refuses an unknown or missing time zone', () => {
    invalid({ kind: 'cron', expression: '30 2 * * *', timeZone: 'Mars/Olympus_Mons' }, 'unknown time zone')
    invalid({ kind: 'cron', expression: '30 2 * * *' }, 'timeZone')
  })

  it('refuses anything that is not a schedule', () => {
    invalid(null, 'object')
    invalid('30 2 * * *', 'object')
    invalid({ kind: 'weekly' }, 'kind')
  })
})

describe('interval due times', () => {
  const every15: Schedule = { kind: 'interval', everyMs: 15 * MINUTE }

  it('next due is the last due time plus the interval, however late we look', () => {
    expect(nextDue(every15, T0)).toBe(T0 + 15 * MINUTE)
    // Looking 7 minutes late changes nothing: the timetable is anchored.
    expect(dueRunsBetween(every15, T0, T0 + 22 * MINUTE)).toEqual({
      count: 1,
      latestDueAt: T0 + 15 * MINUTE,
      countCapped: false,
    })
  })

  it('counts runs in (after, until]', () => {
    expect(dueRunsBetween(every15, T0, T0 + 15 * MINUTE - 1)).toBeUndefined()
    expect(dueRunsBetween(every15, T0, T0 + 15 * MINUTE)?.count).toBe(1)
    expect(dueRunsBetween(every15, T0, T0 + 150 * MINUTE + 5)).toEqual({
      count: 10,
      latestDueAt: T0 + 150 * MINUTE,
      countCapped: false,
    })
    expect(dueRunsBetween(every15, T0, T0)).toBeUndefined()
  })

  it('a plan that never ran is due at its anchor', () => {
    expect(firstDue(every15, T0)).toBe(T0)
    expect(missedRuns(every15, { anchorAt: T0 }, T0 - 1)).toBeUndefined()
    expect(missedRuns(every15, { anchorAt: T0 }, T0)).toEqual({
      count: 1,
      latestDueAt: T0,
      countCapped: false,
    })
    expect(missedRuns(every15, { anchorAt: T0 }, T0 + 31 * MINUTE)).toEqual({
      count: 3,
      latestDueAt: T0 + 30 * MINUTE,
      countCapped: false,
    })
    expect(
      missedRuns(every15, { anchorAt: T0, lastDueAt: T0 + 30 * MINUTE }, T0 + 31 * MINUTE),
    ).toBeUndefined()
  })
})

describe('cron due times', () => {
  const hourly = parseSchedule({ kind: 'cron', expression: '0 * * * *', timeZone: 'UTC' })

  it('next due is the next run strictly after', () => {
    expect(nextDue(hourly, T0)).toBe(T0 + HOUR)
    expect(nextDue(hourly, T0 - 1)).toBe(T0)
    expect(firstDue(hourly, T0 + 1)).toBe(T0 + HOUR)
  })

  it('counts runs in (after, until]', () => {
    expect(dueRunsBetween(hourly, T0, T0 + 5 * HOUR + 59 * MINUTE)).toEqual({
      count: 5,
      latestDueAt: T0 + 5 * HOUR,
      countCapped: false,
    })
    expect(dueRunsBetween(hourly, T0, T0 + HOUR - 1)).toBeUndefined()
  })

  it('reads the expression in its time zone', () => {
    const tokyo = parseSchedule({ kind: 'cron', expression: '0 9 * * *', timeZone: 'Asia/Tokyo' })
    // 09:00 in Tokyo (UTC+9, no DST) is 00:00 UTC.
    expect(nextDue(tokyo, T0 - 1)).toBe(T0)
    expect(nextDue(tokyo, T0)).toBe(T0 + 24 * HOUR)
  })

  it('caps the count of a long gap and still finds the latest run', () => {
    const everyMinute = parseSchedule({ kind: 'cron', expression: '* * * * *', timeZone: 'UTC' })
    const until = T0 + 2 * 24 * HOUR + 30 * 1000
    expect(dueRunsBetween(everyMinute, T0, until)).toEqual({
      count: MAX_COUNTED_CRON_RUNS,
      latestDueAt: T0 + 2 * 24 * HOUR,
      countCapped: true,
    })
  })
})
