/**
 * Shared test helpers for blockio: a seeded random generator (so a failing random case can be
 * replayed from its seed), random block indexes, and fresh temporary directories.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BlockIndex, DIGEST_LENGTH } from '../../blockio/block-index.js'

/** mulberry32: small, fast, good enough to pick test cases. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function randomInt(random: () => number, below: number): number {
  return Math.floor(random() * below)
}

export function randomBytesFrom(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = randomInt(random, 256)
  return bytes
}

/** An index with random digests and, for about one block in eight, the ZERO flag. */
export function randomIndex(random: () => number, volumeSize: number, blockSize: number): BlockIndex {
  const index = new BlockIndex(volumeSize, blockSize)
  index.digests.set(randomBytesFrom(random, index.blockCount * DIGEST_LENGTH))
  for (let i = 0; i < index.blockCount; i++) index.flags[i] = random() < 0.125 ? 1 : 0
  return index
}

/** A fresh temporary directory and its removal. */
export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-blockio-'))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}
