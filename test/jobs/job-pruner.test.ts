// The finished-job sweep (coordinator/scheduling/job-pruner.ts): finished jobs older than the
// retention go with their logs, bounded per pass, every tenant in turn; active and recent ones stay.
// Over the memory store and the classic-level store.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createJobPruner, DAY_MS } from '../../coordinator/scheduling/job-pruner.js'
import { createLevelStore } from '../../coordinator/store/level-store.js'
import { createMemoryStore } from '../../coordinator/store/memory-store.js'
import type { MetadataStore } from '../../coordinator/store/metadata-store.js'
import { T0, tenantWithSite } from '../coordinator/conformance/fixture.js'

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

const stores: Array<[string, () => Promise<MetadataStore>]> = [
  [
    'memory',
    async () => {
      const store = createMemoryStore()
      await store.open()
      return store
    },
  ],
  [
    'level',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'lifeboat-prune-'))
      const store = createLevelStore({ location: join(dir, 'store'), sync: false })
      await store.open()
      closers.push(() => rm(dir, { recursive: true, force: true }))
      closers.push(() => store.close())
      return store
    },
  ],
]

/** A maintenance job of `tenantId` cancelled at `finishedAt` (a finished job without a node), with two log entries. */
async function finishedJob(
  store: MetadataStore,
  tenantId: string,
  id: string,
  finishedAt: number,
): Promise<void> {
  await store.enqueueJob(
    tenantId,
    { id, type: 'maintenance', siteId: 'hq', role: 'appliance', payload: { task: 'prune' } },
    finishedAt - 10,
  )
  for (const step of ['a', 'b'])
    await store.appendJobLog(tenantId, id, { at: finishedAt - 5, level: 'info', step, message: step })
  await store.cancelJob(tenantId, id, finishedAt)
}

for (const [name, open] of stores) {
  describe(`job pruner (${name} store)`, () => {
    it('deletes finished jobs past the retention with their logs, and keeps active and recent ones', async () => {
      const store = await open()
      await tenantWithSite(store, 'acme', 'hq')
      const now = T0 + 30 * DAY_MS
      await finishedJob(store, 'acme', 'old', now - 8 * DAY_MS)
      await finishedJob(store, 'acme', 'recent', now - 6 * DAY_MS)
      await store.enqueueJob(
        'acme',
        { id: 'queued', type: 'maintenance', siteId: 'hq', role: 'appliance', payload: { task: 'prune' } },
        now - 20 * DAY_MS,
      )
      const pruner = createJobPruner({}, { store })
      expect(pruner.retentionMs).toBe(7 * DAY_MS)
      const report = await pruner.prune(now)
      expect(report).toMatchObject({ scanned: 2, deleted: 1, more: false })
      expect(await store.getJob('acme', 'old')).toBeUndefined()
      expect(await store.listJobLog('acme', 'old', { limit: 10 })).toEqual([])
      expect(await store.listJobLog('acme', 'recent', { limit: 10 })).toHaveLength(2)
      expect((await store.listJobs('acme', {}, { limit: 10 })).map((j) => j.id).sort()).toEqual([
        'queued',
        'recent',
      ])
      // A day later the other one is past the retention too.
      expect(await pruner.prune(now + DAY_MS + 1)).toMatchObject({ deleted: 1 })
      expect(await store.getJob('acme', 'recent')).toBeUndefined()
      expect(await store.getJob('acme', 'queued')).toBeDefined()
    })

    it('is bounded per pass and walks every tenant in turn', async () => {
      const store = await open()
      const now = T0 + 30 * DAY_MS
      for (const tenant of ['t1', 't2']) {
        await tenantWithSite(store, tenant, 'hq')
        for (let n = 0; n < 3; n++) await finishedJob(store, tenant, `j${n}`, now - 10 * DAY_MS)
      }
      const pruner = createJobPruner({ maxDeletedPerPass: 2, retentionMs: DAY_MS }, { store })
      const reports = []
      for (let pass = 0; pass < 5; pass++) {
        const report = await pruner.prune(now)
        reports.push(report)
        expect(report.deleted).toBeLessThanOrEqual(2)
        if (!report.more) break
      }
      expect(reports.map((r) => r.deleted)).toEqual([2, 2, 2, 0].slice(0, reports.length))
      expect(reports.at(-1)?.more).toBe(false)
      for (const tenant of ['t1', 't2']) expect(await store.listJobs(tenant, {}, { limit: 10 })).toEqual([])
    })

    it('a scan bound leaves no tenant behind a big one', async () => {
      const store = await open()
      const now = T0 + 30 * DAY_MS
      await tenantWithSite(store, 'big', 'hq')
      await tenantWithSite(store, 'small', 'hq')
      // Many recent finished jobs in the first tenant, which a pass must scan but cannot prune.
      for (let n = 0; n < 12; n++)
        await finishedJob(store, 'big', `r${String(n).padStart(2, '0')}`, now - 1_000)
      await finishedJob(store, 'small', 'old', now - 10 * DAY_MS)
      const pruner = createJobPruner({ maxScannedPerPass: 5, retentionMs: DAY_MS }, { store })
      let deleted = 0
      for (let pass = 0; pass < 10 && deleted === 0; pass++) deleted += (await pruner.prune(now)).deleted
      expect(deleted).toBe(1)
      expect(await store.getJob('small', 'old')).toBeUndefined()
      expect(await store.listJobs('big', {}, { limit: 100 })).toHaveLength(12)
    })
  })
}

describe('job pruner options', () => {
  it('refuses a retention, interval or bound out of range with SCHEDULE_INVALID_OPTION', () => {
    const store = createMemoryStore()
    for (const init of [
      { retentionMs: 0 },
      { intervalMs: 1 },
      { maxDeletedPerPass: 0 },
      { maxScannedPerPass: 0 },
    ]) {
      expect(() => createJobPruner(init, { store })).toThrow(
        expect.objectContaining({ code: 'SCHEDULE_INVALID_OPTION' }),
      )
    }
  })
})
