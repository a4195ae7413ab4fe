/**
 * Frees lz4-napi's result Buffers while a worker runs, so a compressing scan keeps its memory bound.
 *
 * Every `compressSync` returns a new Buffer whose bytes live outside the JavaScript heap. The worker
 * copies them into its output buffer and drops them at once, but V8 only frees that *young garbage*
 * when a garbage collection runs, and the worker allocates so little on its own heap that none runs
 * for a long time. Measured on a compressing scan of a 2 GiB mixed image (2 workers, 4 MiB batches):
 * peak RSS ~335 MiB with no forced collection, ~245 MiB with a minor (young-generation) collection
 * after every 8 MiB of LZ4 output, ~200 MiB after every 2 MiB; a minor collection costs ~0.4 ms.
 *
 * Node exposes `gc` only with `--expose-gc`, which worker threads cannot take in `execArgv`; the flag
 * is set at run time and `gc` taken from a fresh context. Where that fails, collection is left to V8.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** LZ4 output bytes a worker lets pile up before it collects them (docs/LIMITS.md "Scan pipeline"). */
export const YOUNG_GARBAGE_BYTES = 2 * 1024 * 1024

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

export class YoungGarbage {
  private readonly gc: GcFunction | undefined = exposeGc()
  private pending = 0

  /** True when collections can be forced here (else V8 decides alone). */
  get collecting(): boolean {
    return this.gc !== undefined
  }

  /**
   * Counts `bytes` of dropped native Buffers. Once YOUNG_GARBAGE_BYTES have piled up, collects them
   * and resolves after one turn of the event loop: Node runs the finalizers that free a native
   * Buffer's memory from the loop, not from the collection itself.
   */
  dropped(bytes: number): Promise<void> | undefined {
    this.pending += bytes
    if (this.pending < YOUNG_GARBAGE_BYTES || this.gc === undefined) return undefined
    this.pending = 0
    this.gc({ type: 'minor' })
    return new Promise((resolve) => setImmediate(resolve))
  }
}
