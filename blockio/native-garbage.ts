/**
 * Frees native Buffers (lz4-napi's results) that a worker thread drops, so its memory stays bound.
 *
 * Every `compressSync` / `uncompressSync` returns a new Buffer whose bytes live outside the
 * JavaScript heap. A worker uses it and drops it at once, but V8 only frees that *young garbage*
 * when a collection runs, and a worker allocates so little on its own heap that none runs for a
 * long time; Node then frees the bytes from the event loop, not from the collection itself. The
 * scan's workers (agent/scan/young-garbage.ts) and the chunk store's (chunk-store/chunk-worker.ts)
 * both count what they drop here and collect every `thresholdBytes`.
 *
 * Node exposes `gc` only with `--expose-gc`, which worker threads cannot take in `execArgv`; the flag
 * is set at run time and `gc` taken from a fresh context. Where that fails, collection is left to V8.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

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

export class NativeGarbage {
  readonly #gc: GcFunction | undefined = exposeGc()
  readonly #thresholdBytes: number
  #pending = 0

  constructor(thresholdBytes: number) {
    this.#thresholdBytes = thresholdBytes
  }

  /** True when collections can be forced here (else V8 decides alone). */
  get collecting(): boolean {
    return this.#gc !== undefined
  }

  /**
   * Counts `bytes` of dropped native Buffers. Once the threshold has piled up, collects them (a minor
   * collection) and resolves after one turn of the event loop, when their memory is freed.
   */
  dropped(bytes: number): Promise<void> | undefined {
    this.#pending += bytes
    if (this.#pending < this.#thresholdBytes || this.#gc === undefined) return undefined
    this.#pending = 0
    this.#gc({ type: 'minor' })
    return new Promise((resolve) => setImmediate(resolve))
  }
}
