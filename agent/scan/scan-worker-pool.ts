/**
 * The narrow view the scan pipeline has of its thread pool, and the piscina pool that fulfils it.
 * Tests pass their own factory (through `ScanComponents`) to watch the pool being destroyed or to run
 * a worker that crashes. A scan given a shared pool (shared-scan-pool.ts) leases it instead: the
 * lease's `destroy` ends the lease, not the threads.
 */
import { Piscina } from 'piscina'
import type { ScanTask, ScanTaskResult, ScanWorkerData } from './scan-messages.js'
import { scanWorkerUrl } from './scan-worker-url.js'

/** Tasks piscina hands one thread at a time: one running, one waiting (docs/LIMITS.md "Scan pipeline"). */
export const TASKS_QUEUED_PER_THREAD = 2

export interface ScanWorkerPool {
  /** Runs one batch; `transferList` holds the task's input buffer. */
  run(task: ScanTask, options: { transferList: ArrayBuffer[] }): Promise<ScanTaskResult>
  /** Terminates every thread; pending tasks reject. */
  destroy(): Promise<void>
}

export interface ScanPoolOptions {
  /** The worker module, a file URL. */
  filename: string
  threads: number
  workerData: ScanWorkerData
  /**
   * Called when a thread fails while no task of it is running (e.g. a spare thread that cannot load
   * the worker module). Such an error belongs to no task; left unheard it would end the process.
   */
  onError: (error: unknown) => void
}

export interface ScanComponents {
  /** Creates the scan's own pool; default piscina. Ignored when `sharedPool` is given. */
  createPool?: (options: ScanPoolOptions) => ScanWorkerPool
  /**
   * Threads kept across scans (shared-scan-pool.ts): the scan leases them instead of starting and
   * destroying a pool of its own.
   */
  sharedPool?: ScanPoolLender
}

/** What a scan needs of a shared pool (SharedScanPool). */
export interface ScanPoolLender {
  lease(threads: number, workerData: ScanWorkerData, onError: (error: unknown) => void): ScanWorkerPool
}

export function defaultScanPoolOptions(
  threads: number,
  workerData: ScanWorkerData,
  onError: (error: unknown) => void,
): ScanPoolOptions {
  return { filename: scanWorkerUrl().href, threads, workerData, onError }
}

export function createPiscinaPool(options: ScanPoolOptions): ScanWorkerPool {
  const pool = new Piscina<ScanTask, ScanTaskResult>({
    filename: options.filename,
    minThreads: options.threads,
    maxThreads: options.threads,
    // The scan bounds its own queue (maxBatchesInFlight). Two tasks per thread: the worker runs one
    // while the next already waits in its port, so it need not wait for the main thread — busy with
    // the network in a replication — to wake and hand it the next batch. The worker handles a batch
    // in one synchronous stretch (it awaits only before or after), so two batches never interleave.
    concurrentTasksPerWorker: TASKS_QUEUED_PER_THREAD,
    // With Atomics.wait between tasks a busy worker's event loop never turns, and lz4-napi's result
    // Buffers are only freed when it does (notes/MEASURED-FACTS.md "LZ4"): let it turn.
    atomics: 'disabled',
    workerData: options.workerData,
  })
  pool.on('error', options.onError)
  return {
    run: (task, runOptions) => pool.run(task, runOptions),
    destroy: () => pool.destroy(),
  }
}
