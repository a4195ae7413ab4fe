import { uncompressSync } from 'lz4-napi'
import { afterAll, describe, expect, it } from 'vitest'
import { BlockFlag } from '../../../blockio/block-flags.js'
import { randomBytes, seeded, textBytes } from './helpers.js'
import { runBatch, workerPool } from './worker-task.js'

const BS = 64 * 1024
const pool = workerPool()
afterAll(() => pool.destroy())

describe('scan worker: payloads', () => {
  it('sends incompressible (random) blocks RAW, byte for byte', async () => {
    const random = seeded(5)
    const blocks = [randomBytes(random, BS), randomBytes(random, 777)]
    const { records } = await runBatch(pool, blocks, { blockSize: BS, compress: true })
    records.forEach((r, k) => {
      expect(r.flags).toBe(BlockFlag.CHANGED | BlockFlag.RAW)
      expect(Buffer.from(r.payload!).equals(Buffer.from(blocks[k]!))).toBe(true)
    })
  })

  it('LZ4-compresses compressible blocks into payloads that decompress to the exact bytes', async () => {
    const random = seeded(6)
    const repeated = new Uint8Array(BS).fill(0xab)
    const blocks = [textBytes(random, BS), repeated, textBytes(random, BS), textBytes(random, 5000)]
    const { records } = await runBatch(pool, blocks, { blockSize: BS, compress: true })
    records.forEach((r, k) => {
      expect(r.flags).toBe(BlockFlag.CHANGED)
      expect(r.payload!.length).toBeLessThan(blocks[k]!.length)
      expect(Buffer.from(uncompressSync(Buffer.from(r.payload!))).equals(Buffer.from(blocks[k]!))).toBe(true)
    })
  })

  it('produces no payload at all in a hash-only scan', async () => {
    const random = seeded(7)
    const blocks = [textBytes(random, BS), randomBytes(random, BS), new Uint8Array(BS)]
    const { records } = await runBatch(pool, blocks, { blockSize: BS, compress: false })
    expect(records.map((r) => r.payload)).toEqual([undefined, undefined, undefined])
    expect(records.map((r) => r.flags)).toEqual([
      BlockFlag.CHANGED,
      BlockFlag.CHANGED,
      BlockFlag.CHANGED | BlockFlag.ZERO,
    ])
  })
})
