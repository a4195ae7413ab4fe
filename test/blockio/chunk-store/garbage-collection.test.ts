import { randomBytes } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openChunkStore, openChunkStoreReader } from '../../../blockio/chunk-store/index.js'
import { blockMapOf, expectCode, newPoint, rawChunk, storeDir } from './helpers.js'

describe('chunk store: garbage collection', () => {
  let root: string
  let masterKey: Uint8Array
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ root, masterKey, remove } = await storeDir())
  })
  afterEach(async () => {
    await remove()
  })

  const packsFolder = () => join(root, 'tenants', 't1', 'packs')
  const chunk = () => rawChunk(randomBytes(4096))

  it('keeps live and pinned chunks, removes the rest, deletes dead packs and rewrites mostly-dead ones', async () => {
    // Packs close once they reach 4 KiB: each call below makes its own pack.
    const store = await openChunkStore({ root, masterKey, packSizeLimit: 4096 })
    const [d1, d2, d3, live1] = [chunk(), chunk(), chunk(), chunk()]
    const unreferenced = chunk()
    const pinned = chunk()
    const [live2, live3, d4] = [chunk(), chunk(), chunk()]
    await store.putChunks('t1', [d1, d2, d3, live1]) // pack 1: 25 % live → rewritten
    await store.putChunks('t1', [unreferenced]) // pack 2: dead → deleted
    await store.putChunks('t1', [pinned]) // pack 3: pinned → kept
    await store.putChunks('t1', [live2, live3, d4]) // pack 4: 67 % live → kept, index trimmed
    const map = blockMapOf([live1.digest, undefined, live2.digest, live3.digest])
    await store.commitPoint('t1', newPoint('p1', map))
    const pin = store.pin('t1')
    pin.add([pinned.digest])
    const reader = await openChunkStoreReader({ root, masterKey })
    expect(reader.hasChunk('t1', live1.digest)).toBe(true)

    const report = await store.collectGarbage('t1')
    expect(report).toMatchObject({ chunksRemoved: 5, packsDeleted: 1, packsRewritten: 1 })
    expect(report.bytesReclaimed).toBeGreaterThan(4 * 4096)
    const files = (await readdir(packsFolder())).sort()
    expect(files).toEqual([
      '00000003.idx',
      '00000003.pack',
      '00000004.idx',
      '00000004.pack',
      '00000005.idx',
      '00000005.pack',
    ])
    expect((await stat(join(packsFolder(), '00000004.idx'))).size).toBe(16 + 2 * 64)
    for (const gone of [d1, d2, d3, unreferenced, d4]) expect(store.hasChunk('t1', gone.digest)).toBe(false)
    for (const kept of [live1, live2, live3, pinned]) {
      expect(Buffer.from(await store.readChunk('t1', kept.digest)).equals(kept.payload)).toBe(true)
    }
    expect((await store.checkPoint('t1', 'p1')).problems).toEqual([])
    // The reader opened before the rewrite finds live1 in its new pack.
    expect(Buffer.from(await reader.readChunk('t1', live1.digest)).equals(live1.payload)).toBe(true)
    expect((await reader.checkPoint('t1', 'p1')).problems).toEqual([])
    await reader.close()

    // New chunks after a collection go to a new pack and survive the next one while named.
    const later = chunk()
    await store.putChunks('t1', [later])
    pin.release()
    const second = await store.collectGarbage('t1')
    expect(second).toMatchObject({ chunksRemoved: 2, packsDeleted: 2 })
    expect(store.hasChunk('t1', pinned.digest)).toBe(false)

    expect(await store.deletePoint('t1', 'p1')).toBe(true)
    const last = await store.collectGarbage('t1')
    expect(last.chunksRemoved).toBe(3)
    expect(await readdir(packsFolder())).toEqual([])
    await store.close()

    const again = await openChunkStore({ root, masterKey })
    await expectCode(again.readChunk('t1', live1.digest), 'BLOCKIO_CHUNK_MISSING')
    await again.close()
  })

  it('keeps a chunk pinned while collection runs and reads the survivors after reopening', async () => {
    const store = await openChunkStore({ root, masterKey })
    const a = chunk()
    const b = chunk()
    const pin = store.pin('t1')
    pin.add([a.digest])
    await store.putChunks('t1', [a, b])
    const report = await store.collectGarbage('t1')
    // One pack, half live: kept, its index trimmed to a.
    expect(report).toMatchObject({ chunksRemoved: 1, packsDeleted: 0, packsRewritten: 0 })
    await store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest])))
    pin.release()
    await store.close()
    const again = await openChunkStore({ root, masterKey })
    expect(again.heldDigests('t1', Buffer.concat([a.digest, b.digest]))).toEqual([true, false])
    expect((await again.checkPoint('t1', 'p1')).problems).toEqual([])
    expect(await again.collectGarbage('t1')).toMatchObject({ chunksRemoved: 0, packsDeleted: 0 })
    expect(await again.collectGarbage('nobody')).toMatchObject({ chunksRemoved: 0 })
    await again.close()
  })
})
