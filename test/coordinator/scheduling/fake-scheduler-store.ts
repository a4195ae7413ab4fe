// An in-memory SchedulerStore that keeps the port's contract (scheduler-store.ts): enqueue refuses
// duplicates by job id and a second active job per VM (or per plan without a VM); recordDue moves
// lastDueAt forwards and clears the RPO flag. Hooks let tests slow or break single calls.
import type {
  DueRecord,
  EnqueueOutcome,
  RpoRisk,
  ScheduledJob,
  ScheduledPlan,
  SchedulerStore,
  ScheduleState,
} from '../../../coordinator/scheduling/scheduler-store.js'

export type FakeJobState = 'queued' | 'running' | 'done'

export interface FakeScheduledJob extends ScheduledJob {
  state: FakeJobState
}

export class FakeSchedulerStore implements SchedulerStore {
  plans: ScheduledPlan[] = []
  readonly states = new Map<string, ScheduleState>()
  readonly jobs = new Map<string, FakeScheduledJob>()
  readonly calls: string[] = []
  /** Awaited at the start of listEnabledPlans (a slow store). */
  beforeList?: () => Promise<void>
  /** Thrown by the next recordDue only (a crash between enqueue and record). */
  failNextRecordDue?: Error
  /** Thrown by getScheduleState for these plan ids. */
  readonly failingPlans = new Set<string>()

  addPlan(plan: ScheduledPlan): void {
    this.plans.push(plan)
  }

  finish(jobId: string, tenantId = 't1'): void {
    const job = this.jobs.get(`${tenantId}/${jobId}`)
    if (job === undefined) throw new Error(`no job ${jobId}`)
    job.state = 'done'
  }

  state(tenantId: string, planId: string): ScheduleState | undefined {
    return this.states.get(`${tenantId}/${planId}`)
  }

  async listEnabledPlans(now: number): Promise<ScheduledPlan[]> {
    this.calls.push(`list@${now}`)
    await this.beforeList?.()
    return this.plans.map((p) => ({ ...p }))
  }

  async getScheduleState(tenantId: string, planId: string): Promise<ScheduleState | undefined> {
    if (this.failingPlans.has(planId)) throw new Error(`cannot read plan ${planId}`)
    const state = this.states.get(`${tenantId}/${planId}`)
    return state === undefined ? undefined : structuredClone(state)
  }

  async enqueue(job: ScheduledJob): Promise<EnqueueOutcome> {
    this.calls.push(`enqueue ${job.jobId}`)
    if (!this.plans.some((p) => p.tenantId === job.tenantId && p.planId === job.planId)) {
      return { enqueued: false, reason: 'plan-gone' }
    }
    if (this.jobs.has(`${job.tenantId}/${job.jobId}`)) return { enqueued: false, reason: 'duplicate' }
    const owner = job.vmId ?? job.planId
    for (const other of this.jobs.values()) {
      if (
        other.tenantId === job.tenantId &&
        (other.vmId ?? other.planId) === owner &&
        other.state !== 'done'
      ) {
        return { enqueued: false, reason: 'active' }
      }
    }
    this.jobs.set(`${job.tenantId}/${job.jobId}`, { ...job, state: 'queued' })
    return { enqueued: true }
  }

  async recordDue(record: DueRecord): Promise<void> {
    this.calls.push(`record ${record.jobId}`)
    if (this.failNextRecordDue !== undefined) {
      const error = this.failNextRecordDue
      this.failNextRecordDue = undefined
      throw error
    }
    const key = `${record.tenantId}/${record.planId}`
    const current = this.states.get(key) ?? {}
    if (current.lastDueAt !== undefined && current.lastDueAt > record.dueAt) return
    this.states.set(key, { lastDueAt: record.dueAt, lastJobId: record.jobId })
  }

  async setRpoAtRisk(tenantId: string, planId: string, risk: RpoRisk): Promise<void> {
    this.calls.push(`rpo ${planId}`)
    const key = `${tenantId}/${planId}`
    this.states.set(key, { ...(this.states.get(key) ?? {}), rpoAtRisk: { ...risk } })
  }
}
