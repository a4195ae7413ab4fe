import { mkdir, readdir, stat } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeBenchImage } from '../../bench/replication/bench-image.js'
import { mutateRandomBlocks } from '../../bench/replication/random-block-mutation.js'
import { type RsyncDaemon, startRsyncDaemon } from '../../bench/replication/rsync-daemon.js'
import { rsyncIncremental, rsyncSeed, sameBytes } from '../../bench/replication/rsync-transfer.js'
import { findTool } from '../../demo/tool-lookup.js'
import { MiB, tempDir } from './helpers.js'

const rsync = findTool('rsync')

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('rsync daemon peer', () => {
  let dir: string
  let remove: () => Promise<void>
  let daemon: RsyncDaemon | undefined
  beforeEach(async () => ({ dir, remove } = await tempDir()))
  afterEach(async () => {
    await daemon?.stop()
    daemon = undefined
    await remove()
  })

  it.skipIf(!rsync)(
    'seeds an empty module, then sends an incremental change; the target is identical',
    async () => {
      const image = join(dir, 'image.raw')
      const target = join(dir, 'target')
      await mkdir(target)
      await writeBenchImage(image, { sizeBytes: 8 * MiB, seed: 4 })
      daemon = await startRsyncDaemon({ dir: target })
      expect(daemon.url).toBe(`rsync://127.0.0.1:${daemon.port}/target/`)

      const seed = await rsyncSeed(image, daemon)
      expect(seed.bytes).toBe(8 * MiB)
      expect(seed.ms).toBeGreaterThan(0)
      expect(await sameBytes(image, seed.target)).toBe(true)
      // The seed carries the whole image (rsync sends it uncompressed without -z).
      expect(seed.sentBytes).toBeGreaterThan(8 * MiB)

      const mutation = await mutateRandomBlocks(image, { fraction: 0.01, seed: 6 })
      expect(await sameBytes(image, seed.target)).toBe(false)
      const incremental = await rsyncIncremental(image, daemon)
      expect(await sameBytes(image, incremental.target)).toBe(true)
      // Only the changed blocks' data travels, plus rsync's per-block checksums.
      expect(incremental.sentBytes).toBeLessThan(mutation.blocks.length * 65536 + 1 * MiB)
      expect(incremental.sentBytes).toBeGreaterThanOrEqual(mutation.blocks.length * 60000)
      console.log(
        `rsync on 8 MiB: seed ${seed.ms.toFixed(0)} ms (${seed.sentBytes} B sent), incremental ${incremental.ms.toFixed(0)} ms (${incremental.sentBytes} B sent, ${mutation.blocks.length} blocks changed)`,
      )
    },
  )

  it.skipIf(!rsync)('stops the daemon and removes its folder; stop is idempotent', async () => {
    daemon = await startRsyncDaemon({ dir, module: 'other' })
    expect(await connects(daemon.port)).toBe(true)
    await daemon.stop()
    await daemon.stop()
    expect(await connects(daemon.port)).toBe(false)
  })

  it.skipIf(!rsync)('refuses an incremental run without a previous version', async () => {
    daemon = await startRsyncDaemon({ dir })
    const image = join(dir, 'image.raw')
    await writeBenchImage(image, { sizeBytes: 1 * MiB })
    await expect(rsyncIncremental(image, daemon, { name: 'copy.raw' })).rejects.toMatchObject({
      code: 'BENCH_INVALID_OPTION',
      message: expect.stringContaining('run rsyncSeed first'),
    })
    await expect(rsyncSeed(image, daemon, { name: '../escape' })).rejects.toMatchObject({
      code: 'BENCH_INVALID_OPTION',
    })
  })

  it.skipIf(!rsync)('raises BENCH_RSYNC_FAILED when the daemon cannot serve the module', async () => {
    const missing = join(dir, 'absent')
    daemon = await startRsyncDaemon({ dir: missing })
    const image = join(dir, 'image.raw')
    await writeBenchImage(image, { sizeBytes: 1 * MiB })
    await expect(rsyncSeed(image, daemon)).rejects.toMatchObject({ code: 'BENCH_RSYNC_FAILED' })
    await expect(stat(join(missing, 'image.raw'))).rejects.toThrow()
  })

  it('raises BENCH_RSYNC_MISSING when rsync is not installed, and BENCH_RSYNC_FAILED for a port in use', async () => {
    await expect(startRsyncDaemon({ dir, module: 'x y' })).rejects.toMatchObject({
      code: 'BENCH_INVALID_OPTION',
    })
    await expect(startRsyncDaemon({ dir, rsync: join(dir, 'no-such-rsync') })).rejects.toMatchObject({
      code: 'BENCH_RSYNC_MISSING',
      remediation: expect.stringContaining('apt-get install rsync'),
    })
    if (!rsync) return
    daemon = await startRsyncDaemon({ dir })
    const before = (await readdir('/tmp')).filter((name) => name.startsWith('lifeboat-rsyncd-')).length
    await expect(startRsyncDaemon({ dir, port: daemon.port })).rejects.toMatchObject({
      code: 'BENCH_RSYNC_FAILED',
      message: expect.stringContaining('already in use'),
    })
    expect((await readdir('/tmp')).filter((name) => name.startsWith('lifeboat-rsyncd-')).length).toBe(before)
  })
})
