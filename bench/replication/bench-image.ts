/**
 * The replication benchmark's source image: REPLICATION_IMAGE_BYTES of deterministic mixed content
 * (text, binary, random and zero 64 KiB blocks; bench/mixed-content.ts), written to a temporary
 * name and renamed into place so an interrupted run leaves no partial image.
 */
import { randomBytes } from 'node:crypto'
import { rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { MIXED_BLOCK_SIZE, writeMixedImage } from '../mixed-content.js'
import { benchIoError, invalidBenchOption } from './bench-errors.js'

/** Size of the benchmark's image (issue 5 §8): 2 GiB. */
export const REPLICATION_IMAGE_BYTES = 2 * 1024 * 1024 * 1024

export interface BenchImageOptions {
  /** Default REPLICATION_IMAGE_BYTES; a positive multiple of 64 KiB. */
  sizeBytes?: number
  /** Default 1. */
  seed?: number
}

/** Writes the mixed image to `path` (replacing any file there). */
export async function writeBenchImage(path: string, options: BenchImageOptions = {}): Promise<void> {
  const sizeBytes = options.sizeBytes ?? REPLICATION_IMAGE_BYTES
  const seed = options.seed ?? 1
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % MIXED_BLOCK_SIZE !== 0) {
    throw invalidBenchOption('sizeBytes', `is ${sizeBytes}; expected a positive multiple of 65536`)
  }
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw invalidBenchOption('seed', `is ${seed}; expected an integer from 0 to 4294967295`)
  }
  const temporary = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(8).toString('hex')}`)
  try {
    await writeMixedImage(temporary, sizeBytes, seed)
    await rename(temporary, path)
  } catch (cause) {
    await rm(temporary, { force: true })
    throw benchIoError(`the benchmark image ${path} could not be written`, cause)
  }
}
