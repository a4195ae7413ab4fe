import { blake3 as referenceBlake3 } from '@noble/hashes/blake3.js'
import { describe, expect, it } from 'vitest'
import { BlockIndex } from '../../blockio/block-index.js'
import { decodeBlockIndex, encodeBlockIndex } from '../../blockio/block-index-codec.js'
import { randomIndex, seeded } from './helpers.js'

const BLOCK = 4096

/** A valid encoding of a 5-block index with a short last block. */
function sample(): Uint8Array {
  return encodeBlockIndex(randomIndex(seeded(99), 4 * BLOCK + 300, BLOCK))
}

/** `bytes` with its trailing checksum recomputed, as a file written by another (or buggy) writer. */
function resealed(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes)
  copy.set(referenceBlake3(copy.subarray(0, copy.byteLength - 32)), copy.byteLength - 32)
  return copy
}

function decodeError(bytes: Uint8Array): { code: string; message: string } {
  try {
    decodeBlockIndex(bytes, 'idx')
  } catch (error) {
    return error as { code: string; message: string }
  }
  throw new Error('decoded a file that should have been refused')
}

describe('block index decoder refuses damaged and foreign files', () => {
  it('refuses a file truncated at any of several lengths with INDEX_CORRUPT', () => {
    const bytes = sample()
    for (const length of [0, 1, 5, 6, 8, 39, 40, 63, 64, 100, bytes.byteLength - 33, bytes.byteLength - 1]) {
      const error = decodeError(bytes.subarray(0, length))
      expect(error.code, `length ${length}`).toBe('BLOCKIO_INDEX_CORRUPT')
      expect(error.message).toContain('idx')
    }
  })

  it('refuses a file with one bit flipped in the header, digests, flags or checksum', () => {
    const bytes = sample()
    const n = 5
    const positions = [
      ['magic', 2],
      ['version', 6],
      ['algorithm', 8],
      ['block size', 13],
      ['volume size', 16],
      ['block count', 24],
      ['first digest', 32],
      ['last digest', 32 + 32 * n - 1],
      ['flags', 32 + 32 * n + 2],
      ['checksum', bytes.byteLength - 1],
    ] as const
    for (const [where, at] of positions) {
      for (const bit of [0, 7]) {
        const damaged = new Uint8Array(bytes)
        damaged[at] ^= 1 << bit
        expect(decodeError(damaged).code, `${where} bit ${bit}`).toBe('BLOCKIO_INDEX_CORRUPT')
      }
    }
  })

  it('refuses a file that is not a block index (wrong magic)', () => {
    const bytes = new Uint8Array(sample())
    bytes.set(Buffer.from('PK\x03\x04'), 0)
    const error = decodeError(bytes)
    expect(error.code).toBe('BLOCKIO_INDEX_CORRUPT')
    expect(error.message).toContain('not a block index')
    expect(decodeError(new Uint8Array(1000)).code).toBe('BLOCKIO_INDEX_CORRUPT')
  })

  it('refuses an intact file of a future or unknown version with INDEX_VERSION naming both versions', () => {
    for (const version of [2, 0, 65535]) {
      const bytes = new Uint8Array(sample())
      new DataView(bytes.buffer).setUint16(6, version, true)
      const error = decodeError(resealed(bytes))
      expect(error.code).toBe('BLOCKIO_INDEX_VERSION')
      expect(error.message).toContain(`version ${version}`)
      expect(error.message).toContain('reads version 1')
    }
  })

  it('refuses a future version whose layout differs entirely (only the frame is shared)', () => {
    const future = new Uint8Array(8 + 11 + 32)
    future.set(Buffer.from('LBIDX\0', 'latin1'), 0)
    new DataView(future.buffer).setUint16(6, 3, true)
    expect(decodeError(resealed(future)).code).toBe('BLOCKIO_INDEX_VERSION')
  })

  it('refuses intact files whose version-1 header breaks a rule', () => {
    const cases: Array<[string, (view: DataView) => void]> = [
      ['digest algorithm', (v) => v.setUint8(8, 2)],
      ['digest length', (v) => v.setUint8(9, 16)],
      ['reserved', (v) => v.setUint16(10, 1, true)],
      ['block size not a power of two', (v) => v.setUint32(12, 5000, true)],
      ['block size too small', (v) => v.setUint32(12, 2048, true)],
      ['block size too large', (v) => v.setUint32(12, 32 * 1024 * 1024, true)],
      ['volume size too large', (v) => v.setBigUint64(16, 2n ** 60n, true)],
      ['volume size disagrees with block count', (v) => v.setBigUint64(16, BigInt(10 * BLOCK), true)],
      ['block count disagrees', (v) => v.setBigUint64(24, 6n, true)],
      [
        'block count above the limit',
        (v) => {
          v.setBigUint64(16, BigInt((2 ** 26 + 1) * BLOCK), true)
          v.setBigUint64(24, BigInt(2 ** 26 + 1), true)
        },
      ],
    ]
    for (const [label, edit] of cases) {
      const bytes = new Uint8Array(sample())
      edit(new DataView(bytes.buffer))
      expect(decodeError(resealed(bytes)).code, label).toBe('BLOCKIO_INDEX_CORRUPT')
    }
  })

  it('refuses an intact file whose length does not match its block count', () => {
    const bytes = sample()
    const longer = new Uint8Array(bytes.byteLength + 33)
    longer.set(bytes.subarray(0, bytes.byteLength - 32))
    expect(decodeError(resealed(longer)).code).toBe('BLOCKIO_INDEX_CORRUPT')
    expect(decodeError(resealed(bytes.slice(0, 60))).code).toBe('BLOCKIO_INDEX_CORRUPT')
  })

  it('refuses unknown flag bits even under a valid checksum', () => {
    const index = new BlockIndex(2 * BLOCK, BLOCK)
    const bytes = new Uint8Array(encodeBlockIndex(index))
    bytes[32 + 64 + 1] = 0x04
    const error = decodeError(resealed(bytes))
    expect(error.code).toBe('BLOCKIO_INDEX_CORRUPT')
    expect(error.message).toContain('block 1 has unknown flag bits 0x04')
  })

  it('survives random garbage and random damage without crashing or decoding', () => {
    const random = seeded(1234)
    const bytes = sample()
    for (let k = 0; k < 300; k++) {
      const damaged = new Uint8Array(bytes)
      const flips = 1 + Math.floor(random() * 4)
      for (let f = 0; f < flips; f++)
        damaged[Math.floor(random() * damaged.byteLength)] ^= 1 + Math.floor(random() * 255)
      // Two flips of one byte can cancel out; such a case is not damage.
      if (Buffer.from(damaged).equals(bytes)) continue
      expect(decodeError(damaged).code).toMatch(/^BLOCKIO_INDEX_(CORRUPT|VERSION)$/)
    }
  })
})
