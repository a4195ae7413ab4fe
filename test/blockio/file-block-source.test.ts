import { mkdir, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MAX_READ_BYTES, openFileBlockSource } from '../../blockio/file-block-source.js'
import { randomBytesFrom, seeded, tempDir } from './helpers.js'

const BLOCK = 4096

describe('openFileBlockSource', () => {
  let dir: string
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ dir, remove } = await tempDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('refuses a missing file with SOURCE_UNREADABLE and a remediation', async () => {
    const error = await openFileBlockSource(join(dir, 'nope.img')).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'BLOCKIO_SOURCE_UNREADABLE', retryable: false })
    expect((error as Error).message).toContain('nope.img')
    expect((error as { remediation: string }).remediation).toMatch(/path/)
  })

  it('refuses a directory and a character device', async () => {
    await mkdir(join(dir, 'sub'))
    await expect(openFileBlockSource(join(dir, 'sub'))).rejects.toMatchObject({
      code: 'BLOCKIO_SOURCE_UNREADABLE',
      message: expect.stringContaining('a directory'),
    })
    await expect(openFileBlockSource('/dev/null')).rejects.toMatchObject({
      code: 'BLOCKIO_SOURCE_UNREADABLE',
      message: expect.stringContaining('neither a regular file nor a block device'),
    })
  })

  it('refuses bad options before opening anything, naming the option', async () => {
    const path = join(dir, 'v.img')
    await writeFile(path, new Uint8Array(BLOCK))
    for (const maxReadsInFlight of [0, -1, 1.5, 65, Number.NaN]) {
      await expect(openFileBlockSource(path, { maxReadsInFlight })).rejects.toMatchObject({
        code: 'BLOCKIO_INVALID_OPTION',
        message: expect.stringContaining('maxReadsInFlight'),
      })
    }
    for (const blockSize of [1000, 2048, 32 * 1024 * 1024]) {
      await expect(openFileBlockSource(path, { blockSize })).rejects.toMatchObject({
        code: 'BLOCKIO_INVALID_OPTION',
      })
    }
  })

  it('uses 64 KiB blocks by default', async () => {
    const path = join(dir, 'v.img')
    await writeFile(path, new Uint8Array(65536 * 2 + 1))
    const source = await openFileBlockSource(path)
    expect(source.blockSize).toBe(65536)
    expect(source.blockCount).toBe(3)
    await source.close()
  })

  it('reads a run longer than MAX_READ_BYTES, split into several reads, correctly', async () => {
    const size = MAX_READ_BYTES + 3 * BLOCK + 17
    const bytes = randomBytesFrom(seeded(7), size)
    const path = join(dir, 'big.img')
    await writeFile(path, bytes)
    const source = await openFileBlockSource(path, { blockSize: BLOCK, maxReadsInFlight: 1 })
    const target = new Uint8Array(source.blockCount * BLOCK)
    expect(await source.read(0, source.blockCount, target)).toBe(size)
    expect(Buffer.from(target.subarray(0, size)).equals(bytes)).toBe(true)
    await source.close()
  })

  it('serves many concurrent reads with one read in flight', async () => {
    const bytes = randomBytesFrom(seeded(8), 64 * BLOCK)
    const path = join(dir, 'v.img')
    await writeFile(path, bytes)
    const source = await openFileBlockSource(path, { blockSize: BLOCK, maxReadsInFlight: 1 })
    const targets = Array.from({ length: 64 }, () => new Uint8Array(BLOCK))
    const lengths = await Promise.all(targets.map((t, i) => source.read(i, 1, t)))
    expect(lengths.every((n) => n === BLOCK)).toBe(true)
    targets.forEach((t, i) => {
      expect(Buffer.from(t).equals(bytes.subarray(i * BLOCK, (i + 1) * BLOCK))).toBe(true)
    })
    await source.close()
  })

  it('fails with SOURCE_SHORT_READ when the file shrank after it was opened', async () => {
    const path = join(dir, 'v.img')
    await writeFile(path, randomBytesFrom(seeded(9), 4 * BLOCK))
    const source = await openFileBlockSource(path, { blockSize: BLOCK })
    await truncate(path, 2 * BLOCK + 10)
    const target = new Uint8Array(4 * BLOCK)
    await expect(source.read(0, 1, target)).resolves.toBe(BLOCK)
    const error = await source.read(1, 3, target).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'BLOCKIO_SOURCE_SHORT_READ', retryable: true })
    expect((error as Error).message).toContain(`ended at byte ${2 * BLOCK + 10}`)
    await source.close()
  })

  it('reads only up to the size at open when the file grew', async () => {
    const path = join(dir, 'v.img')
    const bytes = randomBytesFrom(seeded(10), 2 * BLOCK + 5)
    await writeFile(path, bytes)
    const source = await openFileBlockSource(path, { blockSize: BLOCK })
    await truncate(path, 10 * BLOCK)
    const target = new Uint8Array(3 * BLOCK)
    expect(await source.read(0, 3, target)).toBe(2 * BLOCK + 5)
    expect(source.blockCount).toBe(3)
    await source.close()
  })

  it('refuses reads after close with SOURCE_CLOSED, and lets reads in flight finish', async () => {
    const path = join(dir, 'v.img')
    const bytes = randomBytesFrom(seeded(11), 8 * BLOCK)
    await writeFile(path, bytes)
    const source = await openFileBlockSource(path, { blockSize: BLOCK, maxReadsInFlight: 1 })
    const target = new Uint8Array(8 * BLOCK)
    const inFlight = source.read(0, 8, target)
    const closing = source.close()
    await expect(inFlight).resolves.toBe(8 * BLOCK)
    await closing
    expect(Buffer.from(target).equals(bytes)).toBe(true)
    await expect(source.read(0, 1, target)).rejects.toMatchObject({ code: 'BLOCKIO_SOURCE_CLOSED' })
    await expect(source.close()).resolves.toBeUndefined()
  })
})
