/**
 * The demo's fallback image where e2fsprogs is missing: generated mixed content (text, binary,
 * random and zero 64 KiB blocks, bench/mixed-content.ts) with no filesystem on it, changed between
 * cycles by overwriting a few random blocks in place.
 */
import { randomBytes } from 'node:crypto'
import { rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { writeMixedImage } from '../bench/mixed-content.js'
import { type Mutation, mutateRandomBlocks } from '../bench/replication/random-block-mutation.js'
import { imageIoError, invalidDemoOption } from './demo-errors.js'
import { DEFAULT_DEMO_IMAGE_BYTES, MAX_DEMO_IMAGE_BYTES, MIN_DEMO_IMAGE_BYTES } from './ext4-image.js'

/** Share of the blocks overwritten per change round: about what a few edited files touch. */
export const GENERATED_CHANGE_FRACTION = 0.02

export interface GeneratedImageOptions {
  /** Default DEFAULT_DEMO_IMAGE_BYTES; a multiple of 64 KiB in [MIN, MAX]_DEMO_IMAGE_BYTES. */
  sizeBytes?: number
  /** Default 1; an integer in [0, 2^32). */
  seed?: number
}

export interface GeneratedImage {
  path: string
  sizeBytes: number
}

/** Writes a generated image to `path` (replacing any file there), whole or not at all. */
export async function createGeneratedImage(
  path: string,
  options: GeneratedImageOptions = {},
): Promise<GeneratedImage> {
  const sizeBytes = options.sizeBytes ?? DEFAULT_DEMO_IMAGE_BYTES
  if (
    !Number.isSafeInteger(sizeBytes) ||
    sizeBytes < MIN_DEMO_IMAGE_BYTES ||
    sizeBytes > MAX_DEMO_IMAGE_BYTES ||
    sizeBytes % 65536 !== 0
  ) {
    throw invalidDemoOption(
      'sizeBytes',
      `is ${sizeBytes}; expected a multiple of 65536 from ${MIN_DEMO_IMAGE_BYTES} to ${MAX_DEMO_IMAGE_BYTES}`,
    )
  }
  const seed = options.seed ?? 1
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw invalidDemoOption('seed', `is ${seed}; expected an integer from 0 to 4294967295`)
  }
  const building = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(8).toString('hex')}`)
  try {
    await writeMixedImage(building, sizeBytes, seed)
    await rename(building, path)
  } catch (cause) {
    await rm(building, { force: true })
    throw imageIoError(`the generated image ${path} could not be written`, cause)
  }
  return { path, sizeBytes }
}

export interface GeneratedChangeOptions {
  /** The change round, an integer ≥ 1. */
  round: number
  /** Default 1. */
  seed?: number
}

/** Overwrites GENERATED_CHANGE_FRACTION of the image's 64 KiB blocks, chosen from seed and round. */
export async function changeGeneratedImage(path: string, options: GeneratedChangeOptions): Promise<Mutation> {
  const { round } = options
  const seed = options.seed ?? 1
  if (!Number.isSafeInteger(round) || round < 1 || round > 1_000_000) {
    throw invalidDemoOption('round', `is ${round}; expected an integer from 1 to 1000000`)
  }
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw invalidDemoOption('seed', `is ${seed}; expected an integer from 0 to 4294967295`)
  }
  try {
    return await mutateRandomBlocks(path, {
      fraction: GENERATED_CHANGE_FRACTION,
      blockSize: 65536,
      seed: (Math.imul(seed, 0x9e3779b1) + round) >>> 0,
    })
  } catch (cause) {
    throw imageIoError(`the generated image ${path} could not be changed`, cause)
  }
}
