/**
 * The piscina worker of the chunk store: it only computes. For a range of a chunk batch
 * (chunk-batch.ts) it checks each chunk (decompress, length, BLAKE3 against its claimed digest) and
 * seals those to seal into the batch's output, in shared memory; it answers with the first chunk
 * that failed, or null. It never touches a file: the main thread appends and fsyncs.
 */
import { type SealTask, type SealTaskResult, sealBatchRange } from './chunk-batch.js'
import { SealScratch } from './chunk-codec.js'

const scratch = new SealScratch()

export default function sealChunks(task: SealTask): SealTaskResult {
  return sealBatchRange(task.buffer, task.layout, task.first, task.end, task, scratch) ?? null
}
