import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadOrCreateIdentity, readIdentity } from '../../transport/identity.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-identity-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('loadOrCreateIdentity', () => {
  it('creates an Ed25519 key with mode 0600 and reloads the same node id', async () => {
    const path = join(dir, 'nested', 'node.key')
    const first = await loadOrCreateIdentity(path)
    expect(first.created).toBe(true)
    expect(first.privateKey.type).toBe('Ed25519')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'nested'))).mode & 0o077).toBe(0)
    const again = await loadOrCreateIdentity(path)
    expect(again.created).toBe(false)
    expect(again.peerId.equals(first.peerId)).toBe(true)
    expect(again.privateKey.equals(first.privateKey)).toBe(true)
    // No temporary file is left behind.
    expect(await readdir(join(dir, 'nested'))).toEqual(['node.key'])
  })

  it('stores the key protobuf-marshalled', async () => {
    const path = join(dir, 'node.key')
    const identity = await loadOrCreateIdentity(path)
    const bytes = await readFile(path)
    expect(Buffer.from(privateKeyToProtobuf(identity.privateKey)).equals(bytes)).toBe(true)
  })

  it('refuses a key file that others can read', async () => {
    const path = join(dir, 'node.key')
    await loadOrCreateIdentity(path)
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(path, mode)
      await expect(loadOrCreateIdentity(path)).rejects.toMatchObject({
        code: 'TRANSPORT_IDENTITY_PERMISSIONS',
        remediation: expect.stringContaining('chmod 600'),
      })
    }
  })

  it('refuses corrupt content without replacing the file', async () => {
    const path = join(dir, 'node.key')
    const garbage = [Buffer.from('not a key at all'), Buffer.alloc(0), Buffer.alloc(5000, 1)]
    for (const bytes of garbage) {
      await writeFile(path, bytes, { mode: 0o600 })
      await expect(loadOrCreateIdentity(path)).rejects.toMatchObject({ code: 'TRANSPORT_IDENTITY_CORRUPT' })
      expect((await readFile(path)).equals(bytes)).toBe(true)
    }
  })

  it('refuses a valid key of another type', async () => {
    const path = join(dir, 'node.key')
    await writeFile(path, privateKeyToProtobuf(await generateKeyPair('secp256k1')), { mode: 0o600 })
    await expect(loadOrCreateIdentity(path)).rejects.toMatchObject({
      code: 'TRANSPORT_IDENTITY_CORRUPT',
      message: expect.stringContaining('secp256k1'),
    })
  })

  it('refuses a symlink in place of the key file', async () => {
    const real = join(dir, 'real.key')
    await loadOrCreateIdentity(real)
    const link = join(dir, 'node.key')
    await symlink(real, link)
    await expect(readIdentity(link)).rejects.toMatchObject({ code: 'TRANSPORT_IDENTITY_IO' })
  })

  it('gives two concurrent first starts the same identity', async () => {
    const path = join(dir, 'node.key')
    const [a, b] = await Promise.all([loadOrCreateIdentity(path), loadOrCreateIdentity(path)])
    expect(a.peerId.equals(b.peerId)).toBe(true)
    expect((await loadOrCreateIdentity(path)).peerId.equals(a.peerId)).toBe(true)
  })

  it('reports a key path it cannot create as TRANSPORT_IDENTITY_IO', async () => {
    // A regular file where the directory should be: fails for every user, root included.
    const notADirectory = join(dir, 'plain-file')
    await writeFile(notADirectory, 'x')
    await expect(loadOrCreateIdentity(join(notADirectory, 'node.key'))).rejects.toMatchObject({
      code: 'TRANSPORT_IDENTITY_IO',
    })
  })
})
