/**
 * The answer for one batch as the consumer of a scan sees it: the batch's block numbers (its runs)
 * over the output buffer a worker filled (scan-messages.ts "OutputLayout").
 *
 * A *block record* is one block's entry: its number in the volume, its digest, its flags
 * (blockio/block-flags.ts: ZERO, RAW, CHANGED) and, for a changed non-zero block of a compressing
 * scan, its payload — LZ4 in the lz4-napi `compressSync` form (4-byte little-endian length, then an
 * LZ4 block) or, flagged RAW, the block itself. Digests and payloads are views into the batch's own
 * output buffer, never reused by the scan: a consumer may keep them as long as it likes.
 */
import type { BlockRun } from '../../blockio/changed-block-map.js'
import type { Batch } from './batch-plan.js'
import { BLAKE3_DIGEST_LENGTH } from './blake3.js'
import { outputLayout } from './scan-messages.js'

export interface BlockRecord {
  /** Block number in the volume. */
  index: number
  /** BLAKE3-256 of the block's bytes (32 bytes). */
  digest: Uint8Array
  flags: number
  /** Present only for changed non-zero blocks when the scan compresses. */
  payload?: Uint8Array
}

export class ScanBatch {
  readonly runs: readonly BlockRun[]
  readonly blockCount: number
  /** blockCount × 32 bytes, in the order of the runs. */
  readonly digests: Uint8Array
  /** blockCount bytes, in the order of the runs. */
  readonly flags: Uint8Array
  /** Total payload bytes of the batch. */
  readonly payloadBytes: number
  private readonly offsets: Uint32Array
  private readonly payloadArea: Uint8Array

  constructor(batch: Batch, output: ArrayBuffer) {
    const layout = outputLayout(batch.blockCount)
    this.runs = batch.runs
    this.blockCount = batch.blockCount
    this.digests = new Uint8Array(output, layout.digestsOffset, batch.blockCount * BLAKE3_DIGEST_LENGTH)
    this.flags = new Uint8Array(output, layout.flagsOffset, batch.blockCount)
    this.offsets = new Uint32Array(output, layout.offsetsOffset, batch.blockCount + 1)
    this.payloadArea = new Uint8Array(output, layout.payloadsOffset)
    this.payloadBytes = this.offsets[batch.blockCount]!
  }

  /** The payload of the k-th block of the batch (not the block number), if it has one. */
  payload(k: number): Uint8Array | undefined {
    const start = this.offsets[k]!
    const end = this.offsets[k + 1]!
    return end > start ? this.payloadArea.subarray(start, end) : undefined
  }

  *records(): Generator<BlockRecord> {
    let k = 0
    for (const run of this.runs) {
      for (let index = run.first; index < run.first + run.count; index++, k++) {
        const record: BlockRecord = {
          index,
          digest: this.digests.subarray(k * BLAKE3_DIGEST_LENGTH, (k + 1) * BLAKE3_DIGEST_LENGTH),
          flags: this.flags[k]!,
        }
        const payload = this.payload(k)
        if (payload !== undefined) record.payload = payload
        yield record
      }
    }
  }
}
