/**
 * Deterministic *mixed content* for benchmarks and the demo: what a VM disk holds, roughly — text
 * (logs, configs, source), structured binary (executables, libraries, databases), already
 * compressed data (random bytes) and zero-filled space.
 *
 * Generating gigabytes byte by byte in JavaScript would dominate the benchmark's setup time, so a
 * pool of distinct 64 KiB blocks is generated once from a seeded PRNG and an image is composed of
 * pool blocks, each stamped with its own block number so that no two blocks of an image are equal.
 * LZ4 compresses each block on its own, so the image compresses like its pool (ratio ~2).
 */
import { open } from 'node:fs/promises'

export const MIXED_BLOCK_SIZE = 64 * 1024
/** Shares of each kind in the pool, in percent: text, binary, random, zero. */
export const MIXED_SHARES = { text: 40, binary: 35, random: 15, zero: 10 } as const
const POOL_BLOCKS = 512

/** xorshift32: fast, seedable, good enough to make content, never for keys. */
export function createPrng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
}

const WORDS = (
  'the of and to in is for on with that this from by at be as are was it an or not have which ' +
  'kernel volume block replica snapshot connector appliance error warning info debug request response ' +
  'user admin service started stopped config value path file system network interface address port ' +
  'timeout retry backup restore checksum database table index query transaction commit rollback ' +
  'function return const let import export class interface string number boolean async await'
).split(' ')

function fillText(block: Uint8Array, next: () => number): void {
  let i = 0
  while (i < block.length) {
    const r = next()
    const word = WORDS[r % WORDS.length]!
    for (let k = 0; k < word.length && i < block.length; k++) block[i++] = word.charCodeAt(k)
    if (i < block.length) block[i++] = (r >>> 24) % 11 === 0 ? 10 : 32
    if ((r >>> 16) % 23 === 0) {
      const digits = String(r % 100000)
      for (let k = 0; k < digits.length && i < block.length; k++) block[i++] = digits.charCodeAt(k)
    }
  }
}

/** Instruction-like bytes: a small table of 4-byte "opcodes" with random immediates and padding. */
function fillBinary(block: Uint8Array, next: () => number, table: Uint32Array): void {
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength)
  for (let i = 0; i + 8 <= block.length; i += 8) {
    const r = next()
    view.setUint32(i, table[r % table.length]!, true)
    // Immediates are mostly small numbers and zero padding, as in real code and data sections.
    view.setUint32(i + 4, (r >>> 8) % 4 === 0 ? next() : (r >>> 20) & 0xff, true)
  }
}

function fillRandom(block: Uint8Array, next: () => number): void {
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength)
  for (let i = 0; i + 4 <= block.length; i += 4) view.setUint32(i, next(), true)
}

export type BlockKind = 'text' | 'binary' | 'random' | 'zero'

export interface MixedPool {
  blocks: Uint8Array[]
  kinds: BlockKind[]
}

export function createMixedPool(seed = 1): MixedPool {
  const next = createPrng(seed)
  const table = new Uint32Array(64)
  for (let i = 0; i < table.length; i++) table[i] = next()
  const blocks: Uint8Array[] = []
  const kinds: BlockKind[] = []
  for (let b = 0; b < POOL_BLOCKS; b++) {
    const roll = (b * 100) / POOL_BLOCKS
    const kind: BlockKind =
      roll < MIXED_SHARES.text
        ? 'text'
        : roll < MIXED_SHARES.text + MIXED_SHARES.binary
          ? 'binary'
          : roll < 100 - MIXED_SHARES.zero
            ? 'random'
            : 'zero'
    const block = new Uint8Array(MIXED_BLOCK_SIZE)
    if (kind === 'text') fillText(block, next)
    else if (kind === 'binary') fillBinary(block, next, table)
    else if (kind === 'random') fillRandom(block, next)
    blocks.push(block)
    kinds.push(kind)
  }
  return { blocks, kinds }
}

/**
 * Block `n` of a mixed image: a pool block chosen by a PRNG, stamped with `n` in its first 8 bytes
 * unless it is a zero block (zero space stays zero, as on a real disk).
 */
export function mixedBlock(pool: MixedPool, n: number, seed: number, target: Uint8Array): void {
  const pick = createPrng((n * 2654435761) ^ seed)()
  const index = pick % pool.blocks.length
  target.set(pool.blocks[index]!)
  if (pool.kinds[index] !== 'zero') {
    new DataView(target.buffer, target.byteOffset, 8).setBigUint64(0, BigInt(n) + 1n, true)
  }
}

/** Writes a mixed image of `size` bytes (a multiple of 64 KiB) to `path`, 4 MiB at a time. */
export async function writeMixedImage(path: string, size: number, seed = 1): Promise<void> {
  if (size % MIXED_BLOCK_SIZE !== 0) throw new RangeError('mixed image size must be a multiple of 64 KiB')
  const pool = createMixedPool(seed)
  const handle = await open(path, 'w')
  try {
    const perWrite = 64
    const chunk = new Uint8Array(perWrite * MIXED_BLOCK_SIZE)
    const blocks = size / MIXED_BLOCK_SIZE
    for (let first = 0; first < blocks; first += perWrite) {
      const n = Math.min(perWrite, blocks - first)
      for (let k = 0; k < n; k++) {
        mixedBlock(pool, first + k, seed, chunk.subarray(k * MIXED_BLOCK_SIZE, (k + 1) * MIXED_BLOCK_SIZE))
      }
      await handle.write(chunk, 0, n * MIXED_BLOCK_SIZE, first * MIXED_BLOCK_SIZE)
    }
  } finally {
    await handle.close()
  }
}
