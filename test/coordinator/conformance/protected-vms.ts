// Conformance: protected VMs and their volumes — create, read, list, update, delete, and refusals.
import { describe, expect, it } from 'vitest'
import { expectCode, freshStore, type StoreFixtureFactory, T0, tenantWithSite } from './fixture.js'
import { BAD_IDS, BAD_TIMES } from './tenants-and-sites.js'
import { cycle, makeWorld, VM_1, VM_2 } from './world.js'

const DIGEST = 'ab'.repeat(32)

export function protectedVmsConformance(factory: StoreFixtureFactory): void {
  describe('protected VMs', () => {
    const ctx = freshStore(factory)

    it('creates, reads and lists VMs ordered by id, optionally of one site', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await ctx.store.createSite('acme', { id: 'branch', name: 'Branch' }, T0)
      const two = await ctx.store.createProtectedVm('acme', VM_2, T0 + 1)
      const one = await ctx.store.createProtectedVm('acme', VM_1, T0 + 2)
      const branch = await ctx.store.createProtectedVm(
        'acme',
        { name: 'Print server', siteId: 'branch', volumes: [{ id: 'p0', size: 4096, blockSize: 4096 }] },
        T0 + 3,
      )
      expect(one).toEqual({ tenantId: 'acme', ...VM_1, createdAt: T0 + 2, updatedAt: T0 + 2 })
      expect(branch.id).toMatch(/^[0-9a-f]{32}$/)
      expect(await ctx.store.getProtectedVm('acme', 'vm-1')).toEqual(one)
      expect(await ctx.store.getProtectedVm('acme', 'vm-9')).toBeUndefined()
      expect(await ctx.store.listProtectedVms('acme')).toEqual(
        [branch, one, two].sort((a, b) => (a.id < b.id ? -1 : 1)),
      )
      expect(await ctx.store.listProtectedVms('acme', 'hq')).toEqual([one, two])
      expect(await ctx.store.listProtectedVms('acme', 'nowhere')).toEqual([])
      expect(await ctx.store.listProtectedVms('unknown')).toEqual([])
    })

    it('updates name, site and volumes, keeping createdAt, and moves the volume ids', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await ctx.store.createProtectedVm('acme', VM_1, T0)
      const updated = await ctx.store.updateProtectedVm(
        'acme',
        'vm-1',
        {
          name: 'Web (resized)',
          siteId: 'hq',
          volumes: [{ id: 'disk-0', size: 128 * 1024 * 1024, blockSize: 65_536 }],
        },
        T0 + 5,
      )
      expect(updated).toMatchObject({ name: 'Web (resized)', createdAt: T0, updatedAt: T0 + 5 })
      expect(await ctx.store.getProtectedVm('acme', 'vm-1')).toEqual(updated)
      // disk-1 was freed: another VM may take it now.
      await ctx.store.createProtectedVm(
        'acme',
        { ...VM_2, volumes: [{ id: 'disk-1', size: 4096, blockSize: 4096 }] },
        T0,
      )
      await expectCode(
        ctx.store.updateProtectedVm('acme', 'vm-9', { name: 'x', siteId: 'hq', volumes: VM_1.volumes }, T0),
        'STORE_NOT_FOUND',
      )
    })

    it('refuses a taken VM id, a volume id of another VM, an unknown tenant or site', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const first = await ctx.store.createProtectedVm('acme', VM_1, T0)
      await expectCode(
        ctx.store.createProtectedVm('acme', { ...VM_1, name: 'Other' }, T0 + 1),
        'STORE_ALREADY_EXISTS',
      )
      await expectCode(
        ctx.store.createProtectedVm('acme', { ...VM_2, volumes: [VM_1.volumes[1]] }, T0),
        'STORE_ALREADY_EXISTS',
      )
      await expectCode(ctx.store.createProtectedVm('nobody', VM_2, T0), 'STORE_NOT_FOUND')
      await expectCode(
        ctx.store.createProtectedVm('acme', { ...VM_2, siteId: 'nowhere' }, T0),
        'STORE_NOT_FOUND',
      )
      expect(await ctx.store.listProtectedVms('acme')).toEqual([first])
    })

    it('refuses malformed VMs with STORE_INVALID_ARGUMENT or STORE_INVALID_ID, writing nothing', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      const volume = VM_1.volumes[0]
      const bad = [
        { ...VM_2, volumes: [] },
        { ...VM_2, volumes: Array.from({ length: 65 }, (_, n) => ({ ...volume, id: `d${n}` })) },
        { ...VM_2, volumes: [volume, volume] },
        { ...VM_2, volumes: [{ ...volume, size: 0 }] },
        { ...VM_2, volumes: [{ ...volume, size: 2 ** 46 + 1 }] },
        { ...VM_2, volumes: [{ ...volume, blockSize: 3 * 4096 }] },
        { ...VM_2, volumes: [{ ...volume, blockSize: 2048 }] },
        { ...VM_2, volumes: [{ ...volume, blockSize: 32 * 1024 * 1024 }] },
        { ...VM_2, name: '' },
        { ...VM_2, volumes: 'disk' },
      ]
      for (const vm of bad)
        await expectCode(ctx.store.createProtectedVm('acme', vm as never, T0), 'STORE_INVALID_ARGUMENT')
      for (const id of BAD_IDS) {
        await expectCode(
          ctx.store.createProtectedVm('acme', { ...VM_2, id: id as string }, T0),
          'STORE_INVALID_ID',
        )
        await expectCode(
          ctx.store.createProtectedVm('acme', { ...VM_2, siteId: id as string }, T0),
          'STORE_INVALID_ID',
        )
        await expectCode(
          ctx.store.createProtectedVm('acme', { ...VM_2, volumes: [{ ...volume, id: id as string }] }, T0),
          'STORE_INVALID_ID',
        )
        await expectCode(ctx.store.getProtectedVm('acme', id as string), 'STORE_INVALID_ID')
        await expectCode(ctx.store.deleteProtectedVm(id as string, 'vm-1'), 'STORE_INVALID_ID')
      }
      for (const now of BAD_TIMES) {
        await expectCode(ctx.store.createProtectedVm('acme', VM_2, now as number), 'STORE_INVALID_ARGUMENT')
      }
      expect(await ctx.store.listProtectedVms('acme')).toEqual([])
    })

    it('deletes a VM nothing refers to and frees its volume ids; false for an unknown VM', async () => {
      await tenantWithSite(ctx.store, 'acme', 'hq')
      await ctx.store.createProtectedVm('acme', VM_1, T0)
      expect(await ctx.store.deleteProtectedVm('acme', 'vm-1')).toBe(true)
      expect(await ctx.store.getProtectedVm('acme', 'vm-1')).toBeUndefined()
      expect(await ctx.store.deleteProtectedVm('acme', 'vm-1')).toBe(false)
      await ctx.store.createProtectedVm('acme', { ...VM_2, volumes: VM_1.volumes }, T0)
    })

    it('refuses to delete or break a VM others refer to (STORE_IN_USE), changing nothing', async () => {
      await makeWorld(ctx.store)
      await expectCode(ctx.store.deleteProtectedVm('acme', 'vm-1'), 'STORE_IN_USE')
      await expectCode(
        ctx.store.updateProtectedVm('acme', 'vm-1', { ...VM_1, siteId: 'dr' }, T0),
        'STORE_IN_USE',
      )
      // Out of the plan, it still has a recovery point on disk-1 and an active cycle.
      const plan = (await ctx.store.getPlan('acme', 'rpo'))!
      await ctx.store.updatePlan('acme', 'rpo', { ...plan, groups: [{ vmIds: ['vm-2'] }] }, T0 + 1)
      await ctx.store.addRecoveryPoint('acme', {
        id: 'rp-1',
        vmId: 'vm-1',
        volumeId: 'disk-1',
        createdAt: T0,
        blockMapDigest: DIGEST,
        size: 4096,
      })
      await expectCode(ctx.store.deleteProtectedVm('acme', 'vm-1'), 'STORE_IN_USE')
      await expectCode(
        ctx.store.updateProtectedVm('acme', 'vm-1', { ...VM_1, volumes: [VM_1.volumes[0]] }, T0),
        'STORE_IN_USE',
      )
      await ctx.store.deleteRecoveryPoint('acme', 'rp-1')
      await ctx.store.enqueueJob('acme', { ...cycle('c1'), planId: undefined }, T0)
      await expectCode(ctx.store.deleteProtectedVm('acme', 'vm-1'), 'STORE_IN_USE')
      expect(await ctx.store.getProtectedVm('acme', 'vm-1')).toMatchObject({ volumes: VM_1.volumes })
      await ctx.store.cancelJob('acme', 'c1', T0 + 2)
      // Moving sites is fine once no plan ties it to hq.
      await ctx.store.updateProtectedVm('acme', 'vm-1', { ...VM_1, siteId: 'dr' }, T0 + 3)
      expect(await ctx.store.deleteProtectedVm('acme', 'vm-1')).toBe(true)
    })
  })
}
