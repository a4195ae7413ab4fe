/**
 * Checks and seals the chunks of a putChunks call, off the main thread.
 *
 * Why: the connector's main thread also runs TLS and msgpack decoding for every frame; with LZ4
 * decompression, BLAKE3 and AES-256-GCM of each 64 KiB chunk on it too, a seed was CPU-bound on that
 * one thread and on the V8 collectors clearing the Buffers made per chunk. Here a call is copied
 * once into a chunk batch in shared memory (chunk-batch.ts), split into one range per *chunk
 * worker* (a piscina thread, balanced by payload bytes), and each worker checks its range and writes
 * the sealed entries straight into the batch's output. The main thread only copies, waits, and
 * appends the output with one write and one fsync (tenant-chunks.ts), as before.
 *
 * Guarantees kept: every chunk is checked before anything of the call is written; the call fails
 * with the error of its lowest failing position, exactly as in-thread; nothing is stored then.
 *
 * *In-thread* sealing (the same functions, on the caller's buffers without the copy) is used when
 * `workers` is 0, for calls of fewer than IN_THREAD_MAX_BYTES of plaintext (decompressing and
 * hashing, the larger part of the work, go by plaintext, not by the stored form; a worker round trip
 * costs more than it saves), and while the pool is *failed*: when a worker cannot start or dies,
 * the call is redone in-thread, a process warning BLOCKIO_CHUNK_WORKERS_FAILED is emitted, and a
 * new pool is tried after POOL_RETRY_MS — never a silent, permanent fallback.
 *
 * Batch buffers (and the output buffers of in-thread calls) are reused: made in multiples of
 * BATCH_BUFFER_STEP, up to SPARE_BATCH_BUFFERS of at most MAX_SPARE_BYTES (the largest) is kept
 * after its call is appended: a volume session's calls come one after another. Measured: making one per call (zero-filled, a page fault per
 * 4 KiB, and freed only when the main thread's collector — now rarely busy — gets to it) took the
 * connector's peak RSS in a 512 MiB seed to 498 MiB, against ~300 MiB before.
 */
import { Piscina } from 'piscina'
import { BlockioError, BlockioErrorCode } from '../errors.js'
import {
  chunkBatchLayout,
  type PositionedProblem,
  type SealedChunks,
  type SealKeys,
  type SealTask,
  type SealTaskResult,
  sealedFromBatch,
  sealedLength,
  sealInThread,
  writeChunkBatch,
} from './chunk-batch.js'
import { chunkProblemError, SealScratch } from './chunk-codec.js'
import type { IncomingChunk } from './chunk-store.js'
import { chunkWorkerUrl } from './chunk-worker-url.js'

/** ChunkStoreInit.workers when not given. */
export const DEFAULT_CHUNK_WORKERS = 2
export const MAX_CHUNK_WORKERS = 64
/** Calls with less plaintext run in-thread: 4 chunks of 64 KiB (docs/BENCHMARKS.md "Chunk store"). */
export const IN_THREAD_MAX_BYTES = 256 * 1024
/** How long calls run in-thread after the pool failed before a new pool is tried. */
export const POOL_RETRY_MS = 60_000
export const SPARE_BATCH_BUFFERS = 1
export const MAX_SPARE_BYTES = 64 * 1024 * 1024
/** Batch buffers are made in multiples of this: a 16 MiB BLOCK_BATCH needs ~33 MiB. */
export const BATCH_BUFFER_STEP = 4 * 1024 * 1024
export const WORKERS_FAILED_WARNING = 'BLOCKIO_CHUNK_WORKERS_FAILED'

export interface ChunkSealerOptions {
  /** Chunk worker threads; 0 seals on the main thread. */
  workers: number
  /** The worker module (tests pass a broken one); default chunkWorkerUrl(). */
  workerUrl?: string
  /** Default IN_THREAD_MAX_BYTES. */
  inThreadMaxBytes?: number
}

/** Sealed chunks plus the batch buffer to hand back once they are written. */
export interface SealedCall extends SealedChunks {
  batch?: SharedArrayBuffer
}

export class ChunkSealer {
  readonly #workers: number
  readonly #workerUrl: string
  readonly #inThreadMaxBytes: number
  readonly #scratch = new SealScratch()
  readonly #spares: SharedArrayBuffer[] = []
  readonly #inFlight = new Set<Promise<unknown>>()
  #pool: Piscina<SealTask, SealTaskResult> | undefined
  #failedAt = Number.NEGATIVE_INFINITY
  #closed = false

  constructor(options: ChunkSealerOptions) {
    this.#workers = options.workers
    this.#workerUrl = options.workerUrl ?? chunkWorkerUrl().href
    this.#inThreadMaxBytes = options.inThreadMaxBytes ?? IN_THREAD_MAX_BYTES
  }

  /**
   * Checks every chunk (unless keys.checked) and seals those with toSeal[i] = 1 under `keys`. Throws CHUNK_INVALID or
   * CHUNK_DIGEST_MISMATCH for the lowest failing position; STORE_CLOSED after close().
   */
  seal(chunks: readonly IncomingChunk[], toSeal: Uint8Array, keys: SealKeys): Promise<SealedCall> {
    if (this.#closed) {
      return Promise.reject(
        new BlockioError(BlockioErrorCode.STORE_CLOSED, 'the chunk store was used after close()', {
          remediation: 'Finish every call before closing the store.',
        }),
      )
    }
    const work = this.#seal(chunks, toSeal, keys)
    this.#inFlight.add(work)
    void work.then(
      () => this.#inFlight.delete(work),
      () => this.#inFlight.delete(work),
    )
    return work
  }

  async #seal(chunks: readonly IncomingChunk[], toSeal: Uint8Array, keys: SealKeys): Promise<SealedCall> {
    let plainBytes = 0
    for (const chunk of chunks) plainBytes += chunk.plainLength
    const pool = plainBytes < this.#inThreadMaxBytes ? undefined : this.#usablePool()
    if (pool !== undefined) {
      try {
        return await this.#sealInWorkers(pool, chunks, toSeal, keys)
      } catch (cause) {
        if (cause instanceof BlockioError) throw cause
        await this.#poolFailed(pool, cause)
      }
    }
    const batch = this.#takeBuffer(sealedLength(chunks, toSeal))
    const sealed = sealInThread(chunks, toSeal, keys, this.#scratch, Buffer.from(batch))
    if ('position' in sealed) {
      this.release({ batch })
      throw chunkProblemError(sealed.position, sealed)
    }
    return { ...sealed, batch }
  }

  #usablePool(): Piscina<SealTask, SealTaskResult> | undefined {
    if (this.#workers === 0) return undefined
    if (this.#pool !== undefined) return this.#pool
    if (performance.now() - this.#failedAt < POOL_RETRY_MS) return undefined
    const pool = new Piscina<SealTask, SealTaskResult>({
      filename: this.#workerUrl,
      minThreads: this.#workers,
      maxThreads: this.#workers,
      // With Atomics.wait between tasks a worker's event loop never turns, and lz4-napi's result
      // Buffers are only freed when it does (notes/MEASURED-FACTS.md "LZ4").
      atomics: 'disabled',
    })
    // A thread failing while none of its tasks runs (e.g. a spare that cannot load the module)
    // belongs to no call; left unheard it would end the process.
    pool.on('error', (error: unknown) => void this.#poolFailed(pool, error))
    this.#pool = pool
    return pool
  }

  async #poolFailed(pool: Piscina<SealTask, SealTaskResult>, cause: unknown): Promise<void> {
    if (this.#pool !== pool) return
    this.#pool = undefined
    this.#failedAt = performance.now()
    process.emitWarning(
      `chunk workers failed (${cause instanceof Error ? cause.message : String(cause)}); chunks are checked and sealed on the main thread for ${POOL_RETRY_MS / 1000} s, then new workers are tried`,
      { code: WORKERS_FAILED_WARNING },
    )
    await pool.destroy().catch(() => {})
  }

  async #sealInWorkers(
    pool: Piscina<SealTask, SealTaskResult>,
    chunks: readonly IncomingChunk[],
    toSeal: Uint8Array,
    keys: SealKeys,
  ): Promise<SealedCall> {
    const layout = chunkBatchLayout(chunks, toSeal)
    const batch = this.#takeBuffer(layout.byteLength)
    try {
      writeChunkBatch(batch, layout, chunks, toSeal)
      const ranges = rangesByBytes(chunks, Math.min(this.#workers, chunks.length))
      const results = await Promise.all(
        ranges.map(([first, end]) =>
          pool.run({
            buffer: batch,
            layout,
            first,
            end,
            dataKey: keys.dataKey,
            tenantBytes: keys.tenantBytes,
            checked: keys.checked === true,
          }),
        ),
      )
      let lowest: PositionedProblem | undefined
      for (const result of results)
        if (result !== null && (lowest === undefined || result.position < lowest.position)) lowest = result
      if (lowest !== undefined) throw chunkProblemError(lowest.position, lowest)
    } catch (cause) {
      // After a check failure every task has ended; after a thread failure one may still write.
      if (cause instanceof BlockioError) this.release({ batch })
      throw cause
    }
    return { ...sealedFromBatch(batch, layout), batch }
  }

  #takeBuffer(byteLength: number): SharedArrayBuffer {
    // The smallest spare that fits; made with headroom, so calls of a similar size share buffers.
    let best = -1
    for (let i = 0; i < this.#spares.length; i++) {
      const size = this.#spares[i].byteLength
      if (size >= byteLength && (best < 0 || size < this.#spares[best].byteLength)) best = i
    }
    if (best >= 0) return this.#spares.splice(best, 1)[0]
    return new SharedArrayBuffer(Math.ceil((byteLength + 1) / BATCH_BUFFER_STEP) * BATCH_BUFFER_STEP)
  }

  /** Hands back a call's batch buffer once its entries are written (or dropped). */
  release(sealed: { batch?: SharedArrayBuffer }): void {
    const batch = sealed.batch
    sealed.batch = undefined
    if (batch === undefined || this.#closed) return
    if (batch.byteLength > MAX_SPARE_BYTES) return
    if (this.#spares.length >= SPARE_BATCH_BUFFERS) {
      // Keep the larger ones: a smaller spare would be passed over by the next full-size call.
      let smallest = 0
      for (let i = 1; i < this.#spares.length; i++)
        if (this.#spares[i].byteLength < this.#spares[smallest].byteLength) smallest = i
      if (this.#spares[smallest].byteLength >= batch.byteLength) return
      this.#spares.splice(smallest, 1)
    }
    this.#spares.push(batch)
  }

  /** Lets calls in flight finish, then ends the threads. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true
    await Promise.allSettled([...this.#inFlight])
    const pool = this.#pool
    this.#pool = undefined
    this.#spares.length = 0
    await pool?.destroy()
  }
}

/** Up to `parts` consecutive ranges [first, end) of about equal payload bytes, none empty. */
export function rangesByBytes(chunks: readonly IncomingChunk[], parts: number): Array<[number, number]> {
  let total = 0
  for (const chunk of chunks) total += chunk.payload.byteLength
  const ranges: Array<[number, number]> = []
  let first = 0
  let sum = 0
  for (let i = 0; i < chunks.length && ranges.length < parts - 1; i++) {
    sum += chunks[i].payload.byteLength
    if (sum >= (total * (ranges.length + 1)) / parts) {
      ranges.push([first, i + 1])
      first = i + 1
    }
  }
  if (first < chunks.length) ranges.push([first, chunks.length])
  return ranges
}
