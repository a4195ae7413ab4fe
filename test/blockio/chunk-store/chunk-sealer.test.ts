/**
 * ChunkSealer on its own: a pool whose workers cannot start falls back to in-thread loudly (a
 * process warning per failure) and still checks every chunk; ranges split a call by payload bytes.
 */
import { randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { NOT_SEALED } from '../../../blockio/chunk-store/chunk-batch.js'
import { entryLengthOf, openChunk, tenantAad } from '../../../blockio/chunk-store/chunk-codec.js'
import {
  ChunkSealer,
  rangesByBytes,
  WORKERS_FAILED_WARNING,
} from '../../../blockio/chunk-store/chunk-sealer.js'
import type { IncomingChunk } from '../../../blockio/chunk-store/index.js'
import { BLOCK, expectCode, lz4Chunk } from './helpers.js'

function call(count: number): { plain: Buffer[]; chunks: IncomingChunk[] } {
  const plain = Array.from({ length: count }, () => randomBytes(BLOCK))
  return { plain, chunks: plain.map(lz4Chunk) }
}

describe('ChunkSealer', () => {
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  afterEach(() => {
    process.off('warning', onWarning)
    warnings.length = 0
  })

  it('falls back to in-thread with a warning when its workers cannot start, and still checks', async () => {
    process.on('warning', onWarning)
    const sealer = new ChunkSealer({
      workers: 2,
      workerUrl: pathToFileURL('/nonexistent/lifeboat-chunk-worker.js').href,
      inThreadMaxBytes: 0,
    })
    try {
      const dataKey = new Uint8Array(randomBytes(32))
      const keys = { dataKey, tenantBytes: tenantAad('t1') }
      const { plain, chunks } = call(40)
      const toSeal = new Uint8Array(chunks.length).fill(1)
      toSeal[3] = 0
      const sealed = await sealer.seal(chunks, toSeal, keys)
      // Allow the warning (emitted on the next tick) to arrive.
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings.some((w) => (w as { code?: string }).code === WORKERS_FAILED_WARNING)).toBe(true)
      expect(sealed.entryAt[3]).toBe(NOT_SEALED)
      const at = sealed.entryAt[5]
      const entry = sealed.output.subarray(at, at + entryLengthOf(chunks[5].payload.byteLength))
      const where = { pack: 1, offset: 16, length: entry.byteLength, plainLength: BLOCK, encoding: 0 }
      expect(
        openChunk(dataKey, tenantAad('t1'), Buffer.from(entry), chunks[5].digest, where, 'test').equals(
          plain[5],
        ),
      ).toBe(true)
      sealer.release(sealed)
      // While failed, calls run in-thread: a bad chunk is still refused.
      chunks[30] = { ...chunks[30], digest: randomBytes(32) }
      const error = await expectCode(sealer.seal(chunks, toSeal, keys), 'BLOCKIO_CHUNK_DIGEST_MISMATCH')
      expect(error.message).toMatch(/^chunk 30 of the call/)
    } finally {
      await sealer.close()
    }
    await expectCode(
      sealer.seal([], new Uint8Array(0), { dataKey: new Uint8Array(32), tenantBytes: tenantAad('t1') }),
      'BLOCKIO_STORE_CLOSED',
    )
  })

  it('splits a call into ranges of about equal payload bytes that cover it once', () => {
    const sized = (lengths: number[]) => lengths.map((n) => ({ payload: new Uint8Array(n) }) as IncomingChunk)
    expect(rangesByBytes(sized([10, 10, 10, 10]), 2)).toEqual([
      [0, 2],
      [2, 4],
    ])
    expect(rangesByBytes(sized([100, 1, 1, 1]), 2)).toEqual([
      [0, 1],
      [1, 4],
    ])
    expect(rangesByBytes(sized([5]), 2)).toEqual([[0, 1]])
    const many = rangesByBytes(sized(Array.from({ length: 97 }, (_, i) => 1 + (i % 7))), 4)
    expect(many.length).toBeLessThanOrEqual(4)
    expect(many[0][0]).toBe(0)
    expect(many.at(-1)?.[1]).toBe(97)
    for (let r = 1; r < many.length; r++) expect(many[r][0]).toBe(many[r - 1][1])
    for (const [first, end] of many) expect(end).toBeGreaterThan(first)
  })
})
