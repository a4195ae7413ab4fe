/**
 * What the control link tells the rest of the coordinator, on two buses built by
 * coordinator/events/event-bus.ts (typed, isolated handlers, bounded async work):
 *
 * - the coordinator's one *lifecycle* bus (coordinator/events/lifecycle-events.ts), which the
 *   dispatcher's node load board and notifications follow: `node-online`, `node-offline` and
 *   `site-load` (one per accepted heartbeat);
 * - the control link's own bus, below: enrolments and refusals (the gater, enrolment, session
 *   hellos) — security facts for notifications and audits, which the lifecycle map does not carry.
 *
 * Events are facts that already happened and were already stored where they change a record: a
 * node's status is written before its `node-online` / `node-offline` is emitted, an enrolment
 * before `node-enrolled`.
 */
import { createEventBus, type EventBus, type EventBusComponents } from '../events/event-bus.js'
import type { NodeRole } from '../store/metadata-store.js'

export interface NodeEnrolledEvent {
  nodeId: string
  tenantId: string
  siteId: string
  role: NodeRole
  /** The node was already enrolled in this site with this role and presented a fresh token. */
  reEnrolment: boolean
  /** The enrolment time (coordinator clock, milliseconds since the epoch). */
  at: number
}

/** A peer was refused: at the gater, at enrolment, or at its session hello. */
export interface RefusalEvent {
  peerId: string
  /** The code the peer was sent (or, at the gater, would have been: it gets no stream). */
  code: string
  message: string
  at: number
}

export interface ControlEventMap {
  /** A node enrolled with a token (ENROL_ACCEPTED was sent). */
  'node-enrolled': NodeEnrolledEvent
  /** A token was refused (ENROL_*), or an enrolment hello was. */
  'enrolment-refused': RefusalEvent
  /** A session hello was refused (version, role, site, node id, not enrolled). */
  'session-refused': RefusalEvent
  /** The control listener's gater refused a peer that is not an enrolled node. */
  'peer-refused': RefusalEvent
}

export type ControlEvents = EventBus<ControlEventMap>

export function createControlEvents(components: EventBusComponents = {}): ControlEvents {
  return createEventBus<ControlEventMap>({}, components)
}
