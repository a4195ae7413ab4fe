// The coordinator's site-load relay (coordinator/control/site-load-relay.ts): each accepted
// heartbeat goes as SITE_LOAD to the other nodes of the same tenant and site, never to another
// tenant or site, never back to its sender, and never to a node whose session speaks control 1.0.
import { describe, expect, it } from 'vitest'
import { createSiteLoadRelay } from '../../coordinator/control/site-load-relay.js'
import { createLifecycleEvents, type SiteLoadEvent } from '../../coordinator/events/lifecycle-events.js'
import { type ControlMessage, encodeControlMessage, MessageType } from '../../protocol/index.js'
import type { ControlChannel } from '../../transport/message-channel.js'
import { recordingLogger } from '../coordinator/events/recording-logger.js'

function setUp(minors: Record<string, number>) {
  const events = createLifecycleEvents()
  const sent = new Map<string, ControlMessage[]>()
  const relay = createSiteLoadRelay({
    events,
    sessionOf: (nodeId) => {
      if (!(nodeId in minors)) return undefined
      return {
        ended: false,
        send: async (message: ControlMessage) => {
          // What goes on the wire must be a valid control message.
          encodeControlMessage(message)
          sent.set(nodeId, [...(sent.get(nodeId) ?? []), message])
        },
      } as unknown as ControlChannel
    },
    versionOf: (nodeId) => (nodeId in minors ? { major: 1, minor: minors[nodeId]! } : undefined),
    logger: recordingLogger(),
  })
  const beat = (nodeId: string, tenantId = 'acme', siteId = 'dc1', activeJobs = 1): void => {
    const event: SiteLoadEvent = {
      tenantId,
      siteId,
      nodeId,
      role: 'appliance',
      load: { activeJobs, maxJobs: 4, cpu: 0.5 },
      intervalMs: 5_000,
      at: 1,
    }
    events.emit('site-load', event)
  }
  return { events, sent, relay, beat }
}

describe('site-load relay', () => {
  it('relays to site peers of the same tenant, not to the sender, other sites or other tenants', () => {
    const { sent, relay, beat } = setUp({ a: 1, b: 1, c: 1, d: 1 })
    beat('a')
    expect(sent.size).toBe(0)
    beat('b')
    beat('c', 'acme', 'dc2')
    beat('d', 'other', 'dc1')
    beat('a', 'acme', 'dc1', 3)
    expect(sent.get('a')?.map((m) => (m as { nodeId: string }).nodeId)).toEqual(['b'])
    expect(sent.get('b')).toEqual([
      {
        t: MessageType.SITE_LOAD,
        nodeId: 'a',
        role: 'appliance',
        intervalMs: 5_000,
        load: {
          activeJobs: 3,
          maxJobs: 4,
          cpu: 0.5,
          freeMemory: 0,
          sendRate: 0,
          receiveRate: 0,
          queuedUpdates: 0,
        },
      },
    ])
    expect(sent.has('c')).toBe(false)
    expect(sent.has('d')).toBe(false)
    expect(relay.relayed).toBe(2)
  })

  it('sends nothing to a node whose session speaks control 1.0, or that has no session', () => {
    const { sent, beat } = setUp({ old: 0, new: 1 })
    beat('new')
    beat('old')
    beat('gone')
    beat('new')
    expect(sent.has('old')).toBe(false)
    expect(sent.get('new')?.map((m) => (m as { nodeId: string }).nodeId)).toEqual(['old', 'gone'])
  })

  it('forgets a node that went offline, and stops following the bus when stopped', () => {
    const { events, sent, relay, beat } = setUp({ a: 1, b: 1 })
    beat('a')
    beat('b')
    events.emit('node-offline', { nodeId: 'a', tenantId: 'acme', siteId: 'dc1', role: 'appliance', at: 2 })
    beat('b')
    expect(sent.get('a')).toHaveLength(1)
    relay.stop()
    beat('a')
    expect(sent.get('b')).toBeUndefined()
  })
})
