/**
 * Running a plan now, outside its schedule (an operator's "run now", the demo, tests): the same jobs
 * a due run would enqueue — one per VM of a replication or consistency plan, one for a maintenance
 * plan — through the same store port, so the same rules hold (one active cycle per VM, a maintenance
 * plan's single active job); `vmIds` narrows a plan of VMs to some of them. Job ids are `now.<scheduled id>` so they never meet a scheduled run's.
 * Each enqueued job is announced `queued` with source `manual`, which wakes the dispatcher.
 * The plan's schedule state is not touched: its timetable goes on as before.
 */
import type { LifecycleEvents } from '../events/lifecycle-events.js'
import type { Plan } from '../store/protection-records.js'
import { type EnqueueOutcome, type SchedulerStore, scheduledJobId } from './scheduler-store.js'

export interface ManualRun {
  jobId: string
  vmId?: string
  outcome: EnqueueOutcome
}

export async function runPlanNow(
  plan: Plan,
  now: number,
  components: { store: Pick<SchedulerStore, 'enqueue'>; events?: LifecycleEvents },
  options: { vmIds?: readonly string[] } = {},
): Promise<ManualRun[]> {
  const only = options.vmIds === undefined ? undefined : new Set(options.vmIds)
  const vmIds =
    plan.job.type === 'maintenance'
      ? [undefined]
      : plan.groups.flatMap((group) => group.vmIds).filter((vmId) => only === undefined || only.has(vmId))
  const runs: ManualRun[] = []
  for (const vmId of vmIds) {
    const jobId = `now.${scheduledJobId(plan.id, now, vmId)}`.slice(0, 128)
    const outcome = await components.store.enqueue({
      tenantId: plan.tenantId,
      planId: plan.id,
      jobType: plan.job.type,
      vmId,
      jobId,
      dueAt: now,
      coalesced: 0,
      enqueuedAt: now,
    })
    if (outcome.enqueued) {
      components.events?.emit('queued', {
        tenantId: plan.tenantId,
        jobId,
        jobType: plan.job.type,
        source: 'manual',
        planId: plan.id,
        vmId,
        at: now,
      })
    }
    runs.push({ jobId, vmId, outcome })
  }
  return runs
}
