/**
 * Change-tracking input, docs/FORMATS.md "Changed-block extents (change-tracking input)".
 *
 * An *extent* is a byte range `{ start, length }` that the hypervisor reports as changed since the
 * last replication (VMware CBT's `changedArea`, Hyper-V RCT's changed ranges, or Lifeboat's own
 * generic form). A *report* is one JSON document holding a list of them. Parsing turns a report into
 * the ChangedBlockMap of the blocks those bytes touch; a report that is wrong in any way is refused
 * whole, never partly used: a missed change would be silent data loss at the recovery site.
 */
import { readFile, stat } from 'node:fs/promises'
import { blockCountOf } from './block-source.js'
import { checkBlockSize } from './block-source-checks.js'
import { type BlockRun, ChangedBlockMap } from './changed-block-map.js'
import { BlockioError, BlockioErrorCode } from './errors.js'

// docs/FORMATS.md "Changed-block extents" and docs/LIMITS.md "Blocks and volumes".
/** The largest report accepted, in bytes of JSON text. */
export const MAX_EXTENTS_INPUT_BYTES = 64 * 1024 * 1024
/** The most extents one report may hold. */
export const MAX_EXTENT_COUNT = 2_097_152
/** The version of the Lifeboat generic form this build reads. */
export const EXTENTS_FORMAT_VERSION = 1

export interface ChangedExtentsOptions {
  /** Size in bytes of the volume being scanned. */
  volumeSize: number
  blockSize: number
  /** What the report is, for messages (a path). Default "change-tracking extents". */
  name?: string
}

/** One extent as read from a report, with where it came from and the region it must lie in. */
interface Extent {
  label: string
  start: number
  length: number
  regionStart: number
  regionEnd: number
}

/**
 * The blocks changed according to `input`: a JSON string, or an already-parsed value. Rejects
 * anything malformed with EXTENTS_INVALID, naming the offending extent.
 */
export function parseChangedExtents(input: unknown, options: ChangedExtentsOptions): ChangedBlockMap {
  const { volumeSize, blockSize } = options
  checkBlockSize(blockSize)
  if (!Number.isSafeInteger(volumeSize) || volumeSize < 0) {
    throw new BlockioError(BlockioErrorCode.INVALID_OPTION, `volume size ${volumeSize} is not valid`, {
      remediation: 'Pass the volume size in bytes as reported by the block source.',
    })
  }
  const name = options.name ?? 'change-tracking extents'
  const fail = (detail: string) => invalid(name, detail)
  let report = input
  if (typeof input === 'string') {
    if (input.length > MAX_EXTENTS_INPUT_BYTES)
      fail(`the report is larger than ${MAX_EXTENTS_INPUT_BYTES} bytes`)
    try {
      report = JSON.parse(input)
    } catch (cause) {
      fail(`not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
  }
  const extents = readReport(report, volumeSize, fail)
  const runs: BlockRun[] = []
  for (const extent of extents) {
    const { label, start, length } = extent
    const end = start + length
    if (!Number.isSafeInteger(end) || end > volumeSize) {
      fail(
        `${label} (start ${start}, length ${length}) ends past the end of the volume (${volumeSize} bytes)`,
      )
    }
    if (start < extent.regionStart || end > extent.regionEnd) {
      fail(
        `${label} (start ${start}, length ${length}) lies outside its queried region [${extent.regionStart}, ${extent.regionEnd})`,
      )
    }
    if (length === 0) continue
    // Any block the extent touches, even by one byte, is changed.
    const first = Math.floor(start / blockSize)
    const last = Math.floor((end - 1) / blockSize)
    runs.push({ first, count: last - first + 1 })
  }
  return ChangedBlockMap.fromUnsortedRuns(blockCountOf(volumeSize, blockSize), runs)
}

/** parseChangedExtents of the file at `path`; EXTENTS_UNREADABLE when it cannot be read. */
export async function readChangedExtentsFile(
  path: string,
  options: Omit<ChangedExtentsOptions, 'name'>,
): Promise<ChangedBlockMap> {
  let text: string
  try {
    const info = await stat(path)
    if (!info.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' })
    if (info.size > MAX_EXTENTS_INPUT_BYTES)
      invalid(path, `the report is larger than ${MAX_EXTENTS_INPUT_BYTES} bytes`)
    text = await readFile(path, 'utf8')
  } catch (cause) {
    if (cause instanceof BlockioError) throw cause
    throw new BlockioError(
      BlockioErrorCode.EXTENTS_UNREADABLE,
      `change-tracking report ${path} could not be read: ${cause instanceof Error ? cause.message : String(cause)}`,
      { remediation: 'Check the path given for the changed extents and its permissions.', cause },
    )
  }
  return parseChangedExtents(text, { ...options, name: path })
}

type Fail = (detail: string) => never

/** The extents of a report in any accepted form, each checked to be two safe non-negative integers. */
function readReport(report: unknown, volumeSize: number, fail: Fail): Extent[] {
  const whole = { regionStart: 0, regionEnd: volumeSize }
  if (Array.isArray(report)) {
    if (report.length === 0) fail('an empty array is not a change report (expected DiskChangeInfo objects)')
    const all: Extent[] = []
    report.forEach((item, k) => {
      if (!isObject(item) || !('startOffset' in item)) fail(`[${k}] is not a VMware DiskChangeInfo`)
      all.push(...readVmware(item as Record<string, unknown>, `[${k}].`, volumeSize, fail, all.length))
    })
    return all
  }
  if (!isObject(report)) fail('the report is not a JSON object or array')
  const r = report as Record<string, unknown>
  if ('changedArea' in r || 'startOffset' in r) return readVmware(r, '', volumeSize, fail, 0)
  if ('ranges' in r || 'Ranges' in r) {
    const ranges = listOf(r.ranges ?? r.Ranges, 'ranges', 0, fail)
    return ranges.map((item, i) => {
      const label = `ranges[${i}]`
      if (!isObject(item)) fail(`${label} is not an object`)
      const o = item as Record<string, unknown>
      const start = numberOf(o.byteOffset ?? o.ByteOffset, `${label}.byteOffset`, fail)
      const length = numberOf(o.byteLength ?? o.ByteLength, `${label}.byteLength`, fail)
      return { label, start, length, ...whole }
    })
  }
  if ('ChangedByteOffsets' in r || 'ChangedByteLengths' in r) {
    const offsets = listOf(r.ChangedByteOffsets, 'ChangedByteOffsets', 0, fail)
    const lengths = listOf(r.ChangedByteLengths, 'ChangedByteLengths', 0, fail)
    if (offsets.length !== lengths.length) {
      fail(`ChangedByteOffsets has ${offsets.length} entries but ChangedByteLengths has ${lengths.length}`)
    }
    return offsets.map((offset, i) => ({
      label: `ChangedByteOffsets[${i}]`,
      start: numberOf(offset, `ChangedByteOffsets[${i}]`, fail),
      length: numberOf(lengths[i], `ChangedByteLengths[${i}]`, fail),
      ...whole,
    }))
  }
  if ('extents' in r || 'version' in r) {
    if (r.version === undefined) fail('the generic form needs "version": 1')
    if (r.version !== EXTENTS_FORMAT_VERSION) {
      fail(`generic form version ${JSON.stringify(r.version)} is not supported (this build reads version 1)`)
    }
    if (r.volumeSize !== undefined && r.volumeSize !== volumeSize) {
      fail(
        `the report is for a volume of ${JSON.stringify(r.volumeSize)} bytes, this volume has ${volumeSize}`,
      )
    }
    return listOf(r.extents, 'extents', 0, fail).map((item, i) => {
      const label = `extents[${i}]`
      if (!isObject(item)) fail(`${label} is not an object`)
      const o = item as Record<string, unknown>
      return {
        label,
        start: numberOf(o.start, `${label}.start`, fail),
        length: numberOf(o.length, `${label}.length`, fail),
        ...whole,
      }
    })
  }
  return fail(
    'unknown report form: expected a VMware DiskChangeInfo, Hyper-V ranges or ChangedByteOffsets, or { "version": 1, "extents": [...] }',
  )
}

/** A VMware DiskChangeInfo: `changedArea` extents inside the queried [startOffset, +length). */
function readVmware(
  info: Record<string, unknown>,
  prefix: string,
  volumeSize: number,
  fail: Fail,
  countSoFar: number,
): Extent[] {
  const regionStart = numberOf(info.startOffset, `${prefix}startOffset`, fail)
  const regionLength = numberOf(info.length, `${prefix}length`, fail)
  const regionEnd = regionStart + regionLength
  if (!Number.isSafeInteger(regionEnd) || regionEnd > volumeSize) {
    fail(
      `${prefix}startOffset + length (${regionStart} + ${regionLength}) is past the end of the volume (${volumeSize} bytes)`,
    )
  }
  // govmomi omits an empty changedArea: no change in the region.
  const areas =
    info.changedArea === undefined ? [] : listOf(info.changedArea, `${prefix}changedArea`, countSoFar, fail)
  return areas.map((item, i) => {
    const label = `${prefix}changedArea[${i}]`
    if (!isObject(item)) fail(`${label} is not an object`)
    const o = item as Record<string, unknown>
    return {
      label,
      start: numberOf(o.start, `${label}.start`, fail),
      length: numberOf(o.length, `${label}.length`, fail),
      regionStart,
      regionEnd,
    }
  })
}

function listOf(value: unknown, label: string, countSoFar: number, fail: Fail): unknown[] {
  if (!Array.isArray(value)) fail(`${label} is not an array`)
  const list = value as unknown[]
  if (countSoFar + list.length > MAX_EXTENT_COUNT)
    fail(`the report holds more than ${MAX_EXTENT_COUNT} extents`)
  return list
}

function numberOf(value: unknown, label: string, fail: Fail): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(`${label} is ${JSON.stringify(value) ?? 'missing'}; expected a non-negative integer below 2^53`)
  }
  return value as number
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function invalid(name: string, detail: string): never {
  throw new BlockioError(BlockioErrorCode.EXTENTS_INVALID, `${name}: ${detail}`, {
    remediation:
      'Export the changes again from the hypervisor (docs/FORMATS.md lists the accepted forms), or run a full scan without extents.',
  })
}
