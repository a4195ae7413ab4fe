/**
 * Every message between the scan pipeline's main thread and its worker threads, and the byte layout
 * of the two buffers they pass back and forth.
 *
 * A *batch* is up to `blocksPerBatch` blocks read one after another into one *input buffer*: a whole,
 * dedicated ArrayBuffer owned by one pool *slot*, transferred to the worker with the task and back with
 * the result (never copied: posting a view of a larger buffer would clone the whole buffer,
 * notes/MEASURED-FACTS.md "piscina"). The blocks of a batch need not be consecutive in the volume (a
 * change-tracking scan packs several short runs into one batch); the worker does not need to know the
 * block numbers, only that every block is `blockSize` long except perhaps the batch's last one (the
 * volume's short last block is always the last block of its batch).
 *
 * The worker answers with one new *output buffer* holding the digests, flags and payloads of the batch
 * (OutputLayout), so the main thread receives one transferable per batch and the records it yields
 * can keep views into it for as long as the consumer wants.
 *
 * *Worker reads*: when the source is a plain file (BlockSource `filePath`), the task names the byte
 * *extents* of the batch instead of carrying its data, and the worker reads them itself into its own
 * reusable *read buffer*; the input buffer then holds only the previous digests and flags. A read
 * that fails or ends early comes back as a `readFailure`, which the main thread turns into the same
 * coded error a failed `BlockSource.read()` gives.
 */
import type { Blake3ImplementationName, Blake3Preference } from './blake3.js'

/** Flags byte of a previous-index entry meaning "this block has no previous entry": always changed. */
export const PREVIOUS_NONE = 0xff

/**
 * Where reads start in an input buffer. Measured on this machine (2 cores, Node 20, page cache):
 * `readSync` of 1–4 MiB into a page-aligned window ran at 1.4–2.4 GB/s, into the same buffer at offset
 * 16 or 64 at 8–10 GB/s (4 KiB address aliasing between the page cache and the target; fresh large
 * ArrayBuffers are page-aligned). 64 also keeps the data on a cache-line boundary.
 */
export const READ_WINDOW_OFFSET = 64

/**
 * Input buffer of a slot: [0, READ_WINDOW_OFFSET) unused, then `blocksPerBatch × blockSize` bytes of
 * block data, then the previous digests (32 bytes per block) and previous flags (1 byte per block)
 * of the batch's blocks, which the main thread writes before posting the task.
 */
export interface InputLayout {
  dataOffset: number
  previousDigestsOffset: number
  previousFlagsOffset: number
  byteLength: number
}

/** `workerReads`: the batch's data is read by the worker into its read buffer, so it has no room here. */
export function inputLayout(blocksPerBatch: number, blockSize: number, workerReads = false): InputLayout {
  const dataOffset = READ_WINDOW_OFFSET
  const previousDigestsOffset = dataOffset + (workerReads ? 0 : blocksPerBatch * blockSize)
  const previousFlagsOffset = previousDigestsOffset + blocksPerBatch * 32
  return {
    dataOffset,
    previousDigestsOffset,
    previousFlagsOffset,
    byteLength: previousFlagsOffset + blocksPerBatch,
  }
}

/**
 * Output buffer of a batch of `n` blocks: digests (32 × n), flags (n), padding to 4 bytes, then an
 * offsets table of n + 1 u32 (native endianness: it never leaves the machine) into the payload area
 * that follows. Payload k is `[payloadsOffset + offsets[k], payloadsOffset + offsets[k + 1])`; empty
 * means the block has no payload (zero, unchanged, or hash-only scan).
 */
export interface OutputLayout {
  digestsOffset: number
  flagsOffset: number
  offsetsOffset: number
  payloadsOffset: number
}

export function outputLayout(blockCount: number): OutputLayout {
  const flagsOffset = blockCount * 32
  const offsetsOffset = (flagsOffset + blockCount + 3) & ~3
  return {
    digestsOffset: 0,
    flagsOffset,
    offsetsOffset,
    payloadsOffset: offsetsOffset + 4 * (blockCount + 1),
  }
}

/** Sent once to every worker as piscina's `workerData`. */
export interface ScanWorkerData {
  hashImplementation: Blake3Preference
}

/** One batch to hash (and compress); `input` is transferred. */
export interface ScanTask {
  input: ArrayBuffer
  blockSize: number
  /** Capacity of the slot's input buffer in blocks: fixes where the previous digests and flags lie. */
  blocksPerBatch: number
  /** Blocks in this batch, 1 to blocksPerBatch. */
  blockCount: number
  /** Bytes of block data from `inputLayout().dataOffset`: blockCount × blockSize, less a short last block. */
  dataLength: number
  /** Whether the previous digests and flags of the input layout are filled in. */
  hasPrevious: boolean
  compress: boolean
  /** Present for worker reads: the worker reads the batch's data itself (input has no data area). */
  read?: WorkerRead
}

/** Where a worker reads a batch from: the extents are read one after another into its read buffer. */
export interface WorkerRead {
  /**
   * The scan the batch belongs to, unique in the process: a thread keeps the volume open from one
   * task to the next of the same scan only, so a thread of a shared pool never reads a file that
   * was replaced since (a new inode at the same path) through an old descriptor.
   */
  scan: number
  /** Absolute path of the file or block device (BlockSource `filePath`). */
  path: string
  /** Byte position and length of each run of the batch, in order: [position0, length0, position1, …]. */
  extents: number[]
}

/** Why a worker read failed; `extent` is the index of the run (the batch's `runs[extent]`). */
export interface WorkerReadFailure {
  extent: number
  /** Byte position in the volume where the failing read started. */
  position: number
  /** True when the file ended before the extent did (it shrank since the source was opened). */
  short: boolean
  /** The system error's code (EIO, ENOENT, …), when there was one. */
  errno?: string
  message: string
}

/** A batch's answer; `input` (the same buffer, handed back for reuse) and `output` are transferred. */
export interface ScanTaskResult {
  input: ArrayBuffer
  output: ArrayBuffer
  blockCount: number
  /** The implementation the worker hashed with, for the scan's statistics. */
  implementation: Blake3ImplementationName
  /** Set when a worker read failed: nothing was hashed and `output` is empty. */
  readFailure?: WorkerReadFailure
}
