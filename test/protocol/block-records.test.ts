import { blake3 } from '@noble/hashes/blake3.js'
import { compressSync, uncompressSync } from 'lz4-napi'
import { describe, expect, it } from 'vitest'
import {
  type BlockBatch,
  type BlockRecord,
  blockLengthOf,
  buildHeldBitmap,
  type Commit,
  checkBatchForVolume,
  heldBitmapLength,
  isHeld,
  lz4DeclaredLength,
  MessageType,
  type OpenVolume,
  ProtocolErrorCode,
  RecordFlag,
  unusedBitsClear,
  VolumeMismatchError,
  ZERO_DIGEST,
} from '../../protocol/index.js'
import { exampleBlocks, examples } from './message-examples.js'

const open = examples.find((e) => e.name === 'open-volume')!.message as OpenVolume
const batch = examples.find((e) => e.name === 'block-batch')!.message as BlockBatch
const commit = examples.find((e) => e.name === 'commit')!.message as Commit

function mismatch(records: BlockRecord[], detail: RegExp): void {
  let error: unknown
  try {
    checkBatchForVolume({ seq: 5, records }, open)
  } catch (e) {
    error = e
  }
  expect(error).toBeInstanceOf(VolumeMismatchError)
  expect(error).toMatchObject({
    code: ProtocolErrorCode.VOLUME_MISMATCH,
    fatal: false,
    reType: MessageType.BLOCK_BATCH,
    reId: 5,
  })
  expect((error as Error).message).toMatch(detail)
}

describe('checkBatchForVolume', () => {
  it('accepts the example batch for the example volume', () => {
    expect(() => checkBatchForVolume(batch, open)).not.toThrow()
  })

  it('refuses a block past the end of the volume', () => {
    mismatch([{ ...batch.records[1], index: 4 }], /block 4\) is past the volume's 4 blocks/)
  })

  it('refuses a raw payload that is not exactly the block’s length (the last block is short)', () => {
    mismatch([{ ...batch.records[3], payload: new Uint8Array(4096) }], /4096 raw bytes, the block has 100/)
    mismatch([{ ...batch.records[3], index: 0 }], /100 raw bytes, the block has 4096/)
  })

  it('refuses an LZ4 payload that declares another length or does not shrink the block', () => {
    const lz4 = batch.records[0]
    mismatch([{ ...lz4, index: 3 }], /does not shrink|declares 4096 bytes, the block has 100/)
    const wrongLength = new Uint8Array(lz4.payload)
    wrongLength[0] = 0x01
    mismatch([{ ...lz4, payload: wrongLength }], /declares 4097 bytes/)
    const big = new Uint8Array(4096)
    big.set([0x00, 0x10, 0x00, 0x00])
    mismatch([{ ...lz4, payload: big }], /does not shrink/)
  })

  it('does not look at payloads of ZERO and HELD records', () => {
    expect(() =>
      checkBatchForVolume({ seq: 1, records: [batch.records[1], batch.records[2]] }, open),
    ).not.toThrow()
  })
})

describe('block lengths', () => {
  it('are the block size except for a short last block, and 0 past the end', () => {
    expect([0, 1, 2, 3, 4].map((i) => blockLengthOf(open, i))).toEqual([4096, 4096, 4096, 100, 0])
  })
})

describe('the example volume is internally consistent (so its golden fixtures mean something)', () => {
  it('the LZ4 payload is lz4-napi compressSync output of block 0, whose BLAKE3 is its digest', () => {
    const text = Buffer.from(exampleBlocks.block0Text)
    const block0 = Buffer.alloc(exampleBlocks.block0Length)
    for (let i = 0; i < block0.length; i++) block0[i] = text[i % text.length]
    const payload = batch.records[0].payload
    expect(lz4DeclaredLength(payload)).toBe(block0.length)
    expect(Buffer.from(uncompressSync(Buffer.from(payload)))).toEqual(block0)
    expect(compressSync(block0).length).toBeLessThan(block0.length)
    expect(Buffer.from(blake3(block0))).toEqual(Buffer.from(batch.records[0].digest))
  })

  it('the raw block and the ZERO record follow their rules, and the map digest covers all four blocks', () => {
    expect(batch.records[3].flags).toBe(RecordFlag.RAW)
    expect(Buffer.from(blake3(exampleBlocks.block3))).toEqual(Buffer.from(batch.records[3].digest))
    expect(batch.records[1].flags).toBe(RecordFlag.ZERO)
    expect(batch.records[1].digest).toEqual(ZERO_DIGEST)
    const map = Buffer.concat(batch.records.map((r) => r.digest))
    expect(Buffer.from(blake3(map))).toEqual(Buffer.from(commit.summary.mapDigest))
    expect(commit.summary.payloadBytes).toBe(batch.records.reduce((sum, r) => sum + r.payload.length, 0))
  })
})

describe('held bitmaps', () => {
  it('set bit i%8 of byte i/8, least significant first', () => {
    const bitmap = buildHeldBitmap(11, (i) => i === 0 || i === 9 || i === 10)
    expect([...bitmap]).toEqual([0b0000_0001, 0b0000_0110])
    expect(heldBitmapLength(11)).toBe(2)
    expect(Array.from({ length: 12 }, (_, i) => isHeld(bitmap, i))).toEqual([
      true,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      false,
      true,
      true,
      false,
    ])
    expect(isHeld(bitmap, 1000)).toBe(false)
  })

  it('detect bits set past the count', () => {
    expect(unusedBitsClear(new Uint8Array([0b0111]), 3)).toBe(true)
    expect(unusedBitsClear(new Uint8Array([0b1111]), 3)).toBe(false)
    expect(unusedBitsClear(new Uint8Array([0xff]), 8)).toBe(true)
  })
})
