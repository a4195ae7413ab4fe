/**
 * putChunks checked and sealed in chunk workers (blockio/chunk-store/chunk-sealer.ts): calls large
 * enough to leave the main thread, refusals from a worker, the same files as in-thread, close()
 * with calls in flight, and a pool that cannot start. Needs the compiled worker (`npx tsc` first).
 */
import { randomBytes } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { IN_THREAD_MAX_BYTES } from '../../../blockio/chunk-store/chunk-sealer.js'
import { type IncomingChunk, openChunkStore } from '../../../blockio/chunk-store/index.js'
import {
  ENTRY_HEADER_LENGTH,
  ENTRY_NONCE,
  NONCE_LENGTH,
  PACK_HEADER_LENGTH,
} from '../../../blockio/chunk-store/pack-format.js'
import { BlockioError } from '../../../blockio/errors.js'
import { BLOCK, expectCode, lz4Chunk, rawChunk, storeDir } from './helpers.js'

/** A call of `count` 4 KiB chunks of random bytes (LZ4 barely shrinks them): well over the in-thread limit. */
function largeCall(count: number): { plain: Buffer[]; chunks: IncomingChunk[] } {
  const plain = Array.from({ length: count }, () => randomBytes(BLOCK))
  const chunks = plain.map((block, i) => (i % 3 === 2 ? rawChunk(block) : lz4Chunk(block)))
  return { plain, chunks }
}

function plainBytes(chunks: readonly IncomingChunk[]): number {
  return chunks.reduce((sum, chunk) => sum + chunk.plainLength, 0)
}

async function packFolderFiles(root: string, tenant: string): Promise<string[]> {
  return (await readdir(join(root, 'tenants', tenant, 'packs')).catch(() => [])).sort()
}

describe('chunk store: chunk workers', () => {
  let root: string
  let masterKey: Uint8Array
  let remove: () => Promise<void>
  beforeEach(async () => {
    ;({ root, masterKey, remove } = await storeDir())
  })
  afterEach(async () => {
    await remove()
  })

  it('refuses a whole large call for a bad chunk found by a worker, naming the lowest position', async () => {
    const store = await openChunkStore({ root, masterKey, workers: 2 })
    try {
      const first = largeCall(1)
      await store.putChunks('t1', first.chunks)
      const packsBefore = await packFolderFiles(root, 't1')
      const sizesBefore = await Promise.all(
        packsBefore.map((name) => readFile(join(root, 'tenants', 't1', 'packs', name))),
      )
      const { chunks } = largeCall(160)
      expect(plainBytes(chunks)).toBeGreaterThan(IN_THREAD_MAX_BYTES)
      // One bad digest in each worker's half; the call reports the lower one.
      chunks[140] = { ...chunks[140], digest: chunks[0].digest }
      chunks[41] = { ...chunks[41], digest: randomBytes(32) }
      const error = await expectCode(store.putChunks('t1', chunks), 'BLOCKIO_CHUNK_DIGEST_MISMATCH')
      expect(error.message).toMatch(/^chunk 41 of the call/)
      for (const chunk of chunks) expect(store.hasChunk('t1', chunk.digest)).toBe(false)
      // A garbled LZ4 payload late in the call: CHUNK_INVALID from the worker.
      const { chunks: again } = largeCall(160)
      const garbled = Buffer.from(
        again[150].encoding === 0 ? again[150].payload : lz4Chunk(randomBytes(BLOCK)).payload,
      )
      garbled.fill(0xff, 4)
      again[150] = { ...again[150], encoding: 0, payload: garbled }
      await expectCode(store.putChunks('t1', again), 'BLOCKIO_CHUNK_INVALID')
      for (const chunk of again) expect(store.hasChunk('t1', chunk.digest)).toBe(false)
      // Nothing of either call reached a pack or an index.
      const packsAfter = await packFolderFiles(root, 't1')
      expect(packsAfter).toEqual(packsBefore)
      const sizesAfter = await Promise.all(
        packsAfter.map((name) => readFile(join(root, 'tenants', 't1', 'packs', name))),
      )
      expect(sizesAfter.map((bytes) => bytes.byteLength)).toEqual(
        sizesBefore.map((bytes) => bytes.byteLength),
      )
      // The store still takes a good large call afterwards.
      const good = largeCall(160)
      await store.putChunks('t1', good.chunks)
      expect(Buffer.from(await store.readChunk('t1', good.chunks[123].digest)).equals(good.plain[123])).toBe(
        true,
      )
    } finally {
      await store.close()
    }
  })

  it("refuses a new tenant's bad large call without making its key or packs", async () => {
    const store = await openChunkStore({ root, masterKey, workers: 2 })
    try {
      const { chunks } = largeCall(120)
      chunks[100] = { ...chunks[100], digest: randomBytes(32) }
      await expectCode(store.putChunks('fresh', chunks), 'BLOCKIO_CHUNK_DIGEST_MISMATCH')
      expect(await readdir(join(root, 'tenants')).catch(() => [])).not.toContain('fresh')
    } finally {
      await store.close()
    }
  })

  it('writes the same index files and entry headers with workers: 0 and workers: 2', async () => {
    const { plain, chunks } = largeCall(200)
    // A duplicate inside the call is stored once either way.
    chunks.push(chunks[7])
    plain.push(plain[7])
    const files: Array<{ index: Buffer; pack: Buffer }> = []
    for (const workers of [0, 2]) {
      const dir = join(root, `w${workers}`)
      const store = await openChunkStore({ root: dir, masterKey, workers })
      try {
        await store.putChunks('t1', chunks.slice(0, 50))
        await store.putChunks('t1', chunks)
        for (let i = 0; i < chunks.length; i += 17) {
          expect(Buffer.from(await store.readChunk('t1', chunks[i].digest)).equals(plain[i])).toBe(true)
        }
      } finally {
        await store.close()
      }
      const packs = join(dir, 'tenants', 't1', 'packs')
      expect(await readdir(packs)).toEqual(['00000001.idx', '00000001.pack'])
      files.push({
        index: await readFile(join(packs, '00000001.idx')),
        pack: await readFile(join(packs, '00000001.pack')),
      })
    }
    const [inThread, inWorkers] = files
    expect(inWorkers.index.equals(inThread.index)).toBe(true)
    expect(inWorkers.pack.byteLength).toBe(inThread.pack.byteLength)
    // Entry headers agree but for their random nonces; ciphertexts differ with the nonces.
    let at = PACK_HEADER_LENGTH
    let entries = 0
    while (at < inThread.pack.byteLength) {
      const a = Buffer.from(inThread.pack.subarray(at, at + ENTRY_HEADER_LENGTH))
      const b = Buffer.from(inWorkers.pack.subarray(at, at + ENTRY_HEADER_LENGTH))
      expect(
        a
          .subarray(ENTRY_NONCE, ENTRY_NONCE + NONCE_LENGTH)
          .equals(b.subarray(ENTRY_NONCE, ENTRY_NONCE + NONCE_LENGTH)),
      ).toBe(false)
      a.fill(0, ENTRY_NONCE, ENTRY_NONCE + NONCE_LENGTH)
      b.fill(0, ENTRY_NONCE, ENTRY_NONCE + NONCE_LENGTH)
      expect(b.equals(a)).toBe(true)
      at += ENTRY_HEADER_LENGTH + a.readUInt32LE(12) + 16
      entries++
    }
    expect(at).toBe(inThread.pack.byteLength)
    expect(entries).toBe(200)
  })

  it.each([
    ['at once', false],
    ['once the first call is stored', true],
  ])(
    'close() %s with calls in flight: each call is stored whole or refused, then the workers end',
    async (_when, afterFirst) => {
      const store = await openChunkStore({ root, masterKey, workers: 2 })
      await store.putChunks('t1', largeCall(1).chunks)
      const calls = [largeCall(120), largeCall(120), largeCall(120)]
      const outcomes = calls.map((call) =>
        store.putChunks('t1', call.chunks).then(
          () => 'stored' as const,
          (error: unknown) => error,
        ),
      )
      // Either before any call reached its workers, or with the pool warm and the others in flight.
      if (afterFirst) expect(await outcomes[0]).toBe('stored')
      await store.close()
      const settled = await Promise.all(outcomes)
      for (const outcome of settled) {
        if (outcome === 'stored') continue
        expect(outcome).toBeInstanceOf(BlockioError)
        expect((outcome as BlockioError).code).toBe('BLOCKIO_STORE_CLOSED')
      }
      await expectCode(store.putChunks('t1', largeCall(120).chunks), 'BLOCKIO_STORE_CLOSED')
      // Each call is in the store whole, or not at all.
      const reader = await openChunkStore({ root, masterKey, workers: 2 })
      try {
        settled.forEach((outcome, c) => {
          const held = calls[c].chunks.map((chunk) => reader.hasChunk('t1', chunk.digest))
          expect(held.every((h) => h === (outcome === 'stored'))).toBe(true)
        })
        const stored = settled.indexOf('stored')
        if (stored >= 0) {
          const read = await reader.readChunk('t1', calls[stored].chunks[99].digest)
          expect(Buffer.from(read).equals(calls[stored].plain[99])).toBe(true)
        }
      } finally {
        await reader.close()
      }
    },
  )

  it('refuses a workers option that is not a small whole number', async () => {
    for (const workers of [-1, 1.5, 1000, Number.NaN]) {
      await expectCode(openChunkStore({ root, masterKey, workers }), 'BLOCKIO_INVALID_OPTION')
    }
  })
})
