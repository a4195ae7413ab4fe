import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { blake3 } from '@napi-rs/blake-hash'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openChunkStore } from '../../../blockio/chunk-store/index.js'
import { blockMapOf, blockOf, expectCode, lz4Chunk, newPoint, storeDir } from './helpers.js'

describe('chunk store: leftovers of a crash', () => {
  let root: string
  let masterKey: Uint8Array
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ root, masterKey, remove } = await storeDir())
  })
  afterEach(async () => {
    await remove()
  })

  const packs = () => join(root, 'tenants', 't1', 'packs')
  const points = () => join(root, 'tenants', 't1', 'points', 'vol1')

  it('cuts a pack tail and a torn index entry, deletes temp maps and unindexed packs; earlier points stay', async () => {
    let store = await openChunkStore({ root, masterKey })
    const a = lz4Chunk(blockOf(1))
    const b = lz4Chunk(blockOf(2))
    await store.putChunks('t1', [a, b])
    const earlier = await store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest, b.digest])))
    await store.close() // the lock file is removed; a crash would leave it (see the lock test)

    const packPath = join(packs(), '00000001.pack')
    const idxPath = join(packs(), '00000001.idx')
    const packSize = (await stat(packPath)).size
    const idxSize = (await stat(idxPath)).size
    // An interrupted cycle: chunk bytes written but never indexed, half an index entry,
    await appendFile(packPath, Buffer.alloc(5000, 0xab))
    await appendFile(idxPath, Buffer.alloc(40, 0xcd))
    // a map file written but never renamed into place,
    await writeFile(join(points(), '.p2.map.tmp-0123456789abcdef'), Buffer.alloc(100, 1))
    // a pack started but whose index was never created, and a temp key and fence.
    await writeFile(join(packs(), '00000002.pack'), Buffer.alloc(300, 2))
    await writeFile(join(root, 'tenants', 't1', '.key.tmp-0123456789abcdef'), Buffer.alloc(10))

    store = await openChunkStore({ root, masterKey })
    expect((await stat(packPath)).size).toBe(packSize)
    expect((await stat(idxPath)).size).toBe(idxSize)
    expect(await readdir(points())).toEqual(['p1.map'])
    expect((await readdir(packs())).sort()).toEqual(['00000001.idx', '00000001.pack'])
    expect(await readdir(join(root, 'tenants', 't1'))).not.toContain('.key.tmp-0123456789abcdef')
    expect(await store.listPoints('t1')).toEqual([earlier])
    expect((await store.checkPoint('t1', 'p1')).problems).toEqual([])
    // The store goes on: new chunks after the cut are readable after another reopen.
    const c = lz4Chunk(blockOf(3))
    await store.putChunks('t1', [c])
    await store.commitPoint('t1', newPoint('p3', blockMapOf([a.digest, c.digest])))
    await store.close()
    store = await openChunkStore({ root, masterKey })
    expect((await store.checkPoint('t1', 'p3')).problems).toEqual([])
    await store.close()
  })

  it('keeps chunks indexed by an unfinished cycle for reuse, never as a point', async () => {
    let store = await openChunkStore({ root, masterKey })
    const a = lz4Chunk(blockOf(1))
    await store.putChunks('t1', [a])
    // The cycle crashed before its commit: no map file.
    await store.close()
    store = await openChunkStore({ root, masterKey })
    expect(await store.listPoints('t1')).toEqual([])
    expect(store.heldDigests('t1', a.digest)).toEqual([true])
    await store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest])))
    await store.close()
  })

  it('drops a torn entry in the middle of an index but keeps the entries after it', async () => {
    let store = await openChunkStore({ root, masterKey })
    const chunks = [1, 2, 3].map((seed) => lz4Chunk(blockOf(seed)))
    await store.putChunks('t1', chunks)
    await store.close()
    const idxPath = join(packs(), '00000001.idx')
    const idx = await readFile(idxPath)
    idx[16 + 64 + 40] ^= 0x01 // the second entry's length field
    await writeFile(idxPath, idx)
    store = await openChunkStore({ root, masterKey })
    expect(store.heldDigests('t1', Buffer.concat(chunks.map((c) => c.digest)))).toEqual([true, false, true])
    expect(Buffer.from(await store.readChunk('t1', chunks[2].digest)).equals(blockOf(3))).toBe(true)
    await store.close()
  })

  it('reports the blocks of a map whose chunks are not held (restored from elsewhere) as missing', async () => {
    let store = await openChunkStore({ root, masterKey })
    const a = lz4Chunk(blockOf(1))
    await store.putChunks('t1', [a])
    await store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest])))
    await store.close()
    // Copy p1's map under another id in another tenant, which holds none of its chunks.
    const map = await readFile(join(points(), 'p1.map'))
    store = await openChunkStore({ root, masterKey })
    await store.putChunks('t2', [lz4Chunk(blockOf(2))])
    await store.close()
    const foreign = join(root, 'tenants', 't2', 'points', 'vol1')
    await mkdir(foreign, { recursive: true })
    const patched = Buffer.from(map.toString('latin1').replace('"tenant":"t1"', '"tenant":"t2"'), 'latin1')
    const end = patched.byteLength - 32
    patched.set(blake3(patched.subarray(0, end)), end)
    await writeFile(join(foreign, 'p1.map'), patched)
    store = await openChunkStore({ root, masterKey })
    const report = await store.checkPoint('t2', 'p1')
    expect(report.problems.map((p) => [p.index, p.code])).toEqual([[0, 'BLOCKIO_CHUNK_MISSING']])
    await store.close()
  })

  it('reports a map that fails its checksum as BLOCKIO_POINT_CORRUPT and opens anyway', async () => {
    let store = await openChunkStore({ root, masterKey })
    const a = lz4Chunk(blockOf(1))
    await store.putChunks('t1', [a])
    await store.commitPoint('t1', newPoint('good', blockMapOf([a.digest])))
    await store.commitPoint('t1', newPoint('bad', blockMapOf([a.digest, undefined])))
    await store.close()
    const badPath = join(points(), 'bad.map')
    const bytes = await readFile(badPath)
    bytes[20] ^= 0x40
    await writeFile(badPath, bytes)
    store = await openChunkStore({ root, masterKey })
    expect((await store.listPoints('t1')).map((p) => p.pointId)).toEqual(['good'])
    await expectCode(store.readBlockMap('t1', 'bad'), 'BLOCKIO_POINT_CORRUPT')
    await expectCode(store.checkPoint('t1', 'bad'), 'BLOCKIO_POINT_CORRUPT')
    // Garbage collection cannot know what the damaged point needs: it refuses.
    await expectCode(store.collectGarbage('t1'), 'BLOCKIO_POINT_CORRUPT')
    expect(store.hasChunk('t1', a.digest)).toBe(true)
    await store.close()
  })
})
