/**
 * Frees lz4-napi's result Buffers while a chunk worker runs, so the connector's memory stays bound.
 *
 * Every `uncompressSync` returns a new Buffer whose bytes live outside the JavaScript heap. The
 * worker hashes it and drops it at once, but V8 only frees that *young garbage* when a collection
 * runs, and a worker allocates so little on its own heap that none runs for a long time; Node then
 * frees the bytes from the event loop, not from the collection itself. (The scan's worker does the
 * same, agent/scan/young-garbage.ts; blockio keeps its own copy as it imports nothing outside it.)
 *
 * Node exposes `gc` only with `--expose-gc`, which worker threads cannot take in `execArgv`; the flag
 * is set at run time and `gc` taken from a fresh context. Where that fails, collection is left to V8.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Decompressed bytes a chunk worker lets pile up before it collects them (docs/LIMITS.md). */
export const WORKER_GARBAGE_BYTES = 4 * 1024 * 1024

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void

function exposeGc(): GcFunction | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc: unknown = runInNewContext('gc')
    return typeof gc === 'function' ? (gc as GcFunction) : undefined
  } catch {
    return undefined
  }
}

export class WorkerGarbage {
  readonly #gc: GcFunction | undefined = exposeGc()
  #pending = 0

  /**
   * Counts `bytes` of dropped native Buffers. Once WORKER_GARBAGE_BYTES have piled up, collects them
   * and resolves after one turn of the event loop, when their memory is freed.
   */
  dropped(bytes: number): Promise<void> | undefined {
    this.#pending += bytes
    if (this.#pending < WORKER_GARBAGE_BYTES || this.#gc === undefined) return undefined
    this.#pending = 0
    this.#gc({ type: 'minor' })
    return new Promise((resolve) => setImmediate(resolve))
  }
}
