/**
 * A block index on disk, docs/FORMATS.md "Block index" / "Reading" and "Writing". The *target* is
 * the index file's path; a *temporary file* `.<name>.tmp-<16 hex digits>` beside it receives each
 * new index before it is renamed over the target, so the previous index survives any failure.
 *
 * The byte layout lives in blockio/block-index-codec.ts; encode and decode are re-exported here so
 * callers have one module for "block index files".
 */
import { randomBytes } from 'node:crypto'
import { type FileHandle, open, readdir, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { BlockIndex } from './block-index.js'
import {
  decodeBlockIndex,
  encodeBlockIndex,
  encodedIndexLength,
  MAX_INDEX_BLOCK_COUNT,
} from './block-index-codec.js'
import { BlockioError, BlockioErrorCode } from './errors.js'

export { decodeBlockIndex, encodeBlockIndex } from './block-index-codec.js'

/** The largest file readBlockIndexFile accepts: an index of MAX_INDEX_BLOCK_COUNT blocks. */
export const MAX_INDEX_FILE_BYTES = encodedIndexLength(MAX_INDEX_BLOCK_COUNT)
/** One write() call moves at most 1 GiB (Linux caps a single write near 2 GiB). */
const MAX_IO_CHUNK = 1024 * 1024 * 1024
/** Index files hold plaintext digests, which can confirm a guess of a block's content. */
const INDEX_FILE_MODE = 0o600
const TEMP_MARKER = '.tmp-'
const TEMP_SUFFIX = /^[0-9a-f]{16}$/

function tempPrefix(target: string): string {
  return `.${basename(target)}${TEMP_MARKER}`
}

/**
 * Replaces the index file at `path` with `index`, crash-safely: encode, write a temporary file in
 * the same directory, fsync it, rename it over `path`, fsync the directory. On failure the previous
 * file at `path` is untouched, the temporary file is removed, and the error is INDEX_WRITE_FAILED
 * (INVALID_OPTION when the index itself is too large to encode, before any I/O).
 */
export async function writeBlockIndexFile(path: string, index: BlockIndex): Promise<void> {
  const bytes = encodeBlockIndex(index)
  const dir = dirname(path)
  const temp = join(dir, `${tempPrefix(path)}${randomBytes(8).toString('hex')}`)
  let handle: FileHandle | undefined
  try {
    handle = await open(temp, 'wx', INDEX_FILE_MODE)
    await writeAll(handle, bytes)
    await handle.sync()
    const closing = handle
    handle = undefined
    await closing.close()
    await rename(temp, path)
  } catch (cause) {
    await handle?.close().catch(() => {})
    await rm(temp, { force: true }).catch(() => {})
    throw new BlockioError(
      BlockioErrorCode.INDEX_WRITE_FAILED,
      `block index ${path} could not be written: ${describe(cause)}; the previous index is unchanged`,
      {
        remediation: 'Check that the directory exists, is writable and has free space.',
        retryable: true,
        cause,
      },
    )
  }
  try {
    await syncDirectory(dir)
  } catch (cause) {
    throw new BlockioError(
      BlockioErrorCode.INDEX_WRITE_FAILED,
      `block index ${path} was written but its directory could not be synced: ${describe(cause)}`,
      {
        remediation: 'Check the file system for I/O errors; write the index again before relying on it.',
        retryable: true,
        cause,
      },
    )
  }
  await removeLeftoverTempFiles(path)
}

/**
 * The index stored at `path`. Rejects with INDEX_MISSING when there is no file, INDEX_UNREADABLE
 * when it cannot be read, and as decodeBlockIndex does for a damaged or foreign file.
 */
export async function readBlockIndexFile(path: string): Promise<BlockIndex> {
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (cause) {
    throw unreadable(path, cause)
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) {
      throw new BlockioError(BlockioErrorCode.INDEX_UNREADABLE, `block index ${path} is not a regular file`, {
        remediation: 'Point the scan at the index file itself, not a directory or device.',
      })
    }
    if (stat.size > MAX_INDEX_FILE_BYTES) {
      throw new BlockioError(
        BlockioErrorCode.INDEX_CORRUPT,
        `block index ${path}: ${stat.size} bytes is larger than any block index (${MAX_INDEX_FILE_BYTES})`,
        { remediation: 'Move the file aside; the next scan then hashes the whole volume.' },
      )
    }
    const bytes = Buffer.allocUnsafe(stat.size)
    let filled = 0
    while (filled < bytes.byteLength) {
      const want = Math.min(MAX_IO_CHUNK, bytes.byteLength - filled)
      const { bytesRead } = await handle.read(bytes, filled, want, filled)
      // A file cut short while we read it: decode the part we have, which fails its checksum.
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return decodeBlockIndex(bytes.subarray(0, filled), path)
  } catch (cause) {
    if (cause instanceof BlockioError) throw cause
    throw unreadable(path, cause)
  } finally {
    await handle.close().catch(() => {})
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0
  while (written < bytes.byteLength) {
    const want = Math.min(MAX_IO_CHUNK, bytes.byteLength - written)
    const { bytesWritten } = await handle.write(bytes, written, want, written)
    if (bytesWritten === 0) throw new Error('write made no progress')
    written += bytesWritten
  }
}

/** Makes a rename in `dir` durable: Linux needs an fsync of the directory itself. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Temporary files of earlier writes to `target` that crashed before their rename. Best effort. */
async function removeLeftoverTempFiles(target: string): Promise<void> {
  const prefix = tempPrefix(target)
  const dir = dirname(target)
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return
  }
  for (const name of names) {
    if (name.startsWith(prefix) && TEMP_SUFFIX.test(name.slice(prefix.length))) {
      await rm(join(dir, name), { force: true }).catch(() => {})
    }
  }
}

function unreadable(path: string, cause: unknown): BlockioError {
  if (errnoOf(cause) === 'ENOENT') {
    return new BlockioError(BlockioErrorCode.INDEX_MISSING, `block index ${path} does not exist`, {
      remediation: 'Run a full scan first (the first scan of a volume writes its index), or check the path.',
      cause,
    })
  }
  const errno = errnoOf(cause)
  return new BlockioError(
    BlockioErrorCode.INDEX_UNREADABLE,
    `block index ${path} could not be read: ${describe(cause)}`,
    {
      remediation: 'Check the path and the permissions of the index file.',
      retryable: errno === 'EIO' || errno === 'EAGAIN',
      cause,
    },
  )
}

function errnoOf(cause: unknown): string | undefined {
  const code = (cause as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}
