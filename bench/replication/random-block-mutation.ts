/**
 * Changing a benchmark image the way a running VM does between two replication cycles: a
 * *fraction* of its blocks rewritten with new content, scattered at random (deterministically from
 * a seed), in place. The result lists the changed blocks and the same as byte *extents* (runs of
 * adjacent changed blocks), which is what a hypervisor's change tracking would report.
 *
 * New content is mixed (bench/mixed-content.ts pool blocks), stamped with the seed and block
 * number; a block whose new content happens to equal its old one is altered further, so every
 * reported block really differs.
 */
import { open } from 'node:fs/promises'
import { createMixedPool, createPrng } from '../mixed-content.js'
import { BenchError, benchIoError, invalidBenchOption } from './bench-errors.js'

/** Block size of the benchmark's changes: the size Lifeboat and `rsync -B 65536` compare. */
export const MUTATION_BLOCK_SIZE = 65536
/** Most blocks one call changes (64 GiB at 64 KiB); bounds the memory of the block list. */
export const MAX_MUTATED_BLOCKS = 1_048_576

export interface MutationOptions {
  /** Share of the image's blocks to change, in (0, 1]; at least one block changes. */
  fraction: number
  /** Default MUTATION_BLOCK_SIZE; a power of two from 512 bytes to 16 MiB. */
  blockSize?: number
  /** Integer in [0, 2^32); the same seed on the same image changes the same blocks. */
  seed: number
}

/** A byte range, as in the generic changed-extents format (docs/FORMATS.md). */
export interface Extent {
  start: number
  length: number
}

export interface Mutation {
  /** Numbers of the changed blocks, ascending. */
  blocks: number[]
  /** The changed bytes as sorted, non-adjacent runs (the last block may be short). */
  extents: Extent[]
  blockSize: number
  volumeSize: number
}

/** Changes `round(fraction × blocks)` (≥ 1) distinct random blocks of the file at `path` in place. */
export async function mutateRandomBlocks(path: string, options: MutationOptions): Promise<Mutation> {
  const { fraction, seed } = options
  const blockSize = options.blockSize ?? MUTATION_BLOCK_SIZE
  if (!(typeof fraction === 'number' && fraction > 0 && fraction <= 1)) {
    throw invalidBenchOption('fraction', `is ${fraction}; expected a number in (0, 1]`)
  }
  if (
    !Number.isSafeInteger(blockSize) ||
    blockSize < 512 ||
    blockSize > 16 * 1024 * 1024 ||
    (blockSize & (blockSize - 1)) !== 0
  ) {
    throw invalidBenchOption('blockSize', `is ${blockSize}; expected a power of two from 512 to 16777216`)
  }
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw invalidBenchOption('seed', `is ${seed}; expected an integer from 0 to 4294967295`)
  }
  const handle = await open(path, 'r+').catch((cause) => {
    throw benchIoError(`the image ${path} could not be opened for writing`, cause)
  })
  try {
    const volumeSize = (await handle.stat()).size
    const blockCount = Math.ceil(volumeSize / blockSize)
    if (blockCount === 0) throw invalidBenchOption('path', `${path} is empty; there is no block to change`)
    const count = Math.min(blockCount, Math.max(1, Math.round(fraction * blockCount)))
    if (count > MAX_MUTATED_BLOCKS) {
      throw invalidBenchOption(
        'fraction',
        `would change ${count} blocks; at most ${MAX_MUTATED_BLOCKS} per call`,
      )
    }
    const blocks = chooseBlocks(blockCount, count, createPrng(seed ^ 0x5bd1e995))
    const pool = createMixedPool(seed + 1)
    const next = createPrng(seed ^ 0x27d4eb2d)
    const old = new Uint8Array(blockSize)
    const fresh = new Uint8Array(blockSize)
    for (const n of blocks) {
      const length = Math.min(blockSize, volumeSize - n * blockSize)
      await handle.read(old, 0, length, n * blockSize)
      newContent(fresh.subarray(0, length), pool.blocks, next, seed, n)
      if (equal(old.subarray(0, length), fresh.subarray(0, length))) fresh[length - 1]! ^= 0xff
      await handle.write(fresh, 0, length, n * blockSize)
    }
    return { blocks, extents: extentsOf(blocks, blockSize, volumeSize), blockSize, volumeSize }
  } catch (cause) {
    if (cause instanceof BenchError) throw cause
    throw benchIoError(`the image ${path} could not be changed`, cause)
  } finally {
    await handle.close()
  }
}

/** `count` distinct block numbers below `blockCount`, ascending (a partial Fisher–Yates shuffle). */
export function chooseBlocks(blockCount: number, count: number, next: () => number): number[] {
  const swapped = new Map<number, number>()
  const chosen: number[] = []
  for (let i = 0; i < count; i++) {
    const j = i + (next() % (blockCount - i))
    const atJ = swapped.get(j) ?? j
    swapped.set(j, swapped.get(i) ?? i)
    chosen.push(atJ)
  }
  return chosen.sort((a, b) => a - b)
}

/** Runs of adjacent blocks as byte extents, clipped to the volume's end. */
export function extentsOf(blocks: readonly number[], blockSize: number, volumeSize: number): Extent[] {
  const extents: Extent[] = []
  for (const n of blocks) {
    const start = n * blockSize
    const end = Math.min(volumeSize, start + blockSize)
    const last = extents[extents.length - 1]
    if (last && last.start + last.length === start) last.length = end - last.start
    else extents.push({ start, length: end - start })
  }
  return extents
}

function newContent(
  target: Uint8Array,
  pool: Uint8Array[],
  next: () => number,
  seed: number,
  n: number,
): void {
  for (let at = 0; at < target.length; at += pool[0]!.length) {
    const source = pool[next() % pool.length]!
    target.set(source.subarray(0, Math.min(source.length, target.length - at)), at)
  }
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
  if (target.length >= 16) {
    view.setUint32(0, 0x4c424d55, false) // "LBMU": a mutated block
    view.setUint32(4, seed >>> 0, true)
    view.setFloat64(8, n, true)
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
