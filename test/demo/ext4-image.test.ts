import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { changeExt4Files, checkExt4Image, createExt4Image, findE2fsTools } from '../../demo/ext4-image.js'
import { blockHashes, changedBlocks, fileHash, MiB, tempDir } from './helpers.js'

const e2fsprogs = findE2fsTools()
const SIZE = 32 * MiB

describe.skipIf(!e2fsprogs.tools)(
  `ext4 demo image${e2fsprogs.tools ? '' : ` (skipped: ${e2fsprogs.missing.join(', ')} not installed)`}`,
  () => {
    let dir: string
    let remove: () => Promise<void>
    beforeEach(async () => ({ dir, remove } = await tempDir()))
    afterEach(() => remove())

    it('makes an ext4 image filled with the planned files that e2fsck finds clean', async () => {
      const image = join(dir, 'disk.img')
      const made = await createExt4Image(image, { sizeBytes: SIZE, seed: 3, tempRoot: dir })
      expect((await stat(image)).size).toBe(SIZE)
      expect(made.files.length).toBeGreaterThan(10)
      expect(made.fileBytes).toBeGreaterThanOrEqual(SIZE * 0.4)
      expect(new Set(made.files.map((f) => f.kind))).toEqual(new Set(['text', 'binary', 'random', 'sparse']))
      const check = await checkExt4Image(image)
      expect(check).toMatchObject({ clean: true, exitCode: 0 })
      expect(check.output).toContain('Pass 5')
      // Only the image is left in the folder: the host files and the build name are gone.
      expect(await readdir(dir)).toEqual(['disk.img'])
    })

    it('gives a byte-identical image for the same seed and another for another seed', async () => {
      const [a, b, c] = ['a.img', 'b.img', 'c.img'].map((name) => join(dir, name))
      await createExt4Image(a!, { sizeBytes: SIZE, seed: 5, tempRoot: dir })
      await createExt4Image(b!, { sizeBytes: SIZE, seed: 5, tempRoot: dir })
      await createExt4Image(c!, { sizeBytes: SIZE, seed: 6, tempRoot: dir })
      expect(await fileHash(a!)).toBe(await fileHash(b!))
      expect(await fileHash(a!)).not.toBe(await fileHash(c!))
    })

    it('changes only some 64 KiB blocks per round, deterministically, and stays clean', async () => {
      const [a, b] = ['a.img', 'b.img'].map((name) => join(dir, name))
      await createExt4Image(a!, { sizeBytes: SIZE, seed: 9, tempRoot: dir })
      await createExt4Image(b!, { sizeBytes: SIZE, seed: 9, tempRoot: dir })
      let before = await blockHashes(a!)
      for (const round of [1, 2]) {
        const changes = await changeExt4Files(a!, { round, seed: 9, tempRoot: dir })
        expect(changes.modified).toHaveLength(3)
        expect(changes.added).toHaveLength(2)
        expect(changes.deleted).toHaveLength(1)
        const after = await blockHashes(a!)
        const changed = changedBlocks(before, after)
        expect(changed.length).toBeGreaterThan(0)
        expect(changed.length).toBeLessThan(before.length * 0.25)
        expect((await checkExt4Image(a!)).clean).toBe(true)
        await changeExt4Files(b!, { round, seed: 9, tempRoot: dir })
        expect(await fileHash(b!)).toBe(await fileHash(a!))
        before = after
      }
      expect((await readdir(dir)).sort()).toEqual(['a.img', 'b.img'])
    })

    it('reports a damaged filesystem as not clean', async () => {
      const image = join(dir, 'disk.img')
      await createExt4Image(image, { sizeBytes: SIZE, seed: 4, tempRoot: dir })
      const { open } = await import('node:fs/promises')
      const handle = await open(image, 'r+')
      // Zero the first block group descriptor table (block 1 of a 4 KiB-block filesystem).
      await handle.write(new Uint8Array(4096), 0, 4096, 4096)
      await handle.close()
      const check = await checkExt4Image(image)
      expect(check.clean).toBe(false)
      expect(check.exitCode).toBeGreaterThan(0)
      expect(check.output).toContain('lifeboat-demo')
    })

    it('raises DEMO_IMAGE_TOOL_FAILED when e2fsck cannot open the image', async () => {
      await expect(checkExt4Image(join(dir, 'absent.img'))).rejects.toMatchObject({
        code: 'DEMO_IMAGE_TOOL_FAILED',
        message: expect.stringContaining('e2fsck exited with code 8'),
      })
    })
  },
)
