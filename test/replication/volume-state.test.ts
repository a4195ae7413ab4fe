// What an appliance keeps between cycles (agent/replication/volume-state.ts): the block index of a
// volume's last committed point, named after the point. Saved and loaded back; a later save
// removes the older index; no point id, another point, a different block size, or a corrupt file
// give no index (a full scan), the last two reported through onDiscarded.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  loadCommittedIndex,
  saveCommittedIndex,
  volumeStateDir,
} from '../../agent/replication/volume-state.js'
import { BlockIndex } from '../../blockio/block-index.js'

const dirs: string[] = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-volume-state-'))
  dirs.push(dir)
  return dir
}

function indexOf(fill: number, blockSize = 65_536): BlockIndex {
  const index = new BlockIndex(3 * blockSize + 10, blockSize)
  index.digests.fill(fill)
  return index
}

describe('volume state', () => {
  it('loads the index saved for a point, and a later save removes the older one', async () => {
    const dir = await dataDir()
    await saveCommittedIndex(dir, 'disk0', 'job-1.disk0', indexOf(1))
    const loaded = await loadCommittedIndex(dir, 'disk0', 'job-1.disk0', 65_536)
    expect(loaded?.volumeSize).toBe(3 * 65_536 + 10)
    expect(Buffer.from(loaded!.digests).equals(Buffer.from(indexOf(1).digests))).toBe(true)

    await saveCommittedIndex(dir, 'disk0', 'job-2.disk0', indexOf(2))
    expect(await readdir(volumeStateDir(dir, 'disk0'))).toEqual(['job-2.disk0.lbi'])
    expect(await loadCommittedIndex(dir, 'disk0', 'job-1.disk0', 65_536)).toBeUndefined()
    expect((await loadCommittedIndex(dir, 'disk0', 'job-2.disk0', 65_536))?.digests[0]).toBe(2)
    // Volumes are kept apart.
    expect(await loadCommittedIndex(dir, 'disk1', 'job-2.disk0', 65_536)).toBeUndefined()
  })

  it('no base point, or one never saved here: no index, nothing reported', async () => {
    const dir = await dataDir()
    const reasons: string[] = []
    expect(
      await loadCommittedIndex(dir, 'disk0', undefined, 65_536, (why) => reasons.push(why)),
    ).toBeUndefined()
    expect(await loadCommittedIndex(dir, 'disk0', 'p1', 65_536, (why) => reasons.push(why))).toBeUndefined()
    expect(reasons).toEqual([])
  })

  it('an index of another block size is discarded and reported', async () => {
    const dir = await dataDir()
    await saveCommittedIndex(dir, 'disk0', 'p1', indexOf(1, 4096))
    const reasons: string[] = []
    expect(await loadCommittedIndex(dir, 'disk0', 'p1', 65_536, (why) => reasons.push(why))).toBeUndefined()
    expect(reasons).toEqual(['the index of point p1 has block size 4096, the job 65536'])
  })

  it('a corrupt index file is discarded and reported, not thrown', async () => {
    const dir = await dataDir()
    await saveCommittedIndex(dir, 'disk0', 'p1', indexOf(1))
    await writeFile(join(volumeStateDir(dir, 'disk0'), 'p1.lbi'), 'not an index')
    const reasons: string[] = []
    expect(await loadCommittedIndex(dir, 'disk0', 'p1', 65_536, (why) => reasons.push(why))).toBeUndefined()
    expect(reasons).toHaveLength(1)
    expect(reasons[0]).toMatch(/^the index of point p1 is unusable: /)
  })
})
