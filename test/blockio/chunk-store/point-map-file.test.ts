import { blake3 } from '@napi-rs/blake-hash'
import { describe, expect, it } from 'vitest'
import type { PointInfo } from '../../../blockio/chunk-store/index.js'
import {
  countDataBlocks,
  decodePointMap,
  encodePointMap,
} from '../../../blockio/chunk-store/point-map-file.js'
import { BlockioError } from '../../../blockio/errors.js'
import { BLOCK, blockMapOf, blockOf } from './helpers.js'

function pointOf(digests: Uint8Array): PointInfo {
  return {
    tenant: 't1',
    pointId: 'p1',
    vmId: 'vm1',
    volumeId: 'vol1',
    jobId: 'j1',
    fencingToken: 3,
    createdAt: 1_700_000_000_000,
    volumeSize: (digests.byteLength / 32) * BLOCK,
    blockSize: BLOCK,
    blockCount: digests.byteLength / 32,
    mapDigest: blake3(digests).toString('hex'),
    dataBlocks: countDataBlocks(digests),
  }
}

const expected = { tenant: 't1', volumeId: 'vol1', pointId: 'p1' }

function codeOf(run: () => unknown): string | undefined {
  try {
    run()
    return undefined
  } catch (cause) {
    if (!(cause instanceof BlockioError)) throw cause
    return cause.code
  }
}

describe('point map files', () => {
  const digests = blockMapOf([blake3(blockOf(1)), undefined, blake3(blockOf(2))])
  const bytes = Buffer.from(encodePointMap(pointOf(digests), digests))

  it('round-trips', () => {
    const map = decodePointMap(bytes, 'p1.map', expected)
    expect(map.info).toEqual(pointOf(digests))
    expect(Buffer.from(map.digests).equals(Buffer.from(digests))).toBe(true)
  })

  it('refuses every truncation and every single flipped bit with BLOCKIO_POINT_CORRUPT', () => {
    for (let length = 0; length < bytes.byteLength; length++) {
      expect(codeOf(() => decodePointMap(bytes.subarray(0, length), 'p1.map', expected))).toBe(
        'BLOCKIO_POINT_CORRUPT',
      )
    }
    for (let at = 0; at < bytes.byteLength; at++) {
      const damaged = Buffer.from(bytes)
      damaged[at] ^= 1 << (at % 8)
      expect(codeOf(() => decodePointMap(damaged, 'p1.map', expected))).toBe('BLOCKIO_POINT_CORRUPT')
    }
  })

  it('refuses a map filed under another point, and one whose facts disagree with its block map', () => {
    expect(codeOf(() => decodePointMap(bytes, 'p2.map', { ...expected, pointId: 'p2' }))).toBe(
      'BLOCKIO_POINT_CORRUPT',
    )
    const lying = Buffer.from(encodePointMap({ ...pointOf(digests), dataBlocks: 3 }, digests))
    expect(codeOf(() => decodePointMap(lying, 'p1.map', expected))).toBe('BLOCKIO_POINT_CORRUPT')
    const wrongDigest = Buffer.from(
      encodePointMap({ ...pointOf(digests), mapDigest: '0'.repeat(64) }, digests),
    )
    expect(codeOf(() => decodePointMap(wrongDigest, 'p1.map', expected))).toBe('BLOCKIO_POINT_CORRUPT')
  })

  it('refuses an intact map of another version with BLOCKIO_STORE_VERSION', () => {
    const future = Buffer.from(bytes)
    future.writeUInt16LE(2, 6)
    const end = future.byteLength - 32
    future.set(blake3(future.subarray(0, end)), end)
    expect(codeOf(() => decodePointMap(future, 'p1.map', expected))).toBe('BLOCKIO_STORE_VERSION')
  })
})
