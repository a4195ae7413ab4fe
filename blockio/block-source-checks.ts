/**
 * Argument checks shared by every BlockSource implementation, so each one refuses the same bad
 * calls with the same errors.
 */
import { type BlockSource, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from './block-source.js'
import { BlockioError, BlockioErrorCode } from './errors.js'

export function checkBlockSize(blockSize: number): void {
  const isPowerOfTwo = Number.isInteger(blockSize) && blockSize > 0 && (blockSize & (blockSize - 1)) === 0
  if (!isPowerOfTwo || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
    throw new BlockioError(BlockioErrorCode.INVALID_OPTION, `block size ${blockSize} is not supported`, {
      remediation: `Use a power of two between ${MIN_BLOCK_SIZE} and ${MAX_BLOCK_SIZE} bytes (default 64K).`,
    })
  }
}

/**
 * Checks a read of `count` blocks from `firstBlock` into `target` and returns the number of bytes
 * the run covers (shorter than count * blockSize only when it ends with the volume's last block).
 */
export function checkRun(source: BlockSource, firstBlock: number, count: number, target: Uint8Array): number {
  if (!Number.isInteger(firstBlock) || !Number.isInteger(count) || firstBlock < 0 || count < 1) {
    throw new BlockioError(BlockioErrorCode.INVALID_OPTION, `invalid block run ${firstBlock}+${count}`, {
      remediation: 'Read at least one block, starting at a non-negative block number.',
    })
  }
  if (firstBlock + count > source.blockCount) {
    throw new BlockioError(
      BlockioErrorCode.INVALID_OPTION,
      `block run ${firstBlock}+${count} ends past block ${source.blockCount} of ${source.name}`,
      { remediation: 'Read only blocks inside the volume.' },
    )
  }
  const start = firstBlock * source.blockSize
  const length = Math.min(count * source.blockSize, source.size - start)
  if (target.byteLength < length) {
    throw new BlockioError(
      BlockioErrorCode.INVALID_OPTION,
      `target buffer of ${target.byteLength} bytes cannot hold ${length} bytes`,
      { remediation: 'Pass a buffer of at least count * blockSize bytes.' },
    )
  }
  return length
}
