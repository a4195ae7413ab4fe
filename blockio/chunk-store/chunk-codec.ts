/**
 * One chunk on its way in and out of a pack (docs/FORMATS.md "Chunk store v1" / "Pack file").
 *
 * *Checking* an incoming chunk decompresses it (LZ4) and compares its plaintext's length and BLAKE3
 * digest with what the sender claimed (the *shape* checks need no decompression and run first).
 * *Sealing* encrypts the stored form (as sent, still compressed) with AES-256-GCM straight into a
 * chunk entry inside a caller's buffer (header, ciphertext, tag), so a whole call's entries are one
 * buffer written with one write. Checking and sealing run in chunk workers or on the main thread
 * (chunk-sealer.ts); the functions here are the same for both. *Opening* reverses it and checks
 * everything again.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto'
import { blake3 } from '@napi-rs/blake-hash'
import { uncompressSync } from 'lz4-napi'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import { ChunkEncoding, type IncomingChunk } from './chunk-store.js'
import {
  type ChunkLocation,
  DIGEST_LENGTH,
  decodeEntryHeader,
  ENTRY_HEADER_LENGTH,
  ENTRY_NONCE,
  MAX_PLAIN_LENGTH,
  NONCE_LENGTH,
  TAG_LENGTH,
  writeEntryHeader,
} from './pack-format.js'

/** LZ4 payloads start with the 4-byte LE plaintext length (lz4-napi compressSync form). */
const LZ4_PREFIX_LENGTH = 4

function invalid(position: number, why: string): BlockioError {
  return new BlockioError(
    BlockioErrorCode.CHUNK_INVALID,
    `chunk ${position} of the call: ${why}; nothing was stored`,
    {
      remediation: 'The sender built a malformed chunk: resend the batch; report it if it repeats.',
    },
  )
}

function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The plaintext of `payload` in `encoding`, or an error string. Never trusts the prefix blindly. */
function plaintextOf(encoding: number, plainLength: number, payload: Buffer): Buffer | string {
  if (encoding === ChunkEncoding.RAW) {
    return payload.byteLength === plainLength
      ? payload
      : `RAW payload of ${payload.byteLength} bytes, not ${plainLength}`
  }
  if (encoding !== ChunkEncoding.LZ4) return `unknown encoding ${encoding}`
  if (payload.byteLength <= LZ4_PREFIX_LENGTH)
    return `LZ4 payload of ${payload.byteLength} bytes is too short`
  const prefix = payload.readUInt32LE(0)
  if (prefix !== plainLength) return `LZ4 payload announces ${prefix} bytes, not ${plainLength}`
  let plain: Buffer
  try {
    plain = uncompressSync(payload)
  } catch (cause) {
    return `LZ4 payload does not decompress (${cause instanceof Error ? cause.message : String(cause)})`
  }
  return plain.byteLength === plainLength
    ? plain
    : `LZ4 payload decompresses to ${plain.byteLength} bytes, not ${plainLength}`
}

/** Why an incoming chunk is refused: CHUNK_INVALID (`invalid`) or CHUNK_DIGEST_MISMATCH (`digest`). */
export interface ChunkProblem {
  kind: 'invalid' | 'digest'
  why: string
}

/**
 * Decompresses `payload` and checks its length and BLAKE3 against `digest` (the content checks of an
 * incoming chunk, run on the main thread or in a chunk worker). Undefined when the chunk is sound.
 */
export function chunkContentProblem(
  encoding: number,
  plainLength: number,
  payload: Buffer,
  digest: Buffer,
): ChunkProblem | undefined {
  const plain = plaintextOf(encoding, plainLength, payload)
  if (typeof plain === 'string') return { kind: 'invalid', why: plain }
  // One native call; a 32-byte result is the only allocation.
  if (!blake3(plain).equals(digest)) return { kind: 'digest', why: digest.toString('hex') }
  return undefined
}

/** The shape checks that need no decompression: a reason, or undefined when the chunk may be tried. */
export function chunkShapeProblem(chunk: IncomingChunk): string | undefined {
  if (!(chunk.digest instanceof Uint8Array) || chunk.digest.byteLength !== DIGEST_LENGTH) {
    return `a digest must be ${DIGEST_LENGTH} bytes`
  }
  if (
    !Number.isSafeInteger(chunk.plainLength) ||
    chunk.plainLength < 1 ||
    chunk.plainLength > MAX_PLAIN_LENGTH
  ) {
    return `plain length ${chunk.plainLength} is outside 1–${MAX_PLAIN_LENGTH}`
  }
  if (!(chunk.payload instanceof Uint8Array)) return 'the payload is not bytes'
  if (!Number.isInteger(chunk.encoding) || chunk.encoding < 0 || chunk.encoding > 255)
    return `unknown encoding ${chunk.encoding}`
  return undefined
}

/** The error that refuses a call for `problem` at `position` (the same from a worker or in-thread). */
export function chunkProblemError(position: number, problem: ChunkProblem): BlockioError {
  if (problem.kind === 'invalid') return invalid(position, problem.why)
  return new BlockioError(
    BlockioErrorCode.CHUNK_DIGEST_MISMATCH,
    `chunk ${position} of the call does not hash to its digest ${problem.why}; nothing was stored`,
    { remediation: 'Check the appliance (memory, disk) and resend the batch.' },
  )
}

/** Throws CHUNK_INVALID or CHUNK_DIGEST_MISMATCH unless `chunk` is what it claims to be. */
export function checkIncomingChunk(chunk: IncomingChunk, position: number): void {
  const shape = chunkShapeProblem(chunk)
  if (shape !== undefined) throw invalid(position, shape)
  const problem = chunkContentProblem(
    chunk.encoding,
    chunk.plainLength,
    bufferOf(chunk.payload),
    bufferOf(chunk.digest),
  )
  if (problem !== undefined) throw chunkProblemError(position, problem)
}

/** The AAD prefix of a tenant: its UTF-8 bytes; computed once per call. */
export function tenantAad(tenant: string): Buffer {
  return Buffer.from(tenant, 'utf8')
}

/** Nonces drawn from the system's CSPRNG per refill: one call per 1,024 entries, not one per entry. */
const NONCES_PER_REFILL = 1024

/**
 * Per-thread scratch for sealing: the AAD (tenant bytes, a zero, then the entry header) is built
 * once per tenant and only its header part rewritten per chunk; random nonces are drawn in bulk
 * and each handed out once.
 */
export class SealScratch {
  #tenantBytes: Buffer = Buffer.alloc(0)
  #aad: Buffer = Buffer.alloc(1 + ENTRY_HEADER_LENGTH)
  readonly #nonces = Buffer.allocUnsafe(NONCES_PER_REFILL * NONCE_LENGTH)
  #nonceAt = this.#nonces.byteLength

  aadFor(tenantBytes: Uint8Array, header: Uint8Array): Buffer {
    if (!this.#tenantBytes.equals(tenantBytes)) {
      this.#tenantBytes = Buffer.from(tenantBytes)
      this.#aad = Buffer.alloc(tenantBytes.byteLength + 1 + ENTRY_HEADER_LENGTH)
      this.#aad.set(tenantBytes, 0)
    }
    this.#aad.set(header, this.#tenantBytes.byteLength + 1)
    return this.#aad
  }

  /** Copies a fresh random nonce (never handed out before) into `out` at `at`. */
  takeNonce(out: Buffer, at: number): void {
    if (this.#nonceAt === this.#nonces.byteLength) {
      randomFillSync(this.#nonces)
      this.#nonceAt = 0
    }
    this.#nonces.copy(out, at, this.#nonceAt, this.#nonceAt + NONCE_LENGTH)
    this.#nonceAt += NONCE_LENGTH
  }
}

/**
 * Seals `payload` (the stored form, as sent) into the chunk entry at `out[at …]`: header with a fresh
 * nonce, ciphertext, tag — entryLengthOf(payload.byteLength) bytes, ready to append.
 */
export function sealChunkInto(
  out: Buffer,
  at: number,
  dataKey: Uint8Array,
  tenantBytes: Uint8Array,
  scratch: SealScratch,
  encoding: number,
  plainLength: number,
  payload: Buffer,
  digest: Uint8Array,
): void {
  const header = out.subarray(at, at + ENTRY_HEADER_LENGTH)
  writeEntryHeader(header, encoding, plainLength, payload.byteLength, digest)
  scratch.takeNonce(header, ENTRY_NONCE)
  const cipher = createCipheriv(
    'aes-256-gcm',
    dataKey,
    header.subarray(ENTRY_NONCE, ENTRY_NONCE + NONCE_LENGTH),
  )
  cipher.setAAD(scratch.aadFor(tenantBytes, header))
  let end = at + ENTRY_HEADER_LENGTH
  end += cipher.update(payload).copy(out, end)
  end += cipher.final().copy(out, end)
  cipher.getAuthTag().copy(out, end)
}

function aadOf(tenantBytes: Buffer, header: Buffer): Buffer {
  return Buffer.concat([tenantBytes, Buffer.of(0), header])
}

export function entryLengthOf(storedLength: number): number {
  return ENTRY_HEADER_LENGTH + storedLength + TAG_LENGTH
}

/**
 * The plaintext of the chunk entry `entry` (exactly the bytes at `where`), checked against `digest`.
 * Throws CHUNK_CORRUPT naming the pack and offset.
 */
export function openChunk(
  dataKey: Uint8Array,
  tenantBytes: Buffer,
  entry: Buffer,
  digest: Uint8Array,
  where: ChunkLocation,
  packPath: string,
): Buffer {
  const corrupt = (why: string) =>
    new BlockioError(
      BlockioErrorCode.CHUNK_CORRUPT,
      `chunk ${bufferOf(digest).toString('hex')} at ${packPath} offset ${where.offset}: ${why}`,
      {
        remediation:
          'Restore from another recovery point; delete the damaged points and let the next cycle resend.',
      },
    )
  const header = decodeEntryHeader(entry)
  if (typeof header === 'string') throw corrupt(header)
  if (entryLengthOf(header.storedLength) !== entry.byteLength)
    throw corrupt('entry length disagrees with the index')
  if (!header.digest.equals(digest)) throw corrupt('the entry names another digest')
  if (header.plainLength !== where.plainLength || header.encoding !== where.encoding) {
    throw corrupt('the entry header disagrees with the index')
  }
  const decipher = createDecipheriv('aes-256-gcm', dataKey, header.nonce)
  decipher.setAAD(aadOf(tenantBytes, entry.subarray(0, ENTRY_HEADER_LENGTH)))
  decipher.setAuthTag(entry.subarray(entry.byteLength - TAG_LENGTH))
  let stored: Buffer
  try {
    const body = decipher.update(entry.subarray(ENTRY_HEADER_LENGTH, entry.byteLength - TAG_LENGTH))
    const tail = decipher.final()
    stored = tail.byteLength === 0 ? body : Buffer.concat([body, tail])
  } catch {
    throw corrupt('authentication failed (the bytes were changed, or the entry belongs to another tenant)')
  }
  const plain = plaintextOf(header.encoding, header.plainLength, stored)
  if (typeof plain === 'string') throw corrupt(plain)
  if (!blake3(plain).equals(digest)) throw corrupt('the plaintext does not hash to its digest')
  return plain
}
