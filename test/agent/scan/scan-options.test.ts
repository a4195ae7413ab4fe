import { describe, expect, it } from 'vitest'
import {
  checkScanInit,
  DEFAULT_BATCH_BYTES,
  DEFAULT_BATCHES_IN_FLIGHT_PER_WORKER,
  MAX_BATCH_BYTES,
  type ScanInit,
} from '../../../agent/scan/scan-options.js'
import { scanVolume } from '../../../agent/scan/scan-pipeline.js'
import { BlockIndex } from '../../../blockio/block-index.js'
import { ChangedBlockMap } from '../../../blockio/changed-block-map.js'
import { MemoryBlockSource } from '../../../blockio/memory-block-source.js'

const BS = 4096
const source = new MemoryBlockSource(new Uint8Array(10 * BS), BS)

function refused(init: unknown, option: string, code = 'SCAN_INVALID_OPTION') {
  expect(() => scanVolume(source, init as ScanInit), option).toThrow(
    expect.objectContaining({ code, message: expect.stringContaining(option) }),
  )
}

describe('scan options', () => {
  it('defaults: hash only, a worker per core, 4 MiB batches, two batches in flight per worker', () => {
    const settings = checkScanInit(source)
    expect(settings.compress).toBe(false)
    expect(settings.workers).toBeGreaterThanOrEqual(1)
    expect(settings.batchBytes).toBe(DEFAULT_BATCH_BYTES)
    expect(settings.blocksPerBatch).toBe(DEFAULT_BATCH_BYTES / BS)
    expect(settings.maxBatchesInFlight).toBe(DEFAULT_BATCHES_IN_FLIGHT_PER_WORKER * settings.workers)
    expect(settings.hashImplementation).toBe('auto')
    // A block larger than the default batch makes the batch one block.
    const huge = new MemoryBlockSource(new Uint8Array(0), 16 * 1024 * 1024)
    expect(checkScanInit(huge).batchBytes).toBe(16 * 1024 * 1024)
  })

  it('refuses bad values, naming the option', () => {
    refused({ compress: 'yes' }, 'compress')
    for (const workers of [0, -1, 1.5, 65, '2', Number.NaN]) refused({ workers }, 'workers')
    for (const batchBytes of [1024 * 1024 - BS, MAX_BATCH_BYTES + BS, 1.5, 'big'])
      refused({ batchBytes }, 'batchBytes')
    refused({ batchBytes: 1024 * 1024 + 100 }, 'batchBytes')
    for (const maxBatchesInFlight of [0, 1025, 2.5]) refused({ maxBatchesInFlight }, 'maxBatchesInFlight')
    refused({ onProgress: 42 }, 'onProgress')
    refused({ signal: {} }, 'signal')
    refused({ hashImplementation: 'sha256' }, 'hashImplementation')
    refused({ previous: { blockSize: BS } }, 'previous')
    refused({ changed: [{ first: 0, count: 1 }], previous: new BlockIndex(10 * BS, BS) }, 'changed')
    refused(null, 'init')
    expect(() => scanVolume({} as MemoryBlockSource)).toThrow(
      expect.objectContaining({ code: 'SCAN_INVALID_OPTION', message: expect.stringContaining('source') }),
    )
  })

  it('change tracking needs the previous index', () => {
    refused({ changed: ChangedBlockMap.all(10) }, 'changed')
    expect(() => scanVolume(source, { changed: ChangedBlockMap.all(10) })).toThrow(/needs option previous/)
  })

  it('refuses a previous index or changed map that does not fit the volume', () => {
    refused({ previous: new BlockIndex(10 * BS, 2 * BS) }, 'previous', 'SCAN_INDEX_MISMATCH')
    refused(
      { previous: new BlockIndex(10 * BS, BS), changed: ChangedBlockMap.all(11) },
      'changed',
      'SCAN_INDEX_MISMATCH',
    )
  })

  it('each error carries a remediation hint', () => {
    try {
      scanVolume(source, { workers: 0 })
      expect.unreachable()
    } catch (error) {
      expect(error).toMatchObject({
        code: 'SCAN_INVALID_OPTION',
        retryable: false,
        remediation: expect.any(String),
      })
      expect((error as { remediation: string }).remediation).toMatch(/1 to 64/)
    }
  })
})
