/**
 * Pruning finished jobs: the store's side of the retention sweep (coordinator/scheduling/job-pruner.ts,
 * docs/SCHEDULING.md "Pruning finished jobs").
 *
 * Words used here:
 * - A job is *finished* in a final state: succeeded, failed or cancelled (coordinator/jobs/job.ts).
 * - A finished job is *prunable before T* when it finished (finishedAt; updatedAt for a record that
 *   has none) before T.
 *
 * What goes with the job: its record, every index entry of it, its log entries and the records that
 * make node log replays idempotent (docs/STORE.md "Key layout"). What stays: the volumes' fencing
 * counters (a token must never be issued twice, so they outlive every job) and the plan's schedule
 * state (it names the last job by id; a pruned id is never reused, as it carries its due time).
 */
import type { Job } from '../jobs/job.js'
import type { Timestamp } from './metadata-store.js'

/** The final states: a job in one of them never changes again, so it may be pruned. */
export const FINISHED_STATES: readonly Job['state'][] = ['succeeded', 'failed', 'cancelled']

export function isPrunable(job: Job, before: Timestamp): boolean {
  return FINISHED_STATES.includes(job.state) && (job.finishedAt ?? job.updatedAt) < before
}

export interface FinishedJobRecords {
  /**
   * Deletes the job, its index entries and its log (entries and replay records) in ONE atomic
   * change, if it exists and is prunable before `before`; true when it was deleted. A job that is
   * active, finished at or after `before`, or gone changes nothing and answers false, so a sweep
   * that races a retry or a second sweep is harmless. Throws STORE_INVALID_ID.
   */
  deleteFinishedJob(tenantId: string, jobId: string, before: Timestamp): Promise<boolean>
}
