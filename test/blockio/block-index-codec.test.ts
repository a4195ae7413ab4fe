import { blake3 as referenceBlake3 } from '@noble/hashes/blake3.js'
import { describe, expect, it } from 'vitest'
import { BlockFlag } from '../../blockio/block-flags.js'
import { BlockIndex } from '../../blockio/block-index.js'
import {
  decodeBlockIndex,
  encodeBlockIndex,
  encodedIndexLength,
  MAX_INDEX_BLOCK_COUNT,
} from '../../blockio/block-index-codec.js'
import { randomIndex, randomInt, seeded } from './helpers.js'

function expectSameIndex(actual: BlockIndex, expected: BlockIndex): void {
  expect(actual.volumeSize).toBe(expected.volumeSize)
  expect(actual.blockSize).toBe(expected.blockSize)
  expect(actual.blockCount).toBe(expected.blockCount)
  expect(Buffer.from(actual.digests).equals(expected.digests)).toBe(true)
  expect(Buffer.from(actual.flags).equals(expected.flags)).toBe(true)
}

describe('block index codec (docs/FORMATS.md "Block index" version 1)', () => {
  it('round-trips random indexes of random sizes and block sizes', () => {
    const random = seeded(42)
    for (let k = 0; k < 40; k++) {
      const blockSize = 2 ** (12 + randomInt(random, 5))
      const volumeSize =
        randomInt(random, 300) * blockSize + (random() < 0.5 ? randomInt(random, blockSize) : 0)
      const index = randomIndex(random, volumeSize, blockSize)
      const bytes = encodeBlockIndex(index)
      expect(bytes.byteLength).toBe(encodedIndexLength(index.blockCount))
      expectSameIndex(decodeBlockIndex(bytes, 'case'), index)
    }
  })

  it('round-trips an empty volume and a volume of one short block', () => {
    for (const volumeSize of [0, 1, 4095]) {
      const index = randomIndex(seeded(volumeSize), volumeSize, 4096)
      const decoded = decodeBlockIndex(encodeBlockIndex(index), 'small')
      expectSameIndex(decoded, index)
      expect(decoded.blockCount).toBe(volumeSize === 0 ? 0 : 1)
    }
  })

  it('keeps a volume size above 2^32 exactly', () => {
    const index = new BlockIndex(2 ** 33 + 12345, 16 * 1024 * 1024)
    expectSameIndex(decodeBlockIndex(encodeBlockIndex(index), 'big'), index)
  })

  it('stores only the index flag bits', () => {
    const index = new BlockIndex(3 * 4096, 4096)
    index.flags[0] = BlockFlag.ZERO | BlockFlag.RAW | BlockFlag.CHANGED
    index.flags[1] = BlockFlag.RAW
    index.flags[2] = BlockFlag.ZERO
    const decoded = decodeBlockIndex(encodeBlockIndex(index), 'flags')
    expect([...decoded.flags]).toEqual([BlockFlag.ZERO, 0, BlockFlag.ZERO])
  })

  it('refuses to encode an index above MAX_INDEX_BLOCK_COUNT blocks, naming the remedy', () => {
    // Only the block count is consulted before refusing: no need to allocate 2 GiB of digests.
    const huge = { blockCount: MAX_INDEX_BLOCK_COUNT + 1, blockSize: 4096 } as BlockIndex
    expect(() => encodeBlockIndex(huge)).toThrow(
      expect.objectContaining({
        code: 'BLOCKIO_INVALID_OPTION',
        remediation: expect.stringContaining('block size'),
      }),
    )
  })

  it('writes the documented layout byte for byte (golden v1 file, reference BLAKE3)', () => {
    // Two blocks of a 4096 + 10 byte volume: digests 0x11… and 0x22…, block 1 flagged zero.
    const index = new BlockIndex(4106, 4096)
    index.setBlock(0, new Uint8Array(32).fill(0x11), 0)
    index.setBlock(1, new Uint8Array(32).fill(0x22), BlockFlag.ZERO)
    const body = Buffer.concat([
      Buffer.from('LBIDX\0', 'latin1'),
      Buffer.from([0x01, 0x00]), // format version 1
      Buffer.from([0x01]), // BLAKE3-256
      Buffer.from([0x20]), // digest length 32
      Buffer.from([0x00, 0x00]), // reserved
      Buffer.from([0x00, 0x10, 0x00, 0x00]), // block size 4096
      Buffer.from([0x0a, 0x10, 0, 0, 0, 0, 0, 0]), // volume size 4106
      Buffer.from([0x02, 0, 0, 0, 0, 0, 0, 0]), // block count 2
      Buffer.alloc(32, 0x11),
      Buffer.alloc(32, 0x22),
      Buffer.from([0x00, 0x01]), // flags
    ])
    const golden = Buffer.concat([body, Buffer.from(referenceBlake3(body))])
    expect(golden.byteLength).toBe(64 + 33 * 2)
    expect(Buffer.from(encodeBlockIndex(index)).equals(golden)).toBe(true)
    expectSameIndex(decodeBlockIndex(golden, 'golden'), index)
  })

  it('decodes from a view inside a larger buffer and does not keep that buffer', () => {
    const index = randomIndex(seeded(5), 10 * 4096, 4096)
    const bytes = encodeBlockIndex(index)
    const backing = new Uint8Array(bytes.byteLength + 7)
    backing.set(bytes, 3)
    const decoded = decodeBlockIndex(backing.subarray(3, 3 + bytes.byteLength), 'view')
    expectSameIndex(decoded, index)
    expect(decoded.digests.buffer).not.toBe(backing.buffer)
  })
})
