/**
 * The appliance's own BLOCK_BATCH encoder (agent/blocks/block-batch-encoding.ts) must write exactly
 * the data codec's bytes: the golden fixture, and msgpackr's output for every length class of every
 * field; and what it writes decodes (msgpack subset check and validation) to the same message.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { encodeBlockBatch } from '../../../agent/blocks/block-batch-encoding.js'
import { packBody } from '../../../protocol/codec.js'
import { type BlockRecord, dataCodec, MessageType, RecordFlag } from '../../../protocol/index.js'

const FIXTURES = join(import.meta.dirname, '../../fixtures/protocol/v1')

function fromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJson)
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
    if (entries.length === 1 && entries[0]![0] === '$bin')
      return new Uint8Array(Buffer.from(entries[0]![1] as string, 'hex'))
    return Object.fromEntries(entries.map(([k, v]) => [k, fromJson(v)]))
  }
  return value
}

function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** A record; a payload of 5 bytes or more is shaped as LZ4 (its declared length 65536), so it validates. */
function record(index: number, flags: number, payloadLength: number): BlockRecord {
  const payload = bytesOf(payloadLength, index + 11)
  if (payloadLength >= 5) payload.set([0, 0, 1, 0])
  return { index, digest: bytesOf(32, index + 7), flags, payload }
}

function batch(seq: number, records: BlockRecord[]) {
  return { t: MessageType.BLOCK_BATCH, seq, records }
}

/** Same bytes as msgpackr with the codec's settings; when the batch is valid, the same decoded message. */
function expectSameAsCodec(message: ReturnType<typeof batch>, valid = true): void {
  const ours = encodeBlockBatch(message)
  expect(ours).toBeDefined()
  const codec = packBody(message)
  expect(Buffer.from(ours!).equals(Buffer.from(codec))).toBe(true)
  if (valid) expect(dataCodec.decode(ours!)).toEqual(dataCodec.decode(dataCodec.encode(message)))
}

describe('BLOCK_BATCH encoding', () => {
  it('writes the golden fixture’s body byte for byte', () => {
    const fixture = JSON.parse(readFileSync(join(FIXTURES, 'block-batch.json'), 'utf8')) as {
      message: unknown
    }
    const frame = readFileSync(join(FIXTURES, 'block-batch.bin'))
    const message = dataCodec.validate(fromJson(fixture.message) as never) as ReturnType<typeof batch>
    const body = encodeBlockBatch(message)
    expect(Buffer.from(body!).equals(frame.subarray(4))).toBe(true)
  })

  it('equals the codec for every length class of seq, index, flags and payload', () => {
    const numbers = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffff_ffff]
    for (const seq of numbers.filter((n) => n >= 1)) expectSameAsCodec(batch(seq, [record(0, 0, 10)]))
    const indexes = numbers.filter((n) => n > 0)
    expectSameAsCodec(
      batch(3, [
        { ...record(0, RecordFlag.ZERO, 0), digest: new Uint8Array(32) },
        ...indexes.map((i) => record(i, 0, 40)),
      ]),
    )
    // Flags past the known bits and a 1-byte payload are refused by validation, but still encode alike.
    expectSameAsCodec(batch(3, [record(1, 0x80, 1), record(2, 0xff, 0)]), false)
    for (const length of [0, 8, 0xff, 0x100, 0xffff, 0x10000, 70_000]) {
      const flags = length === 0 ? RecordFlag.HELD : 0
      expectSameAsCodec(batch(9, [record(5, flags, length)]))
    }
  })

  it('equals the codec for every array length class, up to a full batch of 4096 records', () => {
    for (const count of [1, 15, 16, 300, 4096]) {
      const records = Array.from({ length: count }, (_, i) =>
        record(i * 3, i % 5 === 0 ? RecordFlag.HELD : 0, 5 + ((i * 37) % 700)),
      )
      for (const r of records) if (r.flags === RecordFlag.HELD) r.payload = new Uint8Array(0)
      expectSameAsCodec(batch(count, records))
    }
  })

  it('leaves a batch with a block index of 2^32 or more to the codec (undefined)', () => {
    const message = batch(1, [record(2 ** 32, 0, 8)])
    expect(encodeBlockBatch(message)).toBeUndefined()
    expect(encodeBlockBatch(batch(2 ** 32, [record(1, 0, 8)]))).toBeUndefined()
    // The codec still encodes it, and it decodes to the same message.
    expect(dataCodec.decode(dataCodec.encode(message))).toEqual(message)
  })
})

describe('BLOCK_BATCH encoding into a given buffer', () => {
  const message = batch(7, [record(1, 0, 300), record(2, 0, 70_000)])

  it('writes at the start of a larger buffer and returns a view of exactly the body', () => {
    const expected = packBody(message)
    const buffer = Buffer.alloc(expected.length + 1000, 0xee)
    const body = encodeBlockBatch(message, () => buffer)!
    expect(body.length).toBe(expected.length)
    expect(body.buffer).toBe(buffer.buffer)
    expect(body.byteOffset).toBe(buffer.byteOffset)
    expect(Buffer.from(body).equals(Buffer.from(expected))).toBe(true)
    expect(buffer[expected.length]).toBe(0xee)
  })

  it('refuses a buffer that is too small with AGENT_BLOCKS_INVALID_RECORD, writing nothing', () => {
    const buffer = Buffer.alloc(100, 0xee)
    expect(() => encodeBlockBatch(message, () => buffer)).toThrow(
      expect.objectContaining({
        code: 'AGENT_BLOCKS_INVALID_RECORD',
        message: expect.stringMatching(/needs \d+ bytes, its buffer has 100/),
      }),
    )
    expect(buffer.every((b) => b === 0xee)).toBe(true)
  })
})
