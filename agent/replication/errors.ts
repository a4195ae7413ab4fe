/**
 * Errors of replication on a node (docs/ERRORS.md "Replication"): the appliance's cycle executor
 * (its volume map, its per-volume state, reaching the connector) and the connector's check and
 * prune executors. The block link's and the chunk store's own codes pass through unchanged.
 */
import { LifeboatError } from '../../protocol/index.js'

export const ReplicationErrorCode = {
  /** The volume map file is missing, unreadable, or not a valid map. */
  VOLUME_MAP_INVALID: 'AGENT_REPLICATION_VOLUME_MAP_INVALID',
  /** The job names a volume the appliance's volume map does not list. */
  VOLUME_UNKNOWN: 'AGENT_REPLICATION_VOLUME_UNKNOWN',
  /** The replication payload names no connector address the appliance could reach. */
  CONNECTOR_UNREACHABLE: 'AGENT_REPLICATION_CONNECTOR_UNREACHABLE',
  /** The node cannot run this job: it has no chunk store (connector) or no volume map (appliance). */
  NOT_CONFIGURED: 'AGENT_REPLICATION_NOT_CONFIGURED',
  /** A consistency check found blocks that do not match their recovery point. */
  CHECK_FAILED: 'AGENT_REPLICATION_CHECK_FAILED',
} as const

export type ReplicationErrorCode = (typeof ReplicationErrorCode)[keyof typeof ReplicationErrorCode]

export class ReplicationError extends LifeboatError {
  declare readonly code: ReplicationErrorCode

  constructor(
    code: ReplicationErrorCode,
    message: string,
    init: { remediation: string; retryable?: boolean; cause?: unknown },
  ) {
    super(code, message, init)
    this.name = 'ReplicationError'
  }
}
