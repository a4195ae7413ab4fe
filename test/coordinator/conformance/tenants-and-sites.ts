// Conformance: creating, reading and listing tenants and sites, and refusing bad ids and names.
import { describe, expect, it } from 'vitest'
import { MAX_ID_LENGTH, MAX_NAME_LENGTH } from '../../../coordinator/store/metadata-store.js'
import { expectCode, freshStore, type StoreFixtureFactory, T0 } from './fixture.js'

/** Ids every method must refuse with STORE_INVALID_ID. */
export const BAD_IDS: unknown[] = [
  '',
  'a!b',
  'a"b',
  'a b',
  'a/b',
  '-leading-dash',
  '.hidden',
  'x'.repeat(MAX_ID_LENGTH + 1),
  'tenant\n',
  'café',
  42,
  null,
]

export const BAD_NAMES: unknown[] = [
  '',
  '   ',
  'line\nbreak',
  'nul\u0000',
  'x'.repeat(MAX_NAME_LENGTH + 1),
  7,
  null,
]

export const BAD_TIMES: unknown[] = [
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 53,
  '1700000000000',
  null,
]

export function tenantsAndSitesConformance(factory: StoreFixtureFactory): void {
  describe('tenants and sites', () => {
    const ctx = freshStore(factory)

    it('creates, reads and lists tenants ordered by id', async () => {
      const b = await ctx.store.createTenant({ id: 'beta', name: 'Beta' }, T0)
      const a = await ctx.store.createTenant({ id: 'alpha', name: 'Alpha Corp' }, T0 + 1)
      expect(a).toEqual({ id: 'alpha', name: 'Alpha Corp', createdAt: T0 + 1 })
      expect(await ctx.store.getTenant('beta')).toEqual(b)
      expect(await ctx.store.getTenant('gamma')).toBeUndefined()
      expect(await ctx.store.listTenants()).toEqual([a, b])
    })

    it('generates a 32-hex-character id when none is given', async () => {
      const one = await ctx.store.createTenant({ name: 'One' }, T0)
      const two = await ctx.store.createTenant({ name: 'Two' }, T0)
      expect(one.id).toMatch(/^[0-9a-f]{32}$/)
      expect(two.id).not.toBe(one.id)
      const site = await ctx.store.createSite(one.id, { name: 'Main' }, T0)
      expect(site.id).toMatch(/^[0-9a-f]{32}$/)
      expect(await ctx.store.getSite(one.id, site.id)).toEqual(site)
    })

    it('accepts ids of the full alphabet and the maximum length', async () => {
      const longest = `A${'z'.repeat(MAX_ID_LENGTH - 1)}`
      await ctx.store.createTenant({ id: longest, name: 'Long' }, T0)
      await ctx.store.createTenant({ id: '0a.B_c-9', name: 'Mixed' }, T0)
      expect((await ctx.store.listTenants()).map((t) => t.id)).toEqual(['0a.B_c-9', longest])
    })

    it('refuses a tenant id that is taken (STORE_ALREADY_EXISTS) and keeps the first', async () => {
      await ctx.store.createTenant({ id: 'acme', name: 'Acme' }, T0)
      await expectCode(ctx.store.createTenant({ id: 'acme', name: 'Other' }, T0 + 1), 'STORE_ALREADY_EXISTS')
      expect(await ctx.store.getTenant('acme')).toEqual({ id: 'acme', name: 'Acme', createdAt: T0 })
    })

    it('creates, reads and lists the sites of a tenant ordered by id', async () => {
      await ctx.store.createTenant({ id: 'acme', name: 'Acme' }, T0)
      const west = await ctx.store.createSite('acme', { id: 'west', name: 'West DC' }, T0 + 1)
      const east = await ctx.store.createSite('acme', { id: 'east', name: 'East DC' }, T0 + 2)
      expect(west).toEqual({ tenantId: 'acme', id: 'west', name: 'West DC', createdAt: T0 + 1 })
      expect(await ctx.store.getSite('acme', 'east')).toEqual(east)
      expect(await ctx.store.getSite('acme', 'north')).toBeUndefined()
      expect(await ctx.store.listSites('acme')).toEqual([east, west])
      expect(await ctx.store.listSites('nobody')).toEqual([])
    })

    it('refuses a site in an unknown tenant (STORE_NOT_FOUND) and a taken site id (STORE_ALREADY_EXISTS)', async () => {
      await expectCode(ctx.store.createSite('nobody', { id: 'hq', name: 'HQ' }, T0), 'STORE_NOT_FOUND')
      await ctx.store.createTenant({ id: 'acme', name: 'Acme' }, T0)
      await ctx.store.createSite('acme', { id: 'hq', name: 'HQ' }, T0)
      await expectCode(ctx.store.createSite('acme', { id: 'hq', name: 'HQ 2' }, T0), 'STORE_ALREADY_EXISTS')
      expect(await ctx.store.listSites('acme')).toHaveLength(1)
    })

    it('refuses bad tenant and site ids with STORE_INVALID_ID and writes nothing', async () => {
      await ctx.store.createTenant({ id: 'acme', name: 'Acme' }, T0)
      for (const bad of BAD_IDS) {
        const id = bad as string
        await expectCode(ctx.store.createTenant({ id, name: 'X' }, T0), 'STORE_INVALID_ID')
        await expectCode(ctx.store.getTenant(id), 'STORE_INVALID_ID')
        await expectCode(ctx.store.createSite(id, { id: 'hq', name: 'X' }, T0), 'STORE_INVALID_ID')
        await expectCode(ctx.store.createSite('acme', { id, name: 'X' }, T0), 'STORE_INVALID_ID')
        await expectCode(ctx.store.listSites(id), 'STORE_INVALID_ID')
        await expectCode(ctx.store.getSite('acme', id), 'STORE_INVALID_ID')
        await expectCode(ctx.store.getSite(id, 'hq'), 'STORE_INVALID_ID')
      }
      expect((await ctx.store.listTenants()).map((t) => t.id)).toEqual(['acme'])
      expect(await ctx.store.listSites('acme')).toEqual([])
    })

    it('refuses bad names and times with STORE_INVALID_ARGUMENT and writes nothing', async () => {
      for (const bad of BAD_NAMES) {
        await expectCode(
          ctx.store.createTenant({ id: 'acme', name: bad as string }, T0),
          'STORE_INVALID_ARGUMENT',
        )
      }
      for (const bad of BAD_TIMES) {
        await expectCode(
          ctx.store.createTenant({ id: 'acme', name: 'Acme' }, bad as number),
          'STORE_INVALID_ARGUMENT',
        )
      }
      await ctx.store.createTenant({ id: 'acme', name: 'x'.repeat(MAX_NAME_LENGTH) }, 0)
      for (const bad of BAD_NAMES) {
        await expectCode(
          ctx.store.createSite('acme', { id: 'hq', name: bad as string }, T0),
          'STORE_INVALID_ARGUMENT',
        )
      }
      for (const bad of BAD_TIMES) {
        await expectCode(
          ctx.store.createSite('acme', { id: 'hq', name: 'HQ' }, bad as number),
          'STORE_INVALID_ARGUMENT',
        )
      }
      expect(await ctx.store.listTenants()).toHaveLength(1)
      expect(await ctx.store.listSites('acme')).toEqual([])
    })

    it('hands out copies: changing a returned record changes nothing stored', async () => {
      const tenant = await ctx.store.createTenant({ id: 'acme', name: 'Acme' }, T0)
      tenant.name = 'Changed'
      const listed = await ctx.store.listTenants()
      listed[0]!.name = 'Changed too'
      expect(await ctx.store.getTenant('acme')).toEqual({ id: 'acme', name: 'Acme', createdAt: T0 })
    })
  })
}
