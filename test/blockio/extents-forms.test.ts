import { mkdir, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  MAX_EXTENTS_INPUT_BYTES,
  parseChangedExtents,
  readChangedExtentsFile,
} from '../../blockio/extents.js'
import { randomInt, seeded, tempDir } from './helpers.js'

const BLOCK = 4096
/** 11 blocks, the last one 100 bytes. */
const VOLUME = 10 * BLOCK + 100
const options = { volumeSize: VOLUME, blockSize: BLOCK }

describe('parseChangedExtents: accepted forms (docs/FORMATS.md "Changed-block extents")', () => {
  it('reads a VMware DiskChangeInfo; a partly covered block counts as changed', () => {
    const report = {
      startOffset: 0,
      length: VOLUME,
      changedArea: [
        { start: BLOCK, length: 2 * BLOCK },
        { start: BLOCK - 1, length: 2 },
      ],
    }
    expect(parseChangedExtents(report, options).runs).toEqual([{ first: 0, count: 3 }])
  })

  it('reads a DiskChangeInfo without changedArea as no change, and ignores extra fields', () => {
    expect(parseChangedExtents({ startOffset: 0, length: VOLUME }, options).changedCount).toBe(0)
    const pyVmomi = {
      _vimtype: 'vim.DiskChangeInfo',
      dynamicType: null,
      startOffset: 0,
      length: VOLUME,
      changedArea: [{ dynamicType: null, start: 10 * BLOCK, length: 100 }],
    }
    expect(parseChangedExtents(pyVmomi, options).runs).toEqual([{ first: 10, count: 1 }])
  })

  it('reads an array of DiskChangeInfo, one per QueryChangedDiskAreas call', () => {
    const half = 5 * BLOCK
    const report = [
      { startOffset: 0, length: half, changedArea: [{ start: 0, length: BLOCK }] },
      { startOffset: half, length: VOLUME - half, changedArea: [{ start: half, length: 1 }] },
    ]
    expect(parseChangedExtents(report, options).runs).toEqual([
      { first: 0, count: 1 },
      { first: 5, count: 1 },
    ])
  })

  it('reads Hyper-V ranges in camelCase and PascalCase', () => {
    const camel = { ranges: [{ byteOffset: 2 * BLOCK, byteLength: BLOCK }] }
    const pascal = { Ranges: [{ ByteOffset: 2 * BLOCK, ByteLength: BLOCK, Reserved: 0 }] }
    expect(parseChangedExtents(camel, options).runs).toEqual([{ first: 2, count: 1 }])
    expect(parseChangedExtents(pascal, options).runs).toEqual([{ first: 2, count: 1 }])
  })

  it('reads Hyper-V GetVirtualDiskChanges output arrays', () => {
    const report = {
      ChangedByteOffsets: [8 * BLOCK, 0],
      ChangedByteLengths: [BLOCK + 1, 10],
      ProcessedByteLength: VOLUME,
    }
    expect(parseChangedExtents(report, options).runs).toEqual([
      { first: 0, count: 1 },
      { first: 8, count: 2 },
    ])
  })

  it('reads the Lifeboat generic form, with or without volumeSize', () => {
    const extents = [{ start: 3 * BLOCK + 5, length: 1 }]
    expect(parseChangedExtents({ version: 1, extents }, options).runs).toEqual([{ first: 3, count: 1 }])
    expect(parseChangedExtents({ version: 1, volumeSize: VOLUME, extents }, options).runs).toEqual([
      { first: 3, count: 1 },
    ])
  })

  it('merges unsorted, overlapping and touching extents and ignores zero-length ones', () => {
    const report = {
      version: 1,
      extents: [
        { start: 7 * BLOCK, length: BLOCK },
        { start: 0, length: 0 },
        { start: 2 * BLOCK, length: 3 * BLOCK },
        { start: 3 * BLOCK, length: 10 },
        { start: 5 * BLOCK, length: 1 },
        { start: 9 * BLOCK, length: 0 },
      ],
    }
    expect(parseChangedExtents(report, options).runs).toEqual([
      { first: 2, count: 4 },
      { first: 7, count: 1 },
    ])
  })

  it('accepts an extent that ends exactly at the end of the volume', () => {
    const report = { version: 1, extents: [{ start: VOLUME - 1, length: 1 }] }
    expect(parseChangedExtents(report, options).runs).toEqual([{ first: 10, count: 1 }])
  })

  it('gives the same map for JSON text and for the parsed value', () => {
    const report = { ranges: [{ byteOffset: 100, byteLength: 5 * BLOCK }] }
    expect(parseChangedExtents(JSON.stringify(report), options)).toEqual(parseChangedExtents(report, options))
  })

  it('marks exactly the blocks that random extents touch (naive per-block check)', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const random = seeded(seed)
      const extents = Array.from({ length: randomInt(random, 12) }, () => {
        const start = randomInt(random, VOLUME)
        return { start, length: randomInt(random, VOLUME - start + 1) }
      })
      const map = parseChangedExtents({ version: 1, extents }, options)
      const expected: number[] = []
      for (let b = 0; b * BLOCK < VOLUME; b++) {
        const [lo, hi] = [b * BLOCK, Math.min(VOLUME, (b + 1) * BLOCK)]
        if (extents.some((e) => e.length > 0 && e.start < hi && e.start + e.length > lo)) expected.push(b)
      }
      expect([...map.blocks()], `seed ${seed}`).toEqual(expected)
    }
  })
})

describe('readChangedExtentsFile', () => {
  let dir: string
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ dir, remove } = await tempDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('reads a report file and names the file in errors', async () => {
    const path = join(dir, 'cbt.json')
    await writeFile(
      path,
      JSON.stringify({ startOffset: 0, length: VOLUME, changedArea: [{ start: 0, length: 1 }] }),
    )
    expect((await readChangedExtentsFile(path, options)).runs).toEqual([{ first: 0, count: 1 }])
    await writeFile(path, '{"version": 1, "extents": [')
    await expect(readChangedExtentsFile(path, options)).rejects.toMatchObject({
      code: 'BLOCKIO_EXTENTS_INVALID',
      message: expect.stringContaining('cbt.json'),
    })
  })

  it('refuses a missing file or a directory with EXTENTS_UNREADABLE', async () => {
    await expect(readChangedExtentsFile(join(dir, 'none.json'), options)).rejects.toMatchObject({
      code: 'BLOCKIO_EXTENTS_UNREADABLE',
    })
    await mkdir(join(dir, 'sub'))
    await expect(readChangedExtentsFile(join(dir, 'sub'), options)).rejects.toMatchObject({
      code: 'BLOCKIO_EXTENTS_UNREADABLE',
    })
  })

  it('refuses a file over the size limit without reading it', async () => {
    const path = join(dir, 'huge.json')
    await writeFile(path, '')
    await truncate(path, MAX_EXTENTS_INPUT_BYTES + 1)
    await expect(readChangedExtentsFile(path, options)).rejects.toMatchObject({
      code: 'BLOCKIO_EXTENTS_INVALID',
      message: expect.stringContaining('larger than'),
    })
  })
})
