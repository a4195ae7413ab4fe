/**
 * The master key file (docs/FORMATS.md "Chunk store v1" / "Master key and tenant data keys"): exactly
 * 32 random bytes, mode 0600, named in the connector's configuration. The *master key* wraps every
 * tenant's data key; it never encrypts chunks itself.
 */
import { randomBytes } from 'node:crypto'
import { open } from 'node:fs/promises'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import { describe, errnoOf, writeFileCrashSafe } from './store-files.js'

export const MASTER_KEY_LENGTH = 32
/** Group and other permission bits: any of them set refuses the file. */
const GROUP_OTHER_BITS = 0o077

function invalid(path: string, why: string, remediation: string, cause?: unknown): BlockioError {
  return new BlockioError(BlockioErrorCode.KEY_FILE_INVALID, `master key file ${path}: ${why}`, {
    remediation,
    cause,
  })
}

/** Reads and checks the master key file: 32 bytes, no group or other permissions. */
export async function readMasterKeyFile(path: string): Promise<Uint8Array> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(path, 'r')
  } catch (cause) {
    throw invalid(
      path,
      errnoOf(cause) === 'ENOENT' ? 'does not exist' : `cannot be opened: ${describe(cause)}`,
      'Create it with createMasterKeyFile (lifeboat connector setup), or fix the configured path.',
      cause,
    )
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile())
      throw invalid(path, 'is not a regular file', 'Point the configuration at the key file itself.')
    if ((stat.mode & GROUP_OTHER_BITS) !== 0) {
      throw invalid(
        path,
        `has mode ${(stat.mode & 0o777).toString(8).padStart(3, '0')}: group or others may access it`,
        `Run chmod 600 ${path}; consider the key exposed if others could read it.`,
      )
    }
    if (stat.size !== MASTER_KEY_LENGTH) {
      throw invalid(
        path,
        `is ${stat.size} bytes, not ${MASTER_KEY_LENGTH}`,
        'Restore the original key file from backup; never edit its bytes.',
      )
    }
    const key = new Uint8Array(MASTER_KEY_LENGTH)
    const { bytesRead } = await handle.read(key, 0, MASTER_KEY_LENGTH, 0)
    if (bytesRead !== MASTER_KEY_LENGTH) {
      throw invalid(
        path,
        `gave ${bytesRead} of ${MASTER_KEY_LENGTH} bytes`,
        'Check the file system for errors.',
      )
    }
    return key
  } finally {
    await handle.close().catch(() => {})
  }
}

/**
 * Creates a master key file of 32 random bytes, mode 0600, crash-safely; refuses to replace an
 * existing file (a lost master key makes every tenant's data unreadable). Returns the key.
 */
export async function createMasterKeyFile(path: string): Promise<Uint8Array> {
  try {
    await (await open(path, 'r')).close()
    throw invalid(
      path,
      'already exists',
      'Use the existing key file; move it aside only if it is truly unused.',
    )
  } catch (cause) {
    if (cause instanceof BlockioError) throw cause
    if (errnoOf(cause) !== 'ENOENT')
      throw invalid(path, `cannot be checked: ${describe(cause)}`, 'Check the path.', cause)
  }
  const key = new Uint8Array(randomBytes(MASTER_KEY_LENGTH))
  await writeFileCrashSafe(path, key)
  return key
}

/** Refuses a master key of the wrong length before any file is touched. */
export function checkMasterKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.byteLength !== MASTER_KEY_LENGTH) {
    throw new BlockioError(
      BlockioErrorCode.INVALID_OPTION,
      `masterKey must be ${MASTER_KEY_LENGTH} bytes, not ${key instanceof Uint8Array ? key.byteLength : typeof key}`,
      { remediation: 'Pass the bytes from readMasterKeyFile.' },
    )
  }
}
