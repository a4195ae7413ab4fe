// The appliance keeps its scan worker threads between cycles (agent/scan/shared-scan-pool.ts, owned
// by agent/replication/node-replication.ts). End to end through the lab: a cycle right after the
// volume's image was REPLACED (a new file renamed over the path, so the warm threads may still hold
// the old one open) must read and commit the new content — the restored point is byte-identical to
// it — and every cycle logs its step timings at debug level.
import { rename, writeFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { Cleanup } from '../control/helpers.js'
import { expectedMapDigest, imagePath, jobLog, pointOf, randomImage, restored, startLab } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('appliance scan threads kept between cycles', () => {
  it('a cycle after the image was replaced by a new file commits the new content', async () => {
    const first = randomImage(24, 11)
    const lab = await startLab(cleanup, [{ vmId: 'vm1', volumeId: 'disk0', data: first }])
    const seed = await lab.replicate('vm1')
    expect(seed.state).toBe('succeeded')
    expect(pointOf(seed).mapDigest).toBe(expectedMapDigest(first))

    // Immediately (well within the threads' idle close): a new file renamed over the image.
    const second = randomImage(24, 12)
    const path = imagePath(lab.dir, 'disk0')
    await writeFile(`${path}.new`, second)
    await rename(`${path}.new`, path)
    const next = await lab.replicate('vm1')
    expect(next.state).toBe('succeeded')
    expect(next.result).toMatchObject({ changedBlocks: 24 })
    const point = pointOf(next)
    expect(point.mapDigest).toBe(expectedMapDigest(second))
    expect((await restored(lab, point.pointId)).equals(second)).toBe(true)

    const timings = (await jobLog(lab, next.id)).filter(
      (entry) => entry.level === 'debug' && entry.message.startsWith('timings'),
    )
    expect(timings).toHaveLength(1)
    expect(timings[0]!.message).toMatch(
      /stream open [\d.]+, opened [\d.]+, first changed record [\d.]+, scan done, last batch sent [\d.]+, acked [\d.]+, committed [\d.]+, index saved [\d.]+$/,
    )
  })
})
