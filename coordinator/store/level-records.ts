/**
 * Record access for the classic-level store: putting a record, getting and listing records with
 * their codecs, following the two global indexes (node directory, token hashes) to the tenant record
 * they name, and turning LevelDB's own errors into coded store errors.
 *
 * An *index entry* is a global record that points into a tenant's sublevel. Index entries and the
 * records they name are always written in the same batch, so an entry that points at nothing, or at
 * a record that does not point back, can only come from corruption and is reported as STORE_CORRUPT.
 */
import { LifeboatError } from '../../protocol/errors.js'
import { corrupt, notOpen, StoreError, StoreErrorCode } from './errors.js'
import * as layout from './level-layout.js'
import type { Node } from './metadata-store.js'
import type { StoreDatabase, StoreOperation } from './migrations.js'
import type { RecordReader } from './pending-writes.js'

export function put(key: string, record: object): StoreOperation {
  return { type: 'put', key, value: layout.encodeRecord(record) }
}

export async function getRecord<T>(
  db: RecordReader,
  key: string,
  decode: layout.RecordCodec<T>,
): Promise<T | undefined> {
  const raw = await db.get(key)
  return raw === undefined ? undefined : decode(key, raw)
}

export async function listRecords<T>(
  db: StoreDatabase,
  prefix: string,
  decode: layout.RecordCodec<T>,
): Promise<T[]> {
  const records: T[] = []
  for await (const [key, raw] of db.iterator(layout.prefixRange(prefix))) records.push(decode(key, raw))
  return records
}

/** The node with this id in any tenant, through the directory; a dangling entry is corruption. */
export async function findNode(db: RecordReader, nodeId: string): Promise<Node | undefined> {
  const directoryKey = layout.nodeDirectoryKey(nodeId)
  const entry = await getRecord(db, directoryKey, layout.decodeNodeDirectoryEntry)
  if (entry === undefined) return undefined
  const node = await getRecord(db, layout.nodeKey(entry.tenantId, nodeId), layout.decodeNode)
  if (node === undefined || node.id !== nodeId || node.tenantId !== entry.tenantId) {
    throw corrupt(`${directoryKey} names tenant ${entry.tenantId}, which holds no such node`)
  }
  return node
}

/** The token with this secret hash, through the hash entries; a dangling entry is corruption. */
export async function findToken(
  db: StoreDatabase,
  secretHash: string,
): Promise<layout.StoredToken | undefined> {
  const hashKey = layout.tokenHashKey(secretHash)
  const entry = await getRecord(db, hashKey, layout.decodeTokenHashEntry)
  if (entry === undefined) return undefined
  const token = await getRecord(db, layout.tokenKey(entry.tenantId, entry.tokenId), layout.decodeToken)
  if (token === undefined || token.secretHash !== secretHash) {
    throw corrupt(
      `${hashKey} names token ${entry.tokenId} of tenant ${entry.tenantId}, which does not match it`,
    )
  }
  return token
}

/** Coded errors pass through; LevelDB's own become STORE_NOT_OPEN, STORE_CORRUPT or STORE_IO_FAILED. */
export function toStoreError(error: unknown, what: string): LifeboatError {
  if (error instanceof LifeboatError) return error
  const code = (error as { code?: unknown } | null)?.code
  if (code === 'LEVEL_DATABASE_NOT_OPEN') return notOpen()
  if (code === 'LEVEL_CORRUPTION') return corrupt(`LevelDB reports corruption while ${what}`, error)
  return new StoreError(
    StoreErrorCode.IO_FAILED,
    `${what} failed: ${(error as Error)?.message ?? String(error)}`,
    {
      remediation: 'Check the disk holding the coordinator store (space, permissions, health), then retry.',
      retryable: true,
      cause: error,
    },
  )
}

export function openError(error: unknown, location: string): StoreError {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause
  if (cause?.code === 'LEVEL_LOCKED') {
    return new StoreError(
      StoreErrorCode.LOCKED,
      `the metadata store at ${location} is open in another process`,
      {
        remediation:
          'Stop the other coordinator using this directory, or give this one its own store directory.',
        retryable: true,
        cause: error,
      },
    )
  }
  if (cause?.code === 'LEVEL_CORRUPTION') {
    return corrupt(`LevelDB cannot open ${location}: ${String(cause.message)}`, error)
  }
  return new StoreError(
    StoreErrorCode.IO_FAILED,
    `the metadata store at ${location} cannot be opened: ${String(cause?.message ?? (error as Error)?.message)}`,
    {
      remediation: 'Check that the directory exists or can be created, and that this user may write to it.',
      retryable: true,
      cause: error,
    },
  )
}
