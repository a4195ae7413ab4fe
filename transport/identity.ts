/**
 * A node's identity: one Ed25519 private key kept in a file on the node's disk. Its libp2p peer id
 * is the *node id* the coordinator knows it by (DESIGN.md "Transport"); losing the file means
 * enrolling again under a new id.
 *
 * The *key file* holds the key protobuf-marshalled by @libp2p/crypto (`privateKeyToProtobuf`), and
 * nothing else. It is owner-only (mode 0600): a key file that the group or others can read or write
 * is refused rather than silently fixed, because whoever read it can impersonate the node. A new key
 * is written crash-safe: to a temporary file in the same directory, fsynced, then linked into place
 * and the directory fsynced, so a crash leaves either no key file or a whole one.
 */
import { randomBytes } from 'node:crypto'
import { constants as fsConstants } from 'node:fs'
import { link, mkdir, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { TransportError, TransportErrorCode } from './errors.js'

/** Owner read/write only. */
export const IDENTITY_FILE_MODE = 0o600
/** Directory created for a key file that does not exist yet: owner only. */
export const IDENTITY_DIR_MODE = 0o700
/** Group and other permission bits: any of them set makes a key file unsafe. */
const LOOSE_PERMISSION_BITS = 0o077
/** A marshalled Ed25519 key is 68 bytes; anything much larger is not a key file. */
const MAX_KEY_FILE_BYTES = 4096

export interface NodeIdentity {
  privateKey: Ed25519PrivateKey
  /** The node id: the libp2p peer id derived from the key. */
  peerId: PeerId
  /** The key file the identity was loaded from or written to. */
  path: string
  /** True when this call generated the key (first start). */
  created: boolean
}

/**
 * Loads the identity from `path`, or creates a new Ed25519 key there on first start. Rejects with
 * TRANSPORT_IDENTITY_PERMISSIONS (mode looser than 0600), TRANSPORT_IDENTITY_CORRUPT (not an
 * Ed25519 key) or TRANSPORT_IDENTITY_IO (cannot read or write).
 */
export async function loadOrCreateIdentity(path: string): Promise<NodeIdentity> {
  const existing = await readIdentity(path)
  if (existing !== undefined) return existing
  return createIdentity(path)
}

/** Reads an existing key file; undefined when there is none. */
export async function readIdentity(path: string): Promise<NodeIdentity | undefined> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    // O_NOFOLLOW: a symlink planted in place of the key file is refused, not followed.
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw ioError(`cannot open the identity file ${path}`, err)
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) throw corruptError(path, 'it is not a regular file')
    if ((stat.mode & LOOSE_PERMISSION_BITS) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0')
      throw new TransportError(
        TransportErrorCode.IDENTITY_PERMISSIONS,
        `the identity file ${path} has mode ${mode}; it must be readable by its owner only (0600)`,
        {
          remediation: `Run \`chmod 600 ${path}\` if nobody else could have read it; otherwise delete it and enrol the node again.`,
        },
      )
    }
    if (stat.size === 0 || stat.size > MAX_KEY_FILE_BYTES) {
      throw corruptError(path, `its size ${stat.size} bytes is not that of a key`)
    }
    const bytes = await handle.readFile()
    return { ...decodeKey(path, bytes), path, created: false }
  } catch (err) {
    if (err instanceof TransportError) throw err
    throw ioError(`cannot read the identity file ${path}`, err)
  } finally {
    await handle.close()
  }
}

function decodeKey(path: string, bytes: Uint8Array): { privateKey: Ed25519PrivateKey; peerId: PeerId } {
  let key: ReturnType<typeof privateKeyFromProtobuf>
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw corruptError(path, 'it does not decode as a private key', err)
  }
  if (key.type !== 'Ed25519') throw corruptError(path, `it holds a ${key.type} key, not Ed25519`)
  return { privateKey: key, peerId: peerIdFromPrivateKey(key) }
}

async function createIdentity(path: string): Promise<NodeIdentity> {
  const dir = dirname(path)
  const privateKey = await generateKeyPair('Ed25519')
  const bytes = privateKeyToProtobuf(privateKey)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await mkdir(dir, { recursive: true, mode: IDENTITY_DIR_MODE })
    const handle = await open(tmp, 'wx', IDENTITY_FILE_MODE)
    try {
      // The umask can only remove bits from the open() mode; chmod states the intent explicitly.
      await handle.chmod(IDENTITY_FILE_MODE)
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    const won = await publish(tmp, path)
    await syncDirectory(dir)
    if (!won) {
      // Another process created the key between our read and our link: use theirs, not ours.
      const theirs = await readIdentity(path)
      if (theirs !== undefined) return theirs
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    if (err instanceof TransportError) throw err
    throw ioError(`cannot create the identity file ${path}`, err)
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), path, created: true }
}

/**
 * Moves the finished temporary file into place. link() refuses to replace an existing file, so two
 * processes starting together cannot overwrite each other's key; rename() is the fallback on file
 * systems without hard links. Returns false when a key file appeared meanwhile.
 */
async function publish(tmp: string, path: string): Promise<boolean> {
  try {
    await link(tmp, path)
    await unlink(tmp)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') {
      await unlink(tmp)
      return false
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err
  }
  await rename(tmp, path)
  return true
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

function corruptError(path: string, why: string, cause?: unknown): TransportError {
  return new TransportError(
    TransportErrorCode.IDENTITY_CORRUPT,
    `the identity file ${path} is invalid: ${why}`,
    {
      remediation: `Restore ${path} from a backup, or delete it and enrol the node again under a new node id.`,
      cause,
    },
  )
}

function ioError(message: string, cause: unknown): TransportError {
  const detail = cause instanceof Error ? `: ${cause.message}` : ''
  return new TransportError(TransportErrorCode.IDENTITY_IO, `${message}${detail}`, {
    remediation: 'Check that the directory exists, is writable by the Lifeboat user and has free space.',
    retryable: true,
    cause,
  })
}
