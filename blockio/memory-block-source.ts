/**
 * A volume held in memory: for tests and benchmarks that must not touch the disk.
 */
import { type BlockSource, blockCountOf } from './block-source.js'
import { checkBlockSize, checkRun } from './block-source-checks.js'

export class MemoryBlockSource implements BlockSource {
  readonly name: string
  readonly size: number
  readonly blockSize: number
  readonly blockCount: number
  private readonly bytes: Uint8Array

  constructor(bytes: Uint8Array, blockSize: number, name = 'memory') {
    checkBlockSize(blockSize)
    this.bytes = bytes
    this.name = name
    this.size = bytes.byteLength
    this.blockSize = blockSize
    this.blockCount = blockCountOf(this.size, blockSize)
  }

  async read(firstBlock: number, count: number, target: Uint8Array): Promise<number> {
    const length = checkRun(this, firstBlock, count, target)
    const start = firstBlock * this.blockSize
    target.set(this.bytes.subarray(start, start + length), 0)
    return length
  }

  async close(): Promise<void> {}
}
