// Conformance: tenant isolation of the schema-2 records. The same ids in two tenants name two
// independent records; no tenant-scoped read or change reaches another tenant's.
import { describe, expect, it } from 'vitest'
import { expectCode, freshStore, type StoreFixtureFactory, T0 } from './fixture.js'
import { cycle, makeWorld, startJob } from './world.js'

const DIGEST = 'cd'.repeat(32)

export function isolationV2Conformance(factory: StoreFixtureFactory): void {
  describe('tenant isolation of VMs, plans, catalogue, channels, jobs and logs', () => {
    const ctx = freshStore(factory)

    it('tenant B sees none of tenant A’s records, though it uses the same ids', async () => {
      const a = await makeWorld(ctx.store, 'tenant-a', 0)
      await ctx.store.createTenant({ id: 'tenant-b', name: 'B' }, T0)
      await ctx.store.createSite('tenant-b', { id: 'hq', name: 'HQ' }, T0)
      await ctx.store.enqueueJob('tenant-a', cycle('c1'), T0)
      const leaseId = await startJob(ctx.store, 'tenant-a', 'c1', a.appliances[0], T0)
      await ctx.store.appendJobLog('tenant-a', 'c1', {
        at: T0,
        level: 'info',
        step: 'scan',
        message: 'secret path /vmfs/a',
      })
      await ctx.store.addRecoveryPoint('tenant-a', {
        id: 'rp-1',
        vmId: 'vm-1',
        volumeId: 'disk-0',
        createdAt: T0,
        blockMapDigest: DIGEST,
        size: 1,
      })
      await ctx.store.createNotificationChannel(
        'tenant-a',
        { id: 'hook', kind: 'webhook', target: 'https://a.example.com/x', events: [], enabled: true },
        T0,
      )
      await ctx.store.flagPlanRpoAtRisk('tenant-a', 'rpo', { blockedDueAt: T0, lagMs: 1 }, T0)

      const b = ctx.store
      expect(await b.getProtectedVm('tenant-b', 'vm-1')).toBeUndefined()
      expect(await b.listProtectedVms('tenant-b')).toEqual([])
      expect(await b.getPlan('tenant-b', 'rpo')).toBeUndefined()
      expect(await b.listPlans('tenant-b')).toEqual([])
      expect(await b.getPlanScheduleState('tenant-b', 'rpo')).toBeUndefined()
      expect(await b.getRecoveryPoint('tenant-b', 'rp-1')).toBeUndefined()
      expect(await b.listRecoveryPoints('tenant-b', 'vm-1')).toEqual([])
      expect(await b.getNotificationChannel('tenant-b', 'hook')).toBeUndefined()
      expect(await b.listNotificationChannels('tenant-b')).toEqual([])
      expect(await b.getJob('tenant-b', 'c1')).toBeUndefined()
      expect(await b.listJobs('tenant-b')).toEqual([])
      expect(await b.listJobLog('tenant-b', 'c1', { limit: 10 })).toEqual([])
      expect(await b.fencingToken('tenant-b', 'disk-0')).toBe(0)
      expect(
        await b.nextQueuedJobs(T0 + 1, 10, { tenantId: 'tenant-b', siteId: 'hq', role: 'appliance' }),
      ).toEqual([])

      // Changes through tenant B cannot reach A's records.
      await expectCode(b.renewLease('tenant-b', 'c1', leaseId, T0 + 1), 'JOB_NOT_FOUND')
      await expectCode(b.completeJob('tenant-b', 'c1', leaseId, T0 + 1), 'JOB_NOT_FOUND')
      await expectCode(b.cancelJob('tenant-b', 'c1', T0 + 1), 'JOB_NOT_FOUND')
      await expectCode(
        b.appendJobLog('tenant-b', 'c1', { at: T0, level: 'info', step: 's', message: 'm' }),
        'JOB_NOT_FOUND',
      )
      await expectCode(
        b.updatePlan('tenant-b', 'rpo', (await b.getPlan('tenant-a', 'rpo'))!, T0),
        'STORE_NOT_FOUND',
      )
      await expectCode(b.setRecoveryPointTags('tenant-b', 'rp-1', []), 'STORE_NOT_FOUND')
      await expectCode(
        b.recordPlanRun('tenant-b', 'rpo', { dueAt: T0, jobId: 'x', enqueuedAt: T0 }, T0),
        'STORE_NOT_FOUND',
      )
      expect(await b.deleteProtectedVm('tenant-b', 'vm-1')).toBe(false)
      expect(await b.deleteNotificationChannel('tenant-b', 'hook')).toBe(false)
      expect(await b.deleteRecoveryPoint('tenant-b', 'rp-1')).toBe(false)
      expect(await b.deletePlan('tenant-b', 'rpo')).toBe(false)
      expect(await b.getJob('tenant-a', 'c1')).toMatchObject({ state: 'running' })
      expect(await b.listJobLog('tenant-a', 'c1', { limit: 10 })).toHaveLength(1)
    })

    it('the same VM, volume and job ids in two tenants are independent, fencing included', async () => {
      const a = await makeWorld(ctx.store, 'tenant-a', 0)
      const b = await makeWorld(ctx.store, 'tenant-b', 100)
      await ctx.store.enqueueJob('tenant-a', cycle('c1'), T0)
      await ctx.store.enqueueJob('tenant-b', cycle('c1'), T0)
      await ctx.store.offerJob('tenant-a', 'c1', a.appliances[0], T0)
      await expectCode(ctx.store.offerJob('tenant-b', 'c1', a.appliances[0], T0), 'JOB_NODE_INELIGIBLE')
      await ctx.store.cancelJob('tenant-a', 'c1', T0 + 1)
      await ctx.store.enqueueJob('tenant-a', cycle('c2'), T0 + 1)
      const second = await ctx.store.offerJob('tenant-a', 'c2', a.appliances[0], T0 + 1)
      const other = await ctx.store.offerJob('tenant-b', 'c1', b.appliances[0], T0 + 1)
      expect(second.fencingTokens).toEqual({ 'disk-0': 2, 'disk-1': 2 })
      expect(other.fencingTokens).toEqual({ 'disk-0': 1, 'disk-1': 1 })
      expect(await ctx.store.getJob('tenant-b', 'c1')).toMatchObject({
        tenantId: 'tenant-b',
        state: 'offered',
      })
      expect((await ctx.store.listJobs('tenant-a')).map((j) => `${j.id}:${j.state}`)).toEqual([
        'c1:cancelled',
        'c2:offered',
      ])
      // The active cycle of tenant A's vm-1 does not block tenant B's vm-1.
      await ctx.store.cancelJob('tenant-b', 'c1', T0 + 2)
      expect(await ctx.store.enqueueJob('tenant-b', cycle('c3'), T0 + 2)).toMatchObject({ enqueued: true })
    })

    it('tenants whose ids share a prefix do not see each other’s jobs or queues', async () => {
      const ids = ['ab', 'ab.c', 'abc']
      for (const [n, id] of ids.entries()) {
        await makeWorld(ctx.store, id, n * 100)
        await ctx.store.enqueueJob(id, cycle(`job-${n}`), T0)
      }
      for (const [n, id] of ids.entries()) {
        expect((await ctx.store.listJobs(id)).map((j) => j.id)).toEqual([`job-${n}`])
        expect((await ctx.store.listJobs(id, { vmId: 'vm-1' })).map((j) => j.id)).toEqual([`job-${n}`])
        const queue = await ctx.store.nextQueuedJobs(T0, 10, {
          tenantId: id,
          siteId: 'hq',
          role: 'appliance',
        })
        expect(queue.map((j) => j.id)).toEqual([`job-${n}`])
        expect((await ctx.store.listProtectedVms(id)).every((vm) => vm.tenantId === id)).toBe(true)
      }
    })
  })
}
