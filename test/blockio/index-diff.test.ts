import { describe, expect, it } from 'vitest'
import { BlockIndex, DIGEST_LENGTH } from '../../blockio/block-index.js'
import { blockLength } from '../../blockio/block-source.js'
import type { ChangedBlockMap } from '../../blockio/changed-block-map.js'
import { diffIndexes } from '../../blockio/index-diff.js'
import { randomBytesFrom, randomIndex, randomInt, seeded } from './helpers.js'

const BLOCK = 4096

/** The definition of "changed", one block at a time (docs/FORMATS.md "Volume resize"). */
function naiveChanged(previous: BlockIndex, current: BlockIndex): number[] {
  const changed: number[] = []
  for (let i = 0; i < current.blockCount; i++) {
    const same =
      i < previous.blockCount &&
      blockLength(previous.volumeSize, BLOCK, i) === blockLength(current.volumeSize, BLOCK, i) &&
      previous.flags[i] === current.flags[i] &&
      Buffer.from(previous.digest(i)).equals(current.digest(i))
    if (!same) changed.push(i)
  }
  return changed
}

function expectWellFormed(map: ChangedBlockMap, blockCount: number): void {
  expect(map.blockCount).toBe(blockCount)
  let total = 0
  map.runs.forEach((run, k) => {
    expect(run.count).toBeGreaterThan(0)
    const next = map.runs[k + 1]
    // Sorted, and coalesced: a gap of at least one block between runs.
    if (next !== undefined) expect(next.first).toBeGreaterThan(run.first + run.count)
    total += run.count
  })
  expect(map.changedCount).toBe(total)
}

/** `previous` carried to `volumeSize`, then edited at random: single blocks, ranges, flags. */
function editedCopy(random: () => number, previous: BlockIndex, volumeSize: number): BlockIndex {
  const current = randomIndex(random, volumeSize, BLOCK)
  const shared = Math.min(previous.blockCount, current.blockCount)
  current.digests.set(previous.digests.subarray(0, shared * DIGEST_LENGTH))
  current.flags.set(previous.flags.subarray(0, shared))
  const edits = randomInt(random, 6)
  for (let e = 0; e < edits && current.blockCount > 0; e++) {
    const i = randomInt(random, current.blockCount)
    const kind = randomInt(random, 4)
    if (kind === 0) current.digests[i * DIGEST_LENGTH + randomInt(random, DIGEST_LENGTH)] ^= 0x40
    if (kind === 1) current.flags[i] ^= 1
    if (kind === 2) {
      const count = 1 + randomInt(random, Math.min(20, current.blockCount - i))
      current.digests.set(randomBytesFrom(random, count * DIGEST_LENGTH), i * DIGEST_LENGTH)
    }
    // kind 3: an edit that writes back the same digest, which must not count as a change.
    if (kind === 3) current.digests.set(current.digest(i).slice(), i * DIGEST_LENGTH)
  }
  return current
}

describe('diffIndexes', () => {
  it('matches a naive per-block comparison over many seeded random cases, resizes included', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = seeded(seed)
      const previousSize = randomInt(random, 200) * BLOCK + (random() < 0.5 ? randomInt(random, BLOCK) : 0)
      const previous = randomIndex(random, previousSize, BLOCK)
      const resize = randomInt(random, 3)
      const currentSize =
        resize === 0
          ? previousSize
          : resize === 1
            ? previousSize + randomInt(random, 20 * BLOCK)
            : randomInt(random, previousSize + 1)
      const current = editedCopy(random, previous, currentSize)
      const map = diffIndexes(previous, current)
      expect([...map.blocks()], `seed ${seed}`).toEqual(naiveChanged(previous, current))
      expectWellFormed(map, current.blockCount)
    }
  })

  it('compares digests held at unaligned offsets as exactly as aligned ones', () => {
    const random = seeded(77)
    const aligned = randomIndex(random, 50 * BLOCK, BLOCK)
    const backing = new Uint8Array(aligned.digests.byteLength + 1)
    const unalignedDigests = backing.subarray(1)
    unalignedDigests.set(aligned.digests)
    unalignedDigests[7 * DIGEST_LENGTH + 31] ^= 1
    unalignedDigests[30 * DIGEST_LENGTH] ^= 1
    const current = new BlockIndex(aligned.volumeSize, BLOCK, unalignedDigests, aligned.flags.slice())
    expect([...diffIndexes(aligned, current).blocks()]).toEqual([7, 30])
    expect([...diffIndexes(current, aligned).blocks()]).toEqual([7, 30])
  })

  it('finds nothing between an index and itself, and everything against an empty previous volume', () => {
    const index = randomIndex(seeded(3), 9 * BLOCK + 1, BLOCK)
    expect(diffIndexes(index, index).changedCount).toBe(0)
    const empty = new BlockIndex(0, BLOCK)
    expect(diffIndexes(empty, index).runs).toEqual([{ first: 0, count: 10 }])
    expect(diffIndexes(index, empty).changedCount).toBe(0)
  })

  it('treats a grown volume: new blocks and the previously short last block', () => {
    const previous = randomIndex(seeded(4), 10 * BLOCK + 100, BLOCK)
    const grown = editedCopyExact(previous, 20 * BLOCK)
    expect(diffIndexes(previous, grown).runs).toEqual([{ first: 10, count: 10 }])
  })

  it('treats a shrunk volume: truncated, the new last block changed only if its length changed', () => {
    const previous = randomIndex(seeded(5), 10 * BLOCK, BLOCK)
    expect(diffIndexes(previous, editedCopyExact(previous, 5 * BLOCK + 7)).runs).toEqual([
      { first: 5, count: 1 },
    ])
    expect(diffIndexes(previous, editedCopyExact(previous, 5 * BLOCK)).changedCount).toBe(0)
  })

  it('refuses indexes of different block sizes with INDEX_MISMATCH', () => {
    const a = new BlockIndex(8 * BLOCK, BLOCK)
    const b = new BlockIndex(8 * BLOCK, 2 * BLOCK)
    expect(() => diffIndexes(a, b)).toThrow(expect.objectContaining({ code: 'BLOCKIO_INDEX_MISMATCH' }))
  })
})

/** `previous` at `volumeSize` with every shared digest and flag copied unchanged. */
function editedCopyExact(previous: BlockIndex, volumeSize: number): BlockIndex {
  const current = new BlockIndex(volumeSize, BLOCK)
  const shared = Math.min(previous.blockCount, current.blockCount)
  current.digests.set(previous.digests.subarray(0, shared * DIGEST_LENGTH))
  current.flags.set(previous.flags.subarray(0, shared))
  return current
}
