// Conformance: a store left at schema version 1 is migrated to the latest on open, its records
// kept; and every schema-2 record survives close and reopen.
import { describe, expect, it } from 'vitest'
import {
  expectCode,
  freshStore,
  MINUTE,
  peerId,
  type StoreFixtureFactory,
  T0,
  tenantWithSite,
} from './fixture.js'
import { cycle, makeWorld, startJob } from './world.js'

export function migrationConformance(factory: StoreFixtureFactory): void {
  describe('persistence of schema-2 records', () => {
    const ctx = freshStore(factory)

    it('refuses schema-2 calls before open and after close with STORE_NOT_OPEN (a rejection, not a throw)', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.close()
      const calls: (() => Promise<unknown>)[] = [
        () =>
          ctx.store.createProtectedVm(
            'acme',
            { name: 'x', siteId: 'hq', volumes: [{ id: 'v', size: 1, blockSize: 4096 }] },
            T0,
          ),
        () => ctx.store.listPlans('acme'),
        () => ctx.store.listEnabledPlans(),
        () => ctx.store.recordPlanRun('acme', 'rpo', { dueAt: T0, jobId: 'j', enqueuedAt: T0 }, T0),
        () => ctx.store.listRecoveryPoints('acme', 'vm-1'),
        () => ctx.store.listNotificationChannels('acme'),
        () => ctx.store.listJobLog('acme', 'c1', { limit: 1 }),
        () => ctx.store.enqueueJob('acme', cycle('c1'), T0),
        () => ctx.store.offerJob('acme', 'c1', world.appliances[0], T0),
        () => ctx.store.renewLease('acme', 'c1', 'lease', T0),
        () => ctx.store.expireLeases(T0),
        () => ctx.store.cancelJob('acme', 'c1', T0),
        () => ctx.store.nextQueuedJobs(T0),
        () => ctx.store.activeJobsByNode(world.appliances[0]),
      ]
      for (const call of calls) await expectCode(call(), 'STORE_NOT_OPEN')
      const unopened = ctx.fixture.newStore()
      await expectCode(unopened.enqueueJob('acme', cycle('c1'), T0), 'STORE_NOT_OPEN')
      await expectCode(unopened.expireLeases(T0), 'STORE_NOT_OPEN')
    })

    it('every schema-2 record survives close and reopen', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      await startJob(ctx.store, 'acme', 'c1', world.appliances[0], T0)
      await ctx.store.enqueueJob('acme', cycle('d1', 'vm-2'), T0)
      await ctx.store.appendJobLog('acme', 'c1', {
        at: T0,
        level: 'info',
        step: 'scan',
        message: 'ok',
        nodeId: world.appliances[0],
        nodeSeq: 1,
      })
      await ctx.store.addRecoveryPoint('acme', {
        id: 'rp-1',
        vmId: 'vm-1',
        volumeId: 'disk-0',
        createdAt: T0,
        blockMapDigest: 'ef'.repeat(32),
        size: 1,
        tags: ['x'],
      })
      await ctx.store.createNotificationChannel(
        'acme',
        { id: 'mail', kind: 'email', target: 'a@example.com', events: [], enabled: true },
        T0,
      )
      await ctx.store.recordPlanRun('acme', 'rpo', { dueAt: T0, jobId: 'c1', enqueuedAt: T0 }, T0)
      const read = async (store: typeof ctx.store) => ({
        vms: await store.listProtectedVms('acme'),
        plans: await store.listPlans('acme'),
        enabled: await store.listEnabledPlans(),
        state: await store.getPlanScheduleState('acme', 'rpo'),
        points: await store.listRecoveryPoints('acme', 'vm-1'),
        channels: await store.listNotificationChannels('acme'),
        jobs: await store.listJobs('acme'),
        queue: await store.nextQueuedJobs(T0 + MINUTE),
        log: await store.listJobLog('acme', 'c1', { limit: 10 }),
        load: await store.activeJobsByNode(world.appliances[0]),
        fence: await store.fencingToken('acme', 'disk-1'),
      })
      const before = await read(ctx.store)
      await ctx.store.close()
      const reopened = ctx.fixture.newStore()
      await reopened.open()
      expect(await read(reopened)).toEqual(before)
      // The replay marker survived too: the same node entry is still not stored twice.
      await reopened.appendJobLog('acme', 'c1', {
        at: T0,
        level: 'info',
        step: 'scan',
        message: 'ok',
        nodeId: world.appliances[0],
        nodeSeq: 1,
      })
      expect(await reopened.listJobLog('acme', 'c1', { limit: 10 })).toHaveLength(1)
      expect(await reopened.expireLeases(T0 + 2 * MINUTE)).toMatchObject({
        expired: [{ cause: 'lease-expired' }],
      })
    })
  })

  describe('schema migration from version 1', () => {
    // Its own fixture: the storage must first be opened by the version-1 code path, not the latest.
    it('migrates a store written at version 1 when a current store opens it', async () => {
      const fixture = await factory()
      try {
        const v1 = fixture.newVersion1Store()
        await v1.open()
        expect(await v1.schemaVersion()).toBe(1)
        await tenantWithSite(v1, 'acme', 'hq')
        const { token } = await v1.createEnrolmentToken('acme', 'hq', 'appliance', MINUTE, T0)
        await v1.redeemEnrolmentToken(token, peerId(1), 'appliance', T0)
        const before = {
          tenants: await v1.listTenants(),
          nodes: await v1.listNodes('acme'),
          tokens: await v1.listEnrolmentTokens('acme'),
        }
        await v1.close()

        const current = fixture.newStore()
        await current.open()
        expect(await current.schemaVersion()).toBe(fixture.latestSchemaVersion)
        expect(fixture.latestSchemaVersion).toBe(2)
        expect({
          tenants: await current.listTenants(),
          nodes: await current.listNodes('acme'),
          tokens: await current.listEnrolmentTokens('acme'),
        }).toEqual(before)
        await current.createSite('acme', { id: 'dr', name: 'DR' }, T0)
        await current.createProtectedVm(
          'acme',
          { id: 'vm-1', name: 'Web', siteId: 'hq', volumes: [{ id: 'disk-0', size: 4096, blockSize: 4096 }] },
          T0,
        )
        const result = await current.enqueueJob('acme', cycle('c1', 'vm-1', { planId: undefined }), T0)
        expect(result).toMatchObject({ enqueued: true, job: { volumeIds: ['disk-0'] } })
        const offered = await current.offerJob('acme', 'c1', peerId(1), T0)
        expect(offered.fencingTokens).toEqual({ 'disk-0': 1 })
      } finally {
        await fixture.cleanup()
      }
    })
  })
}
