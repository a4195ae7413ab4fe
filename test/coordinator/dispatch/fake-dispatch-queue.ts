// An in-memory DispatchQueuePort that keeps the port's contract (dispatch-ports.ts): offers move
// queued jobs to offered under a new lease, returns and ack timeouts put them back with the node
// excluded, and a stale lease changes nothing.
import type {
  DispatchQueuePort,
  ExpiredLease,
  JobOfferBody,
  OfferRequest,
  QueuedJob,
  ReturnRequest,
} from '../../../coordinator/dispatch/dispatch-ports.js'

export const LEASE_TTL_MS = 120_000

export interface FakeJob extends QueuedJob {
  state: 'queued' | 'offered' | 'running' | 'failed'
  attempt: number
  leaseId?: string
  nodeId?: string
  ackBy?: number
  excludedNodes: string[]
}

export class FakeDispatchQueue implements DispatchQueuePort {
  readonly jobs: FakeJob[] = []
  readonly offers: OfferRequest[] = []
  readonly returns: ReturnRequest[] = []
  #leases = 0
  #fencing = 0
  /** Jobs taken by someone else between nextQueuedJobs and offerJob. */
  readonly takenElsewhere = new Set<string>()

  add(jobId: string, queuedAt: number, change: Partial<FakeJob> = {}): FakeJob {
    const job: FakeJob = {
      tenantId: 't1',
      jobId,
      jobType: 'maintenance',
      siteId: 's1',
      role: 'appliance',
      queuedAt,
      excludedNodes: [],
      state: 'queued',
      attempt: 1,
      ...change,
    }
    this.jobs.push(job)
    return job
  }

  get(jobId: string): FakeJob {
    const job = this.jobs.find((j) => j.jobId === jobId)
    if (job === undefined) throw new Error(`no job ${jobId}`)
    return job
  }

  acknowledge(jobId: string): void {
    this.get(jobId).state = 'running'
  }

  async nextQueuedJobs(_now: number, limit: number): Promise<QueuedJob[]> {
    return this.jobs
      .filter((j) => j.state === 'queued')
      .sort((a, b) => a.queuedAt - b.queuedAt)
      .slice(0, limit)
      .map((j) => ({ ...j, excludedNodes: [...j.excludedNodes] }))
  }

  async offerJob(request: OfferRequest): Promise<JobOfferBody | undefined> {
    const job = this.jobs.find((j) => j.tenantId === request.tenantId && j.jobId === request.jobId)
    if (job === undefined || job.state !== 'queued' || this.takenElsewhere.has(job.jobId)) return undefined
    this.offers.push(request)
    job.state = 'offered'
    job.nodeId = request.nodeId
    job.leaseId = `${job.jobId}.lease${++this.#leases}`
    job.ackBy = request.now + request.ackDeadlineMs
    return {
      jobId: job.jobId,
      jobType: 'maintenance',
      leaseId: job.leaseId,
      fencingToken: ++this.#fencing,
      ackDeadlineMs: request.ackDeadlineMs,
      leaseTtlMs: LEASE_TTL_MS,
      attempt: job.attempt,
      payload: { task: 'prune' },
    }
  }

  async returnToQueue(request: ReturnRequest): Promise<QueuedJob | undefined> {
    this.returns.push(request)
    const job = this.jobs.find((j) => j.tenantId === request.tenantId && j.jobId === request.jobId)
    if (job === undefined || job.leaseId !== request.leaseId || job.nodeId !== request.nodeId)
      return undefined
    if (job.state !== 'offered' && job.state !== 'running') return undefined
    this.#requeue(job, request.now)
    return { ...job }
  }

  async expireLeases(now: number): Promise<ExpiredLease[]> {
    const expired: ExpiredLease[] = []
    for (const job of this.jobs) {
      if (job.state !== 'offered' || job.ackBy === undefined || now < job.ackBy) continue
      expired.push({
        tenantId: job.tenantId,
        jobId: job.jobId,
        jobType: job.jobType,
        leaseId: job.leaseId as string,
        nodeId: job.nodeId as string,
        kind: 'ack-deadline',
        attempt: job.attempt,
        requeued: true,
      })
      this.#requeue(job, now)
    }
    return expired
  }

  #requeue(job: FakeJob, now: number): void {
    if (job.nodeId !== undefined && !job.excludedNodes.includes(job.nodeId))
      job.excludedNodes.push(job.nodeId)
    job.state = 'queued'
    job.queuedAt = now
    job.leaseId = undefined
    job.nodeId = undefined
    job.ackBy = undefined
  }
}
