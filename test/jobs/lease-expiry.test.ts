// Lease expiry end to end over the real job link: a node accepts the offer and then goes silent
// (no renewal), the lease lapses, the job is retried after its backoff on another node, and after
// its last attempt it fails with the reason (docs/SCHEDULING.md §8). Job time is moved by the
// test (leases, backoff); liveness and the nodes' load reports keep real time.
import { afterEach, describe, expect, it } from 'vitest'
import { BACKOFF_BASE_MS } from '../../coordinator/jobs/job-defaults.js'
import { Cleanup, eventually } from '../control/helpers.js'
import {
  acceptAndGoSilent,
  enqueueMaintenance,
  movableClock,
  nextEvent,
  startJobAgent,
  startJobCoordinator,
  TENANT,
} from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('lease expiry end to end', () => {
  it('retries with backoff on another node, then fails after the last attempt with the reason', async () => {
    const clock = movableClock()
    const c = await startJobCoordinator(cleanup, {}, 'lifeboat-lease-', { jobClock: clock })
    // Load reports stay fresh across the test's clock moves (3 intervals of 5 s).
    const a = await startJobAgent(cleanup, c, { heartbeatIntervalMs: 5_000 })
    const b = await startJobAgent(cleanup, c, { heartbeatIntervalMs: 5_000 })
    const offersA = await acceptAndGoSilent(cleanup, a)
    const offersB = await acceptAndGoSilent(cleanup, b)

    const firstAck = nextEvent(c, 'acknowledged', (e) => e.jobId === 'lx')
    await enqueueMaintenance(c, 'lx', { maxAttempts: 2 })
    const first = await firstAck
    const firstNode = first.nodeId

    // Past the 1 s lease: the sweep takes the job back, a counted attempt, retried after the backoff.
    const retried = nextEvent(c, 'retried', (e) => e.jobId === 'lx')
    clock.advance(1_500)
    c.dispatcher.poke()
    expect(await retried).toMatchObject({
      nodeId: firstNode,
      attempt: 1,
      reason: { code: 'DISPATCH_LEASE_EXPIRED' },
    })
    const waiting = await c.store.getJob(TENANT, 'lx')
    expect(waiting).toMatchObject({ state: 'queued', attempt: 1, excludedNodes: [firstNode] })
    expect(waiting!.notBefore! - clock.now()).toBeGreaterThan(BACKOFF_BASE_MS - 2_000)
    // Not offered before the backoff is over, although a node is free.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await c.store.getJob(TENANT, 'lx'))?.state).toBe('queued')

    const secondAck = nextEvent(c, 'acknowledged', (e) => e.jobId === 'lx')
    clock.advance(BACKOFF_BASE_MS)
    c.dispatcher.poke()
    const second = await secondAck
    expect(second.nodeId).not.toBe(firstNode)
    expect([...offersA, ...offersB].map((o) => o.attempt).sort()).toEqual([1, 2])

    // The second lease lapses too: out of attempts, the job fails with the reason.
    const failed = nextEvent(c, 'failed', (e) => e.jobId === 'lx')
    clock.advance(1_500)
    c.dispatcher.poke()
    expect(await failed).toMatchObject({ nodeId: second.nodeId, attempt: 2, final: true })
    await eventually(async () => (await c.store.getJob(TENANT, 'lx'))?.state === 'failed', 'job failed')
    const job = await c.store.getJob(TENANT, 'lx')
    expect(job).toMatchObject({ state: 'failed', attempt: 2 })
    expect(job?.error?.code).toMatch(/LEASE_EXPIRED/)
  })
})
