/**
 * The appliance's scan: read a volume's blocks, hash them (and LZ4 them) in worker threads, diff them
 * against the previous block index, and hand the results to one consumer in block order.
 *
 * For a file-backed source (BlockSource `filePath`) the main thread only plans: it posts each batch
 * (batch-plan.ts) as a small task naming its byte extents, and the worker that takes it reads the
 * data itself, then hashes it (docs/DECISIONS.md "Worker threads read file-backed volumes"). Any
 * other source is read on the main thread into the input buffer of a
 * free *slot*, one read at a time, and the buffer is posted to the pool. Either way a batch holds its
 * slot from when it is started until the consumer moves past its last record, so at most
 * `maxBatchesInFlight` batches are ahead of the consumer and memory stays bounded (scan-options.ts)
 * whatever the volume's size.
 * The first failure — a read error, a worker crash, the AbortSignal, `close()` — stops the scan:
 * the iteration rejects with it and the pool is destroyed at once. A scan given a shared pool
 * (ScanComponents `sharedPool`, shared-scan-pool.ts) leases its threads instead: at its end, or
 * its first failure, it ends the lease and the threads stay for the next scan (a worker failure
 * retires the shared pool: the next scan gets new threads).
 *
 * At the end `index` is the volume's new BlockIndex and `stats` says what the scan saw. A scan runs
 * once; `close()` is idempotent and is called for you when the iteration ends in any way.
 */
import { INDEX_FLAG_MASK } from '../../blockio/block-flags.js'
import { BlockIndex, DIGEST_LENGTH } from '../../blockio/block-index.js'
import type { BlockSource } from '../../blockio/block-source.js'
import { resizeIndex } from '../../blockio/index-diff.js'
import { type Batch, planBatches, readSet, readSetBytes } from './batch-plan.js'
import { blake3Candidates, selectBlake3 } from './blake3.js'
import {
  abortedError,
  describeCause,
  ScanError,
  ScanErrorCode,
  sourceReadError,
  workerError,
  workerReadError,
} from './errors.js'
import { type BlockRecord, ScanBatch } from './scan-batch.js'
import {
  type InputLayout,
  inputLayout,
  PREVIOUS_NONE,
  type ScanTask,
  type ScanTaskResult,
  type WorkerRead,
} from './scan-messages.js'
import { checkScanInit, type ScanInit, type ScanSettings } from './scan-options.js'
import { type ScanStats, ScanTally } from './scan-tally.js'
import {
  createPiscinaPool,
  defaultScanPoolOptions,
  type ScanComponents,
  type ScanWorkerPool,
} from './scan-worker-pool.js'

export type { ScanStats } from './scan-tally.js'

export interface ScanResult {
  index: BlockIndex
  stats: ScanStats
}

interface InFlight {
  batch: Batch
  result: Promise<ScanTaskResult>
}

type ScanState = 'ready' | 'running' | 'done' | 'stopped'

const noop = (): void => {}

/** Scan ids are unique in the process, so in any pool a scan's worker reads name only it. */
let nextScanId = 1

export class VolumeScan implements AsyncIterable<BlockRecord> {
  /** Bytes the scan reads in all (the onProgress total). */
  readonly totalBytes: number
  /** Blocks the scan reads in all. */
  readonly blocksToRead: number
  private readonly source: BlockSource
  private readonly settings: ScanSettings
  private readonly createPool: NonNullable<ScanComponents['createPool']>
  private readonly sharedPool: ScanComponents['sharedPool']
  /** Names this scan in worker reads: a thread of a shared pool reopens the volume when it changes. */
  private readonly id = nextScanId++
  private readonly layout: InputLayout
  private readonly plan: Generator<Batch>
  private readonly newIndex: BlockIndex
  private state: ScanState = 'ready'
  private pool: ScanWorkerPool | undefined
  private poolDestroyed: Promise<void> | undefined
  private readonly freeBuffers: ArrayBuffer[] = []
  /** Input buffer of the batch the consumer is in: its slot is still taken. */
  private heldBuffer: ArrayBuffer | undefined
  private readonly inFlight: InFlight[] = []
  private planDone = false
  private lastRead: Promise<unknown> = Promise.resolve()
  private failure: unknown
  private rejectWaiter: ((error: unknown) => void) | undefined
  private closing: Promise<void> | undefined
  private readonly tally: ScanTally

  constructor(source: BlockSource, init: ScanInit = {}, components: ScanComponents = {}) {
    this.settings = checkScanInit(source, init)
    this.source = source
    this.createPool = components.createPool ?? createPiscinaPool
    this.sharedPool = components.sharedPool
    this.layout = inputLayout(
      this.settings.blocksPerBatch,
      source.blockSize,
      this.settings.workerReadPath !== undefined,
    )
    const { previous, changed } = this.settings
    // Change tracking reads only some blocks: the others keep the previous scan's digests, carried
    // over to the volume's current size (docs/FORMATS.md "Volume resize").
    const resized =
      changed !== undefined && previous !== undefined ? resizeIndex(previous, source.size) : undefined
    const set = readSet(source.blockCount, changed, resized?.changed)
    this.totalBytes = readSetBytes(set, source.size, source.blockSize)
    this.blocksToRead = set.changedCount
    this.plan = planBatches(set.runs, this.settings.blocksPerBatch)
    this.newIndex = resized?.index ?? new BlockIndex(source.size, source.blockSize)
    this.tally = new ScanTally(this.newIndex)
  }

  /** The volume's new index; only once the scan has finished. */
  get index(): BlockIndex {
    if (this.state !== 'done') {
      throw new ScanError(ScanErrorCode.INVALID_STATE, 'the scan has not finished: its index is incomplete', {
        remediation: 'Iterate the scan to its end before reading its index.',
      })
    }
    return this.newIndex
  }

  get stats(): ScanStats {
    return this.tally.stats()
  }

  [Symbol.asyncIterator](): AsyncIterator<BlockRecord> {
    return this.records()
  }

  /** Every block read, in block order. */
  async *records(): AsyncGenerator<BlockRecord, void, undefined> {
    for await (const batch of this.batches()) yield* batch.records()
  }

  /** The same results a batch at a time: cheaper when the consumer works on batches anyway. */
  async *batches(): AsyncGenerator<ScanBatch, void, undefined> {
    this.begin()
    try {
      // Threads start while the first batches are read (~0.1 s of module loading per thread).
      if (this.blocksToRead > 0 && this.failure === undefined) this.startPool()
      for (;;) {
        if (this.heldBuffer !== undefined) this.freeBuffers.push(this.heldBuffer)
        this.heldBuffer = undefined
        this.pump()
        if (this.failure !== undefined) throw this.failure
        const entry = this.inFlight.shift()
        // Nothing in flight means every slot was free, so the pump would have started the next batch.
        if (entry === undefined) break
        const result = await this.waitFor(entry.result)
        this.heldBuffer = result.input
        const batch = new ScanBatch(entry.batch, result.output)
        this.tally.add(batch, result.implementation)
        yield batch
      }
      await this.finish()
    } finally {
      await this.close()
    }
  }

  /** Stops the scan if it is running and destroys its pool (or ends its lease); idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private begin(): void {
    if (this.state !== 'ready') {
      throw new ScanError(ScanErrorCode.INVALID_STATE, `the scan cannot be iterated: it is ${this.state}`, {
        remediation: 'A scan runs once: create a new one with scanVolume().',
      })
    }
    this.state = 'running'
    this.tally.start()
    const { signal } = this.settings
    if (signal?.aborted === true) this.onAbort()
    else signal?.addEventListener('abort', this.onAbort, { once: true })
  }

  private readonly onAbort = (): void => {
    const reason = this.settings.signal?.reason
    this.fail(abortedError(`the scan of ${this.source.name} was aborted: ${describeCause(reason)}`, reason))
  }

  /**
   * Starts batches while a slot is free. Main-thread reads are chained so that only one is
   * outstanding; worker reads need no chain (each worker reads the batch it runs).
   */
  private pump(): void {
    const slotsTaken = () => this.inFlight.length + (this.heldBuffer === undefined ? 0 : 1)
    while (this.failure === undefined && !this.planDone && slotsTaken() < this.settings.maxBatchesInFlight) {
      const next = this.plan.next()
      if (next.done === true) {
        this.planDone = true
        return
      }
      const batch = next.value
      const buffer = this.freeBuffers.pop() ?? new ArrayBuffer(this.layout.byteLength)
      let result: Promise<ScanTaskResult>
      if (this.settings.workerReadPath !== undefined) {
        result = this.runWorkerRead(batch, buffer, this.settings.workerReadPath)
      } else {
        const read = this.lastRead.then(() => this.readBatch(batch, buffer))
        this.lastRead = read.catch(noop)
        result = read.then((dataLength) => this.runBatch(batch, buffer, dataLength))
      }
      result.catch((error: unknown) => this.fail(error))
      this.inFlight.push({ batch, result })
    }
  }

  private async readBatch(batch: Batch, buffer: ArrayBuffer): Promise<number> {
    const { source } = this
    let dataLength = 0
    for (const run of batch.runs) {
      if (this.failure !== undefined) throw this.failure
      const expected = Math.min(run.count * source.blockSize, source.size - run.first * source.blockSize)
      const target = new Uint8Array(buffer, this.layout.dataOffset + dataLength, run.count * source.blockSize)
      let got: number
      try {
        got = await source.read(run.first, run.count, target)
      } catch (cause) {
        throw sourceReadError(source.name, run.first, run.count, describeCause(cause), cause)
      }
      if (got !== expected) {
        throw sourceReadError(source.name, run.first, run.count, `${got} bytes read, ${expected} expected`)
      }
      dataLength += got
    }
    if (this.failure !== undefined) throw this.failure
    if (this.settings.previous !== undefined) this.fillPrevious(batch, buffer)
    this.progress(dataLength)
    return dataLength
  }

  /** A batch read and hashed by a worker: the task names the byte extents of its runs. */
  private async runWorkerRead(batch: Batch, buffer: ArrayBuffer, path: string): Promise<ScanTaskResult> {
    if (this.failure !== undefined) throw this.failure
    const { source } = this
    const extents: number[] = []
    let dataLength = 0
    for (const run of batch.runs) {
      const position = run.first * source.blockSize
      const length = Math.min(run.count * source.blockSize, source.size - position)
      extents.push(position, length)
      dataLength += length
    }
    if (this.settings.previous !== undefined) this.fillPrevious(batch, buffer)
    const result = await this.runBatch(batch, buffer, dataLength, { scan: this.id, path, extents })
    const failure = result.readFailure
    if (failure !== undefined) {
      throw workerReadError(source, batch.runs[failure.extent] ?? batch.runs[0]!, failure)
    }
    this.progress(dataLength)
    return result
  }

  /** Counts bytes read; an exception of onProgress fails the scan unchanged. */
  private progress(dataLength: number): void {
    this.tally.bytesRead += dataLength
    this.settings.onProgress?.(this.tally.bytesRead, this.totalBytes)
  }

  /** Writes the previous digests and flags of the batch's blocks after its data (InputLayout). */
  private fillPrevious(batch: Batch, buffer: ArrayBuffer): void {
    const previous = this.settings.previous!
    const bytes = new Uint8Array(buffer)
    let k = 0
    for (const run of batch.runs) {
      const known = Math.max(0, Math.min(run.count, previous.blockCount - run.first))
      const digests = previous.digests.subarray(
        run.first * DIGEST_LENGTH,
        (run.first + known) * DIGEST_LENGTH,
      )
      bytes.set(digests, this.layout.previousDigestsOffset + k * DIGEST_LENGTH)
      const flagsAt = this.layout.previousFlagsOffset + k
      for (let i = 0; i < known; i++) bytes[flagsAt + i] = previous.flags[run.first + i]! & INDEX_FLAG_MASK
      bytes.fill(PREVIOUS_NONE, flagsAt + known, flagsAt + run.count)
      k += run.count
    }
  }

  private async runBatch(
    batch: Batch,
    buffer: ArrayBuffer,
    dataLength: number,
    read?: WorkerRead,
  ): Promise<ScanTaskResult> {
    if (this.failure !== undefined) throw this.failure
    const { source, settings } = this
    const pool = this.startPool()
    const task: ScanTask = {
      input: buffer,
      blockSize: source.blockSize,
      blocksPerBatch: settings.blocksPerBatch,
      blockCount: batch.blockCount,
      dataLength,
      hasPrevious: settings.previous !== undefined,
      compress: settings.compress,
    }
    if (read !== undefined) task.read = read
    try {
      return await pool.run(task, { transferList: [buffer] })
    } catch (cause) {
      if (this.failure !== undefined) throw this.failure
      throw workerError(
        `a worker failed on the batch from block ${batch.runs[0]!.first} of ${source.name}`,
        cause,
      )
    }
  }

  private startPool(): ScanWorkerPool {
    if (this.pool !== undefined) return this.pool
    const { workers, hashImplementation } = this.settings
    const onError = (cause: unknown) =>
      this.fail(workerError(`a worker thread scanning ${this.source.name} failed`, cause))
    try {
      this.pool =
        this.sharedPool === undefined
          ? this.createPool(defaultScanPoolOptions(workers, { hashImplementation }, onError))
          : this.sharedPool.lease(workers, { hashImplementation }, onError)
    } catch (cause) {
      if (cause instanceof ScanError) throw cause
      throw new ScanError(
        ScanErrorCode.WORKER_FAILED,
        `the scan's worker threads cannot start: ${describeCause(cause)}`,
        {
          remediation:
            'Check that Lifeboat is built (dist/agent/scan/scan-worker.js exists) and memory is available.',
          cause,
        },
      )
    }
    return this.pool
  }

  /** Waits for one batch, or for the scan's first failure, whichever comes first. */
  private waitFor(result: Promise<ScanTaskResult>): Promise<ScanTaskResult> {
    return new Promise<ScanTaskResult>((resolve, reject) => {
      this.rejectWaiter = reject
      result.then(resolve, reject)
    }).finally(() => {
      this.rejectWaiter = undefined
    })
  }

  private async finish(): Promise<void> {
    // A scan that read nothing still names the implementation its workers would have used.
    this.tally.implementation ??= (
      await selectBlake3(blake3Candidates(this.settings.hashImplementation))
    ).name
    this.state = 'done'
    this.tally.end()
  }

  /** First failure wins: it rejects the consumer's wait and every later step, and ends the pool. */
  private fail(error: unknown): void {
    if (this.failure !== undefined) return
    this.failure = error
    this.rejectWaiter?.(error)
    void this.destroyPool()
  }

  private destroyPool(): Promise<void> {
    if (this.pool === undefined) return Promise.resolve()
    this.poolDestroyed ??= this.pool.destroy().catch(noop)
    return this.poolDestroyed
  }

  private async shutdown(): Promise<void> {
    if (this.state !== 'done') {
      this.fail(abortedError(`the scan of ${this.source.name} was closed before it finished`))
      this.state = 'stopped'
    }
    this.settings.signal?.removeEventListener('abort', this.onAbort)
    this.tally.end()
    this.freeBuffers.length = 0
    this.heldBuffer = undefined
    await this.destroyPool()
  }
}

/** Prepares a scan of `source`; options are checked now, the work starts when it is iterated. */
export function scanVolume(source: BlockSource, init?: ScanInit, components?: ScanComponents): VolumeScan {
  return new VolumeScan(source, init, components)
}

/** Runs a scan to its end without looking at its records (hash-only `lifeboat scan`). */
export async function runScan(
  source: BlockSource,
  init?: ScanInit,
  components?: ScanComponents,
): Promise<ScanResult> {
  const scan = scanVolume(source, init, components)
  for await (const _batch of scan.batches()) {
    // The batches are already accounted into the index and stats.
  }
  return { index: scan.index, stats: scan.stats }
}
