// Conformance: finding and listing nodes, and recording that they were seen or changed status.
import { describe, expect, it } from 'vitest'
import { MAX_SOFTWARE_VERSION_LENGTH } from '../../../coordinator/store/metadata-store.js'
import {
  expectCode,
  freshStore,
  MINUTE,
  peerId,
  type StoreFixtureFactory,
  T0,
  tenantWithSite,
} from './fixture.js'
import { BAD_IDS, BAD_TIMES } from './tenants-and-sites.js'

export function nodesConformance(factory: StoreFixtureFactory): void {
  describe('nodes', () => {
    const ctx = freshStore(factory)

    async function enrol(siteId: string, n: number, role: 'appliance' | 'connector' = 'appliance') {
      const { token } = await ctx.store.createEnrolmentToken('acme', siteId, role, MINUTE, T0)
      return ctx.store.redeemEnrolmentToken(token, peerId(n), role, T0)
    }

    it('lists a tenant’s nodes ordered by id, optionally of one site', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await ctx.store.createSite('acme', { id: 'dr', name: 'DR' }, T0)
      const n3 = await enrol('hq', 3)
      const n1 = await enrol('dr', 1, 'connector')
      const n2 = await enrol('hq', 2)
      expect(await ctx.store.listNodes('acme')).toEqual([n1, n2, n3])
      expect(await ctx.store.listNodes('acme', 'hq')).toEqual([n2, n3])
      expect(await ctx.store.listNodes('acme', 'dr')).toEqual([n1])
      expect(await ctx.store.listNodes('acme', 'elsewhere')).toEqual([])
      expect(await ctx.store.findNode(peerId(9))).toBeUndefined()
      expect(await ctx.store.getNode('acme', peerId(9))).toBeUndefined()
    })

    it('markNodeSeen records the latest time and the version, never moving back, leaving status alone', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await enrol('hq', 1)
      const seen = await ctx.store.markNodeSeen(peerId(1), T0 + 10, '1.2.3')
      expect(seen).toMatchObject({ lastSeenAt: T0 + 10, softwareVersion: '1.2.3', status: 'offline' })
      const late = await ctx.store.markNodeSeen(peerId(1), T0 + 5)
      expect(late).toMatchObject({ lastSeenAt: T0 + 10, softwareVersion: '1.2.3' })
      const upgraded = await ctx.store.markNodeSeen(peerId(1), T0 + 20, '1.3.0-rc.1+build.7')
      expect(upgraded).toMatchObject({ lastSeenAt: T0 + 20, softwareVersion: '1.3.0-rc.1+build.7' })
      expect(await ctx.store.findNode(peerId(1))).toEqual(upgraded)
    })

    it('setNodeStatus stamps real changes only; going online counts as seen', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await enrol('hq', 1)
      const online = await ctx.store.setNodeStatus(peerId(1), 'online', T0 + 10)
      expect(online).toMatchObject({ status: 'online', statusChangedAt: T0 + 10, lastSeenAt: T0 + 10 })
      const still = await ctx.store.setNodeStatus(peerId(1), 'online', T0 + 20)
      expect(still).toMatchObject({ status: 'online', statusChangedAt: T0 + 10, lastSeenAt: T0 + 20 })
      const offline = await ctx.store.setNodeStatus(peerId(1), 'offline', T0 + 30)
      expect(offline).toMatchObject({ status: 'offline', statusChangedAt: T0 + 30, lastSeenAt: T0 + 20 })
      expect(await ctx.store.getNode('acme', peerId(1))).toEqual(offline)
    })

    it('refuses unknown nodes (STORE_NOT_FOUND) and bad arguments, changing nothing', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const node = await enrol('hq', 1)
      await expectCode(ctx.store.markNodeSeen(peerId(2), T0), 'STORE_NOT_FOUND')
      await expectCode(ctx.store.setNodeStatus(peerId(2), 'online', T0), 'STORE_NOT_FOUND')
      const badVersions = ['', 'x'.repeat(MAX_SOFTWARE_VERSION_LENGTH + 1), '1.0 beta', 'v\n1', 'vé', 3]
      for (const version of badVersions) {
        await expectCode(ctx.store.markNodeSeen(peerId(1), T0, version as string), 'STORE_INVALID_ARGUMENT')
      }
      for (const status of ['busy', '', 'ONLINE', null]) {
        await expectCode(ctx.store.setNodeStatus(peerId(1), status as 'online', T0), 'STORE_INVALID_ARGUMENT')
      }
      for (const now of BAD_TIMES) {
        await expectCode(ctx.store.markNodeSeen(peerId(1), now as number), 'STORE_INVALID_ARGUMENT')
        await expectCode(
          ctx.store.setNodeStatus(peerId(1), 'online', now as number),
          'STORE_INVALID_ARGUMENT',
        )
      }
      for (const bad of BAD_IDS) {
        const id = bad as string
        await expectCode(ctx.store.findNode(id), 'STORE_INVALID_ID')
        await expectCode(ctx.store.getNode('acme', id), 'STORE_INVALID_ID')
        await expectCode(ctx.store.getNode(id, peerId(1)), 'STORE_INVALID_ID')
        await expectCode(ctx.store.listNodes(id), 'STORE_INVALID_ID')
        await expectCode(ctx.store.listNodes('acme', id), 'STORE_INVALID_ID')
        await expectCode(ctx.store.markNodeSeen(id, T0), 'STORE_INVALID_ID')
        await expectCode(ctx.store.setNodeStatus(id, 'online', T0), 'STORE_INVALID_ID')
      }
      expect(await ctx.store.findNode(peerId(1))).toEqual(node)
    })

    it('concurrent updates of one node all land (none is lost to another)', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await enrol('hq', 1)
      await Promise.all([
        ctx.store.markNodeSeen(peerId(1), T0 + 50, '2.0.0'),
        ctx.store.setNodeStatus(peerId(1), 'online', T0 + 40),
      ])
      expect(await ctx.store.findNode(peerId(1))).toMatchObject({
        status: 'online',
        statusChangedAt: T0 + 40,
        lastSeenAt: T0 + 50,
        softwareVersion: '2.0.0',
      })
    })
  })
}
