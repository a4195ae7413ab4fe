// Jobs end to end on loopback: a coordinator over a level store in a temp dir, agents with job
// runners, short deadlines. Asserts what happened (states, events, logs), not how long it took.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import type { Agent } from '../../agent/control/index.js'
import type { Coordinator } from '../../coordinator/control/coordinator-runtime.js'
import { issueEnrolmentToken } from '../../coordinator/control/index.js'
import { CONTROL_PROTOCOL_ID } from '../../protocol/index.js'
import { ControlChannel } from '../../transport/message-channel.js'
import { Cleanup, eventually, withLimit } from '../control/helpers.js'
import { enqueueMaintenance, nextEvent, startJobAgent, startJobCoordinator } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const coordinator = (): Promise<Coordinator> => startJobCoordinator(cleanup)
const agent = (c: Coordinator, site?: string, maxJobs?: number): Promise<Agent> =>
  startJobAgent(cleanup, c, { site, ...(maxJobs === undefined ? {} : { maxJobs }) })
const next = nextEvent
const maintenanceJob = (c: Coordinator, id: string, maxAttempts?: number): Promise<void> =>
  enqueueMaintenance(c, id, { maxAttempts })

describe('jobs end to end', () => {
  it('runs a scheduled replication cycle: enqueued, offered, acked, lease renewed, succeeded, logged', async () => {
    const c = await coordinator()
    const a = await agent(c)
    // The connector the cycle copies to: enrolled in the target site (it need not be running).
    const { token } = await issueEnrolmentToken(
      c.store,
      { tenant: 'acme', site: 'dc2', role: 'connector' },
      Date.now(),
    )
    const connectorId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await c.store.redeemEnrolmentToken(token, connectorId, 'connector', Date.now())
    const now = Date.now()
    await c.store.createProtectedVm(
      'acme',
      { id: 'vm1', name: 'vm1', siteId: 'dc1', volumes: [{ id: 'vol1', size: 1 << 20, blockSize: 65_536 }] },
      now,
    )
    await c.store.createPlan(
      'acme',
      {
        id: 'p1',
        name: 'p1',
        groups: [{ vmIds: ['vm1'] }],
        schedule: { kind: 'interval', everyMs: 3_600_000 },
        job: { type: 'replication-cycle' },
        retention: { count: 3, preservedTags: [] },
        sourceSiteId: 'dc1',
        targetSiteId: 'dc2',
        enabled: true,
      },
      now,
    )
    let offeredVolumes: unknown
    a.jobs.registerExecutor('replication-cycle', async (job, ctx) => {
      offeredVolumes = job.payload
      ctx.log('info', 'start', 'copying')
      await withLimit(a.jobs.events.next('lease-renewed'), 'a renewal')
      ctx.progress('copy', 512, 50, 1024)
      return { bytesSent: 1024 }
    })
    const succeeded = next(c, 'succeeded')
    const acknowledged = next(c, 'acknowledged')
    const report = await c.scheduler.evaluate(Date.now())
    expect(report.enqueued + report.completed).toBeGreaterThanOrEqual(1)
    const done = await succeeded
    expect((await acknowledged).jobId).toBe(done.jobId)
    expect(done.jobId).toContain('vm1')
    expect(done.nodeId).toBe(a.node.peerId.toString())
    const job = await c.store.getJob('acme', done.jobId)
    expect(job).toMatchObject({ state: 'succeeded', result: { bytesSent: 1024 } })
    expect(offeredVolumes).toMatchObject({ vmId: 'vm1', connector: { nodeId: connectorId } })
    // PROGRESS is shown latest-wins while the job runs, not logged; LOG_ENTRY is logged.
    const log = await c.store.listJobLog('acme', done.jobId, { limit: 100 })
    expect(log.map((e) => e.step)).toEqual(['start'])
    expect(log.every((e) => e.nodeId === a.node.peerId.toString())).toBe(true)
  })

  it('an agent without an executor declines, and the job goes to another node', async () => {
    const c = await coordinator()
    const first = await agent(c)
    const declined = withLimit(first.jobs.events.next('job-declined'), 'decline')
    await maintenanceJob(c, 'm1')
    expect((await declined).code).toBe('AGENT_JOB_TYPE_UNSUPPORTED')
    const second = await agent(c)
    second.jobs.registerExecutor('maintenance', async () => ({ pruned: 0 }))
    const done = await next(c, 'succeeded', (e) => e.jobId === 'm1')
    expect(done.nodeId).toBe(second.node.peerId.toString())
  })

  it('an offer not acknowledged in time goes to a different node', async () => {
    const c = await coordinator()
    const silent = await agent(c)
    // This node answers the HELLO and then never the offer.
    await silent.jobs.stop()
    const held: ControlChannel[] = []
    await silent.client.handle(CONTROL_PROTOCOL_ID, async (stream) => {
      const channel = new ControlChannel(stream)
      held.push(channel)
      const hello = await channel.receiveHello()
      await channel.send({ ...hello!, nodeId: silent.node.peerId.toString(), role: 'appliance' })
    })
    const retried = next(c, 'retried', (e) => e.jobId === 'm2')
    await maintenanceJob(c, 'm2')
    expect((await retried).reason.code).toBe('DISPATCH_ACK_TIMEOUT')
    const good = await agent(c)
    good.jobs.registerExecutor('maintenance', async () => ({ pruned: 1 }))
    const done = await next(c, 'succeeded', (e) => e.jobId === 'm2')
    expect(done.nodeId).toBe(good.node.peerId.toString())
    expect(done.nodeId).not.toBe(silent.node.peerId.toString())
  })

  it('a lease the coordinator expired is lost: the agent is told JOB_LEASE_LOST and stops', async () => {
    const c = await coordinator()
    const a = await agent(c)
    let stoppedWith: unknown
    a.jobs.registerExecutor('maintenance', async (_job, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()))
      stoppedWith = ctx.signal.reason
      throw ctx.signal.reason
    })
    const acked = next(c, 'acknowledged', (e) => e.jobId === 'm3')
    await maintenanceJob(c, 'm3')
    await acked
    const lost = withLimit(a.jobs.events.next('lease-lost'), 'lease lost')
    // The sweep at a time past the lease: the job is taken back (retried after its backoff).
    const swept = await c.store.expireLeases(Date.now() + 3_600_000)
    expect(swept.expired.map((e) => e.job.id)).toEqual(['m3'])
    expect((await lost).jobId).toBe('m3')
    await eventually(() => stoppedWith !== undefined, 'executor stopped')
    expect((stoppedWith as { code: string }).code).toBe('AGENT_JOB_LEASE_LOST')
    expect((await c.store.getJob('acme', 'm3'))?.state).toBe('queued')
  })

  it('dispatch prefers the idle node of two', async () => {
    const c = await coordinator()
    const a = await agent(c)
    const b = await agent(c)
    let release: (() => void) | undefined
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    cleanup.add(() => release?.())
    for (const x of [a, b])
      x.jobs.registerExecutor('maintenance', async () => {
        await gate
        return { ok: true }
      })
    const firstAck = next(c, 'acknowledged', (e) => e.jobId === 'busy')
    await maintenanceJob(c, 'busy')
    const busyNode = (await firstAck).nodeId
    const busy = [a, b].find((x) => x.node.peerId.toString() === busyNode)!
    await eventually(() => c.server.loadOf(busyNode)?.load.activeJobs === 1, 'busy node reports its job')
    const secondAck = next(c, 'acknowledged', (e) => e.jobId === 'next')
    await maintenanceJob(c, 'next')
    expect((await secondAck).nodeId).not.toBe(busy.node.peerId.toString())
    release!()
  })
})
