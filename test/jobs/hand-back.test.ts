// Hand-backs end to end on loopback: an agent that stops hands its running jobs back, and an
// overloaded agent hands a job it has not started back when a site peer has room (SITE_LOAD relayed
// by the coordinator). Either way the job is re-offered at once — the leases here are 60 s, so
// nothing below can be a lease lapsing (docs/SCHEDULING.md §9, §10).
import { afterEach, describe, expect, it } from 'vitest'
import type { JobExecutor } from '../../agent/jobs/index.js'
import { Cleanup, eventually, withLimit } from '../control/helpers.js'
import { enqueueMaintenance, nextEvent, startJobAgent, startJobCoordinator, TENANT } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

/** Runs until its signal is aborted, reporting no progress: a job not yet started. */
const waitForAbort: JobExecutor = async (_job, ctx) => {
  await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))
  throw ctx.signal.reason
}

describe('hand-back', () => {
  it('an agent that stops hands its running job back, and another node runs it at once', async () => {
    const c = await startJobCoordinator(cleanup, { leaseTtlMs: 60_000 })
    const leaving = await startJobAgent(cleanup, c)
    leaving.jobs.registerExecutor('maintenance', waitForAbort)
    const acked = nextEvent(c, 'acknowledged', (e) => e.jobId === 'h1')
    await enqueueMaintenance(c, 'h1')
    expect((await acked).nodeId).toBe(leaving.node.peerId.toString())

    const staying = await startJobAgent(cleanup, c, {
      executors: { maintenance: async () => ({ pruned: 1 }) },
    })
    const handedBack = withLimit(leaving.jobs.events.next('job-handed-back'), 'job handed back')
    const requeued = nextEvent(c, 'queued', (e) => e.jobId === 'h1')
    const done = nextEvent(c, 'succeeded', (e) => e.jobId === 'h1')
    const stoppedAt = Date.now()
    await leaving.stop()
    expect(await handedBack).toMatchObject({ jobId: 'h1', code: 'AGENT_JOB_SHUTTING_DOWN' })
    expect((await requeued).source).toBe('handback')
    expect((await done).nodeId).toBe(staying.node.peerId.toString())
    // Well within the 60 s lease: the hand-back, not an expiry, brought the job back.
    expect(Date.now() - stoppedAt).toBeLessThan(10_000)
    const job = await c.store.getJob(TENANT, 'h1')
    expect(job).toMatchObject({ state: 'succeeded', excludedNodes: [leaving.node.peerId.toString()] })
    // The hand-back did not count as a failed attempt.
    expect(job?.attempt).toBe(1)
  })

  it('an overloaded agent hands a job not yet started back when a site peer has room', async () => {
    const c = await startJobCoordinator(cleanup, { leaseTtlMs: 60_000 })
    const busy = await startJobAgent(cleanup, c, { maxJobs: 2, loadSharing: { maxCpu: 1, cooldownMs: 0 } })
    busy.jobs.registerExecutor('maintenance', waitForAbort)
    const busyId = busy.node.peerId.toString()
    for (const id of ['s1', 's2']) {
      const acked = nextEvent(c, 'acknowledged', (e) => e.jobId === id)
      await enqueueMaintenance(c, id)
      expect((await acked).nodeId).toBe(busyId)
    }
    // The limit drops below what runs: overloaded, but with no peer in the site nothing moves.
    busy.jobs.setMaxJobs(1)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(busy.jobs.activeJobs).toBe(2)
    expect(busy.loadSharing?.handedBack).toBe(0)

    // An idle node joins the site: its load reaches the busy node, which gives one job back.
    const handingBack = withLimit(busy.jobs.events.next('job-handed-back'), 'job handed back')
    const succeeded = nextEvent(c, 'succeeded')
    const idle = await startJobAgent(cleanup, c, {
      maxJobs: 4,
      executors: { maintenance: async () => ({ pruned: 2 }) },
    })
    const handedBack = await handingBack
    expect(handedBack.code).toBe('AGENT_JOB_REBALANCED')
    const moved = handedBack.jobId
    const done = await succeeded
    expect(done).toMatchObject({ jobId: moved, nodeId: idle.node.peerId.toString() })
    expect(busy.loadSharing?.peers.has(idle.node.peerId.toString())).toBe(true)
    expect(c.server.siteLoadsRelayed).toBeGreaterThan(0)
    // One job only: the other keeps running on the busy node.
    const kept = moved === 's1' ? 's2' : 's1'
    await eventually(() => busy.jobs.activeJobs === 1, 'one job left on the busy node')
    expect(busy.jobs.runningJobs().map((j) => j.jobId)).toEqual([kept])
    expect((await c.store.getJob(TENANT, kept))?.lease?.nodeId).toBe(busyId)
    expect(busy.loadSharing?.handedBack).toBe(1)
  })
})
