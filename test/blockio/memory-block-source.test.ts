import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryBlockSource } from '../../blockio/memory-block-source.js'

describe('MemoryBlockSource', () => {
  it('reads runs of blocks, the last one short', async () => {
    const bytes = randomBytes(3 * 4096 + 100)
    const source = new MemoryBlockSource(bytes, 4096)
    expect(source.blockCount).toBe(4)
    const target = new Uint8Array(2 * 4096)
    expect(await source.read(2, 2, target)).toBe(4096 + 100)
    expect(Buffer.from(target.subarray(0, 4196)).equals(bytes.subarray(8192))).toBe(true)
  })

  it('refuses runs outside the volume and too-small targets', async () => {
    const source = new MemoryBlockSource(new Uint8Array(8192), 4096)
    await expect(source.read(1, 2, new Uint8Array(8192))).rejects.toMatchObject({
      code: 'BLOCKIO_INVALID_OPTION',
    })
    await expect(source.read(0, 2, new Uint8Array(100))).rejects.toMatchObject({
      code: 'BLOCKIO_INVALID_OPTION',
    })
    await expect(source.read(-1, 1, new Uint8Array(4096))).rejects.toMatchObject({
      code: 'BLOCKIO_INVALID_OPTION',
    })
  })

  it('refuses block sizes that are not a power of two in range', () => {
    for (const bad of [0, 1000, 2048, 3 * 4096, 32 * 1024 * 1024]) {
      expect(() => new MemoryBlockSource(new Uint8Array(8192), bad)).toThrow(/block size/)
    }
  })
})
