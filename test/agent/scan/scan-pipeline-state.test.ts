import { describe, expect, it } from 'vitest'
import { runScan, scanVolume } from '../../../agent/scan/scan-pipeline.js'
import { MemoryBlockSource } from '../../../blockio/memory-block-source.js'
import { collect, makeImage, trackedPools } from './helpers.js'

const BS = 4096
const image = makeImage(51, BS, 600, 10)

describe('scan lifecycle', () => {
  it('the index is available only after the scan finished; the pool is gone by then', async () => {
    const pools = trackedPools()
    const scan = scanVolume(new MemoryBlockSource(image, BS), { batchBytes: 1024 * 1024 }, pools)
    expect(() => scan.index).toThrow(expect.objectContaining({ code: 'SCAN_INVALID_STATE' }))
    expect(scan.stats).toMatchObject({ blocksRead: 0, durationMs: 0 })
    await collect(scan)
    expect(scan.index.blockCount).toBe(601)
    expect(scan.stats.durationMs).toBeGreaterThan(0)
    expect(pools.pools[0]!.destroyed).toBe(true)
  })

  it('a scan runs once: a second iteration is refused without disturbing the first', async () => {
    const scan = scanVolume(new MemoryBlockSource(image, BS), { batchBytes: 1024 * 1024 })
    const first = scan.batches()[Symbol.asyncIterator]()
    await first.next()
    await expect(scan.batches()[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: 'SCAN_INVALID_STATE',
    })
    let batches = 1
    while ((await first.next()).done !== true) batches++
    expect(batches).toBe(3)
    expect(scan.index.blockCount).toBe(601)
  })

  it('a scan closed before it was iterated cannot be iterated', async () => {
    const pools = trackedPools()
    const scan = scanVolume(new MemoryBlockSource(image, BS), {}, pools)
    await scan.close()
    await expect(collect(scan)).rejects.toMatchObject({ code: 'SCAN_INVALID_STATE' })
    expect(pools.pools).toHaveLength(0)
  })

  it('reports progress after every read, ending at the total', async () => {
    const progress: Array<[number, number]> = []
    await runScan(new MemoryBlockSource(image, BS), {
      batchBytes: 1024 * 1024,
      onProgress: (done, total) => progress.push([done, total]),
    })
    expect(progress).toEqual([
      [1024 * 1024, image.length],
      [2 * 1024 * 1024, image.length],
      [image.length, image.length],
    ])
  })

  it('an exception thrown by onProgress ends the scan and reaches the consumer unchanged', async () => {
    const pools = trackedPools()
    const oops = new Error('progress bar broke')
    const scan = scanVolume(
      new MemoryBlockSource(image, BS),
      {
        batchBytes: 1024 * 1024,
        onProgress: () => {
          throw oops
        },
      },
      pools,
    )
    await expect(collect(scan)).rejects.toBe(oops)
    expect(pools.pools.every((p) => p.destroyed)).toBe(true)
  })
})
