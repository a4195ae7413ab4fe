// Restore's refusals and its nothing-half-written rule (agent/replication/restore-point.ts) over a
// real file chunk store: an existing target is refused (AGENT_RESTORE_TARGET_EXISTS) and left as it
// was unless `overwrite`; an unknown point is the store's BLOCKIO_POINT_NOT_FOUND with no file
// made; a damaged chunk or a missing target folder fails with a code, and no target and no
// `.<name>.partial-*` file is left behind. A good restore is sparse where the volume was zero.
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { restorePoint } from '../../agent/replication/restore-point.js'
import { type ChunkStore, openChunkStore } from '../../blockio/chunk-store/index.js'
import { ENTRY_HEADER_LENGTH, PACK_HEADER_LENGTH } from '../../blockio/chunk-store/pack-format.js'
import { BLOCK, blockMapOf, blockOf, lz4Chunk, newPoint, storeDir } from '../blockio/chunk-store/helpers.js'

const TENANT = 't1'
let store: ChunkStore
let root: string
let out: string
let remove: () => Promise<void>

/** Block 0 and 3 data, 1 and 2 zero, and a short last block. */
let image: Buffer

beforeEach(async () => {
  const dir = await storeDir()
  root = dir.root
  remove = dir.remove
  out = join(root, '..', 'out')
  await mkdir(out)
  store = await openChunkStore({ root, masterKey: dir.masterKey })
  const last = blockOf(9).subarray(0, 1000)
  image = Buffer.concat([blockOf(1), Buffer.alloc(2 * BLOCK), blockOf(2), last])
  const chunks = [blockOf(1), blockOf(2), last].map(lz4Chunk)
  await store.putChunks(TENANT, chunks)
  await store.commitPoint(
    TENANT,
    newPoint(
      'p1',
      blockMapOf([chunks[0]!.digest, undefined, undefined, chunks[1]!.digest, chunks[2]!.digest]),
      {
        volumeSize: image.length,
      },
    ),
  )
})
afterEach(async () => {
  await store.close()
  await remove()
})

describe('restorePoint', () => {
  it('restores byte-identical, verified, sparse over zero blocks', async () => {
    const target = join(out, 'disk.raw')
    const report = await restorePoint(store, TENANT, 'p1', target, { verify: true })
    expect(report).toMatchObject({ bytes: image.length, dataBlocks: 3, zeroBlocks: 2, verified: true })
    expect((await readFile(target)).equals(image)).toBe(true)
    expect((await stat(target)).blocks * 512).toBeLessThan(image.length)
    expect(await readdir(out)).toEqual(['disk.raw'])
  })

  it('refuses an existing target and leaves it as it was; overwrite replaces it', async () => {
    const target = join(out, 'disk.raw')
    await writeFile(target, 'precious')
    await expect(restorePoint(store, TENANT, 'p1', target)).rejects.toMatchObject({
      code: 'AGENT_RESTORE_TARGET_EXISTS',
      remediation: expect.stringContaining('--force'),
    })
    expect(await readFile(target, 'utf8')).toBe('precious')
    await restorePoint(store, TENANT, 'p1', target, { overwrite: true })
    expect((await readFile(target)).equals(image)).toBe(true)
    expect(await readdir(out)).toEqual(['disk.raw'])
  })

  it('an unknown point is BLOCKIO_POINT_NOT_FOUND and makes no file', async () => {
    await expect(restorePoint(store, TENANT, 'nope', join(out, 'x.raw'))).rejects.toMatchObject({
      code: 'BLOCKIO_POINT_NOT_FOUND',
    })
    expect(await readdir(out)).toEqual([])
  })

  it('a damaged chunk fails with the store’s code and removes the partial file', async () => {
    const handle = await open(join(root, 'tenants', TENANT, 'packs', '00000001.pack'), 'r+')
    try {
      const at = PACK_HEADER_LENGTH + ENTRY_HEADER_LENGTH + 3
      const byte = Buffer.alloc(1)
      await handle.read(byte, 0, 1, at)
      byte[0] = byte[0]! ^ 0x80
      await handle.write(byte, 0, 1, at)
    } finally {
      await handle.close()
    }
    await expect(restorePoint(store, TENANT, 'p1', join(out, 'x.raw'))).rejects.toMatchObject({
      code: 'BLOCKIO_CHUNK_CORRUPT',
    })
    expect(await readdir(out)).toEqual([])
  })

  it('a missing target folder is AGENT_RESTORE_WRITE_FAILED', async () => {
    await expect(restorePoint(store, TENANT, 'p1', join(out, 'no-such-dir', 'x.raw'))).rejects.toMatchObject({
      code: 'AGENT_RESTORE_WRITE_FAILED',
    })
    expect(await readdir(out)).toEqual([])
  })

  it('an abort stops the restore and removes the partial file', async () => {
    const controller = new AbortController()
    controller.abort(new Error('operator cancelled'))
    await expect(
      restorePoint(store, TENANT, 'p1', join(out, 'x.raw'), { signal: controller.signal }),
    ).rejects.toThrow('operator cancelled')
    expect(await readdir(out)).toEqual([])
  })
})
