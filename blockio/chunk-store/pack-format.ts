/**
 * Byte layouts of pack files and their index files (docs/FORMATS.md "Chunk store v1" / "Pack file"
 * and "Index file"). Pure encode and decode; tenant-packs.ts puts them on disk.
 *
 * A *chunk entry* is one encrypted chunk in a pack: a 64-byte header, the ciphertext, the GCM tag.
 * An *index entry* (64 bytes, with its own short checksum) says where a digest's chunk entry lies.
 */
import { blake3 } from '@napi-rs/blake-hash'

export const DIGEST_LENGTH = 32

// docs/FORMATS.md "Pack file <n>.pack".
export const PACK_MAGIC = Buffer.from('LBPAK\0', 'latin1')
export const PACK_VERSION = 1
export const PACK_HEADER_LENGTH = 16
export const ENTRY_MAGIC = Buffer.from('LBCE', 'latin1')
export const ENTRY_HEADER_LENGTH = 64
export const TAG_LENGTH = 16
export const NONCE_LENGTH = 12
const ENTRY_ENCODING = 4
const ENTRY_PLAIN_LENGTH = 8
const ENTRY_STORED_LENGTH = 12
export const ENTRY_NONCE = 16
export const ENTRY_DIGEST = 28
/** The largest plaintext of a chunk: MAX_BLOCK_SIZE (16 MiB). */
export const MAX_PLAIN_LENGTH = 16 * 1024 * 1024

// docs/FORMATS.md "Index file <n>.idx".
export const INDEX_MAGIC = Buffer.from('LBIDC\0', 'latin1')
export const INDEX_VERSION = 1
export const INDEX_HEADER_LENGTH = 16
export const INDEX_ENTRY_LENGTH = 64
const INDEX_CHECKED_LENGTH = 60

/** Where one chunk lies. `pack` is the pack number; `offset`/`length` cover the whole chunk entry. */
export interface ChunkLocation {
  pack: number
  offset: number
  length: number
  plainLength: number
  encoding: number
}

export interface IndexEntry extends ChunkLocation {
  digest: Uint8Array
}

export function packFileName(pack: number): string {
  return `${String(pack).padStart(8, '0')}.pack`
}

export function indexFileName(pack: number): string {
  return `${String(pack).padStart(8, '0')}.idx`
}

/** The pack number of a `.pack` or `.idx` name, or undefined for any other name. */
export function packNumberOf(name: string, suffix: '.pack' | '.idx'): number | undefined {
  if (!name.endsWith(suffix)) return undefined
  const digits = name.slice(0, -suffix.length)
  return /^[0-9]{8}$/.test(digits) ? Number(digits) : undefined
}

/** The 16-byte header of a pack (`magic`) or index file. */
export function encodeFileHeader(magic: Buffer, version: number, pack: number): Buffer {
  const out = Buffer.alloc(16)
  magic.copy(out, 0)
  out.writeUInt16LE(version, 6)
  out.writeUInt32LE(pack, 8)
  return out
}

/** Whether `bytes` is the header of that kind of file for pack `pack`. */
export function isFileHeader(bytes: Buffer, magic: Buffer, version: number, pack: number): boolean {
  return (
    bytes.byteLength >= 16 &&
    bytes.subarray(0, 6).equals(magic) &&
    bytes.readUInt16LE(6) === version &&
    bytes.readUInt32LE(8) === pack
  )
}

/** A chunk entry's header; the nonce and digest are copied in. */
export function encodeEntryHeader(
  encoding: number,
  plainLength: number,
  storedLength: number,
  nonce: Uint8Array,
  digest: Uint8Array,
): Buffer {
  const out = Buffer.allocUnsafe(ENTRY_HEADER_LENGTH)
  writeEntryHeader(out, encoding, plainLength, storedLength, digest)
  out.set(nonce, ENTRY_NONCE)
  return out
}

/** Writes a chunk entry's header into `out` (ENTRY_HEADER_LENGTH bytes) but for its nonce. */
export function writeEntryHeader(
  out: Buffer,
  encoding: number,
  plainLength: number,
  storedLength: number,
  digest: Uint8Array,
): void {
  out.fill(0, 0, ENTRY_HEADER_LENGTH)
  ENTRY_MAGIC.copy(out, 0)
  out[ENTRY_ENCODING] = encoding
  out.writeUInt32LE(plainLength, ENTRY_PLAIN_LENGTH)
  out.writeUInt32LE(storedLength, ENTRY_STORED_LENGTH)
  out.set(digest, ENTRY_DIGEST)
}

export interface EntryHeader {
  encoding: number
  plainLength: number
  storedLength: number
  nonce: Buffer
  digest: Buffer
}

/** The header of the chunk entry at the start of `bytes`, or a reason it is not one. */
export function decodeEntryHeader(bytes: Buffer): EntryHeader | string {
  if (bytes.byteLength < ENTRY_HEADER_LENGTH) return 'entry shorter than its header'
  if (!bytes.subarray(0, 4).equals(ENTRY_MAGIC)) return 'no entry magic'
  return {
    encoding: bytes[ENTRY_ENCODING],
    plainLength: bytes.readUInt32LE(ENTRY_PLAIN_LENGTH),
    storedLength: bytes.readUInt32LE(ENTRY_STORED_LENGTH),
    nonce: bytes.subarray(ENTRY_NONCE, ENTRY_NONCE + NONCE_LENGTH),
    digest: bytes.subarray(ENTRY_DIGEST, ENTRY_DIGEST + DIGEST_LENGTH),
  }
}

export function encodeIndexEntry(entry: IndexEntry, out: Buffer, at: number): void {
  out.fill(0, at, at + INDEX_ENTRY_LENGTH)
  out.set(entry.digest, at)
  out.writeBigUInt64LE(BigInt(entry.offset), at + 32)
  out.writeUInt32LE(entry.length, at + 40)
  out.writeUInt32LE(entry.plainLength, at + 44)
  out[at + 48] = entry.encoding
  const sum = blake3(out.subarray(at, at + INDEX_CHECKED_LENGTH))
  out.set(sum.subarray(0, 4), at + INDEX_CHECKED_LENGTH)
}

/** The index entry at `at`, or undefined when its checksum fails (a torn or damaged entry). */
export function decodeIndexEntry(bytes: Buffer, at: number, pack: number): IndexEntry | undefined {
  const sum = blake3(bytes.subarray(at, at + INDEX_CHECKED_LENGTH))
  if (!sum.subarray(0, 4).equals(bytes.subarray(at + INDEX_CHECKED_LENGTH, at + INDEX_ENTRY_LENGTH)))
    return undefined
  const offset = Number(bytes.readBigUInt64LE(at + 32))
  if (!Number.isSafeInteger(offset)) return undefined
  return {
    digest: bytes.subarray(at, at + DIGEST_LENGTH),
    pack,
    offset,
    length: bytes.readUInt32LE(at + 40),
    plainLength: bytes.readUInt32LE(at + 44),
    encoding: bytes[at + 48],
  }
}
