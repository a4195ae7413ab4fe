// Replication end to end on loopback: a coordinator, an appliance and a connector in one process
// (demo/replication-lab.ts), a random image with zero and repeated regions, seed and incremental
// cycles through the scheduler's jobs, the catalogue, a consistency check and a byte-identical restore.
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { restorePoint } from '../../agent/replication/restore-point.js'
import { LAB_TENANT, type ReplicationLab, startReplicationLab } from '../../demo/replication-lab.js'
import { pointsOfSummary } from '../../protocol/index.js'
import { Cleanup } from '../control/helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const BLOCK = 65_536

/** 4 MiB + a short last block: random blocks, zero blocks, and one block repeated four times. */
function sampleImage(): Buffer {
  const image = Buffer.alloc(64 * BLOCK + 12_345)
  randomBytes(20 * BLOCK).copy(image, 0)
  const repeated = randomBytes(BLOCK)
  for (let i = 30; i < 34; i++) repeated.copy(image, i * BLOCK)
  randomBytes(10 * BLOCK + 12_345).copy(image, 54 * BLOCK)
  return image
}

async function lab(images: Array<{ vmId: string; volumeId: string; data: Buffer }>): Promise<ReplicationLab> {
  const dir = await cleanup.tempDir('lifeboat-replication-')
  const volumes = []
  for (const image of images) {
    const path = join(dir, `${image.volumeId}.raw`)
    await writeFile(path, image.data)
    volumes.push({
      vmId: image.vmId,
      volumeId: image.volumeId,
      path,
      size: image.data.length,
      blockSize: BLOCK,
    })
  }
  const started = await startReplicationLab({ dir, volumes, scanWorkers: 1 })
  cleanup.add(() => started.stop())
  return started
}

async function restored(l: ReplicationLab, pointId: string): Promise<Buffer> {
  const reader = await l.openStoreReader()
  try {
    const out = join(l.dir, `restore-${pointId}.raw`)
    await restorePoint(reader, LAB_TENANT, pointId, out, { verify: true })
    return await readFile(out)
  } finally {
    await reader.close()
  }
}

describe('replication end to end', () => {
  it('seeds, replicates a change incrementally, checks and restores byte-identical points', async () => {
    const image = sampleImage()
    const l = await lab([{ vmId: 'vm1', volumeId: 'disk0', data: image }])
    const seed = await l.replicate('vm1')
    const seedPoint = pointsOfSummary(seed.result).points[0]!
    expect(seed.result).toMatchObject({ changedBlocks: 65 })
    expect(Number(seed.result!.payloadBytes)).toBeGreaterThan(20 * BLOCK)

    // Change two blocks in place and replicate again: only they are sent.
    randomBytes(BLOCK).copy(image, 3 * BLOCK)
    randomBytes(BLOCK).copy(image, 40 * BLOCK)
    await writeFile(join(l.dir, 'disk0.raw'), image)
    const second = await l.replicate('vm1')
    expect(second.result).toMatchObject({ changedBlocks: 2 })
    expect(Number(second.result!.payloadBytes)).toBeLessThanOrEqual(2 * BLOCK + 64)
    const secondPoint = pointsOfSummary(second.result).points[0]!

    const points = await l.points('vm1')
    expect(points.map((p) => p.id)).toEqual([seedPoint.pointId, secondPoint.pointId])
    expect(points[1]!.blockMapDigest).toBe(secondPoint.mapDigest)

    const check = await l.check('vm1')
    expect(check.state).toBe('succeeded')
    expect(check.result).toMatchObject({ problems: 0 })

    expect((await restored(l, secondPoint.pointId)).equals(image)).toBe(true)
    const original = await restored(l, seedPoint.pointId)
    expect(original.subarray(0, 3 * BLOCK).equals(image.subarray(0, 3 * BLOCK))).toBe(true)
    expect(original.subarray(3 * BLOCK, 4 * BLOCK).equals(image.subarray(3 * BLOCK, 4 * BLOCK))).toBe(false)
  })

  it('a second VM with the same content sends hashes, not data', async () => {
    const image = sampleImage()
    const l = await lab([
      { vmId: 'vm1', volumeId: 'disk-a', data: image },
      { vmId: 'vm2', volumeId: 'disk-b', data: Buffer.from(image) },
    ])
    const first = await l.replicate('vm1')
    expect(Number(first.result!.payloadBytes)).toBeGreaterThan(0)
    const second = await l.replicate('vm2')
    expect(Number(second.result!.payloadBytes)).toBe(0)
    expect(Number(second.result!.heldRecords)).toBeGreaterThan(0)
    const point = pointsOfSummary(second.result).points[0]!
    expect((await restored(l, point.pointId)).equals(image)).toBe(true)
  })
})
