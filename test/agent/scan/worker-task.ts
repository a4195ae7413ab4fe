/**
 * Runs one batch through the real scan worker (compiled, in a piscina pool) and decodes the answer,
 * so worker tests state blocks and previous entries, not buffer offsets.
 */
import { BLAKE3_DIGEST_LENGTH } from '../../../agent/scan/blake3.js'
import { type BlockRecord, ScanBatch } from '../../../agent/scan/scan-batch.js'
import { inputLayout, PREVIOUS_NONE, type ScanTask } from '../../../agent/scan/scan-messages.js'
import {
  createPiscinaPool,
  defaultScanPoolOptions,
  type ScanWorkerPool,
} from '../../../agent/scan/scan-worker-pool.js'

export interface PreviousEntry {
  digest: Uint8Array
  flags: number
}

export function workerPool(hashImplementation: 'auto' | 'native' | 'wasm' = 'auto'): ScanWorkerPool {
  return createPiscinaPool(
    defaultScanPoolOptions(1, { hashImplementation }, (error) => {
      throw error
    }),
  )
}

/** `blocks` must all be `blockSize` long except the last; `previous[k]` null = no previous entry. */
export async function runBatch(
  pool: ScanWorkerPool,
  blocks: Uint8Array[],
  options: {
    blockSize: number
    compress: boolean
    previous?: Array<PreviousEntry | null>
    capacity?: number
  },
): Promise<{ records: BlockRecord[]; input: ArrayBuffer; sent: ArrayBuffer }> {
  const { blockSize, compress, previous } = options
  const capacity = options.capacity ?? blocks.length
  const layout = inputLayout(capacity, blockSize)
  const input = new ArrayBuffer(layout.byteLength)
  const bytes = new Uint8Array(input)
  let dataLength = 0
  blocks.forEach((block, k) => {
    bytes.set(block, layout.dataOffset + k * blockSize)
    dataLength += block.length
  })
  previous?.forEach((entry, k) => {
    if (entry === null) bytes[layout.previousFlagsOffset + k] = PREVIOUS_NONE
    else {
      bytes.set(entry.digest, layout.previousDigestsOffset + k * BLAKE3_DIGEST_LENGTH)
      bytes[layout.previousFlagsOffset + k] = entry.flags
    }
  })
  const task: ScanTask = {
    input,
    blockSize,
    blocksPerBatch: capacity,
    blockCount: blocks.length,
    dataLength,
    hasPrevious: previous !== undefined,
    compress,
  }
  const result = await pool.run(task, { transferList: [input] })
  const batch = new ScanBatch(
    { runs: [{ first: 0, count: blocks.length }], blockCount: blocks.length },
    result.output,
  )
  return { records: [...batch.records()], input: result.input, sent: input }
}
