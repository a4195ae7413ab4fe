import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { scanVolume } from '../../../agent/scan/scan-pipeline.js'
import { MemoryBlockSource } from '../../../blockio/memory-block-source.js'
import { makeImage, trackedPools, WatchedSource } from './helpers.js'

const BS = 4096
const image = makeImage(31, BS, 12 * 256)

describe('stopping a scan', () => {
  it('an early break destroys the pool and stops reading', async () => {
    const pools = trackedPools()
    const source = new WatchedSource(new MemoryBlockSource(image, BS))
    const scan = scanVolume(source, { batchBytes: 1024 * 1024, workers: 2 }, pools)
    let seen = 0
    for await (const record of scan) {
      seen++
      if (record.index === 300) break
    }
    expect(seen).toBe(301)
    expect(pools.pools).toHaveLength(1)
    expect(pools.pools[0]!.destroyed).toBe(true)
    expect(pools.pools[0]!.piscina.threads).toHaveLength(0)
    const reads = source.reads.length
    await sleep(100)
    expect(source.reads.length).toBe(reads)
    expect(reads).toBeLessThan(12)
    expect(() => scan.index).toThrow(expect.objectContaining({ code: 'SCAN_INVALID_STATE' }))
    await scan.close() // idempotent
  })

  it('aborting the signal rejects the iteration with SCAN_ABORTED and destroys the pool', async () => {
    const pools = trackedPools()
    const controller = new AbortController()
    // A source that never answers its third read: the consumer is waiting when the abort comes.
    const source = new WatchedSource(new MemoryBlockSource(image, BS), (first) =>
      first >= 2 * 256 ? new Promise<void>(() => {}) : undefined,
    )
    const scan = scanVolume(source, { batchBytes: 1024 * 1024, signal: controller.signal }, pools)
    const seen: number[] = []
    const run = (async () => {
      for await (const record of scan) {
        seen.push(record.index)
        if (record.index === 2 * 256 - 1)
          setTimeout(() => controller.abort(new Error('operator cancelled')), 20)
      }
    })()
    await expect(run).rejects.toMatchObject({ code: 'SCAN_ABORTED', retryable: true })
    await expect(run).rejects.toThrow(/operator cancelled/)
    expect(seen).toHaveLength(2 * 256)
    expect(pools.pools[0]!.destroyed).toBe(true)
    expect(pools.pools[0]!.piscina.threads).toHaveLength(0)
  })

  it('an already-aborted signal fails at the first pull, before any read', async () => {
    const pools = trackedPools()
    const source = new WatchedSource(new MemoryBlockSource(image, BS))
    const scan = scanVolume(source, { signal: AbortSignal.abort() }, pools)
    await expect(scan[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: 'SCAN_ABORTED' })
    expect(source.reads).toHaveLength(0)
    expect(pools.pools.every((p) => p.destroyed)).toBe(true)
  })

  it('close() during iteration rejects the waiting consumer; close() is idempotent', async () => {
    const pools = trackedPools()
    const source = new WatchedSource(new MemoryBlockSource(image, BS), (first) =>
      first >= 256 ? new Promise<void>(() => {}) : undefined,
    )
    const scan = scanVolume(source, { batchBytes: 1024 * 1024 }, pools)
    const iterator = scan.batches()[Symbol.asyncIterator]()
    await iterator.next()
    const pending = iterator.next()
    await Promise.all([scan.close(), scan.close()])
    await expect(pending).rejects.toMatchObject({ code: 'SCAN_ABORTED' })
    expect(pools.pools[0]!.destroyed).toBe(true)
  })
})
