// The node load board: a DispatchNodeView kept from node-online, node-offline and site-load events;
// and the offer ledger that selection reads alongside it.
import { describe, expect, it } from 'vitest'
import { createNodeLoadBoard } from '../../../coordinator/dispatch/node-load-board.js'
import { OfferLedger } from '../../../coordinator/dispatch/offer-ledger.js'
import { createLifecycleEvents } from '../../../coordinator/events/lifecycle-events.js'

const identity = { tenantId: 't1', siteId: 's1', role: 'appliance' as const }

describe('node load board', () => {
  it('follows presence and load events per tenant and site', () => {
    const events = createLifecycleEvents()
    const board = createNodeLoadBoard({ events })
    events.emit('node-online', { nodeId: 'a', ...identity, at: 1 })
    events.emit('site-load', {
      nodeId: 'a',
      ...identity,
      load: { activeJobs: 2, cpu: 0.4, maxJobs: 4 },
      intervalMs: 5_000,
      at: 10,
    })
    events.emit('site-load', {
      nodeId: 'b',
      ...identity,
      load: { activeJobs: 0, cpu: 0.1 },
      intervalMs: 5_000,
      at: 11,
    })
    events.emit('node-online', { nodeId: 'x', tenantId: 't2', siteId: 's1', role: 'appliance', at: 1 })

    expect(board.nodesOfSite('t1', 's1')).toEqual([
      {
        nodeId: 'a',
        ...identity,
        online: true,
        load: { activeJobs: 2, maxJobs: 4, cpu: 0.4, receivedAt: 10, intervalMs: 5_000 },
      },
      {
        nodeId: 'b',
        ...identity,
        online: true,
        load: { activeJobs: 0, maxJobs: undefined, cpu: 0.1, receivedAt: 11, intervalMs: 5_000 },
      },
    ])
    expect(board.nodesOfSite('t2', 's1').map((n) => n.nodeId)).toEqual(['x'])
    expect(board.nodesOfSite('t1', 's9')).toEqual([])

    events.emit('node-offline', { nodeId: 'a', ...identity, at: 20 })
    const a = board.nodesOfSite('t1', 's1').find((n) => n.nodeId === 'a')
    expect(a).toMatchObject({ online: false, load: { activeJobs: 2 } })
    // A late heartbeat does not bring an offline node back; node-online does.
    events.emit('site-load', {
      nodeId: 'a',
      ...identity,
      load: { activeJobs: 1, cpu: 0.2 },
      intervalMs: 5_000,
      at: 21,
    })
    expect(board.nodesOfSite('t1', 's1').find((n) => n.nodeId === 'a')?.online).toBe(false)
    events.emit('node-online', { nodeId: 'a', ...identity, at: 22 })
    expect(board.nodesOfSite('t1', 's1').find((n) => n.nodeId === 'a')).toMatchObject({
      online: true,
      load: { activeJobs: 1 },
    })
  })

  it('stops following the bus', () => {
    const events = createLifecycleEvents()
    const board = createNodeLoadBoard({ events })
    board.stop()
    board.stop()
    events.emit('node-online', { nodeId: 'a', ...identity, at: 1 })
    expect(board.nodesOfSite('t1', 's1')).toEqual([])
    expect(events.listenerCount()).toBe(0)
  })
})

describe('offer ledger', () => {
  it('counts offers after a report until a later report or the ack deadline settles them', () => {
    const ledger = new OfferLedger()
    ledger.record('a', 'j1', 100)
    ledger.record('a', 'j2', 200)
    expect(ledger.offersSince('a', 150)).toBe(1)
    expect(ledger.offersSince('a', 0)).toBe(2)
    ledger.settleReported('a', 150)
    expect(ledger.size).toBe(1)
    ledger.forget('a', 'j2')
    expect(ledger.size).toBe(0)
    expect(ledger.lastOfferedAt('a')).toBe(200)

    ledger.record('b', 'j3', 300)
    ledger.forgetOlderThan(301)
    expect(ledger.size).toBe(0)
    // The round-robin memory stays, or sparse jobs would always go to the same node.
    expect(ledger.lastOfferedAt('b')).toBe(300)
  })
})
