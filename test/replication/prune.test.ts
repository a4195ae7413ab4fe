// Issue "Replication end to end" §4 and §9 "prune never deletes a referenced chunk", end to end
// through the lab's prune plan (retention → prune job payload → the connector's prune executor →
// the chunk store's garbage collection → the catalogue follows the succeeded job):
// - retention count 2 with a preserved tag over four cycles: the catalogue and the connector keep
//   the tagged point and the newest two; chunks only the expired point named are gone; every chunk
//   of the kept points still reads (the oldest kept point and the newest restore byte-identical);
// - a prune that runs while a cycle's block stream is open removes none of the chunks that cycle
//   has stored but not yet committed (they are named by no point, only by the session's pin), and
//   the cycle then commits a point that checks and restores byte-identical.
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { LAB_TENANT } from '../../demo/replication-lab.js'
import { Cleanup } from '../control/helpers.js'
import {
  BLOCK,
  blockDigests,
  imagePath,
  indexedChunks,
  pointOf,
  randomImage,
  restored,
  startLab,
  waitFor,
} from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('prune', () => {
  it('keeps the newest 2 and the preserved point, removes only chunks no kept point names', async () => {
    const lab = await startLab(cleanup, [{ vmId: 'vm1', volumeId: 'disk0', data: randomImage(16, 21) }], {
      retention: { count: 2, preservedTags: ['keep'] },
    })
    // Four cycles; before each of the last three, blocks 3 and 4 get new random content, so the
    // versions of those blocks each point made are named by that point only.
    const images: Buffer[] = []
    const points: string[] = []
    let image = randomImage(16, 21)
    for (let cycle = 0; cycle < 4; cycle++) {
      if (cycle > 0) {
        image = Buffer.from(image)
        randomBytes(2 * BLOCK).copy(image, 3 * BLOCK)
        await writeFile(imagePath(lab.dir, 'disk0'), image)
      }
      images.push(image)
      points.push(pointOf(await lab.replicate('vm1')).pointId)
    }
    await lab.coordinator.store.setRecoveryPointTags(LAB_TENANT, points[0]!, ['keep'])

    const prune = await lab.prune()
    expect(prune.payload).toMatchObject({ task: 'prune', points: [points[1]] })
    expect(prune.result).toMatchObject({ pointsDeleted: 1, pointsNamed: 1 })
    expect(Number(prune.result!.chunksRemoved)).toBe(2)
    await waitFor(async () => (await lab.points('vm1')).length === 3, 'the catalogue to follow the prune')
    expect((await lab.points('vm1')).map((p) => p.id)).toEqual([points[0], points[2], points[3]])

    const reader = await lab.openStoreReader()
    try {
      expect((await reader.listPoints(LAB_TENANT)).map((p) => p.pointId)).toEqual([
        points[0],
        points[2],
        points[3],
      ])
      const expired = blockDigests(images[1]!.subarray(3 * BLOCK, 5 * BLOCK))
      expect(expired.map((digest) => reader.hasChunk(LAB_TENANT, digest))).toEqual([false, false])
      for (const kept of [images[0]!, images[2]!, images[3]!]) {
        expect(blockDigests(kept).every((digest) => reader.hasChunk(LAB_TENANT, digest))).toBe(true)
      }
    } finally {
      await reader.close()
    }
    expect((await restored(lab, points[0]!)).equals(images[0]!)).toBe(true)
    expect((await restored(lab, points[3]!)).equals(images[3]!)).toBe(true)
    expect((await lab.check('vm1')).state).toBe('succeeded')

    // A second prune has nothing left to expire and removes nothing.
    const again = await lab.prune()
    expect(again.result).toMatchObject({ pointsDeleted: 0, pointsNamed: 0, chunksRemoved: 0 })
  })

  it('a prune during a cycle in flight removes none of the chunks the cycle stored but has not committed', async () => {
    const blocks = 1_024
    const seedImage = randomImage(blocks, 31)
    const lab = await startLab(cleanup, [{ vmId: 'vm1', volumeId: 'disk0', data: seedImage }])
    const seed = pointOf(await lab.replicate('vm1'))

    const image = randomImage(blocks, 37)
    await writeFile(imagePath(lab.dir, 'disk0'), image)
    const before = await indexedChunks(lab)
    const cycle = lab.replicate('vm1')
    cycle.catch(() => undefined)
    // Some of the cycle's chunks are stored (indexed) and named by no point yet.
    await waitFor(async () => (await indexedChunks(lab)) - before >= 32, 'part of the cycle stored', 30_000)
    const prune = await lab.prune()
    const inFlight = (await indexedChunks(lab)) - before
    const cycleJob = (await lab.coordinator.store.listJobs(LAB_TENANT, { planId: 'replicate' })).find(
      (job) => job.state !== 'succeeded',
    )
    // The prune ran its collection while the cycle was still streaming (else this proves nothing).
    expect(cycleJob?.state).toBe('running')
    expect(prune.result).toMatchObject({ pointsDeleted: 0, chunksRemoved: 0 })
    expect(inFlight).toBeGreaterThanOrEqual(32)

    const point = pointOf(await cycle)
    expect((await lab.points('vm1')).map((p) => p.id)).toEqual([seed.pointId, point.pointId])
    expect((await lab.check('vm1')).state).toBe('succeeded')
    expect((await restored(lab, point.pointId)).equals(image)).toBe(true)
  }, 60_000)
})
