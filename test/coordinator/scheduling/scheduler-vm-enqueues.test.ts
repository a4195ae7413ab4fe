// A plan of many VMs: its VMs' enqueues are in flight together (at most VM_ENQUEUE_CONCURRENCY), so
// the store can write them in shared commit groups; an enqueue that fails ends the plan's pass after
// the others settled, with no run recorded.
import { describe, expect, it } from 'vitest'
import type { LifecycleEventMap } from '../../../coordinator/events/lifecycle-events.js'
import { createLifecycleEvents } from '../../../coordinator/events/lifecycle-events.js'
import { createScheduler, VM_ENQUEUE_CONCURRENCY } from '../../../coordinator/scheduling/scheduler.js'
import type { ScheduledJob } from '../../../coordinator/scheduling/scheduler-store.js'
import { FakeSchedulerStore } from './fake-scheduler-store.js'

const I = 15 * 60_000
const T0 = Date.parse('2025-06-01T00:00:00Z')
const VMS = 80

/** A store whose enqueues take a few event-loop turns, counting how many are in flight at once. */
class SlowEnqueueStore extends FakeSchedulerStore {
  inFlight = 0
  mostInFlight = 0
  failVm: string | undefined

  override async enqueue(job: ScheduledJob) {
    this.inFlight++
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight)
    try {
      await new Promise((resolve) => setImmediate(resolve))
      if (job.vmId === this.failVm) throw new Error(`cannot enqueue ${job.vmId}`)
      return await super.enqueue(job)
    } finally {
      this.inFlight--
    }
  }
}

function planOf(store: FakeSchedulerStore): string[] {
  const vmIds = Array.from({ length: VMS }, (_, n) => `vm-${n}`)
  store.addPlan({
    tenantId: 't1',
    planId: 'p1',
    jobType: 'replication-cycle',
    vmIds,
    schedule: { kind: 'interval', everyMs: I },
    anchorAt: T0,
  })
  return vmIds
}

describe('scheduler: the enqueues of a plan’s VMs', () => {
  it('are in flight together, bounded, each announced once, and the run recorded after all', async () => {
    const store = new SlowEnqueueStore()
    const events = createLifecycleEvents()
    const queued: LifecycleEventMap['queued'][] = []
    events.on('queued', (event) => {
      queued.push(event)
    })
    const scheduler = createScheduler({}, { store, events, clock: { now: () => T0 } })
    const vmIds = planOf(store)

    expect(await scheduler.evaluate(T0 + 1_000)).toMatchObject({ enqueued: VMS, failed: 0 })
    expect(store.mostInFlight).toBe(VM_ENQUEUE_CONCURRENCY)
    expect(queued.map((e) => e.vmId).sort()).toEqual([...vmIds].sort())
    expect(store.jobs.size).toBe(VMS)
    // The run is recorded once, after every enqueue.
    expect(store.calls.filter((c) => c.startsWith('record'))).toEqual([`record p1.vm-0.${T0}`])
    expect(store.calls.at(-1)).toBe(`record p1.vm-0.${T0}`)
  })

  it('a failed enqueue fails the plan’s pass once the others settled, recording no run', async () => {
    const store = new SlowEnqueueStore()
    store.failVm = 'vm-5'
    const scheduler = createScheduler({}, { store, clock: { now: () => T0 } })
    planOf(store)

    expect(await scheduler.evaluate(T0 + 1_000)).toMatchObject({ failed: 1 })
    expect(store.inFlight).toBe(0)
    expect(store.state('t1', 'p1')?.lastDueAt).toBeUndefined()
    // Enqueues already started may have landed; the next pass finds them as duplicates and goes on.
    const landed = store.jobs.size
    expect(landed).toBeLessThan(VMS)
    store.failVm = undefined
    const next = await scheduler.evaluate(T0 + 2_000)
    expect(next).toMatchObject({ enqueued: VMS - landed, completed: landed, failed: 0 })
    expect(store.state('t1', 'p1')?.lastDueAt).toBe(T0)
  })
})
