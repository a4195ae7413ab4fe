// Cron schedules across daylight-saving changes: a 02:30 daily job runs once on the spring-forward
// day (right after the jump) and once on the fall-back day (the first 02:30), in Europe/Berlin and
// America/New_York; an hourly job stays hourly in absolute time.
import { describe, expect, it } from 'vitest'
import { dueRunsBetween, nextDue, parseSchedule } from '../../../coordinator/scheduling/schedule.js'

const at = (iso: string): number => Date.parse(iso)
const iso = (ms: number | undefined): string | undefined =>
  ms === undefined ? undefined : new Date(ms).toISOString()

function runs(expression: string, timeZone: string, fromIso: string, count: number): string[] {
  const schedule = parseSchedule({ kind: 'cron', expression, timeZone })
  const out: string[] = []
  let after = at(fromIso)
  for (let i = 0; i < count; i++) {
    const next = nextDue(schedule, after)
    if (next === undefined) break
    out.push(iso(next) as string)
    after = next
  }
  return out
}

describe('cron across DST in Europe/Berlin', () => {
  it('spring forward (2025-03-30, 02:00 → 03:00): 02:30 runs once, at 03:00 CEST', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2025-03-28T12:00:00Z', 3)).toEqual([
      '2025-03-29T01:30:00.000Z', // 02:30 CET
      '2025-03-30T01:00:00.000Z', // 02:30 does not exist: 03:00 CEST, once
      '2025-03-31T00:30:00.000Z', // 02:30 CEST
    ])
    const schedule = parseSchedule({ kind: 'cron', expression: '30 2 * * *', timeZone: 'Europe/Berlin' })
    expect(dueRunsBetween(schedule, at('2025-03-29T22:00:00Z'), at('2025-03-30T21:59:59Z'))?.count).toBe(1)
  })

  it('fall back (2025-10-26, 03:00 → 02:00): 02:30 runs once, at its first occurrence', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2025-10-24T12:00:00Z', 3)).toEqual([
      '2025-10-25T00:30:00.000Z', // 02:30 CEST
      '2025-10-26T00:30:00.000Z', // first 02:30 (CEST); the second (01:30Z, CET) does not run
      '2025-10-27T01:30:00.000Z', // 02:30 CET
    ])
    const schedule = parseSchedule({ kind: 'cron', expression: '30 2 * * *', timeZone: 'Europe/Berlin' })
    expect(dueRunsBetween(schedule, at('2025-10-25T22:00:00Z'), at('2025-10-26T22:59:59Z'))?.count).toBe(1)
  })

  it('a list of fixed times counts as fixed: 02:30 and 14:30 run once each on the fall-back day', () => {
    expect(runs('30 2,14 * * *', 'Europe/Berlin', '2025-10-25T22:00:00Z', 3)).toEqual([
      '2025-10-26T00:30:00.000Z', // first 02:30 only
      '2025-10-26T13:30:00.000Z', // 14:30 CET
      '2025-10-27T01:30:00.000Z',
    ])
  })

  it('an hourly job runs every hour of absolute time through the repeated hour', () => {
    expect(runs('30 * * * *', 'Europe/Berlin', '2025-10-25T22:00:00Z', 5)).toEqual([
      '2025-10-25T22:30:00.000Z',
      '2025-10-25T23:30:00.000Z',
      '2025-10-26T00:30:00.000Z', // 02:30 CEST
      '2025-10-26T01:30:00.000Z', // 02:30 CET
      '2025-10-26T02:30:00.000Z',
    ])
  })
})

describe('cron across DST in America/New_York', () => {
  it('spring forward (2025-03-09, 02:00 → 03:00): 02:30 runs once, at 03:00 EDT', () => {
    expect(runs('30 2 * * *', 'America/New_York', '2025-03-07T12:00:00Z', 3)).toEqual([
      '2025-03-08T07:30:00.000Z', // 02:30 EST
      '2025-03-09T07:00:00.000Z', // 03:00 EDT, once
      '2025-03-10T06:30:00.000Z', // 02:30 EDT
    ])
  })

  it('fall back (2025-11-02, 02:00 → 01:00): 02:30 runs once, and the repeated 01:30 once, first', () => {
    expect(runs('30 2 * * *', 'America/New_York', '2025-11-01T12:00:00Z', 2)).toEqual([
      '2025-11-02T07:30:00.000Z', // 02:30 EST, after the repeated hour
      '2025-11-03T07:30:00.000Z',
    ])
    expect(runs('30 1 * * *', 'America/New_York', '2025-11-01T12:00:00Z', 2)).toEqual([
      '2025-11-02T05:30:00.000Z', // first 01:30 (EDT); the second (06:30Z, EST) does not run
      '2025-11-03T06:30:00.000Z',
    ])
    const schedule = parseSchedule({ kind: 'cron', expression: '30 1 * * *', timeZone: 'America/New_York' })
    expect(dueRunsBetween(schedule, at('2025-11-02T04:00:00Z'), at('2025-11-03T03:59:59Z'))?.count).toBe(1)
  })
})
