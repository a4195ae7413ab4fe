/**
 * Protocol IDs and versions (docs/PROTOCOL.md §1). A *protocol ID* is what libp2p negotiates when a
 * stream opens; it names the major version only (`<major>.0.0`), so peers of different minors open
 * the same ID and agree on the minor in their hellos. Each protocol has its own version.
 */
import type { ProtocolVersion } from './schema-types.js'

export type { ProtocolVersion }

/** Node ↔ coordinator: enrolment, heartbeats, jobs, leases, status updates, logs. */
export const CONTROL_PROTOCOL_ID = '/lifeboat/control/1.0.0'
export const CONTROL_PROTOCOL_VERSION: Readonly<ProtocolVersion> = Object.freeze({ major: 1, minor: 1 })

/**
 * Node → coordinator's enrolment listener: HELLO, ENROL, ENROL_ACCEPTED / ERROR. Control messages and
 * version; its own ID because the control listener refuses peers that are not enrolled yet.
 */
export const ENROL_PROTOCOL_ID = '/lifeboat/enrol/1.0.0'

/** Appliance → connector: one volume's blocks per stream. */
export const BLOCKS_PROTOCOL_ID = '/lifeboat/blocks/1.0.0'
export const BLOCKS_PROTOCOL_VERSION: Readonly<ProtocolVersion> = Object.freeze({ major: 1, minor: 0 })

/** `1.0` */
export function formatVersion(version: ProtocolVersion): string {
  return `${version.major}.${version.minor}`
}
