// A node that loses the coordinator mid-job: the executor keeps running, its updates wait in the
// status queue on the node's disk, and the replay after the reconnect delivers them
// (docs/PROTOCOL.md §4, docs/RECONCILIATION.md). Loopback, a level store in a temp dir; the
// connection is cut by stopping the agent's control client, and restored by starting it again.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import type { Agent } from '../../agent/control/index.js'
import { startAgent } from '../../agent/control/index.js'
import { type Coordinator, startCoordinator } from '../../coordinator/control/coordinator-runtime.js'
import { issueEnrolmentToken } from '../../coordinator/control/index.js'
import { Cleanup, eventually, LOOPBACK, withLimit } from '../control/helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

async function coordinator(): Promise<Coordinator> {
  const c = await startCoordinator(
    {
      dataDir: await cleanup.tempDir('lifeboat-disconnected-'),
      listen: [LOOPBACK],
      enrolListen: [LOOPBACK],
      // A lease long enough that it holds while the node is away, unless the test moves the clock.
      jobs: { dispatchIntervalMs: 50, ackDeadlineMs: 1_000, leaseTtlMs: 60_000, exclusionGraceMs: 600_000 },
    },
    {},
  )
  cleanup.add(() => c.stop())
  return c
}

async function agent(c: Coordinator): Promise<Agent> {
  const { token } = await issueEnrolmentToken(
    c.store,
    { tenant: 'acme', site: 'dc1', role: 'appliance' },
    Date.now(),
  )
  const a = await startAgent({
    dataDir: await cleanup.tempDir('lifeboat-disconnected-agent-'),
    coordinator: c.server.addresses()[0]!,
    enrolAddress: c.server.enrolAddresses()[0]!,
    role: 'appliance',
    token,
    heartbeatIntervalMs: 100,
    baseDelayMs: 50,
    maxDelayMs: 500,
  })
  cleanup.add(() => a.stop())
  await eventually(() => c.server.loadOf(a.node.peerId.toString()) !== undefined, 'first heartbeat')
  return a
}

function gate(): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  cleanup.add(async () => open())
  return { opened, open }
}

/** Cuts the node off: no reconnecting until the client is started again, and the connection dropped. */
async function cut(a: Agent): Promise<void> {
  await a.client.stop()
  for (const connection of a.node.getConnections()) connection.abort(new Error('cut off by the test'))
}

async function enqueue(c: Coordinator, id: string): Promise<void> {
  const result = await c.store.enqueueJob(
    'acme',
    { id, type: 'maintenance', siteId: 'dc1', role: 'appliance', payload: { task: 'prune', tenant: 'acme' } },
    Date.now(),
  )
  expect(result.enqueued).toBe(true)
  c.dispatcher.poke()
}

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
    expect(log.map((e) => e.step)).toEqual(['before', 'after', 'prune'])
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
