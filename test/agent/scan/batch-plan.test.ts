import { describe, expect, it } from 'vitest'
import { planBatches, readSet, readSetBytes } from '../../../agent/scan/batch-plan.js'
import { ChangedBlockMap } from '../../../blockio/changed-block-map.js'

describe('batch plan', () => {
  it('splits long runs and packs short ones, never over the batch size, in block order', () => {
    const runs = [
      { first: 0, count: 10 },
      { first: 20, count: 1 },
      { first: 30, count: 2 },
      { first: 40, count: 7 },
    ]
    const batches = [...planBatches(runs, 4)]
    expect(batches).toEqual([
      { runs: [{ first: 0, count: 4 }], blockCount: 4 },
      { runs: [{ first: 4, count: 4 }], blockCount: 4 },
      {
        runs: [
          { first: 8, count: 2 },
          { first: 20, count: 1 },
          { first: 30, count: 1 },
        ],
        blockCount: 4,
      },
      {
        runs: [
          { first: 31, count: 1 },
          { first: 40, count: 3 },
        ],
        blockCount: 4,
      },
      { runs: [{ first: 43, count: 4 }], blockCount: 4 },
    ])
    expect([...planBatches([], 4)]).toEqual([])
  })

  it('the read set is every block, or the changed runs united with those a resize changed', () => {
    expect(readSet(5, undefined, undefined).runs).toEqual([{ first: 0, count: 5 }])
    const changed = new ChangedBlockMap(10, [
      { first: 1, count: 2 },
      { first: 8, count: 1 },
    ])
    expect(readSet(10, changed, undefined)).toBe(changed)
    const resized = new ChangedBlockMap(10, [{ first: 7, count: 3 }])
    expect(readSet(10, changed, resized).runs).toEqual([
      { first: 1, count: 2 },
      { first: 7, count: 3 },
    ])
  })

  it('counts the bytes of the read set, the short last block by its length', () => {
    const set = new ChangedBlockMap(3, [
      { first: 0, count: 1 },
      { first: 2, count: 1 },
    ])
    expect(readSetBytes(set, 2 * 4096 + 10, 4096)).toBe(4096 + 10)
  })
})
