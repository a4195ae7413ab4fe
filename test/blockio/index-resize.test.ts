import { describe, expect, it } from 'vitest'
import { BlockFlag } from '../../blockio/block-flags.js'
import { BlockIndex, DIGEST_LENGTH } from '../../blockio/block-index.js'
import { diffIndexes, resizeIndex } from '../../blockio/index-diff.js'
import { randomBytesFrom, randomIndex, randomInt, seeded } from './helpers.js'

const BLOCK = 4096

describe('resizeIndex (docs/FORMATS.md "Volume resize")', () => {
  it('grown: copies every full block, marks the old short last block and the new blocks', () => {
    const previous = randomIndex(seeded(1), 10 * BLOCK + 100, BLOCK)
    const { index, changed } = resizeIndex(previous, 20 * BLOCK)
    expect(index.volumeSize).toBe(20 * BLOCK)
    expect(index.blockCount).toBe(20)
    expect(changed.runs).toEqual([{ first: 10, count: 10 }])
    expect(
      Buffer.from(index.digests.subarray(0, 10 * DIGEST_LENGTH)).equals(
        previous.digests.subarray(0, 10 * DIGEST_LENGTH),
      ),
    ).toBe(true)
    expect(index.digests.subarray(10 * DIGEST_LENGTH).every((b) => b === 0)).toBe(true)
    expect(index.flags.subarray(10).every((b) => b === 0)).toBe(true)
  })

  it('grown from an exact multiple: only the new blocks', () => {
    const previous = randomIndex(seeded(2), 10 * BLOCK, BLOCK)
    expect(resizeIndex(previous, 15 * BLOCK + 1).changed.runs).toEqual([{ first: 10, count: 6 }])
  })

  it('shrunk: truncated; the new last block changed only when its length changed', () => {
    const previous = randomIndex(seeded(3), 10 * BLOCK, BLOCK)
    const short = resizeIndex(previous, 5 * BLOCK + 7)
    expect(short.index.blockCount).toBe(6)
    expect(short.changed.runs).toEqual([{ first: 5, count: 1 }])
    const exact = resizeIndex(previous, 5 * BLOCK)
    expect(exact.index.blockCount).toBe(5)
    expect(exact.changed.changedCount).toBe(0)
    expect(Buffer.from(exact.index.digests).equals(previous.digests.subarray(0, 5 * DIGEST_LENGTH))).toBe(
      true,
    )
    const shorterLast = resizeIndex(randomIndex(seeded(4), 10 * BLOCK + 100, BLOCK), 10 * BLOCK + 50)
    expect(shorterLast.changed.runs).toEqual([{ first: 10, count: 1 }])
  })

  it('same size: an unchanged copy that does not share memory with the previous index', () => {
    const previous = randomIndex(seeded(5), 7 * BLOCK + 3, BLOCK)
    const { index, changed } = resizeIndex(previous, previous.volumeSize)
    expect(changed.changedCount).toBe(0)
    expect(Buffer.from(index.digests).equals(previous.digests)).toBe(true)
    index.digests[0] ^= 1
    expect(index.digests[0]).not.toBe(previous.digests[0])
  })

  it('to and from an empty volume', () => {
    const previous = randomIndex(seeded(6), 3 * BLOCK, BLOCK)
    expect(resizeIndex(previous, 0).index.blockCount).toBe(0)
    expect(resizeIndex(new BlockIndex(0, BLOCK), 2 * BLOCK + 1).changed.runs).toEqual([
      { first: 0, count: 3 },
    ])
  })

  it('keeps only index flag bits in the copy', () => {
    const previous = new BlockIndex(2 * BLOCK, BLOCK)
    previous.flags[0] = BlockFlag.ZERO | BlockFlag.CHANGED
    previous.flags[1] = BlockFlag.RAW
    expect([...resizeIndex(previous, 2 * BLOCK).index.flags]).toEqual([BlockFlag.ZERO, 0])
  })

  it('agrees with diffIndexes: filling the changed blocks afresh yields exactly `changed`', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = seeded(seed)
      const previousSize = randomInt(random, 100) * BLOCK + (random() < 0.5 ? randomInt(random, BLOCK) : 0)
      const previous = randomIndex(random, previousSize, BLOCK)
      const newSize =
        random() < 0.5 ? randomInt(random, previousSize + 1) : previousSize + randomInt(random, 30 * BLOCK)
      const { index, changed } = resizeIndex(previous, newSize)
      for (const i of changed.blocks()) index.setBlock(i, randomBytesFrom(random, DIGEST_LENGTH), 0)
      expect(diffIndexes(previous, index).runs, `seed ${seed}`).toEqual(changed.runs)
    }
  })

  it('refuses a size that is not a non-negative safe integer', () => {
    const previous = new BlockIndex(BLOCK, BLOCK)
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => resizeIndex(previous, bad)).toThrow(
        expect.objectContaining({ code: 'BLOCKIO_INVALID_OPTION' }),
      )
    }
  })
})
