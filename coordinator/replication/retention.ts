/**
 * Retention of recovery points (issue "Replication end to end" §4): which catalogued points a plan's
 * retention policy has expired, and whether the policy and the plan's RPO can both be met.
 *
 * Rules, per volume, newest first:
 * - the newest `count` points are kept; older ones expire;
 * - with `maxAgeMs`, a point older than that expires even within `count`;
 * - a point carrying any of `preservedTags` never expires;
 * - the volume's newest point never expires, whatever its age: a DR product never deletes the last
 *   copy it has because replication stalled.
 */

import type { PlanSchedule, RetentionPolicy } from '../store/protection-records.js'
import type { RecoveryPoint } from '../store/recovery-point-records.js'

/** The points `policy` expires at `now`, oldest first. */
export function expiredPoints(
  points: readonly RecoveryPoint[],
  policy: RetentionPolicy,
  now: number,
): RecoveryPoint[] {
  const byVolume = new Map<string, RecoveryPoint[]>()
  for (const point of points) {
    const list = byVolume.get(point.volumeId) ?? []
    list.push(point)
    byVolume.set(point.volumeId, list)
  }
  const preserved = new Set(policy.preservedTags)
  const expired: RecoveryPoint[] = []
  for (const list of byVolume.values()) {
    const newestFirst = [...list].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
    newestFirst.forEach((point, rank) => {
      if (rank === 0) return
      if (point.tags.some((tag) => preserved.has(tag))) return
      const tooMany = rank >= policy.count
      const tooOld = policy.maxAgeMs !== undefined && now - point.createdAt > policy.maxAgeMs
      if (tooMany || tooOld) expired.push(point)
    })
  }
  return expired.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
}

/**
 * Why `policy` and an interval schedule (the plan's RPO) cannot both be met, or undefined when they
 * can. Cron schedules have no fixed RPO and are not judged.
 */
export function retentionConflict(policy: RetentionPolicy, schedule: PlanSchedule): string | undefined {
  if (schedule.kind !== 'interval' || policy.maxAgeMs === undefined) return undefined
  const rpo = schedule.everyMs
  if (policy.maxAgeMs < rpo) {
    return `points expire after ${policy.maxAgeMs} ms but a new one comes only every ${rpo} ms: between cycles only the newest point is left`
  }
  const window = policy.count * rpo
  if (window < policy.maxAgeMs) {
    return `keeping ${policy.count} points at an RPO of ${rpo} ms covers ${window} ms, less than the ${policy.maxAgeMs} ms the policy's maximum age promises`
  }
  return undefined
}
