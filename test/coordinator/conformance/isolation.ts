// Conformance: tenant isolation. A tenant-scoped read never returns another tenant's record.
import { describe, expect, it } from 'vitest'
import { freshStore, MINUTE, peerId, type StoreFixtureFactory, T0, tenantWithSite } from './fixture.js'

export function isolationConformance(factory: StoreFixtureFactory): void {
  describe('tenant isolation', () => {
    const ctx = freshStore(factory)

    it('tenant B sees none of tenant A’s sites, nodes or tokens, even under the same ids', async () => {
      await tenantWithSite(ctx.store, 'tenant-a', 'hq')
      await ctx.store.createSite('tenant-a', { id: 'only-a', name: 'Only A' }, T0)
      await tenantWithSite(ctx.store, 'tenant-b', 'hq')
      const used = await ctx.store.createEnrolmentToken('tenant-a', 'hq', 'appliance', MINUTE, T0)
      const unused = await ctx.store.createEnrolmentToken('tenant-a', 'only-a', 'connector', MINUTE, T0)
      await ctx.store.redeemEnrolmentToken(used.token, peerId(1), 'appliance', T0)

      expect((await ctx.store.listSites('tenant-b')).map((s) => s.id)).toEqual(['hq'])
      expect(await ctx.store.getSite('tenant-b', 'only-a')).toBeUndefined()
      expect(await ctx.store.getSite('tenant-b', 'hq')).toMatchObject({ tenantId: 'tenant-b' })
      expect(await ctx.store.listNodes('tenant-b')).toEqual([])
      expect(await ctx.store.listNodes('tenant-b', 'hq')).toEqual([])
      expect(await ctx.store.getNode('tenant-b', peerId(1))).toBeUndefined()
      expect(await ctx.store.listEnrolmentTokens('tenant-b')).toEqual([])
      expect(await ctx.store.getEnrolmentToken('tenant-b', used.record.id)).toBeUndefined()
      expect(await ctx.store.getEnrolmentToken('tenant-b', unused.record.id)).toBeUndefined()
      await expect(
        ctx.store.createEnrolmentToken('tenant-b', 'only-a', 'appliance', MINUTE, T0),
      ).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' })
      // The global lookup names the node's own tenant, which is what every later call must use.
      expect(await ctx.store.findNode(peerId(1))).toMatchObject({ tenantId: 'tenant-a' })
    })

    it('tenants whose ids share a prefix do not see each other’s records', async () => {
      const ids = ['ab', 'ab-x', 'ab.c', 'ab_z', 'abc', 'a']
      for (const [n, id] of ids.entries()) {
        await tenantWithSite(ctx.store, id, `site-${n}`)
        const { token } = await ctx.store.createEnrolmentToken(id, `site-${n}`, 'appliance', MINUTE, T0)
        await ctx.store.redeemEnrolmentToken(token, peerId(n), 'appliance', T0)
      }
      for (const [n, id] of ids.entries()) {
        expect((await ctx.store.listSites(id)).map((s) => s.id)).toEqual([`site-${n}`])
        expect((await ctx.store.listNodes(id)).map((x) => x.id)).toEqual([peerId(n)])
        const tokens = await ctx.store.listEnrolmentTokens(id)
        expect(tokens.map((t) => t.tenantId)).toEqual([id])
      }
    })
  })
}
