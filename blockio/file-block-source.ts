/**
 * A volume read from a raw image file or a Linux block device: the same positional reads serve
 * both, only the size differs (blockio/volume-size.ts). The size is fixed when the source opens;
 * a volume that grows later is read up to that size, one that shrinks fails with SOURCE_SHORT_READ.
 *
 * A *piece* is one positional read of at most MAX_READ_BYTES; a run longer than that is split into
 * pieces, and at most `maxReadsInFlight` pieces of this source are in flight at once.
 */
import { type FileHandle, open } from 'node:fs/promises'
import { resolve } from 'node:path'
import { type BlockSource, blockCountOf, DEFAULT_BLOCK_SIZE } from './block-source.js'
import { checkBlockSize, checkRun } from './block-source-checks.js'
import { BlockioError, BlockioErrorCode } from './errors.js'
import { InFlightLimit } from './in-flight-limit.js'
import { blockDeviceSize, DEFAULT_SYSFS_ROOT } from './volume-size.js'

/** docs/LIMITS.md "Blocks and volumes": reads of one source in flight at once. */
export const DEFAULT_MAX_READS_IN_FLIGHT = 4
export const MAX_READS_IN_FLIGHT = 64
/** Largest single read. Runs the scanner asks for (≥ 1 MiB) normally fit in one; larger ones split. */
export const MAX_READ_BYTES = 16 * 1024 * 1024

export interface FileBlockSourceInit {
  /** Default DEFAULT_BLOCK_SIZE (64 KiB). */
  blockSize?: number
  /** Default DEFAULT_MAX_READS_IN_FLIGHT (4); 1 – MAX_READS_IN_FLIGHT. */
  maxReadsInFlight?: number
  /** Where sysfs is mounted, for sizing block devices. Default `/sys`; tests pass a fake tree. */
  sysfsRoot?: string
}

/**
 * Opens the image file or block device at `path`. Rejects with INVALID_OPTION for a bad option
 * and SOURCE_UNREADABLE when the path is missing, not permitted, a directory, or another kind of file.
 */
export async function openFileBlockSource(
  path: string,
  init: FileBlockSourceInit = {},
): Promise<BlockSource> {
  const blockSize = init.blockSize ?? DEFAULT_BLOCK_SIZE
  checkBlockSize(blockSize)
  const maxReadsInFlight = init.maxReadsInFlight ?? DEFAULT_MAX_READS_IN_FLIGHT
  if (!Number.isInteger(maxReadsInFlight) || maxReadsInFlight < 1 || maxReadsInFlight > MAX_READS_IN_FLIGHT) {
    throw new BlockioError(
      BlockioErrorCode.INVALID_OPTION,
      `maxReadsInFlight ${maxReadsInFlight} is out of range`,
      {
        remediation: `Use an integer from 1 to ${MAX_READS_IN_FLIGHT} (default ${DEFAULT_MAX_READS_IN_FLIGHT}).`,
      },
    )
  }
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (cause) {
    throw unreadable(path, cause)
  }
  try {
    const stat = await handle.stat({ bigint: true })
    let size: number
    if (stat.isFile()) {
      size = Number(stat.size)
    } else if (stat.isBlockDevice()) {
      size = await blockDeviceSize(stat.rdev, path, init.sysfsRoot ?? DEFAULT_SYSFS_ROOT)
    } else {
      const kind = stat.isDirectory() ? 'a directory' : 'neither a regular file nor a block device'
      throw new BlockioError(BlockioErrorCode.SOURCE_UNREADABLE, `${path} is ${kind}`, {
        remediation: 'Give the path of a raw disk image file or a block device (e.g. /dev/vdb).',
      })
    }
    return new FileBlockSource(path, handle, size, blockSize, maxReadsInFlight)
  } catch (cause) {
    await handle.close().catch(() => {})
    throw cause instanceof BlockioError ? cause : unreadable(path, cause)
  }
}

class FileBlockSource implements BlockSource {
  readonly name: string
  /** The BlockSource capability: the scan's worker threads read the image or device themselves. */
  readonly filePath: string
  readonly size: number
  readonly blockSize: number
  readonly blockCount: number
  private readonly handle: FileHandle
  private readonly slots: InFlightLimit
  private readonly pending = new Set<Promise<unknown>>()
  private closing: Promise<void> | undefined

  constructor(name: string, handle: FileHandle, size: number, blockSize: number, maxReadsInFlight: number) {
    this.name = name
    // Absolute, so that a change of working directory cannot point the workers at another file.
    this.filePath = resolve(name)
    this.handle = handle
    this.size = size
    this.blockSize = blockSize
    this.blockCount = blockCountOf(size, blockSize)
    this.slots = new InFlightLimit(maxReadsInFlight)
  }

  /**
   * The BlockSource contract. The caller owns `target` and its placement matters: on the measured
   * machine (notes/MEASURED-FACTS.md "Reading files") reads into a buffer that starts on a 4 KiB
   * boundary — which is where `Buffer.allocUnsafe(1 MiB)` puts it — ran ~5× slower than into a
   * window at a small offset (e.g. 16 bytes) of a larger allocation. Pass such a window for speed.
   */
  async read(firstBlock: number, count: number, target: Uint8Array): Promise<number> {
    if (this.closing !== undefined) throw this.closedError()
    const length = checkRun(this, firstBlock, count, target)
    const position = firstBlock * this.blockSize
    const pieces: Promise<void>[] = []
    for (let at = 0; at < length; at += MAX_READ_BYTES) {
      pieces.push(this.readPiece(target, at, Math.min(MAX_READ_BYTES, length - at), position + at))
    }
    // Settle every piece before answering, so no read still writes into `target` after a rejection.
    const settled = Promise.allSettled(pieces)
    this.pending.add(settled)
    const results = await settled.finally(() => this.pending.delete(settled))
    for (const result of results) {
      if (result.status === 'rejected') throw result.reason
    }
    return length
  }

  /** Lets every read already called finish, then closes the file; later reads fail with SOURCE_CLOSED. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.pending])
      await this.handle.close().catch(() => {})
    })()
    return this.closing
  }

  private async readPiece(target: Uint8Array, at: number, length: number, position: number): Promise<void> {
    await this.slots.acquire()
    try {
      let done = 0
      // Each pass reads at least one byte or throws: at most `length` passes, normally one.
      while (done < length) {
        let bytesRead: number
        try {
          ;({ bytesRead } = await this.handle.read(target, at + done, length - done, position + done))
        } catch (cause) {
          throw new BlockioError(
            BlockioErrorCode.SOURCE_UNREADABLE,
            `reading ${this.name} at byte ${position + done} failed: ${describe(cause)}`,
            {
              remediation: 'Check the disk and the kernel log for I/O errors, then run the scan again.',
              retryable: true,
              cause,
            },
          )
        }
        if (bytesRead === 0) {
          throw new BlockioError(
            BlockioErrorCode.SOURCE_SHORT_READ,
            `${this.name} ended at byte ${position + done}, but it was ${this.size} bytes when opened`,
            {
              remediation:
                'The volume shrank while it was read: scan from a snapshot, or run the scan again.',
              retryable: true,
            },
          )
        }
        done += bytesRead
      }
    } finally {
      this.slots.release()
    }
  }

  private closedError(): BlockioError {
    return new BlockioError(BlockioErrorCode.SOURCE_CLOSED, `${this.name} was read after it was closed`, {
      remediation: 'This is a bug in the caller: finish every read before close().',
    })
  }
}

function unreadable(path: string, cause: unknown): BlockioError {
  const errno = (cause as { code?: unknown } | null)?.code
  const remediation =
    errno === 'ENOENT'
      ? 'Check the path of the disk image or device.'
      : errno === 'EACCES' || errno === 'EPERM'
        ? 'Run the agent as a user that may read the volume (for devices, usually root or group "disk").'
        : 'Check the path, the permissions and the kernel log.'
  return new BlockioError(BlockioErrorCode.SOURCE_UNREADABLE, `${path} cannot be read: ${describe(cause)}`, {
    remediation,
    retryable: errno === 'EIO' || errno === 'EAGAIN' || errno === 'EBUSY',
    cause,
  })
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}
