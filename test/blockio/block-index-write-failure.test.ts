/**
 * A write that fails part-way (here: the rename, as on an I/O error or a crash just before it) must
 * leave the previous index readable and remove its temporary file. node:fs/promises is replaced in
 * this file only, so the failure is injected at exactly one step.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { readBlockIndexFile, writeBlockIndexFile } from '../../blockio/block-index-file.js'
import { randomIndex, seeded, tempDir } from './helpers.js'

const failure = vi.hoisted(() => ({ step: undefined as 'rename' | 'sync' | undefined }))

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>()
  return {
    ...real,
    rename: async (from: string, to: string) => {
      if (failure.step === 'rename') throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' })
      return real.rename(from, to)
    },
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args)
      if (failure.step === 'sync' && args[1] === 'wx') {
        handle.sync = async () => {
          throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })
        }
      }
      return handle
    },
  }
})

const BLOCK = 4096

describe('a failed index write', () => {
  let dir: string
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ dir, remove } = await tempDir())
    failure.step = undefined
  })
  afterEach(async () => {
    failure.step = undefined
    await remove()
  })

  for (const step of ['rename', 'sync'] as const) {
    it(`at the ${step} leaves the previous index intact and no temporary file`, async () => {
      const path = join(dir, 'disk0.lbidx')
      const previous = randomIndex(seeded(1), 8 * BLOCK, BLOCK)
      await writeBlockIndexFile(path, previous)
      failure.step = step
      await expect(writeBlockIndexFile(path, randomIndex(seeded(2), 9 * BLOCK, BLOCK))).rejects.toMatchObject(
        {
          code: 'BLOCKIO_INDEX_WRITE_FAILED',
          message: expect.stringContaining('EIO'),
        },
      )
      failure.step = undefined
      expect(await readdir(dir)).toEqual(['disk0.lbidx'])
      const read = await readBlockIndexFile(path)
      expect(read.volumeSize).toBe(previous.volumeSize)
      expect(Buffer.from(read.digests).equals(previous.digests)).toBe(true)
    })
  }
})
