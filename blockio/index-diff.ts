/**
 * Change detection between two scans of one volume, docs/FORMATS.md "Volume resize".
 *
 * The *previous* index is the last committed scan; the *current* index is this scan's. A block is
 * *changed* when it has no counterpart in the previous index, when its length differs (the volume's
 * short last block moved), or when its digest or stored flags differ. A resize never marks more
 * than the blocks it touches: growing a volume does not resend what was already there.
 */
import { INDEX_FLAG_MASK } from './block-flags.js'
import { BlockIndex, DIGEST_LENGTH } from './block-index.js'
import { blockLength } from './block-source.js'
import { type BlockRun, ChangedBlockMap } from './changed-block-map.js'
import { BlockioError, BlockioErrorCode } from './errors.js'

/** The blocks of `current` that differ from `previous`: exact, in sorted coalesced runs. */
export function diffIndexes(previous: BlockIndex, current: BlockIndex): ChangedBlockMap {
  checkSameBlockSize(previous, current)
  const runs = new RunBuilder()
  const shared = Math.min(previous.blockCount, current.blockCount)
  const [a, b] = comparable(previous.digests, current.digests)
  for (let i = 0; i < shared; i++) {
    const same =
      blockLength(previous.volumeSize, previous.blockSize, i) ===
        blockLength(current.volumeSize, current.blockSize, i) &&
      (previous.flags[i] & INDEX_FLAG_MASK) === (current.flags[i] & INDEX_FLAG_MASK) &&
      sameDigest(a, b, i)
    if (!same) runs.add(i)
  }
  runs.addRange(shared, current.blockCount - shared)
  return new ChangedBlockMap(current.blockCount, runs.done())
}

export interface ResizedIndex {
  /** The previous index at the new volume size: unchanged blocks keep their digests and flags. */
  index: BlockIndex
  /** The blocks the resize made changed; their digests and flags are zero in `index`. */
  changed: ChangedBlockMap
}

/**
 * The previous index carried over to a volume of `newVolumeSize` bytes, for a change-tracking scan
 * that reads only the changed extents: it reads the union of those extents and `changed`, and takes
 * every other block's digest from `index`.
 */
export function resizeIndex(previous: BlockIndex, newVolumeSize: number): ResizedIndex {
  if (!Number.isSafeInteger(newVolumeSize) || newVolumeSize < 0) {
    throw new BlockioError(
      BlockioErrorCode.INVALID_OPTION,
      `new volume size ${newVolumeSize} is not a non-negative safe integer`,
      { remediation: 'Pass the volume size in bytes as reported by the block source.' },
    )
  }
  const { blockSize } = previous
  const index = new BlockIndex(newVolumeSize, blockSize)
  const runs = new RunBuilder()
  const kept = Math.min(previous.blockCount, index.blockCount)
  let carried = kept
  // Only the last kept block can change length: every earlier block is full in both sizes.
  if (kept > 0) {
    const last = kept - 1
    if (blockLength(previous.volumeSize, blockSize, last) !== blockLength(newVolumeSize, blockSize, last)) {
      carried = last
    }
  }
  index.digests.set(previous.digests.subarray(0, carried * DIGEST_LENGTH))
  index.flags.set(previous.flags.subarray(0, carried))
  for (let i = 0; i < carried; i++) index.flags[i] &= INDEX_FLAG_MASK
  runs.addRange(carried, index.blockCount - carried)
  return { index, changed: new ChangedBlockMap(index.blockCount, runs.done()) }
}

function checkSameBlockSize(previous: BlockIndex, current: BlockIndex): void {
  if (previous.blockSize !== current.blockSize) {
    throw new BlockioError(
      BlockioErrorCode.INDEX_MISMATCH,
      `the previous index has ${previous.blockSize}-byte blocks, this scan ${current.blockSize}-byte blocks`,
      {
        remediation:
          'Scan with the block size of the previous index, or delete that index to start a new chain with a full scan.',
      },
    )
  }
}

/** Collects changed block numbers in ascending order into coalesced runs. */
class RunBuilder {
  private readonly runs: BlockRun[] = []
  private open: BlockRun | undefined

  add(i: number): void {
    this.addRange(i, 1)
  }

  addRange(first: number, count: number): void {
    if (count <= 0) return
    if (this.open !== undefined && this.open.first + this.open.count === first) {
      this.open.count += count
      return
    }
    this.open = { first, count }
    this.runs.push(this.open)
  }

  done(): BlockRun[] {
    return this.runs
  }
}

/**
 * Both digest arrays as 32-bit words when both start on a 4-byte boundary (eight compares per
 * digest instead of 32: the diff of a 4 TiB volume touches 67 M digests), else as bytes.
 */
function comparable(a: Uint8Array, b: Uint8Array): [Uint32Array, Uint32Array] | [Uint8Array, Uint8Array] {
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    return [
      new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4),
      new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4),
    ]
  }
  return [a, b]
}

function sameDigest(a: Uint32Array | Uint8Array, b: Uint32Array | Uint8Array, i: number): boolean {
  const width = DIGEST_LENGTH / a.BYTES_PER_ELEMENT
  const at = i * width
  for (let k = at; k < at + width; k++) {
    if (a[k] !== b[k]) return false
  }
  return true
}
