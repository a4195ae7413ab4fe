import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createMasterKeyFile,
  openChunkStore,
  openChunkStoreReader,
  readMasterKeyFile,
} from '../../../blockio/chunk-store/index.js'
import { blockMapOf, blockOf, expectCode, lz4Chunk, newPoint, storeDir } from './helpers.js'

describe('chunk store: keys and store identity', () => {
  let root: string
  let masterKey: Uint8Array
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ root, masterKey, remove } = await storeDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('creates a 0600 master key file, reads it back, and refuses to replace it', async () => {
    await mkdir(root, { recursive: true })
    const path = join(root, '..', 'master.key')
    const key = await createMasterKeyFile(path)
    expect(key.byteLength).toBe(32)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(Buffer.from(await readMasterKeyFile(path)).equals(Buffer.from(key))).toBe(true)
    await expectCode(createMasterKeyFile(path), 'BLOCKIO_KEY_FILE_INVALID')
  })

  it('refuses a master key file of the wrong size, too open permissions, or none', async () => {
    const path = join(root, '..', 'master.key')
    await expectCode(readMasterKeyFile(path), 'BLOCKIO_KEY_FILE_INVALID')
    await writeFile(path, randomBytes(31), { mode: 0o600 })
    expect((await expectCode(readMasterKeyFile(path), 'BLOCKIO_KEY_FILE_INVALID')).message).toMatch(
      /31 bytes/,
    )
    await writeFile(path, randomBytes(32))
    await chmod(path, 0o640)
    expect((await expectCode(readMasterKeyFile(path), 'BLOCKIO_KEY_FILE_INVALID')).message).toMatch(
      /mode 640/,
    )
    await chmod(path, 0o600)
    expect((await readMasterKeyFile(path)).byteLength).toBe(32)
  })

  it('refuses a wrong master key with BLOCKIO_KEY_INVALID, writer and reader alike', async () => {
    const store = await openChunkStore({ root, masterKey })
    const a = lz4Chunk(blockOf(1))
    await store.putChunks('t1', [a])
    await store.commitPoint('t1', newPoint('p1', blockMapOf([a.digest])))
    await store.close()
    const wrong = new Uint8Array(randomBytes(32))
    await expectCode(openChunkStore({ root, masterKey: wrong }), 'BLOCKIO_KEY_INVALID')
    await expectCode(openChunkStoreReader({ root, masterKey: wrong }), 'BLOCKIO_KEY_INVALID')
    await expectCode(openChunkStore({ root, masterKey: wrong.subarray(0, 16) }), 'BLOCKIO_INVALID_OPTION')
    // The failed open released the lock: the right key opens.
    const again = await openChunkStore({ root, masterKey })
    expect((await again.checkPoint('t1', 'p1')).problems).toEqual([])
    await again.close()
  })

  it('refuses to make a new key over a tenant whose key file is gone', async () => {
    const store = await openChunkStore({ root, masterKey })
    await store.putChunks('t1', [lz4Chunk(blockOf(1))])
    await store.close()
    await rm(join(root, 'tenants', 't1', 'key'))
    const again = await openChunkStore({ root, masterKey })
    await expectCode(again.putChunks('t1', [lz4Chunk(blockOf(2))]), 'BLOCKIO_KEY_MISSING')
    await expectCode(again.readChunk('t1', lz4Chunk(blockOf(1)).digest), 'BLOCKIO_KEY_MISSING')
    await again.close()
  })

  it('refuses a damaged store.json, an unknown version, and a foreign non-empty folder', async () => {
    const store = await openChunkStore({ root, masterKey })
    await store.close()
    const path = join(root, 'store.json')
    const record = JSON.parse(await readFile(path, 'utf8'))
    expect(record).toMatchObject({ format: 'lifeboat-chunk-store', version: 1 })
    await writeFile(path, '{"format":"lifeboat-chunk-store","vers')
    await expectCode(openChunkStore({ root, masterKey }), 'BLOCKIO_STORE_CORRUPT')
    await expectCode(openChunkStoreReader({ root, masterKey }), 'BLOCKIO_STORE_CORRUPT')
    await writeFile(path, JSON.stringify({ ...record, version: 2 }))
    const error = await expectCode(openChunkStore({ root, masterKey }), 'BLOCKIO_STORE_VERSION')
    expect(error.message).toMatch(/version 2/)
    await writeFile(path, JSON.stringify({ ...record, format: 'something-else' }))
    await expectCode(openChunkStore({ root, masterKey }), 'BLOCKIO_STORE_CORRUPT')
    const foreign = join(root, '..', 'foreign')
    await mkdir(foreign)
    await writeFile(join(foreign, 'photo.jpg'), 'x')
    await expectCode(openChunkStore({ root: foreign, masterKey }), 'BLOCKIO_STORE_CORRUPT')
  })
})
