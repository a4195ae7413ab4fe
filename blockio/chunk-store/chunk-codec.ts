/**
 * One chunk on its way in and out of a pack (docs/FORMATS.md "Chunk store v1" / "Pack file").
 *
 * *Checking* an incoming chunk decompresses it (LZ4) and compares its plaintext's length and BLAKE3
 * digest with what the sender claimed. *Sealing* encrypts the stored form (as sent, still
 * compressed) with AES-256-GCM into the three pieces of a chunk entry, so they can be written with
 * one writev and no further copy. *Opening* reverses it and checks everything again.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { blake3 } from '@napi-rs/blake-hash'
import { uncompressSync } from 'lz4-napi'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import { ChunkEncoding, type IncomingChunk } from './chunk-store.js'
import {
  type ChunkLocation,
  DIGEST_LENGTH,
  decodeEntryHeader,
  ENTRY_HEADER_LENGTH,
  encodeEntryHeader,
  MAX_PLAIN_LENGTH,
  NONCE_LENGTH,
  TAG_LENGTH,
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

/** Throws CHUNK_INVALID or CHUNK_DIGEST_MISMATCH unless `chunk` is what it claims to be. */
export function checkIncomingChunk(chunk: IncomingChunk, position: number): void {
  if (!(chunk.digest instanceof Uint8Array) || chunk.digest.byteLength !== DIGEST_LENGTH) {
    throw invalid(position, `a digest must be ${DIGEST_LENGTH} bytes`)
  }
  if (
    !Number.isSafeInteger(chunk.plainLength) ||
    chunk.plainLength < 1 ||
    chunk.plainLength > MAX_PLAIN_LENGTH
  ) {
    throw invalid(position, `plain length ${chunk.plainLength} is outside 1–${MAX_PLAIN_LENGTH}`)
  }
  if (!(chunk.payload instanceof Uint8Array)) throw invalid(position, 'the payload is not bytes')
  const plain = plaintextOf(chunk.encoding, chunk.plainLength, bufferOf(chunk.payload))
  if (typeof plain === 'string') throw invalid(position, plain)
  if (!blake3(plain).equals(chunk.digest)) {
    throw new BlockioError(
      BlockioErrorCode.CHUNK_DIGEST_MISMATCH,
      `chunk ${position} of the call does not hash to its digest ${bufferOf(chunk.digest).toString('hex')}; nothing was stored`,
      { remediation: 'Check the appliance (memory, disk) and resend the batch.' },
    )
  }
}

function aadOf(tenantBytes: Buffer, header: Buffer): Buffer {
  return Buffer.concat([tenantBytes, Buffer.of(0), header])
}

/** The AAD prefix of a tenant: its UTF-8 bytes; computed once per call. */
export function tenantAad(tenant: string): Buffer {
  return Buffer.from(tenant, 'utf8')
}

/** The header, ciphertext and tag of `chunk`'s entry; their lengths sum to the entry length. */
export function sealChunk(dataKey: Uint8Array, tenantBytes: Buffer, chunk: IncomingChunk): Buffer[] {
  const nonce = randomBytes(NONCE_LENGTH)
  const payload = bufferOf(chunk.payload)
  const header = encodeEntryHeader(chunk.encoding, chunk.plainLength, payload.byteLength, nonce, chunk.digest)
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonce)
  cipher.setAAD(aadOf(tenantBytes, header))
  const body = cipher.update(payload)
  const tail = cipher.final()
  const tag = cipher.getAuthTag()
  return tail.byteLength === 0 ? [header, body, tag] : [header, body, tail, tag]
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
