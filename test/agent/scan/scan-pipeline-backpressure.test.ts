import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { scanVolume } from '../../../agent/scan/scan-pipeline.js'
import { MemoryBlockSource } from '../../../blockio/memory-block-source.js'
import { makeImage, trackedPools, WatchedSource } from './helpers.js'

const BS = 4096
const PER_BATCH = 256 // 1 MiB batches of 4 KiB blocks

/** Resolves once `check()` holds, polling the event loop; fails after `turns` polls. */
async function until(check: () => boolean, turns = 500): Promise<void> {
  for (let i = 0; i < turns && !check(); i++) await sleep(10)
  expect(check()).toBe(true)
}

describe('scan pipeline back-pressure', () => {
  it('never reads more than maxBatchesInFlight batches ahead of the consumer', async () => {
    const image = makeImage(21, BS, 20 * PER_BATCH)
    let requested = 0
    let violations = 0
    const maxBatchesInFlight = 3
    const source = new WatchedSource(new MemoryBlockSource(image, BS), (first) => {
      // The consumer is in the batch of the record it asked for; only the next ones may be read.
      const consumerBatch = Math.floor((requested - 1) / PER_BATCH)
      if (Math.floor(first / PER_BATCH) >= consumerBatch + maxBatchesInFlight) violations++
    })
    const scan = scanVolume(source, { batchBytes: 1024 * 1024, workers: 2, maxBatchesInFlight })
    const iterator = scan[Symbol.asyncIterator]()

    requested++
    expect((await iterator.next()).value).toMatchObject({ index: 0 })
    // The consumer stops pulling: the scan reads ahead up to the bound, then waits.
    await until(() => source.reads.length === maxBatchesInFlight)
    await sleep(200)
    expect(source.reads.length).toBe(maxBatchesInFlight)

    // Slow consumer: every few records, let the event loop and the workers run.
    for (let i = 1; ; i++) {
      requested++
      const next = await iterator.next()
      if (next.done === true) break
      expect(next.value.index).toBe(i)
      if (i % 97 === 0) await sleep(1)
    }
    expect(requested - 1).toBe(20 * PER_BATCH)
    expect(source.reads.length).toBe(20)
    expect(violations).toBe(0)
  })

  it('with one slot, the batch being consumed holds it: nothing is read ahead', async () => {
    const image = makeImage(22, BS, 8 * PER_BATCH)
    const source = new WatchedSource(new MemoryBlockSource(image, BS))
    const pools = trackedPools()
    const scan = scanVolume(source, { batchBytes: 1024 * 1024, maxBatchesInFlight: 1 }, pools)
    const batches = scan.batches()[Symbol.asyncIterator]()
    await batches.next()
    await sleep(200)
    // With one slot the batch being consumed holds it: nothing else is read.
    expect(source.reads.length).toBe(1)
    await batches.return(undefined)
    expect(pools.pools[0]!.destroyed).toBe(true)
  })
})
