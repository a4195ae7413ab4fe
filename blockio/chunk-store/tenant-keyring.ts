/**
 * Tenant data keys (docs/FORMATS.md "Chunk store v1" / "Master key and tenant data keys").
 *
 * A *data key* (32 bytes) encrypts one tenant's chunks; it is *wrapped* (AES-256-GCM under the
 * master key, the tenant id as AAD) in `tenants/<tenant>/key`. The store asks a `TenantKeyring` for
 * keys so that a later key-management service can hand them out instead of these files.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import { checkMasterKey } from './master-key-file.js'
import { ensureFolder, errnoOf, storeIo, writeFileCrashSafe } from './store-files.js'

export interface TenantKeyring {
  /** The tenant's data key; undefined when it has none yet. Throws KEY_INVALID when it cannot unwrap. */
  dataKey(tenant: string): Promise<Uint8Array | undefined>
  /** The tenant's data key, made and stored durably when it has none. Writer only. */
  createDataKey(tenant: string): Promise<Uint8Array>
}

// docs/FORMATS.md "Master key and tenant data keys".
const KEY_MAGIC = Buffer.from('LBTKY\0', 'latin1')
const KEY_VERSION = 1
const NONCE_OFFSET = 8
const WRAPPED_OFFSET = 20
const TAG_OFFSET = 52
export const KEY_FILE_LENGTH = 68
export const DATA_KEY_LENGTH = 32
const AAD_PREFIX = 'lifeboat-tenant-key-v1\0'

function aadOf(tenant: string): Buffer {
  return Buffer.from(AAD_PREFIX + tenant, 'utf8')
}

export function wrapDataKey(masterKey: Uint8Array, tenant: string, dataKey: Uint8Array): Uint8Array {
  const out = Buffer.alloc(KEY_FILE_LENGTH)
  KEY_MAGIC.copy(out, 0)
  out.writeUInt16LE(KEY_VERSION, 6)
  const nonce = randomBytes(12)
  nonce.copy(out, NONCE_OFFSET)
  const cipher = createCipheriv('aes-256-gcm', masterKey, nonce)
  cipher.setAAD(aadOf(tenant))
  const wrapped = Buffer.concat([cipher.update(dataKey), cipher.final()])
  wrapped.copy(out, WRAPPED_OFFSET)
  cipher.getAuthTag().copy(out, TAG_OFFSET)
  return out
}

export function unwrapDataKey(
  masterKey: Uint8Array,
  tenant: string,
  file: Uint8Array,
  path: string,
): Uint8Array {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength)
  const damaged = (why: string) =>
    new BlockioError(BlockioErrorCode.KEY_INVALID, `tenant key ${path} ${why}`, {
      remediation:
        'Configure the master key file this store was created with, or restore the key file from backup.',
    })
  if (bytes.byteLength !== KEY_FILE_LENGTH || !bytes.subarray(0, 6).equals(KEY_MAGIC)) {
    throw damaged(`is not a wrapped key (${bytes.byteLength} bytes)`)
  }
  if (bytes.readUInt16LE(6) !== KEY_VERSION)
    throw damaged(`has version ${bytes.readUInt16LE(6)}, not ${KEY_VERSION}`)
  const decipher = createDecipheriv('aes-256-gcm', masterKey, bytes.subarray(NONCE_OFFSET, WRAPPED_OFFSET))
  decipher.setAAD(aadOf(tenant))
  decipher.setAuthTag(bytes.subarray(TAG_OFFSET))
  try {
    return new Uint8Array(
      Buffer.concat([decipher.update(bytes.subarray(WRAPPED_OFFSET, TAG_OFFSET)), decipher.final()]),
    )
  } catch {
    throw damaged(
      'does not unwrap with the configured master key (a different master key, or a damaged file)',
    )
  }
}

/** Keys in `<root>/tenants/<tenant>/key`, unwrapped once and kept in memory. */
export class FileTenantKeyring implements TenantKeyring {
  readonly #root: string
  readonly #masterKey: Uint8Array
  readonly #keys = new Map<string, Uint8Array>()

  constructor(root: string, masterKey: Uint8Array) {
    checkMasterKey(masterKey)
    this.#root = root
    this.#masterKey = new Uint8Array(masterKey)
  }

  #path(tenant: string): string {
    return join(this.#root, 'tenants', tenant, 'key')
  }

  async dataKey(tenant: string): Promise<Uint8Array | undefined> {
    const known = this.#keys.get(tenant)
    if (known !== undefined) return known
    const path = this.#path(tenant)
    let file: Uint8Array
    try {
      file = await readFile(path)
    } catch (cause) {
      if (errnoOf(cause) === 'ENOENT') return undefined
      throw storeIo('read', path, cause)
    }
    const key = unwrapDataKey(this.#masterKey, tenant, file, path)
    this.#keys.set(tenant, key)
    return key
  }

  async createDataKey(tenant: string): Promise<Uint8Array> {
    const existing = await this.dataKey(tenant)
    if (existing !== undefined) return existing
    const key = new Uint8Array(randomBytes(DATA_KEY_LENGTH))
    const path = this.#path(tenant)
    await ensureFolder(join(this.#root, 'tenants', tenant)).catch((cause) => {
      throw storeIo('create the folder of', path, cause)
    })
    await writeFileCrashSafe(path, wrapDataKey(this.#masterKey, tenant, key))
    this.#keys.set(tenant, key)
    return key
  }
}
