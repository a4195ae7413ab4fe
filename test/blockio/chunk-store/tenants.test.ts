import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openChunkStore } from '../../../blockio/chunk-store/index.js'
import { blockMapOf, blockOf, expectCode, lz4Chunk, newPoint, storeDir } from './helpers.js'

describe('chunk store: tenants', () => {
  let root: string
  let masterKey: Uint8Array
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ root, masterKey, remove } = await storeDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('dedups within a tenant but not across tenants, and each tenant has its own key', async () => {
    const store = await openChunkStore({ root, masterKey })
    const chunk = lz4Chunk(blockOf(7))
    await store.putChunks('alpha', [chunk])
    await store.putChunks('beta', [chunk])
    expect(store.hasChunk('alpha', chunk.digest)).toBe(true)
    expect(store.hasChunk('beta', chunk.digest)).toBe(true)
    expect(store.hasChunk('gamma', chunk.digest)).toBe(false)
    await expectCode(store.readChunk('gamma', chunk.digest), 'BLOCKIO_CHUNK_MISSING')
    for (const tenant of ['alpha', 'beta']) {
      const packs = await readdir(join(root, 'tenants', tenant, 'packs'))
      expect(packs.filter((name) => name.endsWith('.pack'))).toHaveLength(1)
    }
    const alphaKey = await readFile(join(root, 'tenants', 'alpha', 'key'))
    const betaKey = await readFile(join(root, 'tenants', 'beta', 'key'))
    expect(alphaKey.equals(betaKey)).toBe(false)
    await store.close()
  })

  it("cannot read another tenant's chunk even when its pack is copied over", async () => {
    const store = await openChunkStore({ root, masterKey })
    const secret = lz4Chunk(blockOf(11))
    const mine = lz4Chunk(blockOf(12))
    await store.putChunks('alpha', [secret])
    await store.putChunks('beta', [mine])
    // beta cannot name alpha's chunk in a point.
    await expectCode(
      store.commitPoint('beta', newPoint('p', blockMapOf([secret.digest]))),
      'BLOCKIO_POINT_INCOMPLETE',
    )
    await store.close()
    // An attacker with file access splices alpha's pack and index into beta's folder.
    const alphaPacks = join(root, 'tenants', 'alpha', 'packs')
    const betaPacks = join(root, 'tenants', 'beta', 'packs')
    await writeFile(join(betaPacks, '00000009.pack'), await readFile(join(alphaPacks, '00000001.pack')))
    const idx = await readFile(join(alphaPacks, '00000001.idx'))
    idx.writeUInt32LE(9, 8)
    await writeFile(join(betaPacks, '00000009.idx'), idx)
    const again = await openChunkStore({ root, masterKey })
    // The index entry's own pack number lives in its file name; the entry itself points into pack 9.
    expect(again.hasChunk('beta', secret.digest)).toBe(true)
    const error = await expectCode(again.readChunk('beta', secret.digest), 'BLOCKIO_CHUNK_CORRUPT')
    expect(error.message).toMatch(/authentication failed/)
    expect(Buffer.from(await again.readChunk('alpha', secret.digest)).equals(blockOf(11))).toBe(true)
    await again.close()
  })
})
