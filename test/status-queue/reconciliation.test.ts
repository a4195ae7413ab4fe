// Replayed status updates against the real classic-level metadata store (docs/RECONCILIATION.md):
// a node cut off mid-job queues its RESULT on its own disk; the replay after the reconnect is
// accepted when its lease still holds, and loses — recorded in the job's log, the job keeping its
// successor's outcome — when the job was re-dispatched meanwhile. Replayed log entries are stored once.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createStatusQueue, createStatusReplayer, type StatusQueue } from '../../agent/status-queue/index.js'
import { LEASE_TTL_MS } from '../../coordinator/jobs/job-defaults.js'
import { createLevelStore, type LevelMetadataStore } from '../../coordinator/store/level-store.js'
import type { StatusAck, StatusReplay, StatusUpdate } from '../../protocol/control-messages.js'
import { isCodedError } from '../../protocol/errors.js'
import { MessageType } from '../../protocol/message-types.js'
import { T0 } from '../coordinator/conformance/fixture.js'
import { cycle, makeWorld, type World } from '../coordinator/conformance/world.js'

let dir: string
let store: LevelMetadataStore
let queue: StatusQueue
let world: World

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lifeboat-reconcile-'))
  store = createLevelStore({ location: join(dir, 'store'), sync: false })
  await store.open()
  world = await makeWorld(store)
  queue = createStatusQueue({ dataDir: join(dir, 'node') })
  await queue.open()
})

afterEach(async () => {
  await queue.close()
  await store.close()
  await rm(dir, { recursive: true, force: true })
})

/**
 * The coordinator's side of a replay as docs/RECONCILIATION.md states it, over the store's own
 * rules: a RESULT through completeJob/failJob (a replay under the same lease is a no-op); one that
 * loses (JOB_LEASE_LOST, JOB_STATE_CONFLICT) is recorded in the job's log, keyed by nodeSeq so a
 * second replay records it once; a LOG_ENTRY through appendJobLog with nodeSeq.
 */
function coordinatorSide(nodeId: string, now: number) {
  const losers: { seq: number; code: string }[] = []
  const send = async (replay: StatusReplay): Promise<StatusAck> => {
    for (const item of replay.items) await apply(item)
    return { t: MessageType.STATUS_ACK, rid: replay.rid, seq: replay.items.at(-1)!.seq }
  }
  async function apply(item: StatusUpdate): Promise<void> {
    const { tenantId } = world
    if (item.t === MessageType.LOG_ENTRY) {
      await store.appendJobLog(tenantId, item.jobId, {
        at: item.at,
        level: item.level,
        step: item.step,
        message: item.message,
        nodeId,
        nodeSeq: item.seq,
      })
      return
    }
    if (item.t !== MessageType.RESULT) return
    try {
      if (item.ok) await store.completeJob(tenantId, item.jobId, item.leaseId, now, item.summary)
      else await store.failJob(tenantId, item.jobId, item.leaseId, now, item.error!)
    } catch (error) {
      if (!isCodedError(error) || !['JOB_LEASE_LOST', 'JOB_STATE_CONFLICT'].includes(error.code)) throw error
      losers.push({ seq: item.seq, code: error.code })
      await store.appendJobLog(tenantId, item.jobId, {
        at: item.at,
        level: 'warn',
        step: 'reconcile',
        message: `late result of lease ${item.leaseId} from node ${nodeId} ignored: ${error.message}`,
        nodeId,
        nodeSeq: item.seq,
        error: { code: error.code, message: error.message, remediation: error.remediation, retryable: false },
      })
    }
  }
  return { send, losers }
}

describe('replayed status updates against the level metadata store', () => {
  it('a RESULT for a job re-dispatched meanwhile loses; one whose lease still holds is accepted', async () => {
    const [nodeA, nodeB] = world.appliances
    const { tenantId } = world
    await store.enqueueJob(tenantId, cycle('c1', 'vm-1'), T0)
    await store.enqueueJob(tenantId, cycle('c2', 'vm-2'), T0)
    const offered1 = await store.offerJob(tenantId, 'c1', nodeA, T0)
    const offered2 = await store.offerJob(tenantId, 'c2', nodeA, T0)
    const leaseA1 = offered1.lease!.id
    const leaseA2 = offered2.lease!.id
    await store.acknowledgeJob(tenantId, 'c1', nodeA, leaseA1, T0 + 1)
    await store.acknowledgeJob(tenantId, 'c2', nodeA, leaseA2, T0 + 1)

    // Node A loses the coordinator and finishes both jobs; its updates wait on its disk.
    await queue.append({
      t: MessageType.LOG_ENTRY,
      at: T0 + 10,
      jobId: 'c1',
      nodeId: nodeA,
      step: 'copy',
      level: 'info',
      message: 'copied',
    })
    await queue.append({
      t: MessageType.RESULT,
      at: T0 + 20,
      jobId: 'c1',
      leaseId: leaseA1,
      ok: true,
      summary: { by: 'A' },
    })
    await queue.append({
      t: MessageType.RESULT,
      at: T0 + 20,
      jobId: 'c2',
      leaseId: leaseA2,
      ok: true,
      summary: { by: 'A' },
    })

    // Meanwhile c1's lease expires and the job goes to node B, which finishes it (c2 renewed in time).
    await store.renewLease(tenantId, 'c2', leaseA2, T0 + LEASE_TTL_MS / 2)
    const late = T0 + LEASE_TTL_MS + 1
    const expired = await store.expireLeases(late)
    expect(expired.expired.map((e) => e.job.id)).toEqual(['c1'])
    const retryAt = expired.expired[0].job.notBefore
    const offeredB = await store.offerJob(tenantId, 'c1', nodeB, retryAt)
    const leaseB = offeredB.lease!.id
    expect(offeredB.fencingTokens['disk-0']).toBeGreaterThan(offered1.fencingTokens['disk-0'])
    await store.acknowledgeJob(tenantId, 'c1', nodeB, leaseB, retryAt + 1)
    await store.completeJob(tenantId, 'c1', leaseB, retryAt + 2, { by: 'B' })

    // A reconnects (c2's lease still valid) and replays.
    const now = T0 + LEASE_TTL_MS / 2 + 10
    const coordinator = coordinatorSide(nodeA, Math.max(now, retryAt + 3))
    const c2Before = await store.getJob(tenantId, 'c2')
    expect(Math.max(now, retryAt + 3)).toBeLessThan(c2Before!.lease!.expiresAt)
    const replayer = createStatusReplayer({}, { queue, send: coordinator.send })
    expect(await replayer.run()).toMatchObject({ complete: true, acknowledged: 3 })

    const c1 = await store.getJob(tenantId, 'c1')
    expect(c1).toMatchObject({ state: 'succeeded', result: { by: 'B' } })
    expect(c1!.lastLease!.id).toBe(leaseB)
    expect(coordinator.losers).toEqual([{ seq: 2, code: 'JOB_LEASE_LOST' }])
    const c2 = await store.getJob(tenantId, 'c2')
    expect(c2).toMatchObject({ state: 'succeeded', result: { by: 'A' } })
    expect(c2!.lastLease!.id).toBe(leaseA2)

    const log = await store.listJobLog(tenantId, 'c1', { limit: 100 })
    expect(log.map((e) => [e.nodeSeq, e.step])).toEqual([
      [1, 'copy'],
      [2, 'reconcile'],
    ])

    // The same batch again (its acknowledgement lost): nothing changes, nothing is logged twice.
    const again = await coordinator.send({
      t: MessageType.STATUS_REPLAY,
      rid: 99,
      items: [
        {
          t: MessageType.LOG_ENTRY,
          seq: 1,
          at: T0 + 10,
          jobId: 'c1',
          nodeId: nodeA,
          step: 'copy',
          level: 'info',
          message: 'copied',
        },
        {
          t: MessageType.RESULT,
          seq: 2,
          at: T0 + 20,
          jobId: 'c1',
          leaseId: leaseA1,
          ok: true,
          summary: { by: 'A' },
        },
        {
          t: MessageType.RESULT,
          seq: 3,
          at: T0 + 20,
          jobId: 'c2',
          leaseId: leaseA2,
          ok: true,
          summary: { by: 'A' },
        },
      ],
    })
    expect(again.seq).toBe(3)
    expect(await store.listJobLog(tenantId, 'c1', { limit: 100 })).toHaveLength(2)
    expect(await store.getJob(tenantId, 'c2')).toEqual(c2)
    expect(await store.getJob(tenantId, 'c1')).toEqual(c1)
  })
})
