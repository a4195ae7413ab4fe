/**
 * The progress board: the latest PROGRESS of every job a node is running, for display
 * (docs/RECONCILIATION.md "PROGRESS", docs/PROTOCOL.md §4: PROGRESS is "latest wins" by `seq`).
 *
 * Words used here:
 * - A job's *progress* is its holder's latest PROGRESS: step, bytes done (and total), percent, the
 *   node and the `seq` it numbered the update with.
 * - *Latest wins*: an update replaces the one shown only when it comes from another node (a new
 *   holder: the caller has checked that the node holds the job) or from the same node with a higher
 *   `seq`. A replayed PROGRESS older than the one shown changes nothing. `seq` numbers one node's
 *   updates, so seqs of two nodes are never compared.
 *
 * Progress is not stored per update and not kept in the store: it lives in memory, bounded by
 * `maxJobs` (the least recently updated entry goes first), and is forgotten when the job's final
 * update arrives. After a coordinator restart a job shows no progress until its next PROGRESS.
 */

/** Jobs whose progress is kept at once; the least recently updated is dropped beyond this. */
export const DEFAULT_MAX_PROGRESS_JOBS = 100_000

export interface JobProgress {
  nodeId: string
  /** The node's number for the update: latest wins among one node's updates. */
  seq: number
  /** When the node made the update (its clock). */
  at: number
  step: string
  bytesDone: number
  bytesTotal?: number
  percent: number
  /** When the coordinator took it (its clock). */
  receivedAt: number
}

export interface ProgressBoard {
  /** Records `progress` if it is newer than the one shown; true when it replaced it. */
  record(tenantId: string, jobId: string, progress: JobProgress): boolean
  /** The progress shown for the job, if any. */
  get(tenantId: string, jobId: string): JobProgress | undefined
  /** Forgets the job's progress (its final update arrived). */
  forget(tenantId: string, jobId: string): void
  readonly size: number
}

export function createProgressBoard(init: { maxJobs?: number } = {}): ProgressBoard {
  const maxJobs = Math.max(1, init.maxJobs ?? DEFAULT_MAX_PROGRESS_JOBS)
  // Insertion order is update order (an update deletes and re-inserts): the first key is the stalest.
  const entries = new Map<string, JobProgress>()
  const key = (tenantId: string, jobId: string): string => `${tenantId}\u0000${jobId}`
  return {
    record(tenantId, jobId, progress) {
      const k = key(tenantId, jobId)
      const shown = entries.get(k)
      if (shown !== undefined && shown.nodeId === progress.nodeId && shown.seq >= progress.seq) return false
      entries.delete(k)
      entries.set(k, { ...progress })
      if (entries.size > maxJobs) entries.delete(entries.keys().next().value as string)
      return true
    },
    get(tenantId, jobId) {
      const shown = entries.get(key(tenantId, jobId))
      return shown === undefined ? undefined : { ...shown }
    },
    forget(tenantId, jobId) {
      entries.delete(key(tenantId, jobId))
    },
    get size() {
      return entries.size
    },
  }
}
