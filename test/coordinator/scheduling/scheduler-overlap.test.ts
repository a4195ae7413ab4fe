// Scheduler passes never overlap: a slow store makes the next pass skip, not pile up; the periodic
// loop runs a pass at start and every interval after the previous one ends; start/stop idempotent.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createScheduler } from '../../../coordinator/scheduling/scheduler.js'
import { recordingLogger } from '../events/recording-logger.js'
import { FakeSchedulerStore } from './fake-scheduler-store.js'

const T0 = Date.parse('2025-06-01T00:00:00Z')

function gate(): { wait: () => Promise<void>; open: () => void } {
  let open = (): void => undefined
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { wait: () => opened, open }
}

function plan() {
  return {
    tenantId: 't1',
    planId: 'p1',
    jobType: 'replication-cycle',
    vmId: 'vm1',
    schedule: { kind: 'interval' as const, everyMs: 60_000 },
    anchorAt: T0,
  }
}

describe('scheduler passes do not overlap', () => {
  it('an evaluate while a pass is running is skipped, and the running pass finishes alone', async () => {
    const store = new FakeSchedulerStore()
    store.addPlan(plan())
    const slow = gate()
    store.beforeList = slow.wait
    const log = recordingLogger()
    const scheduler = createScheduler({}, { store, log })

    const first = scheduler.evaluate(T0)
    const second = await scheduler.evaluate(T0 + 1)
    expect(second.skipped).toBe(true)
    expect(log.find('schedule-pass-skipped', 'warn')).toHaveLength(1)

    slow.open()
    expect(await first).toMatchObject({ skipped: false, enqueued: 1 })
    expect(store.calls.filter((c) => c.startsWith('enqueue'))).toHaveLength(1)
    // Once it ended, passes run again.
    store.beforeList = undefined
    expect((await scheduler.evaluate(T0 + 2)).skipped).toBe(false)
  })
})

describe('scheduler loop', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('runs at start, then every interval after the previous pass ended, never two at once', async () => {
    const store = new FakeSchedulerStore()
    store.addPlan(plan())
    let now = T0
    let active = 0
    let maxActive = 0
    let slowPass: ReturnType<typeof gate> | undefined
    store.beforeList = async () => {
      active++
      maxActive = Math.max(maxActive, active)
      await slowPass?.wait()
      active--
    }
    const scheduler = createScheduler({ intervalMs: 30_000 }, { store, clock: { now: () => now } })
    scheduler.start()
    scheduler.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(store.calls.filter((c) => c.startsWith('list'))).toEqual([`list@${T0}`])

    // A pass slower than the interval: nothing else starts while it runs.
    slowPass = gate()
    now = T0 + 30_000
    await vi.advanceTimersByTimeAsync(30_000)
    now = T0 + 100_000
    await vi.advanceTimersByTimeAsync(70_000)
    expect(store.calls.filter((c) => c.startsWith('list'))).toHaveLength(2)
    slowPass.open()
    slowPass = undefined
    await vi.advanceTimersByTimeAsync(0)
    // The next pass is an interval after the slow one ended.
    await vi.advanceTimersByTimeAsync(29_999)
    expect(store.calls.filter((c) => c.startsWith('list'))).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(store.calls.filter((c) => c.startsWith('list'))).toHaveLength(3)
    expect(maxActive).toBe(1)

    await scheduler.stop()
    await scheduler.stop()
    expect(scheduler.started).toBe(false)
    await vi.advanceTimersByTimeAsync(120_000)
    expect(store.calls.filter((c) => c.startsWith('list'))).toHaveLength(3)
  })

  it('stops when its signal aborts', async () => {
    const store = new FakeSchedulerStore()
    const controller = new AbortController()
    const scheduler = createScheduler(
      { intervalMs: 30_000, signal: controller.signal },
      { store, clock: { now: () => T0 } },
    )
    scheduler.start()
    await vi.advanceTimersByTimeAsync(0)
    controller.abort()
    await vi.advanceTimersByTimeAsync(90_000)
    expect(store.calls.filter((c) => c.startsWith('list'))).toHaveLength(1)
    expect(scheduler.started).toBe(false)
    scheduler.start()
    expect(scheduler.started).toBe(false)
  })
})
