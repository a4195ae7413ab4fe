// Conformance: opening, closing, schema versions, the single-opener rule and persistence.
import { describe, expect, it } from 'vitest'
import { expectCode, freshStore, peerId, type StoreFixtureFactory, T0, tenantWithSite } from './fixture.js'

export function lifecycleConformance(factory: StoreFixtureFactory): void {
  describe('lifecycle', () => {
    const ctx = freshStore(factory)

    it('a fresh store is migrated to the latest schema version', async () => {
      expect(await ctx.store.schemaVersion()).toBe(ctx.fixture.latestSchemaVersion)
      expect(await ctx.store.listTenants()).toEqual([])
    })

    it('open and close are idempotent, also when called concurrently', async () => {
      await ctx.store.open()
      await Promise.all([ctx.store.open(), ctx.store.open()])
      await ctx.store.createTenant({ id: 'acme', name: 'Acme' }, T0)
      await Promise.all([ctx.store.close(), ctx.store.close()])
      await ctx.store.close()
      await ctx.store.open()
      expect(await ctx.store.getTenant('acme')).toMatchObject({ id: 'acme' })
    })

    it('refuses every call before open and after close with STORE_NOT_OPEN', async () => {
      const unopened = ctx.fixture.newStore()
      await expectCode(unopened.listTenants(), 'STORE_NOT_OPEN')
      await expectCode(unopened.schemaVersion(), 'STORE_NOT_OPEN')
      await ctx.store.close()
      await expectCode(ctx.store.createTenant({ id: 'acme', name: 'Acme' }, T0), 'STORE_NOT_OPEN')
      await expectCode(ctx.store.findNode(peerId(1)), 'STORE_NOT_OPEN')
      await expectCode(ctx.store.redeemEnrolmentToken('lbt_x', peerId(1), 'appliance', T0), 'STORE_NOT_OPEN')
    })

    it('a change in flight when close is called still commits', async () => {
      const creating = ctx.store.createTenant({ id: 'acme', name: 'Acme' }, T0)
      await ctx.store.close()
      await creating
      const reopened = ctx.fixture.newStore()
      await reopened.open()
      expect(await reopened.getTenant('acme')).toMatchObject({ id: 'acme' })
    })

    it('refuses a second store over the same storage while the first is open (STORE_LOCKED)', async () => {
      await expectCode(ctx.fixture.newStore().open(), 'STORE_LOCKED')
      await ctx.store.close()
      const second = ctx.fixture.newStore()
      await second.open()
      expect(await second.schemaVersion()).toBe(ctx.fixture.latestSchemaVersion)
    })

    it('keeps every record across close and reopen', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const { token, record } = await ctx.store.createEnrolmentToken('acme', 'hq', 'appliance', 60_000, T0)
      const unused = await ctx.store.createEnrolmentToken('acme', 'hq', 'connector', 60_000, T0)
      await ctx.store.redeemEnrolmentToken(token, peerId(1), 'appliance', T0 + 1)
      await ctx.store.setNodeStatus(peerId(1), 'online', T0 + 2)
      await ctx.store.markNodeSeen(peerId(1), T0 + 3, '0.1.0')
      const before = {
        tenants: await ctx.store.listTenants(),
        sites: await ctx.store.listSites('acme'),
        nodes: await ctx.store.listNodes('acme'),
        tokens: await ctx.store.listEnrolmentTokens('acme'),
      }
      await ctx.store.close()
      const reopened = ctx.fixture.newStore()
      await reopened.open()
      expect({
        tenants: await reopened.listTenants(),
        sites: await reopened.listSites('acme'),
        nodes: await reopened.listNodes('acme'),
        tokens: await reopened.listEnrolmentTokens('acme'),
      }).toEqual(before)
      expect(await reopened.findNode(peerId(1))).toMatchObject({ status: 'online', softwareVersion: '0.1.0' })
      expect(await reopened.getEnrolmentToken('acme', record.id)).toMatchObject({ usedByNode: peerId(1) })
      // The unused token's secret still works after the restart: only its hash was stored.
      await reopened.redeemEnrolmentToken(unused.token, peerId(2), 'connector', T0 + 4)
      await expectCode(
        reopened.redeemEnrolmentToken(token, peerId(3), 'appliance', T0 + 4),
        'ENROL_TOKEN_USED',
      )
    })

    it('refuses a store whose schema version is newer than this build (STORE_VERSION_TOO_NEW)', async () => {
      await ctx.store.close()
      const newer = ctx.fixture.latestSchemaVersion + 1
      await ctx.fixture.setStoredSchemaVersion(newer)
      const store = ctx.fixture.newStore()
      const error = await store.open().then(
        () => undefined,
        (reason: unknown) => reason,
      )
      expect(error).toMatchObject({ code: 'STORE_VERSION_TOO_NEW', retryable: false })
      const message = (error as Error).message
      expect(message).toContain(String(newer))
      expect(message).toContain(String(ctx.fixture.latestSchemaVersion))
      expect((error as { remediation: string }).remediation).toMatch(/upgrade the coordinator/i)
      await expectCode(store.listTenants(), 'STORE_NOT_OPEN')
      // The refused store let go of its storage: a store of the right version can take it.
      await ctx.fixture.setStoredSchemaVersion(ctx.fixture.latestSchemaVersion)
      const current = ctx.fixture.newStore()
      await current.open()
      expect(await current.schemaVersion()).toBe(ctx.fixture.latestSchemaVersion)
    })

    it('refuses a store whose schema record is unreadable (STORE_CORRUPT)', async () => {
      await ctx.store.close()
      await ctx.fixture.corruptSchemaRecord()
      await expectCode(ctx.fixture.newStore().open(), 'STORE_CORRUPT')
    })
  })
}
