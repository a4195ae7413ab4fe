/**
 * The block index of a volume, in memory: for every block its BLAKE3 digest (32 bytes) and its
 * flags byte (blockio/block-flags.ts; only INDEX_FLAG_MASK bits are kept). An index describes one
 * scan of one volume; the next scan is diffed against it to find changed blocks.
 *
 * Digests and flags sit in two flat arrays (no object per block): 33 bytes per block, so a 20 GiB
 * volume of 64 KiB blocks costs ~10.8 MB. The file form is in docs/FORMATS.md "Block index" and
 * is read and written by blockio/block-index-file.ts.
 */
import { INDEX_FLAG_MASK } from './block-flags.js'
import { blockCountOf } from './block-source.js'
import { checkBlockSize } from './block-source-checks.js'

export const DIGEST_LENGTH = 32

export class BlockIndex {
  readonly volumeSize: number
  readonly blockSize: number
  readonly blockCount: number
  /** blockCount × 32 bytes: digest of block i at [i * 32, i * 32 + 32). */
  readonly digests: Uint8Array
  /** blockCount bytes: flags of block i. */
  readonly flags: Uint8Array

  constructor(volumeSize: number, blockSize: number, digests?: Uint8Array, flags?: Uint8Array) {
    checkBlockSize(blockSize)
    if (!Number.isSafeInteger(volumeSize) || volumeSize < 0) {
      throw new RangeError(`volume size ${volumeSize} is not a non-negative safe integer`)
    }
    this.volumeSize = volumeSize
    this.blockSize = blockSize
    this.blockCount = blockCountOf(volumeSize, blockSize)
    this.digests = digests ?? new Uint8Array(this.blockCount * DIGEST_LENGTH)
    this.flags = flags ?? new Uint8Array(this.blockCount)
    if (
      this.digests.byteLength !== this.blockCount * DIGEST_LENGTH ||
      this.flags.byteLength !== this.blockCount
    ) {
      throw new RangeError('digest or flag array length does not match the block count')
    }
  }

  /** The digest of block i, as a view (not a copy). */
  digest(i: number): Uint8Array {
    return this.digests.subarray(i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH)
  }

  /** Flag bits outside INDEX_FLAG_MASK (RAW, CHANGED) describe one scan's payload and are dropped. */
  setBlock(i: number, digest: Uint8Array, flags: number): void {
    this.digests.set(digest, i * DIGEST_LENGTH)
    this.flags[i] = flags & INDEX_FLAG_MASK
  }

  /** True when block i of this index and block j of `other` have the same digest and flags. */
  sameBlock(i: number, other: BlockIndex, j = i): boolean {
    if (this.flags[i] !== other.flags[j]) return false
    const a = i * DIGEST_LENGTH
    const b = j * DIGEST_LENGTH
    for (let k = 0; k < DIGEST_LENGTH; k++) {
      if (this.digests[a + k] !== other.digests[b + k]) return false
    }
    return true
  }
}
