/**
 * Restore: materialise a recovery point as a raw image (issue "Replication end to end" §6). Every
 * block of the point's block map is read from the chunk store (decrypted, decompressed, its BLAKE3
 * checked by the reader) and written at its offset; zero blocks are not written, so the image is
 * sparse where the volume was zero. With `verify`, the finished image is read back and every block
 * hashed against the map.
 *
 * Nothing half-written: the image is built as `.<name>.partial-<hex>` beside the target and renamed
 * over it only when complete (and verified, when asked); any failure removes the partial file. An
 * existing target is replaced only at that rename, and only when `overwrite` allows it.
 */
import { randomBytes } from 'node:crypto'
import { type FileHandle, open, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { blake3 } from '@napi-rs/blake-hash'
import type { ChunkStoreReader, PointInfo } from '../../blockio/chunk-store/index.js'
import { LifeboatError } from '../../protocol/errors.js'

const DIGEST = 32

export interface RestoreOptions {
  /** Re-read the finished image and hash every block against the map. Default false. */
  verify?: boolean
  /** Replace an existing file at the target. Default false: AGENT_RESTORE_TARGET_EXISTS. */
  overwrite?: boolean
  onProgress?: (bytesDone: number, bytesTotal: number, phase: 'restore' | 'verify') => void
  signal?: AbortSignal
}

export interface RestoreReport {
  point: PointInfo
  outPath: string
  bytes: number
  dataBlocks: number
  zeroBlocks: number
  /** The image was read back and matched the map. */
  verified: boolean
}

export const RestoreErrorCode = {
  TARGET_EXISTS: 'AGENT_RESTORE_TARGET_EXISTS',
  WRITE_FAILED: 'AGENT_RESTORE_WRITE_FAILED',
  VERIFY_FAILED: 'AGENT_RESTORE_VERIFY_FAILED',
} as const

export async function restorePoint(
  reader: ChunkStoreReader,
  tenant: string,
  pointId: string,
  outPath: string,
  options: RestoreOptions = {},
): Promise<RestoreReport> {
  const map = await reader.readBlockMap(tenant, pointId)
  const { info, digests } = map
  if (!options.overwrite && (await exists(outPath))) {
    throw new LifeboatError(RestoreErrorCode.TARGET_EXISTS, `${outPath} already exists`, {
      remediation: 'Choose another --out path, or pass --force to replace the file.',
    })
  }
  const partial = join(dirname(outPath), `.${basename(outPath)}.partial-${randomBytes(8).toString('hex')}`)
  let handle: FileHandle | undefined
  try {
    handle = await open(partial, 'wx+', 0o600)
    await handle.truncate(info.volumeSize)
    let dataBlocks = 0
    let zeroBlocks = 0
    let done = 0
    for (let i = 0; i < info.blockCount; i++) {
      options.signal?.throwIfAborted()
      const digest = digests.subarray(i * DIGEST, (i + 1) * DIGEST)
      const length = Math.min(info.blockSize, info.volumeSize - i * info.blockSize)
      if (isZero(digest)) {
        zeroBlocks++
      } else {
        const chunk = await reader.readChunk(tenant, digest)
        await writeAll(handle, chunk, i * info.blockSize)
        dataBlocks++
      }
      done += length
      if (i % 64 === 63 || i === info.blockCount - 1) options.onProgress?.(done, info.volumeSize, 'restore')
    }
    await handle.sync()
    if (options.verify === true) await verifyImage(handle, info, digests, options)
    await handle.close()
    handle = undefined
    await rename(partial, outPath)
    await syncDir(dirname(outPath))
    return {
      point: info,
      outPath,
      bytes: info.volumeSize,
      dataBlocks,
      zeroBlocks,
      verified: options.verify === true,
    }
  } catch (error) {
    await handle?.close().catch(() => undefined)
    await rm(partial, { force: true }).catch(() => undefined)
    // Coded errors (the store's, ours) and an abort pass through; raw I/O failures get a code.
    if (typeof (error as { remediation?: unknown }).remediation === 'string') throw error
    if (options.signal?.aborted === true) throw error
    throw new LifeboatError(
      RestoreErrorCode.WRITE_FAILED,
      `restoring point ${pointId} to ${outPath} failed: ${(error as Error).message}`,
      {
        remediation: 'Check the target folder exists, is writable and has room for the whole volume.',
        cause: error,
      },
    )
  }
}

async function verifyImage(
  handle: FileHandle,
  info: PointInfo,
  digests: Uint8Array,
  options: RestoreOptions,
): Promise<void> {
  const buffer = Buffer.allocUnsafe(info.blockSize)
  let done = 0
  for (let i = 0; i < info.blockCount; i++) {
    options.signal?.throwIfAborted()
    const length = Math.min(info.blockSize, info.volumeSize - i * info.blockSize)
    const view = buffer.subarray(0, length)
    let read = 0
    while (read < length) {
      const { bytesRead } = await handle.read(view, read, length - read, i * info.blockSize + read)
      if (bytesRead === 0) break
      read += bytesRead
    }
    const expected = digests.subarray(i * DIGEST, (i + 1) * DIGEST)
    let good: boolean
    if (isZero(expected)) {
      good = read === length && view.every((byte) => byte === 0)
    } else {
      const actual = blake3(view.subarray(0, read))
      good = read === length && Buffer.compare(actual, expected) === 0
    }
    if (!good) {
      throw new LifeboatError(
        RestoreErrorCode.VERIFY_FAILED,
        `block ${i} of the restored image does not match point ${info.pointId}`,
        { remediation: 'Check the target disk for errors and restore again; nothing was kept.' },
      )
    }
    done += length
    if (i % 64 === 63 || i === info.blockCount - 1) options.onProgress?.(done, info.volumeSize, 'verify')
  }
}

async function writeAll(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let written = 0
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written)
    written += bytesWritten
  }
}

function isZero(digest: Uint8Array): boolean {
  for (const byte of digest) if (byte !== 0) return false
  return true
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
