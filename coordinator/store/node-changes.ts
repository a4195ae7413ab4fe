/**
 * How a node record changes when the coordinator sees the node or its connection state changes:
 * pure functions every backend applies between reading and writing the record, so that all backends
 * agree on the result.
 *
 * *Seen* means the coordinator heard from the node at a time; `lastSeenAt` keeps the latest such time
 * and never moves backwards, because reports can arrive out of order (a heartbeat queued behind a
 * reconnection). A *status change* is `online` ⇄ `offline`; setting the current status is no change.
 */
import type { Node, NodeStatus, Timestamp } from './metadata-store.js'

/** The node after being seen at `now`, reporting `softwareVersion` when given. */
export function nodeSeen(node: Node, now: Timestamp, softwareVersion?: string): Node {
  const next: Node = { ...node }
  if (next.lastSeenAt === undefined || now > next.lastSeenAt) next.lastSeenAt = now
  if (softwareVersion !== undefined) next.softwareVersion = softwareVersion
  return next
}

/** The node after its status is set at `now`; going online also counts as being seen. */
export function nodeWithStatus(node: Node, status: NodeStatus, now: Timestamp): Node {
  const next: Node = status === 'online' ? nodeSeen(node, now) : { ...node }
  if (next.status !== status) {
    next.status = status
    next.statusChangedAt = now
  }
  return next
}
