/**
 * Worker reads: a file-backed source (BlockSource `filePath`) is read by the worker threads
 * themselves. The results must equal the naive scan exactly as the main-thread path's do, the
 * in-flight bound must hold although the main thread no longer reads, and read failures in a worker
 * must reach the consumer as the same coded errors a failed `BlockSource.read()` gives.
 */
import { readdirSync, readlinkSync } from 'node:fs'
import { truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import type { ScanInit } from '../../../agent/scan/scan-options.js'
import { runScan, scanVolume } from '../../../agent/scan/scan-pipeline.js'
import {
  createPiscinaPool,
  type ScanPoolOptions,
  type ScanWorkerPool,
} from '../../../agent/scan/scan-worker-pool.js'
import type { BlockSource } from '../../../blockio/block-source.js'
import { ChangedBlockMap } from '../../../blockio/changed-block-map.js'
import { openFileBlockSource } from '../../../blockio/file-block-source.js'
import { MemoryBlockSource } from '../../../blockio/memory-block-source.js'
import {
  checkPayload,
  collect,
  comparable,
  makeImage,
  naiveScan,
  seeded,
  tempDir,
  textBytes,
  trackedPools,
  withRawFlags,
} from './helpers.js'

// 4 KiB blocks and 1 MiB batches: 256 blocks per batch.
const BS = 4096
const BATCH = 1024 * 1024
const PER_BATCH = BATCH / BS

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

/** Writes `image` to a fresh file and opens it as a FileBlockSource whose reads are counted. */
async function fileSource(image: Uint8Array, name = 'disk.img') {
  const temp = await tempDir()
  const path = join(temp.dir, name)
  await writeFile(path, image)
  const inner = await openFileBlockSource(path, { blockSize: BS })
  cleanups.push(async () => {
    await inner.close()
    await temp.remove()
  })
  const counted = { mainThreadReads: 0 }
  // Inherits every field of the real source, `filePath` included; only read() is watched.
  const source: BlockSource = Object.assign(Object.create(inner) as BlockSource, {
    read: (first: number, count: number, target: Uint8Array) => {
      counted.mainThreadReads++
      return inner.read(first, count, target)
    },
  })
  return { source, path, counted, dir: temp.dir }
}

async function scanAndCheck(image: Uint8Array, source: BlockSource, init: ScanInit, read?: number[]) {
  const scan = scanVolume(source, { batchBytes: BATCH, workers: 2, ...init })
  const records = await collect(scan)
  const expected = naiveScan(image, BS, init.previous, read)
  const expectedRecords =
    init.compress === true ? withRawFlags(expected.records, image, BS) : expected.records
  expect(comparable(records)).toEqual(comparable(expectedRecords))
  for (const record of records) checkPayload(record, image, BS, init.compress === true)
  expect(Buffer.from(scan.index.digests).equals(Buffer.from(expected.index.digests))).toBe(true)
  expect(Buffer.from(scan.index.flags).equals(Buffer.from(expected.index.flags))).toBe(true)
  return scan
}

/** Descriptors of this process that point at `path` (Linux: /proc/self/fd). */
function openDescriptors(path: string): number {
  let count = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count++
    } catch {
      // Closed between the listing and the readlink.
    }
  }
  return count
}

describe('worker reads of a file-backed source', () => {
  const image = makeImage(61, BS, 5 * PER_BATCH + 37, 1234)

  it('hash only: the workers read, records and index equal the naive scan, progress ends at the total', async () => {
    const { source, counted } = await fileSource(image)
    const progress: number[] = []
    const scan = await scanAndCheck(image, source, {
      compress: false,
      onProgress: (done, total) => {
        expect(total).toBe(image.length)
        progress.push(done)
      },
    })
    expect(counted.mainThreadReads).toBe(0)
    expect(scan.stats).toMatchObject({ bytesRead: image.length, blocksRead: 5 * PER_BATCH + 38 })
    expect(progress).toHaveLength(6)
    expect(progress.at(-1)).toBe(image.length)
  })

  it('compressing, against a previous index: payloads and CHANGED flags as the naive scan', async () => {
    const previous = (await runScan(new MemoryBlockSource(image, BS), { batchBytes: BATCH })).index
    const next = new Uint8Array(image)
    const random = seeded(62)
    for (let i = 0; i < 40; i++) {
      const block = Math.floor(random() * (image.length / BS))
      next.set(textBytes(random, BS), block * BS)
    }
    const { source, counted } = await fileSource(next)
    const scan = await scanAndCheck(next, source, { compress: true, previous })
    expect(counted.mainThreadReads).toBe(0)
    expect(scan.stats.changedBlocks).toBeGreaterThan(0)
    expect(scan.stats.changedBlocks).toBeLessThanOrEqual(40)
  })

  it('change tracking: several short runs per batch are read as separate extents', async () => {
    const previous = (await runScan(new MemoryBlockSource(image, BS), { batchBytes: BATCH })).index
    const next = new Uint8Array(image)
    const runs = [
      { first: 3, count: 1 },
      { first: 17, count: 2 },
      { first: 240, count: 40 },
      { first: 700, count: 5 },
      { first: 5 * PER_BATCH + 37, count: 1 },
    ]
    const random = seeded(63)
    for (const run of runs) {
      for (let i = run.first; i < run.first + run.count; i++) {
        next.set(textBytes(random, Math.min(BS, next.length - i * BS)), i * BS)
      }
    }
    const changed = new ChangedBlockMap(5 * PER_BATCH + 38, runs)
    const { source, counted } = await fileSource(next)
    const scan = await scanAndCheck(next, source, { compress: true, previous, changed }, [
      ...changed.blocks(),
    ])
    expect(counted.mainThreadReads).toBe(0)
    expect(scan.stats.blocksRead).toBe(changed.changedCount)
  })

  it('readInWorkers: false reads on the main thread and gives the same index', async () => {
    const { source, counted } = await fileSource(image)
    const scan = await scanAndCheck(image, source, { compress: false, readInWorkers: false })
    expect(counted.mainThreadReads).toBe(6)
    expect(scan.stats.bytesRead).toBe(image.length)
  })

  it('refuses a readInWorkers that is not a boolean', async () => {
    const { source } = await fileSource(image)
    expect(() => scanVolume(source, { readInWorkers: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({
        code: 'SCAN_INVALID_OPTION',
        message: expect.stringMatching(/readInWorkers/),
      }),
    )
  })

  it('the workers’ descriptors of the volume are closed when the scan ends', async () => {
    const { source, path } = await fileSource(image)
    const before = openDescriptors(path)
    await runScan(source, { batchBytes: BATCH, workers: 2 })
    // The source's own handle stays open until its close(); the workers' are gone with the threads.
    expect(openDescriptors(path)).toBe(before)
  })

  it('never has more than maxBatchesInFlight batches ahead of the consumer', async () => {
    const big = makeImage(64, BS, 20 * PER_BATCH)
    const { source } = await fileSource(big)
    const maxBatchesInFlight = 3
    const posted: number[] = []
    let requested = 0
    let violations = 0
    const createPool = (options: ScanPoolOptions): ScanWorkerPool => {
      const inner = createPiscinaPool(options)
      return {
        run: (task, runOptions) => {
          const batch = task.read!.extents[0]! / BATCH
          // The consumer is in the batch of the record it asked for; only the next ones may be posted.
          const consumerBatch = Math.floor((requested - 1) / PER_BATCH)
          if (batch >= consumerBatch + maxBatchesInFlight) violations++
          posted.push(batch)
          return inner.run(task, runOptions)
        },
        destroy: () => inner.destroy(),
      }
    }
    const scan = scanVolume(source, { batchBytes: BATCH, workers: 2, maxBatchesInFlight }, { createPool })
    const iterator = scan[Symbol.asyncIterator]()
    requested++
    expect((await iterator.next()).value).toMatchObject({ index: 0 })
    // The consumer stops pulling: the scan posts up to the bound, then waits.
    await sleep(300)
    expect(posted).toEqual([0, 1, 2])
    for (let i = 1; ; i++) {
      requested++
      const next = await iterator.next()
      if (next.done === true) break
      expect(next.value.index).toBe(i)
      if (i % 97 === 0) await sleep(1)
    }
    expect(posted).toEqual(Array.from({ length: 20 }, (_, k) => k))
    expect(violations).toBe(0)
  })
})

describe('worker read failures', () => {
  const image = makeImage(71, BS, 6 * PER_BATCH)

  it('a file that shrinks mid-scan rejects with SCAN_SOURCE_READ_FAILED over BLOCKIO_SOURCE_SHORT_READ', async () => {
    const { source, path } = await fileSource(image)
    const pools = trackedPools()
    // One slot: batch 1 is only posted once the consumer has left batch 0.
    const scan = scanVolume(source, { batchBytes: BATCH, maxBatchesInFlight: 1 }, pools)
    const seen: number[] = []
    const run = (async () => {
      for await (const record of scan) {
        if (record.index === 0) await truncate(path, BATCH + BATCH / 2)
        seen.push(record.index)
      }
    })()
    await expect(run).rejects.toMatchObject({ code: 'SCAN_SOURCE_READ_FAILED', retryable: true })
    await expect(run).rejects.toThrow(
      new RegExp(
        `blocks ${PER_BATCH}–${2 * PER_BATCH - 1} of .*disk\\.img failed: .*ended at byte ${BATCH + BATCH / 2}.*BLOCKIO_SOURCE_SHORT_READ`,
      ),
    )
    expect(seen).toHaveLength(PER_BATCH)
    expect(pools.pools[0]!.destroyed).toBe(true)
  })

  it('a read error in a worker rejects with SCAN_SOURCE_READ_FAILED over BLOCKIO_SOURCE_UNREADABLE', async () => {
    const temp = await tempDir()
    cleanups.push(temp.remove)
    // A source whose filePath is a directory: opening works, every read fails with EISDIR.
    const source: BlockSource = Object.assign(
      Object.create(new MemoryBlockSource(image, BS, 'disk-9.img')) as BlockSource,
      { filePath: temp.dir },
    )
    const pools = trackedPools()
    const failure = runScan(source, { batchBytes: BATCH }, pools)
    await expect(failure).rejects.toMatchObject({ code: 'SCAN_SOURCE_READ_FAILED', retryable: true })
    await expect(failure).rejects.toThrow(
      /blocks \d+–\d+ of disk-9\.img failed: reading disk-9\.img at byte \d+ in a worker thread failed: EISDIR.*BLOCKIO_SOURCE_UNREADABLE/,
    )
    expect(pools.pools[0]!.destroyed).toBe(true)
    expect(pools.pools[0]!.piscina.threads).toHaveLength(0)
  })

  it('a volume path that is gone when the workers open it names the removal', async () => {
    const temp = await tempDir()
    cleanups.push(temp.remove)
    const source: BlockSource = Object.assign(
      Object.create(new MemoryBlockSource(image, BS)) as BlockSource,
      { filePath: join(temp.dir, 'removed.img') },
    )
    const failure = runScan(source, { batchBytes: BATCH })
    await expect(failure).rejects.toMatchObject({
      code: 'SCAN_SOURCE_READ_FAILED',
      message: expect.stringMatching(/ENOENT/),
      cause: expect.objectContaining({
        code: 'BLOCKIO_SOURCE_UNREADABLE',
        remediation: expect.stringMatching(/removed or renamed/),
      }),
    })
  })
})
