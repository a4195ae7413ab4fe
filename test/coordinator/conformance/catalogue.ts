// Conformance: the recovery-point catalogue and notification channels.
import { describe, expect, it } from 'vitest'
import type { NewRecoveryPoint } from '../../../coordinator/store/recovery-point-records.js'
import { expectCode, freshStore, type StoreFixtureFactory, T0 } from './fixture.js'
import { makeWorld } from './world.js'

const DIGEST = '0123456789abcdef'.repeat(4)

function point(
  id: string,
  volumeId: string,
  createdAt: number,
  extra: Partial<NewRecoveryPoint> = {},
): NewRecoveryPoint {
  return { id, vmId: 'vm-1', volumeId, createdAt, blockMapDigest: DIGEST, size: 64 * 1024 * 1024, ...extra }
}

export function catalogueConformance(factory: StoreFixtureFactory): void {
  describe('recovery-point catalogue', () => {
    const ctx = freshStore(factory)

    it('adds points and lists a VM’s by volume, oldest first; a volume’s alone', async () => {
      await makeWorld(ctx.store)
      const b = await ctx.store.addRecoveryPoint(
        'acme',
        point('rp-b', 'disk-0', T0 + 2, { tags: ['z', 'a', 'z'] }),
      )
      const a = await ctx.store.addRecoveryPoint('acme', point('rp-a', 'disk-0', T0 + 5))
      const c = await ctx.store.addRecoveryPoint('acme', point('rp-c', 'disk-1', T0 + 1))
      await ctx.store.addRecoveryPoint('acme', { ...point('rp-d', 'disk-2', T0), vmId: 'vm-2' })
      expect(b).toEqual({ tenantId: 'acme', ...point('rp-b', 'disk-0', T0 + 2), tags: ['a', 'z'] })
      expect(a.tags).toEqual([])
      expect(await ctx.store.listRecoveryPoints('acme', 'vm-1')).toEqual([b, a, c])
      expect(await ctx.store.listRecoveryPoints('acme', 'vm-1', 'disk-1')).toEqual([c])
      expect(await ctx.store.listRecoveryPoints('acme', 'vm-9')).toEqual([])
      expect(await ctx.store.getRecoveryPoint('acme', 'rp-a')).toEqual(a)
    })

    it('a replayed add returns the point; a different one under the same id is refused', async () => {
      await makeWorld(ctx.store)
      const first = await ctx.store.addRecoveryPoint('acme', point('rp-1', 'disk-0', T0))
      expect(await ctx.store.addRecoveryPoint('acme', point('rp-1', 'disk-0', T0))).toEqual(first)
      await expectCode(
        ctx.store.addRecoveryPoint('acme', point('rp-1', 'disk-0', T0 + 1)),
        'STORE_ALREADY_EXISTS',
      )
      await expectCode(ctx.store.addRecoveryPoint('acme', point('rp-2', 'disk-2', T0)), 'STORE_NOT_FOUND')
      await expectCode(
        ctx.store.addRecoveryPoint('acme', { ...point('rp-2', 'disk-0', T0), vmId: 'vm-9' }),
        'STORE_NOT_FOUND',
      )
      for (const bad of [
        { blockMapDigest: 'AB'.repeat(32) },
        { blockMapDigest: 'ab' },
        { size: -1 },
        { tags: ['no spaces please'] },
        { tags: Array.from({ length: 33 }, (_, n) => `t${n}`) },
        { createdAt: -5 },
      ]) {
        await expectCode(
          ctx.store.addRecoveryPoint('acme', point('rp-2', 'disk-0', T0, bad)),
          'STORE_INVALID_ARGUMENT',
        )
      }
      expect(await ctx.store.listRecoveryPoints('acme', 'vm-1')).toEqual([first])
    })

    it('retags and deletes points', async () => {
      await makeWorld(ctx.store)
      await ctx.store.addRecoveryPoint('acme', point('rp-1', 'disk-0', T0))
      const tagged = await ctx.store.setRecoveryPointTags('acme', 'rp-1', ['quarter-end', 'pre-upgrade'])
      expect(tagged.tags).toEqual(['pre-upgrade', 'quarter-end'])
      expect(await ctx.store.listRecoveryPoints('acme', 'vm-1')).toEqual([tagged])
      await expectCode(ctx.store.setRecoveryPointTags('acme', 'rp-9', []), 'STORE_NOT_FOUND')
      expect(await ctx.store.deleteRecoveryPoint('acme', 'rp-1')).toBe(true)
      expect(await ctx.store.deleteRecoveryPoint('acme', 'rp-1')).toBe(false)
      expect(await ctx.store.listRecoveryPoints('acme', 'vm-1')).toEqual([])
      expect(await ctx.store.getRecoveryPoint('acme', 'rp-1')).toBeUndefined()
    })
  })

  describe('notification channels', () => {
    const ctx = freshStore(factory)

    it('creates, reads, lists, updates and deletes channels of every kind', async () => {
      await makeWorld(ctx.store)
      const hook = await ctx.store.createNotificationChannel(
        'acme',
        {
          id: 'hook',
          kind: 'webhook',
          target: 'https://ops.example.com/lifeboat',
          events: ['job-failed', 'rpo-at-risk', 'job-failed'],
          enabled: true,
        },
        T0,
      )
      expect(hook).toEqual({
        tenantId: 'acme',
        id: 'hook',
        kind: 'webhook',
        target: 'https://ops.example.com/lifeboat',
        events: ['job-failed', 'rpo-at-risk'],
        enabled: true,
        createdAt: T0,
        updatedAt: T0,
      })
      const slack = await ctx.store.createNotificationChannel(
        'acme',
        {
          id: 'slack',
          kind: 'slack',
          target: 'https://hooks.slack.com/services/T0/B0/x',
          events: [],
          enabled: true,
        },
        T0,
      )
      const mail = await ctx.store.createNotificationChannel(
        'acme',
        { id: 'mail', kind: 'email', target: 'oncall@example.com', events: ['job-failed'], enabled: false },
        T0,
      )
      const pd = await ctx.store.createNotificationChannel(
        'acme',
        { kind: 'pagerduty', target: 'R0UT1NGKEY0123456789abcdefABCDEF', events: [], enabled: true },
        T0,
      )
      expect(pd.id).toMatch(/^[0-9a-f]{32}$/)
      expect((await ctx.store.listNotificationChannels('acme')).map((c) => c.id)).toEqual(
        [pd.id, 'hook', 'mail', 'slack'].sort(),
      )
      expect(await ctx.store.getNotificationChannel('acme', 'slack')).toEqual(slack)
      const updated = await ctx.store.updateNotificationChannel(
        'acme',
        'mail',
        { ...mail, enabled: true, events: [] },
        T0 + 9,
      )
      expect(updated).toMatchObject({ enabled: true, events: [], createdAt: T0, updatedAt: T0 + 9 })
      expect(await ctx.store.deleteNotificationChannel('acme', 'hook')).toBe(true)
      expect(await ctx.store.deleteNotificationChannel('acme', 'hook')).toBe(false)
      expect(await ctx.store.getNotificationChannel('acme', 'hook')).toBeUndefined()
    })

    it('refuses targets that do not fit their kind, bad event names, taken ids, unknown tenants', async () => {
      await makeWorld(ctx.store)
      const bad = [
        { kind: 'webhook', target: 'ftp://example.com/x' },
        { kind: 'webhook', target: 'not a url' },
        { kind: 'slack', target: 'http://hooks.slack.com/services/x' },
        { kind: 'email', target: 'oncall.example.com' },
        { kind: 'pagerduty', target: 'short' },
        { kind: 'sms', target: '+15550100' },
        { kind: 'webhook', target: 'https://example.com', events: ['Job Failed'] },
        { kind: 'webhook', target: 'https://example.com', enabled: 'yes' },
      ]
      for (const change of bad) {
        await expectCode(
          ctx.store.createNotificationChannel(
            'acme',
            { id: 'x', events: [], enabled: true, ...change } as never,
            T0,
          ),
          'STORE_INVALID_ARGUMENT',
        )
      }
      const ok = {
        id: 'x',
        kind: 'webhook' as const,
        target: 'http://10.0.0.5:8080/hook',
        events: [],
        enabled: true,
      }
      await ctx.store.createNotificationChannel('acme', ok, T0)
      await expectCode(ctx.store.createNotificationChannel('acme', ok, T0), 'STORE_ALREADY_EXISTS')
      await expectCode(ctx.store.createNotificationChannel('nobody', ok, T0), 'STORE_NOT_FOUND')
      await expectCode(ctx.store.updateNotificationChannel('acme', 'y', ok, T0), 'STORE_NOT_FOUND')
      expect((await ctx.store.listNotificationChannels('acme')).map((c) => c.id)).toEqual(['x'])
    })
  })
}
