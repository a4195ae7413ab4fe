/**
 * The RESULT `summary` of a replication cycle (docs/PROTOCOL.md §8 "Replication summary"): how the
 * appliance tells the coordinator which recovery point each volume's commit made, so the
 * coordinator can catalogue it. One entry per volume,
 *
 *   `rp.<volumeId>` = `<pointId>:<map digest, 64 hex>:<volume size in bytes>`
 *
 * (`:` never occurs in an id), beside totals such as `payloadBytes`. One entry per volume keeps a
 * 64-volume job inside the summary's 64 entries less a few totals.
 */
import { ID_PATTERN } from './schema-types.js'

export const POINT_SUMMARY_PREFIX = 'rp.'

export interface PointSummary {
  volumeId: string
  pointId: string
  /** 64 lowercase hex characters. */
  mapDigest: string
  volumeSize: number
}

const idPattern = new RegExp(ID_PATTERN)
const hexDigest = /^[0-9a-f]{64}$/

export function formatPointSummary(point: Omit<PointSummary, 'volumeId'>): string {
  return `${point.pointId}:${point.mapDigest}:${point.volumeSize}`
}

/**
 * The points a summary names, in its order. Entries that do not parse are returned in `invalid`
 * (the caller logs them) rather than thrown: one bad entry must not hide the others.
 */
export function pointsOfSummary(summary: Record<string, string | number | boolean> | undefined): {
  points: PointSummary[]
  invalid: string[]
} {
  const points: PointSummary[] = []
  const invalid: string[] = []
  for (const [key, value] of Object.entries(summary ?? {})) {
    if (!key.startsWith(POINT_SUMMARY_PREFIX)) continue
    const volumeId = key.slice(POINT_SUMMARY_PREFIX.length)
    const parts = typeof value === 'string' ? value.split(':') : []
    const [pointId, mapDigest, size] = parts
    const volumeSize = Number(size)
    if (
      parts.length !== 3 ||
      !idPattern.test(volumeId) ||
      !idPattern.test(pointId!) ||
      !hexDigest.test(mapDigest!) ||
      !Number.isSafeInteger(volumeSize) ||
      volumeSize < 0
    ) {
      invalid.push(key)
      continue
    }
    points.push({ volumeId, pointId: pointId!, mapDigest: mapDigest!, volumeSize })
  }
  return { points, invalid }
}
