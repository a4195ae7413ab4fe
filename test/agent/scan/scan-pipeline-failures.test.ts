import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runScan, scanVolume } from '../../../agent/scan/scan-pipeline.js'
import type { ScanPoolOptions, ScanWorkerPool } from '../../../agent/scan/scan-worker-pool.js'
import { BlockioError, BlockioErrorCode } from '../../../blockio/errors.js'
import { MemoryBlockSource } from '../../../blockio/memory-block-source.js'
import { collect, makeImage, tempDir, trackedPools, WatchedSource } from './helpers.js'

const BS = 4096
const BATCH = 1024 * 1024
const image = makeImage(41, BS, 6 * 256)

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

/** Worker modules that misbehave, written as plain JavaScript (worker threads cannot load TypeScript). */
async function badWorkers() {
  const temp = await tempDir({
    'exits.mjs': 'export default function () { process.exit(7) }\n',
    'throws.mjs': "export default function () { throw new Error('hash unit on fire') }\n",
    'broken-import.mjs': "import 'lifeboat-no-such-module'\nexport default function () {}\n",
  })
  cleanups.push(temp.remove)
  return (name: string) => join(temp.dir, name)
}

describe('scan pipeline failures', () => {
  it('a BlockSource read error rejects with SCAN_SOURCE_READ_FAILED naming the blocks and the cause', async () => {
    const pools = trackedPools()
    const source = new WatchedSource(new MemoryBlockSource(image, BS, 'disk-7.img'), (first) => {
      if (first >= 3 * 256) {
        throw new BlockioError(BlockioErrorCode.SOURCE_UNREADABLE, 'EIO at byte 3145728', {
          remediation: 'check the disk',
          retryable: true,
        })
      }
    })
    const seen: number[] = []
    const failure = (async () => {
      for await (const record of scanVolume(source, { batchBytes: BATCH }, pools)) seen.push(record.index)
    })()
    await expect(failure).rejects.toMatchObject({ code: 'SCAN_SOURCE_READ_FAILED', retryable: true })
    await expect(failure).rejects.toThrow(
      /blocks 768–1023 of disk-7\.img.*EIO at byte 3145728.*BLOCKIO_SOURCE_UNREADABLE/,
    )
    expect(seen.length).toBeLessThanOrEqual(3 * 256)
    expect(pools.pools[0]!.destroyed).toBe(true)
    expect(pools.pools[0]!.piscina.threads).toHaveLength(0)
  })

  it('a source that reads fewer bytes than the run holds is refused', async () => {
    const inner = new MemoryBlockSource(image, BS)
    const short = Object.assign(Object.create(inner) as MemoryBlockSource, {
      read: async (first: number, count: number, target: Uint8Array) =>
        (await inner.read(first, count, target)) - 1,
    })
    await expect(runScan(short, { batchBytes: BATCH })).rejects.toMatchObject({
      code: 'SCAN_SOURCE_READ_FAILED',
      message: expect.stringMatching(/1048575 bytes read, 1048576 expected/),
    })
  })

  it('a worker thread that dies rejects with SCAN_WORKER_FAILED and the pool is destroyed', async () => {
    const worker = await badWorkers()
    const pools = trackedPools(worker('exits.mjs'))
    const source = new MemoryBlockSource(image, BS)
    const failure = collect(scanVolume(source, { batchBytes: BATCH }, pools))
    await expect(failure).rejects.toMatchObject({ code: 'SCAN_WORKER_FAILED', retryable: true })
    await expect(failure).rejects.toThrow(/exited with code: 7/)
    expect(pools.pools[0]!.destroyed).toBe(true)
    expect(pools.pools[0]!.piscina.threads).toHaveLength(0)
  })

  it('a worker that throws, or cannot load, rejects with SCAN_WORKER_FAILED', async () => {
    const worker = await badWorkers()
    for (const [file, message] of [
      ['throws.mjs', /hash unit on fire/],
      ['broken-import.mjs', /lifeboat-no-such-module/],
    ] as const) {
      const pools = trackedPools(worker(file))
      const failure = runScan(new MemoryBlockSource(image, BS), { batchBytes: BATCH }, pools)
      await expect(failure).rejects.toMatchObject({ code: 'SCAN_WORKER_FAILED' })
      await expect(failure).rejects.toThrow(message)
      expect(pools.pools[0]!.destroyed).toBe(true)
    }
  })

  it('a thread failing outside any task (a pool error event) fails the scan', async () => {
    let destroyed = false
    const createPool = (options: ScanPoolOptions): ScanWorkerPool => {
      setTimeout(() => options.onError(new Error('spare thread lost')), 10)
      return {
        run: () => new Promise<never>(() => {}),
        destroy: async () => {
          destroyed = true
        },
      }
    }
    await expect(runScan(new MemoryBlockSource(image, BS), {}, { createPool })).rejects.toMatchObject({
      code: 'SCAN_WORKER_FAILED',
      message: expect.stringMatching(/worker thread scanning memory failed: spare thread lost/),
    })
    expect(destroyed).toBe(true)
  })

  it('a pool that cannot be created rejects with SCAN_WORKER_FAILED', async () => {
    const createPool = () => {
      throw new Error('no threads for you')
    }
    await expect(runScan(new MemoryBlockSource(image, BS), {}, { createPool })).rejects.toMatchObject({
      code: 'SCAN_WORKER_FAILED',
      message: expect.stringMatching(/no threads for you/),
    })
  })
})
