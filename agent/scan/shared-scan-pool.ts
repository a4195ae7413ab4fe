/**
 * A *shared scan pool*: worker threads kept warm across scans in a long-running process (the
 * appliance), so a cycle does not pay for starting threads and loading their modules (~0.1–0.2 s)
 * every time. A scan given one (`ScanComponents.sharedPool`) takes a *lease* instead of creating
 * its own pool; ending the lease (the scan's close) leaves the threads running for the next scan.
 *
 * - The pool behind it is created lazily, by the first lease, with that lease's thread count and
 *   BLAKE3 preference; a lease asking for other settings gets (and keeps) a pool of its own kind.
 * - A worker failure *retires* the pool: a task rejected by it (piscina rejects only when a thread
 *   crashed or the worker threw) or an error of an idle thread. A retired pool is destroyed (the
 *   scans leasing it fail, as with a pool of their own) and the next lease creates a new one.
 * - `close()` destroys every pool; leasing afterwards throws SCAN_INVALID_STATE. The appliance
 *   closes it when the agent stops (agent/replication/node-replication.ts).
 *
 * Worker reads of a file stay correct across scans: each read task names its scan (WorkerRead
 * `scan`), and a thread reopens the volume when the scan changes (scan-worker.ts).
 */
import { ScanError, ScanErrorCode } from './errors.js'
import type { ScanTask, ScanTaskResult, ScanWorkerData } from './scan-messages.js'
import {
  createPiscinaPool,
  defaultScanPoolOptions,
  type ScanComponents,
  type ScanPoolLender,
  type ScanWorkerPool,
} from './scan-worker-pool.js'

/** One pool kind: its threads and what they were started with. */
interface PoolEntry {
  key: string
  pool: ScanWorkerPool
  /** The error handlers of the scans leasing it now. */
  lessees: Set<(error: unknown) => void>
  retired: boolean
}

export interface SharedScanPoolInit {
  /** Creates each pool; default piscina (scan-worker-pool.ts). Tests count or replace it. */
  createPool?: ScanComponents['createPool']
}

export class SharedScanPool implements ScanPoolLender {
  private readonly createPool: NonNullable<ScanComponents['createPool']>
  private readonly pools = new Map<string, PoolEntry>()
  private closed = false

  constructor(init: SharedScanPoolInit = {}) {
    this.createPool = init.createPool ?? createPiscinaPool
  }

  /**
   * A lease on a pool of `threads` threads started with `workerData`: `run` runs a batch on it,
   * `destroy` ends the lease (never the threads). `onError` hears a failure of any of the pool's
   * threads while the lease lasts.
   */
  lease(threads: number, workerData: ScanWorkerData, onError: (error: unknown) => void): ScanWorkerPool {
    if (this.closed) {
      throw new ScanError(ScanErrorCode.INVALID_STATE, 'the shared scan pool is closed', {
        remediation: 'The agent is stopping: scans cannot start any more.',
      })
    }
    const entry = this.entryFor(threads, workerData)
    entry.lessees.add(onError)
    let ended = false
    return {
      run: async (task: ScanTask, options: { transferList: ArrayBuffer[] }): Promise<ScanTaskResult> => {
        try {
          return await entry.pool.run(task, options)
        } catch (error) {
          // The worker function returns its failures (readFailure); a rejection is a broken thread.
          void this.retire(entry)
          throw error
        }
      },
      destroy: async () => {
        if (ended) return
        ended = true
        entry.lessees.delete(onError)
      },
    }
  }

  /** Pools that are running now (for tests and diagnostics). */
  get poolCount(): number {
    return this.pools.size
  }

  /** Destroys every pool; idempotent. */
  async close(): Promise<void> {
    this.closed = true
    const entries = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(entries.map((entry) => this.retire(entry)))
  }

  private entryFor(threads: number, workerData: ScanWorkerData): PoolEntry {
    const key = `${threads}/${workerData.hashImplementation}`
    const existing = this.pools.get(key)
    if (existing !== undefined) return existing
    const lessees = new Set<(error: unknown) => void>()
    let entry: PoolEntry | undefined
    const pool = this.createPool(
      defaultScanPoolOptions(threads, workerData, (error) => {
        for (const onError of [...lessees]) onError(error)
        if (entry !== undefined) void this.retire(entry)
      }),
    )
    entry = { key, pool, lessees, retired: false }
    this.pools.set(key, entry)
    return entry
  }

  /** Takes the pool out of service and destroys its threads; idempotent. */
  private async retire(entry: PoolEntry): Promise<void> {
    if (entry.retired) return
    entry.retired = true
    if (this.pools.get(entry.key) === entry) this.pools.delete(entry.key)
    entry.lessees.clear()
    await entry.pool.destroy().catch(() => undefined)
  }
}
