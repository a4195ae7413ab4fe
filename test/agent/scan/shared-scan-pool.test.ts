/**
 * The shared scan pool (agent/scan/shared-scan-pool.ts): scans in a row reuse its threads, a thread
 * never reads a replaced file through the old descriptor, a worker failure retires the pool and the
 * next scan gets new threads, and close() ends them all.
 */
import { readdirSync, readlinkSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { runScan, scanVolume } from '../../../agent/scan/scan-pipeline.js'
import { VOLUME_IDLE_CLOSE_MS } from '../../../agent/scan/scan-worker.js'
import type { ScanPoolOptions, ScanWorkerPool } from '../../../agent/scan/scan-worker-pool.js'
import { SharedScanPool } from '../../../agent/scan/shared-scan-pool.js'
import { openFileBlockSource } from '../../../blockio/file-block-source.js'
import { collect, comparable, makeImage, naiveScan, tempDir, trackedPools, withRawFlags } from './helpers.js'

const BS = 4096
const BATCH = 1024 * 1024
const PER_BATCH = BATCH / BS

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A shared pool over tracked piscina pools (optionally of another worker file); closed after the test. */
function sharedPool(workerFiles: Array<string | undefined> = []) {
  const calls: ScanPoolOptions[] = []
  const tracked: ReturnType<typeof trackedPools>['pools'] = []
  const createPool = (options: ScanPoolOptions): ScanWorkerPool => {
    const pools = trackedPools(workerFiles[calls.length])
    calls.push(options)
    const pool = pools.createPool(options)
    tracked.push(pools.pools[0]!)
    return pool
  }
  const shared = new SharedScanPool({ createPool })
  cleanups.push(() => shared.close())
  return { shared, calls, tracked }
}

async function fileWith(dir: string, name: string, image: Uint8Array) {
  const path = join(dir, name)
  await writeFile(path, image)
  return path
}

async function scanFile(path: string, shared: SharedScanPool) {
  const source = await openFileBlockSource(path, { blockSize: BS })
  try {
    const scan = scanVolume(source, { batchBytes: BATCH, workers: 2, compress: true }, { sharedPool: shared })
    const records = await collect(scan)
    return { records, index: scan.index }
  } finally {
    await source.close()
  }
}

/** What a compressing scan of `image` without a previous index yields. */
function expectedOf(image: Uint8Array) {
  return comparable(withRawFlags(naiveScan(image, BS).records, image, BS))
}

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

describe('shared scan pool', () => {
  it('two scans in a row reuse the same threads: the pool factory is called once', async () => {
    const temp = await tempDir()
    cleanups.push(temp.remove)
    const image = makeImage(81, BS, 3 * PER_BATCH + 5)
    const path = await fileWith(temp.dir, 'disk.img', image)
    const { shared, calls, tracked } = sharedPool()
    const first = await scanFile(path, shared)
    const threads = [...tracked[0]!.piscina.threads]
    const second = await scanFile(path, shared)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.threads).toBe(2)
    expect(tracked[0]!.destroyed).toBe(false)
    expect([...tracked[0]!.piscina.threads]).toEqual(threads)
    expect(threads.length).toBe(2)
    const expected = expectedOf(image)
    expect(comparable(first.records)).toEqual(expected)
    expect(comparable(second.records)).toEqual(expected)
  })

  it('a second scan of a replaced file (new inode at the same path) reads the new content', async () => {
    const temp = await tempDir()
    cleanups.push(temp.remove)
    const before = makeImage(82, BS, 2 * PER_BATCH)
    const after = makeImage(83, BS, 2 * PER_BATCH)
    const path = await fileWith(temp.dir, 'disk.img', before)
    const { shared, calls } = sharedPool()
    const first = await scanFile(path, shared)
    expect(comparable(first.records)).toEqual(expectedOf(before))
    // Well within VOLUME_IDLE_CLOSE_MS: the threads still hold the old file open.
    const replacement = await fileWith(temp.dir, 'disk.img.new', after)
    await rename(replacement, path)
    const second = await scanFile(path, shared)
    expect(comparable(second.records)).toEqual(expectedOf(after))
    expect(Buffer.from(second.index.digests).equals(Buffer.from(naiveScan(after, BS).index.digests))).toBe(
      true,
    )
    expect(calls).toHaveLength(1)
  })

  it('the threads close the volume once it is idle, though they keep running', async () => {
    const temp = await tempDir()
    cleanups.push(temp.remove)
    const path = await fileWith(temp.dir, 'disk.img', makeImage(84, BS, 2 * PER_BATCH))
    const { shared, tracked } = sharedPool()
    await scanFile(path, shared)
    expect(openDescriptors(path)).toBeGreaterThan(0)
    const deadline = Date.now() + VOLUME_IDLE_CLOSE_MS + 3_000
    while (openDescriptors(path) > 0 && Date.now() < deadline) await sleep(50)
    expect(openDescriptors(path)).toBe(0)
    expect(tracked[0]!.destroyed).toBe(false)
  })

  it('an aborted scan ends its lease, not the threads: the next scan reuses them', async () => {
    const temp = await tempDir()
    cleanups.push(temp.remove)
    const image = makeImage(85, BS, 4 * PER_BATCH)
    const path = await fileWith(temp.dir, 'disk.img', image)
    const { shared, calls, tracked } = sharedPool()
    const source = await openFileBlockSource(path, { blockSize: BS })
    cleanups.push(() => source.close())
    const controller = new AbortController()
    const scan = scanVolume(
      source,
      { batchBytes: BATCH, workers: 2, signal: controller.signal },
      { sharedPool: shared },
    )
    const run = (async () => {
      for await (const record of scan) if (record.index === 0) controller.abort(new Error('stop'))
    })()
    await expect(run).rejects.toMatchObject({ code: 'SCAN_ABORTED' })
    const again = await scanFile(path, shared)
    expect(comparable(again.records)).toEqual(expectedOf(image))
    expect(calls).toHaveLength(1)
    expect(tracked[0]!.destroyed).toBe(false)
  })

  it('a worker failure retires the pool: that scan fails, the next one gets new threads', async () => {
    const temp = await tempDir({
      'throws.mjs': "export default function () { throw new Error('hash unit on fire') }\n",
    })
    cleanups.push(temp.remove)
    const image = makeImage(86, BS, 2 * PER_BATCH)
    const path = await fileWith(temp.dir, 'disk.img', image)
    const { shared, calls, tracked } = sharedPool([join(temp.dir, 'throws.mjs'), undefined])
    await expect(scanFile(path, shared)).rejects.toMatchObject({
      code: 'SCAN_WORKER_FAILED',
      message: expect.stringMatching(/hash unit on fire/),
    })
    const deadline = Date.now() + 5_000
    while (!tracked[0]!.destroyed && Date.now() < deadline) await sleep(20)
    expect(tracked[0]!.destroyed).toBe(true)
    const again = await scanFile(path, shared)
    expect(comparable(again.records)).toEqual(expectedOf(image))
    expect(calls).toHaveLength(2)
    expect(shared.poolCount).toBe(1)
  })

  it('a scan asking for another thread count gets a pool of its own kind', async () => {
    const temp = await tempDir()
    cleanups.push(temp.remove)
    const image = makeImage(87, BS, PER_BATCH)
    const path = await fileWith(temp.dir, 'disk.img', image)
    const { shared, calls } = sharedPool()
    const source = await openFileBlockSource(path, { blockSize: BS })
    cleanups.push(() => source.close())
    await runScan(source, { batchBytes: BATCH, workers: 1 }, { sharedPool: shared })
    await runScan(source, { batchBytes: BATCH, workers: 2 }, { sharedPool: shared })
    await runScan(source, { batchBytes: BATCH, workers: 1 }, { sharedPool: shared })
    expect(calls.map((c) => c.threads)).toEqual([1, 2])
    expect(shared.poolCount).toBe(2)
  })

  it('close() destroys the threads; a scan after it fails with SCAN_INVALID_STATE', async () => {
    const temp = await tempDir()
    cleanups.push(temp.remove)
    const path = await fileWith(temp.dir, 'disk.img', makeImage(88, BS, PER_BATCH))
    const { shared, tracked } = sharedPool()
    await scanFile(path, shared)
    await shared.close()
    await shared.close()
    expect(tracked[0]!.destroyed).toBe(true)
    expect(shared.poolCount).toBe(0)
    await expect(scanFile(path, shared)).rejects.toMatchObject({
      code: 'SCAN_INVALID_STATE',
      message: expect.stringMatching(/shared scan pool is closed/),
    })
  })
})
