import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeBenchImage } from '../../bench/replication/bench-image.js'
import { writeExtentsFile } from '../../bench/replication/extents-file.js'
import { extentsOf, mutateRandomBlocks } from '../../bench/replication/random-block-mutation.js'
import { readChangedExtentsFile } from '../../blockio/extents.js'
import { BLOCK, blockHashes, changedBlocks, fileHash, MiB, tempDir } from './helpers.js'

describe('mutateRandomBlocks and writeExtentsFile', () => {
  let dir: string
  let remove: () => Promise<void>
  beforeEach(async () => ({ dir, remove } = await tempDir()))
  afterEach(() => remove())

  it('changes exactly the reported 1 % of the 64 KiB blocks, and the extents file reads back', async () => {
    const image = join(dir, 'image.raw')
    await writeBenchImage(image, { sizeBytes: 32 * MiB, seed: 2 })
    const before = await blockHashes(image)
    const mutation = await mutateRandomBlocks(image, { fraction: 0.01, blockSize: BLOCK, seed: 11 })
    expect(mutation.blocks).toHaveLength(Math.round(before.length * 0.01))
    expect(changedBlocks(before, await blockHashes(image))).toEqual(mutation.blocks)
    expect(mutation.extents).toEqual(extentsOf(mutation.blocks, BLOCK, 32 * MiB))

    const extentsPath = join(dir, 'changes.json')
    await writeExtentsFile(extentsPath, mutation.extents, mutation.volumeSize)
    const map = await readChangedExtentsFile(extentsPath, { volumeSize: 32 * MiB, blockSize: BLOCK })
    const fromFile = map.runs.flatMap((run) => Array.from({ length: run.count }, (_, k) => run.first + k))
    expect(fromFile).toEqual(mutation.blocks)
    expect(JSON.parse(await readFile(extentsPath, 'utf8'))).toMatchObject({
      version: 1,
      volumeSize: 32 * MiB,
    })
    expect((await readdir(dir)).sort()).toEqual(['changes.json', 'image.raw'])
  })

  it('is deterministic for a seed, changes other blocks for another seed, and reports a short last block', async () => {
    const [a, b] = [join(dir, 'a.raw'), join(dir, 'b.raw')]
    const size = 4 * MiB + 1000
    const content = new Uint8Array(size).fill(7)
    await writeFile(a, content)
    await writeFile(b, content)
    const first = await mutateRandomBlocks(a, { fraction: 0.5, seed: 3 })
    const again = await mutateRandomBlocks(b, { fraction: 0.5, seed: 3 })
    expect(again).toEqual(first)
    expect(await fileHash(a)).toBe(await fileHash(b))
    const other = await mutateRandomBlocks(b, { fraction: 0.5, seed: 4 })
    expect(other.blocks).not.toEqual(first.blocks)
    const all = await mutateRandomBlocks(a, { fraction: 1, seed: 5 })
    expect(all.blocks).toHaveLength(65)
    expect(all.extents).toEqual([{ start: 0, length: size }])
  })

  it('changes a block even when the same mutation is applied twice', async () => {
    const image = join(dir, 'image.raw')
    await writeFile(image, new Uint8Array(2 * MiB))
    await mutateRandomBlocks(image, { fraction: 0.25, seed: 8 })
    const before = await blockHashes(image)
    const second = await mutateRandomBlocks(image, { fraction: 0.25, seed: 8 })
    expect(changedBlocks(before, await blockHashes(image))).toEqual(second.blocks)
  })

  it('refuses bad options and a missing image with coded errors, writing nothing', async () => {
    const image = join(dir, 'image.raw')
    await writeFile(image, new Uint8Array(BLOCK))
    for (const options of [
      { fraction: 0, seed: 1 },
      { fraction: 1.5, seed: 1 },
      { fraction: 0.1, seed: -1 },
      { fraction: 0.1, seed: 1, blockSize: 1000 },
    ]) {
      await expect(mutateRandomBlocks(image, options)).rejects.toMatchObject({ code: 'BENCH_INVALID_OPTION' })
    }
    await expect(
      mutateRandomBlocks(join(dir, 'absent.raw'), { fraction: 0.1, seed: 1 }),
    ).rejects.toMatchObject({
      code: 'BENCH_IMAGE_IO',
      retryable: true,
    })
    await expect(
      writeExtentsFile(join(dir, 'x.json'), [{ start: BLOCK, length: 1 }], BLOCK),
    ).rejects.toMatchObject({
      code: 'BENCH_INVALID_OPTION',
      message: expect.stringContaining('extents[0]'),
    })
    await expect(writeExtentsFile(join(dir, 'no', 'x.json'), [], BLOCK)).rejects.toMatchObject({
      code: 'BENCH_IMAGE_IO',
    })
    await expect(writeBenchImage(join(dir, 'odd.raw'), { sizeBytes: 1000 })).rejects.toMatchObject({
      code: 'BENCH_INVALID_OPTION',
    })
    expect(await readdir(dir)).toEqual(['image.raw'])
  })
})
