// The scheduler's pass: enqueue when due, anchored timetable, coalescing, idempotent job ids,
// per-plan failure isolation.
import { describe, expect, it } from 'vitest'
import { createLifecycleEvents, type JobQueuedEvent } from '../../../coordinator/events/lifecycle-events.js'
import { createScheduler } from '../../../coordinator/scheduling/scheduler.js'
import { scheduledJobId } from '../../../coordinator/scheduling/scheduler-store.js'
import { recordingLogger } from '../events/recording-logger.js'
import { FakeSchedulerStore } from './fake-scheduler-store.js'

const MINUTE = 60_000
const I = 15 * MINUTE
const T0 = Date.parse('2025-06-01T00:00:00Z')

function setup() {
  const store = new FakeSchedulerStore()
  const events = createLifecycleEvents()
  const queued: JobQueuedEvent[] = []
  events.on('queued', (e) => {
    queued.push(e)
  })
  const log = recordingLogger()
  const scheduler = createScheduler({}, { store, events, log, clock: { now: () => T0 } })
  return { store, events, queued, log, scheduler }
}

function replicationPlan(planId: string, anchorAt = T0, everyMs = I) {
  return {
    tenantId: 't1',
    planId,
    jobType: 'replication-cycle',
    vmId: `vm-${planId}`,
    schedule: { kind: 'interval' as const, everyMs },
    anchorAt,
  }
}

describe('scheduler pass', () => {
  it('enqueues a new interval plan at its anchor, once, with a deterministic job id', async () => {
    const { store, scheduler, queued } = setup()
    store.addPlan(replicationPlan('p1'))

    const first = await scheduler.evaluate(T0 + 5_000)
    expect(first).toMatchObject({ skipped: false, plans: 1, enqueued: 1, coalesced: 0, failed: 0 })
    const jobId = scheduledJobId('p1', T0)
    expect(jobId).toBe(`p1.${T0}`)
    expect([...store.jobs.values()].map((j) => j.jobId)).toEqual([jobId])
    expect(store.state('t1', 'p1')).toEqual({ lastDueAt: T0, lastJobId: jobId })
    expect(queued).toEqual([
      expect.objectContaining({
        tenantId: 't1',
        jobId,
        planId: 'p1',
        vmId: 'vm-p1',
        source: 'schedule',
        dueAt: T0,
        coalesced: 0,
      }),
    ])

    // The same pass again: nothing is due any more.
    const second = await scheduler.evaluate(T0 + 6_000)
    expect(second.enqueued).toBe(0)
    expect(store.jobs.size).toBe(1)
    expect(queued).toHaveLength(1)
  })

  it('keeps the timetable anchored to due times, not to when the pass ran', async () => {
    const { store, scheduler } = setup()
    store.addPlan(replicationPlan('p1'))
    await scheduler.evaluate(T0)
    store.finish(`p1.${T0}`)

    // Seven minutes late: the job stands for T0 + I, not for the time of the pass.
    await scheduler.evaluate(T0 + I + 7 * MINUTE)
    expect(store.state('t1', 'p1')?.lastDueAt).toBe(T0 + I)
    store.finish(`p1.${T0 + I}`)

    // The next run is still due at T0 + 2I, not at (T0 + I + 7 min) + I.
    expect((await scheduler.evaluate(T0 + 2 * I - 1)).enqueued).toBe(0)
    expect((await scheduler.evaluate(T0 + 2 * I)).enqueued).toBe(1)
    expect(store.jobs.has(`t1/p1.${T0 + 2 * I}`)).toBe(true)
  })

  it('coalesces runs missed while the coordinator was down: 10 intervals → one job, 9 coalesced', async () => {
    const { store, scheduler, queued } = setup()
    store.addPlan(replicationPlan('p1'))
    await scheduler.evaluate(T0)
    store.finish(`p1.${T0}`)

    const report = await scheduler.evaluate(T0 + 10 * I + 20_000)
    expect(report).toMatchObject({ enqueued: 1, coalesced: 9 })
    const jobs = [...store.jobs.values()].filter((j) => j.state !== 'done')
    expect(jobs).toHaveLength(1)
    expect(jobs[0]).toMatchObject({ jobId: `p1.${T0 + 10 * I}`, dueAt: T0 + 10 * I, coalesced: 9 })
    expect(queued.at(-1)).toMatchObject({ dueAt: T0 + 10 * I, coalesced: 9 })
    expect(store.state('t1', 'p1')?.lastDueAt).toBe(T0 + 10 * I)
  })

  it('coalesces a never-run plan from its anchor on', async () => {
    const { store, scheduler } = setup()
    store.addPlan(replicationPlan('p1', T0 - 3 * I))
    const report = await scheduler.evaluate(T0 + 1)
    // Due at anchor, +I, +2I, +3I: one job for the latest, three coalesced.
    expect(report).toMatchObject({ enqueued: 1, coalesced: 3 })
    expect(store.jobs.has(`t1/p1.${T0}`)).toBe(true)
  })

  it('never enqueues twice when a pass crashes between enqueue and recording the due time', async () => {
    const { store, scheduler, queued, log } = setup()
    store.addPlan(replicationPlan('p1'))
    store.failNextRecordDue = new Error('coordinator killed')

    const crashed = await scheduler.evaluate(T0 + 1)
    expect(crashed.failed).toBe(1)
    expect(store.jobs.size).toBe(1)
    expect(store.state('t1', 'p1')).toBeUndefined()
    expect(log.find('plan-evaluation-failed', 'error')[0].fields).toMatchObject({
      planId: 'p1',
      code: 'INTERNAL',
    })

    // The next pass (or a restarted coordinator) computes the same due run and the same job id:
    // the store refuses the duplicate and the pass records the due time it lost.
    const resumed = await scheduler.evaluate(T0 + 2)
    expect(resumed).toMatchObject({ enqueued: 0, completed: 1, failed: 0 })
    expect(store.jobs.size).toBe(1)
    expect(store.state('t1', 'p1')).toEqual({ lastDueAt: T0, lastJobId: `p1.${T0}` })
    expect(queued).toHaveLength(1)
    expect(store.calls.filter((c) => c.startsWith('enqueue'))).toEqual([
      `enqueue p1.${T0}`,
      `enqueue p1.${T0}`,
    ])
  })

  it('after a crash and a longer outage the first job still holds the VM: no second job', async () => {
    const { store, scheduler } = setup()
    store.addPlan(replicationPlan('p1'))
    store.failNextRecordDue = new Error('coordinator killed')
    await scheduler.evaluate(T0 + 1)

    const later = await scheduler.evaluate(T0 + 3 * I + 1)
    expect(later).toMatchObject({ enqueued: 0, blocked: 1 })
    expect(store.jobs.size).toBe(1)
  })

  it('schedules cron plans in their time zone and coalesces their missed runs', async () => {
    const { store, scheduler } = setup()
    const at = (iso: string): number => Date.parse(iso)
    store.addPlan({
      tenantId: 't1',
      planId: 'prune',
      jobType: 'maintenance',
      schedule: { kind: 'cron', expression: '30 2 * * *', timeZone: 'Europe/Berlin' },
      anchorAt: at('2025-06-01T12:00:00Z'),
    })
    expect((await scheduler.evaluate(at('2025-06-02T00:29:59Z'))).enqueued).toBe(0)
    // 02:30 CEST is 00:30 UTC.
    expect((await scheduler.evaluate(at('2025-06-02T00:30:00Z'))).enqueued).toBe(1)
    store.finish(`prune.${at('2025-06-02T00:30:00Z')}`)

    const report = await scheduler.evaluate(at('2025-06-05T08:00:00Z'))
    expect(report).toMatchObject({ enqueued: 1, coalesced: 2 })
    expect(store.state('t1', 'prune')?.lastDueAt).toBe(at('2025-06-05T00:30:00Z'))
  })

  it('a failing plan is logged with its code, once, and the other plans are scheduled', async () => {
    const { store, scheduler, log } = setup()
    store.addPlan(replicationPlan('a'))
    store.addPlan({
      ...replicationPlan('bad'),
      schedule: { kind: 'cron', expression: '30 2 * * *', timeZone: 'Nowhere/Special' },
    })
    store.addPlan(replicationPlan('broken'))
    store.addPlan(replicationPlan('z'))
    store.failingPlans.add('broken')

    const report = await scheduler.evaluate(T0)
    expect(report).toMatchObject({ plans: 4, enqueued: 2, failed: 2 })
    expect(store.jobs.has(`t1/a.${T0}`)).toBe(true)
    expect(store.jobs.has(`t1/z.${T0}`)).toBe(true)
    const errors = log.find('plan-evaluation-failed', 'error')
    expect(errors.map((r) => [r.fields.planId, r.fields.code])).toEqual(
      expect.arrayContaining([
        ['bad', 'SCHEDULE_INVALID'],
        ['broken', 'INTERNAL'],
      ]),
    )

    // The same failures next pass are not logged as errors again.
    await scheduler.evaluate(T0 + 1)
    expect(log.find('plan-evaluation-failed', 'error')).toHaveLength(2)
    expect(log.find('plan-evaluation-failed', 'debug')).toHaveLength(2)
  })

  it('a store that cannot list plans makes an empty pass with the error', async () => {
    const { store, scheduler, log } = setup()
    store.beforeList = async () => {
      throw Object.assign(new Error('disk gone'), { code: 'STORE_IO_FAILED', remediation: 'check the disk' })
    }
    const report = await scheduler.evaluate(T0)
    expect(report.error).toMatchObject({ code: 'STORE_IO_FAILED' })
    expect(log.find('schedule-list-failed', 'error')).toHaveLength(1)
  })

  it('refuses out-of-range options, naming them', () => {
    const store = new FakeSchedulerStore()
    expect(() => createScheduler({ intervalMs: 999 }, { store })).toThrow(
      expect.objectContaining({
        code: 'SCHEDULE_INVALID_OPTION',
        message: expect.stringContaining('intervalMs'),
      }),
    )
    expect(() => createScheduler({ planConcurrency: 0 }, { store })).toThrow(
      expect.objectContaining({
        code: 'SCHEDULE_INVALID_OPTION',
        message: expect.stringContaining('planConcurrency'),
      }),
    )
  })
})

describe('scheduledJobId', () => {
  it('fits a protocol id however long the plan id is, and stays deterministic', () => {
    const long = 'p'.repeat(128)
    const id = scheduledJobId(long, T0)
    expect(id.length).toBeLessThanOrEqual(128)
    expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)
    expect(scheduledJobId(long, T0)).toBe(id)
    expect(scheduledJobId(`${'p'.repeat(127)}q`, T0)).not.toBe(id)
    expect(scheduledJobId(long, T0 + 1)).not.toBe(id)
  })
})
