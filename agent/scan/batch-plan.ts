/**
 * Which blocks a scan reads, and how they are cut into batches.
 *
 * The *read set* is every block of the volume, or, in change-tracking mode, the changed-block map's
 * runs plus the blocks that a resize since the previous scan made changed (docs/FORMATS.md "Volume
 * resize"). A *batch* is a list of runs totalling at most `blocksPerBatch` blocks, read one after the
 * other into one input buffer: a long run is split across batches, short runs share one, so a
 * change-tracking scan of scattered blocks still sends the workers tasks of useful size.
 */
import { type BlockRun, ChangedBlockMap } from '../../blockio/changed-block-map.js'

export interface Batch {
  runs: BlockRun[]
  blockCount: number
}

/**
 * The read set as one coalesced map: every block, or the union of the change-tracking map and the
 * blocks a resize made changed (`resizeIndex` in blockio/index-diff.ts).
 */
export function readSet(
  blockCount: number,
  changed: ChangedBlockMap | undefined,
  resized: ChangedBlockMap | undefined,
): ChangedBlockMap {
  if (changed === undefined) return ChangedBlockMap.all(blockCount)
  if (resized === undefined || resized.runs.length === 0) return changed
  // ChangedBlockMap wants sorted runs and coalesces overlaps.
  const runs = [...changed.runs, ...resized.runs].sort((a, b) => a.first - b.first)
  return new ChangedBlockMap(blockCount, runs)
}

/** Yields batches in block order, never more than `blocksPerBatch` blocks each. */
export function* planBatches(runs: Iterable<BlockRun>, blocksPerBatch: number): Generator<Batch> {
  let batch: Batch = { runs: [], blockCount: 0 }
  for (const run of runs) {
    let first = run.first
    let left = run.count
    while (left > 0) {
      const take = Math.min(left, blocksPerBatch - batch.blockCount)
      batch.runs.push({ first, count: take })
      batch.blockCount += take
      first += take
      left -= take
      if (batch.blockCount === blocksPerBatch) {
        yield batch
        batch = { runs: [], blockCount: 0 }
      }
    }
  }
  if (batch.blockCount > 0) yield batch
}

/** Bytes the read set covers: whole blocks, less the short last block of the volume when included. */
export function readSetBytes(set: ChangedBlockMap, size: number, blockSize: number): number {
  let bytes = 0
  for (const run of set.runs) {
    const start = run.first * blockSize
    bytes += Math.min(run.count * blockSize, size - start)
  }
  return bytes
}
