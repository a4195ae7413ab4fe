// The replication cycle's RESULT summary entries (protocol/replication-summary.ts, docs/PROTOCOL.md
// §8 "Replication summary"): what formatPointSummary writes, pointsOfSummary reads back; entries
// that do not parse are listed in `invalid` (by key) without hiding the good ones; other keys
// (totals) are ignored.
import { describe, expect, it } from 'vitest'
import { formatPointSummary, pointsOfSummary } from '../../protocol/index.js'

const DIGEST = 'ab'.repeat(32)

describe('replication summary', () => {
  it('round-trips each volume’s point and ignores the totals', () => {
    const summary = {
      'rp.disk0': formatPointSummary({ pointId: 'job-1.disk0', mapDigest: DIGEST, volumeSize: 4_194_304 }),
      'rp.disk-1': formatPointSummary({ pointId: 'pt-0123', mapDigest: DIGEST, volumeSize: 0 }),
      payloadBytes: 123,
      changedBlocks: 2,
    }
    expect(summary['rp.disk0']).toBe(`job-1.disk0:${DIGEST}:4194304`)
    expect(pointsOfSummary(summary)).toEqual({
      points: [
        { volumeId: 'disk0', pointId: 'job-1.disk0', mapDigest: DIGEST, volumeSize: 4_194_304 },
        { volumeId: 'disk-1', pointId: 'pt-0123', mapDigest: DIGEST, volumeSize: 0 },
      ],
      invalid: [],
    })
  })

  it('an absent or empty summary names nothing', () => {
    expect(pointsOfSummary(undefined)).toEqual({ points: [], invalid: [] })
    expect(pointsOfSummary({})).toEqual({ points: [], invalid: [] })
  })

  it('lists every entry that does not parse, and still returns the good ones', () => {
    const summary = {
      'rp.good': `p1:${DIGEST}:10`,
      'rp.number': 42,
      'rp.bool': true,
      'rp.parts': `p1:${DIGEST}`,
      'rp.extra': `p1:${DIGEST}:10:11`,
      'rp.bad id': `p1:${DIGEST}:10`,
      'rp.': `p1:${DIGEST}:10`,
      'rp.pointid': `bad point:${DIGEST}:10`,
      'rp.upper': `p1:${DIGEST.toUpperCase()}:10`,
      'rp.short': `p1:${'ab'.repeat(31)}:10`,
      'rp.negative': `p1:${DIGEST}:-1`,
      'rp.fraction': `p1:${DIGEST}:1.5`,
      'rp.notnumber': `p1:${DIGEST}:ten`,
      'rp.huge': `p1:${DIGEST}:${2 ** 60}`,
    }
    const { points, invalid } = pointsOfSummary(summary)
    expect(points).toEqual([{ volumeId: 'good', pointId: 'p1', mapDigest: DIGEST, volumeSize: 10 }])
    expect(invalid).toEqual(Object.keys(summary).filter((key) => key !== 'rp.good'))
  })
})
