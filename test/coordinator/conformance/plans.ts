// Conformance: plans (schedules, job types, retention, VM groups, sites) and their schedule states.
import { describe, expect, it } from 'vitest'
import type { PlanInput } from '../../../coordinator/store/protection-records.js'
import { expectCode, freshStore, MINUTE, type StoreFixtureFactory, T0 } from './fixture.js'
import { makeWorld, RPO_PLAN } from './world.js'

const MAINTENANCE: PlanInput = {
  name: 'Nightly prune',
  groups: [],
  schedule: { kind: 'cron', expression: '30  2 * * *', timeZone: 'europe/berlin' },
  job: { type: 'maintenance', action: 'prune-recovery-points' },
  retention: { count: 1, preservedTags: [] },
  sourceSiteId: 'dr',
  targetSiteId: 'dr',
  enabled: false,
}

export function plansConformance(factory: StoreFixtureFactory): void {
  describe('plans', () => {
    const ctx = freshStore(factory)

    it('creates and reads a plan as given, stamping enabledAt when created enabled', async () => {
      await makeWorld(ctx.store)
      const plan = await ctx.store.getPlan('acme', 'rpo')
      expect(plan).toEqual({ tenantId: 'acme', ...RPO_PLAN, enabledAt: T0, createdAt: T0, updatedAt: T0 })
      expect(await ctx.store.getPlan('acme', 'nope')).toBeUndefined()
    })

    it('stores cron schedules canonically and checks them with the scheduler’s rules', async () => {
      await makeWorld(ctx.store)
      const nightly = await ctx.store.createPlan('acme', { id: 'nightly', ...MAINTENANCE }, T0)
      expect(nightly.schedule).toEqual({ kind: 'cron', expression: '30 2 * * *', timeZone: 'Europe/Berlin' })
      expect(nightly.enabledAt).toBeUndefined()
      await ctx.store.createPlan(
        'acme',
        { ...MAINTENANCE, id: 'weekly', schedule: { kind: 'cron', expression: '@weekly', timeZone: 'UTC' } },
        T0,
      )
      const badSchedules = [
        { kind: 'interval', everyMs: 9_999 },
        { kind: 'interval', everyMs: 32 * 24 * 60 * MINUTE },
        { kind: 'interval', everyMs: 60_000.5 },
        { kind: 'cron', expression: 'every day', timeZone: 'UTC' },
        { kind: 'cron', expression: '0 0 30 2 *', timeZone: 'UTC' },
        { kind: 'cron', expression: '0 0 0 * * *', timeZone: 'UTC' },
        { kind: 'cron', expression: '0 3 * * *', timeZone: 'Mars/Olympus' },
        { kind: 'cron', expression: '', timeZone: 'UTC' },
        { kind: 'weekly' },
        null,
      ]
      for (const schedule of badSchedules) {
        await expectCode(
          ctx.store.createPlan('acme', { ...MAINTENANCE, id: 'bad', schedule: schedule as never }, T0),
          'STORE_INVALID_ARGUMENT',
        )
      }
      expect((await ctx.store.listPlans('acme')).map((p) => p.id)).toEqual(['nightly', 'rpo', 'weekly'])
    })

    it('refuses plans whose job, retention, groups or sites do not hold together', async () => {
      await makeWorld(ctx.store)
      await ctx.store.createSite('acme', { id: 'branch', name: 'Branch' }, T0)
      const invalid: Partial<PlanInput>[] = [
        { job: { type: 'failover-step' } as never },
        { job: { type: 'maintenance', action: 'reboot' } as never },
        { retention: { count: 0, preservedTags: [] } },
        { retention: { count: 5, maxAgeMs: 1_000, preservedTags: [] } },
        { retention: { count: 5, preservedTags: ['has space'] } },
        { groups: [] },
        { groups: [{ vmIds: [] }] },
        { groups: [{ vmIds: ['vm-1'] }, { vmIds: ['vm-1'] }] },
        { targetSiteId: 'hq' },
        { sourceSiteId: 'branch', targetSiteId: 'dr' },
        { enabled: 'yes' as never },
        { name: ' ' },
      ]
      for (const change of invalid) {
        await expectCode(
          ctx.store.createPlan('acme', { ...RPO_PLAN, id: 'other', ...change }, T0),
          'STORE_INVALID_ARGUMENT',
        )
      }
      const missing: Partial<PlanInput>[] = [{ groups: [{ vmIds: ['vm-9'] }] }, { targetSiteId: 'moon' }]
      for (const change of missing) {
        await expectCode(
          ctx.store.createPlan('acme', { ...RPO_PLAN, id: 'other', ...change }, T0),
          'STORE_NOT_FOUND',
        )
      }
      await expectCode(ctx.store.createPlan('acme', RPO_PLAN, T0), 'STORE_ALREADY_EXISTS')
      await expectCode(ctx.store.createPlan('nobody', RPO_PLAN, T0), 'STORE_NOT_FOUND')
      await expectCode(ctx.store.updatePlan('acme', 'nope', RPO_PLAN, T0), 'STORE_NOT_FOUND')
      expect((await ctx.store.listPlans('acme')).map((p) => p.id)).toEqual(['rpo'])
    })

    it('update keeps createdAt; switching enabled on stamps enabledAt, off keeps it; enabled plans list across tenants', async () => {
      await makeWorld(ctx.store)
      await makeWorld(ctx.store, 'beta', 100)
      await ctx.store.createPlan('beta', { id: 'nightly', ...MAINTENANCE, enabled: true }, T0 + 1)
      const off = await ctx.store.updatePlan('acme', 'rpo', { ...RPO_PLAN, enabled: false }, T0 + 10)
      expect(off).toMatchObject({ enabled: false, enabledAt: T0, createdAt: T0, updatedAt: T0 + 10 })
      expect((await ctx.store.listEnabledPlans()).map((p) => `${p.tenantId}/${p.id}`)).toEqual([
        'beta/nightly',
        'beta/rpo',
      ])
      const on = await ctx.store.updatePlan('acme', 'rpo', { ...RPO_PLAN, name: 'Renamed' }, T0 + 20)
      expect(on).toMatchObject({ enabled: true, enabledAt: T0 + 20, name: 'Renamed' })
      const again = await ctx.store.updatePlan('acme', 'rpo', RPO_PLAN, T0 + 30)
      expect(again.enabledAt).toBe(T0 + 20)
      expect((await ctx.store.listEnabledPlans()).map((p) => `${p.tenantId}/${p.id}`)).toEqual([
        'acme/rpo',
        'beta/nightly',
        'beta/rpo',
      ])
      expect(await ctx.store.deletePlan('beta', 'rpo')).toBe(true)
      expect(await ctx.store.deletePlan('beta', 'rpo')).toBe(false)
      expect((await ctx.store.listEnabledPlans()).map((p) => `${p.tenantId}/${p.id}`)).toEqual([
        'acme/rpo',
        'beta/nightly',
      ])
    })

    it('records runs forwards only, clearing the RPO flag; a flag keeps its first time', async () => {
      await makeWorld(ctx.store)
      expect(await ctx.store.getPlanScheduleState('acme', 'rpo')).toBeUndefined()
      const flagged = await ctx.store.flagPlanRpoAtRisk(
        'acme',
        'rpo',
        { blockedDueAt: T0, lagMs: 5_000 },
        T0 + 5,
      )
      expect(flagged).toEqual({
        tenantId: 'acme',
        planId: 'rpo',
        rpoAtRisk: true,
        rpoAtRiskSince: T0 + 5,
        blockedDueAt: T0,
        lagMs: 5_000,
        updatedAt: T0 + 5,
      })
      const later = await ctx.store.flagPlanRpoAtRisk(
        'acme',
        'rpo',
        { blockedDueAt: T0 + MINUTE, lagMs: 65_000 },
        T0 + MINUTE + 5,
      )
      expect(later).toMatchObject({ rpoAtRiskSince: T0 + 5, blockedDueAt: T0 + MINUTE, lagMs: 65_000 })
      const run = await ctx.store.recordPlanRun(
        'acme',
        'rpo',
        { dueAt: T0 + 2 * MINUTE, jobId: 'rpo.2', enqueuedAt: T0 + 2 * MINUTE + 7 },
        T0 + 2 * MINUTE + 8,
      )
      expect(run).toEqual({
        tenantId: 'acme',
        planId: 'rpo',
        lastDueAt: T0 + 2 * MINUTE,
        lastEnqueuedAt: T0 + 2 * MINUTE + 7,
        lastJobId: 'rpo.2',
        rpoAtRisk: false,
        lagMs: 0,
        updatedAt: T0 + 2 * MINUTE + 8,
      })
      const stale = await ctx.store.recordPlanRun(
        'acme',
        'rpo',
        { dueAt: T0 + MINUTE, jobId: 'rpo.1', enqueuedAt: T0 + 3 * MINUTE },
        T0 + 3 * MINUTE,
      )
      expect(stale).toEqual(run)
      const reflagged = await ctx.store.flagPlanRpoAtRisk(
        'acme',
        'rpo',
        { blockedDueAt: T0 + 3 * MINUTE, lagMs: 1 },
        T0 + 3 * MINUTE,
      )
      expect(reflagged).toMatchObject({
        lastDueAt: T0 + 2 * MINUTE,
        lastJobId: 'rpo.2',
        rpoAtRisk: true,
        rpoAtRiskSince: T0 + 3 * MINUTE,
      })
      expect(await ctx.store.getPlanScheduleState('acme', 'rpo')).toEqual(reflagged)
      await expectCode(
        ctx.store.recordPlanRun('acme', 'nope', { dueAt: T0, jobId: 'x', enqueuedAt: T0 }, T0),
        'STORE_NOT_FOUND',
      )
      await expectCode(
        ctx.store.flagPlanRpoAtRisk('acme', 'nope', { blockedDueAt: T0, lagMs: 0 }, T0),
        'STORE_NOT_FOUND',
      )
      await expectCode(
        ctx.store.flagPlanRpoAtRisk('acme', 'rpo', { blockedDueAt: T0, lagMs: -1 }, T0),
        'STORE_INVALID_ARGUMENT',
      )
      await expectCode(
        ctx.store.recordPlanRun('acme', 'rpo', { dueAt: T0, jobId: 'a b', enqueuedAt: T0 }, T0),
        'STORE_INVALID_ID',
      )
      await ctx.store.deletePlan('acme', 'rpo')
      expect(await ctx.store.getPlanScheduleState('acme', 'rpo')).toBeUndefined()
    })
  })
}
