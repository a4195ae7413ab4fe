/**
 * The enrolment listener: a second libp2p listener of the coordinator, with the same identity as
 * the control listener, whose only protocol is `/lifeboat/enrol/1.0.0`. It exists because the
 * control listener's gater refuses every peer that has not enrolled, so a new node could never
 * reach an enrolment handler there (docs/CONTROL.md "Why two listeners").
 *
 * An *enrolment conversation* is one stream: the node says HELLO (its role, no site yet), the
 * coordinator answers HELLO, the node sends ENROL with its one-time token, and the coordinator
 * answers ENROL_ACCEPTED (the node record) or ERROR (ENROL_* from the store: invalid, used or
 * expired token, role mismatch, enrolled elsewhere). One attempt per connection: the coordinator
 * then waits for the node to close and closes the connection.
 *
 * Anyone may connect here, so everything is bounded: at most `maxConcurrent` connections at once
 * (counted from the moment the TCP connection is accepted, before its handshake; more are refused
 * by the gater), and every connection is closed `deadlineMs` after it opened, with an ERROR
 * CONTROL_ENROL_TIMEOUT first when a conversation is under way.
 */
import type { Connection, PrivateKey, Stream } from '@libp2p/interface'
import {
  CONTROL_PROTOCOL_VERSION,
  checkHello,
  type Enrol,
  type Hello,
  MessageType,
  UnexpectedMessageError,
} from '../../protocol/index.js'
import {
  createLifeboatNode,
  dialableAddresses,
  type LifeboatNode,
  waitForEvents,
} from '../../transport/index.js'
import { ControlChannel } from '../../transport/message-channel.js'
import type { MetadataStore, NodeRole } from '../store/metadata-store.js'
import { ControlError, ControlErrorCode } from './errors.js'
import type { ControlEvents } from './events.js'
import type { ControlLogger } from './logger.js'
import { ENROL_PROTOCOL_ID } from './options.js'

/** After its conversation, a connection is left this long for the node to close it first. */
export const ENROL_LINGER_MS = 1_000

export interface EnrolListenerOptions {
  listen: string[]
  deadlineMs: number
  maxConcurrent: number
  idleTimeoutMs: number
}

export interface EnrolListenerComponents {
  privateKey: PrivateKey
  store: Pick<MetadataStore, 'findNode' | 'redeemEnrolmentToken'>
  events: ControlEvents
  logger: ControlLogger
  now: () => number
  /** The coordinator's own HELLO. */
  hello: () => Hello
}

export class EnrolListener {
  readonly #options: EnrolListenerOptions
  readonly #components: EnrolListenerComponents
  /** Accepted raw connections not yet closed, handshakes included: the concurrency bound. */
  readonly #admitted = new Set<object>()
  /** Deadline timers and running conversations, by connection id. */
  readonly #deadlines = new Map<string, NodeJS.Timeout>()
  readonly #conversations = new Map<string, AbortController>()
  #node: LifeboatNode | undefined

  constructor(options: EnrolListenerOptions, components: EnrolListenerComponents) {
    this.#options = options
    this.#components = components
  }

  get node(): LifeboatNode | undefined {
    return this.#node
  }

  /** The listener's dialable addresses, each ending in /p2p/<coordinator id>. */
  addresses(): string[] {
    return this.#node === undefined ? [] : dialableAddresses(this.#node)
  }

  async start(): Promise<void> {
    if (this.#node !== undefined) return
    const { maxConcurrent } = this.#options
    const node = await createLifeboatNode({
      privateKey: this.#components.privateKey,
      listen: this.#options.listen,
      // libp2p's own bounds sit above ours, as a safety net: the gater below is the bound, since it
      // counts connections still in their handshake too.
      maxConnections: 2 * maxConcurrent,
      maxIncomingPendingConnections: maxConcurrent,
      gater: {
        denyInboundConnection: (maConn) => {
          if (this.#admitted.size >= maxConcurrent) {
            this.#components.logger.warn(
              {
                event: 'enrolment-busy',
                remoteAddr: maConn.remoteAddr.toString(),
                open: this.#admitted.size,
              },
              'enrolment connection refused: too many at once',
            )
            return true
          }
          this.#admitted.add(maConn)
          maConn.addEventListener('close', () => this.#admitted.delete(maConn), { once: true })
          return false
        },
        // The enrolment listener never dials anyone.
        denyDialPeer: () => true,
      },
    })
    node.addEventListener('connection:open', (event) => this.#armDeadline(event.detail))
    node.addEventListener('connection:close', (event) => {
      clearTimeout(this.#deadlines.get(event.detail.id))
      this.#deadlines.delete(event.detail.id)
    })
    await node.handle(ENROL_PROTOCOL_ID, (stream, connection) => {
      void this.#converse(stream, connection)
    })
    this.#node = node
  }

  async stop(): Promise<void> {
    const node = this.#node
    if (node === undefined) return
    this.#node = undefined
    for (const timer of this.#deadlines.values()) clearTimeout(timer)
    this.#deadlines.clear()
    const stopping = new ControlError(ControlErrorCode.STOPPING, 'the coordinator is stopping', {
      remediation: 'Retry the enrolment once the coordinator is back.',
      retryable: true,
    })
    for (const controller of this.#conversations.values()) controller.abort(stopping)
    await node.stop()
  }

  #armDeadline(connection: Connection): void {
    const elapsed = Date.now() - connection.timeline.open
    const timer = setTimeout(
      () => {
        const conversation = this.#conversations.get(connection.id)
        // A conversation under way says why before it closes the connection; else close now.
        if (conversation !== undefined) conversation.abort(enrolTimeout(this.#options.deadlineMs))
        else void connection.close().catch(() => connection.abort(enrolTimeout(this.#options.deadlineMs)))
      },
      Math.max(0, this.#options.deadlineMs - elapsed),
    )
    timer.unref()
    this.#deadlines.set(connection.id, timer)
  }

  async #converse(stream: Stream, connection: Connection): Promise<void> {
    const channel = new ControlChannel(stream, { idleTimeoutMs: this.#options.idleTimeoutMs })
    const controller = new AbortController()
    if (this.#conversations.has(connection.id)) {
      channel.abort(new Error('one enrolment per connection'))
      return
    }
    this.#conversations.set(connection.id, controller)
    const peerId = connection.remotePeer.toString()
    const { logger } = this.#components
    try {
      await this.#enrol(channel, peerId, controller.signal)
    } catch (error) {
      if (controller.signal.aborted) {
        // The deadline or a stop: the node is told which before the connection closes.
        const reason = controller.signal.reason as ControlError
        await channel.fail(reason)
        if (reason.code === ControlErrorCode.ENROL_TIMEOUT) this.#refused(peerId, reason)
      } else {
        logger.warn(
          { event: 'enrolment-ended', peerId, code: (error as { code?: unknown }).code },
          `enrolment conversation ended: ${(error as Error).message}`,
        )
      }
    } finally {
      this.#conversations.delete(connection.id)
      if (!channel.ended) await channel.close()
      // The node closes once it has read the answer. Closing at once from this side could lose
      // the answer: libp2p drops what the muxer has not yet written when a connection closes.
      await waitForEvents([[connection, ['close']]], 'enrolment close', { timeoutMs: ENROL_LINGER_MS }).catch(
        () => undefined,
      )
      await connection.close().catch(() => connection.abort(new Error('enrolment over')))
    }
  }

  async #enrol(channel: ControlChannel, peerId: string, signal: AbortSignal): Promise<void> {
    const { store, now, events, logger } = this.#components
    const hello = await channel.receiveHello(signal)
    if (hello === undefined) return
    try {
      checkHello(hello, CONTROL_PROTOCOL_VERSION, { roles: ['appliance', 'connector'] })
      if (hello.nodeId !== peerId) {
        throw new ControlError(
          ControlErrorCode.NODE_ID_MISMATCH,
          `the hello names node ${hello.nodeId}, but the connection belongs to ${peerId}`,
          { remediation: 'Send the node id of the key the connection was made with (its peer id).' },
        )
      }
    } catch (error) {
      this.#refused(peerId, error as ControlError)
      await channel.fail(error)
      return
    }
    await channel.send(this.#components.hello(), signal)
    const enrol = await this.#receiveEnrol(channel, signal)
    if (enrol === undefined) return
    const existing = await store.findNode(peerId)
    let node: Awaited<ReturnType<typeof store.redeemEnrolmentToken>>
    try {
      // checkHello admitted only the node roles.
      const role = hello.role as NodeRole
      node = await store.redeemEnrolmentToken(enrol.token, peerId, role, now())
    } catch (error) {
      this.#refused(peerId, error as ControlError)
      await channel.sendError(error, { reType: MessageType.ENROL, reId: enrol.rid })
      await channel.receive(signal).catch(() => undefined)
      return
    }
    await channel.send(
      {
        t: MessageType.ENROL_ACCEPTED,
        rid: enrol.rid,
        node: {
          nodeId: node.id,
          role: node.role,
          tenant: node.tenantId,
          site: node.siteId,
          name: enrol.name ?? '',
          enrolledAt: node.enrolledAt,
        },
      },
      // Not bound by the deadline: the token is spent, so the node must learn that it enrolled.
    )
    logger.info(
      {
        event: 'node-enrolled',
        nodeId: node.id,
        tenantId: node.tenantId,
        siteId: node.siteId,
        role: node.role,
      },
      'node enrolled',
    )
    events.emit('node-enrolled', {
      nodeId: node.id,
      tenantId: node.tenantId,
      siteId: node.siteId,
      role: node.role,
      at: node.enrolledAt,
      reEnrolment: existing !== undefined,
    })
    // The node closes once it has the answer; the deadline bounds a node that does not.
    await channel.receive(signal).catch(() => undefined)
  }

  /** The node's ENROL, refusing (and skipping) anything else; undefined when the node gave up. */
  async #receiveEnrol(channel: ControlChannel, signal: AbortSignal): Promise<Enrol | undefined> {
    for (;;) {
      const message = await channel.receive(signal)
      if (message === undefined || message.t === MessageType.ERROR) return undefined
      if (message.t === MessageType.ENROL) return message
      await channel.refuse(
        new UnexpectedMessageError(message.t, 'on an enrolment stream (send ENROL)', { reType: message.t }),
      )
    }
  }

  #refused(peerId: string, error: Error & { code?: string }): void {
    const code = error.code ?? 'INTERNAL'
    const storeTrouble = code.startsWith('STORE_')
    this.#components.logger[storeTrouble ? 'error' : 'warn'](
      { event: 'enrolment-refused', peerId, code },
      `enrolment refused: ${error.message}`,
    )
    this.#components.events.emit('enrolment-refused', {
      peerId,
      code,
      message: error.message,
      at: this.#components.now(),
    })
  }
}

function enrolTimeout(deadlineMs: number): ControlError {
  return new ControlError(
    ControlErrorCode.ENROL_TIMEOUT,
    `the enrolment did not finish within ${deadlineMs} ms`,
    {
      remediation: 'Retry the enrolment; check the link to the coordinator if it keeps timing out.',
      retryable: true,
    },
  )
}
