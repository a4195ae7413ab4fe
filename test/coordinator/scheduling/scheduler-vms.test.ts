// A plan of several VMs: one replication cycle per VM per due run, each named after its VM, and a
// busy VM holds back only its own cycle.
import { describe, expect, it } from 'vitest'
import { createScheduler } from '../../../coordinator/scheduling/scheduler.js'
import { scheduledJobId } from '../../../coordinator/scheduling/scheduler-store.js'
import { FakeSchedulerStore } from './fake-scheduler-store.js'

const I = 15 * 60_000
const T0 = Date.parse('2025-06-01T00:00:00Z')

describe('scheduler with a plan of several VMs', () => {
  it('enqueues one job per VM whose id names the VM, and records the run once all have one', async () => {
    const store = new FakeSchedulerStore()
    const scheduler = createScheduler({}, { store, clock: { now: () => T0 } })
    store.addPlan({
      tenantId: 't1',
      planId: 'p1',
      jobType: 'replication-cycle',
      vmIds: ['vm-a', 'vm-b', 'vm-c'],
      schedule: { kind: 'interval', everyMs: I },
      anchorAt: T0,
    })

    const first = await scheduler.evaluate(T0 + 1_000)
    expect(first).toMatchObject({ enqueued: 3, blocked: 0, failed: 0 })
    const ids = [...store.jobs.values()].map((j) => j.jobId).sort()
    expect(ids).toEqual([`p1.vm-a.${T0}`, `p1.vm-b.${T0}`, `p1.vm-c.${T0}`])
    expect([...store.jobs.values()].map((j) => j.vmId).sort()).toEqual(['vm-a', 'vm-b', 'vm-c'])
    expect(store.state('t1', 'p1')?.lastDueAt).toBe(T0)

    // vm-a and vm-c finish; vm-b is still busy at the next due time.
    store.finish(`p1.vm-a.${T0}`)
    store.finish(`p1.vm-c.${T0}`)
    const second = await scheduler.evaluate(T0 + I + 1_000)
    expect(second).toMatchObject({ enqueued: 2, blocked: 1, rpoRaised: 1 })
    expect(store.jobs.has(`t1/p1.vm-a.${T0 + I}`)).toBe(true)
    expect(store.jobs.has(`t1/p1.vm-b.${T0 + I}`)).toBe(false)
    // The run is not recorded while a VM is blocked: it stays due for vm-b.
    expect(store.state('t1', 'p1')?.lastDueAt).toBe(T0)

    store.finish(`p1.vm-b.${T0}`)
    const third = await scheduler.evaluate(T0 + I + 2_000)
    expect(third).toMatchObject({ enqueued: 1, completed: 2, blocked: 0, rpoCleared: 1 })
    expect(store.state('t1', 'p1')?.lastDueAt).toBe(T0 + I)
  })

  it('keeps per-VM job ids within 128 characters and distinct per VM', () => {
    const long = 'p'.repeat(120)
    const a = scheduledJobId(long, T0, 'v'.repeat(100))
    const b = scheduledJobId(long, T0, `${'v'.repeat(99)}w`)
    expect(a.length).toBeLessThanOrEqual(128)
    expect(a).not.toBe(b)
    expect(scheduledJobId('p1', T0, 'vm1')).toBe(`p1.vm1.${T0}`)
  })
})
