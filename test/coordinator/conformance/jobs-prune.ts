// Conformance: pruning finished jobs — deleteFinishedJob removes a finished job with its indexes and
// its log in one change, and leaves active, recent and unknown jobs (and the fencing counters) alone.
import { describe, expect, it } from 'vitest'
import { expectCode, freshStore, MINUTE, type StoreFixtureFactory, T0 } from './fixture.js'
import { cycle, makeWorld, nodeError, startJob } from './world.js'

export function jobsPruneConformance(factory: StoreFixtureFactory): void {
  describe('pruning finished jobs', () => {
    const ctx = freshStore(factory)

    it('deletes a job finished before the cutoff with its log, indexes and replay records', async () => {
      const world = await makeWorld(ctx.store)
      const node = world.appliances[0]
      await ctx.store.enqueueJob('acme', cycle('old'), T0)
      const lease = await startJob(ctx.store, 'acme', 'old', node, T0)
      const entry = {
        at: T0 + 1,
        level: 'info' as const,
        step: 'scan',
        message: 'm',
        nodeId: node,
        nodeSeq: 7,
      }
      await ctx.store.appendJobLog('acme', 'old', entry)
      await ctx.store.appendJobLog('acme', 'old', {
        at: T0 + 2,
        level: 'info',
        step: 'send',
        message: 'coordinator',
      })
      await ctx.store.completeJob('acme', 'old', lease, T0 + 3)
      const fences = await ctx.store.fencingToken('acme', 'disk-0')
      expect(fences).toBeGreaterThan(0)

      // Not yet: it finished at T0 + 3, not before it.
      expect(await ctx.store.deleteFinishedJob('acme', 'old', T0 + 3)).toBe(false)
      expect(await ctx.store.getJob('acme', 'old')).toBeDefined()

      expect(await ctx.store.deleteFinishedJob('acme', 'old', T0 + 4)).toBe(true)
      expect(await ctx.store.getJob('acme', 'old')).toBeUndefined()
      expect(await ctx.store.listJobLog('acme', 'old', { limit: 10 })).toEqual([])
      expect(await ctx.store.listJobs('acme', { state: 'succeeded' }, { limit: 10 })).toEqual([])
      expect(await ctx.store.listJobs('acme', { planId: 'rpo' }, { limit: 10 })).toEqual([])
      expect(await ctx.store.listJobs('acme', { vmId: 'vm-1' }, { limit: 10 })).toEqual([])
      expect(await ctx.store.listJobs('acme', {}, { limit: 10 })).toEqual([])
      // The fencing counter outlives the job: a token is never issued twice.
      expect(await ctx.store.fencingToken('acme', 'disk-0')).toBe(fences)
      // A late replay of its log entry finds no job.
      await expectCode(ctx.store.appendJobLog('acme', 'old', entry), 'JOB_NOT_FOUND')
      // Twice is harmless.
      expect(await ctx.store.deleteFinishedJob('acme', 'old', T0 + 4)).toBe(false)
      // The VM takes a new cycle, whose fencing token is above the pruned one's.
      expect((await ctx.store.enqueueJob('acme', cycle('new'), T0 + 5)).enqueued).toBe(true)
      const offered = await ctx.store.offerJob('acme', 'new', node, T0 + 5)
      expect(offered.fencingTokens['disk-0']).toBeGreaterThan(fences)
    })

    it('prunes failed and cancelled jobs too, and never an active one', async () => {
      const world = await makeWorld(ctx.store)
      const node = world.appliances[0]
      await ctx.store.enqueueJob('acme', cycle('failed', 'vm-1', { maxAttempts: 1 }), T0)
      const lease = await startJob(ctx.store, 'acme', 'failed', node, T0)
      await ctx.store.failJob('acme', 'failed', lease, T0 + 1, nodeError(false))
      await ctx.store.enqueueJob('acme', cycle('cancelled', 'vm-2'), T0)
      await ctx.store.cancelJob('acme', 'cancelled', T0 + 1)
      await ctx.store.enqueueJob('acme', cycle('queued', 'vm-1'), T0 + 2)
      await ctx.store.enqueueJob('acme', cycle('running', 'vm-2'), T0 + 2)
      await startJob(ctx.store, 'acme', 'running', node, T0 + 2)

      const later = T0 + 60 * MINUTE
      expect(await ctx.store.deleteFinishedJob('acme', 'queued', later)).toBe(false)
      expect(await ctx.store.deleteFinishedJob('acme', 'running', later)).toBe(false)
      expect(await ctx.store.deleteFinishedJob('acme', 'unknown', later)).toBe(false)
      expect(await ctx.store.deleteFinishedJob('other', 'failed', later)).toBe(false)
      expect(await ctx.store.deleteFinishedJob('acme', 'failed', later)).toBe(true)
      expect(await ctx.store.deleteFinishedJob('acme', 'cancelled', later)).toBe(true)
      const left = await ctx.store.listJobs('acme', {}, { limit: 10 })
      expect(left.map((job) => job.id).sort()).toEqual(['queued', 'running'])
      expect((await ctx.store.nextQueuedJobs(later, 10)).map((job) => job.id)).toEqual(['queued'])
      expect(await ctx.store.activeJobsByNode(node)).toBe(1)
    })

    it('refuses bad ids and times', async () => {
      await makeWorld(ctx.store)
      await expectCode(ctx.store.deleteFinishedJob('acme', 'bad id!', T0), 'STORE_INVALID_ID')
      await expectCode(ctx.store.deleteFinishedJob('acme', 'j', -1), 'STORE_INVALID_ARGUMENT')
    })
  })
}
