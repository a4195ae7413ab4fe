/**
 * The control client: the agent's end of the control link. The agent never listens for control
 * traffic. It dials the coordinator and keeps that one connection (transport keepConnected:
 * jittered exponential backoff), opens a session on every (re)connection (coordinator-session.ts),
 * and serves the streams the coordinator opens back over the same connection to push work
 * (`handle`): the coordinator never dials a node.
 *
 * A session that ends while the connection stays up is opened again after a backoff; one refused
 * with an error a retry cannot fix (a version mismatch, a role the node did not enrol with, a node
 * the coordinator does not know) stops the client and is emitted as `refused`.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { type LoadReport, MAX_HEARTBEAT_INTERVAL_MS } from '../../protocol/index.js'
import {
  abortStream,
  type ConnectionKeeper,
  DEFAULT_FRAME_IDLE_TIMEOUT_MS,
  keepConnected,
  type LifeboatNode,
  RECONNECT_BASE_DELAY_MS,
  RECONNECT_MAX_DELAY_MS,
  reconnectDelayMs,
  sleep,
} from '../../transport/index.js'
import { ByteCounter } from './byte-counter.js'
import { runCoordinatorSession, type StatusReplaySink } from './coordinator-session.js'
import { checkInteger, invalidOption } from './errors.js'
import { type ControlClientEvents, TypedEventBus } from './events.js'
import { LoadSampler, type LoadSources } from './load-sampler.js'
import { type AgentLogger, silentLogger } from './logger.js'

/** How often the node heartbeats with its load report. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000
/** What hellos announce when no software version is given. */
export const DEFAULT_SOFTWARE = 'lifeboat'

export interface ControlClientInit extends LoadSources {
  /** The coordinator's control address, ending in /p2p/<coordinator id>. */
  coordinator: string
  role: 'appliance' | 'connector'
  /** The site the node enrolled in (from its enrolment record). */
  site?: string
  /** A connector's block listen addresses (each ending in /p2p/<its id>), sent in its session hello. */
  blockAddresses?: string[]
  /** Default DEFAULT_HEARTBEAT_INTERVAL_MS. */
  heartbeatIntervalMs?: number
  /** Half a frame then this long without a byte ends the session. Default 30 s. */
  frameIdleTimeoutMs?: number
  /** Reconnect backoff, as keepConnected's. Defaults 0.5 s and 30 s. */
  baseDelayMs?: number
  maxDelayMs?: number
  software?: string
  signal?: AbortSignal
}

export interface ControlClientComponents {
  /** The agent's libp2p node; it has no listen address. */
  node: LifeboatNode
  logger?: AgentLogger
}

/** The init with every defaulted option filled in and checked. */
type ControlClientOptions = ControlClientInit &
  Required<
    Pick<
      ControlClientInit,
      'heartbeatIntervalMs' | 'frameIdleTimeoutMs' | 'baseDelayMs' | 'maxDelayMs' | 'software'
    >
  >

/** A handler of a stream the coordinator opened; `connection` is the one the node keeps. */
export type CoordinatorStreamHandler = (stream: Stream, connection: Connection) => void | Promise<void>

export class ControlClient {
  readonly events: ControlClientEvents = new TypedEventBus()
  readonly coordinatorId: PeerId
  readonly #init: ControlClientOptions
  readonly #node: LifeboatNode
  readonly #logger: AgentLogger
  #keeper: ConnectionKeeper | undefined
  #bytes: ByteCounter | undefined
  #sampler: LoadSampler | undefined
  #stopping = new AbortController()
  #sessionOpen = false
  #serving = new Set<Promise<void>>()
  #statusReplay: StatusReplaySink | undefined

  constructor(init: ControlClientInit, components: ControlClientComponents) {
    this.coordinatorId = coordinatorIdOf(init.coordinator)
    if (init.role !== 'appliance' && init.role !== 'connector') {
      throw invalidOption('role', `must be appliance or connector, got ${JSON.stringify(init.role)}`)
    }
    this.#init = {
      ...init,
      heartbeatIntervalMs: checkInteger(
        'heartbeatIntervalMs',
        init.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
        1,
        MAX_HEARTBEAT_INTERVAL_MS,
      ),
      frameIdleTimeoutMs: checkInteger(
        'frameIdleTimeoutMs',
        init.frameIdleTimeoutMs ?? DEFAULT_FRAME_IDLE_TIMEOUT_MS,
        1,
        3600_000,
      ),
      baseDelayMs: checkInteger('baseDelayMs', init.baseDelayMs ?? RECONNECT_BASE_DELAY_MS, 1, 3600_000),
      maxDelayMs: checkInteger('maxDelayMs', init.maxDelayMs ?? RECONNECT_MAX_DELAY_MS, 1, 24 * 3600_000),
      software: init.software ?? DEFAULT_SOFTWARE,
    }
    this.#node = components.node
    this.#logger = components.logger ?? silentLogger
    init.signal?.addEventListener('abort', () => void this.stop(), { once: true })
  }

  /** The connection to the coordinator while it is open. */
  get connection(): Connection | undefined {
    return this.#keeper?.connection
  }

  /** The load report of the last heartbeat, undefined before the first. */
  get lastLoad(): LoadReport | undefined {
    return this.#sampler?.last
  }

  /** True between the coordinator's hello and the end of that session. */
  get sessionOpen(): boolean {
    return this.#sessionOpen
  }

  get running(): boolean {
    return this.#keeper !== undefined
  }

  /** Dials the coordinator and keeps the connection and a session on it. Idempotent. */
  start(): void {
    if (this.#keeper !== undefined) return
    this.#init.signal?.throwIfAborted()
    this.#stopping = new AbortController()
    this.#bytes = new ByteCounter(this.#node)
    this.#sampler = new LoadSampler(this.#init, { bytes: this.#bytes })
    const keeper = keepConnected(this.#node, this.#init.coordinator, {
      baseDelayMs: this.#init.baseDelayMs,
      maxDelayMs: this.#init.maxDelayMs,
    })
    keeper.addEventListener('connected', (event) => {
      const serving = this.#serve((event as CustomEvent<Connection>).detail)
      this.#serving.add(serving)
      void serving.finally(() => this.#serving.delete(serving))
    })
    keeper.addEventListener('dial-failed', (event) => {
      const { error, attempt, retryInMs } = (event as CustomEvent).detail
      this.#logger.warn(
        { event: 'dial-failed', code: error.code, attempt, retryInMs },
        `cannot reach the coordinator: ${error.message}`,
      )
    })
    this.#keeper = keeper
  }

  /** Ends the session and the connection keeping. Idempotent. Handlers stay registered. */
  async stop(): Promise<void> {
    const keeper = this.#keeper
    if (keeper === undefined) return
    this.#keeper = undefined
    this.#stopping.abort()
    await keeper.stop()
    await Promise.all(this.#serving)
    this.#bytes?.stop()
    const connection = keeper.connection
    if (connection !== undefined) await connection.close().catch(() => connection.abort(new Error('stopped')))
  }

  /**
   * Serves `protocol` on streams the coordinator opens over the kept connection. Streams from any
   * other peer are reset (the node never listens, so only a bug could bring one).
   */
  async handle(protocol: string, handler: CoordinatorStreamHandler): Promise<void> {
    await this.#node.handle(protocol, async (stream, connection) => {
      if (!connection.remotePeer.equals(this.coordinatorId)) {
        this.#logger.warn(
          { event: 'stream-refused', protocol, peerId: connection.remotePeer.toString() },
          'refused a stream from a peer that is not the coordinator',
        )
        abortStream(stream, new Error('only the coordinator opens streams to this node'))
        return
      }
      try {
        await handler(stream, connection)
      } catch (error) {
        this.#logger.error(
          { event: 'handler-failed', protocol, err: error },
          `stream handler failed: ${(error as Error).message}`,
        )
        abortStream(stream, error)
      }
    })
  }

  async unhandle(protocol: string): Promise<void> {
    await this.#node.unhandle(protocol)
  }

  /**
   * Sets what replays queued status updates on each session (the agent's status queue, opened after
   * this client is built); undefined: sessions replay nothing.
   */
  replayStatusWith(sink: StatusReplaySink | undefined): void {
    this.#statusReplay = sink
  }

  /** Runs sessions on `connection` until it closes or the client stops. */
  async #serve(connection: Connection): Promise<void> {
    const signal = this.#stopping.signal
    let failures = 0
    while (!signal.aborted && connection.status === 'open') {
      const end = await runCoordinatorSession(
        connection,
        {
          role: this.#init.role,
          site: this.#init.site,
          software: this.#init.software,
          blockAddresses: this.#init.blockAddresses,
          heartbeatIntervalMs: this.#init.heartbeatIntervalMs,
          idleTimeoutMs: this.#init.frameIdleTimeoutMs,
          signal,
        },
        {
          nodeId: this.#node.peerId.toString(),
          coordinatorId: this.coordinatorId.toString(),
          sampler: this.#sampler!,
          logger: this.#logger,
          statusReplay: this.#statusReplay,
          onSiteLoad: (detail) => this.events.emit('site-load', detail),
          onOpen: (version) => {
            failures = 0
            this.#sessionOpen = true
            this.#logger.info(
              { event: 'session-open', coordinator: this.coordinatorId.toString(), version },
              'session with the coordinator open',
            )
            this.events.emit('session-open', { connection, version })
          },
        },
      )
      const wasOpen = this.#sessionOpen
      this.#sessionOpen = false
      if (wasOpen) this.events.emit('session-closed', end.kind === 'closed' ? {} : { error: end.error })
      if (end.kind === 'refused') {
        this.#logger.error(
          { event: 'session-refused', code: end.error.code, retryable: end.error.retryable },
          `the coordinator refused the session: ${end.error.message}`,
        )
        if (!end.error.retryable) {
          this.events.emit('refused', { error: end.error })
          void this.stop()
          return
        }
      } else if (end.kind === 'closed' && !signal.aborted) {
        this.#logger.info({ event: 'session-closed' }, 'the coordinator closed the session')
      } else if (end.kind === 'failed' && !signal.aborted) {
        const hint = wasOpen ? '' : ' (a node the coordinator does not know is dropped at connection time)'
        this.#logger.warn(
          { event: 'session-failed', code: (end.error as { code?: unknown }).code },
          `session with the coordinator ended: ${end.error.message}${hint}`,
        )
      }
      if (signal.aborted || connection.status !== 'open') return
      failures++
      await sleep(reconnectDelayMs(failures, this.#init.baseDelayMs, this.#init.maxDelayMs), signal).catch(
        () => undefined,
      )
    }
  }
}

export function createControlClient(
  init: ControlClientInit,
  components: ControlClientComponents,
): ControlClient {
  return new ControlClient(init, components)
}

/** The peer id in the coordinator's address, which must name one. */
function coordinatorIdOf(address: string): PeerId {
  let id: string | undefined
  try {
    id = multiaddr(address)
      .getComponents()
      .findLast((c) => c.name === 'p2p')?.value
  } catch {
    throw invalidOption('coordinator', `${JSON.stringify(address)} is not a multiaddr`)
  }
  if (id === undefined) throw invalidOption('coordinator', `${address} must end in /p2p/<coordinator id>`)
  return peerIdFromString(id)
}
