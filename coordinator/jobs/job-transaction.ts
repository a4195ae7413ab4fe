/**
 * What a job-state change may do, and nothing more: the *transaction* a backend hands to each change
 * function in this folder. Imports no implementation.
 *
 * A change function reads what it needs through the transaction, decides, and writes through it;
 * the backend runs the function with its writers excluded (LevelDB: inside the store's write lock)
 * and commits every write the function made as ONE atomic batch when it returns, or none when it
 * throws. So each change is written once, here, and every backend runs the same rules.
 *
 * Reads see the store as it was when the transaction began, never the transaction's own writes: a
 * change reads everything first and writes last. `putJob` is handed the record as read, so the
 * backend can move the job's index entries (queue, offers, leases, node, active cycle) in the same
 * batch: the indexes always agree with the records.
 */
import type { Node, Site } from '../store/metadata-store.js'
import type { Plan, ProtectedVm } from '../store/protection-records.js'
import type { Job } from './job.js'

export interface JobTransaction {
  getJob(tenantId: string, jobId: string): Promise<Job | undefined>
  /** Writes `next` and moves its index entries from those of `previous` (undefined: a new job). */
  putJob(next: Job, previous: Job | undefined): void
  /** The highest fencing token taken for the volume; 0 when none was. */
  getFencingToken(tenantId: string, volumeId: string): Promise<number>
  putFencingToken(tenantId: string, volumeId: string, token: number): void
  /** The id of the VM's active replication cycle, if it has one. */
  getActiveCycle(tenantId: string, vmId: string): Promise<string | undefined>
  /** Offered jobs whose ack deadline is at or before `now`: deadline, tenant, id order; at most `limit`. */
  lapsedOffers(now: number, limit: number): Promise<Job[]>
  /** Running jobs whose lease expired at or before `now`: expiry, tenant, id order; at most `limit`. */
  expiredLeases(now: number, limit: number): Promise<Job[]>
  /** The node with this id, in whichever tenant. */
  findNode(nodeId: string): Promise<Node | undefined>
  getSite(tenantId: string, siteId: string): Promise<Site | undefined>
  getProtectedVm(tenantId: string, vmId: string): Promise<ProtectedVm | undefined>
  getPlan(tenantId: string, planId: string): Promise<Plan | undefined>
}
