/**
 * The site-load relay: every HEARTBEAT the coordinator accepts (a `site-load` event on its lifecycle
 * bus) is sent as SITE_LOAD to the other nodes of the same tenant and site, on their session
 * streams (docs/PROTOCOL.md §8 SITE_LOAD, docs/SCHEDULING.md §10 "Agents-first load sharing").
 *
 * Words used here:
 * - A site's *members* are the nodes whose heartbeats the relay has seen, by tenant and site; a node
 *   leaves when it goes offline (`node-offline`).
 * - A *peer* of a node is another member of its tenant and site. Tenancy is the coordinator's: a node
 *   never hears of a node of another tenant, whatever site ids they use.
 *
 * SITE_LOAD is a control 1.1 type: a session whose node announced 1.0 gets none. A send that fails
 * (the session just ended) is dropped: the next heartbeat brings a fresh report anyway.
 */
import { MessageType, type SiteLoad } from '../../protocol/index.js'
import type { ControlChannel } from '../../transport/message-channel.js'
import type { LifecycleEvents, SiteLoadEvent } from '../events/lifecycle-events.js'
import type { ControlLogger } from './logger.js'

/** The first control minor that has SITE_LOAD. */
export const SITE_LOAD_MINOR = 1

export interface SiteLoadRelayComponents {
  events: LifecycleEvents
  /** The node's current session, if any. */
  sessionOf(nodeId: string): ControlChannel | undefined
  /** The version negotiated on the node's current session, if any. */
  versionOf(nodeId: string): { major: number; minor: number } | undefined
  logger: ControlLogger
}

export interface SiteLoadRelay {
  /** Relays sent since the start: one per peer per heartbeat. */
  readonly relayed: number
  /** Stops following the bus. */
  stop(): void
}

export function createSiteLoadRelay(components: SiteLoadRelayComponents): SiteLoadRelay {
  const { events, logger } = components
  /** `tenant\0site` → its members. */
  const sites = new Map<string, Set<string>>()
  /** node → its `tenant\0site`. */
  const siteOf = new Map<string, string>()
  let relayed = 0

  const join = (nodeId: string, key: string): Set<string> => {
    const previous = siteOf.get(nodeId)
    if (previous !== undefined && previous !== key) sites.get(previous)?.delete(nodeId)
    siteOf.set(nodeId, key)
    let members = sites.get(key)
    if (members === undefined) {
      members = new Set()
      sites.set(key, members)
    }
    members.add(nodeId)
    return members
  }

  const relay = (event: SiteLoadEvent): void => {
    const members = join(event.nodeId, `${event.tenantId}\u0000${event.siteId}`)
    if (members.size < 2) return
    const message: SiteLoad = {
      t: MessageType.SITE_LOAD,
      nodeId: event.nodeId,
      role: event.role,
      intervalMs: event.intervalMs,
      load: {
        activeJobs: event.load.activeJobs,
        ...(event.load.maxJobs === undefined ? {} : { maxJobs: event.load.maxJobs }),
        cpu: event.load.cpu,
        freeMemory: event.load.freeMemory ?? 0,
        sendRate: event.load.sendRate ?? 0,
        receiveRate: event.load.receiveRate ?? 0,
        queuedUpdates: event.load.queuedUpdates ?? 0,
      },
    }
    for (const peer of members) {
      if (peer === event.nodeId) continue
      const channel = components.sessionOf(peer)
      const version = components.versionOf(peer)
      if (channel === undefined || channel.ended || version === undefined || version.minor < SITE_LOAD_MINOR)
        continue
      relayed++
      channel.send(message).catch((error: unknown) => {
        logger.debug(
          { event: 'site-load-unsent', nodeId: peer, err: error },
          `could not relay the load of ${event.nodeId} to ${peer}`,
        )
      })
    }
  }

  const offs = [
    events.on('site-load', relay),
    events.on('node-offline', (event) => {
      const key = siteOf.get(event.nodeId)
      if (key === undefined) return
      siteOf.delete(event.nodeId)
      const members = sites.get(key)
      members?.delete(event.nodeId)
      if (members?.size === 0) sites.delete(key)
    }),
  ]

  return {
    get relayed() {
      return relayed
    },
    stop() {
      for (const off of offs.splice(0)) off()
    },
  }
}
