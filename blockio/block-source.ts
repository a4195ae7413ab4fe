/**
 * The contract every volume reader fulfils.
 *
 * A *volume* is a virtual disk seen as a byte array of `size` bytes, cut into fixed-size *blocks* of
 * `blockSize` bytes (64 KiB by default, DESIGN.md "Blocks"). Block `i` covers bytes
 * `[i * blockSize, min((i + 1) * blockSize, size))`: only the last block may be shorter. A
 * *run* is a sequence of consecutive blocks read in one call.
 *
 * This module imports no implementation: raw image files, Linux block devices and in-memory volumes
 * all implement it, and `test/blockio/block-source.conformance.ts` checks each one the same way.
 */

/** 64 KiB: DESIGN.md "Blocks". */
export const DEFAULT_BLOCK_SIZE = 64 * 1024
/** Smallest accepted block size: 4 KiB, one page / one sector group on every hypervisor we target. */
export const MIN_BLOCK_SIZE = 4 * 1024
/** Largest accepted block size: 16 MiB. Larger blocks defeat change detection. */
export const MAX_BLOCK_SIZE = 16 * 1024 * 1024

export interface BlockSource {
  /** What the volume is, for messages (a path, a device, "memory"). */
  readonly name: string
  /** Volume size in bytes. */
  readonly size: number
  /** Block size in bytes: a power of two in [MIN_BLOCK_SIZE, MAX_BLOCK_SIZE]. */
  readonly blockSize: number
  /** ceil(size / blockSize). */
  readonly blockCount: number
  /**
   * Reads blocks `[firstBlock, firstBlock + count)` into `target` starting at `target[0]`.
   * Resolves to the number of bytes written, which is `count * blockSize` except when the run ends
   * with the volume's short last block. Rejects with a BlockioError on a run outside the volume, a
   * target too small, or an I/O error.
   *
   * Where `target` starts matters: on this machine kind reads into a buffer that starts on a 4 KiB
   * boundary (what `Buffer.allocUnsafe(1 MiB)` returns) measured 5× slower than reads into a window
   * at a small offset of a larger allocation (notes/MEASURED-FACTS.md "Reading files").
   */
  read(firstBlock: number, count: number, target: Uint8Array): Promise<number>
  /**
   * Optional capability: the path of a regular file or block device whose bytes `[0, size)` are
   * exactly what `read()` returns, so that another thread of this process may open it and read the
   * volume itself with positional reads (the scan's workers do: agent/scan/scan-pipeline.ts). Absent
   * for sources that are not a plain file (memory, wrappers that change or watch reads): those are
   * only ever read through `read()`. A source that exposes it must not be written through while
   * scanned; a reader that opens the path must cope with the file ending early (a shrunk volume).
   */
  readonly filePath?: string
  /** Releases the file handle; idempotent. */
  close(): Promise<void>
}

/** Length in bytes of block `index` of a volume. */
export function blockLength(size: number, blockSize: number, index: number): number {
  return Math.max(0, Math.min(blockSize, size - index * blockSize))
}

export function blockCountOf(size: number, blockSize: number): number {
  return Math.ceil(size / blockSize)
}
