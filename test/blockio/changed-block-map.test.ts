import { describe, expect, it } from 'vitest'
import { ChangedBlockMap } from '../../blockio/changed-block-map.js'
import { randomInt, seeded } from './helpers.js'

describe('ChangedBlockMap', () => {
  it('merges overlapping and adjacent sorted runs and counts blocks once', () => {
    const map = new ChangedBlockMap(100, [
      { first: 0, count: 2 },
      { first: 1, count: 3 },
      { first: 4, count: 1 },
      { first: 10, count: 0 },
      { first: 20, count: 5 },
    ])
    expect(map.runs).toEqual([
      { first: 0, count: 5 },
      { first: 20, count: 5 },
    ])
    expect(map.changedCount).toBe(10)
  })

  it('refuses unsorted runs and runs outside the volume', () => {
    expect(
      () =>
        new ChangedBlockMap(10, [
          { first: 5, count: 1 },
          { first: 1, count: 1 },
        ]),
    ).toThrow(/not sorted/)
    expect(() => new ChangedBlockMap(10, [{ first: 8, count: 3 }])).toThrow(RangeError)
  })

  it('sorts runs given in any order', () => {
    const map = ChangedBlockMap.fromUnsortedRuns(50, [
      { first: 30, count: 2 },
      { first: 0, count: 1 },
      { first: 31, count: 5 },
    ])
    expect(map.runs).toEqual([
      { first: 0, count: 1 },
      { first: 30, count: 6 },
    ])
  })

  it('joins two maps into the union of their blocks', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const random = seeded(seed)
      const blockCount = 1 + randomInt(random, 200)
      const pick = () =>
        Array.from({ length: randomInt(random, 8) }, () => {
          const first = randomInt(random, blockCount)
          return { first, count: 1 + randomInt(random, blockCount - first) }
        })
      const a = ChangedBlockMap.fromUnsortedRuns(blockCount, pick())
      const b = ChangedBlockMap.fromUnsortedRuns(blockCount, pick())
      const expected = new Set([...a.blocks(), ...b.blocks()])
      const union = a.union(b)
      expect([...union.blocks()]).toEqual([...expected].sort((x, y) => x - y))
      for (let i = 0; i < blockCount; i++) expect(union.has(i)).toBe(expected.has(i))
    }
    expect(() => ChangedBlockMap.none(3).union(ChangedBlockMap.none(4))).toThrow(RangeError)
  })

  it('has none, all and empty maps', () => {
    expect(ChangedBlockMap.none(5).changedCount).toBe(0)
    expect(ChangedBlockMap.all(5).runs).toEqual([{ first: 0, count: 5 }])
    expect(ChangedBlockMap.all(0).runs).toEqual([])
    expect(ChangedBlockMap.none(0).has(0)).toBe(false)
  })
})
