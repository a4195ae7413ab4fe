/**
 * Shared set-up for chunk store tests: a fresh store folder and master key, chunks in the stored
 * forms the appliance sends (LZ4 via lz4-napi compressSync, or RAW), and block maps of them.
 */
import { randomBytes } from 'node:crypto'
import { blake3 } from '@napi-rs/blake-hash'
import { compressSync } from 'lz4-napi'
import { expect } from 'vitest'
import { ChunkEncoding, type IncomingChunk, type NewPoint } from '../../../blockio/chunk-store/index.js'
import { BlockioError } from '../../../blockio/errors.js'
import { tempDir } from '../helpers.js'

export const BLOCK = 4096

export async function storeDir(): Promise<{
  root: string
  masterKey: Uint8Array
  remove: () => Promise<void>
}> {
  const { dir, remove } = await tempDir()
  return { root: `${dir}/store`, masterKey: new Uint8Array(randomBytes(32)), remove }
}

/** A block of `length` bytes that compresses well, distinct per `seed`. */
export function blockOf(seed: number, length = BLOCK): Buffer {
  const block = Buffer.alloc(length, seed & 0xff)
  block.writeUInt32LE(seed >>> 0, 0)
  return block
}

export function lz4Chunk(plain: Buffer): IncomingChunk {
  return {
    digest: blake3(plain),
    encoding: ChunkEncoding.LZ4,
    plainLength: plain.byteLength,
    payload: compressSync(plain),
  }
}

export function rawChunk(plain: Buffer): IncomingChunk {
  return { digest: blake3(plain), encoding: ChunkEncoding.RAW, plainLength: plain.byteLength, payload: plain }
}

/** A block map naming `digests` in order; undefined names a zero block. */
export function blockMapOf(digests: ReadonlyArray<Uint8Array | undefined>): Uint8Array {
  const map = new Uint8Array(digests.length * 32)
  digests.forEach((digest, i) => {
    if (digest !== undefined) map.set(digest, i * 32)
  })
  return map
}

export function newPoint(pointId: string, blockMap: Uint8Array, extra: Partial<NewPoint> = {}): NewPoint {
  return {
    pointId,
    vmId: 'vm1',
    volumeId: 'vol1',
    jobId: `job-${pointId}`,
    fencingToken: 1,
    createdAt: Date.now(),
    volumeSize: (blockMap.byteLength / 32) * BLOCK,
    blockSize: BLOCK,
    blockMap,
    ...extra,
  }
}

/** Awaits `promise` and expects a BlockioError of `code`; returns it. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<BlockioError> {
  const error = await promise.then(
    () => undefined,
    (cause: unknown) => cause,
  )
  expect(error).toBeInstanceOf(BlockioError)
  expect((error as BlockioError).code).toBe(code)
  expect((error as BlockioError).remediation.length).toBeGreaterThan(0)
  return error as BlockioError
}
