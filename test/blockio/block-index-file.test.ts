import { mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BlockIndex } from '../../blockio/block-index.js'
import {
  encodeBlockIndex,
  MAX_INDEX_FILE_BYTES,
  readBlockIndexFile,
  writeBlockIndexFile,
} from '../../blockio/block-index-file.js'
import { randomIndex, seeded, tempDir } from './helpers.js'

const BLOCK = 4096

describe('block index files', () => {
  let dir: string
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ dir, remove } = await tempDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('writes an index and reads it back, replacing the previous one, leaving no temporary file', async () => {
    const path = join(dir, 'disk0.lbidx')
    const first = randomIndex(seeded(1), 10 * BLOCK + 7, BLOCK)
    const second = randomIndex(seeded(2), 12 * BLOCK, BLOCK)
    await writeBlockIndexFile(path, first)
    await writeBlockIndexFile(path, second)
    const read = await readBlockIndexFile(path)
    expect(read.volumeSize).toBe(second.volumeSize)
    expect(Buffer.from(read.digests).equals(second.digests)).toBe(true)
    expect(Buffer.from(read.flags).equals(second.flags)).toBe(true)
    expect(await readdir(dir)).toEqual(['disk0.lbidx'])
    expect(Buffer.from(await readFile(path)).equals(encodeBlockIndex(second))).toBe(true)
  })

  it('keeps index files private to their owner (digests can confirm a guess of the content)', async () => {
    const path = join(dir, 'disk0.lbidx')
    await writeBlockIndexFile(path, new BlockIndex(BLOCK, BLOCK))
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('writes and reads an empty volume', async () => {
    const path = join(dir, 'empty.lbidx')
    await writeBlockIndexFile(path, new BlockIndex(0, BLOCK))
    const read = await readBlockIndexFile(path)
    expect(read.blockCount).toBe(0)
    expect(read.volumeSize).toBe(0)
  })

  it('reports a missing index with INDEX_MISSING and a directory with INDEX_UNREADABLE', async () => {
    await expect(readBlockIndexFile(join(dir, 'none.lbidx'))).rejects.toMatchObject({
      code: 'BLOCKIO_INDEX_MISSING',
    })
    await mkdir(join(dir, 'sub'))
    await expect(readBlockIndexFile(join(dir, 'sub'))).rejects.toMatchObject({
      code: 'BLOCKIO_INDEX_UNREADABLE',
    })
  })

  it('refuses a damaged file on disk with INDEX_CORRUPT', async () => {
    const path = join(dir, 'disk0.lbidx')
    await writeBlockIndexFile(path, randomIndex(seeded(3), 5 * BLOCK, BLOCK))
    const bytes = await readFile(path)
    await writeFile(path, bytes.subarray(0, bytes.byteLength - 10))
    await expect(readBlockIndexFile(path)).rejects.toMatchObject({ code: 'BLOCKIO_INDEX_CORRUPT' })
    await writeFile(path, '')
    await expect(readBlockIndexFile(path)).rejects.toMatchObject({ code: 'BLOCKIO_INDEX_CORRUPT' })
  })

  it('refuses a file larger than any index without reading it', async () => {
    const path = join(dir, 'huge.lbidx')
    await writeFile(path, '')
    await truncate(path, MAX_INDEX_FILE_BYTES + 1)
    await expect(readBlockIndexFile(path)).rejects.toMatchObject({
      code: 'BLOCKIO_INDEX_CORRUPT',
      message: expect.stringContaining('larger than any block index'),
    })
  })

  it('fails with INDEX_WRITE_FAILED into a missing directory, creating nothing', async () => {
    const path = join(dir, 'gone', 'disk0.lbidx')
    await expect(writeBlockIndexFile(path, new BlockIndex(BLOCK, BLOCK))).rejects.toMatchObject({
      code: 'BLOCKIO_INDEX_WRITE_FAILED',
      retryable: true,
    })
    expect(await readdir(dir)).toEqual([])
  })

  it('fails with INDEX_WRITE_FAILED when the target is a directory, leaving it and no temporary file', async () => {
    const path = join(dir, 'disk0.lbidx')
    await mkdir(path)
    await writeFile(join(path, 'keep'), 'x')
    await expect(writeBlockIndexFile(path, new BlockIndex(BLOCK, BLOCK))).rejects.toMatchObject({
      code: 'BLOCKIO_INDEX_WRITE_FAILED',
      message: expect.stringContaining('the previous index is unchanged'),
    })
    expect(await readdir(dir)).toEqual(['disk0.lbidx'])
    expect(await readdir(path)).toEqual(['keep'])
  })

  it('ignores temporary files left by a crashed write, and removes them after the next write', async () => {
    const path = join(dir, 'disk0.lbidx')
    const index = randomIndex(seeded(4), 3 * BLOCK, BLOCK)
    await writeBlockIndexFile(path, index)
    const leftover = join(dir, '.disk0.lbidx.tmp-0123456789abcdef')
    await writeFile(leftover, 'half an index')
    const unrelated = join(dir, '.other.lbidx.tmp-0123456789abcdef')
    await writeFile(unrelated, 'belongs to another index')
    const read = await readBlockIndexFile(path)
    expect(Buffer.from(read.digests).equals(index.digests)).toBe(true)
    await writeBlockIndexFile(path, index)
    expect((await readdir(dir)).sort()).toEqual(['.other.lbidx.tmp-0123456789abcdef', 'disk0.lbidx'])
  })
})
