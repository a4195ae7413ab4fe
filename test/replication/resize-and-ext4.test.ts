// Issue "Replication end to end" §9 "disk resize between cycles" and "round trip on … real ext4
// images", end to end through the lab:
// - the image file grows (to a size that is no multiple of the block size) and then shrinks between
//   cycles: each cycle succeeds, each point has the size of its image, and every point restores
//   byte-identical to the image as it was at its cycle;
// - an ext4 filesystem made by mkfs.ext4 and filled by debugfs (demo/ext4-image.ts), seeded, then
//   changed through debugfs (files edited, added, deleted) and replicated again: the change cycle
//   sends a small part of the image, and the restore is cmp-identical and `e2fsck -fn` clean.
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { restorePoint } from '../../agent/replication/restore-point.js'
import { changeDemoImage, createDemoImage } from '../../demo/demo-image.js'
import { checkExt4Image, findE2fsTools } from '../../demo/ext4-image.js'
import { LAB_TENANT } from '../../demo/replication-lab.js'
import { Cleanup } from '../control/helpers.js'
import { BLOCK, expectedMapDigest, imagePath, pointOf, randomImage, restored, startLab } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('disk resize between cycles', () => {
  it('grows and shrinks: every cycle commits the new size and every point restores byte-identical', async () => {
    const first = randomImage(8, 41)
    const lab = await startLab(cleanup, [{ vmId: 'vm1', volumeId: 'disk0', data: first }])
    const grown = Buffer.concat([first, randomImage(12, 43).subarray(0, 11 * BLOCK + 4_321)])
    randomBytes(BLOCK).copy(grown, 2 * BLOCK)
    const shrunk = Buffer.from(grown.subarray(0, 5 * BLOCK + 77))

    const sizes: number[] = []
    const points: string[] = []
    for (const [n, image] of [first, grown, shrunk].entries()) {
      if (n > 0) await writeFile(imagePath(lab.dir, 'disk0'), image)
      const job = await lab.replicate('vm1')
      const point = pointOf(job)
      expect(point.volumeSize).toBe(image.length)
      expect(point.mapDigest).toBe(expectedMapDigest(image))
      if (n === 1) {
        // Growing sends the changed block and the new blocks, not the old unchanged ones.
        expect(Number(job.result!.changedBlocks)).toBe(1 + 12)
      }
      sizes.push(point.volumeSize)
      points.push(point.pointId)
    }
    expect((await lab.points('vm1')).map((p) => p.size)).toEqual(sizes)
    const reader = await lab.openStoreReader()
    try {
      expect((await reader.listPoints(LAB_TENANT)).map((p) => p.volumeSize)).toEqual(sizes)
    } finally {
      await reader.close()
    }
    for (const [n, image] of [first, grown, shrunk].entries()) {
      expect((await restored(lab, points[n]!)).equals(image)).toBe(true)
    }
    expect((await lab.check('vm1')).state).toBe('succeeded')
  })
})

const e2fs = findE2fsTools()

describe.skipIf(e2fs.tools === undefined)('a real ext4 image', () => {
  it('seed and one change cycle restore cmp-identical and e2fsck-clean', async () => {
    const scratch = await cleanup.tempDir('lifeboat-ext4-')
    const made = await createDemoImage(join(scratch, 'seed.raw'), { sizeBytes: 16 * 1024 * 1024, seed: 5 })
    expect(made.kind).toBe('ext4')
    const lab = await startLab(cleanup, [{ vmId: 'vm1', volumeId: 'disk0', data: await readFile(made.path) }])
    const path = imagePath(lab.dir, 'disk0')
    const seed = await lab.replicate('vm1')
    await changeDemoImage({ ...made, path }, 1, { tempRoot: scratch })
    const changed = await lab.replicate('vm1')
    expect(Number(changed.result!.changedBlocks)).toBeGreaterThan(0)
    expect(Number(changed.result!.changedBlocks)).toBeLessThan(64)
    expect(Number(changed.result!.payloadBytes)).toBeLessThan(Number(seed.result!.payloadBytes) / 4)

    const image = await readFile(path)
    const point = pointOf(changed)
    expect(point.mapDigest).toBe(expectedMapDigest(image))
    const out = join(scratch, 'restored.raw')
    const reader = await lab.openStoreReader()
    try {
      await restorePoint(reader, LAB_TENANT, point.pointId, out, { verify: true })
    } finally {
      await reader.close()
    }
    expect((await readFile(out)).equals(image)).toBe(true)
    const fsck = await checkExt4Image(out, { tools: made.kind === 'ext4' ? made.tools : undefined })
    expect(fsck.clean, fsck.output).toBe(true)
  }, 60_000)
})
