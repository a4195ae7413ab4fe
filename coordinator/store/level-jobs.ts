/**
 * Jobs on classic-level: the transaction every job-state change runs in (LevelJobTransaction), and
 * the job queries. Keys and index entries are in level-job-layout.ts.
 *
 * The transaction reads records through its commit group's pending writes (group-commit.ts: the
 * store as the group's earlier changes left it; nothing commits meanwhile) and collects its writes
 * as batch operations, which the store commits with the rest of the group as ONE db.batch(). The
 * sweeper's range reads merge the database's index entries with the group's pending puts and
 * deletes in the range, so they too see the store as the group's earlier changes left it. `putJob` turns a job's move from one
 * state to another into puts and deletes of exactly the index entries that differ, so a queued job
 * is one range read away from the dispatcher and an expired lease one range read from the sweeper,
 * whatever the number of jobs.
 */
import type { Job, JobFilter, QueueScope } from '../jobs/job.js'
import type { JobTransaction } from '../jobs/job-transaction.js'
import { corrupt } from './errors.js'
import * as jobs from './level-job-layout.js'
import * as layout from './level-layout.js'
import * as protection from './level-protection-layout.js'
import { findNode, getRecord, put } from './level-records.js'
import type { Node, Site } from './metadata-store.js'
import type { StoreDatabase, StoreOperation } from './migrations.js'
import type { PendingView, RecordReader } from './pending-writes.js'
import type { Plan, ProtectedVm } from './protection-records.js'

export class LevelJobTransaction implements JobTransaction {
  readonly operations: StoreOperation[] = []
  readonly #db: PendingView
  readonly #ranges: StoreDatabase

  /** `reads`: the database through the group's pending writes; `ranges`: the database itself. */
  constructor(reads: PendingView, ranges: StoreDatabase) {
    this.#db = reads
    this.#ranges = ranges
  }

  getJob(tenantId: string, jobId: string): Promise<Job | undefined> {
    return getRecord(this.#db, jobs.jobKey(tenantId, jobId), jobs.decodeJob)
  }

  putJob(next: Job, previous: Job | undefined): void {
    const before = previous === undefined ? new Map<string, string>() : jobs.jobIndexEntries(previous)
    const after = jobs.jobIndexEntries(next)
    for (const key of before.keys()) if (!after.has(key)) this.operations.push({ type: 'del', key })
    for (const [key, value] of after)
      if (before.get(key) !== value) this.operations.push({ type: 'put', key, value })
    this.operations.push(put(jobs.jobKey(next.tenantId, next.id), next))
  }

  async getFencingToken(tenantId: string, volumeId: string): Promise<number> {
    return (await getRecord(this.#db, jobs.fenceKey(tenantId, volumeId), jobs.decodeFence))?.token ?? 0
  }

  putFencingToken(tenantId: string, volumeId: string, token: number): void {
    this.operations.push(put(jobs.fenceKey(tenantId, volumeId), { token }))
  }

  async getActiveCycle(tenantId: string, vmId: string): Promise<string | undefined> {
    return (await getRecord(this.#db, jobs.activeCycleKey(tenantId, vmId), jobs.decodeJobRef))?.jobId
  }

  lapsedOffers(now: number, limit: number): Promise<Job[]> {
    return this.#jobsUpTo(jobs.JOB_OFFERS_PREFIX, now, limit, 'offered')
  }

  expiredLeases(now: number, limit: number): Promise<Job[]> {
    return this.#jobsUpTo(jobs.JOB_LEASES_PREFIX, now, limit, 'running')
  }

  findNode(nodeId: string): Promise<Node | undefined> {
    return findNode(this.#db, nodeId)
  }

  getSite(tenantId: string, siteId: string): Promise<Site | undefined> {
    return getRecord(this.#db, layout.siteKey(tenantId, siteId), layout.decodeSite)
  }

  getProtectedVm(tenantId: string, vmId: string): Promise<ProtectedVm | undefined> {
    return getRecord(this.#db, protection.vmKey(tenantId, vmId), protection.decodeVm)
  }

  getPlan(tenantId: string, planId: string): Promise<Plan | undefined> {
    return getRecord(this.#db, protection.planKey(tenantId, planId), protection.decodePlan)
  }

  /**
   * jobsUpTo through the pending writes: the first `limit` entries of the range among the stored
   * ones not deleted by the group and the group's own puts. Reading `limit` + (deletes pending in
   * the range) stored entries is enough: at most that many of them can be gone.
   */
  async #jobsUpTo(prefix: string, until: number, limit: number, state: Job['state']): Promise<Job[]> {
    const range = { gte: prefix, lt: prefix + protection.timeKey(until + 1) }
    const pending = this.#db.entriesIn(range.gte, range.lt)
    const deletes = pending.filter(([, value]) => value === undefined).length
    const entries = new Map(await this.#ranges.iterator({ ...range, limit: limit + deletes }).all())
    for (const [key, value] of pending) {
      if (value === undefined) entries.delete(key)
      else entries.set(key, value)
    }
    const refs = [...entries]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, limit)
      .map(([key, raw]) => ({ key, ref: jobs.decodeJobRef(key, raw) }))
    return readIndexed(this.#db, refs, (job) => job.state === state)
  }
}

/**
 * The jobs whose index entries lie under `prefix` with a time key at or before `until`, in key
 * order, at most `limit`; each must be in `state` (else the index disagrees with it: STORE_CORRUPT).
 * `prefix` is a global time-ordered index, or a site's queue (whose keys end in the job id alone).
 */
async function jobsUpTo(
  db: StoreDatabase,
  prefix: string,
  until: number,
  limit: number,
  state: Job['state'],
): Promise<Job[]> {
  const refs: { key: string; ref: jobs.JobRef }[] = []
  const range = { gte: prefix, lt: prefix + protection.timeKey(until + 1), limit }
  for await (const [key, raw] of db.iterator(range)) refs.push({ key, ref: jobs.decodeJobRef(key, raw) })
  return readIndexed(db, refs, (job) => job.state === state)
}

/** The job records the entries point at, checked against `belongs` (else STORE_CORRUPT). */
async function readIndexed(
  db: RecordReader,
  refs: { key: string; ref: jobs.JobRef }[],
  belongs: (job: Job) => boolean,
): Promise<Job[]> {
  if (refs.length === 0) return []
  const keys = refs.map(({ ref }) => jobs.jobKey(ref.tenantId, ref.jobId))
  const raws = await db.getMany(keys)
  return raws.map((raw, n) => {
    const job = raw === undefined ? undefined : jobs.decodeJob(keys[n], raw)
    if (job === undefined || !belongs(job)) {
      throw corrupt(`the index entry ${refs[n].key} names job ${refs[n].ref.jobId}, which does not match it`)
    }
    return job
  })
}

export function getJob(db: StoreDatabase, tenantId: string, jobId: string): Promise<Job | undefined> {
  return getRecord(db, jobs.jobKey(tenantId, jobId), jobs.decodeJob)
}

/** Queued jobs due by `now`: the global queue, or one site's. */
export function nextQueuedJobs(
  db: StoreDatabase,
  now: number,
  limit: number,
  scope?: QueueScope,
): Promise<Job[]> {
  const prefix =
    scope === undefined
      ? jobs.JOB_QUEUE_PREFIX
      : jobs.siteQueuePrefix(scope.tenantId, scope.siteId, scope.role)
  return jobsUpTo(db, prefix, now, limit, 'queued')
}

/**
 * The tenant's jobs matching `filter`, ordered by id, after `after`, at most `limit`. The narrowest
 * index the filter allows is read (VM, plan, state, or all jobs); the rest of the filter is checked
 * on the records, reading on until the page is full.
 */
export async function listJobs(
  db: StoreDatabase,
  tenantId: string,
  filter: JobFilter,
  after: string | undefined,
  limit: number,
): Promise<Job[]> {
  const matches = (job: Job) =>
    (filter.state === undefined || job.state === filter.state) &&
    (filter.vmId === undefined || job.vmId === filter.vmId) &&
    (filter.planId === undefined || job.planId === filter.planId)
  if (filter.vmId === undefined && filter.planId === undefined && filter.state === undefined) {
    return pageOf(db, jobs.jobPrefix(tenantId), after, limit, async (entries) =>
      entries.map(([key, raw]) => jobs.decodeJob(key, raw)),
    )
  }
  const prefix =
    filter.vmId !== undefined
      ? jobs.jobVmPrefix(tenantId, filter.vmId)
      : filter.planId !== undefined
        ? jobs.jobPlanPrefix(tenantId, filter.planId)
        : jobs.jobStatePrefix(tenantId, filter.state!)
  return pageOf(db, prefix, after, limit, async (entries) => {
    const refs = entries.map(([key, raw]) => ({ key, ref: jobs.decodeJobRef(key, raw) }))
    const records = await readIndexed(db, refs, (job) => job.tenantId === tenantId)
    // The index chosen holds every job matching its own field; the other fields are checked here.
    return records.filter(matches)
  })
}

/** Reads `prefix` in chunks after the id `after` until `limit` records pass `decode`'s filter. */
async function pageOf(
  db: StoreDatabase,
  prefix: string,
  after: string | undefined,
  limit: number,
  decode: (entries: [string, string][]) => Promise<Job[]>,
): Promise<Job[]> {
  const page: Job[] = []
  const { lt } = layout.prefixRange(prefix)
  let cursor = after === undefined ? undefined : prefix + after
  while (page.length < limit) {
    const range = cursor === undefined ? { gte: prefix, lt, limit } : { gt: cursor, lt, limit }
    const entries = await db.iterator(range).all()
    if (entries.length === 0) break
    for (const job of await decode(entries)) if (page.length < limit) page.push(job)
    cursor = entries[entries.length - 1][0]
  }
  return page
}

export async function activeJobsByNode(db: StoreDatabase, nodeId: string): Promise<number> {
  let count = 0
  for await (const _key of db.keys(layout.prefixRange(jobs.nodeJobsPrefix(nodeId)))) count++
  return count
}

export async function fencingToken(db: StoreDatabase, tenantId: string, volumeId: string): Promise<number> {
  return (await getRecord(db, jobs.fenceKey(tenantId, volumeId), jobs.decodeFence))?.token ?? 0
}
