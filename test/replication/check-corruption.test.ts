// Issue "Replication end to end" §5 and §9 "corrupted pack detected by the check", end to end: a
// point replicated through the lab, then the connector's pack file damaged on disk behind its back.
// The consistency check job must fail with AGENT_REPLICATION_CHECK_FAILED, and its job log (in the
// coordinator's store) must name the damaged block; a pack deleted outright is reported the same
// way (BLOCKIO_PACK_MISSING per block), the connector stays up and answers the next check too.
import { open, readFile, rm } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  decodeIndexEntry,
  ENTRY_HEADER_LENGTH,
  PACK_HEADER_LENGTH,
} from '../../blockio/chunk-store/pack-format.js'
import { Cleanup } from '../control/helpers.js'
import { expectedBlockMap, jobLog, packFiles, pointOf, randomImage, startLab } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

/** 12 distinct random blocks, then 4 zero blocks. */
function image(): Buffer {
  return Buffer.concat([randomImage(12, 5), Buffer.alloc(4 * 65_536)])
}

/** The block of `data` whose digest is the first chunk entry of the pack at `packPath`. */
async function blockOfFirstEntry(packPath: string, data: Buffer): Promise<number> {
  const index = await readFile(packPath.replace(/\.pack$/, '.idx'))
  const entry = decodeIndexEntry(index, 16, 1)
  if (entry === undefined) throw new Error('no first index entry')
  const map = expectedBlockMap(data)
  for (let i = 0; i < map.length / 32; i++) {
    if (map.subarray(i * 32, (i + 1) * 32).equals(Buffer.from(entry.digest))) return i
  }
  throw new Error('the first entry names no block of the image')
}

describe('the consistency check finds damage in the connector’s packs', () => {
  it('a byte flipped in a chunk’s ciphertext fails the check with the block named in the job log', async () => {
    const data = image()
    const lab = await startLab(cleanup, [{ vmId: 'vm1', volumeId: 'disk0', data }])
    const point = pointOf(await lab.replicate('vm1'))
    expect((await lab.check('vm1')).state).toBe('succeeded')

    const [pack] = await packFiles(lab)
    const damaged = await blockOfFirstEntry(pack!, data)
    const handle = await open(pack!, 'r+')
    try {
      const at = PACK_HEADER_LENGTH + ENTRY_HEADER_LENGTH + 100
      const byte = Buffer.alloc(1)
      await handle.read(byte, 0, 1, at)
      byte[0] = byte[0]! ^ 0x40
      await handle.write(byte, 0, 1, at)
    } finally {
      await handle.close()
    }

    const check = await lab.check('vm1')
    expect(check.state).toBe('failed')
    expect(check.error).toMatchObject({ code: 'AGENT_REPLICATION_CHECK_FAILED', retryable: false })
    expect(check.error!.message).toContain(`block ${damaged}`)
    const errors = (await jobLog(lab, check.id)).filter((entry) => entry.level === 'error')
    expect(errors).toHaveLength(1)
    expect(errors[0]!.step).toBe(`check disk0 point ${point.pointId}`)
    expect(errors[0]!.message).toMatch(new RegExp(`^block ${damaged}: `))
    expect(errors[0]!.error?.code).toBe('BLOCKIO_CHUNK_CORRUPT')
  })

  it('a deleted pack is reported block by block, and the connector answers the next check too', async () => {
    const data = image()
    const lab = await startLab(cleanup, [{ vmId: 'vm1', volumeId: 'disk0', data }])
    await lab.replicate('vm1')
    const packs = await packFiles(lab)
    expect(packs.length).toBeGreaterThan(0)
    for (const pack of packs) await rm(pack)

    for (let round = 0; round < 2; round++) {
      const check = await lab.check('vm1')
      expect(check.state).toBe('failed')
      expect(check.error?.code).toBe('AGENT_REPLICATION_CHECK_FAILED')
      expect(check.result).toBeUndefined()
      const errors = (await jobLog(lab, check.id)).filter((entry) => entry.level === 'error')
      // Every data block is named once (zero blocks have no chunk to lose).
      expect(errors.map((entry) => Number(/^block (\d+):/.exec(entry.message)?.[1]))).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
      ])
      expect(new Set(errors.map((entry) => entry.error?.code))).toEqual(new Set(['BLOCKIO_PACK_MISSING']))
    }
    expect(lab.coordinator.server.loadOf(lab.connector.node.peerId.toString())).toBeDefined()
  })
})
