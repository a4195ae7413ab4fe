// Conformance: expireLeases — lapsed offers go back to the queue for another node; expired leases
// retry with backoff and fail with JOB_LEASE_EXPIRED after maxAttempts; bounded batches.
import { describe, expect, it } from 'vitest'
import { ACK_TIMEOUT_MS, BACKOFF_BASE_MS, LEASE_TTL_MS } from '../../../coordinator/jobs/job-defaults.js'
import { freshStore, type StoreFixtureFactory, T0 } from './fixture.js'
import { check, cycle, makeWorld, refusedUnchanged, startJob } from './world.js'

export function jobsExpiryConformance(factory: StoreFixtureFactory): void {
  describe('jobs: expiry of offers and leases', () => {
    const ctx = freshStore(factory)

    it('an offer not acknowledged by its deadline returns to the queue, its node excluded', async () => {
      const world = await makeWorld(ctx.store)
      const [a, b] = world.appliances
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const offered = await ctx.store.offerJob('acme', 'c1', a, T0)
      expect(await ctx.store.expireLeases(T0 + ACK_TIMEOUT_MS - 1)).toEqual({ expired: [], more: false })
      const report = await ctx.store.expireLeases(T0 + ACK_TIMEOUT_MS)
      expect(report.more).toBe(false)
      expect(report.expired).toHaveLength(1)
      const [expired] = report.expired
      expect(expired).toMatchObject({
        cause: 'ack-timeout',
        nodeId: a,
        leaseId: offered.lease!.id,
        attempt: 1,
      })
      expect(expired.job).toMatchObject({
        state: 'queued',
        attempt: 0,
        notBefore: T0 + ACK_TIMEOUT_MS,
        queuedAt: T0 + ACK_TIMEOUT_MS,
        excludedNodes: [a],
        lastLease: offered.lease,
      })
      expect(await ctx.store.getJob('acme', 'c1')).toEqual(expired.job)
      expect(await ctx.store.activeJobsByNode(a)).toBe(0)
      // The late acknowledgement of the node that timed out is refused.
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.acknowledgeJob('acme', 'c1', a, offered.lease!.id, T0 + ACK_TIMEOUT_MS),
        'JOB_LEASE_LOST',
      )
      // It goes to another node; the excluded one only when the dispatcher has no other.
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.offerJob('acme', 'c1', a, T0 + ACK_TIMEOUT_MS),
        'JOB_NODE_EXCLUDED',
      )
      const other = await ctx.store.offerJob('acme', 'c1', b, T0 + ACK_TIMEOUT_MS)
      expect(other).toMatchObject({ attempt: 1, offeredTo: b, fencingTokens: { 'disk-0': 2 } })
      await ctx.store.expireLeases(T0 + 2 * ACK_TIMEOUT_MS)
      expect((await ctx.store.getJob('acme', 'c1'))!.excludedNodes).toEqual([a, b])
      const forced = await ctx.store.offerJob('acme', 'c1', a, T0 + 2 * ACK_TIMEOUT_MS, undefined, {
        allowExcludedNode: true,
      })
      expect(forced).toMatchObject({ state: 'offered', offeredTo: a, attempt: 1 })
      // Timing out again moves the node to the end of the list rather than repeating it.
      await ctx.store.expireLeases(T0 + 3 * ACK_TIMEOUT_MS)
      expect((await ctx.store.getJob('acme', 'c1'))!.excludedNodes).toEqual([b, a])
    })

    it('an expired lease retries with backoff, then fails with JOB_LEASE_EXPIRED after maxAttempts', async () => {
      const world = await makeWorld(ctx.store)
      const [a, b] = world.appliances
      await ctx.store.enqueueJob('acme', cycle('c1', 'vm-1', { maxAttempts: 3 }), T0)
      let now = T0
      const lease1 = await startJob(ctx.store, 'acme', 'c1', a, now)
      expect((await ctx.store.expireLeases(now + LEASE_TTL_MS - 1)).expired).toEqual([])
      now += LEASE_TTL_MS
      const first = (await ctx.store.expireLeases(now)).expired
      expect(first).toHaveLength(1)
      expect(first[0]).toMatchObject({ cause: 'lease-expired', nodeId: a, leaseId: lease1, attempt: 1 })
      expect(first[0].job).toMatchObject({
        state: 'queued',
        attempt: 1,
        notBefore: now + BACKOFF_BASE_MS,
        excludedNodes: [a],
        error: { code: 'JOB_LEASE_EXPIRED', retryable: true },
      })
      expect(first[0].job.error!.remediation.length).toBeGreaterThan(0)
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.completeJob('acme', 'c1', lease1, now),
        'JOB_LEASE_LOST',
      )

      now += BACKOFF_BASE_MS
      await startJob(ctx.store, 'acme', 'c1', b, now)
      now += LEASE_TTL_MS
      const second = (await ctx.store.expireLeases(now)).expired
      expect(second[0].job).toMatchObject({
        state: 'queued',
        attempt: 2,
        notBefore: now + 2 * BACKOFF_BASE_MS,
        excludedNodes: [a, b],
      })

      now += 2 * BACKOFF_BASE_MS
      const offered = await ctx.store.offerJob('acme', 'c1', a, now, undefined, { allowExcludedNode: true })
      await ctx.store.acknowledgeJob('acme', 'c1', a, offered.lease!.id, now)
      now += LEASE_TTL_MS
      const third = (await ctx.store.expireLeases(now)).expired
      expect(third[0]).toMatchObject({ cause: 'lease-expired', attempt: 3 })
      expect(third[0].job).toMatchObject({
        state: 'failed',
        attempt: 3,
        finishedAt: now,
        error: { code: 'JOB_LEASE_EXPIRED' },
      })
      expect(third[0].job.error!.message).toContain('attempt 3 of 3')
      expect(await ctx.store.getJob('acme', 'c1')).toEqual(third[0].job)
      expect(await ctx.store.nextQueuedJobs(now + 1_000_000)).toEqual([])
      expect(await ctx.store.enqueueJob('acme', cycle('c2'), now)).toMatchObject({ enqueued: true })
    })

    it('sweeps in bounded batches, lapsed offers first, oldest first, saying when more remain', async () => {
      const world = await makeWorld(ctx.store)
      const [a, b] = world.appliances
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      await ctx.store.enqueueJob('acme', cycle('d1', 'vm-2'), T0)
      await ctx.store.enqueueJob('acme', check('k1', 'vm-1'), T0)
      await ctx.store.offerJob('acme', 'd1', b, T0)
      await ctx.store.offerJob('acme', 'c1', a, T0 + 1)
      await startJob(ctx.store, 'acme', 'k1', world.connector, T0)
      const now = T0 + 10 * LEASE_TTL_MS
      const firstBatch = await ctx.store.expireLeases(now, 2)
      expect(firstBatch.more).toBe(true)
      expect(firstBatch.expired.map((e) => [e.job.id, e.cause])).toEqual([
        ['d1', 'ack-timeout'],
        ['c1', 'ack-timeout'],
      ])
      const secondBatch = await ctx.store.expireLeases(now, 2)
      expect(secondBatch).toMatchObject({ more: false })
      expect(secondBatch.expired.map((e) => [e.job.id, e.cause])).toEqual([['k1', 'lease-expired']])
      expect(await ctx.store.expireLeases(now, 2)).toEqual({ expired: [], more: false })
      for (const nodeId of [a, b, world.connector]) expect(await ctx.store.activeJobsByNode(nodeId)).toBe(0)
    })
  })
}
