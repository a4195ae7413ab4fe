// Conformance: job queries — the dispatcher's queue (global and per site), listJobs with filters
// and pages, a node's active jobs.
import { describe, expect, it } from 'vitest'
import { expectCode, freshStore, MINUTE, type StoreFixtureFactory, T0 } from './fixture.js'
import { BAD_IDS } from './tenants-and-sites.js'
import { check, cycle, makeWorld, startJob } from './world.js'

export function jobsQueriesConformance(factory: StoreFixtureFactory): void {
  describe('jobs: queries', () => {
    const ctx = freshStore(factory)

    it('nextQueuedJobs: due queued jobs of every tenant by notBefore, tenant, id; or one site’s queue', async () => {
      await makeWorld(ctx.store, 'beta', 100)
      await makeWorld(ctx.store, 'acme')
      await ctx.store.enqueueJob('beta', cycle('b-late', 'vm-1', { notBefore: T0 + 5 }), T0)
      await ctx.store.enqueueJob('acme', cycle('z-first', 'vm-2'), T0)
      await ctx.store.enqueueJob('beta', cycle('a-first', 'vm-2'), T0)
      await ctx.store.enqueueJob('acme', check('k1'), T0 + 1)
      await ctx.store.enqueueJob('acme', cycle('future', 'vm-1', { notBefore: T0 + MINUTE }), T0)
      const ids = (jobs: { tenantId: string; id: string }[]) => jobs.map((j) => `${j.tenantId}/${j.id}`)
      expect(ids(await ctx.store.nextQueuedJobs(T0 + 5))).toEqual([
        'acme/z-first',
        'beta/a-first',
        'acme/k1',
        'beta/b-late',
      ])
      expect(ids(await ctx.store.nextQueuedJobs(T0 + 5, 2))).toEqual(['acme/z-first', 'beta/a-first'])
      expect(ids(await ctx.store.nextQueuedJobs(T0))).toEqual(['acme/z-first', 'beta/a-first'])
      expect(ids(await ctx.store.nextQueuedJobs(T0 + MINUTE))).toContain('acme/future')
      const hq = { tenantId: 'acme', siteId: 'hq', role: 'appliance' as const }
      expect(ids(await ctx.store.nextQueuedJobs(T0 + MINUTE, 10, hq))).toEqual([
        'acme/z-first',
        'acme/future',
      ])
      expect(
        ids(await ctx.store.nextQueuedJobs(T0 + MINUTE, 10, { ...hq, siteId: 'dr', role: 'connector' })),
      ).toEqual(['acme/k1'])
      expect(await ctx.store.nextQueuedJobs(T0 + MINUTE, 10, { ...hq, role: 'connector' })).toEqual([])
      // Offered jobs leave the queue.
      const [appliance] = await ctx.store.listNodes('acme', 'hq')
      await ctx.store.offerJob('acme', 'z-first', appliance.id, T0 + 5)
      expect(ids(await ctx.store.nextQueuedJobs(T0 + 5, 10, hq))).toEqual([])
      expect(ids(await ctx.store.nextQueuedJobs(T0 + 5))).toEqual(['beta/a-first', 'acme/k1', 'beta/b-late'])
      await expectCode(ctx.store.nextQueuedJobs(T0, 0), 'STORE_INVALID_ARGUMENT')
      await expectCode(ctx.store.nextQueuedJobs(T0, 1001), 'STORE_INVALID_ARGUMENT')
      await expectCode(ctx.store.nextQueuedJobs(-1), 'STORE_INVALID_ARGUMENT')
      await expectCode(
        ctx.store.nextQueuedJobs(T0, 1, { ...hq, role: 'admin' as never }),
        'STORE_INVALID_ARGUMENT',
      )
    })

    it('listJobs filters by state, VM and plan, ordered by id, in pages', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      await ctx.store.enqueueJob('acme', cycle('d1', 'vm-2'), T0)
      await ctx.store.enqueueJob('acme', check('k1', 'vm-2'), T0)
      await ctx.store.enqueueJob(
        'acme',
        { id: 'm1', type: 'maintenance', siteId: 'dr', role: 'connector' },
        T0,
      )
      const leaseId = await startJob(ctx.store, 'acme', 'c1', world.appliances[0], T0)
      await ctx.store.completeJob('acme', 'c1', leaseId, T0 + 1)
      await ctx.store.enqueueJob('acme', cycle('c2'), T0 + 2)
      const ids = async (filter = {}, page = {}) =>
        (await ctx.store.listJobs('acme', filter, page)).map((j) => j.id)
      expect(await ids()).toEqual(['c1', 'c2', 'd1', 'k1', 'm1'])
      expect(await ids({ state: 'queued' })).toEqual(['c2', 'd1', 'k1', 'm1'])
      expect(await ids({ state: 'succeeded' })).toEqual(['c1'])
      expect(await ids({ vmId: 'vm-2' })).toEqual(['d1', 'k1'])
      expect(await ids({ planId: 'rpo' })).toEqual(['c1', 'c2', 'd1'])
      expect(await ids({ planId: 'rpo', state: 'queued', vmId: 'vm-1' })).toEqual(['c2'])
      expect(await ids({ vmId: 'vm-9' })).toEqual([])
      expect(await ids({}, { limit: 2 })).toEqual(['c1', 'c2'])
      expect(await ids({}, { after: 'c2', limit: 2 })).toEqual(['d1', 'k1'])
      expect(await ids({ state: 'queued' }, { after: 'c2', limit: 2 })).toEqual(['d1', 'k1'])
      expect(await ids({ planId: 'rpo', state: 'queued' }, { limit: 1 })).toEqual(['c2'])
      expect(await ids({}, { after: 'm1' })).toEqual([])
      await expectCode(ctx.store.listJobs('acme', { state: 'done' as never }), 'STORE_INVALID_ARGUMENT')
      for (const id of BAD_IDS) {
        await expectCode(ctx.store.listJobs(id as string), 'STORE_INVALID_ID')
        await expectCode(ctx.store.listJobs('acme', { vmId: id as string }), 'STORE_INVALID_ID')
        await expectCode(ctx.store.getJob('acme', id as string), 'STORE_INVALID_ID')
        await expectCode(ctx.store.activeJobsByNode(id as string), 'STORE_INVALID_ID')
      }
    })

    it('activeJobsByNode counts the jobs offered to or running on a node', async () => {
      const world = await makeWorld(ctx.store)
      const [a, b] = world.appliances
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      await ctx.store.enqueueJob('acme', cycle('d1', 'vm-2'), T0)
      await ctx.store.enqueueJob(
        'acme',
        { id: 'm1', type: 'maintenance', siteId: 'hq', role: 'appliance' },
        T0,
      )
      await ctx.store.offerJob('acme', 'c1', a, T0)
      const leaseId = await startJob(ctx.store, 'acme', 'd1', a, T0)
      await ctx.store.offerJob('acme', 'm1', b, T0)
      expect(await ctx.store.activeJobsByNode(a)).toBe(2)
      expect(await ctx.store.activeJobsByNode(b)).toBe(1)
      expect(await ctx.store.activeJobsByNode(world.connector)).toBe(0)
      await ctx.store.completeJob('acme', 'd1', leaseId, T0 + 1)
      expect(await ctx.store.activeJobsByNode(a)).toBe(1)
    })
  })
}
