/**
 * The chunk store (docs/FORMATS.md "Chunk store v1"): the contract (chunk-store.ts), the writer and
 * reader over a folder, and the master key file.
 */
import { BlockioError, BlockioErrorCode } from '../errors.js'
import { DEFAULT_CHUNK_WORKERS, MAX_CHUNK_WORKERS } from './chunk-sealer.js'
import { DEFAULT_PACK_SIZE_LIMIT, FileChunkStore } from './file-chunk-store.js'
import { FileChunkStoreReader } from './file-chunk-store-reader.js'
import { checkMasterKey } from './master-key-file.js'
import { acquireWriterLock, checkStoreRoot, initStoreRoot } from './store-root.js'
import { FileTenantKeyring, type TenantKeyring } from './tenant-keyring.js'

export { DEFAULT_CHUNK_WORKERS, MAX_CHUNK_WORKERS } from './chunk-sealer.js'
export * from './chunk-store.js'
export { DEFAULT_PACK_SIZE_LIMIT } from './file-chunk-store.js'
export { createMasterKeyFile, MASTER_KEY_LENGTH, readMasterKeyFile } from './master-key-file.js'
export { FileTenantKeyring, type TenantKeyring } from './tenant-keyring.js'

/** The smallest pack size limit (tests use small packs to exercise rolling and rewriting). */
export const MIN_PACK_SIZE_LIMIT = 4096

export interface ChunkStoreInit {
  /** The store's root folder; created (with store.json) when absent or empty. */
  root: string
  /** 32 bytes: wraps every tenant's data key (readMasterKeyFile). */
  masterKey: Uint8Array
  /** A pack is closed once it reaches this many bytes. Default DEFAULT_PACK_SIZE_LIMIT (64 MiB). */
  packSizeLimit?: number
  /** Hands out tenant data keys; default: key files in the tenants' folders, wrapped by masterKey. */
  keyring?: TenantKeyring
  /**
   * Chunk worker threads that check and encrypt putChunks calls (chunk-sealer.ts), started with the
   * first large call; 0 does it on the main thread. Default DEFAULT_CHUNK_WORKERS (2).
   */
  workers?: number
}

export interface ChunkStoreReaderInit {
  root: string
  masterKey: Uint8Array
  keyring?: TenantKeyring
}

/**
 * Opens the store as its one writer: takes the writer lock (BLOCKIO_STORE_LOCKED when a live process
 * holds it), removes leftovers of crashed writes and loads every tenant's index.
 */
export async function openChunkStore(init: ChunkStoreInit): Promise<FileChunkStore> {
  checkMasterKey(init.masterKey)
  const packSizeLimit = init.packSizeLimit ?? DEFAULT_PACK_SIZE_LIMIT
  if (!Number.isSafeInteger(packSizeLimit) || packSizeLimit < MIN_PACK_SIZE_LIMIT) {
    throw new BlockioError(
      BlockioErrorCode.INVALID_OPTION,
      `packSizeLimit ${packSizeLimit} is not an integer of at least ${MIN_PACK_SIZE_LIMIT}`,
      {
        remediation: `Pass a pack size limit of at least ${MIN_PACK_SIZE_LIMIT} bytes, or leave the default.`,
      },
    )
  }
  const workers = init.workers ?? DEFAULT_CHUNK_WORKERS
  if (!Number.isSafeInteger(workers) || workers < 0 || workers > MAX_CHUNK_WORKERS) {
    throw new BlockioError(
      BlockioErrorCode.INVALID_OPTION,
      `workers ${workers} is not an integer from 0 to ${MAX_CHUNK_WORKERS}`,
      {
        remediation:
          'Pass 0 (check and encrypt on the main thread), a small thread count, or leave the default.',
      },
    )
  }
  await initStoreRoot(init.root)
  const releaseLock = await acquireWriterLock(init.root)
  try {
    const keyring = init.keyring ?? new FileTenantKeyring(init.root, init.masterKey)
    return await FileChunkStore.openWriter(init.root, keyring, packSizeLimit, releaseLock, { workers })
  } catch (cause) {
    await releaseLock().catch(() => {})
    throw cause
  }
}

/** Opens the store read-only, without the writer lock (restore, check). */
export async function openChunkStoreReader(init: ChunkStoreReaderInit): Promise<FileChunkStoreReader> {
  checkMasterKey(init.masterKey)
  await checkStoreRoot(init.root)
  return FileChunkStoreReader.open(
    init.root,
    init.keyring ?? new FileTenantKeyring(init.root, init.masterKey),
  )
}
