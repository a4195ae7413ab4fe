import { randomBytes } from 'node:crypto'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openChunkStore } from '../../../blockio/chunk-store/index.js'
import { blockMapOf, blockOf, expectCode, lz4Chunk, newPoint, rawChunk, storeDir } from './helpers.js'

describe('chunk store: checkPoint', () => {
  let root: string
  let masterKey: Uint8Array
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ root, masterKey, remove } = await storeDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('names the block whose chunk has a flipped byte, for every block that uses it', async () => {
    const store = await openChunkStore({ root, masterKey })
    const a = lz4Chunk(blockOf(1))
    const b = lz4Chunk(blockOf(2))
    await store.putChunks('t1', [a, b])
    await store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest, undefined, b.digest, b.digest])))
    const packPath = join(root, 'tenants', 't1', 'packs', '00000001.pack')
    const pack = await readFile(packPath)
    // Second entry: pack header 16 + first entry; flip a ciphertext byte of b.
    const firstEntryLength = 64 + a.payload.byteLength + 16
    pack[16 + firstEntryLength + 64 + 3] ^= 0x10
    await writeFile(packPath, pack)
    const progress: number[] = []
    const report = await store.checkPoint('t1', 'p1', { onProgress: (done) => progress.push(done) })
    expect(report.problems.map((p) => [p.index, p.code])).toEqual([
      [2, 'BLOCKIO_CHUNK_CORRUPT'],
      [3, 'BLOCKIO_CHUNK_CORRUPT'],
    ])
    expect(report.problems[0].message).toMatch(/block 2/)
    expect(report.bytesChecked).toBe(4096)
    expect(progress.at(-1)).toBe(4)
    await expectCode(store.readChunk('t1', b.digest), 'BLOCKIO_CHUNK_CORRUPT')
    const bounded = await store.checkPoint('t1', 'p1', { maxProblems: 1 })
    expect(bounded.problems).toHaveLength(1)
    expect(bounded.moreProblems).toBe(1)
    await store.close()
  })

  it('detects a flipped byte in an entry header (digest, length) too', async () => {
    const store = await openChunkStore({ root, masterKey })
    const a = lz4Chunk(blockOf(1))
    await store.putChunks('t1', [a])
    await store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest])))
    const packPath = join(root, 'tenants', 't1', 'packs', '00000001.pack')
    for (const offset of [16 + 4, 16 + 30, 16 + 20]) {
      const pack = await readFile(packPath)
      pack[offset] ^= 0x01
      await writeFile(packPath, pack)
      const report = await store.checkPoint('t1', 'p1')
      expect(report.problems.map((p) => [p.index, p.code])).toEqual([[0, 'BLOCKIO_CHUNK_CORRUPT']])
      pack[offset] ^= 0x01
      await writeFile(packPath, pack)
    }
    expect((await store.checkPoint('t1', 'p1')).problems).toEqual([])
    await store.close()
  })

  it('reports every block of a missing pack as BLOCKIO_PACK_MISSING', async () => {
    const store = await openChunkStore({ root, masterKey, packSizeLimit: 4096 })
    const a = lz4Chunk(blockOf(1))
    const b = lz4Chunk(blockOf(2))
    const c = lz4Chunk(blockOf(3))
    await store.putChunks('t1', [a, b])
    await store.putChunks('t1', [rawChunk(randomBytes(4096))]) // fills pack 1 past its limit
    await store.putChunks('t1', [c]) // pack 2
    await store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest, c.digest, b.digest])))
    await store.close()
    await rm(join(root, 'tenants', 't1', 'packs', '00000001.pack'))
    const again = await openChunkStore({ root, masterKey })
    const report = await again.checkPoint('t1', 'p1')
    expect(report.problems.map((p) => [p.index, p.code])).toEqual([
      [0, 'BLOCKIO_PACK_MISSING'],
      [2, 'BLOCKIO_PACK_MISSING'],
    ])
    await expectCode(again.readChunk('t1', a.digest), 'BLOCKIO_PACK_MISSING')
    await again.close()
  })
})
