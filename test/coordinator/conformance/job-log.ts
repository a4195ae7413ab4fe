// Conformance: job logs — append with sequence numbers, paged reads, idempotent node replays, bounds.
import { describe, expect, it } from 'vitest'
import type { NewJobLogEntry } from '../../../coordinator/store/job-log-records.js'
import { expectCode, freshStore, type StoreFixtureFactory, T0 } from './fixture.js'
import { cycle, makeWorld, nodeError } from './world.js'

export function jobLogConformance(factory: StoreFixtureFactory): void {
  describe('job logs', () => {
    const ctx = freshStore(factory)

    it('appends entries numbered from 1 and reads them in pages', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const entries: NewJobLogEntry[] = Array.from({ length: 7 }, (_, n) => ({
        at: T0 + n,
        level: n === 6 ? 'error' : 'info',
        step: n < 3 ? 'scan' : 'send',
        message: `step ${n}`,
        nodeId: world.appliances[0],
        bytesDone: n * 1024,
        ...(n === 6 ? { error: nodeError(true) } : {}),
      }))
      const stored = []
      for (const entry of entries) stored.push(await ctx.store.appendJobLog('acme', 'c1', entry))
      expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7])
      expect(stored[6]).toEqual({ seq: 7, ...entries[6] })
      expect(await ctx.store.listJobLog('acme', 'c1', { limit: 3 })).toEqual(stored.slice(0, 3))
      expect(await ctx.store.listJobLog('acme', 'c1', { after: 3, limit: 3 })).toEqual(stored.slice(3, 6))
      expect(await ctx.store.listJobLog('acme', 'c1', { after: 6, limit: 3 })).toEqual(stored.slice(6))
      expect(await ctx.store.listJobLog('acme', 'c1', { after: 7, limit: 3 })).toEqual([])
      expect(await ctx.store.listJobLog('acme', 'unknown', { limit: 3 })).toEqual([])
    })

    it('a node entry replayed with the same node, number and time is stored once', async () => {
      const world = await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const entry: NewJobLogEntry = {
        at: T0,
        level: 'info',
        step: 'scan',
        message: 'started',
        nodeId: world.appliances[0],
        nodeSeq: 41,
      }
      const first = await ctx.store.appendJobLog('acme', 'c1', entry)
      expect(await ctx.store.appendJobLog('acme', 'c1', entry)).toEqual(first)
      // A restarted node numbers from 1 again: same number, another time, another entry.
      const restarted = await ctx.store.appendJobLog('acme', 'c1', { ...entry, at: T0 + 5 })
      expect(restarted.seq).toBe(2)
      const coordinator = await ctx.store.appendJobLog('acme', 'c1', {
        at: T0 + 6,
        level: 'warn',
        step: 'dispatch',
        message: 'retrying',
      })
      expect(coordinator.seq).toBe(3)
      expect(await ctx.store.listJobLog('acme', 'c1', { limit: 10 })).toHaveLength(3)
    })

    it('refuses entries for unknown jobs (JOB_NOT_FOUND) and malformed entries, writing nothing', async () => {
      await makeWorld(ctx.store)
      await ctx.store.enqueueJob('acme', cycle('c1'), T0)
      const good: NewJobLogEntry = { at: T0, level: 'info', step: 'scan', message: 'ok' }
      await expectCode(ctx.store.appendJobLog('acme', 'c9', good), 'JOB_NOT_FOUND')
      for (const bad of [
        { level: 'fatal' },
        { step: '' },
        { step: 'x'.repeat(129) },
        { message: 'x'.repeat(4097) },
        { nodeSeq: 3 },
        { at: -1 },
        { bytesDone: 1.5 },
        { error: { code: 'lower', message: '', remediation: '', retryable: false } },
      ]) {
        await expectCode(
          ctx.store.appendJobLog('acme', 'c1', { ...good, ...bad } as never),
          'STORE_INVALID_ARGUMENT',
        )
      }
      await expectCode(ctx.store.listJobLog('acme', 'c1', { limit: 0 }), 'STORE_INVALID_ARGUMENT')
      await expectCode(ctx.store.listJobLog('acme', 'c1', { limit: 1001 }), 'STORE_INVALID_ARGUMENT')
      expect(await ctx.store.listJobLog('acme', 'c1', { limit: 10 })).toEqual([])
    })
  })
}
