// Conformance: enqueueJob — the record it writes, idempotency by id, one active cycle per VM,
// plans that are gone, references and malformed input.
import { describe, expect, it } from 'vitest'
import { MAX_ATTEMPTS, MAX_JOB_PAYLOAD_BYTES } from '../../../coordinator/jobs/job-defaults.js'
import { expectCode, freshStore, MINUTE, type StoreFixtureFactory, T0 } from './fixture.js'
import { BAD_IDS } from './tenants-and-sites.js'
import { check, cycle, makeWorld, RPO_PLAN, startJob } from './world.js'

export function jobsEnqueueConformance(factory: StoreFixtureFactory): void {
  describe('jobs: enqueue', () => {
    const ctx = freshStore(factory)

    it('writes a queued job with the VM’s volumes, attempt 0, due now, and defaults', async () => {
      await makeWorld(ctx.store)
      const result = await ctx.store.enqueueJob(
        'acme',
        cycle('c1', 'vm-1', { payload: { hint: 'full', n: [1, 2] } }),
        T0,
      )
      const job = {
        tenantId: 'acme',
        id: 'c1',
        type: 'replication-cycle',
        planId: 'rpo',
        vmId: 'vm-1',
        volumeIds: ['disk-0', 'disk-1'],
        siteId: 'hq',
        role: 'appliance',
        state: 'queued',
        attempt: 0,
        maxAttempts: MAX_ATTEMPTS,
        notBefore: T0,
        queuedAt: T0,
        fencingTokens: {},
        excludedNodes: [],
        payload: { hint: 'full', n: [1, 2] },
        createdAt: T0,
        updatedAt: T0,
      }
      expect(result).toEqual({ enqueued: true, job })
      expect(await ctx.store.getJob('acme', 'c1')).toEqual(job)
      const later = await ctx.store.enqueueJob(
        'acme',
        check('k1', 'vm-1', { volumeIds: ['disk-1'], maxAttempts: 1, notBefore: T0 + MINUTE }),
        T0,
      )
      expect(later.enqueued && later.job).toMatchObject({
        volumeIds: ['disk-1'],
        maxAttempts: 1,
        notBefore: T0 + MINUTE,
        payload: {},
      })
      const maintenance = await ctx.store.enqueueJob(
        'acme',
        { id: 'm1', type: 'maintenance', siteId: 'dr', role: 'connector', payload: { task: 'prune' } },
        T0,
      )
      expect(maintenance.enqueued && maintenance.job.volumeIds).toEqual([])
    })

    it('is idempotent by job id: a second enqueue returns the existing job unchanged', async () => {
      await makeWorld(ctx.store)
      const first = await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const again = await ctx.store.enqueueJob(
        'acme',
        cycle('c1', 'vm-2', { payload: { other: true } }),
        T0 + 5,
      )
      expect(again).toEqual({ enqueued: false, reason: 'duplicate', job: first.enqueued && first.job })
      // Also once the job has finished, and also when its plan has since been disabled.
      await ctx.store.cancelJob('acme', 'c1', T0 + 6)
      await ctx.store.updatePlan('acme', 'rpo', { ...RPO_PLAN, enabled: false }, T0 + 7)
      const late = await ctx.store.enqueueJob('acme', cycle('c1'), T0 + 8)
      expect(late).toMatchObject({ enqueued: false, reason: 'duplicate', job: { state: 'cancelled' } })
      expect(await ctx.store.listJobs('acme')).toHaveLength(1)
    })

    it('refuses a second active replication cycle of a VM, returning the active one', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      expect(await ctx.store.enqueueJob('acme', cycle('c2'), T0 + 1)).toMatchObject({
        enqueued: false,
        reason: 'active',
        job: { id: 'c1', state: 'queued' },
      })
      // Another VM's cycle and a consistency check of the same VM are not cycles of this VM.
      expect(await ctx.store.enqueueJob('acme', cycle('d1', 'vm-2'), T0 + 1)).toMatchObject({
        enqueued: true,
      })
      expect(await ctx.store.enqueueJob('acme', check('k1'), T0 + 1)).toMatchObject({ enqueued: true })
      // Offered and running cycles are active too; a finished one frees the VM.
      const lease = await startJob(ctx.store, 'acme', 'c1', world.appliances[0], T0 + 2)
      expect(await ctx.store.enqueueJob('acme', cycle('c2'), T0 + 3)).toMatchObject({
        reason: 'active',
        job: { id: 'c1', state: 'running' },
      })
      await ctx.store.completeJob('acme', 'c1', lease, T0 + 4)
      expect(await ctx.store.enqueueJob('acme', cycle('c2'), T0 + 5)).toMatchObject({ enqueued: true })
      expect(await ctx.store.getJob('acme', 'c2')).toMatchObject({ state: 'queued' })
    })

    it('answers plan-gone for a deleted or disabled plan, writing nothing', async () => {
      await makeWorld(ctx.store)
      await ctx.store.updatePlan('acme', 'rpo', { ...RPO_PLAN, enabled: false }, T0)
      expect(await ctx.store.enqueueJob('acme', cycle('c1'), T0)).toEqual({
        enqueued: false,
        reason: 'plan-gone',
      })
      await ctx.store.deletePlan('acme', 'rpo')
      expect(await ctx.store.enqueueJob('acme', cycle('c1'), T0)).toEqual({
        enqueued: false,
        reason: 'plan-gone',
      })
      expect(await ctx.store.listJobs('acme')).toEqual([])
    })

    it('refuses unknown sites, VMs and volumes (STORE_NOT_FOUND), writing nothing', async () => {
      await makeWorld(ctx.store)
      await expectCode(
        ctx.store.enqueueJob('acme', cycle('c1', 'vm-1', { siteId: 'moon' }), T0),
        'STORE_NOT_FOUND',
      )
      await expectCode(ctx.store.enqueueJob('acme', cycle('c1', 'vm-9'), T0), 'STORE_NOT_FOUND')
      await expectCode(
        ctx.store.enqueueJob('acme', cycle('c1', 'vm-1', { volumeIds: ['disk-2'] }), T0),
        'STORE_NOT_FOUND',
      )
      await expectCode(ctx.store.enqueueJob('nobody', cycle('c1'), T0), 'STORE_NOT_FOUND')
      expect(await ctx.store.listJobs('acme')).toEqual([])
    })

    it('refuses malformed jobs (STORE_INVALID_ARGUMENT, STORE_INVALID_ID), writing nothing', async () => {
      await makeWorld(ctx.store)
      const invalid = [
        { type: 'backup' },
        { role: 'connector' },
        { type: 'consistency-check' },
        { volumeIds: ['disk-0', 'disk-0'] },
        { vmId: undefined },
        { volumeIds: Array.from({ length: 65 }, (_, n) => `d${n}`) },
        { maxAttempts: 0 },
        { maxAttempts: 10_001 },
        { notBefore: -1 },
        { payload: [] },
        { payload: 'x' },
        { payload: { big: 'x'.repeat(MAX_JOB_PAYLOAD_BYTES) } },
        { payload: { n: 1n } },
      ]
      for (const change of invalid) {
        await expectCode(
          ctx.store.enqueueJob('acme', cycle('c1', 'vm-1', change as never), T0),
          'STORE_INVALID_ARGUMENT',
        )
      }
      await expectCode(
        ctx.store.enqueueJob(
          'acme',
          { id: 'm1', type: 'maintenance', siteId: 'dr', role: 'connector', volumeIds: ['disk-0'] },
          T0,
        ),
        'STORE_INVALID_ARGUMENT',
      )
      await expectCode(ctx.store.enqueueJob('acme', cycle('c1'), Number.NaN), 'STORE_INVALID_ARGUMENT')
      for (const id of BAD_IDS) {
        await expectCode(ctx.store.enqueueJob('acme', cycle(id as string), T0), 'STORE_INVALID_ID')
        await expectCode(ctx.store.enqueueJob('acme', cycle('c1', id as string), T0), 'STORE_INVALID_ID')
        await expectCode(ctx.store.enqueueJob(id as string, cycle('c1'), T0), 'STORE_INVALID_ID')
      }
      expect(await ctx.store.listJobs('acme')).toEqual([])
    })
  })
}
