// The offers of one dispatch pass are in flight together (store change and send), at most
// maxOffersInFlight at once, still in queue order, each counted against its node before it is made;
// an offer the queue refuses (taken meanwhile) is forgotten again.
import { describe, expect, it } from 'vitest'
import type { DispatchNode, OfferRequest } from '../../../coordinator/dispatch/dispatch-ports.js'
import { createDispatcher } from '../../../coordinator/dispatch/dispatcher.js'
import { FakeDispatchQueue } from './fake-dispatch-queue.js'

const T0 = 10_000_000

function node(nodeId: string): DispatchNode {
  return {
    nodeId,
    tenantId: 't1',
    siteId: 's1',
    role: 'appliance',
    online: true,
    load: { activeJobs: 0, cpu: 0.1, receivedAt: T0 - 1_000, intervalMs: 5_000 },
  }
}

/** A queue whose offerJob takes a few event-loop turns, counting how many are in flight at once. */
class SlowOfferQueue extends FakeDispatchQueue {
  inFlight = 0
  mostInFlight = 0
  readonly started: string[] = []

  override async offerJob(request: OfferRequest) {
    this.started.push(request.jobId)
    this.inFlight++
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight)
    try {
      await new Promise((resolve) => setImmediate(resolve))
      return await super.offerJob(request)
    } finally {
      this.inFlight--
    }
  }
}

function setup(maxOffersInFlight: number, nodeCount: number) {
  const queue = new SlowOfferQueue()
  const nodes = Array.from({ length: nodeCount }, (_, n) => node(`n${n}`))
  const sent: string[] = []
  const dispatcher = createDispatcher(
    { maxOffersInFlight, maxActiveJobs: 100 },
    {
      queue,
      nodes: { nodesOfSite: () => nodes },
      clock: { now: () => T0 },
      offer: async (nodeId, offer) => {
        sent.push(`${offer.jobId}@${nodeId}`)
      },
    },
  )
  return { queue, dispatcher, sent }
}

describe('dispatcher: offers in flight together', () => {
  it('makes a pass’s offers concurrently, bounded, in queue order, spread as if one by one', async () => {
    const { queue, dispatcher, sent } = setup(4, 3)
    for (let n = 0; n < 12; n++) queue.add(`j${String(n).padStart(2, '0')}`, T0 - 100)
    const report = await dispatcher.dispatch(T0)
    expect(report).toMatchObject({ offered: 12, raced: 0, errors: 0 })
    expect(queue.mostInFlight).toBe(4)
    expect(queue.started).toEqual(queue.jobs.map((j) => j.jobId))
    // Each offer was counted against its node before the next job was placed: round robin.
    const perNode = new Map<string, number>()
    for (const s of sent) perNode.set(s.split('@')[1], (perNode.get(s.split('@')[1]) ?? 0) + 1)
    expect([...perNode.values()]).toEqual([4, 4, 4])
    expect(dispatcher.latency().count).toBe(12)
  })

  it('forgets an offer the queue refused, so the node has room for the next job again', async () => {
    const queue = new SlowOfferQueue()
    const only = node('n0')
    const sent: string[] = []
    const dispatcher = createDispatcher(
      { maxActiveJobs: 1 },
      {
        queue,
        nodes: { nodesOfSite: () => [only] },
        clock: { now: () => T0 },
        offer: async (nodeId, offer) => {
          sent.push(`${offer.jobId}@${nodeId}`)
        },
      },
    )
    queue.add('a', T0 - 100)
    queue.add('b', T0 - 100)
    queue.takenElsewhere.add('a')
    // While a's offer is in flight it counts against the node's one slot, so b waits this pass.
    expect(await dispatcher.dispatch(T0)).toMatchObject({ offered: 0, raced: 1, waiting: 1 })
    // a was refused (its taker has it now) and forgotten: the slot is free for b at the next pass.
    queue.get('a').state = 'running'
    expect(await dispatcher.dispatch(T0)).toMatchObject({ offered: 1, raced: 0, waiting: 0 })
    expect(sent).toEqual(['b@n0'])
  })
})
