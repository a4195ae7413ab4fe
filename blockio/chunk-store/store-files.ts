/**
 * File helpers of the chunk store (docs/FORMATS.md "Chunk store v1" / "Layout"): the crash-safe
 * write, folder syncs, temporary-file names, id checks, and the wrapping of raw I/O failures into
 * BLOCKIO_STORE_IO.
 *
 * A *crash-safe write* replaces a file so that after any crash either the old or the new content is
 * found, never a mix: temporary file, fsync, rename, fsync of the folder. A *temporary file* is
 * `.<target name>.tmp-<16 hex digits>` beside its target; only the writer's open ever deletes one.
 */
import { randomBytes } from 'node:crypto'
import { type FileHandle, mkdir, open, readdir, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { BlockioError, BlockioErrorCode } from '../errors.js'

export const FILE_MODE = 0o600
export const FOLDER_MODE = 0o700
const TEMP_NAME = /^\..+\.tmp-[0-9a-f]{16}$/
/** PROTOCOL.md §6 `id`: safe as a file name (no separators, never `.` or `..`). */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name)
}

/** Refuses a tenant, volume or point id that is not a protocol id (it becomes a path component). */
export function checkId(what: string, value: string): void {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new BlockioError(
      BlockioErrorCode.INVALID_OPTION,
      `${what} ${JSON.stringify(value)} is not an id (1–128 characters of A–Z a–z 0–9 . _ -, starting with a letter or digit)`,
      { remediation: `Pass a valid ${what} (docs/PROTOCOL.md "id").` },
    )
  }
}

export function errnoOf(cause: unknown): string | undefined {
  const code = (cause as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

export function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}

/** BLOCKIO_STORE_IO for a failed read or write of `path`; a BlockioError passes through unchanged. */
export function storeIo(action: string, path: string, cause: unknown): BlockioError {
  if (cause instanceof BlockioError) return cause
  return new BlockioError(
    BlockioErrorCode.STORE_IO,
    `chunk store: could not ${action} ${path}: ${describe(cause)}`,
    {
      remediation: 'Check free space, permissions and the kernel log, then retry.',
      retryable: true,
      cause,
    },
  )
}

/** Makes creations, renames and deletions in `dir` durable: Linux needs an fsync of the folder. */
export async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Creates `dir` (and parents) when absent, syncing each parent whose entries changed. */
export async function ensureFolder(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: FOLDER_MODE })
  if (first === undefined) return
  // Every folder from the first one created down to `dir` is new: sync its parent.
  let current = dir
  const created: string[] = []
  while (current.length >= first.length) {
    created.push(current)
    current = dirname(current)
  }
  for (const folder of created) await syncFolder(dirname(folder))
}

export async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0
  while (written < bytes.byteLength) {
    const { bytesWritten } = await handle.write(
      bytes,
      written,
      bytes.byteLength - written,
      position + written,
    )
    if (bytesWritten === 0) throw new Error('write made no progress')
    written += bytesWritten
  }
}

/** docs/FORMATS.md "Crash-safe write". On failure the previous file is untouched and no temp is left. */
export async function writeFileCrashSafe(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path)
  const temp = join(dir, `.${basename(path)}.tmp-${randomBytes(8).toString('hex')}`)
  let handle: FileHandle | undefined
  try {
    handle = await open(temp, 'wx', FILE_MODE)
    await writeAll(handle, bytes, 0)
    await handle.sync()
    const closing = handle
    handle = undefined
    await closing.close()
    await rename(temp, path)
    await syncFolder(dir)
  } catch (cause) {
    await handle?.close().catch(() => {})
    await rm(temp, { force: true }).catch(() => {})
    throw storeIo('write', path, cause)
  }
}

/** Removes `path` and syncs its folder; false when it did not exist. */
export async function removeFileDurably(path: string): Promise<boolean> {
  try {
    await rm(path)
  } catch (cause) {
    if (errnoOf(cause) === 'ENOENT') return false
    throw storeIo('remove', path, cause)
  }
  await syncFolder(dirname(path)).catch((cause) => {
    throw storeIo('sync the folder of', path, cause)
  })
  return true
}

/** Names in `dir`, or none when it does not exist. */
export async function listFolder(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (cause) {
    if (errnoOf(cause) === 'ENOENT') return []
    throw storeIo('list', dir, cause)
  }
}

/** Deletes temporary files left in `dir` by crashed writes. Returns how many. */
export async function removeTempFiles(dir: string): Promise<number> {
  let removed = 0
  for (const name of await listFolder(dir)) {
    if (!isTempName(name)) continue
    await rm(join(dir, name), { force: true })
    removed++
  }
  if (removed > 0) await syncFolder(dir)
  return removed
}
