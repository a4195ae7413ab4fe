/**
 * The node's status queue (status-queue.ts) and the replayer that drains it after a reconnect
 * (status-replayer.ts): what lets a node keep working while the control plane is away and report
 * every result once it is back (docs/PROTOCOL.md §4, docs/RECONCILIATION.md).
 */
export * from './errors.js'
export * from './status-queue.js'
export * from './status-replayer.js'
