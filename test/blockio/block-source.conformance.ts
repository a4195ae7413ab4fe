/**
 * The BlockSource contract (blockio/block-source.ts), checked the same way against every
 * implementation: call `blockSourceConformance` from one `*.test.ts` file per implementation with a
 * factory that turns bytes into an open source.
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { BlockSource } from '../../blockio/block-source.js'
import { randomBytesFrom, randomInt, seeded } from './helpers.js'

export interface BlockSourceFactory {
  /** A source whose volume is exactly `bytes`, cut into `blockSize` blocks. */
  open(bytes: Uint8Array, blockSize: number): Promise<BlockSource>
  /** Runs once after the suite (remove temp files). */
  cleanup?(): Promise<void>
}

const BLOCK = 4096
const SENTINEL = 0xa5

const VOLUMES: ReadonlyArray<{ label: string; size: number; blockSize: number }> = [
  { label: 'an exact multiple of the block size', size: 4 * BLOCK, blockSize: BLOCK },
  { label: 'a short last block', size: 3 * BLOCK + 100, blockSize: BLOCK },
  { label: 'an empty volume', size: 0, blockSize: BLOCK },
  { label: 'a single block', size: BLOCK, blockSize: BLOCK },
  { label: 'a single short block', size: 100, blockSize: BLOCK },
  { label: 'the default 64 KiB blocks, short last block', size: 5 * 65536 + 4097, blockSize: 65536 },
]

export function blockSourceConformance(implementation: string, factory: BlockSourceFactory): void {
  describe(`BlockSource conformance: ${implementation}`, () => {
    afterAll(async () => {
      await factory.cleanup?.()
    })

    for (const [v, volume] of VOLUMES.entries()) {
      describe(`with ${volume.label}`, () => {
        const bytes = randomBytesFrom(seeded(1000 + v), volume.size)
        const blockCount = Math.ceil(volume.size / volume.blockSize)

        it('reports its size, block size and block count', async () => {
          const source = await factory.open(bytes, volume.blockSize)
          try {
            expect(source.size).toBe(volume.size)
            expect(source.blockSize).toBe(volume.blockSize)
            expect(source.blockCount).toBe(blockCount)
            expect(typeof source.name).toBe('string')
          } finally {
            await source.close()
          }
        })

        it('reads every block alone and the whole volume in one run', async () => {
          const source = await factory.open(bytes, volume.blockSize)
          try {
            for (let i = 0; i < blockCount; i++) {
              const target = new Uint8Array(volume.blockSize).fill(SENTINEL)
              const expected = bytes.subarray(i * volume.blockSize, (i + 1) * volume.blockSize)
              expect(await source.read(i, 1, target)).toBe(expected.byteLength)
              expect(Buffer.from(target.subarray(0, expected.byteLength)).equals(expected)).toBe(true)
              // Bytes past the end of a short block are left as they were.
              expect(target.subarray(expected.byteLength).every((b) => b === SENTINEL)).toBe(true)
            }
            if (blockCount > 0) {
              const all = new Uint8Array(blockCount * volume.blockSize)
              expect(await source.read(0, blockCount, all)).toBe(volume.size)
              expect(Buffer.from(all.subarray(0, volume.size)).equals(bytes)).toBe(true)
            }
          } finally {
            await source.close()
          }
        })

        it('reads random runs into a window at an odd offset of a larger buffer', async () => {
          if (blockCount === 0) {
            const source = await factory.open(bytes, volume.blockSize)
            await expect(source.read(0, 1, new Uint8Array(volume.blockSize))).rejects.toMatchObject({
              code: 'BLOCKIO_INVALID_OPTION',
            })
            await source.close()
            return
          }
          const random = seeded(2000 + v)
          const source = await factory.open(bytes, volume.blockSize)
          try {
            const backing = new Uint8Array(16 + blockCount * volume.blockSize)
            const window = backing.subarray(16)
            for (let k = 0; k < 20; k++) {
              const first = randomInt(random, blockCount)
              const count = 1 + randomInt(random, blockCount - first)
              const start = first * volume.blockSize
              const expected = bytes.subarray(start, Math.min(volume.size, start + count * volume.blockSize))
              expect(await source.read(first, count, window)).toBe(expected.byteLength)
              expect(Buffer.from(window.subarray(0, expected.byteLength)).equals(expected)).toBe(true)
            }
          } finally {
            await source.close()
          }
        })

        it('refuses runs outside the volume, empty runs and targets too small', async () => {
          const source = await factory.open(bytes, volume.blockSize)
          try {
            const big = new Uint8Array((blockCount + 2) * volume.blockSize)
            const bad: Array<[number, number, Uint8Array]> = [
              [blockCount, 1, big],
              [0, blockCount + 1, big],
              [-1, 1, big],
              [0, 0, big],
              [0.5, 1, big],
              [0, Number.NaN, big],
            ]
            if (blockCount > 0) bad.push([0, 1, new Uint8Array(Math.min(volume.size, volume.blockSize) - 1)])
            for (const [first, count, target] of bad) {
              await expect(source.read(first, count, target)).rejects.toMatchObject({
                code: 'BLOCKIO_INVALID_OPTION',
              })
            }
          } finally {
            await source.close()
          }
        })

        it('closes idempotently', async () => {
          const source = await factory.open(bytes, volume.blockSize)
          await source.close()
          await expect(source.close()).resolves.toBeUndefined()
        })
      })
    }
  })
}
