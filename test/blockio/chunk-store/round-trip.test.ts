import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openChunkStore, openChunkStoreReader } from '../../../blockio/chunk-store/index.js'
import { BLOCK, blockMapOf, blockOf, expectCode, lz4Chunk, newPoint, rawChunk, storeDir } from './helpers.js'

describe('chunk store: put, commit, read', () => {
  let root: string
  let masterKey: Uint8Array
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ root, masterKey, remove } = await storeDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('stores LZ4 and RAW chunks, commits a point with a zero block, and reads everything back', async () => {
    const store = await openChunkStore({ root, masterKey })
    const a = blockOf(1)
    const b = blockOf(2, 1000) // a short last block
    const c = Buffer.from(Array.from({ length: BLOCK }, (_, i) => (i * 7919) % 251))
    await store.putChunks('t1', [lz4Chunk(a), rawChunk(c)])
    await store.putChunks('t1', [lz4Chunk(b)])
    expect(store.hasChunk('t1', lz4Chunk(a).digest)).toBe(true)
    expect(store.heldDigests('t1', Buffer.concat([lz4Chunk(a).digest, Buffer.alloc(32, 9)]))).toEqual([
      true,
      false,
    ])
    const map = blockMapOf([lz4Chunk(a).digest, undefined, rawChunk(c).digest, lz4Chunk(b).digest])
    const info = await store.commitPoint('t1', newPoint('p1', map, { volumeSize: 3 * BLOCK + 1000 }))
    expect(info).toMatchObject({
      tenant: 't1',
      pointId: 'p1',
      blockCount: 4,
      dataBlocks: 3,
      volumeId: 'vol1',
    })
    expect(info.mapDigest).toMatch(/^[0-9a-f]{64}$/)
    expect(Buffer.from(await store.readChunk('t1', lz4Chunk(a).digest)).equals(a)).toBe(true)
    expect(Buffer.from(await store.readChunk('t1', rawChunk(c).digest)).equals(c)).toBe(true)
    expect(Buffer.from(await store.readChunk('t1', lz4Chunk(b).digest)).equals(b)).toBe(true)
    const read = await store.readBlockMap('t1', 'p1')
    expect(read.info).toEqual(info)
    expect(Buffer.from(read.digests).equals(Buffer.from(map))).toBe(true)
    expect(await store.listPoints('t1')).toEqual([info])
    expect(await store.listPoints('t1', 'other')).toEqual([])
    const report = await store.checkPoint('t1', 'p1')
    expect(report).toMatchObject({
      blocksChecked: 4,
      bytesChecked: 2 * BLOCK + 1000,
      problems: [],
      moreProblems: 0,
    })
    await store.close()

    // A reopened writer and a reader see the same.
    const again = await openChunkStore({ root, masterKey })
    expect(Buffer.from(await again.readChunk('t1', lz4Chunk(b).digest)).equals(b)).toBe(true)
    await again.close()
    const reader = await openChunkStoreReader({ root, masterKey })
    expect(await reader.listPoints('t1')).toEqual([info])
    expect(Buffer.from(await reader.readChunk('t1', rawChunk(c).digest)).equals(c)).toBe(true)
    await reader.close()
  })

  it('skips chunks already held and duplicates within one call', async () => {
    const store = await openChunkStore({ root, masterKey })
    const chunk = lz4Chunk(blockOf(5))
    await store.putChunks('t1', [chunk, chunk])
    await store.putChunks('t1', [chunk])
    const packs = await readdir(join(root, 'tenants', 't1', 'packs'))
    expect(packs.filter((name) => name.endsWith('.idx'))).toHaveLength(1)
    const idx = packs.find((name) => name.endsWith('.idx')) as string
    expect((await stat(join(root, 'tenants', 't1', 'packs', idx))).size).toBe(16 + 64) // one index entry
    await store.close()
  })

  it('stores each digest once when calls with the same chunks run at the same time', async () => {
    const store = await openChunkStore({ root, masterKey })
    const chunks = [1, 2, 3, 4].map((seed) => lz4Chunk(blockOf(seed)))
    await Promise.all([
      store.putChunks('t1', chunks.slice(0, 3)),
      store.putChunks('t1', chunks.slice(1)),
      store.putChunks('t1', chunks),
    ])
    const idx = (await readdir(join(root, 'tenants', 't1', 'packs'))).find((name) =>
      name.endsWith('.idx'),
    ) as string
    expect((await stat(join(root, 'tenants', 't1', 'packs', idx))).size).toBe(16 + 4 * 64)
    const closing = store.close()
    await expectCode(store.putChunks('t1', [lz4Chunk(blockOf(9))]), 'BLOCKIO_STORE_CLOSED')
    await closing
  })

  it('orders points by creation time and finds a point by id across volumes', async () => {
    const store = await openChunkStore({ root, masterKey })
    const chunk = lz4Chunk(blockOf(3))
    await store.putChunks('t1', [chunk])
    const map = blockMapOf([chunk.digest])
    await store.commitPoint('t1', newPoint('late', map, { createdAt: 2000, volumeId: 'volA' }))
    await store.commitPoint('t1', newPoint('early', map, { createdAt: 1000, volumeId: 'volB' }))
    expect((await store.listPoints('t1')).map((p) => p.pointId)).toEqual(['early', 'late'])
    expect((await store.listPoints('t1', 'volA')).map((p) => p.pointId)).toEqual(['late'])
    expect((await store.readBlockMap('t1', 'early')).info.volumeId).toBe('volB')
    await expectCode(store.readBlockMap('t1', 'nope'), 'BLOCKIO_POINT_NOT_FOUND')
    expect(await store.deletePoint('t1', 'early')).toBe(true)
    expect(await store.deletePoint('t1', 'early')).toBe(false)
    await expectCode(store.readBlockMap('t1', 'early'), 'BLOCKIO_POINT_NOT_FOUND')
    await store.close()
    await expectCode(store.listPoints('t1'), 'BLOCKIO_STORE_CLOSED')
  })

  it('refuses ids that are not protocol ids', async () => {
    const store = await openChunkStore({ root, masterKey })
    await expectCode(store.putChunks('../x', [lz4Chunk(blockOf(1))]), 'BLOCKIO_INVALID_OPTION')
    await expectCode(store.readBlockMap('t1', '..'), 'BLOCKIO_INVALID_OPTION')
    await store.close()
  })
})
