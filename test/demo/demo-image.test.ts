import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { changeDemoImage, createDemoImage } from '../../demo/demo-image.js'
import { checkExt4Image, findE2fsTools } from '../../demo/ext4-image.js'
import { createGeneratedImage } from '../../demo/generated-image.js'
import { blockHashes, changedBlocks, fileHash, MiB, tempDir } from './helpers.js'

const SIZE = 16 * MiB

describe('createDemoImage: the kind this machine can make', () => {
  let dir: string
  let remove: () => Promise<void>
  beforeEach(async () => ({ dir, remove } = await tempDir()))
  afterEach(() => remove())

  it('falls back to generated content where e2fsprogs is missing, and says why', async () => {
    const image = await createDemoImage(join(dir, 'disk.img'), { sizeBytes: SIZE, seed: 2, toolDirs: [] })
    expect(image.kind).toBe('generated')
    expect(image.reason).toMatch(/mkfs\.ext4, debugfs, e2fsck not found .*apt-get install e2fsprogs/)
    expect((await stat(image.path)).size).toBe(SIZE)
    const again = await createGeneratedImage(join(dir, 'again.img'), { sizeBytes: SIZE, seed: 2 })
    expect(await fileHash(again.path)).toBe(await fileHash(image.path))

    const before = await blockHashes(image.path)
    const change = await changeDemoImage(image, 1)
    if (change.kind !== 'generated') throw new Error('expected a generated change')
    const changed = changedBlocks(before, await blockHashes(image.path))
    expect(changed).toEqual(change.mutation.blocks)
    expect(changed.length).toBe(Math.round(before.length * 0.02))
    // Another round changes other blocks.
    const next = await changeDemoImage(image, 2)
    if (next.kind !== 'generated') throw new Error('expected a generated change')
    expect(next.mutation.blocks).not.toEqual(change.mutation.blocks)
    expect((await readdir(dir)).sort()).toEqual(['again.img', 'disk.img'])
  })

  it.skipIf(!findE2fsTools().tools)(
    'makes ext4 where e2fsprogs is installed and changes files between rounds',
    async () => {
      const image = await createDemoImage(join(dir, 'disk.img'), { sizeBytes: SIZE, seed: 2, tempRoot: dir })
      expect(image.kind).toBe('ext4')
      expect(image.reason).toContain('debugfs')
      const change = await changeDemoImage(image, 1, { tempRoot: dir })
      if (change.kind !== 'ext4') throw new Error('expected an ext4 change')
      expect(change.changes.added.map((f) => f.path)).toEqual([
        '/home/user/docs/round1-0.txt',
        '/home/user/docs/round1-1.txt',
      ])
      expect((await checkExt4Image(image.path)).clean).toBe(true)
      expect(await readdir(dir)).toEqual(['disk.img'])
    },
  )

  it('refuses a bad size or round with DEMO_INVALID_OPTION', async () => {
    await expect(
      createDemoImage(join(dir, 'x.img'), { sizeBytes: 1000, toolDirs: [] }),
    ).rejects.toMatchObject({ code: 'DEMO_INVALID_OPTION' })
    const image = await createDemoImage(join(dir, 'disk.img'), { sizeBytes: SIZE, toolDirs: [] })
    await expect(changeDemoImage(image, 0)).rejects.toMatchObject({ code: 'DEMO_INVALID_OPTION' })
    await expect(changeDemoImage({ ...image, path: join(dir, 'gone.img') }, 1)).rejects.toMatchObject({
      code: 'DEMO_IMAGE_IO',
    })
    expect(await readdir(dir)).toEqual(['disk.img'])
  })
})
