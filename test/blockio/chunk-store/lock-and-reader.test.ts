import { spawnSync } from 'node:child_process'
import { readFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openChunkStore, openChunkStoreReader } from '../../../blockio/chunk-store/index.js'
import { blockMapOf, blockOf, expectCode, lz4Chunk, newPoint, storeDir } from './helpers.js'

describe('chunk store: writer lock and readers', () => {
  let root: string
  let masterKey: Uint8Array
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ root, masterKey, remove } = await storeDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('refuses a second writer while the first is open, and admits one after close', async () => {
    const first = await openChunkStore({ root, masterKey })
    const error = await expectCode(openChunkStore({ root, masterKey }), 'BLOCKIO_STORE_LOCKED')
    expect(error.message).toContain(String(process.pid))
    expect(error.remediation).toContain(join(root, 'lock'))
    expect(error.retryable).toBe(true)
    await first.close()
    await first.close() // idempotent
    const second = await openChunkStore({ root, masterKey })
    await second.close()
  })

  it('takes over a stale lock left by a dead process', async () => {
    const store = await openChunkStore({ root, masterKey })
    await store.close()
    // A pid that ran and exited: its lock is stale.
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
    await writeFile(join(root, 'lock'), `${child.stdout.toString()}\n`)
    const again = await openChunkStore({ root, masterKey })
    expect((await readFile(join(root, 'lock'), 'utf8')).trim()).toBe(String(process.pid))
    await again.close()
  })

  it('waits out a lock file without a pid while it is young, and takes it over once old', async () => {
    const store = await openChunkStore({ root, masterKey })
    await store.close()
    const lock = join(root, 'lock')
    await writeFile(lock, '')
    const error = await expectCode(openChunkStore({ root, masterKey }), 'BLOCKIO_STORE_LOCKED')
    expect(error.message).toMatch(/being locked/)
    const past = new Date(Date.now() - 60_000)
    await utimes(lock, past, past)
    const again = await openChunkStore({ root, masterKey })
    await again.close()
  })

  it('lets a reader open beside the writer, read points, and see chunks and points added later', async () => {
    const writer = await openChunkStore({ root, masterKey })
    const a = lz4Chunk(blockOf(1))
    await writer.putChunks('t1', [a])
    const p1 = await writer.commitPoint('t1', newPoint('p1', blockMapOf([a.digest])))
    const reader = await openChunkStoreReader({ root, masterKey })
    expect(await reader.listPoints('t1')).toEqual([p1])
    expect(Buffer.from(await reader.readChunk('t1', a.digest)).equals(blockOf(1))).toBe(true)
    const b = lz4Chunk(blockOf(2))
    await writer.putChunks('t1', [b])
    await writer.putChunks('t2', [a])
    const p2 = await writer.commitPoint(
      't1',
      newPoint('p2', blockMapOf([b.digest]), { createdAt: p1.createdAt + 1 }),
    )
    expect(await reader.listPoints('t1')).toEqual([p1, p2])
    expect((await reader.checkPoint('t1', 'p2')).problems).toEqual([])
    expect(Buffer.from(await reader.readChunk('t2', a.digest)).equals(blockOf(1))).toBe(true)
    await expectCode(reader.readChunk('t1', lz4Chunk(blockOf(3)).digest), 'BLOCKIO_CHUNK_MISSING')
    await reader.close()
    await writer.close()
  })

  it('refuses a reader on a folder that is not a store', async () => {
    await expectCode(openChunkStoreReader({ root, masterKey }), 'BLOCKIO_STORE_CORRUPT')
  })
})
