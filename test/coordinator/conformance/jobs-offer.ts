// Conformance: offerJob, acknowledgeJob and declineJob — the records they write, every refusal,
// and fencing tokens that only grow, per volume, across offers and restarts.
import { describe, expect, it } from 'vitest'
import { offerFencingToken } from '../../../coordinator/jobs/job.js'
import { ACK_TIMEOUT_MS, LEASE_TTL_MS } from '../../../coordinator/jobs/job-defaults.js'
import { freshStore, MINUTE, peerId, type StoreFixtureFactory, T0 } from './fixture.js'
import { check, cycle, makeWorld, refusedUnchanged, startJob } from './world.js'

export function jobsOfferConformance(factory: StoreFixtureFactory): void {
  describe('jobs: offer, acknowledge, decline', () => {
    const ctx = freshStore(factory)

    it('an offer takes the job to offered under a new lease, with a fencing token for its volumes', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const offered = await ctx.store.offerJob('acme', 'c1', world.appliances[0], T0 + 10)
      const lease = offered.lease!
      expect(lease.id).toMatch(/^[0-9a-f]{32}$/)
      expect(offered).toMatchObject({
        state: 'offered',
        attempt: 1,
        offeredTo: world.appliances[0],
        ackDeadline: T0 + 10 + ACK_TIMEOUT_MS,
        lease: {
          nodeId: world.appliances[0],
          ttlMs: LEASE_TTL_MS,
          expiresAt: T0 + 10 + ACK_TIMEOUT_MS,
          grantedAt: T0 + 10,
        },
        fencingTokens: { 'disk-0': 1, 'disk-1': 1 },
        updatedAt: T0 + 10,
      })
      expect(offerFencingToken(offered)).toBe(1)
      expect(await ctx.store.getJob('acme', 'c1')).toEqual(offered)
      expect(await ctx.store.activeJobsByNode(world.appliances[0])).toBe(1)
      expect(await ctx.store.nextQueuedJobs(T0 + 10)).toEqual([])
      // The ack timeout and the lease TTL the offer announces can be chosen.
      await ctx.store.enqueueJob('acme', check('k1'), T0)
      const custom = await ctx.store.offerJob('acme', 'k1', world.connector, T0, 5_000, {
        leaseTtlMs: 120_000,
      })
      expect(custom).toMatchObject({
        ackDeadline: T0 + 5_000,
        lease: { ttlMs: 120_000, expiresAt: T0 + 5_000 },
      })
    })

    it('refuses offers of jobs not queued, not due, or to nodes that may not run them, changing nothing', async () => {
      const world = await makeWorld(ctx.store)
      await makeWorld(ctx.store, 'beta', 100)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      await ctx.store.enqueueJob('acme', cycle('d1', 'vm-2', { notBefore: T0 + MINUTE }), T0)
      const a = world.appliances[0]
      const offer =
        (jobId: string, nodeId: string, now = T0, ack?: number) =>
        () =>
          ctx.store.offerJob('acme', jobId, nodeId, now, ack)
      await refusedUnchanged(ctx.store, world, 'c9', offer('c9', a), 'JOB_NOT_FOUND')
      await refusedUnchanged(ctx.store, world, 'd1', offer('d1', a, T0 + MINUTE - 1), 'JOB_NOT_DUE')
      await refusedUnchanged(ctx.store, world, 'c1', offer('c1', world.connector), 'JOB_NODE_INELIGIBLE')
      await refusedUnchanged(ctx.store, world, 'c1', offer('c1', peerId(101)), 'JOB_NODE_INELIGIBLE')
      await refusedUnchanged(ctx.store, world, 'c1', offer('c1', peerId(999)), 'JOB_NODE_INELIGIBLE')
      await refusedUnchanged(ctx.store, world, 'c1', offer('c1', a, T0, 999), 'STORE_INVALID_ARGUMENT')
      await refusedUnchanged(ctx.store, world, 'c1', offer('c1', a, T0, 600_001), 'STORE_INVALID_ARGUMENT')
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.offerJob('acme', 'c1', a, T0, undefined, { leaseTtlMs: 500 }),
        'STORE_INVALID_ARGUMENT',
      )
      await ctx.store.offerJob('acme', 'c1', a, T0)
      await refusedUnchanged(ctx.store, world, 'c1', offer('c1', world.appliances[1]), 'JOB_STATE_CONFLICT')
      // At notBefore exactly the job is due.
      expect(await ctx.store.offerJob('acme', 'd1', a, T0 + MINUTE)).toMatchObject({ state: 'offered' })
    })

    it('acknowledging within the deadline starts the job under its lease', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const offered = await ctx.store.offerJob('acme', 'c1', world.appliances[0], T0)
      const running = await ctx.store.acknowledgeJob(
        'acme',
        'c1',
        world.appliances[0],
        offered.lease!.id,
        T0 + 59_999,
      )
      expect(running).toMatchObject({
        state: 'running',
        attempt: 1,
        startedAt: T0 + 59_999,
        lease: {
          id: offered.lease!.id,
          nodeId: world.appliances[0],
          ttlMs: LEASE_TTL_MS,
          expiresAt: T0 + 59_999 + LEASE_TTL_MS,
        },
        fencingTokens: { 'disk-0': 1, 'disk-1': 1 },
      })
      expect(running.offeredTo).toBeUndefined()
      expect(running.ackDeadline).toBeUndefined()
      expect(await ctx.store.activeJobsByNode(world.appliances[0])).toBe(1)
      // A TTL chosen at acknowledgement overrides the offered one.
      await ctx.store.enqueueJob('acme', cycle('d1', 'vm-2'), T0)
      const second = await ctx.store.offerJob('acme', 'd1', world.appliances[1], T0)
      const acked = await ctx.store.acknowledgeJob(
        'acme',
        'd1',
        world.appliances[1],
        second.lease!.id,
        T0,
        90_000,
      )
      expect(acked.lease).toMatchObject({ ttlMs: 90_000, expiresAt: T0 + 90_000 })
    })

    it('refuses stale acknowledgements, changing nothing', async () => {
      const world = await makeWorld(ctx.store)
      const [a, b] = world.appliances
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const leaseId = (await ctx.store.offerJob('acme', 'c1', a, T0)).lease!.id
      const ack = (nodeId: string, lease: string, now: number) => () =>
        ctx.store.acknowledgeJob('acme', 'c1', nodeId, lease, now)
      await refusedUnchanged(ctx.store, world, 'c1', ack(a, 'not-the-lease', T0), 'JOB_LEASE_LOST')
      await refusedUnchanged(ctx.store, world, 'c1', ack(b, leaseId, T0), 'JOB_LEASE_LOST')
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        ack(a, leaseId, T0 + ACK_TIMEOUT_MS),
        'JOB_OFFER_EXPIRED',
      )
      await refusedUnchanged(
        ctx.store,
        world,
        'c9',
        () => ctx.store.acknowledgeJob('acme', 'c9', a, leaseId, T0),
        'JOB_NOT_FOUND',
      )
      await ctx.store.acknowledgeJob('acme', 'c1', a, leaseId, T0 + 1)
      await refusedUnchanged(ctx.store, world, 'c1', ack(a, leaseId, T0 + 2), 'JOB_STATE_CONFLICT')
    })

    it('a decline returns the job to the queue at once, the attempt given back; excluding the node only if asked', async () => {
      const world = await makeWorld(ctx.store)
      const [a, b] = world.appliances
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const first = await ctx.store.offerJob('acme', 'c1', a, T0)
      const declined = await ctx.store.declineJob('acme', 'c1', a, first.lease!.id, T0 + 3)
      expect(declined).toMatchObject({
        state: 'queued',
        attempt: 0,
        notBefore: T0 + 3,
        queuedAt: T0 + 3,
        excludedNodes: [],
      })
      expect(declined.lease).toBeUndefined()
      expect(declined.lastLease).toEqual(first.lease)
      expect(await ctx.store.activeJobsByNode(a)).toBe(0)
      expect((await ctx.store.nextQueuedJobs(T0 + 3)).map((j) => j.id)).toEqual(['c1'])
      const second = await ctx.store.offerJob('acme', 'c1', a, T0 + 4)
      expect(second.attempt).toBe(1)
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.declineJob('acme', 'c1', a, first.lease!.id, T0 + 5),
        'JOB_LEASE_LOST',
      )
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.declineJob('acme', 'c1', b, second.lease!.id, T0 + 5),
        'JOB_LEASE_LOST',
      )
      const excluded = await ctx.store.declineJob('acme', 'c1', a, second.lease!.id, T0 + 5, {
        excludeNode: true,
      })
      expect(excluded.excludedNodes).toEqual([a])
      const third = await ctx.store.offerJob('acme', 'c1', b, T0 + 6)
      await ctx.store.acknowledgeJob('acme', 'c1', b, third.lease!.id, T0 + 6)
      await refusedUnchanged(
        ctx.store,
        world,
        'c1',
        () => ctx.store.declineJob('acme', 'c1', b, third.lease!.id, T0 + 7),
        'JOB_STATE_CONFLICT',
      )
    })

    it('fencing tokens strictly increase per volume across offers, and every volume of an offer shares one', async () => {
      const world = await makeWorld(ctx.store)
      const [a] = world.appliances
      const tokens: number[] = []
      for (let n = 0; n < 4; n++) {
        await ctx.store.enqueueJob('acme', cycle(`c${n}`), T0 + n)
        const offered = await ctx.store.offerJob('acme', `c${n}`, a, T0 + n)
        tokens.push(offerFencingToken(offered))
        await ctx.store.declineJob('acme', `c${n}`, a, offered.lease!.id, T0 + n)
        await ctx.store.cancelJob('acme', `c${n}`, T0 + n)
      }
      expect(tokens).toEqual([1, 2, 3, 4])
      // A check of disk-1 alone moves disk-1 ahead; the next cycle takes a token above both.
      await ctx.store.enqueueJob('acme', check('k1', 'vm-1', { volumeIds: ['disk-1'] }), T0)
      const checked = await ctx.store.offerJob('acme', 'k1', world.connector, T0)
      expect(checked.fencingTokens).toEqual({ 'disk-1': 5 })
      await ctx.store.enqueueJob('acme', cycle('c9'), T0)
      const next = await ctx.store.offerJob('acme', 'c9', a, T0)
      expect(next.fencingTokens).toEqual({ 'disk-0': 6, 'disk-1': 6 })
      expect(await ctx.store.fencingToken('acme', 'disk-0')).toBe(6)
      expect(await ctx.store.fencingToken('acme', 'disk-2')).toBe(0)
      // A job without volumes fences nothing and carries the smallest token.
      await ctx.store.enqueueJob(
        'acme',
        { id: 'm1', type: 'maintenance', siteId: 'hq', role: 'appliance' },
        T0,
      )
      const maintenance = await ctx.store.offerJob('acme', 'm1', a, T0)
      expect(maintenance.fencingTokens).toEqual({})
      expect(offerFencingToken(maintenance)).toBe(1)
    })

    it('fencing tokens and jobs survive close and reopen; the next offer goes on from there', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const leaseId = await startJob(ctx.store, 'acme', 'c1', world.appliances[0], T0)
      const before = await ctx.store.getJob('acme', 'c1')
      await ctx.store.close()
      const reopened = ctx.fixture.newStore()
      await reopened.open()
      expect(await reopened.getJob('acme', 'c1')).toEqual(before)
      expect(await reopened.fencingToken('acme', 'disk-0')).toBe(1)
      expect(await reopened.activeJobsByNode(world.appliances[0])).toBe(1)
      await reopened.completeJob('acme', 'c1', leaseId, T0 + 1)
      await reopened.enqueueJob('acme', cycle('c2'), T0 + 2)
      const next = await reopened.offerJob('acme', 'c2', world.appliances[1], T0 + 2)
      expect(next.fencingTokens).toEqual({ 'disk-0': 2, 'disk-1': 2 })
    })
  })
}
