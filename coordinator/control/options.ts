/**
 * The control server's options, their defaults and their checks. The *control listener* is where
 * enrolled nodes connect and keep their sessions; the *enrolment listener* is the second,
 * enrolment-only listener (docs/CONTROL.md "Why two listeners"). A *heartbeat interval* is how
 * often a node reports its load; a node that misses `missedHeartbeats` intervals in a row is
 * offline.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { MAX_HEARTBEAT_INTERVAL_MS } from '../../protocol/index.js'
/** The protocol of the enrolment listener: HELLO, then ENROL → ENROL_ACCEPTED or ERROR. */
import { ENROL_PROTOCOL_ID } from '../../protocol/protocol-ids.js'
import { checkInteger, invalidOption } from './errors.js'

export { ENROL_PROTOCOL_ID }
/** Where the control listener listens when no address is given. */
export const DEFAULT_CONTROL_LISTEN = '/ip4/127.0.0.1/tcp/7400'
/** How often nodes are expected to heartbeat until a node says otherwise (HEARTBEAT `intervalMs`). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000
/** Heartbeat intervals a node may miss in a row before it is marked offline. */
export const DEFAULT_MISSED_HEARTBEATS = 3
export const MAX_MISSED_HEARTBEATS = 1_000
/**
 * lastSeenAt is written to the store at most this often per node while it heartbeats (and on every
 * status change). Every heartbeat is an fsynced write otherwise: 200 writes/s for 1,000 nodes at
 * 5 s, for a value the coordinator already holds exactly in memory.
 */
export const DEFAULT_SEEN_WRITE_INTERVAL_MS = 60_000
/** An enrolment connection is closed this long after it opened, whatever it is doing. */
export const DEFAULT_ENROL_DEADLINE_MS = 10_000
/** Enrolment connections open at once; more are refused before their handshake. */
export const DEFAULT_MAX_CONCURRENT_ENROLMENTS = 16
export const MAX_CONCURRENT_ENROLMENTS = 1_024
/** Half a control frame and then this long without a byte ends the stream (transport default). */
export const DEFAULT_FRAME_IDLE_TIMEOUT_MS = 30_000
/** What the coordinator's hellos announce when no software version is given. */
export const DEFAULT_SOFTWARE = 'lifeboat'

export interface ControlServerInit {
  /** Control listener multiaddrs. Default [DEFAULT_CONTROL_LISTEN]. */
  listen?: string[]
  /**
   * Enrolment listener multiaddrs. Default: each control address with its TCP port + 1 (port 0,
   * "any free port", stays 0).
   */
  enrolListen?: string[]
  /** Default DEFAULT_HEARTBEAT_INTERVAL_MS. */
  heartbeatIntervalMs?: number
  /** Default DEFAULT_MISSED_HEARTBEATS. */
  missedHeartbeats?: number
  /** Default DEFAULT_SEEN_WRITE_INTERVAL_MS. */
  seenWriteIntervalMs?: number
  /** Default DEFAULT_FRAME_IDLE_TIMEOUT_MS. */
  frameIdleTimeoutMs?: number
  /** Default DEFAULT_ENROL_DEADLINE_MS. */
  enrolDeadlineMs?: number
  /** Default DEFAULT_MAX_CONCURRENT_ENROLMENTS. */
  maxConcurrentEnrolments?: number
  /** The software version hellos announce, e.g. `lifeboat/0.1.0`. Default DEFAULT_SOFTWARE. */
  software?: string
  /** Stops the server when aborted. */
  signal?: AbortSignal
}

export type ControlServerOptions = Required<Omit<ControlServerInit, 'signal'>> & { signal?: AbortSignal }

/** Every option checked and defaulted; throws CONTROL_INVALID_OPTION naming the option. */
export function controlServerOptions(init: ControlServerInit): ControlServerOptions {
  const listen = checkAddresses('listen', init.listen ?? [DEFAULT_CONTROL_LISTEN])
  if (listen.length === 0) throw invalidOption('listen', 'must name at least one address')
  const enrolListen = checkAddresses('enrolListen', init.enrolListen ?? listen.map(nextPort))
  if (enrolListen.length === 0) throw invalidOption('enrolListen', 'must name at least one address')
  const software = init.software ?? DEFAULT_SOFTWARE
  if (typeof software !== 'string' || software.length === 0 || software.length > 64) {
    throw invalidOption('software', 'must be 1-64 characters')
  }
  return {
    listen,
    enrolListen,
    heartbeatIntervalMs: checkInteger(
      'heartbeatIntervalMs',
      init.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
      1,
      MAX_HEARTBEAT_INTERVAL_MS,
    ),
    missedHeartbeats: checkInteger(
      'missedHeartbeats',
      init.missedHeartbeats ?? DEFAULT_MISSED_HEARTBEATS,
      1,
      MAX_MISSED_HEARTBEATS,
    ),
    seenWriteIntervalMs: checkInteger(
      'seenWriteIntervalMs',
      init.seenWriteIntervalMs ?? DEFAULT_SEEN_WRITE_INTERVAL_MS,
      0,
      24 * 3600_000,
    ),
    frameIdleTimeoutMs: checkInteger(
      'frameIdleTimeoutMs',
      init.frameIdleTimeoutMs ?? DEFAULT_FRAME_IDLE_TIMEOUT_MS,
      1,
      3600_000,
    ),
    enrolDeadlineMs: checkInteger(
      'enrolDeadlineMs',
      init.enrolDeadlineMs ?? DEFAULT_ENROL_DEADLINE_MS,
      1,
      600_000,
    ),
    maxConcurrentEnrolments: checkInteger(
      'maxConcurrentEnrolments',
      init.maxConcurrentEnrolments ?? DEFAULT_MAX_CONCURRENT_ENROLMENTS,
      1,
      MAX_CONCURRENT_ENROLMENTS,
    ),
    software,
    signal: init.signal,
  }
}

/**
 * The default enrolment address for a control address: the same address with its TCP port + 1.
 * Port 0 (any free port) stays 0. An address without a TCP port is refused: give it explicitly.
 */
export function nextPort(address: string): string {
  const components = multiaddr(address).getComponents()
  const tcp = components.find((c) => c.name === 'tcp')
  if (tcp?.value === undefined) {
    throw invalidOption('enrolListen', `has no default for ${address}, which has no TCP port: give it`)
  }
  const port = Number(tcp.value)
  const next = port === 0 ? 0 : port + 1
  if (next > 65_535) throw invalidOption('enrolListen', `has no default for port ${port}: give it`)
  return components
    .map((c) => (c === tcp ? `/tcp/${next}` : c.value === undefined ? `/${c.name}` : `/${c.name}/${c.value}`))
    .join('')
}

function checkAddresses(name: string, addresses: unknown): string[] {
  if (!Array.isArray(addresses)) throw invalidOption(name, 'must be an array of multiaddrs')
  for (const address of addresses) {
    try {
      multiaddr(address as string)
    } catch {
      throw invalidOption(name, `holds ${JSON.stringify(address)}, which is not a multiaddr`)
    }
  }
  return addresses as string[]
}
