/**
 * The piscina worker of the chunk store: it only computes. For a range of a chunk batch
 * (chunk-batch.ts) it checks each chunk (decompress, length, BLAKE3 against its claimed digest) and
 * seals those to seal into the batch's output, in shared memory; it answers with the first chunk
 * that failed, or null. It never touches a file: the main thread appends and fsyncs.
 *
 * The range is worked in steps of about WORKER_GARBAGE_BYTES of plaintext, collecting the
 * decompressed Buffers between steps (worker-garbage.ts): without that a busy worker's garbage
 * grew the connector's resident memory by ~190 MiB in a 512 MiB seed.
 */
import { type SealTask, type SealTaskResult, sealBatchRange, TABLE_STRIDE } from './chunk-batch.js'
import { SealScratch } from './chunk-codec.js'
import { WORKER_GARBAGE_BYTES, WorkerGarbage } from './worker-garbage.js'

const PLAIN_LENGTH = 2
const scratch = new SealScratch()
const garbage = new WorkerGarbage()

export default async function sealChunks(task: SealTask): Promise<SealTaskResult> {
  const table = new Float64Array(task.buffer, 0, task.layout.count * TABLE_STRIDE)
  let first = task.first
  while (first < task.end) {
    let end = first
    let plain = 0
    while (end < task.end && plain < WORKER_GARBAGE_BYTES) plain += table[end++ * TABLE_STRIDE + PLAIN_LENGTH]
    const problem = sealBatchRange(task.buffer, task.layout, first, end, task, scratch)
    if (problem !== undefined) return problem
    await garbage.dropped(plain)
    first = end
  }
  return null
}
