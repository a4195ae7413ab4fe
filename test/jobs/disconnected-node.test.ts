// A node that loses the coordinator mid-job: the executor keeps running, its updates wait in the
// status queue on the node's disk, and the replay after the reconnect delivers them
// (docs/PROTOCOL.md §4, docs/RECONCILIATION.md). Loopback, a level store in a temp dir; the
// connection is cut by stopping the agent's control client, and restored by starting it again.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import type { Agent } from '../../agent/control/index.js'
import type { Coordinator } from '../../coordinator/control/coordinator-runtime.js'
import { issueEnrolmentToken } from '../../coordinator/control/index.js'
import { Cleanup, eventually, withLimit } from '../control/helpers.js'
import {
  cutOff,
  enqueueMaintenance,
  gate as makeGate,
  startJobAgent,
  startJobCoordinator,
} from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

// A lease long enough that it holds while the node is away, unless the test moves the clock.
const coordinator = (): Promise<Coordinator> =>
  startJobCoordinator(cleanup, { leaseTtlMs: 60_000 }, 'lifeboat-disconnected-')
const agent = (c: Coordinator): Promise<Agent> => startJobAgent(cleanup, c)
const gate = () => makeGate(cleanup)
const cut = cutOff
const enqueue = (c: Coordinator, id: string): Promise<void> => enqueueMaintenance(c, id)

describe('a node that loses the coordinator mid-job', () => {
  it('keeps running, queues its result on disk, and the replay after the reconnect completes the job', async () => {
    const c = await coordinator()
    const a = await agent(c)
    const g = gate()
    const started = gate()
    a.jobs.registerExecutor('maintenance', async (_job, ctx) => {
      ctx.log('info', 'before', 'connected')
      started.open()
      await g.opened
      ctx.log('info', 'after', 'cut off')
      ctx.progress('prune', 10, 100)
      ctx.log('info', 'done', 'pruned')
      return { pruned: 3 }
    })
    const acked = withLimit(a.jobs.events.next('job-accepted'), 'job accepted')
    await enqueue(c, 'd1')
    await acked
    await withLimit(started.opened, 'executor started')
    await eventually(
      async () => (await c.store.listJobLog('acme', 'd1', { limit: 10 })).length === 1,
      'log entry',
    )

    // Cut the connection: the job stream goes with it.
    await cut(a)
    await eventually(() => c.jobLink.active === 0, 'job stream gone at the coordinator')

    const finished = withLimit(a.jobs.events.next('job-finished'), 'job finished')
    g.open()
    expect(await finished).toMatchObject({ jobId: 'd1', ok: true })
    // The RESULT is queued on the node, not delivered: the job is still running at the coordinator.
    expect((await c.store.getJob('acme', 'd1'))?.state).toBe('running')

    a.client.start()
    await eventually(async () => (await c.store.getJob('acme', 'd1'))?.state === 'succeeded', 'job succeeded')
    const job = await c.store.getJob('acme', 'd1')
    expect(job).toMatchObject({ state: 'succeeded', result: { pruned: 3 } })
    const log = await c.store.listJobLog('acme', 'd1', { limit: 100 })
    // The replayed PROGRESS is shown latest-wins, not logged (docs/RECONCILIATION.md "PROGRESS").
    expect(log.map((e) => e.step)).toEqual(['before', 'after', 'done'])
    const seqs = log.map((e) => e.nodeSeq!)
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y))
    expect(log.every((e) => e.nodeId === a.node.peerId.toString())).toBe(true)
  })

  it('a replayed result loses to the node the job was re-dispatched to, and is recorded in the job log', async () => {
    const c = await coordinator()
    const late = await agent(c)
    const g = gate()
    late.jobs.registerExecutor('maintenance', async () => {
      await g.opened
      return { pruned: 1 }
    })
    const acked = withLimit(late.jobs.events.next('job-accepted'), 'job accepted')
    await enqueue(c, 'd2')
    await acked
    await cut(late)
    await eventually(() => c.jobLink.active === 0, 'job stream gone at the coordinator')

    // The lease lapses while the node is away (a sweep at a time past it), and the job goes to
    // another node under a new lease, which finishes it. That node need not run: the store is told.
    const { token } = await issueEnrolmentToken(
      c.store,
      { tenant: 'acme', site: 'dc1', role: 'appliance' },
      Date.now(),
    )
    const successorId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await c.store.redeemEnrolmentToken(token, successorId, 'appliance', Date.now())
    const swept = await c.store.expireLeases(Date.now() + 3_600_000)
    expect(swept.expired.map((e) => e.job.id)).toEqual(['d2'])
    const retryAt = swept.expired[0]!.job.notBefore!
    const offered = await c.store.offerJob('acme', 'd2', successorId, retryAt)
    await c.store.acknowledgeJob('acme', 'd2', successorId, offered.lease!.id, retryAt + 1)
    await c.store.completeJob('acme', 'd2', offered.lease!.id, retryAt + 2, { pruned: 2 })

    const finished = withLimit(late.jobs.events.next('job-finished'), 'late job finished')
    g.open()
    expect(await finished).toMatchObject({ jobId: 'd2', ok: true })
    late.client.start()
    await eventually(
      async () =>
        (await c.store.listJobLog('acme', 'd2', { limit: 100 })).some((e) => e.step === 'reconcile'),
      'late result logged',
    )
    const job = await c.store.getJob('acme', 'd2')
    expect(job).toMatchObject({ state: 'succeeded', result: { pruned: 2 } })
    const log = await c.store.listJobLog('acme', 'd2', { limit: 100 })
    const reconcile = log.filter((e) => e.step === 'reconcile')
    expect(reconcile).toHaveLength(1)
    expect(reconcile[0]).toMatchObject({
      level: 'warn',
      nodeId: late.node.peerId.toString(),
      error: { code: 'JOB_LEASE_LOST' },
    })
  })
})
