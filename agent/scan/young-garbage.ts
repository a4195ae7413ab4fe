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
 * The mechanism is blockio/native-garbage.ts, shared with the chunk store's workers.
 */
import { NativeGarbage } from '../../blockio/native-garbage.js'

/** LZ4 output bytes a worker lets pile up before it collects them (docs/LIMITS.md "Scan pipeline"). */
export const YOUNG_GARBAGE_BYTES = 2 * 1024 * 1024

export class YoungGarbage extends NativeGarbage {
  constructor() {
    super(YOUNG_GARBAGE_BYTES)
  }
}
