/**
 * The node load board: a DispatchNodeView kept in memory from the event bus. `node-online` and
 * `node-offline` set a node's presence; `site-load` (one per accepted heartbeat) its latest load
 * report. The control link emits those three events, so wiring the dispatcher to live nodes is
 * subscribing this board to the bus — no store read per dispatch pass.
 *
 * A node first heard of through `site-load` is taken as online (a heartbeat arrives only on a live
 * session); after that only presence events change `online`. The board holds one entry per node
 * heard of since start, bounded by the enrolled nodes; an offline node keeps its entry so a waiting
 * job can say it is offline.
 */
import type { LifecycleEvents } from '../events/lifecycle-events.js'
import type { DispatchNode, DispatchNodeView } from './dispatch-ports.js'

export interface NodeLoadBoardComponents {
  events: LifecycleEvents
}

export interface NodeLoadBoard extends DispatchNodeView {
  nodesOfSite(tenantId: string, siteId: string): DispatchNode[]
  /** Stops following the bus. Idempotent. */
  stop(): void
}

export function createNodeLoadBoard(components: NodeLoadBoardComponents): NodeLoadBoard {
  const { events } = components
  /** tenant → site → node id → node. */
  const sites = new Map<string, Map<string, DispatchNode>>()
  const siteKey = (tenantId: string, siteId: string): string => `${tenantId}\n${siteId}`

  const upsert = (node: Omit<DispatchNode, 'online' | 'load'>, change: Partial<DispatchNode>): void => {
    const key = siteKey(node.tenantId, node.siteId)
    let nodes = sites.get(key)
    if (nodes === undefined) {
      nodes = new Map()
      sites.set(key, nodes)
    }
    const current = nodes.get(node.nodeId) ?? { ...node, online: true }
    nodes.set(node.nodeId, { ...current, ...node, ...change })
  }

  const unsubscribers = [
    events.on('node-online', (e) => {
      upsert({ nodeId: e.nodeId, tenantId: e.tenantId, siteId: e.siteId, role: e.role }, { online: true })
    }),
    events.on('node-offline', (e) => {
      upsert({ nodeId: e.nodeId, tenantId: e.tenantId, siteId: e.siteId, role: e.role }, { online: false })
    }),
    events.on('site-load', (e) => {
      upsert(
        { nodeId: e.nodeId, tenantId: e.tenantId, siteId: e.siteId, role: e.role },
        {
          load: {
            activeJobs: e.load.activeJobs,
            maxJobs: e.load.maxJobs,
            cpu: e.load.cpu,
            receivedAt: e.at,
            intervalMs: e.intervalMs,
          },
        },
      )
    }),
  ]

  return {
    nodesOfSite(tenantId, siteId) {
      return [...(sites.get(siteKey(tenantId, siteId))?.values() ?? [])]
    },
    stop() {
      for (const unsubscribe of unsubscribers.splice(0)) unsubscribe()
    },
  }
}
