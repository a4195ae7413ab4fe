// The catalogue's recorder (coordinator/replication/recovery-point-recorder.ts) over a memory store
// with the conformance world (vm-1: disk-0, disk-1): a succeeded cycle's summary adds its points
// (idempotent, an event per change), a point of an unknown volume and unparsable entries are
// logged and skipped, a succeeded prune removes the points its payload named; live through the
// `succeeded` event; and the start-up repair applies cycles before prunes, so a pruned point never
// comes back from the cycle that made it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { RecoveryPointsEvent } from '../../coordinator/events/lifecycle-events.js'
import { createLifecycleEvents, type LifecycleEvents } from '../../coordinator/events/lifecycle-events.js'
import type { Job } from '../../coordinator/jobs/job.js'
import {
  createRecoveryPointRecorder,
  type RecorderStore,
  type RecoveryPointRecorder,
} from '../../coordinator/replication/recovery-point-recorder.js'
import { createMemoryStore, type MemoryMetadataStore } from '../../coordinator/store/memory-store.js'
import { makeWorld } from '../coordinator/conformance/world.js'

const TENANT = 'acme'
const DIGEST = 'cd'.repeat(32)
const T = 1_800_000_000_000

let store: MemoryMetadataStore
let events: LifecycleEvents
let recorder: RecoveryPointRecorder | undefined
const warnings: Array<{ fields: Record<string, unknown>; message: string }> = []
const infos: Array<{ fields: Record<string, unknown>; message: string }> = []
const log = {
  warn: (fields: object, message: string) =>
    warnings.push({ fields: fields as Record<string, unknown>, message }),
  info: (fields: object, message: string) =>
    infos.push({ fields: fields as Record<string, unknown>, message }),
}

beforeEach(async () => {
  store = createMemoryStore()
  await store.open()
  await makeWorld(store, TENANT)
  events = createLifecycleEvents()
  warnings.length = 0
  infos.length = 0
})
afterEach(async () => {
  recorder?.stop()
  recorder = undefined
  await store.close()
})

function job(id: string, extra: Partial<Job>): Job {
  return {
    tenantId: TENANT,
    id,
    type: 'replication-cycle',
    planId: 'rpo',
    vmId: 'vm-1',
    volumeIds: [],
    siteId: 'hq',
    role: 'appliance',
    state: 'succeeded',
    attempt: 1,
    maxAttempts: 5,
    notBefore: T,
    queuedAt: T,
    fencingTokens: {},
    excludedNodes: [],
    payload: {},
    createdAt: T,
    updatedAt: T + 5,
    finishedAt: T + 10,
    ...extra,
  }
}

const cycleJob = (id: string, summary: Record<string, string | number | boolean>, extra: Partial<Job> = {}) =>
  job(id, { result: summary, ...extra })

const pruneJob = (id: string, points: string[], extra: Partial<Job> = {}) =>
  job(id, {
    type: 'maintenance',
    vmId: undefined,
    siteId: 'dr',
    role: 'connector',
    payload: { task: 'prune', tenant: TENANT, points },
    ...extra,
  })

function start(over: Partial<RecorderStore> = {}): RecoveryPointRecorder {
  const bound: RecorderStore = {
    getJob: (...args) => store.getJob(...args),
    listJobs: (...args) => store.listJobs(...args),
    listTenants: (...args) => store.listTenants(...args),
    addRecoveryPoint: (...args) => store.addRecoveryPoint(...args),
    getRecoveryPoint: (...args) => store.getRecoveryPoint(...args),
    deleteRecoveryPoint: (...args) => store.deleteRecoveryPoint(...args),
  }
  recorder = createRecoveryPointRecorder({ store: { ...bound, ...over }, events, log })
  return recorder
}

function pointEvents(): RecoveryPointsEvent[] {
  const seen: RecoveryPointsEvent[] = []
  events.on('recovery-points', (event) => seen.push(event))
  return seen
}

describe('recovery point recorder', () => {
  it('catalogues each volume’s point of a succeeded cycle once, with an event', async () => {
    const seen = pointEvents()
    const r = start()
    const cycle = cycleJob('c1', {
      'rp.disk-0': `c1.disk-0:${DIGEST}:4096`,
      'rp.disk-1': `c1.disk-1:${DIGEST}:8192`,
      payloadBytes: 10,
    })
    expect(await r.applyJob(cycle)).toEqual(['c1.disk-0', 'c1.disk-1'])
    expect(await store.listRecoveryPoints(TENANT, 'vm-1')).toMatchObject([
      {
        id: 'c1.disk-0',
        volumeId: 'disk-0',
        createdAt: T + 10,
        blockMapDigest: DIGEST,
        size: 4096,
        tags: [],
      },
      {
        id: 'c1.disk-1',
        volumeId: 'disk-1',
        createdAt: T + 10,
        blockMapDigest: DIGEST,
        size: 8192,
        tags: [],
      },
    ])
    // Again (a replayed event, the repair): nothing new, no event.
    expect(await r.applyJob(cycle)).toEqual([])
    expect(seen).toEqual([
      { tenantId: TENANT, jobId: 'c1', change: 'recorded', pointIds: ['c1.disk-0', 'c1.disk-1'], at: T + 10 },
    ])
    // Jobs that did not succeed, and other job types, change nothing.
    expect(await r.applyJob({ ...cycle, id: 'c2', state: 'failed' })).toEqual([])
    expect(await r.applyJob(job('k1', { type: 'consistency-check', result: cycle.result }))).toEqual([])
  })

  it('logs and skips a point of an unknown volume and entries that do not parse', async () => {
    const r = start()
    const added = await r.applyJob(
      cycleJob('c1', {
        'rp.disk-0': `c1.disk-0:${DIGEST}:4096`,
        'rp.disk-9': `c1.disk-9:${DIGEST}:4096`,
        'rp.disk-1': 'garbage',
      }),
    )
    expect(added).toEqual(['c1.disk-0'])
    expect(warnings.map((w) => w.fields.event)).toEqual([
      'recovery-point-summary-invalid',
      'recovery-point-not-catalogued',
    ])
    expect(warnings[0]!.fields).toMatchObject({ jobId: 'c1', keys: ['rp.disk-1'] })
    expect(warnings[1]!.fields).toMatchObject({ jobId: 'c1', pointId: 'c1.disk-9' })
  })

  it('a succeeded prune removes the points its payload named, with an event', async () => {
    const seen = pointEvents()
    const r = start()
    await r.applyJob(cycleJob('c1', { 'rp.disk-0': `c1.disk-0:${DIGEST}:4096` }))
    await r.applyJob(cycleJob('c2', { 'rp.disk-0': `c2.disk-0:${DIGEST}:4096` }, { finishedAt: T + 20 }))
    expect(await r.applyJob(pruneJob('p1', ['c1.disk-0', 'never-was']))).toEqual(['c1.disk-0'])
    expect((await store.listRecoveryPoints(TENANT, 'vm-1')).map((p) => p.id)).toEqual(['c2.disk-0'])
    expect(await r.applyJob(pruneJob('p1', ['c1.disk-0']))).toEqual([])
    expect(await r.applyJob(pruneJob('p2', ['c2.disk-0'], { state: 'failed' }))).toEqual([])
    // Another maintenance task names no points to forget.
    expect(await r.applyJob(pruneJob('u1', ['c2.disk-0'], { payload: { task: 'upgrade' } }))).toEqual([])
    expect(seen.map((e) => [e.change, e.pointIds])).toEqual([
      ['recorded', ['c1.disk-0']],
      ['recorded', ['c2.disk-0']],
      ['pruned', ['c1.disk-0']],
    ])
  })

  it('follows the succeeded event live, and logs a job it cannot read', async () => {
    const jobs = new Map([['c1', cycleJob('c1', { 'rp.disk-0': `c1.disk-0:${DIGEST}:4096` })]])
    const r = start({
      getJob: async (_tenant, jobId) => {
        if (jobId === 'broken') throw new Error('store is down')
        return jobs.get(jobId)
      },
    })
    events.emit('succeeded', { tenantId: TENANT, jobId: 'c1', nodeId: 'n', leaseId: 'l', at: T })
    events.emit('succeeded', { tenantId: TENANT, jobId: 'broken', nodeId: 'n', leaseId: 'l', at: T })
    await r.idle()
    expect((await store.listRecoveryPoints(TENANT, 'vm-1')).map((p) => p.id)).toEqual(['c1.disk-0'])
    expect(warnings.map((w) => w.fields)).toMatchObject([
      { event: 'recovery-point-record-failed', jobId: 'broken' },
    ])
    // Stopped: later events are not followed.
    r.stop()
    jobs.set('c2', cycleJob('c2', { 'rp.disk-1': `c2.disk-1:${DIGEST}:4096` }))
    events.emit('succeeded', { tenantId: TENANT, jobId: 'c2', nodeId: 'n', leaseId: 'l', at: T })
    await r.idle()
    expect((await store.listRecoveryPoints(TENANT, 'vm-1')).map((p) => p.id)).toEqual(['c1.disk-0'])
  })

  it('repair re-applies cycles and prunes; a pruned point never comes back, not even for a moment', async () => {
    const seen = pointEvents()
    // The store lists the prune first; c1 made the point it pruned; c3 failed.
    const stored = [
      pruneJob('a-prune', ['c1.disk-0']),
      cycleJob('c1', { 'rp.disk-0': `c1.disk-0:${DIGEST}:4096` }),
      cycleJob('c2', { 'rp.disk-0': `c2.disk-0:${DIGEST}:4096` }, { finishedAt: T + 20 }),
      cycleJob('c3', { 'rp.disk-0': `c3.disk-0:${DIGEST}:4096` }, { state: 'failed' }),
    ]
    const r = start({
      listJobs: async (_tenant, filter) =>
        stored.filter((j) => filter?.state === undefined || j.state === filter.state),
    })
    // A coordinator stopped after the prune succeeded but before the catalogue forgot c1's point,
    // and before it recorded c2's.
    await r.applyJob(stored[1]!)
    seen.length = 0
    const added: string[] = []
    events.on('recovery-points', (event) => {
      if (event.change === 'recorded') added.push(...event.pointIds)
    })

    expect(await r.repair()).toBe(2)
    expect((await store.listRecoveryPoints(TENANT, 'vm-1')).map((p) => p.id)).toEqual(['c2.disk-0'])
    expect(seen.map((e) => [e.change, e.pointIds])).toEqual([
      ['recorded', ['c2.disk-0']],
      ['pruned', ['c1.disk-0']],
    ])
    expect(infos.map((i) => i.fields)).toEqual([{ event: 'recovery-points-repaired', changed: 2 }])

    // The next start's repair finds nothing to do: c1's point is not re-added and pruned again.
    expect(await r.repair()).toBe(0)
    expect(added).toEqual(['c2.disk-0'])
  })
})
