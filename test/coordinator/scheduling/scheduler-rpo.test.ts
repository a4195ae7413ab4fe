// RPO at risk: a replication plan whose previous cycle is still active when the next run is due is
// flagged with its lag, once, and cleared when a cycle is enqueued again.
import { describe, expect, it } from 'vitest'
import { createLifecycleEvents, type RpoAtRiskEvent } from '../../../coordinator/events/lifecycle-events.js'
import { createScheduler } from '../../../coordinator/scheduling/scheduler.js'
import { recordingLogger } from '../events/recording-logger.js'
import { FakeSchedulerStore } from './fake-scheduler-store.js'

const MINUTE = 60_000
const I = 15 * MINUTE
const T0 = Date.parse('2025-06-01T00:00:00Z')

function setup() {
  const store = new FakeSchedulerStore()
  const events = createLifecycleEvents()
  const risks: RpoAtRiskEvent[] = []
  events.on('rpo-at-risk', (e) => {
    risks.push(e)
  })
  const log = recordingLogger()
  const scheduler = createScheduler({}, { store, events, log })
  return { store, risks, log, scheduler }
}

describe('RPO at risk', () => {
  it('is flagged with the lag when the cycle is still active, once, and cleared by the next enqueue', async () => {
    const { store, risks, log, scheduler } = setup()
    store.addPlan({
      tenantId: 't1',
      planId: 'p1',
      jobType: 'replication-cycle',
      vmId: 'vm1',
      schedule: { kind: 'interval', everyMs: I },
      anchorAt: T0,
    })
    await scheduler.evaluate(T0)

    // The first cycle is still running when the second is due.
    const blocked = await scheduler.evaluate(T0 + I + 30_000)
    expect(blocked).toMatchObject({ enqueued: 0, blocked: 1, rpoRaised: 1 })
    expect(store.jobs.size).toBe(1)
    expect(risks).toEqual([
      {
        tenantId: 't1',
        planId: 'p1',
        vmId: 'vm1',
        atRisk: true,
        lagMs: I + 30_000,
        lastDueAt: T0,
        blockedDueAt: T0 + I,
        at: T0 + I + 30_000,
      },
    ])
    expect(store.state('t1', 'p1')?.rpoAtRisk).toEqual({ since: T0 + I + 30_000, blockedDueAt: T0 + I })
    expect(log.find('rpo-at-risk', 'warn')[0].fields).toMatchObject({ planId: 'p1', lagMs: I + 30_000 })

    // Still blocked two passes later: no new event, no new write.
    await scheduler.evaluate(T0 + 2 * I)
    await scheduler.evaluate(T0 + 2 * I + 30_000)
    expect(risks).toHaveLength(1)
    expect(store.calls.filter((c) => c.startsWith('rpo'))).toHaveLength(1)

    // The cycle ends; the next pass enqueues one job for the latest due run and clears the flag.
    store.finish(`p1.${T0}`)
    const cleared = await scheduler.evaluate(T0 + 2 * I + 60_000)
    expect(cleared).toMatchObject({ enqueued: 1, coalesced: 1, rpoCleared: 1 })
    expect(store.jobs.has(`t1/p1.${T0 + 2 * I}`)).toBe(true)
    expect(store.state('t1', 'p1')?.rpoAtRisk).toBeUndefined()
    expect(risks[1]).toMatchObject({ atRisk: false, lagMs: 2 * I + 60_000, lastDueAt: T0 })

    // A later block raises it again: once per change.
    await scheduler.evaluate(T0 + 3 * I)
    expect(risks.map((r) => r.atRisk)).toEqual([true, false, true])
    expect(risks[2].lagMs).toBe(I)
  })

  it('is not raised for a maintenance plan whose previous job is still running', async () => {
    const { store, risks, scheduler } = setup()
    store.addPlan({
      tenantId: 't1',
      planId: 'prune',
      jobType: 'maintenance',
      schedule: { kind: 'interval', everyMs: I },
      anchorAt: T0,
    })
    await scheduler.evaluate(T0)
    const report = await scheduler.evaluate(T0 + I)
    expect(report).toMatchObject({ blocked: 1, rpoRaised: 0 })
    expect(risks).toEqual([])
    expect(store.state('t1', 'prune')?.rpoAtRisk).toBeUndefined()
  })

  it('measures the lag of a never-run plan from its anchor', async () => {
    const { store, risks, scheduler } = setup()
    store.addPlan({
      tenantId: 't1',
      planId: 'p2',
      jobType: 'replication-cycle',
      vmId: 'vm2',
      schedule: { kind: 'interval', everyMs: I },
      anchorAt: T0,
    })
    // Another plan's job already occupies the VM (a manual cycle, say).
    store.addPlan({
      tenantId: 't1',
      planId: 'manual',
      jobType: 'replication-cycle',
      vmId: 'vm2',
      schedule: { kind: 'interval', everyMs: 31 * 24 * 60 * MINUTE },
      anchorAt: T0 - 1,
    })
    await scheduler.evaluate(T0 - 1)
    await scheduler.evaluate(T0 + 45_000)
    expect(risks).toEqual([
      expect.objectContaining({ planId: 'p2', atRisk: true, lagMs: 45_000, blockedDueAt: T0 }),
    ])
    expect(risks[0].lastDueAt).toBeUndefined()
  })
})
