// PROGRESS is "latest wins" by seq (docs/RECONCILIATION.md "PROGRESS", docs/PROTOCOL.md §4): the
// job link keeps each running job's latest progress, a replayed PROGRESS older than the one shown
// changes nothing, one from a node that no longer holds the job is ignored, and none reaches the
// job log. Over the memory store and the job link's handleStatusReplay; no network.
import { describe, expect, it } from 'vitest'
import { createJobLink, type JobLink } from '../../coordinator/job-link/job-link.js'
import { createProgressBoard } from '../../coordinator/job-link/progress-board.js'
import { createMemoryStore, type MemoryMetadataStore } from '../../coordinator/store/memory-store.js'
import type { Progress, StatusUpdate } from '../../protocol/control-messages.js'
import { MessageType } from '../../protocol/message-types.js'
import { T0 } from '../coordinator/conformance/fixture.js'
import { cycle, makeWorld, startJob, type World } from '../coordinator/conformance/world.js'

function progress(seq: number, percent: number, jobId = 'j1'): Progress {
  return {
    t: MessageType.PROGRESS,
    seq,
    at: T0 + seq,
    jobId,
    step: `step-${percent}`,
    bytesDone: percent * 10,
    bytesTotal: 1_000,
    percent,
  }
}

async function setUp(): Promise<{ store: MemoryMetadataStore; world: World; link: JobLink }> {
  const store = createMemoryStore()
  await store.open()
  const world = await makeWorld(store)
  const link = createJobLink(
    {},
    {
      store,
      openStreamTo: async () => {
        throw new Error('no streams in this test')
      },
      peerId: 'coordinator',
      handBack: async () => true,
      clock: { now: () => T0 + 1_000 },
    },
  )
  await store.enqueueJob(world.tenantId, cycle('j1'), T0)
  await startJob(store, world.tenantId, 'j1', world.appliances[0], T0)
  return { store, world, link }
}

describe('replayed PROGRESS: latest wins by seq', () => {
  it('keeps the highest seq of the holder, ignores an older replay, and logs nothing', async () => {
    const { store, world, link } = await setUp()
    const node = world.appliances[0]
    const first = await link.handleStatusReplay(world.tenantId, node, [progress(3, 30), progress(5, 50)])
    expect(first.seq).toBe(5)
    expect(link.progressOf(world.tenantId, 'j1')).toMatchObject({
      nodeId: node,
      seq: 5,
      step: 'step-50',
      bytesDone: 500,
      bytesTotal: 1_000,
      percent: 50,
    })
    // The same batch again, and an older one: acknowledged, the view unchanged.
    const again = await link.handleStatusReplay(world.tenantId, node, [progress(4, 40)])
    expect(again.seq).toBe(4)
    expect(link.progressOf(world.tenantId, 'j1')).toMatchObject({ seq: 5, percent: 50 })
    await link.handleStatusReplay(world.tenantId, node, [progress(9, 90)])
    expect(link.progressOf(world.tenantId, 'j1')).toMatchObject({ seq: 9, percent: 90 })
    expect(await store.listJobLog(world.tenantId, 'j1', { limit: 10 })).toEqual([])
  })

  it('ignores PROGRESS from a node that does not hold the job, and forgets it once the job ends', async () => {
    const { store, world, link } = await setUp()
    const [holder, other] = world.appliances
    const outcome = await link.handleStatusReplay(world.tenantId, other, [progress(7, 70)])
    expect(outcome.seq).toBe(7)
    expect(link.progressOf(world.tenantId, 'j1')).toBeUndefined()
    // A PROGRESS of a job that does not exist is dealt with (acknowledged) and changes nothing.
    expect((await link.handleStatusReplay(world.tenantId, holder, [progress(8, 10, 'ghost')])).seq).toBe(8)
    expect(link.progressOf(world.tenantId, 'ghost')).toBeUndefined()

    await link.handleStatusReplay(world.tenantId, holder, [progress(9, 90)])
    expect(link.progressOf(world.tenantId, 'j1')?.nodeId).toBe(holder)
    const job = await store.getJob(world.tenantId, 'j1')
    const result: StatusUpdate = {
      t: MessageType.RESULT,
      seq: 10,
      at: T0 + 10,
      jobId: 'j1',
      leaseId: job!.lease!.id,
      ok: true,
    }
    expect((await link.handleStatusReplay(world.tenantId, holder, [result])).seq).toBe(10)
    expect((await store.getJob(world.tenantId, 'j1'))?.state).toBe('succeeded')
    expect(link.progressOf(world.tenantId, 'j1')).toBeUndefined()
    // A late PROGRESS of the finished job does not bring it back.
    await link.handleStatusReplay(world.tenantId, holder, [progress(11, 95)])
    expect(link.progressOf(world.tenantId, 'j1')).toBeUndefined()
  })
})

describe('progress board', () => {
  it('compares seqs of one node only, and drops the least recently updated job beyond its bound', () => {
    const board = createProgressBoard({ maxJobs: 2 })
    const base = { at: 1, step: 's', bytesDone: 0, percent: 0, receivedAt: 1 }
    expect(board.record('t', 'a', { ...base, nodeId: 'n1', seq: 10 })).toBe(true)
    expect(board.record('t', 'a', { ...base, nodeId: 'n1', seq: 10 })).toBe(false)
    // A new holder's first update replaces the old holder's, whatever its seq.
    expect(board.record('t', 'a', { ...base, nodeId: 'n2', seq: 1 })).toBe(true)
    expect(board.get('t', 'a')?.nodeId).toBe('n2')
    board.record('t', 'b', { ...base, nodeId: 'n1', seq: 1 })
    board.record('t', 'a', { ...base, nodeId: 'n2', seq: 2 })
    board.record('t', 'c', { ...base, nodeId: 'n1', seq: 2 })
    expect(board.size).toBe(2)
    expect(board.get('t', 'b')).toBeUndefined()
    expect(board.get('t', 'a')?.seq).toBe(2)
    board.forget('t', 'a')
    expect(board.get('t', 'a')).toBeUndefined()
  })
})
