/**
 * The store's root folder: its identity file `store.json` and the writer lock `lock`
 * (docs/FORMATS.md "Chunk store v1" / "store.json" and "Writer lock").
 *
 * The *writer lock* keeps a second connector process from writing the same store: a file created
 * exclusively that holds the writer's pid. A *stale* lock names a pid that no longer runs.
 */
import { open, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import {
  ensureFolder,
  errnoOf,
  FILE_MODE,
  listFolder,
  storeIo,
  syncFolder,
  writeFileCrashSafe,
} from './store-files.js'

// docs/FORMATS.md "Chunk store v1" / "store.json".
export const STORE_FORMAT = 'lifeboat-chunk-store'
export const STORE_VERSION = 1
export const READABLE_STORE_VERSIONS: readonly number[] = [1]
const STORE_FILE = 'store.json'
const LOCK_FILE = 'lock'
/** A lock file without a pid younger than this is taken as being written, not as stale. */
const UNWRITTEN_LOCK_GRACE_MS = 10_000
/** The largest store.json read: it holds three short fields. */
const MAX_STORE_FILE_BYTES = 64 * 1024

function notAStore(root: string, why: string): BlockioError {
  return new BlockioError(BlockioErrorCode.STORE_CORRUPT, `${root} is not a usable chunk store: ${why}`, {
    remediation: 'Point at the chunk store root folder; restore store.json from backup if it was damaged.',
  })
}

/** Checks store.json of `root`; returns false when absent. */
async function readStoreFile(root: string): Promise<boolean> {
  const path = join(root, STORE_FILE)
  let text: string
  try {
    const bytes = await readFile(path)
    if (bytes.byteLength > MAX_STORE_FILE_BYTES)
      throw notAStore(root, `${STORE_FILE} is ${bytes.byteLength} bytes`)
    text = bytes.toString('utf8')
  } catch (cause) {
    if (errnoOf(cause) === 'ENOENT') return false
    throw storeIo('read', path, cause)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw notAStore(root, `${STORE_FILE} is not JSON`)
  }
  const record = parsed as { format?: unknown; version?: unknown } | null
  if (typeof record !== 'object' || record === null || record.format !== STORE_FORMAT) {
    throw notAStore(root, `${STORE_FILE} does not name the format ${STORE_FORMAT}`)
  }
  if (!READABLE_STORE_VERSIONS.includes(record.version as number)) {
    throw new BlockioError(
      BlockioErrorCode.STORE_VERSION,
      `chunk store ${root} is of version ${String(record.version)}; this build reads version ${READABLE_STORE_VERSIONS.join(', ')}`,
      { remediation: 'Run a Lifeboat release that reads this store version.' },
    )
  }
  return true
}

/** For readers: the root must hold a valid store.json. */
export async function checkStoreRoot(root: string): Promise<void> {
  if (!(await readStoreFile(root))) throw notAStore(root, `${STORE_FILE} is missing`)
}

/** For the writer: checks store.json, or creates it in an absent or empty folder. */
export async function initStoreRoot(root: string): Promise<void> {
  if (await readStoreFile(root)) return
  await ensureFolder(root).catch((cause) => {
    throw storeIo('create', root, cause)
  })
  const names = (await listFolder(root)).filter((name) => name !== LOCK_FILE)
  if (names.length > 0) throw notAStore(root, `the folder is not empty and has no ${STORE_FILE}`)
  const record = { format: STORE_FORMAT, version: STORE_VERSION, createdAt: Date.now() }
  await writeFileCrashSafe(join(root, STORE_FILE), new TextEncoder().encode(`${JSON.stringify(record)}\n`))
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    // EPERM: the process exists but belongs to another user.
    return errnoOf(cause) !== 'ESRCH'
  }
}

/** Takes the writer lock of `root`; returns its release. */
export async function acquireWriterLock(root: string): Promise<() => Promise<void>> {
  const path = join(root, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', FILE_MODE)
      try {
        await handle.writeFile(`${process.pid}\n`)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await syncFolder(root)
      return async () => {
        await rm(path, { force: true })
      }
    } catch (cause) {
      if (errnoOf(cause) !== 'EEXIST') throw storeIo('create the writer lock', path, cause)
    }
    let holder = Number.NaN
    let age = Number.POSITIVE_INFINITY
    try {
      holder = Number.parseInt((await readFile(path, 'utf8')).trim(), 10)
      age = Date.now() - (await stat(path)).mtimeMs
    } catch (cause) {
      if (errnoOf(cause) === 'ENOENT') continue
      throw storeIo('read the writer lock', path, cause)
    }
    // No pid yet: another writer may be between creating the file and writing its pid.
    if (!Number.isSafeInteger(holder) && age < UNWRITTEN_LOCK_GRACE_MS) holder = -1
    if (holder === -1 || (Number.isSafeInteger(holder) && holder > 0 && isAlive(holder))) {
      throw new BlockioError(
        BlockioErrorCode.STORE_LOCKED,
        holder === -1
          ? `chunk store ${root} is being locked by another process right now`
          : `chunk store ${root} is locked by the live process ${holder}${holder === process.pid ? ' (this process)' : ''}`,
        {
          remediation: `Stop the other connector using this store; if none runs, remove ${path}.`,
          retryable: true,
        },
      )
    }
    // Stale (dead pid) or unreadable content: a crashed writer left it.
    await rm(path, { force: true })
  }
  throw new BlockioError(
    BlockioErrorCode.STORE_LOCKED,
    `chunk store ${root}: the writer lock keeps changing`,
    {
      remediation: 'Another process is opening this store at the same time; stop it and retry.',
      retryable: true,
    },
  )
}
