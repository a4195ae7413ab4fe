/**
 * The options of a scan (`ScanInit`), their defaults and bounds, and the one check that turns them
 * into `ScanSettings` at the boundary: every refusal is a SCAN_INVALID_OPTION naming the option.
 *
 * Memory bound of a scan (docs/LIMITS.md "Scan pipeline"): `maxBatchesInFlight` input buffers of
 * `batchBytes` each, plus at most as many output buffers of up to `batchBytes` (payloads never exceed
 * the block they stand for), plus one batch of LZ4 results per worker — about
 * `maxBatchesInFlight × batchBytes × 2 + workers × batchBytes`, whatever the volume's size. With
 * worker reads the input buffers hold no block data and each worker has one read buffer instead:
 * `maxBatchesInFlight × batchBytes + workers × batchBytes × 2`.
 */
import { availableParallelism } from 'node:os'
import { BlockIndex } from '../../blockio/block-index.js'
import type { BlockSource } from '../../blockio/block-source.js'
import { ChangedBlockMap } from '../../blockio/changed-block-map.js'
import { BLAKE3_PREFERENCES, type Blake3Preference } from './blake3.js'
import { invalidOption, ScanError, ScanErrorCode } from './errors.js'

const MiB = 1024 * 1024

/** Bytes of block data per task: large enough that a task's ~20–30 µs of messaging is noise. */
export const DEFAULT_BATCH_BYTES = 4 * MiB
/** DESIGN.md "Parallelism": a task is never smaller than 1 MiB. */
export const MIN_BATCH_BYTES = 1 * MiB
/** Keeps the offsets of a batch's output buffer in u32 with room to spare, and memory in check. */
export const MAX_BATCH_BYTES = 256 * MiB
/** More threads than this only contend for memory bandwidth on the machines we target. */
export const MAX_WORKERS = 64
/** Batches in flight per worker by default: one being hashed, one read and waiting. */
export const DEFAULT_BATCHES_IN_FLIGHT_PER_WORKER = 2
export const MAX_BATCHES_IN_FLIGHT = 1024
/** Hash-only by default: what `lifeboat scan` and the comparison with b3sum need. */
export const DEFAULT_COMPRESS = false
/** Workers read file-backed sources themselves: measured faster (docs/DECISIONS.md). */
export const DEFAULT_READ_IN_WORKERS = true
export const DEFAULT_HASH_IMPLEMENTATION: Blake3Preference = 'auto'

export interface ScanInit {
  /** The index of the last scan: blocks whose digest and flags equal it are not flagged CHANGED. */
  previous?: BlockIndex
  /**
   * Change-tracking mode: read only these blocks (plus those a resize made changed, docs/FORMATS.md
   * "Volume resize"); every other block's digest is taken from `previous`, which is then required.
   */
  changed?: ChangedBlockMap
  /** LZ4-compress changed non-zero blocks into payloads. Default false (hash only). */
  compress?: boolean
  /** Worker threads. Default `os.availableParallelism()`; 1 to MAX_WORKERS. */
  workers?: number
  /** Bytes read per task; a multiple of the block size in [1 MiB, 256 MiB]. Default max(4 MiB, block size). */
  batchBytes?: number
  /** Batches read ahead of the consumer, at most. Default 2 × workers; 1 to MAX_BATCHES_IN_FLIGHT. */
  maxBatchesInFlight?: number
  /**
   * Called after every read with the bytes read so far and the bytes the scan will read in all (with
   * worker reads: when a worker's batch comes back, read and hashed). An exception it throws ends the
   * scan and is rethrown to the consumer unchanged.
   */
  onProgress?: (bytesRead: number, totalBytes: number) => void
  /** Aborting stops the reads, destroys the worker pool and rejects the iteration with SCAN_ABORTED. */
  signal?: AbortSignal
  /** Which BLAKE3 to use in the workers. Default 'auto' (native, else WASM). */
  hashImplementation?: Blake3Preference
  /**
   * Let the worker threads read a file-backed source themselves (BlockSource `filePath`) rather than
   * the main thread reading every batch and handing it over. Default true; sources without `filePath`
   * are always read on the main thread. docs/DECISIONS.md "Worker threads read file-backed volumes".
   */
  readInWorkers?: boolean
}

export interface ScanSettings {
  previous: BlockIndex | undefined
  changed: ChangedBlockMap | undefined
  compress: boolean
  workers: number
  batchBytes: number
  blocksPerBatch: number
  maxBatchesInFlight: number
  onProgress: ((bytesRead: number, totalBytes: number) => void) | undefined
  signal: AbortSignal | undefined
  hashImplementation: Blake3Preference
  /** The path the workers read, when they read the source themselves. */
  workerReadPath: string | undefined
}

function checkInteger(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(option, `is ${String(value)}`, `Give an integer from ${min} to ${max}.`)
  }
  return value
}

function checkSource(source: BlockSource): void {
  const s = source as Partial<BlockSource> | undefined
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.read !== 'function' ||
    !Number.isSafeInteger(s.size) ||
    !Number.isSafeInteger(s.blockSize) ||
    !Number.isSafeInteger(s.blockCount)
  ) {
    throw invalidOption(
      'source',
      'is not a BlockSource',
      'Pass an open BlockSource (blockio/block-source.ts).',
    )
  }
}

function checkPrevious(source: BlockSource, previous: unknown): BlockIndex | undefined {
  if (previous === undefined) return undefined
  if (!(previous instanceof BlockIndex)) {
    throw invalidOption(
      'previous',
      'is not a BlockIndex',
      'Pass the BlockIndex of the last scan, or nothing.',
    )
  }
  if (previous.blockSize !== source.blockSize) {
    throw new ScanError(
      ScanErrorCode.INDEX_MISMATCH,
      `scan option previous has ${previous.blockSize}-byte blocks, ${source.name} is read in ${source.blockSize}-byte blocks`,
      { remediation: 'Scan with the block size of the previous index, or scan without it (full resend).' },
    )
  }
  return previous
}

function checkChanged(source: BlockSource, changed: unknown, previous: BlockIndex | undefined) {
  if (changed === undefined) return undefined
  if (!(changed instanceof ChangedBlockMap)) {
    throw invalidOption(
      'changed',
      'is not a ChangedBlockMap',
      'Pass the map built from the change-tracking extents.',
    )
  }
  if (previous === undefined) {
    throw invalidOption(
      'changed',
      'needs option previous',
      'A change-tracking scan copies unchanged digests from the previous index: pass it, or drop changed.',
    )
  }
  if (changed.blockCount !== source.blockCount) {
    throw new ScanError(
      ScanErrorCode.INDEX_MISMATCH,
      `scan option changed covers ${changed.blockCount} blocks, ${source.name} has ${source.blockCount}`,
      { remediation: 'Build the changed-block map for this volume and block size.' },
    )
  }
  return changed
}

export function checkScanInit(source: BlockSource, init: ScanInit = {}): ScanSettings {
  checkSource(source)
  if (typeof init !== 'object' || init === null) {
    throw invalidOption('init', 'is not an object', 'Pass an options object, or nothing.')
  }
  const previous = checkPrevious(source, init.previous)
  const changed = checkChanged(source, init.changed, previous)

  const compress = init.compress ?? DEFAULT_COMPRESS
  if (typeof compress !== 'boolean')
    throw invalidOption('compress', `is ${String(compress)}`, 'Give true or false.')

  const workers = checkInteger('workers', init.workers ?? availableParallelism(), 1, MAX_WORKERS)

  const batchBytes = checkInteger(
    'batchBytes',
    init.batchBytes ?? Math.max(DEFAULT_BATCH_BYTES, source.blockSize),
    MIN_BATCH_BYTES,
    MAX_BATCH_BYTES,
  )
  if (batchBytes % source.blockSize !== 0) {
    throw invalidOption(
      'batchBytes',
      `(${batchBytes}) is not a multiple of the block size ${source.blockSize}`,
      'Give a whole number of blocks per batch.',
    )
  }

  const maxBatchesInFlight = checkInteger(
    'maxBatchesInFlight',
    init.maxBatchesInFlight ?? DEFAULT_BATCHES_IN_FLIGHT_PER_WORKER * workers,
    1,
    MAX_BATCHES_IN_FLIGHT,
  )

  if (init.onProgress !== undefined && typeof init.onProgress !== 'function') {
    throw invalidOption(
      'onProgress',
      'is not a function',
      'Pass (bytesRead, totalBytes) => void, or nothing.',
    )
  }
  if (init.signal !== undefined && !(init.signal instanceof AbortSignal)) {
    throw invalidOption('signal', 'is not an AbortSignal', 'Pass an AbortController’s signal, or nothing.')
  }
  const hashImplementation = init.hashImplementation ?? DEFAULT_HASH_IMPLEMENTATION
  if (!BLAKE3_PREFERENCES.includes(hashImplementation)) {
    throw invalidOption(
      'hashImplementation',
      `is ${String(hashImplementation)}`,
      `Give one of ${BLAKE3_PREFERENCES.join(', ')}.`,
    )
  }

  const readInWorkers = init.readInWorkers ?? DEFAULT_READ_IN_WORKERS
  if (typeof readInWorkers !== 'boolean')
    throw invalidOption('readInWorkers', `is ${String(readInWorkers)}`, 'Give true or false.')
  const filePath = (source as { filePath?: unknown }).filePath
  const workerReadPath =
    readInWorkers && typeof filePath === 'string' && filePath.length > 0 ? filePath : undefined

  return {
    previous,
    changed,
    compress,
    workers,
    batchBytes,
    blocksPerBatch: batchBytes / source.blockSize,
    maxBatchesInFlight,
    onProgress: init.onProgress,
    signal: init.signal,
    hashImplementation,
    workerReadPath,
  }
}
