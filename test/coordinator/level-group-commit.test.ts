// Group commit in the classic-level store: job changes that arrive together are written as one
// batch, and each still behaves as if it had run alone, one after another, in the order it was
// called. The job indexes agree with the records afterwards (level-job-audit.ts).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLevelStore, type LevelMetadataStore } from '../../coordinator/store/level-store.js'
import { expectCode, peerId, T0, tenantWithSite } from './conformance/fixture.js'
import { auditJobIndexes } from './level-job-audit.js'

const TENANT = 'acme'
const SITE = 'hq'
const VMS = 8
const NODES = [peerId(1), peerId(2)]

describe('classic-level group commit', () => {
  let dir: string
  let location: string
  let store: LevelMetadataStore

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-group-commit-'))
    location = join(dir, 'store')
    store = createLevelStore({ location })
    await store.open()
    await tenantWithSite(store, TENANT, SITE)
    for (const nodeId of NODES) {
      const { token } = await store.createEnrolmentToken(TENANT, SITE, 'appliance', 60_000, T0)
      await store.redeemEnrolmentToken(token, nodeId, 'appliance', T0)
    }
    for (let v = 0; v < VMS; v++) {
      const volumes = [{ id: `vm-${v}-disk`, size: 1 << 20, blockSize: 65_536 }]
      await store.createProtectedVm(TENANT, { id: `vm-${v}`, name: `VM ${v}`, siteId: SITE, volumes }, T0)
    }
  })
  afterEach(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  const enqueue = (n: number, now = T0) =>
    store.enqueueJob(
      TENANT,
      { id: `j${n}`, type: 'replication-cycle', vmId: `vm-${n}`, siteId: SITE, role: 'appliance' },
      now,
    )

  /** Closes the store, checks every index entry against the records, and opens it again. */
  async function audit() {
    await store.close()
    const result = await auditJobIndexes(location)
    store = createLevelStore({ location })
    await store.open()
    return result
  }

  it('writes concurrent changes in fewer batches than changes, each with its own result', async () => {
    const before = store.commitStats()
    const results = await Promise.all(Array.from({ length: VMS }, (_, n) => enqueue(n)))
    expect(results.map((r) => r.enqueued && r.job.id)).toEqual(Array.from({ length: VMS }, (_, n) => `j${n}`))
    const after = store.commitStats()
    expect(after.changes - before.changes).toBe(VMS)
    expect(after.groups - before.groups).toBeLessThan(VMS)
    const offers = await Promise.all(
      Array.from({ length: VMS }, (_, n) => store.offerJob(TENANT, `j${n}`, NODES[n % 2], T0 + 1)),
    )
    expect(offers.map((job) => [job.id, job.state, job.offeredTo])).toEqual(
      Array.from({ length: VMS }, (_, n) => [`j${n}`, 'offered', NODES[n % 2]]),
    )
    expect(new Set(offers.map((job) => job.lease!.id)).size).toBe(VMS)
    expect(await store.activeJobsByNode(NODES[0])).toBe(VMS / 2)
    const { jobs } = await audit()
    expect(jobs).toHaveLength(VMS)
  })

  it('a change sees the earlier changes of its group: enqueue and offer called together both succeed', async () => {
    const [enqueued, offered] = await Promise.all([enqueue(0), store.offerJob(TENANT, 'j0', NODES[0], T0)])
    expect(enqueued.enqueued).toBe(true)
    expect(offered).toMatchObject({ id: 'j0', state: 'offered', attempt: 1 })
    expect(offered.fencingTokens).toEqual({ 'vm-0-disk': 1 })
    expect(await store.fencingToken(TENANT, 'vm-0-disk')).toBe(1)
  })

  it('of two offers of one job in one group, the first wins and the second conflicts, writing nothing', async () => {
    await enqueue(0)
    const first = store.offerJob(TENANT, 'j0', NODES[0], T0 + 1)
    const second = store.offerJob(TENANT, 'j0', NODES[1], T0 + 1)
    const winner = await first
    await expectCode(second, 'JOB_STATE_CONFLICT')
    const stored = await store.getJob(TENANT, 'j0')
    expect(stored).toEqual(winner)
    expect(stored!.offeredTo).toBe(NODES[0])
    expect(await store.fencingToken(TENANT, 'vm-0-disk')).toBe(1)
    expect(await store.activeJobsByNode(NODES[1])).toBe(0)
    await audit()
  })

  it('a failed precondition in one change leaves the others of its group whole', async () => {
    await Promise.all([0, 1, 2].map((n) => enqueue(n)))
    const offered = await Promise.all([0, 1, 2].map((n) => store.offerJob(TENANT, `j${n}`, NODES[0], T0 + 1)))
    const [lease0, lease1, lease2] = offered.map((job) => job.lease!.id)
    await store.acknowledgeJob(TENANT, 'j2', NODES[0], lease2, T0 + 2)
    // One group: a good ack, an ack under another job's lease, a completion, and a duplicate enqueue.
    const outcomes = await Promise.allSettled([
      store.acknowledgeJob(TENANT, 'j0', NODES[0], lease0, T0 + 3),
      store.acknowledgeJob(TENANT, 'j1', NODES[0], lease0, T0 + 3),
      store.completeJob(TENANT, 'j2', lease2, T0 + 3, { bytes: 7 }),
      enqueue(0, T0 + 3),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'JOB_LEASE_LOST' })
    expect(outcomes[3]).toMatchObject({ value: { enqueued: false, reason: 'duplicate' } })
    expect(await store.getJob(TENANT, 'j0')).toMatchObject({ state: 'running' })
    expect(await store.getJob(TENANT, 'j1')).toEqual(offered[1])
    expect(await store.getJob(TENANT, 'j2')).toMatchObject({ state: 'succeeded', result: { bytes: 7 } })
    expect(lease1).not.toBe(lease0)
    await audit()
  })

  it('runs the changes of a group in call order: a job walks its whole life in one burst of calls', async () => {
    await enqueue(0)
    const offered = await store.offerJob(TENANT, 'j0', NODES[0], T0 + 1)
    const lease = offered.lease!.id
    const calls = [
      store.acknowledgeJob(TENANT, 'j0', NODES[0], lease, T0 + 2),
      store.renewLease(TENANT, 'j0', lease, T0 + 3),
      store.completeJob(TENANT, 'j0', lease, T0 + 4, { bytes: 1 }),
      // After the completion, in the same group: a late renewal is refused.
      store.renewLease(TENANT, 'j0', lease, T0 + 5),
    ]
    const outcomes = await Promise.allSettled(calls)
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.state : 'refused'))).toEqual([
      'running',
      'running',
      'succeeded',
      'refused',
    ])
    const final = await store.getJob(TENANT, 'j0')
    expect(final).toMatchObject({ state: 'succeeded', updatedAt: T0 + 4 })
    await audit()
  })

  it('expireLeases sees the pending offers, acks and deletes of the changes before it in its group', async () => {
    await Promise.all([0, 1, 2].map((n) => enqueue(n)))
    const lease1 = (await store.offerJob(TENANT, 'j1', NODES[1], T0 + 1, 1_000)).lease!.id
    await store.offerJob(TENANT, 'j2', NODES[1], T0 + 1, 1_000)
    const [offered0, acked1, report, late] = await Promise.all([
      // A pending put in the offers index: lapsed by the sweep's time.
      store.offerJob(TENANT, 'j0', NODES[0], T0 + 2, 1_000),
      // A pending delete in the offers index: j1 is acknowledged before the sweep.
      store.acknowledgeJob(TENANT, 'j1', NODES[1], lease1, T0 + 3),
      store.expireLeases(T0 + 5_000),
      // After the sweep, in the same group: j0 is queued again, so it can be offered anew.
      store.offerJob(TENANT, 'j0', NODES[1], T0 + 5_000),
    ])
    expect(offered0.state).toBe('offered')
    expect(acked1.state).toBe('running')
    expect(report.expired.map((e) => e.job.id).sort()).toEqual(['j0', 'j2'])
    expect(late).toMatchObject({ id: 'j0', state: 'offered', offeredTo: NODES[1], attempt: 1 })
    expect(await store.getJob(TENANT, 'j1')).toMatchObject({ state: 'running' })
    await audit()
  })

  it('expireLeases pages through the index with pending deletes in it', async () => {
    await Promise.all(Array.from({ length: VMS }, (_, n) => enqueue(n)))
    const offers = await Promise.all(
      Array.from({ length: VMS }, (_, n) => store.offerJob(TENANT, `j${n}`, NODES[n % 2], T0 + n, 1_000)),
    )
    // The three earliest offers are acknowledged in the group, before a sweep of at most 2 jobs.
    const acks = [0, 1, 2].map((n) =>
      store.acknowledgeJob(TENANT, `j${n}`, NODES[n % 2], offers[n].lease!.id, T0 + 100),
    )
    const sweep = store.expireLeases(T0 + 10_000, 2)
    await Promise.all(acks)
    const report = await sweep
    expect(report.expired.map((e) => e.job.id)).toEqual(['j3', 'j4'])
    expect(report.more).toBe(true)
    await audit()
  })
})
