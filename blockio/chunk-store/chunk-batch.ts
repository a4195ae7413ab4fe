/**
 * A putChunks call laid out in one buffer for the chunk workers (chunk-sealer.ts), and the work
 * done on any range of it.
 *
 * Words used here:
 * - A *chunk batch* is one call's chunks copied once into a SharedArrayBuffer: the call's payloads
 *   are views into the connector's frame buffer, and posting a view to a thread would clone the
 *   whole frame (notes/MEASURED-FACTS.md "piscina"), so one memcpy into shared memory lets every
 *   worker read its slice and write its output in place, with nothing copied back.
 * - Layout: a *table* of TABLE_STRIDE float64 per chunk (payload offset, payload length, plain
 *   length, encoding, output offset or NOT_SEALED), then the 32-byte digests back to back, then the
 *   payloads back to back, then the *output*: the chunk entries of the chunks to seal, in call order
 *   and back to back, so the entries of a call are one contiguous run of bytes to append.
 * - A chunk is *to seal* when the tenant does not hold it and it is its digest's first occurrence
 *   in the call; every chunk is checked either way.
 */
import {
  type ChunkProblem,
  chunkContentProblem,
  entryLengthOf,
  type SealScratch,
  sealChunkInto,
} from './chunk-codec.js'
import type { IncomingChunk } from './chunk-store.js'
import { DIGEST_LENGTH } from './pack-format.js'

export const TABLE_STRIDE = 5
const PAYLOAD_AT = 0
const PAYLOAD_LENGTH = 1
const PLAIN_LENGTH = 2
const ENCODING = 3
const OUTPUT_AT = 4
export const NOT_SEALED = -1

/** Where the parts of a chunk batch lie in its buffer. */
export interface ChunkBatchLayout {
  count: number
  digestsAt: number
  outputAt: number
  outputLength: number
  byteLength: number
}

/** A chunk that failed its check: its position in the call and why. */
export interface PositionedProblem extends ChunkProblem {
  position: number
}

/** The byte length of a batch of `chunks`, of which `toSeal` are sealed, and where its parts lie. */
export function chunkBatchLayout(chunks: readonly IncomingChunk[], toSeal: Uint8Array): ChunkBatchLayout {
  const count = chunks.length
  const digestsAt = count * TABLE_STRIDE * Float64Array.BYTES_PER_ELEMENT
  let payloadBytes = 0
  let outputLength = 0
  for (let i = 0; i < count; i++) {
    const length = chunks[i].payload.byteLength
    payloadBytes += length
    if (toSeal[i] === 1) outputLength += entryLengthOf(length)
  }
  const outputAt = digestsAt + count * DIGEST_LENGTH + payloadBytes
  return { count, digestsAt, outputAt, outputLength, byteLength: outputAt + outputLength }
}

/** Copies `chunks` into `buffer` (at least layout.byteLength bytes) as `layout` says. */
export function writeChunkBatch(
  buffer: SharedArrayBuffer,
  layout: ChunkBatchLayout,
  chunks: readonly IncomingChunk[],
  toSeal: Uint8Array,
): void {
  const table = new Float64Array(buffer, 0, layout.count * TABLE_STRIDE)
  const bytes = new Uint8Array(buffer)
  let payloadAt = layout.digestsAt + layout.count * DIGEST_LENGTH
  let outputAt = layout.outputAt
  for (let i = 0; i < layout.count; i++) {
    const chunk = chunks[i]
    const row = i * TABLE_STRIDE
    bytes.set(chunk.digest, layout.digestsAt + i * DIGEST_LENGTH)
    bytes.set(chunk.payload, payloadAt)
    table[row + PAYLOAD_AT] = payloadAt
    table[row + PAYLOAD_LENGTH] = chunk.payload.byteLength
    table[row + PLAIN_LENGTH] = chunk.plainLength
    table[row + ENCODING] = chunk.encoding
    if (toSeal[i] === 1) {
      table[row + OUTPUT_AT] = outputAt
      outputAt += entryLengthOf(chunk.payload.byteLength)
    } else table[row + OUTPUT_AT] = NOT_SEALED
    payloadAt += chunk.payload.byteLength
  }
}

/**
 * What sealing a range needs besides the batch: the tenant's data key and AAD prefix, and whether
 * the chunks were already checked by an earlier pass over the same call (then they are only sealed:
 * a new tenant's first call is checked before its key exists and sealed once it does).
 */
export interface SealKeys {
  dataKey: Uint8Array
  tenantBytes: Uint8Array
  checked?: boolean
}

/**
 * Checks chunks `first` … `end − 1` of the batch in `buffer` and seals those to seal into the
 * output. Stops at the first chunk that fails and returns it; a failed range's output is garbage.
 */
export function sealBatchRange(
  buffer: SharedArrayBuffer,
  layout: ChunkBatchLayout,
  first: number,
  end: number,
  keys: SealKeys,
  scratch: SealScratch,
): PositionedProblem | undefined {
  const table = new Float64Array(buffer, 0, layout.count * TABLE_STRIDE)
  const bytes = Buffer.from(buffer)
  for (let i = first; i < end; i++) {
    const row = i * TABLE_STRIDE
    const payloadAt = table[row + PAYLOAD_AT]
    const payload = bytes.subarray(payloadAt, payloadAt + table[row + PAYLOAD_LENGTH])
    const digestAt = layout.digestsAt + i * DIGEST_LENGTH
    const digest = bytes.subarray(digestAt, digestAt + DIGEST_LENGTH)
    const encoding = table[row + ENCODING]
    const plainLength = table[row + PLAIN_LENGTH]
    const problem =
      keys.checked === true ? undefined : chunkContentProblem(encoding, plainLength, payload, digest)
    if (problem !== undefined) return { position: i, ...problem }
    const outputAt = table[row + OUTPUT_AT]
    if (outputAt === NOT_SEALED) continue
    sealChunkInto(
      bytes,
      outputAt,
      keys.dataKey,
      keys.tenantBytes,
      scratch,
      encoding,
      plainLength,
      payload,
      digest,
    )
  }
  return undefined
}

/** One task for a chunk worker: a range of a batch. Only small values are cloned; the batch is shared. */
export interface SealTask {
  buffer: SharedArrayBuffer
  layout: ChunkBatchLayout
  first: number
  end: number
  dataKey: Uint8Array
  tenantBytes: Uint8Array
  checked?: boolean
}

/** A worker's answer: null when every chunk of the range passed (and those to seal are sealed). */
export type SealTaskResult = PositionedProblem | null

/** The entries of a call's chunks to seal: `output` holds them; `entryAt[i]` is chunk i's or NOT_SEALED. */
export interface SealedChunks {
  output: Buffer
  entryAt: ArrayLike<number>
}

/** The bytes sealInThread writes for `chunks`. */
export function sealedLength(chunks: readonly IncomingChunk[], toSeal: Uint8Array): number {
  let outputLength = 0
  for (let i = 0; i < chunks.length; i++)
    if (toSeal[i] === 1) outputLength += entryLengthOf(chunks[i].payload.byteLength)
  return outputLength
}

/**
 * The in-thread way: checks and seals on this thread, straight from the caller's buffers, into
 * `output` (at least sealedLength bytes).
 */
export function sealInThread(
  chunks: readonly IncomingChunk[],
  toSeal: Uint8Array,
  keys: SealKeys,
  scratch: SealScratch,
  output: Buffer,
): SealedChunks | PositionedProblem {
  const entryAt = new Float64Array(chunks.length)
  let at = 0
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]
    const payload = bufferOf(chunk.payload)
    const problem =
      keys.checked === true
        ? undefined
        : chunkContentProblem(chunk.encoding, chunk.plainLength, payload, bufferOf(chunk.digest))
    if (problem !== undefined) return { position: i, ...problem }
    if (toSeal[i] !== 1) {
      entryAt[i] = NOT_SEALED
      continue
    }
    entryAt[i] = at
    sealChunkInto(
      output,
      at,
      keys.dataKey,
      keys.tenantBytes,
      scratch,
      chunk.encoding,
      chunk.plainLength,
      payload,
      chunk.digest,
    )
    at += entryLengthOf(payload.byteLength)
  }
  return { output: output.subarray(0, at), entryAt }
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The output of a batch sealed by workers, as SealedChunks (offsets relative to `output`). */
export function sealedFromBatch(buffer: SharedArrayBuffer, layout: ChunkBatchLayout): SealedChunks {
  const table = new Float64Array(buffer, 0, layout.count * TABLE_STRIDE)
  const entryAt = new Float64Array(layout.count)
  for (let i = 0; i < layout.count; i++) {
    const at = table[i * TABLE_STRIDE + OUTPUT_AT]
    entryAt[i] = at === NOT_SEALED ? NOT_SEALED : at - layout.outputAt
  }
  return { output: Buffer.from(buffer, layout.outputAt, layout.outputLength), entryAt }
}
