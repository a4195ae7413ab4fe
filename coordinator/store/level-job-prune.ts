/**
 * deleteFinishedJob on classic-level (finished-job-records.ts): the operations of one batch that
 * remove a prunable job — its record, its index entries (level-job-layout.ts jobIndexEntries, so
 * the indexes stay exactly the union over the remaining records) and its log: the entries under
 * `job-log!<job>!` and the replay records under `job-log-seen!<job>!`. The fencing counters stay.
 * It reads ranges, so the store runs it as a change that leads its commit group.
 */
import { isPrunable } from './finished-job-records.js'
import * as jobs from './level-job-layout.js'
import * as layout from './level-layout.js'
import type { Planned } from './level-protection.js'
import { getRecord } from './level-records.js'
import type { Timestamp } from './metadata-store.js'
import type { StoreDatabase, StoreOperation } from './migrations.js'

/** Where a job's log replay records live: every `jobLogSeenKey` of the job starts with this. */
export const jobLogSeenPrefix = (tenantId: string, jobId: string): string =>
  `${layout.tenantPrefix(tenantId)}!job-log-seen!${jobId}!`

export async function planDeleteFinishedJob(
  db: StoreDatabase,
  tenantId: string,
  jobId: string,
  before: Timestamp,
): Promise<Planned<boolean>> {
  const job = await getRecord(db, jobs.jobKey(tenantId, jobId), jobs.decodeJob)
  if (job === undefined || !isPrunable(job, before)) return { result: false, operations: [] }
  const operations: StoreOperation[] = [{ type: 'del', key: jobs.jobKey(tenantId, jobId) }]
  for (const key of jobs.jobIndexEntries(job).keys()) operations.push({ type: 'del', key })
  for (const prefix of [jobs.jobLogPrefix(tenantId, jobId), jobLogSeenPrefix(tenantId, jobId)]) {
    for await (const key of db.keys(layout.prefixRange(prefix))) operations.push({ type: 'del', key })
  }
  return { result: true, operations }
}
