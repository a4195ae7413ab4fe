// Two small coordinator seams of replication:
// - runPlanNow (coordinator/scheduling/run-plan-now.ts): one job per VM of a replication or check
//   plan (narrowed by `vmIds`), one job for a maintenance plan, ids `now.<scheduled id>`, each
//   enqueued job announced `queued` with source `manual`, a refused one not announced;
// - withConnectorAddresses (coordinator/adapters/dispatch-queue-adapter.ts): a replication offer's
//   connector addresses come from the connector's live session at offer time; other offers, and a
//   connector that announced none, are left as stored.
import { describe, expect, it } from 'vitest'
import { withConnectorAddresses } from '../../coordinator/adapters/dispatch-queue-adapter.js'
import type { JobOfferBody } from '../../coordinator/dispatch/dispatch-ports.js'
import { createLifecycleEvents, type JobQueuedEvent } from '../../coordinator/events/lifecycle-events.js'
import { runPlanNow } from '../../coordinator/scheduling/run-plan-now.js'
import type { EnqueueOutcome, ScheduledJob } from '../../coordinator/scheduling/scheduler-store.js'
import type { Plan } from '../../coordinator/store/protection-records.js'

const NOW = 1_800_000_000_000

function plan(job: Plan['job'], extra: Partial<Plan> = {}): Plan {
  return {
    tenantId: 'acme',
    id: 'p1',
    name: 'p1',
    groups: [{ vmIds: ['vm-a', 'vm-b'] }, { vmIds: ['vm-c'] }],
    schedule: { kind: 'interval', everyMs: 3_600_000 },
    job,
    retention: { count: 3, preservedTags: [] },
    sourceSiteId: 'hq',
    targetSiteId: 'dr',
    enabled: true,
    createdAt: NOW,
    updatedAt: NOW,
    ...extra,
  }
}

function recorder(outcome: (job: ScheduledJob) => EnqueueOutcome = () => ({ enqueued: true })) {
  const enqueued: ScheduledJob[] = []
  const events = createLifecycleEvents()
  const queued: JobQueuedEvent[] = []
  events.on('queued', (event) => queued.push(event))
  return {
    enqueued,
    queued,
    events,
    store: {
      enqueue: async (job: ScheduledJob) => {
        enqueued.push(job)
        return outcome(job)
      },
    },
  }
}

describe('runPlanNow', () => {
  it('enqueues one job per VM of a replication plan, in group order, and announces each', async () => {
    const r = recorder()
    const runs = await runPlanNow(plan({ type: 'replication-cycle' }), NOW, r)
    expect(runs.map((run) => [run.vmId, run.jobId])).toEqual([
      ['vm-a', `now.p1.vm-a.${NOW}`],
      ['vm-b', `now.p1.vm-b.${NOW}`],
      ['vm-c', `now.p1.vm-c.${NOW}`],
    ])
    expect(r.enqueued[0]).toEqual({
      tenantId: 'acme',
      planId: 'p1',
      jobType: 'replication-cycle',
      vmId: 'vm-a',
      jobId: `now.p1.vm-a.${NOW}`,
      dueAt: NOW,
      coalesced: 0,
      enqueuedAt: NOW,
    })
    expect(r.queued.map((e) => [e.jobId, e.source, e.planId, e.vmId, e.jobType])).toEqual([
      [`now.p1.vm-a.${NOW}`, 'manual', 'p1', 'vm-a', 'replication-cycle'],
      [`now.p1.vm-b.${NOW}`, 'manual', 'p1', 'vm-b', 'replication-cycle'],
      [`now.p1.vm-c.${NOW}`, 'manual', 'p1', 'vm-c', 'replication-cycle'],
    ])
  })

  it('narrows to the given VMs; a VM not in the plan enqueues nothing', async () => {
    const r = recorder()
    const runs = await runPlanNow(plan({ type: 'consistency-check' }), NOW, r, { vmIds: ['vm-c', 'vm-z'] })
    expect(runs.map((run) => run.vmId)).toEqual(['vm-c'])
    expect(r.enqueued.map((job) => job.jobType)).toEqual(['consistency-check'])
    expect(await runPlanNow(plan({ type: 'consistency-check' }), NOW, r, { vmIds: [] })).toEqual([])
  })

  it('a maintenance plan is one job without a VM, whatever vmIds says', async () => {
    const r = recorder()
    const runs = await runPlanNow(plan({ type: 'maintenance', action: 'prune-recovery-points' }), NOW, r, {
      vmIds: ['vm-a'],
    })
    expect(runs).toEqual([{ jobId: `now.p1.${NOW}`, vmId: undefined, outcome: { enqueued: true } }])
    expect(r.enqueued).toHaveLength(1)
    expect(r.enqueued[0]!.vmId).toBeUndefined()
  })

  it('a refused enqueue is returned with its reason and not announced', async () => {
    const r = recorder((job) =>
      job.vmId === 'vm-b' ? { enqueued: false, reason: 'active' } : { enqueued: true },
    )
    const runs = await runPlanNow(plan({ type: 'replication-cycle' }), NOW, r)
    expect(runs.map((run) => run.outcome)).toEqual([
      { enqueued: true },
      { enqueued: false, reason: 'active' },
      { enqueued: true },
    ])
    expect(r.queued.map((e) => e.vmId)).toEqual(['vm-a', 'vm-c'])
  })

  it('keeps job ids within 128 characters for long plan and VM ids', async () => {
    const r = recorder()
    const long = plan(
      { type: 'replication-cycle' },
      { id: 'p'.repeat(100), groups: [{ vmIds: ['v'.repeat(100)] }] },
    )
    const [run] = await runPlanNow(long, NOW, r)
    expect(run!.jobId.length).toBeLessThanOrEqual(128)
    expect(run!.jobId.startsWith('now.')).toBe(true)
  })
})

function offer(jobType: string, payload: Record<string, unknown>): JobOfferBody {
  return {
    jobId: 'j1',
    jobType,
    leaseId: 'l1',
    fencingToken: 4,
    ackDeadlineMs: 60_000,
    leaseTtlMs: 60_000,
    attempt: 1,
    payload,
  } as unknown as JobOfferBody
}

describe('withConnectorAddresses', () => {
  const cycle = offer('replication-cycle', {
    tenant: 'acme',
    vmId: 'vm-a',
    volumes: [],
    connector: { nodeId: 'conn-1', addrs: [] },
  })

  it('fills a replication offer’s connector addresses from the live session, without touching the stored body', () => {
    const asked: string[] = []
    const filled = withConnectorAddresses(cycle, (nodeId) => {
      asked.push(nodeId)
      return ['/ip4/10.0.0.5/tcp/7001/p2p/conn-1']
    })
    expect(asked).toEqual(['conn-1'])
    expect(filled.payload).toMatchObject({
      vmId: 'vm-a',
      connector: { nodeId: 'conn-1', addrs: ['/ip4/10.0.0.5/tcp/7001/p2p/conn-1'] },
    })
    expect(filled).toMatchObject({ jobId: 'j1', fencingToken: 4, attempt: 1 })
    expect((cycle.payload as { connector: { addrs: string[] } }).connector.addrs).toEqual([])
  })

  it('leaves the offer as stored when the connector announced no address', () => {
    expect(withConnectorAddresses(cycle, () => undefined)).toBe(cycle)
  })

  it('leaves other job types alone', () => {
    const check = offer('consistency-check', { tenant: 'acme', vmId: 'vm-a', volumes: [] })
    let asked = false
    expect(
      withConnectorAddresses(check, () => {
        asked = true
        return ['/ip4/10.0.0.5/tcp/7001']
      }),
    ).toBe(check)
    expect(asked).toBe(false)
  })
})
