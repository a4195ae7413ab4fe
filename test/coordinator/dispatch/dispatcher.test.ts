// The dispatcher's pass: offers in queue order to the selected node, spreads a burst, re-queues on a
// failed send, re-offers after the ack deadline, hand-backs, exclusion grace, latency.
import { describe, expect, it } from 'vitest'
import type { DispatchNode, JobOfferBody } from '../../../coordinator/dispatch/dispatch-ports.js'
import { createDispatcher, type DispatcherInit } from '../../../coordinator/dispatch/dispatcher.js'
import {
  createLifecycleEvents,
  type LifecycleEventMap,
  type LifecycleEventType,
} from '../../../coordinator/events/lifecycle-events.js'
import { recordingLogger } from '../events/recording-logger.js'
import { FakeDispatchQueue } from './fake-dispatch-queue.js'

const T0 = 10_000_000

function node(nodeId: string, load: Partial<NonNullable<DispatchNode['load']>> = {}): DispatchNode {
  return {
    nodeId,
    tenantId: 't1',
    siteId: 's1',
    role: 'appliance',
    online: true,
    load: { activeJobs: 0, cpu: 0.1, receivedAt: T0 - 1_000, intervalMs: 5_000, ...load },
  }
}

/** Every node reports again at `at` (its load otherwise goes stale after three 5 s intervals). */
function heartbeat(nodes: DispatchNode[], at: number): void {
  for (const n of nodes) if (n.load !== undefined) n.load.receivedAt = at
}

function setup(nodes: DispatchNode[], init: DispatcherInit = {}) {
  const queue = new FakeDispatchQueue()
  const clock = { t: T0, now: () => clock.t }
  const sent: Array<{ nodeId: string; offer: JobOfferBody }> = []
  const failingNodes = new Set<string>()
  const events = createLifecycleEvents()
  const seen: Array<{ type: LifecycleEventType; payload: unknown }> = []
  for (const type of ['queued', 'offered', 'retried', 'failed'] as const) {
    events.on(type, (payload: LifecycleEventMap[typeof type]) => {
      seen.push({ type, payload })
    })
  }
  const log = recordingLogger()
  const view = {
    nodes,
    nodesOfSite: (tenantId: string, siteId: string) =>
      view.nodes.filter((n) => n.tenantId === tenantId && n.siteId === siteId),
  }
  const dispatcher = createDispatcher(init, {
    queue,
    nodes: view,
    clock,
    events,
    log,
    offer: async (nodeId, offer) => {
      if (failingNodes.has(nodeId))
        throw Object.assign(new Error('link closed'), { code: 'TRANSPORT_PEER_GONE', remediation: '' })
      sent.push({ nodeId, offer })
    },
  })
  const events_ = (type: LifecycleEventType) => seen.filter((e) => e.type === type).map((e) => e.payload)
  return { queue, clock, sent, failingNodes, dispatcher, log, view, events: events_ }
}

describe('dispatcher pass', () => {
  it('offers queued jobs in queue order with the JOB_OFFER fields, skipping jobs not yet due', async () => {
    const { queue, sent, dispatcher, events } = setup([node('a', { cpu: 0.1 })])
    queue.add('j2', T0 - 200)
    queue.add('later', T0 - 300, { notBefore: T0 + 5_000 })
    queue.add('j1', T0 - 400)
    queue.add('j3', T0 - 100)

    const report = await dispatcher.dispatch(T0)
    expect(report).toMatchObject({ offered: 3, offerFailed: 0, waiting: 0 })
    expect(sent.map((s) => s.offer.jobId)).toEqual(['j1', 'j2', 'j3'])
    expect(sent[0].offer).toMatchObject({
      jobType: 'maintenance',
      ackDeadlineMs: 60_000,
      attempt: 1,
      payload: { task: 'prune' },
    })
    expect(queue.offers.every((o) => o.ackDeadlineMs === 60_000 && o.nodeId === 'a')).toBe(true)
    expect(events('offered')).toHaveLength(3)
    expect(queue.get('later').state).toBe('queued')

    const after = await dispatcher.dispatch(T0 + 5_000)
    expect(after.offered).toBe(1)
    expect(sent.at(-1)?.offer.jobId).toBe('later')
  })

  it('spreads a burst across equal nodes before their next heartbeat', async () => {
    const { queue, sent, dispatcher } = setup([node('a'), node('b'), node('c', { cpu: 0.95 })])
    for (let i = 0; i < 6; i++) queue.add(`j${i}`, T0 - 100 + i)
    await dispatcher.dispatch(T0)
    const perNode = sent.reduce<Record<string, number>>((acc, s) => {
      acc[s.nodeId] = (acc[s.nodeId] ?? 0) + 1
      return acc
    }, {})
    expect(perNode).toEqual({ a: 3, b: 3 })
  })

  it('stops offering to a node at its cap and leaves the rest queued, saying why once', async () => {
    const { queue, sent, dispatcher, log } = setup([node('a')], { maxActiveJobs: 2 })
    for (let i = 0; i < 4; i++) queue.add(`j${i}`, T0 - 100 + i)
    const report = await dispatcher.dispatch(T0)
    expect(report).toMatchObject({ offered: 2, waiting: 2 })
    expect(sent.map((s) => s.offer.jobId)).toEqual(['j0', 'j1'])
    const waits = log.find('job-waiting', 'info')
    expect(waits).toHaveLength(2)
    expect(waits[0].fields).toMatchObject({ jobId: 'j2', code: 'DISPATCH_NO_ELIGIBLE_NODE' })
    expect(waits[0].message).toContain('1 overloaded (a)')
    // Same reason next pass: not logged again.
    await dispatcher.dispatch(T0 + 1_000)
    expect(log.find('job-waiting', 'info')).toHaveLength(2)
  })

  it('returns a job whose offer could not be sent to the queue, and offers it to another node next', async () => {
    const { queue, sent, failingNodes, dispatcher, events, log } = setup([node('a'), node('b', { cpu: 0.5 })])
    failingNodes.add('a')
    queue.add('j1', T0 - 100)

    const first = await dispatcher.dispatch(T0)
    expect(first).toMatchObject({ offered: 0, offerFailed: 1 })
    expect(queue.returns).toEqual([
      expect.objectContaining({
        jobId: 'j1',
        nodeId: 'a',
        cause: 'offer-failed',
        reason: expect.objectContaining({ code: 'DISPATCH_OFFER_FAILED', retryable: true }),
      }),
    ])
    expect(queue.get('j1')).toMatchObject({ state: 'queued', excludedNodes: ['a'] })
    expect(events('queued')).toEqual([expect.objectContaining({ jobId: 'j1', source: 'offer-failed' })])
    expect(log.find('offer-failed', 'warn')[0].fields).toMatchObject({
      code: 'DISPATCH_OFFER_FAILED',
      cause: 'TRANSPORT_PEER_GONE',
    })

    const second = await dispatcher.dispatch(T0 + 1_000)
    expect(second.offered).toBe(1)
    expect(sent).toEqual([expect.objectContaining({ nodeId: 'b' })])
  })

  it('re-offers a job not acknowledged within 60 s to another node', async () => {
    const { queue, sent, dispatcher, clock, events, view } = setup([node('a'), node('b', { cpu: 0.5 })])
    queue.add('j1', T0)
    await dispatcher.dispatch(T0)
    expect(sent.map((s) => s.nodeId)).toEqual(['a'])

    expect((await dispatcher.dispatch(T0 + 59_999)).expired).toBe(0)
    clock.t = T0 + 60_000
    heartbeat(view.nodes, T0 + 59_000)
    const report = await dispatcher.dispatch(T0 + 60_000)
    expect(report).toMatchObject({ expired: 1, offered: 1 })
    expect(sent.map((s) => s.nodeId)).toEqual(['a', 'b'])
    expect(events('retried')).toEqual([
      expect.objectContaining({
        jobId: 'j1',
        nodeId: 'a',
        reason: expect.objectContaining({ code: 'DISPATCH_ACK_TIMEOUT' }),
      }),
    ])
  })

  it('gives a job whose exclusions leave no node to an excluded node once the grace period is over', async () => {
    const { queue, sent, dispatcher, view } = setup([node('only')], { exclusionGraceMs: 30_000 })
    queue.add('j1', T0, { excludedNodes: ['only'] })
    heartbeat(view.nodes, T0 + 29_000)
    expect((await dispatcher.dispatch(T0 + 29_999)).waiting).toBe(1)
    expect((await dispatcher.dispatch(T0 + 30_000)).offered).toBe(1)
    expect(sent.map((s) => s.nodeId)).toEqual(['only'])
  })

  it('hands a job back to the queue for another node; a stale lease changes nothing', async () => {
    const { queue, dispatcher, events, sent } = setup([node('a'), node('b', { cpu: 0.5 })])
    queue.add('j1', T0)
    await dispatcher.dispatch(T0)
    const leaseId = sent[0].offer.leaseId
    queue.acknowledge('j1')

    const reason = { code: 'AGENT_OVERLOADED', message: 'too busy', remediation: 'wait', retryable: true }
    expect(await dispatcher.handBack({ tenantId: 't1', nodeId: 'a', jobId: 'j1', leaseId, reason })).toBe(
      true,
    )
    expect(queue.returns.at(-1)).toMatchObject({ cause: 'handback', reason })
    expect(queue.get('j1')).toMatchObject({ state: 'queued', excludedNodes: ['a'] })
    expect(events('queued')).toEqual([expect.objectContaining({ jobId: 'j1', source: 'handback' })])
    expect(await dispatcher.handBack({ tenantId: 't1', nodeId: 'a', jobId: 'j1', leaseId, reason })).toBe(
      false,
    )

    await dispatcher.dispatch(T0 + 1_000)
    expect(sent.map((s) => s.nodeId)).toEqual(['a', 'b'])
  })

  it('records dispatch latency from the job being ready to its offer being sent', async () => {
    const { queue, dispatcher, clock, events } = setup([node('a')])
    queue.add('j1', T0 - 250)
    queue.add('j2', T0 - 1_000, { notBefore: T0 - 40 })
    queue.add('j3', T0 - 100)
    clock.t = T0
    await dispatcher.dispatch(T0)
    const latency = dispatcher.latency()
    expect(latency.count).toBe(3)
    expect(latency.min).toBe(40)
    expect(latency.max).toBe(250)
    // Buckets are 10 % wide.
    expect(latency.p50).toBeGreaterThanOrEqual(100)
    expect(latency.p50).toBeLessThanOrEqual(110)
    expect(latency.p99).toBe(250)
    expect(events('offered').map((e) => (e as { latencyMs: number }).latencyMs)).toEqual([40, 250, 100])
  })

  it('counts a job taken by someone else between read and offer as raced, not offered', async () => {
    const { queue, dispatcher, sent } = setup([node('a')])
    queue.add('j1', T0)
    queue.takenElsewhere.add('j1')
    expect(await dispatcher.dispatch(T0)).toMatchObject({ raced: 1, offered: 0 })
    expect(sent).toEqual([])
  })

  it('a pass while another runs is skipped', async () => {
    const { queue, dispatcher } = setup([node('a')])
    queue.add('j1', T0)
    const first = dispatcher.dispatch(T0)
    expect((await dispatcher.dispatch(T0)).skipped).toBe(true)
    expect((await first).offered).toBe(1)
  })

  it('a failing node view or queue is logged with its code and the pass goes on', async () => {
    const { queue, dispatcher, log, view } = setup([node('a')])
    queue.add('j1', T0)
    queue.add('j2', T0 + 1, { siteId: 's2' })
    const nodesOfSite = view.nodesOfSite
    view.nodesOfSite = (tenantId: string, siteId: string) => {
      if (siteId === 's2')
        throw Object.assign(new Error('view broken'), { code: 'STORE_IO_FAILED', remediation: '' })
      return nodesOfSite(tenantId, siteId)
    }
    expect(await dispatcher.dispatch(T0 + 10)).toMatchObject({ offered: 1, errors: 1 })
    expect(log.find('dispatch-failed', 'error')[0].fields).toMatchObject({
      jobId: 'j2',
      code: 'STORE_IO_FAILED',
    })

    queue.expireLeases = async () => {
      throw new Error('expiry broken')
    }
    expect((await dispatcher.dispatch(T0 + 20)).errors).toBeGreaterThanOrEqual(1)
    expect(log.find('lease-expiry-failed', 'error')).toHaveLength(1)
  })

  it('refuses out-of-range options, naming them', () => {
    const components = {
      queue: new FakeDispatchQueue(),
      nodes: { nodesOfSite: () => [] },
      offer: async () => undefined,
    }
    for (const [name, value] of [
      ['ackDeadlineMs', 999],
      ['intervalMs', 0],
      ['maxCpu', 1.5],
      ['batchSize', 0],
      ['maxActiveJobs', 0],
    ] as const) {
      expect(() => createDispatcher({ [name]: value }, components)).toThrow(
        expect.objectContaining({ code: 'DISPATCH_INVALID_OPTION', message: expect.stringContaining(name) }),
      )
    }
  })
})
