// The dispatcher's loop: a queued event starts a pass at once (dispatch latency is not the tick),
// its own offer-failed returns wait for the tick, a lease out of attempts is reported failed, and
// start/stop are idempotent.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { DispatchNode } from '../../../coordinator/dispatch/dispatch-ports.js'
import { createDispatcher } from '../../../coordinator/dispatch/dispatcher.js'
import { createLifecycleEvents, type JobFailedEvent } from '../../../coordinator/events/lifecycle-events.js'
import { FakeDispatchQueue } from './fake-dispatch-queue.js'

const T0 = 10_000_000

function setup(failSends = false) {
  const queue = new FakeDispatchQueue()
  const events = createLifecycleEvents()
  const clock = { t: T0, now: () => clock.t }
  const nodes: DispatchNode[] = [
    {
      nodeId: 'a',
      tenantId: 't1',
      siteId: 's1',
      role: 'appliance',
      online: true,
      load: { activeJobs: 0, cpu: 0.1, receivedAt: T0, intervalMs: 1_000_000 },
    },
  ]
  let sends = 0
  const dispatcher = createDispatcher(
    { intervalMs: 10_000 },
    {
      queue,
      nodes: { nodesOfSite: () => nodes },
      events,
      clock,
      offer: async () => {
        sends++
        if (failSends) throw new Error('link closed')
      },
    },
  )
  return { queue, events, dispatcher, sends: () => sends }
}

describe('dispatcher loop', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('dispatches a queued job at once instead of at the next tick', async () => {
    const { queue, events, dispatcher, sends } = setup()
    dispatcher.start()
    dispatcher.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(sends()).toBe(0)

    queue.add('j1', T0)
    events.emit('queued', { tenantId: 't1', jobId: 'j1', jobType: 'maintenance', source: 'manual', at: T0 })
    await vi.advanceTimersByTimeAsync(0)
    expect(sends()).toBe(1)

    await dispatcher.stop()
    await dispatcher.stop()
    queue.add('j2', T0)
    events.emit('queued', { tenantId: 't1', jobId: 'j2', jobType: 'maintenance', source: 'manual', at: T0 })
    await vi.advanceTimersByTimeAsync(60_000)
    expect(sends()).toBe(1)
    expect(events.listenerCount('queued')).toBe(0)
  })

  it('does not spin on its own failed sends: the retry waits for the tick', async () => {
    const { queue, events, dispatcher, sends } = setup(true)
    dispatcher.start()
    await vi.advanceTimersByTimeAsync(0)
    const job = queue.add('j1', T0)
    events.emit('queued', { tenantId: 't1', jobId: 'j1', jobType: 'maintenance', source: 'manual', at: T0 })
    await vi.advanceTimersByTimeAsync(0)
    expect(sends()).toBe(1)
    // The fake excludes the node on return; clear that so only the loop's timing decides.
    job.excludedNodes.length = 0
    await vi.advanceTimersByTimeAsync(9_999)
    expect(sends()).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(sends()).toBe(2)
    await dispatcher.stop()
  })
})

describe('lease expiry reporting', () => {
  it('reports a lease that ran out with no attempt left as a final failure', async () => {
    const { queue, events, dispatcher } = setup()
    const failed: JobFailedEvent[] = []
    events.on('failed', (e) => {
      failed.push(e)
    })
    queue.expireLeases = async () => [
      {
        tenantId: 't1',
        jobId: 'j9',
        jobType: 'maintenance',
        leaseId: 'l9',
        nodeId: 'a',
        kind: 'lease-ttl',
        attempt: 5,
        requeued: false,
      },
    ]
    expect((await dispatcher.dispatch(T0)).expired).toBe(1)
    expect(failed).toEqual([
      expect.objectContaining({
        jobId: 'j9',
        nodeId: 'a',
        attempt: 5,
        final: true,
        error: expect.objectContaining({ code: 'DISPATCH_LEASE_EXPIRED', retryable: false }),
      }),
    ])
  })
})
