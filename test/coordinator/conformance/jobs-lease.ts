// Conformance: what a lease holder may do — renew, complete, fail, hand back — and cancelJob;
// every stale call refused without a change.
import { describe, expect, it } from 'vitest'
import { BACKOFF_BASE_MS, LEASE_TTL_MS } from '../../../coordinator/jobs/job-defaults.js'
import { freshStore, type StoreFixtureFactory, T0 } from './fixture.js'
import { cycle, makeWorld, nodeError, refusedUnchanged, startJob } from './world.js'

export function jobsLeaseConformance(factory: StoreFixtureFactory): void {
  describe('jobs: renew, complete, fail, hand back, cancel', () => {
    const ctx = freshStore(factory)

    it('renewal extends the lease by its TTL from now, never shortening it', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const leaseId = await startJob(ctx.store, 'acme', 'c1', world.appliances[0], T0)
      const renewed = await ctx.store.renewLease('acme', 'c1', leaseId, T0 + LEASE_TTL_MS / 2)
      expect(renewed.lease).toMatchObject({ id: leaseId, expiresAt: T0 + LEASE_TTL_MS / 2 + LEASE_TTL_MS })
      const early = await ctx.store.renewLease('acme', 'c1', leaseId, T0 + 1)
      expect(early.lease!.expiresAt).toBe(T0 + LEASE_TTL_MS / 2 + LEASE_TTL_MS)
      // Renewed in time, the lease outlives its first expiry.
      const late = await ctx.store.renewLease('acme', 'c1', leaseId, T0 + LEASE_TTL_MS + 1_000)
      expect(late).toMatchObject({ state: 'running', lease: { expiresAt: T0 + 2 * LEASE_TTL_MS + 1_000 } })
      expect((await ctx.store.expireLeases(T0 + LEASE_TTL_MS + 2_000)).expired).toEqual([])
    })

    it('refuses renewals by stale, expired or unacknowledged leases, changing nothing', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const offered = await ctx.store.offerJob('acme', 'c1', world.appliances[0], T0)
      const renew =
        (leaseId: string, now: number, jobId = 'c1') =>
        () =>
          ctx.store.renewLease('acme', jobId, leaseId, now)
      await refusedUnchanged(ctx.store, world, 'c1', renew(offered.lease!.id, T0 + 1), 'JOB_STATE_CONFLICT')
      await ctx.store.acknowledgeJob('acme', 'c1', world.appliances[0], offered.lease!.id, T0 + 1)
      await refusedUnchanged(ctx.store, world, 'c1', renew('stale-lease', T0 + 2), 'JOB_LEASE_LOST')
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        renew(offered.lease!.id, T0 + 1 + LEASE_TTL_MS),
        'JOB_LEASE_LOST',
      )
      await refusedUnchanged(ctx.store, world, 'c9', renew(offered.lease!.id, T0 + 2, 'c9'), 'JOB_NOT_FOUND')
      await refusedUnchanged(ctx.store, world, 'c1', renew(offered.lease!.id, -1), 'STORE_INVALID_ARGUMENT')
      // A node that lost its lease to a successor is refused, though its old lease id was real.
      await ctx.store.expireLeases(T0 + 1 + LEASE_TTL_MS)
      const successor = await startJob(
        ctx.store,
        'acme',
        'c1',
        world.appliances[1],
        T0 + 1 + LEASE_TTL_MS + BACKOFF_BASE_MS,
      )
      expect(successor).not.toBe(offered.lease!.id)
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        renew(offered.lease!.id, T0 + 1 + LEASE_TTL_MS + BACKOFF_BASE_MS),
        'JOB_LEASE_LOST',
      )
    })

    it('completion ends the job with its result; a replay returns it unchanged', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const leaseId = await startJob(ctx.store, 'acme', 'c1', world.appliances[0], T0)
      const done = await ctx.store.completeJob('acme', 'c1', leaseId, T0 + 5, {
        bytesSent: 1024,
        recoveryPoint: 'rp-1',
        full: false,
      })
      expect(done).toMatchObject({
        state: 'succeeded',
        finishedAt: T0 + 5,
        result: { bytesSent: 1024, recoveryPoint: 'rp-1', full: false },
        lastLease: { id: leaseId, nodeId: world.appliances[0] },
      })
      expect(done.lease).toBeUndefined()
      expect(await ctx.store.activeJobsByNode(world.appliances[0])).toBe(0)
      expect(await ctx.store.completeJob('acme', 'c1', leaseId, T0 + 9, { other: 1 })).toEqual(done)
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.completeJob('acme', 'c1', 'stale', T0 + 9),
        'JOB_LEASE_LOST',
      )
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.failJob('acme', 'c1', leaseId, T0 + 9, nodeError(true)),
        'JOB_LEASE_LOST',
      )
    })

    it('refuses completions that are not the holder’s or carry a malformed result, changing nothing', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const offered = await ctx.store.offerJob('acme', 'c1', world.appliances[0], T0)
      const complete = (leaseId: string, now: number, result?: object) => () =>
        ctx.store.completeJob('acme', 'c1', leaseId, now, result as never)
      await refusedUnchanged(ctx.store, world, 'c1', complete(offered.lease!.id, T0), 'JOB_STATE_CONFLICT')
      await ctx.store.acknowledgeJob('acme', 'c1', world.appliances[0], offered.lease!.id, T0)
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        complete(offered.lease!.id, T0 + LEASE_TTL_MS),
        'JOB_LEASE_LOST',
      )
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        complete(offered.lease!.id, T0, { nested: { no: 1 } }),
        'STORE_INVALID_ARGUMENT',
      )
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        complete(offered.lease!.id, T0, { 'bad key': 1 }),
        'STORE_INVALID_ARGUMENT',
      )
    })

    it('a retryable failure requeues with exponential backoff until maxAttempts, then the job fails', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1', 'vm-1', { maxAttempts: 3 }), T0)
      let now = T0
      const leaseId1 = await startJob(ctx.store, 'acme', 'c1', world.appliances[0], now)
      const retry1 = await ctx.store.failJob('acme', 'c1', leaseId1, now + 10, nodeError(true))
      expect(retry1).toMatchObject({
        state: 'queued',
        attempt: 1,
        notBefore: now + 10 + BACKOFF_BASE_MS,
        error: nodeError(true),
        lastLease: { id: leaseId1 },
      })
      expect(await ctx.store.nextQueuedJobs(now + 10 + BACKOFF_BASE_MS - 1)).toEqual([])
      now += 10 + BACKOFF_BASE_MS
      const leaseId2 = await startJob(ctx.store, 'acme', 'c1', world.appliances[0], now)
      expect((await ctx.store.getJob('acme', 'c1'))!.attempt).toBe(2)
      const retry2 = await ctx.store.failJob('acme', 'c1', leaseId2, now, nodeError(true))
      expect(retry2).toMatchObject({ state: 'queued', attempt: 2, notBefore: now + 2 * BACKOFF_BASE_MS })
      now += 2 * BACKOFF_BASE_MS
      const leaseId3 = await startJob(ctx.store, 'acme', 'c1', world.appliances[0], now)
      const failed = await ctx.store.failJob('acme', 'c1', leaseId3, now, nodeError(true))
      expect(failed).toMatchObject({ state: 'failed', attempt: 3, finishedAt: now, error: nodeError(true) })
      expect(await ctx.store.failJob('acme', 'c1', leaseId3, now + 1, nodeError(true))).toEqual(failed)
      // The VM is free again.
      expect(await ctx.store.enqueueJob('acme', cycle('c2'), now)).toMatchObject({ enqueued: true })
    })

    it('a failure that is not retryable fails the job at once; success after a retry clears the error', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const leaseId = await startJob(ctx.store, 'acme', 'c1', world.appliances[0], T0)
      expect(
        await ctx.store.failJob('acme', 'c1', leaseId, T0, nodeError(false, 'AGENT_CORRUPT')),
      ).toMatchObject({
        state: 'failed',
        attempt: 1,
        error: { code: 'AGENT_CORRUPT' },
      })
      await ctx.store.enqueueJob('acme', cycle('c2'), T0)
      const first = await startJob(ctx.store, 'acme', 'c2', world.appliances[0], T0)
      await ctx.store.failJob('acme', 'c2', first, T0, nodeError(true))
      const second = await startJob(ctx.store, 'acme', 'c2', world.appliances[1], T0 + BACKOFF_BASE_MS)
      const done = await ctx.store.completeJob('acme', 'c2', second, T0 + BACKOFF_BASE_MS)
      expect(done).toMatchObject({ state: 'succeeded', attempt: 2 })
      expect(done.error).toBeUndefined()
      await refusedUnchanged(
        ctx.store,
        world,
        'c2',
        () =>
          ctx.store.failJob('acme', 'c2', second, T0, {
            code: 'x',
            message: '',
            remediation: '',
            retryable: true,
          }),
        'STORE_INVALID_ARGUMENT',
      )
    })

    it('a hand-back returns the running job to the queue at once, consuming no attempt', async () => {
      const world = await makeWorld(ctx.store)
      const [a, b] = world.appliances
      await ctx.store.enqueueJob('acme', cycle('c1', 'vm-1', { maxAttempts: 1 }), T0)
      const leaseId = await startJob(ctx.store, 'acme', 'c1', a, T0)
      const back = await ctx.store.handBackJob('acme', 'c1', leaseId, T0 + 7)
      expect(back).toMatchObject({
        state: 'queued',
        attempt: 0,
        notBefore: T0 + 7,
        queuedAt: T0 + 7,
        excludedNodes: [],
      })
      expect(await ctx.store.activeJobsByNode(a)).toBe(0)
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.handBackJob('acme', 'c1', leaseId, T0 + 8),
        'JOB_LEASE_LOST',
      )
      // Handed back any number of times, the single attempt is still there to fail.
      const again = await startJob(ctx.store, 'acme', 'c1', a, T0 + 8)
      const excluded = await ctx.store.handBackJob('acme', 'c1', again, T0 + 9, { excludeNode: true })
      expect(excluded).toMatchObject({ attempt: 0, excludedNodes: [a] })
      const last = await startJob(ctx.store, 'acme', 'c1', b, T0 + 10)
      expect((await ctx.store.getJob('acme', 'c1'))!.attempt).toBe(1)
      expect(await ctx.store.failJob('acme', 'c1', last, T0 + 11, nodeError(true))).toMatchObject({
        state: 'failed',
      })
    })

    it('cancel ends an active job in any state; the holder’s lease is lost; final jobs stay final', async () => {
      const world = await makeWorld(ctx.store)
      const [a] = world.appliances
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      expect(await ctx.store.cancelJob('acme', 'c1', T0 + 1)).toMatchObject({
        state: 'cancelled',
        finishedAt: T0 + 1,
      })
      await ctx.store.enqueueJob('acme', cycle('c2'), T0)
      await ctx.store.offerJob('acme', 'c2', a, T0)
      expect(await ctx.store.cancelJob('acme', 'c2', T0 + 2)).toMatchObject({ state: 'cancelled' })
      await ctx.store.enqueueJob('acme', cycle('c3'), T0)
      const leaseId = await startJob(ctx.store, 'acme', 'c3', a, T0)
      const cancelled = await ctx.store.cancelJob('acme', 'c3', T0 + 3)
      expect(cancelled).toMatchObject({ state: 'cancelled', lastLease: { id: leaseId } })
      expect(cancelled.lease).toBeUndefined()
      expect(await ctx.store.activeJobsByNode(a)).toBe(0)
      expect(await ctx.store.cancelJob('acme', 'c3', T0 + 4)).toEqual(cancelled)
      await refusedUnchanged(
        ctx.store,
        world,
        'c3',
        () => ctx.store.renewLease('acme', 'c3', leaseId, T0 + 4),
        'JOB_LEASE_LOST',
      )
      await refusedUnchanged(
        ctx.store,
        world,
        'c3',
        () => ctx.store.completeJob('acme', 'c3', leaseId, T0 + 4),
        'JOB_LEASE_LOST',
      )
      await ctx.store.enqueueJob('acme', cycle('c4'), T0)
      const done = await startJob(ctx.store, 'acme', 'c4', a, T0)
      await ctx.store.completeJob('acme', 'c4', done, T0 + 5)
      await refusedUnchanged(
        ctx.store,
        world,
        'c4',
        () => ctx.store.cancelJob('acme', 'c4', T0 + 6),
        'JOB_STATE_CONFLICT',
      )
      await refusedUnchanged(
        ctx.store,
        world,
        'c9',
        () => ctx.store.cancelJob('acme', 'c9', T0 + 6),
        'JOB_NOT_FOUND',
      )
    })
  })
}
