// Retention of recovery points (coordinator/replication/retention.ts): which catalogued points a
// policy expires — by count per volume, by age, never a preserved (tagged) one, never a volume's
// newest — and why a policy and an interval RPO cannot both be met.
import { describe, expect, it } from 'vitest'
import { expiredPoints, retentionConflict } from '../../coordinator/replication/retention.js'
import type { RecoveryPoint } from '../../coordinator/store/recovery-point-records.js'

const HOUR = 3_600_000
const NOW = 1_800_000_000_000

function point(id: string, ageHours: number, extra: Partial<RecoveryPoint> = {}): RecoveryPoint {
  return {
    tenantId: 't1',
    id,
    vmId: 'vm1',
    volumeId: 'disk0',
    createdAt: NOW - ageHours * HOUR,
    blockMapDigest: '00'.repeat(32),
    size: 1,
    tags: [],
    ...extra,
  }
}

const ids = (points: RecoveryPoint[]) => points.map((p) => p.id)

describe('expiredPoints', () => {
  it('keeps the newest `count` points of each volume, expires the older ones oldest first', () => {
    const points = [
      point('a4', 1),
      point('a1', 4),
      point('a3', 2),
      point('a2', 3),
      point('b2', 1, { volumeId: 'disk1' }),
      point('b1', 2, { volumeId: 'disk1' }),
    ]
    expect(ids(expiredPoints(points, { count: 2, preservedTags: [] }, NOW))).toEqual(['a1', 'a2'])
    expect(ids(expiredPoints(points, { count: 1, preservedTags: [] }, NOW))).toEqual(['a1', 'a2', 'a3', 'b1'])
    expect(expiredPoints(points, { count: 10, preservedTags: [] }, NOW)).toEqual([])
  })

  it('expires points older than maxAgeMs even within count, but never the newest', () => {
    const points = [point('p1', 30), point('p2', 20), point('p3', 5), point('p4', 1)]
    expect(ids(expiredPoints(points, { count: 10, maxAgeMs: 10 * HOUR, preservedTags: [] }, NOW))).toEqual([
      'p1',
      'p2',
    ])
    // Replication stalled: every point is too old, the newest stays.
    const stale = [point('s1', 50), point('s2', 40)]
    expect(ids(expiredPoints(stale, { count: 10, maxAgeMs: HOUR, preservedTags: [] }, NOW))).toEqual(['s1'])
  })

  it('never expires a point carrying a preserved tag; other tags do not protect', () => {
    const points = [
      point('p1', 4, { tags: ['monthly'] }),
      point('p2', 3, { tags: ['other'] }),
      point('p3', 2),
      point('p4', 1),
    ]
    const policy = { count: 1, maxAgeMs: HOUR, preservedTags: ['monthly', 'legal-hold'] }
    expect(ids(expiredPoints(points, policy, NOW))).toEqual(['p2', 'p3'])
  })

  it('count 0 still keeps the newest point; equal times are ordered by id', () => {
    const points = [point('x2', 1), point('x1', 1), point('x3', 1)]
    expect(ids(expiredPoints(points, { count: 0, preservedTags: [] }, NOW))).toEqual(['x1', 'x2'])
  })
})

describe('retentionConflict', () => {
  const hourly = { kind: 'interval', everyMs: HOUR } as const

  it('none without a maximum age, for cron schedules, or when count × RPO covers the age', () => {
    expect(retentionConflict({ count: 1, preservedTags: [] }, hourly)).toBeUndefined()
    expect(
      retentionConflict(
        { count: 1, maxAgeMs: 1, preservedTags: [] },
        { kind: 'cron', expression: '@daily', timeZone: 'UTC' },
      ),
    ).toBeUndefined()
    expect(retentionConflict({ count: 24, maxAgeMs: 24 * HOUR, preservedTags: [] }, hourly)).toBeUndefined()
  })

  it('points that expire before the next cycle comes', () => {
    expect(retentionConflict({ count: 10, maxAgeMs: HOUR / 2, preservedTags: [] }, hourly)).toBe(
      `points expire after ${HOUR / 2} ms but a new one comes only every ${HOUR} ms: between cycles only the newest point is left`,
    )
  })

  it('a count too small to cover the maximum age at this RPO', () => {
    expect(retentionConflict({ count: 12, maxAgeMs: 24 * HOUR, preservedTags: [] }, hourly)).toBe(
      `keeping 12 points at an RPO of ${HOUR} ms covers ${12 * HOUR} ms, less than the ${24 * HOUR} ms the policy's maximum age promises`,
    )
  })
})
