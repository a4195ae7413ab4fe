/**
 * What a scan has seen so far: the new block index it fills batch by batch, and the counts and
 * timings reported as `ScanStats` (the CLI prints them; the replication job logs them).
 */
import { performance } from 'node:perf_hooks'
import { BlockFlag, INDEX_FLAG_MASK } from '../../blockio/block-flags.js'
import { type BlockIndex, DIGEST_LENGTH } from '../../blockio/block-index.js'
import type { Blake3ImplementationName } from './blake3.js'
import type { ScanBatch } from './scan-batch.js'

export interface ScanStats {
  blocksTotal: number
  /** The counts below are over the blocks read (all of them, or the change-tracking read set). */
  blocksRead: number
  changedBlocks: number
  zeroBlocks: number
  rawBlocks: number
  bytesRead: number
  /** Payload bytes produced: LZ4 forms plus RAW blocks (0 for a hash-only scan). */
  payloadBytes: number
  durationMs: number
  /** The BLAKE3 implementation the workers used. */
  blake3: Blake3ImplementationName | undefined
}

export class ScanTally {
  /** Bytes read from the source so far (reads run ahead of the batches added). */
  bytesRead = 0
  implementation: Blake3ImplementationName | undefined
  private readonly index: BlockIndex
  private startedAt: number | undefined
  private endedAt: number | undefined
  private blocksRead = 0
  private changedBlocks = 0
  private zeroBlocks = 0
  private rawBlocks = 0
  private payloadBytes = 0

  constructor(index: BlockIndex) {
    this.index = index
  }

  start(): void {
    this.startedAt = performance.now()
  }

  end(): void {
    this.endedAt ??= performance.now()
  }

  /** Writes the batch's digests and index flags into the index and counts its blocks. */
  add(batch: ScanBatch, implementation: Blake3ImplementationName): void {
    this.implementation ??= implementation
    const { digests, flags } = batch
    const index = this.index
    let k = 0
    for (const run of batch.runs) {
      const from = k * DIGEST_LENGTH
      index.digests.set(digests.subarray(from, from + run.count * DIGEST_LENGTH), run.first * DIGEST_LENGTH)
      for (let i = run.first; i < run.first + run.count; i++, k++) {
        const f = flags[k]!
        index.flags[i] = f & INDEX_FLAG_MASK
        if ((f & BlockFlag.CHANGED) !== 0) this.changedBlocks++
        if ((f & BlockFlag.ZERO) !== 0) this.zeroBlocks++
        if ((f & BlockFlag.RAW) !== 0) this.rawBlocks++
      }
    }
    this.blocksRead += batch.blockCount
    this.payloadBytes += batch.payloadBytes
  }

  stats(): ScanStats {
    const end = this.endedAt ?? performance.now()
    return {
      blocksTotal: this.index.blockCount,
      blocksRead: this.blocksRead,
      changedBlocks: this.changedBlocks,
      zeroBlocks: this.zeroBlocks,
      rawBlocks: this.rawBlocks,
      bytesRead: this.bytesRead,
      payloadBytes: this.payloadBytes,
      durationMs: this.startedAt === undefined ? 0 : end - this.startedAt,
      blake3: this.implementation,
    }
  }
}
