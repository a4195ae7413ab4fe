/**
 * Writing changed extents in Lifeboat's generic change-tracking form, version 1 (docs/FORMATS.md
 * "Changed-block extents"): `{ "version": 1, "volumeSize": n, "extents": [{ "start", "length" }] }`,
 * the form blockio/extents.ts reads back. The benchmark's CBT cycle hands this file to the scan.
 */
import { randomBytes } from 'node:crypto'
import { rename, rm, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { EXTENTS_FORMAT_VERSION, MAX_EXTENT_COUNT } from '../../blockio/extents.js'
import { benchIoError, invalidBenchOption } from './bench-errors.js'
import type { Extent } from './random-block-mutation.js'

/**
 * Writes `extents` of a volume of `volumeSize` bytes to `path` (replacing it whole: written to a
 * temporary name, then renamed). Extents are checked to lie inside the volume.
 */
export async function writeExtentsFile(
  path: string,
  extents: readonly Extent[],
  volumeSize: number,
): Promise<void> {
  if (!Number.isSafeInteger(volumeSize) || volumeSize < 0) {
    throw invalidBenchOption('volumeSize', `is ${volumeSize}; expected a non-negative integer`)
  }
  if (extents.length > MAX_EXTENT_COUNT) {
    throw invalidBenchOption(
      'extents',
      `has ${extents.length} entries; a report holds at most ${MAX_EXTENT_COUNT}`,
    )
  }
  for (const [i, { start, length }] of extents.entries()) {
    if (
      !Number.isSafeInteger(start) ||
      !Number.isSafeInteger(length) ||
      start < 0 ||
      length < 0 ||
      start + length > volumeSize
    ) {
      throw invalidBenchOption(
        `extents[${i}]`,
        `(start ${start}, length ${length}) is not inside the volume of ${volumeSize} bytes`,
      )
    }
  }
  const report = {
    version: EXTENTS_FORMAT_VERSION,
    volumeSize,
    extents: extents.map(({ start, length }) => ({ start, length })),
  }
  const temporary = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(8).toString('hex')}`)
  try {
    await writeFile(temporary, `${JSON.stringify(report)}\n`, { flag: 'wx' })
    await rename(temporary, path)
  } catch (cause) {
    await rm(temporary, { force: true })
    throw benchIoError(`the extents file ${path} could not be written`, cause)
  }
}
