/**
 * Jobs in memory: the transaction every job-state change runs in (MemoryJobTransaction), and the job
 * queries, with the ordering the classic-level indexes give (docs/STORE.md). Without indexes, the
 * queries scan every job: fine for unit tests, which is all this backend is for.
 *
 * The transaction reads the volume's maps (copies) and queues its writes; the store commits them
 * all at once, synchronously, when the change returns, and drops them when it throws. The store runs
 * each change under its write lock, so the reads of one change never see half of another.
 */
import type { Job, JobFilter, JobState, QueueScope } from '../jobs/job.js'
import { isActiveState } from '../jobs/job.js'
import type { JobTransaction } from '../jobs/job-transaction.js'
import { byteOrder, copy, type MemoryStoreVolume } from './memory-volume.js'
import type { Node, Site } from './metadata-store.js'
import type { Plan, ProtectedVm } from './protection-records.js'

export class MemoryJobTransaction implements JobTransaction {
  readonly #volume: MemoryStoreVolume
  readonly #writes: (() => void)[] = []

  constructor(volume: MemoryStoreVolume) {
    this.#volume = volume
  }

  /** Applies every queued write; called once, when the change has returned. */
  commit(): void {
    for (const write of this.#writes) write()
  }

  async getJob(tenantId: string, jobId: string): Promise<Job | undefined> {
    return copy(this.#volume.tenantRecords.get(tenantId)?.jobs.get(jobId))
  }

  putJob(next: Job, _previous: Job | undefined): void {
    const record = copy(next)
    this.#writes.push(() => this.#volume.tenantRecords.get(record.tenantId)!.jobs.set(record.id, record))
  }

  async getFencingToken(tenantId: string, volumeId: string): Promise<number> {
    return this.#volume.tenantRecords.get(tenantId)?.fences.get(volumeId) ?? 0
  }

  putFencingToken(tenantId: string, volumeId: string, token: number): void {
    this.#writes.push(() => this.#volume.tenantRecords.get(tenantId)!.fences.set(volumeId, token))
  }

  async getActiveCycle(tenantId: string, vmId: string): Promise<string | undefined> {
    return activeCycle(this.#volume, tenantId, vmId)
  }

  async lapsedOffers(now: number, limit: number): Promise<Job[]> {
    return timed(this.#volume, 'offered', (job) => job.ackDeadline ?? job.lease!.expiresAt, now, limit)
  }

  async expiredLeases(now: number, limit: number): Promise<Job[]> {
    return timed(this.#volume, 'running', (job) => job.lease!.expiresAt, now, limit)
  }

  async findNode(nodeId: string): Promise<Node | undefined> {
    const tenantId = this.#volume.nodeDirectory.get(nodeId)
    return tenantId === undefined
      ? undefined
      : copy(this.#volume.tenantRecords.get(tenantId)?.nodes.get(nodeId))
  }

  async getSite(tenantId: string, siteId: string): Promise<Site | undefined> {
    return copy(this.#volume.tenantRecords.get(tenantId)?.sites.get(siteId))
  }

  async getProtectedVm(tenantId: string, vmId: string): Promise<ProtectedVm | undefined> {
    return copy(this.#volume.tenantRecords.get(tenantId)?.vms.get(vmId))
  }

  async getPlan(tenantId: string, planId: string): Promise<Plan | undefined> {
    return copy(this.#volume.tenantRecords.get(tenantId)?.plans.get(planId))
  }
}

/** The id of the VM's active replication cycle (the first by id, as the level index holds one). */
export function activeCycle(volume: MemoryStoreVolume, tenantId: string, vmId: string): string | undefined {
  const jobs = [...(volume.tenantRecords.get(tenantId)?.jobs.values() ?? [])]
  return jobs
    .filter((job) => job.type === 'replication-cycle' && job.vmId === vmId && isActiveState(job.state))
    .map((job) => job.id)
    .sort(byteOrder)[0]
}

function allJobs(volume: MemoryStoreVolume): Job[] {
  return [...volume.tenantRecords.values()].flatMap((records) => [...records.jobs.values()])
}

/** Jobs in `state` whose `time` is at or before `until`, ordered by time, tenant, id; copies. */
function timed(
  volume: MemoryStoreVolume,
  state: JobState,
  time: (job: Job) => number,
  until: number,
  limit: number,
  jobs: Job[] = allJobs(volume),
): Job[] {
  return jobs
    .filter((job) => job.state === state && time(job) <= until)
    .sort((a, b) => time(a) - time(b) || byteOrder(a.tenantId, b.tenantId) || byteOrder(a.id, b.id))
    .slice(0, limit)
    .map(copy)
}

export function nextQueuedJobs(
  volume: MemoryStoreVolume,
  now: number,
  limit: number,
  scope?: QueueScope,
): Job[] {
  const jobs =
    scope === undefined
      ? allJobs(volume)
      : [...(volume.tenantRecords.get(scope.tenantId)?.jobs.values() ?? [])].filter(
          (job) => job.siteId === scope.siteId && job.role === scope.role,
        )
  return timed(volume, 'queued', (job) => job.notBefore, now, limit, jobs)
}

export function listJobs(
  volume: MemoryStoreVolume,
  tenantId: string,
  filter: JobFilter,
  after: string | undefined,
  limit: number,
): Job[] {
  return [...(volume.tenantRecords.get(tenantId)?.jobs.values() ?? [])]
    .filter(
      (job) =>
        (filter.state === undefined || job.state === filter.state) &&
        (filter.vmId === undefined || job.vmId === filter.vmId) &&
        (filter.planId === undefined || job.planId === filter.planId) &&
        (after === undefined || job.id > after),
    )
    .sort((a, b) => byteOrder(a.id, b.id))
    .slice(0, limit)
    .map(copy)
}

export function activeJobsByNode(volume: MemoryStoreVolume, nodeId: string): number {
  return allJobs(volume).filter(
    (job) => (job.state === 'offered' || job.state === 'running') && job.lease?.nodeId === nodeId,
  ).length
}
