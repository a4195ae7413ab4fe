/**
 * The contract's recovery-point catalogue. Part of `MetadataStore`; imports no implementation.
 *
 * A *recovery point* is a consistent copy of one volume at one time, held by a connector at the
 * target site as a block map (block number → hash) over its chunk store. The connector owns that
 * data; the coordinator keeps only this record of it, so that failover can choose a point and
 * retention can decide which to prune. The *block map digest* (BLAKE3 of the block map, 64 hex
 * characters) identifies the map, so a record and the connector's data can be checked against each
 * other. *Tags* are short labels (`pre-upgrade`, `quarter-end`) that a plan's retention may preserve.
 */
import type { Timestamp } from './metadata-store.js'

export interface NewRecoveryPoint {
  id: string
  vmId: string
  /** A volume of that VM. */
  volumeId: string
  /** When the connector committed the point (its time, not the call's). */
  createdAt: Timestamp
  /** BLAKE3 of the block map: 64 lowercase hex characters. */
  blockMapDigest: string
  /** The volume's size in bytes at this point. */
  size: number
  /** 0 – MAX_TAGS distinct tags; omitted means none. */
  tags?: string[]
}

export interface RecoveryPoint extends NewRecoveryPoint {
  tenantId: string
  tags: string[]
}

export interface RecoveryPointRecords {
  /**
   * Catalogues a recovery point. Adding a record equal to one already there (a replayed commit)
   * returns it; a different record under the same id is STORE_ALREADY_EXISTS. Throws STORE_NOT_FOUND
   * when the VM does not exist or has no such volume.
   */
  addRecoveryPoint(tenantId: string, point: NewRecoveryPoint): Promise<RecoveryPoint>
  getRecoveryPoint(tenantId: string, pointId: string): Promise<RecoveryPoint | undefined>
  /**
   * The VM's recovery points (of one volume when given), ordered by volume id, then oldest first
   * (createdAt), then id: what failover and retention read.
   */
  listRecoveryPoints(tenantId: string, vmId: string, volumeId?: string): Promise<RecoveryPoint[]>
  /** Replaces the point's tags. Throws STORE_NOT_FOUND. */
  setRecoveryPointTags(tenantId: string, pointId: string, tags: string[]): Promise<RecoveryPoint>
  /** Removes the record (retention pruned the point). False when there was no such point. */
  deleteRecoveryPoint(tenantId: string, pointId: string): Promise<boolean>
}
