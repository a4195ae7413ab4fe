import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type ChunkEncoding, type ChunkStore, openChunkStore } from '../../../blockio/chunk-store/index.js'
import { BLOCK, blockMapOf, blockOf, expectCode, lz4Chunk, newPoint, rawChunk, storeDir } from './helpers.js'

describe('chunk store: refused input stores nothing', () => {
  let root: string
  let masterKey: Uint8Array
  let remove: () => Promise<void>
  let store: ChunkStore
  beforeEach(async () => {
    ;({ root, masterKey, remove } = await storeDir())
    store = await openChunkStore({ root, masterKey })
  })
  afterEach(async () => {
    await store.close()
    await remove()
  })

  async function packFiles(tenant: string): Promise<string[]> {
    return readdir(join(root, 'tenants', tenant, 'packs')).catch(() => [])
  }

  it('refuses a whole call when one chunk has the wrong digest', async () => {
    const good = lz4Chunk(blockOf(1))
    const bad = { ...lz4Chunk(blockOf(2)), digest: lz4Chunk(blockOf(3)).digest }
    const error = await expectCode(store.putChunks('t1', [good, bad]), 'BLOCKIO_CHUNK_DIGEST_MISMATCH')
    expect(error.message).toMatch(/chunk 1 of the call/)
    expect(store.hasChunk('t1', good.digest)).toBe(false)
    expect(await packFiles('t1')).toEqual([])
  })

  it('refuses bad LZ4, wrong lengths and unknown encodings', async () => {
    const plain = blockOf(4)
    const chunk = lz4Chunk(plain)
    const garbled = Buffer.from(chunk.payload)
    garbled.fill(0xff, 4)
    await expectCode(store.putChunks('t1', [{ ...chunk, payload: garbled }]), 'BLOCKIO_CHUNK_INVALID')
    await expectCode(store.putChunks('t1', [{ ...chunk, plainLength: BLOCK - 1 }]), 'BLOCKIO_CHUNK_INVALID')
    const huge = Buffer.from(chunk.payload)
    huge.writeUInt32LE(0xffffffff, 0)
    await expectCode(store.putChunks('t1', [{ ...chunk, payload: huge }]), 'BLOCKIO_CHUNK_INVALID')
    await expectCode(
      store.putChunks('t1', [{ ...chunk, payload: chunk.payload.subarray(0, 3) }]),
      'BLOCKIO_CHUNK_INVALID',
    )
    const raw = rawChunk(plain)
    await expectCode(store.putChunks('t1', [{ ...raw, payload: plain.subarray(1) }]), 'BLOCKIO_CHUNK_INVALID')
    await expectCode(
      store.putChunks('t1', [{ ...raw, encoding: 1 as unknown as typeof ChunkEncoding.RAW }]),
      'BLOCKIO_CHUNK_INVALID',
    )
    await expectCode(
      store.putChunks('t1', [{ ...raw, digest: raw.digest.subarray(0, 31) }]),
      'BLOCKIO_CHUNK_INVALID',
    )
    expect(await packFiles('t1')).toEqual([])
  })

  it('refuses a stale fencing token and keeps the highest across reopening', async () => {
    await store.admitFencingToken('t1', 'vol1', 5)
    await store.admitFencingToken('t1', 'vol1', 5)
    await expectCode(store.admitFencingToken('t1', 'vol1', 4), 'BLOCKIO_FENCE_STALE')
    expect(store.fencingToken('t1', 'vol1')).toBe(5)
    expect(store.fencingToken('t1', 'vol2')).toBe(0)
    const chunk = lz4Chunk(blockOf(1))
    await store.putChunks('t1', [chunk])
    await expectCode(
      store.commitPoint('t1', newPoint('p1', blockMapOf([chunk.digest]), { fencingToken: 3 })),
      'BLOCKIO_FENCE_STALE',
    )
    // A commit under a higher token raises the volume's token.
    await store.commitPoint('t1', newPoint('p2', blockMapOf([chunk.digest]), { fencingToken: 8 }))
    expect(store.fencingToken('t1', 'vol1')).toBe(8)
    await store.close()
    store = await openChunkStore({ root, masterKey })
    expect(store.fencingToken('t1', 'vol1')).toBe(8)
    await expectCode(store.admitFencingToken('t1', 'vol1', 7), 'BLOCKIO_FENCE_STALE')
    expect(await store.listPoints('t1')).toHaveLength(1)
  })

  it('refuses a map naming an unheld digest, and inconsistent facts', async () => {
    const held = lz4Chunk(blockOf(1))
    await store.putChunks('t1', [held])
    const error = await expectCode(
      store.commitPoint(
        't1',
        newPoint('p1', blockMapOf([held.digest, undefined, lz4Chunk(blockOf(2)).digest])),
      ),
      'BLOCKIO_POINT_INCOMPLETE',
    )
    expect(error.message).toMatch(/block 2/)
    await expectCode(
      store.commitPoint('t1', newPoint('p1', blockMapOf([held.digest]), { volumeSize: 2 * BLOCK })),
      'BLOCKIO_POINT_INVALID',
    )
    await expectCode(
      store.commitPoint('t1', newPoint('p1', blockMapOf([held.digest]), { blockSize: 3000 })),
      'BLOCKIO_POINT_INVALID',
    )
    expect(await store.listPoints('t1')).toEqual([])
  })

  it('returns the point for a replayed commit and refuses another map under the same id', async () => {
    const a = lz4Chunk(blockOf(1))
    const b = lz4Chunk(blockOf(2))
    await store.putChunks('t1', [a, b])
    const first = await store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest, b.digest])))
    const replay = await store.commitPoint(
      't1',
      newPoint('p1', blockMapOf([a.digest, b.digest]), { createdAt: 1 }),
    )
    expect(replay).toEqual(first)
    await expectCode(
      store.commitPoint('t1', newPoint('p1', blockMapOf([b.digest, a.digest]))),
      'BLOCKIO_POINT_EXISTS',
    )
    await expectCode(
      store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest, b.digest]), { volumeId: 'vol2' })),
      'BLOCKIO_POINT_EXISTS',
    )
  })
})
