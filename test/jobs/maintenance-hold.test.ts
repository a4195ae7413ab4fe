// A maintenance plan's run is not enqueued while the plan's previous job is still active: the run
// stays due and coalesces, and `run-held` is raised once and cleared once (docs/SCHEDULING.md §3,
// §5). The scheduler over the store adapter and the memory store; no network.
import { describe, expect, it } from 'vitest'
import { createSchedulerStoreAdapter } from '../../coordinator/adapters/scheduler-store-adapter.js'
import { createLifecycleEvents, type RunHeldEvent } from '../../coordinator/events/lifecycle-events.js'
import { createScheduler } from '../../coordinator/scheduling/scheduler.js'
import { createMemoryStore } from '../../coordinator/store/memory-store.js'
import { MINUTE, T0 } from '../coordinator/conformance/fixture.js'
import { makeWorld, startJob } from '../coordinator/conformance/world.js'

const EVERY = 10 * MINUTE

async function setUp() {
  const store = createMemoryStore()
  await store.open()
  const world = await makeWorld(store)
  // Only the maintenance plan here: the world's replication plan goes.
  await store.deletePlan(world.tenantId, 'rpo')
  await store.createPlan(
    world.tenantId,
    {
      id: 'prune',
      name: 'Nightly prune',
      groups: [],
      schedule: { kind: 'interval', everyMs: EVERY },
      job: { type: 'maintenance', action: 'prune-recovery-points' },
      retention: { count: 1, preservedTags: [] },
      sourceSiteId: 'hq',
      targetSiteId: 'dr',
      enabled: true,
    },
    T0,
  )
  const events = createLifecycleEvents()
  const holds: RunHeldEvent[] = []
  events.on('run-held', (e) => {
    holds.push(e)
  })
  const scheduler = createScheduler({}, { store: createSchedulerStoreAdapter({}, { store }), events })
  const jobsOf = () => store.listJobs(world.tenantId, { planId: 'prune' }, { limit: 100 })
  return { store, world, holds, scheduler, jobsOf }
}

describe('maintenance plans: no second run while the previous job is active', () => {
  it('holds the run while the job is queued or running, once, then enqueues one coalesced run', async () => {
    const { store, world, holds, scheduler, jobsOf } = await setUp()
    const first = await scheduler.evaluate(T0)
    expect(first).toMatchObject({ enqueued: 1, blocked: 0 })
    const [job] = await jobsOf()
    expect(job).toMatchObject({ type: 'maintenance', state: 'queued', payload: { task: 'prune' } })

    // Still queued at the next due time: held, announced once.
    const second = await scheduler.evaluate(T0 + EVERY)
    expect(second).toMatchObject({ enqueued: 0, blocked: 1, holdsRaised: 1, rpoRaised: 0 })
    expect(holds).toEqual([
      {
        tenantId: world.tenantId,
        planId: 'prune',
        jobType: 'maintenance',
        held: true,
        blockedDueAt: T0 + EVERY,
        lastDueAt: T0,
        at: T0 + EVERY,
      },
    ])
    // Running now, two due times later: still held, no new announcement.
    const leaseId = await startJob(store, world.tenantId, job!.id, world.connector, T0 + 2 * EVERY - 1)
    const third = await scheduler.evaluate(T0 + 2 * EVERY)
    expect(third).toMatchObject({ enqueued: 0, blocked: 1, holdsRaised: 0 })
    expect(holds).toHaveLength(1)
    expect(await jobsOf()).toHaveLength(1)
    // The plan is not flagged RPO at risk: that is a replication notion.
    expect((await store.getPlanScheduleState(world.tenantId, 'prune'))?.rpoAtRisk).toBeFalsy()

    // The job ends: the next pass enqueues one job for the latest due time, coalescing the two held.
    await store.completeJob(world.tenantId, job!.id, leaseId, T0 + 2 * EVERY + 1)
    const fourth = await scheduler.evaluate(T0 + 2 * EVERY + 2)
    expect(fourth).toMatchObject({ enqueued: 1, coalesced: 1, holdsCleared: 1 })
    expect(holds.at(-1)).toMatchObject({ held: false, planId: 'prune' })
    const jobs = await jobsOf()
    expect(jobs).toHaveLength(2)
    expect(jobs.filter((j) => j.state === 'queued').map((j) => j.id)).toEqual([`prune.${T0 + 2 * EVERY}`])
  })

  it('a failed or cancelled job does not hold the plan', async () => {
    const { store, world, holds, scheduler, jobsOf } = await setUp()
    await scheduler.evaluate(T0)
    const [job] = await jobsOf()
    await store.cancelJob(world.tenantId, job!.id, T0 + 1)
    expect(await scheduler.evaluate(T0 + EVERY)).toMatchObject({ enqueued: 1, blocked: 0 })
    expect(holds).toEqual([])
  })
})
