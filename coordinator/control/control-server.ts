/**
 * The control server: the coordinator's end of the control link. It owns two libp2p listeners
 * with the coordinator's identity — the *control listener*, whose gater refuses every peer that is
 * not an enrolled node, and the *enrolment listener* (enrol-listener.ts) — and, over the control
 * listener, one *session* per connected node (node-session.ts), whose hellos and heartbeats feed
 * liveness (liveness.ts). It never dials a node: work reaches a node on a stream opened back over
 * the connection the node keeps (`openStreamTo`).
 *
 * What it tells the rest of the coordinator goes out on two buses (events.ts): node-online,
 * node-offline and site-load on the coordinator's lifecycle bus, which the dispatcher follows;
 * node-enrolled and the refusals on the control link's own.
 */
import type { PrivateKey, Stream } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import {
  CONTROL_PROTOCOL_ID,
  CONTROL_PROTOCOL_VERSION,
  type Hello,
  MessageType,
} from '../../protocol/index.js'
import {
  createLifeboatNode,
  dialableAddresses,
  type LifeboatNode,
  type OpenStreamOptions,
  openStreamToPeer,
} from '../../transport/index.js'
import type { ControlChannel } from '../../transport/message-channel.js'
import { createLifecycleEvents, type LifecycleEvents } from '../events/lifecycle-events.js'
import type { JobLink } from '../job-link/job-link.js'
import type { MetadataStore } from '../store/metadata-store.js'
import { EnrolListener } from './enrol-listener.js'
import { ControlError, ControlErrorCode } from './errors.js'
import { type ControlEvents, createControlEvents } from './events.js'
import { LivenessTracker, type NodeLoad } from './liveness.js'
import { type ControlLogger, silentLogger } from './logger.js'
import { runNodeSession } from './node-session.js'
import { type ControlServerInit, type ControlServerOptions, controlServerOptions } from './options.js'
import { createSiteLoadRelay, type SiteLoadRelay } from './site-load-relay.js'

/** The store records the control link reads and writes: nodes, and token redemption. */
export type ControlStore = Pick<
  MetadataStore,
  'findNode' | 'redeemEnrolmentToken' | 'listTenants' | 'listNodes' | 'markNodeSeen' | 'setNodeStatus'
>

export interface ControlServerComponents {
  store: ControlStore
  /** The coordinator's Ed25519 identity (transport/identity.ts); both listeners use it. */
  privateKey: PrivateKey
  logger?: ControlLogger
  /** The clock for every stored time and token expiry. Default Date.now. */
  now?: () => number
  /** The coordinator's lifecycle bus (node-online, node-offline, site-load); a new one when absent. */
  events?: LifecycleEvents
  /** The control link's own bus (enrolments, refusals); a new one when absent. */
  controlEvents?: ControlEvents
}

export interface ControlServer {
  /** node-online, node-offline, site-load. */
  readonly events: LifecycleEvents
  /** node-enrolled, enrolment-refused, session-refused, peer-refused. */
  readonly controlEvents: ControlEvents
  /** The coordinator's node id (peer id), the /p2p/ part of its addresses. */
  readonly peerId: string
  /** Starts both listeners and liveness. Idempotent. */
  start(): Promise<void>
  /** Closes every session and both listeners. Idempotent. Marks no node offline. */
  stop(): Promise<void>
  /** The control listener's dialable addresses, each ending in /p2p/<coordinator id>. */
  addresses(): string[]
  /** The enrolment listener's dialable addresses. */
  enrolAddresses(): string[]
  /**
   * Opens `protocol` to an enrolled node over the connection the node keeps. Never dials.
   * Rejects with TRANSPORT_PEER_GONE when the node is not connected, CONTROL_INVALID_NODE_ID.
   */
  openStreamTo(nodeId: string, protocol: string, options?: OpenStreamOptions): Promise<Stream>
  /** The node's latest load report while it is online (for the dispatcher). */
  loadOf(nodeId: string): NodeLoad | undefined
  isOnline(nodeId: string): boolean
  /**
   * The block listen addresses the node's current session HELLO announced (control 1.1 `addrs`):
   * where appliances reach a connector. Undefined when the node has no session or announced none.
   */
  blockAddressesOf(nodeId: string): string[] | undefined
  /** The control version negotiated with the node's current session, undefined without one. */
  sessionVersionOf(nodeId: string): { major: number; minor: number } | undefined
  /** SITE_LOAD messages sent to nodes since the start (docs/SCHEDULING.md §10). */
  readonly siteLoadsRelayed: number
  /** Node ids with an open session, in no particular order. */
  sessionNodes(): string[]
  /** Resolves when every status write queued so far is stored (tests, shutdown). */
  idle(): Promise<void>
  /**
   * Sets who applies the STATUS_REPLAY batches nodes send after a reconnect (the job link, built
   * after this server because it opens streams through it); undefined refuses them.
   */
  handleStatusReplays(handler: StatusReplayHandler | undefined): void
}

export type StatusReplayHandler = Pick<JobLink, 'handleStatusReplay'>

export function createControlServer(
  init: ControlServerInit,
  components: ControlServerComponents,
): ControlServer {
  return new DefaultControlServer(controlServerOptions(init), components)
}

class DefaultControlServer implements ControlServer {
  readonly events: LifecycleEvents
  readonly controlEvents: ControlEvents
  readonly peerId: string
  readonly #options: ControlServerOptions
  readonly #store: ControlStore
  readonly #privateKey: PrivateKey
  readonly #logger: ControlLogger
  readonly #now: () => number
  readonly #liveness: LivenessTracker
  /** Relays each accepted heartbeat to the node's site peers (SITE_LOAD, control 1.1). */
  readonly #siteLoadRelay: SiteLoadRelay
  #statusReplay: StatusReplayHandler | undefined
  readonly #enrol: EnrolListener
  readonly #sessions = new Map<string, ControlChannel>()
  /** The HELLO each current session opened with. */
  readonly #sessionHellos = new Map<string, Hello>()
  readonly #running = new Set<Promise<void>>()
  #node: LifeboatNode | undefined
  #stopping = new AbortController()
  #lifecycle: Promise<void> = Promise.resolve()

  constructor(options: ControlServerOptions, components: ControlServerComponents) {
    this.#options = options
    this.#store = components.store
    this.#privateKey = components.privateKey
    this.#logger = components.logger ?? silentLogger
    this.#now = components.now ?? Date.now
    this.events = components.events ?? createLifecycleEvents({}, { log: this.#logger })
    this.controlEvents = components.controlEvents ?? createControlEvents({ log: this.#logger })
    this.peerId = peerIdFromPrivateKey(components.privateKey).toString()
    this.#liveness = new LivenessTracker(options, {
      store: this.#store,
      events: this.events,
      logger: this.#logger,
      now: this.#now,
    })
    this.#siteLoadRelay = createSiteLoadRelay({
      events: this.events,
      sessionOf: (nodeId) => this.#sessions.get(nodeId),
      versionOf: (nodeId) => this.sessionVersionOf(nodeId),
      logger: this.#logger,
    })
    this.#enrol = new EnrolListener(
      {
        listen: options.enrolListen,
        deadlineMs: options.enrolDeadlineMs,
        maxConcurrent: options.maxConcurrentEnrolments,
        idleTimeoutMs: options.frameIdleTimeoutMs,
      },
      {
        privateKey: this.#privateKey,
        store: this.#store,
        events: this.controlEvents,
        logger: this.#logger,
        now: this.#now,
        hello: () => this.#hello(),
      },
    )
    const signal = options.signal
    if (signal !== undefined) signal.addEventListener('abort', () => void this.stop(), { once: true })
  }

  start(): Promise<void> {
    return this.#serially(async () => {
      if (this.#node !== undefined) return
      this.#options.signal?.throwIfAborted()
      this.#stopping = new AbortController()
      try {
        await this.#liveness.start()
        this.#node = await this.#startControlListener()
        await this.#enrol.start()
      } catch (error) {
        await this.#stopAll()
        throw error
      }
      this.#logger.info(
        {
          event: 'control-started',
          peerId: this.peerId,
          addresses: this.addresses(),
          enrolAddresses: this.enrolAddresses(),
        },
        'control link listening',
      )
    })
  }

  stop(): Promise<void> {
    return this.#serially(() => this.#stopAll())
  }

  addresses(): string[] {
    return this.#node === undefined ? [] : dialableAddresses(this.#node)
  }

  enrolAddresses(): string[] {
    return this.#enrol.addresses()
  }

  async openStreamTo(nodeId: string, protocol: string, options?: OpenStreamOptions): Promise<Stream> {
    let peer: ReturnType<typeof peerIdFromString>
    try {
      peer = peerIdFromString(nodeId)
    } catch (error) {
      throw new ControlError(ControlErrorCode.INVALID_NODE_ID, `${JSON.stringify(nodeId)} is not a node id`, {
        remediation: 'Pass the node id (libp2p peer id) of an enrolled node.',
        cause: error,
      })
    }
    const node = this.#node
    if (node === undefined) {
      throw new ControlError(ControlErrorCode.INVALID_OPTION, 'the control server is not started', {
        remediation: 'Start the control server before opening streams to nodes.',
        retryable: true,
      })
    }
    return openStreamToPeer(node, peer, protocol, options)
  }

  loadOf(nodeId: string): NodeLoad | undefined {
    return this.#liveness.loadOf(nodeId)
  }

  isOnline(nodeId: string): boolean {
    return this.#liveness.isOnline(nodeId)
  }

  blockAddressesOf(nodeId: string): string[] | undefined {
    const addrs = this.#sessionHellos.get(nodeId)?.addrs
    return addrs === undefined || addrs.length === 0 ? undefined : [...addrs]
  }

  sessionVersionOf(nodeId: string): { major: number; minor: number } | undefined {
    const hello = this.#sessionHellos.get(nodeId)
    if (hello === undefined) return undefined
    return {
      major: CONTROL_PROTOCOL_VERSION.major,
      minor: Math.min(CONTROL_PROTOCOL_VERSION.minor, hello.protocol.minor),
    }
  }

  get siteLoadsRelayed(): number {
    return this.#siteLoadRelay.relayed
  }

  sessionNodes(): string[] {
    return [...this.#sessions.keys()]
  }

  idle(): Promise<void> {
    return this.#liveness.idle()
  }

  handleStatusReplays(handler: StatusReplayHandler | undefined): void {
    this.#statusReplay = handler
  }

  async #startControlListener(): Promise<LifeboatNode> {
    const node = await createLifeboatNode({
      privateKey: this.#privateKey,
      listen: this.#options.listen,
      gater: { denyInboundEncryptedConnection: (peer) => this.#refuseUnknown(peer.toString()) },
    })
    await node.handle(CONTROL_PROTOCOL_ID, (stream, connection) => {
      const session = runNodeSession(
        stream,
        connection,
        { idleTimeoutMs: this.#options.frameIdleTimeoutMs, signal: this.#stopping.signal },
        {
          store: this.#store,
          liveness: this.#liveness,
          events: this.controlEvents,
          logger: this.#logger,
          now: this.#now,
          hello: () => this.#hello(),
          statusReplay: () => this.#statusReplay,
          register: (nodeId, channel, hello) => {
            const previous = this.#sessions.get(nodeId)
            this.#sessions.set(nodeId, channel)
            this.#sessionHellos.set(nodeId, hello)
            return previous
          },
          unregister: (nodeId, channel) => {
            if (this.#sessions.get(nodeId) !== channel) return
            this.#sessions.delete(nodeId)
            this.#sessionHellos.delete(nodeId)
          },
        },
      )
      this.#running.add(session)
      void session.finally(() => this.#running.delete(session))
    })
    return node
  }

  /** The gater's question: true (refuse) for any peer that is not an enrolled node. */
  async #refuseUnknown(peerId: string): Promise<boolean> {
    let known: boolean
    try {
      known = (await this.#store.findNode(peerId)) !== undefined
    } catch (error) {
      // Fail closed: a store that cannot answer admits nobody; the node redials with backoff.
      this.#logger.error({ event: 'gater-store-failed', peerId, err: error }, 'could not look the peer up')
      return true
    }
    if (known) return false
    const refusal = {
      peerId,
      code: ControlErrorCode.NOT_ENROLLED,
      message: `peer ${peerId} is not an enrolled node`,
      at: this.#now(),
    }
    this.#logger.warn(
      { event: 'peer-refused', peerId, code: refusal.code },
      'refused a peer that is not enrolled',
    )
    this.controlEvents.emit('peer-refused', refusal)
    return true
  }

  #hello(): Hello {
    return {
      t: MessageType.HELLO,
      protocol: { ...CONTROL_PROTOCOL_VERSION },
      nodeId: this.peerId,
      role: 'coordinator',
      software: this.#options.software,
    }
  }

  async #stopAll(): Promise<void> {
    this.#stopping.abort()
    const node = this.#node
    this.#node = undefined
    await this.#enrol.stop()
    if (node !== undefined) await node.stop()
    await Promise.all(this.#running)
    this.#sessions.clear()
    this.#sessionHellos.clear()
    await this.#liveness.stop()
  }

  #serially(step: () => Promise<void>): Promise<void> {
    const next = this.#lifecycle.then(step)
    this.#lifecycle = next.catch(() => undefined)
    return next
  }
}
