/**
 * The piscina worker of the scan pipeline: it only computes. For each block of a batch (see
 * scan-messages.ts for the words and layouts) it decides:
 *
 * - *zero*: every byte is zero. Flag ZERO; the digest is BLAKE3 of that many zero bytes (computed once
 *   per length); never a payload.
 * - *changed*: the digest or index flags differ from the block's previous entry, or it has none.
 * - *payload*: only for changed non-zero blocks of a compressing scan — the lz4-napi `compressSync`
 *   form (4-byte little-endian length, then an LZ4 block), or the plain block with flag RAW when that
 *   form is not smaller.
 *
 * The input buffer goes back to the main thread with the answer, so the pool of input buffers is
 * recycled and the worker allocates only the output buffer (and LZ4's own results).
 *
 * With worker reads (scan-messages.ts) the worker also reads the batch: it opens the volume at its
 * first task of a scan, keeps the descriptor for the following tasks of the same scan, and reads
 * with `readSync` into one reusable read buffer, then hashes it: the one copy out of the page cache
 * is made by the core that hashes the data, and no batch of data travels between threads. A task of
 * another scan (WorkerRead `scan`) reopens the path, so a thread of a shared pool (kept across
 * scans, shared-scan-pool.ts) never reads a replaced file through the old one's descriptor; and a
 * descriptor left unused for VOLUME_IDLE_CLOSE_MS is closed, so a thread waiting for the next scan
 * does not keep a deleted volume's space. Node closes what a thread opened when the thread ends.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { workerData } from 'node:worker_threads'
import { move, transferableSymbol, valueSymbol } from 'piscina'
import { BlockFlag, INDEX_FLAG_MASK } from '../../blockio/block-flags.js'
import { BLAKE3_DIGEST_LENGTH, loadBlake3 } from './blake3.js'
import {
  inputLayout,
  outputLayout,
  PREVIOUS_NONE,
  READ_WINDOW_OFFSET,
  type ScanTask,
  type ScanTaskResult,
  type ScanWorkerData,
  type WorkerRead,
  type WorkerReadFailure,
} from './scan-messages.js'
import { YoungGarbage } from './young-garbage.js'

const settings = workerData as ScanWorkerData | undefined
const implementation = await loadBlake3(settings?.hashImplementation ?? 'auto')
const hash = implementation.hash

type Compress = (block: Buffer) => Buffer
/** Loaded with the first compressing task: a hash-only scan's threads start without it. */
let compressSync: Compress | undefined

async function loadCompressor(): Promise<Compress> {
  const lz4 = await import('lz4-napi')
  return lz4.compressSync
}

/** Grown to the largest block length seen; `compare` against a prefix is a memcmp, no allocation. */
let zeroBlock = Buffer.alloc(0)
const zeroDigests = new Map<number, Uint8Array>()

function zeroDigest(length: number): Uint8Array {
  let digest = zeroDigests.get(length)
  if (digest === undefined) {
    digest = hash(zeroBlock.subarray(0, length))
    zeroDigests.set(length, digest)
  }
  return digest
}

// Per-thread scratch, reused across batches: digests and flags are gathered here because the output
// buffer can only be sized once the payloads are known.
let digestScratch = new Uint8Array(0)
let flagScratch = new Uint8Array(0)
const payloads: Array<Buffer | undefined> = []
const garbage = new YoungGarbage()

function ensureScratch(blockCount: number): void {
  if (flagScratch.length < blockCount) {
    digestScratch = new Uint8Array(blockCount * BLAKE3_DIGEST_LENGTH)
    flagScratch = new Uint8Array(blockCount)
  }
}

/** A volume descriptor unused this long is closed (the thread may wait long for the next scan). */
export const VOLUME_IDLE_CLOSE_MS = 1_000

// Worker reads: the volume this thread has open (for which scan, at which path), and its read buffer.
let readScan: number | undefined
let readPath: string | undefined
let readFd: number | undefined
let idleClose: ReturnType<typeof setTimeout> | undefined
/** A window at READ_WINDOW_OFFSET of a larger allocation: page-aligned targets read ~5× slower. */
let readWindow = Buffer.alloc(0)

function openVolume(read: WorkerRead): number {
  if (readScan !== read.scan || readPath !== read.path || readFd === undefined) {
    closeVolume()
    readFd = openSync(read.path, 'r')
    readScan = read.scan
    readPath = read.path
  }
  return readFd
}

function closeVolume(): void {
  if (idleClose !== undefined) clearTimeout(idleClose)
  idleClose = undefined
  const fd = readFd
  readFd = undefined
  readScan = undefined
  readPath = undefined
  if (fd !== undefined) {
    try {
      closeSync(fd)
    } catch {
      // Nothing to do: the descriptor is gone either way.
    }
  }
}

/** (Re)arms the idle close after a read task; unref'd, so it never keeps the thread alive. */
function closeWhenIdle(): void {
  if (idleClose !== undefined) clearTimeout(idleClose)
  idleClose = setTimeout(closeVolume, VOLUME_IDLE_CLOSE_MS)
  idleClose.unref()
}

/** Reads the batch's extents one after another into the read buffer; a failure is returned. */
function readExtents(read: WorkerRead): WorkerReadFailure | undefined {
  const { extents } = read
  let at = 0
  for (let e = 0; e < extents.length; e += 2) {
    const position = extents[e]!
    const length = extents[e + 1]!
    let done = 0
    try {
      const fd = openVolume(read)
      // Each pass reads at least one byte or stops: normally one pass per extent.
      while (done < length) {
        const got = readSync(fd, readWindow, at + done, length - done, position + done)
        if (got === 0)
          return { extent: e / 2, position: position + done, short: true, message: 'end of file' }
        done += got
      }
    } catch (cause) {
      const errno = (cause as { code?: unknown } | null)?.code
      return {
        extent: e / 2,
        position: position + done,
        short: false,
        ...(typeof errno === 'string' ? { errno } : {}),
        message: cause instanceof Error ? cause.message : String(cause),
      }
    }
    at += length
  }
  return undefined
}

function readFailed(input: ArrayBuffer, blockCount: number, readFailure: WorkerReadFailure): unknown {
  const failed: ScanTaskResult = {
    input,
    output: new ArrayBuffer(0),
    blockCount,
    implementation: implementation.name,
    readFailure,
  }
  return move({ [transferableSymbol]: [input], [valueSymbol]: failed })
}

export default function scanBatch(task: ScanTask): unknown {
  if (task.compress && compressSync === undefined) {
    return loadCompressor().then((loaded) => {
      compressSync = loaded
      return scanBatch(task)
    })
  }
  const { input, blockSize, blockCount, dataLength, hasPrevious, compress, read } = task
  const bytes = Buffer.from(input)
  const layout = inputLayout(task.blocksPerBatch, blockSize, read !== undefined)
  // Block k of the batch starts at `dataAt + k * blockSize` of `data`.
  let data = bytes
  let dataAt = layout.dataOffset
  if (read !== undefined) {
    const capacity = task.blocksPerBatch * blockSize
    if (readWindow.length < capacity) {
      readWindow = Buffer.from(new ArrayBuffer(READ_WINDOW_OFFSET + capacity), READ_WINDOW_OFFSET, capacity)
    }
    // The whole batch first: reading it a chunk at a time just ahead of the hashing (to hash from
    // the L2 cache) measured no faster on this machine kind.
    const readFailure = readExtents(read)
    closeWhenIdle()
    if (readFailure !== undefined) return readFailed(input, blockCount, readFailure)
    data = readWindow
    dataAt = 0
  }
  if (zeroBlock.length < blockSize) zeroBlock = Buffer.alloc(blockSize)
  ensureScratch(blockCount)
  let payloadBytes = 0
  let lz4Bytes = 0

  for (let k = 0; k < blockCount; k++) {
    const start = dataAt + k * blockSize
    const length = Math.min(blockSize, dataLength - k * blockSize)
    const end = start + length
    let flags = 0
    let digest: Uint8Array
    // Most data blocks differ from zero in their first bytes, so this memcmp is nearly free for them.
    if (zeroBlock.compare(data, start, end, 0, length) === 0) {
      flags = BlockFlag.ZERO
      digest = zeroDigest(length)
    } else {
      digest = hash(data.subarray(start, end))
    }
    const digestAt = k * BLAKE3_DIGEST_LENGTH
    digestScratch.set(digest, digestAt)

    let changed = true
    if (hasPrevious) {
      const previousFlags = bytes[layout.previousFlagsOffset + k]!
      if (previousFlags !== PREVIOUS_NONE && previousFlags === (flags & INDEX_FLAG_MASK)) {
        changed = false
        const previousAt = layout.previousDigestsOffset + digestAt
        for (let j = 0; j < BLAKE3_DIGEST_LENGTH; j++) {
          if (digest[j] !== bytes[previousAt + j]) {
            changed = true
            break
          }
        }
      }
    }

    let payload: Buffer | undefined
    if (changed) {
      flags |= BlockFlag.CHANGED
      if (compress && (flags & BlockFlag.ZERO) === 0) {
        // A view into the input or read buffer: copied into the output before this task returns.
        const block = data.subarray(start, end)
        payload = compressSync!(block)
        lz4Bytes += payload.length
        if (payload.length >= length) {
          payload = block
          flags |= BlockFlag.RAW
        }
        payloadBytes += payload.length
      }
    }
    payloads[k] = payload
    flagScratch[k] = flags
  }

  const out = outputLayout(blockCount)
  const output = new ArrayBuffer(out.payloadsOffset + payloadBytes)
  const outBytes = new Uint8Array(output)
  outBytes.set(digestScratch.subarray(0, blockCount * BLAKE3_DIGEST_LENGTH), out.digestsOffset)
  outBytes.set(flagScratch.subarray(0, blockCount), out.flagsOffset)
  const offsets = new Uint32Array(output, out.offsetsOffset, blockCount + 1)
  let at = 0
  for (let k = 0; k < blockCount; k++) {
    offsets[k] = at
    const payload = payloads[k]
    if (payload !== undefined) {
      outBytes.set(payload, out.payloadsOffset + at)
      at += payload.length
      // Dropped now so LZ4's buffers can be collected while the next batch is hashed.
      payloads[k] = undefined
    }
  }
  offsets[blockCount] = at
  const collected = garbage.dropped(lz4Bytes)

  const result: ScanTaskResult = { input, output, blockCount, implementation: implementation.name }
  // One movable carrying both buffers: piscina concatenates `[transferableSymbol]` into the transfer list.
  const answer = move({ [transferableSymbol]: [input, output], [valueSymbol]: result })
  return collected === undefined ? answer : collected.then(() => answer)
}
