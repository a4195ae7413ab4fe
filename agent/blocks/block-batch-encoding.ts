/**
 * The msgpack body of a BLOCK_BATCH (docs/PROTOCOL.md §9) written in one pass into a buffer of its
 * exact size: the payloads are copied once, straight from the scan's output buffers.
 *
 * Why not the codec's msgpackr: it packs into a shared buffer that grows by reallocating and
 * recopying what it holds (4× steps to 16 MiB, then 2×: a 16 MiB batch costs a new 32 MiB buffer
 * and a second copy of part of the batch), so every batch of a seed allocated and copied about twice
 * what it sent — most of the appliance main thread's allocation, and work for the GC.
 *
 * The caller may give the buffer (`take`): the sender reuses a few, each once the connector has
 * acknowledged the batch it held (volume-sender.ts), so a seed does not fault in fresh pages for
 * every batch — measured on this machine, a 16 MB batch took ≈ 5.5 ms with msgpackr, 6–10 ms
 * into a fresh buffer and ≈ 2.9 ms into a reused one.
 *
 * The bytes are exactly the codec's (test/agent/blocks/block-batch-encoding.test.ts compares them
 * with msgpackr's for every length class, and the golden fixture test/fixtures/protocol/v1/
 * block-batch.bin): a fixmap `{t, seq, records}`, each record a fixmap `{index, digest, flags,
 * payload}` in that order, unsigned integers in their shortest msgpackr form (positive fixint below
 * 0x80, then uint 8/16/32), binaries as bin 8/16/32, the array as fixarray/array 16/array 32. A
 * batch with a number this encoder does not write (a block index of 2^32 or more) gets `undefined`:
 * the caller then uses the codec. The message must already be validated (MessageChannel.sendEncoded
 * does it).
 */
import { type BlockRecord, MessageType } from '../../protocol/index.js'
import { invalidRecord } from './outgoing-records.js'

/** The message this encodes: what volume-sender.ts builds. */
export interface EncodableBlockBatch {
  t: typeof MessageType.BLOCK_BATCH
  seq: number
  records: readonly BlockRecord[]
}

const UINT32_LIMIT = 0x1_0000_0000

/** fixstr keys, each with its header byte. */
const KEY = {
  t: keyBytes('t'),
  seq: keyBytes('seq'),
  records: keyBytes('records'),
  index: keyBytes('index'),
  digest: keyBytes('digest'),
  flags: keyBytes('flags'),
  payload: keyBytes('payload'),
}

/** Bytes of one record besides its digest and payload bytes: map header, keys, length headers. */
const RECORD_FIXED_BYTES = 1 + KEY.index.length + KEY.digest.length + KEY.flags.length + KEY.payload.length

function keyBytes(key: string): Uint8Array {
  const bytes = Buffer.from(key, 'ascii')
  return Uint8Array.of(0xa0 | bytes.length, ...bytes)
}

/** Gives a buffer of at least `bytes` bytes to write a body into (default: a new one of that size). */
export type BatchBufferSource = (bytes: number) => Buffer

/**
 * The body, or undefined when a value is outside what this writes (then encode with the codec).
 * It is written at the start of the buffer `take` gives, and is a view of exactly its length.
 */
export function encodeBlockBatch(
  batch: EncodableBlockBatch,
  take: BatchBufferSource = Buffer.allocUnsafe,
): Uint8Array | undefined {
  const { records } = batch
  if (!isUint32(batch.seq)) return undefined
  let size = 1 + KEY.t.length + 1 + KEY.seq.length + uintBytes(batch.seq) + KEY.records.length
  size += arrayHeaderBytes(records.length)
  for (const record of records) {
    if (!isUint32(record.index) || !isUint32(record.flags)) return undefined
    size += RECORD_FIXED_BYTES + uintBytes(record.index) + uintBytes(record.flags)
    size += binBytes(record.digest.length) + binBytes(record.payload.length)
  }
  const target = take(size)
  if (target.length < size)
    throw invalidRecord(`batch ${batch.seq} needs ${size} bytes, its buffer has ${target.length}`)
  const out = target.length === size ? target : target.subarray(0, size)
  let at = 0
  out[at++] = 0x83
  at = put(out, at, KEY.t)
  out[at++] = MessageType.BLOCK_BATCH
  at = put(out, at, KEY.seq)
  at = putUint(out, at, batch.seq)
  at = put(out, at, KEY.records)
  at = putArrayHeader(out, at, records.length)
  for (const record of records) {
    out[at++] = 0x84
    at = put(out, at, KEY.index)
    at = putUint(out, at, record.index)
    at = put(out, at, KEY.digest)
    at = putBin(out, at, record.digest)
    at = put(out, at, KEY.flags)
    at = putUint(out, at, record.flags)
    at = put(out, at, KEY.payload)
    at = putBin(out, at, record.payload)
  }
  if (at !== size) throw invalidRecord(`batch ${batch.seq} encoded to ${at} bytes, ${size} planned`)
  return out
}

function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < UINT32_LIMIT
}

function uintBytes(value: number): number {
  if (value < 0x80) return 1
  if (value < 0x100) return 2
  if (value < 0x10000) return 3
  return 5
}

function binBytes(length: number): number {
  if (length < 0x100) return 2 + length
  if (length < 0x10000) return 3 + length
  return 5 + length
}

function arrayHeaderBytes(length: number): number {
  if (length < 0x10) return 1
  if (length < 0x10000) return 3
  return 5
}

function put(out: Buffer, at: number, bytes: Uint8Array): number {
  out.set(bytes, at)
  return at + bytes.length
}

function putUint(out: Buffer, at: number, value: number): number {
  if (value < 0x80) {
    out[at] = value
    return at + 1
  }
  if (value < 0x100) {
    out[at] = 0xcc
    out[at + 1] = value
    return at + 2
  }
  if (value < 0x10000) {
    out[at] = 0xcd
    out.writeUInt16BE(value, at + 1)
    return at + 3
  }
  out[at] = 0xce
  out.writeUInt32BE(value, at + 1)
  return at + 5
}

function putBin(out: Buffer, at: number, bytes: Uint8Array): number {
  const length = bytes.length
  if (length < 0x100) {
    out[at++] = 0xc4
    out[at++] = length
  } else if (length < 0x10000) {
    out[at] = 0xc5
    out.writeUInt16BE(length, at + 1)
    at += 3
  } else {
    out[at] = 0xc6
    out.writeUInt32BE(length, at + 1)
    at += 5
  }
  out.set(bytes, at)
  return at + length
}

function putArrayHeader(out: Buffer, at: number, length: number): number {
  if (length < 0x10) {
    out[at] = 0x90 | length
    return at + 1
  }
  if (length < 0x10000) {
    out[at] = 0xdc
    out.writeUInt16BE(length, at + 1)
    return at + 3
  }
  out[at] = 0xdd
  out.writeUInt32BE(length, at + 1)
  return at + 5
}
