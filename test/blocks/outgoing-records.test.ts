// The appliance's grouping of scan records into batches: bounded by records and payload bytes,
// zero blocks left out without a base, and records it cannot send refused.
import { describe, expect, it } from 'vitest'
import { groupRecords, type OutgoingRecord, type ScanRecordLike } from '../../agent/blocks/index.js'

const volume = { blockSize: 4096, volumeSize: 10 * 4096 + 100, blockCount: 11 }
const digest = (i: number) => new Uint8Array(32).fill(i + 1)
const lz4 = (i: number, bytes: number): ScanRecordLike => ({
  index: i,
  digest: digest(i),
  flags: 0x04,
  payload: new Uint8Array(bytes),
})
const zero = (i: number): ScanRecordLike => ({ index: i, digest: new Uint8Array(32), flags: 0x01 | 0x04 })

async function groups(
  records: ScanRecordLike[],
  limits: { maxRecords: number; maxPayloadBytes: number; skipZero: boolean },
) {
  const tally = { zeroSkipped: 0 }
  const out: OutgoingRecord[][] = []
  for await (const group of groupRecords(records, volume, limits, tally)) out.push(group)
  return { out, tally }
}

describe('groupRecords', () => {
  it('cuts at the record and payload bounds, keeping block order', async () => {
    const records = [lz4(0, 1000), lz4(1, 1000), lz4(2, 1000), zero(3), lz4(4, 3000), lz4(5, 600)]
    const { out } = await groups(records, { maxRecords: 3, maxPayloadBytes: 3500, skipZero: false })
    expect(out.map((g) => g.map((r) => r.index))).toEqual([[0, 1, 2], [3, 4], [5]])
    expect(out[1]![0]).toMatchObject({ zero: true, payload: undefined })
    expect(out[1]![1]).toMatchObject({ zero: false, raw: false })
  })

  it('leaves zero blocks out without a base and counts them', async () => {
    const { out, tally } = await groups([zero(0), lz4(1, 10), zero(2), zero(10)], {
      maxRecords: 10,
      maxPayloadBytes: 1 << 20,
      skipZero: true,
    })
    expect(out.map((g) => g.map((r) => r.index))).toEqual([[1]])
    expect(tally.zeroSkipped).toBe(3)
  })

  it('refuses records out of order, past the volume, or RAW of the wrong length', async () => {
    const limits = { maxRecords: 10, maxPayloadBytes: 1 << 20, skipZero: false }
    await expect(groups([lz4(2, 10), lz4(1, 10)], limits)).rejects.toMatchObject({
      code: 'AGENT_BLOCKS_INVALID_RECORD',
    })
    await expect(groups([lz4(11, 10)], limits)).rejects.toMatchObject({ code: 'AGENT_BLOCKS_INVALID_RECORD' })
    const shortRaw = { index: 10, digest: digest(10), flags: 0x02, payload: new Uint8Array(4096) }
    await expect(groups([shortRaw], limits)).rejects.toThrow(/RAW with 4096 bytes, the block has 100/)
    const rightRaw = { ...shortRaw, payload: new Uint8Array(100) }
    expect((await groups([rightRaw], limits)).out[0]![0]).toMatchObject({ raw: true, index: 10 })
  })
})
