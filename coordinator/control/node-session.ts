/**
 * A node session on the coordinator's side: the control stream an enrolled node opens right after
 * connecting (docs/PROTOCOL.md §4 "Session stream"). The node says HELLO; the coordinator checks
 * the version (a different major is refused with an ERROR naming both), that the hello's node id
 * is the connection's proven peer id, and that the node claims the role and site it enrolled with;
 * then it records the node online and answers with its own HELLO. From then on the node sends
 * HEARTBEATs, each carrying a load report, which feed liveness.
 *
 * Refusals are logged and emitted as `session-refused`, and sent to the node as ERROR frames with
 * their codes, so both sides say the same thing. A newer session of the same node replaces an
 * older one (a reconnect the coordinator has not noticed yet): the older is reset.
 */
import type { Connection, Stream } from '@libp2p/interface'
import {
  CONTROL_PROTOCOL_VERSION,
  type ControlMessage,
  checkHello,
  type FrameRef,
  type Hello,
  MessageType,
  RemoteError,
  UnexpectedMessageError,
} from '../../protocol/index.js'
import { ControlChannel } from '../../transport/message-channel.js'
import type { JobLink } from '../job-link/job-link.js'
import type { MetadataStore, Node } from '../store/metadata-store.js'
import { ControlError, ControlErrorCode } from './errors.js'
import type { ControlEvents } from './events.js'
import type { LivenessTracker } from './liveness.js'
import type { ControlLogger } from './logger.js'
import { ENROL_PROTOCOL_ID } from './options.js'

/** A node must say HELLO this soon after opening its session stream. */
export const HELLO_TIMEOUT_MS = 30_000

export interface NodeSessionOptions {
  idleTimeoutMs: number
  /** Ends the session (reset) when aborted: the server is stopping. */
  signal: AbortSignal
}

export interface NodeSessionComponents {
  store: Pick<MetadataStore, 'findNode'>
  liveness: LivenessTracker
  events: ControlEvents
  logger: ControlLogger
  now: () => number
  /** The coordinator's own HELLO. */
  hello: () => Hello
  /**
   * Makes `channel` the node's current session, opened with `hello`; returns the one it replaces,
   * if any.
   */
  register: (nodeId: string, channel: ControlChannel, hello: Hello) => ControlChannel | undefined
  /** Forgets `channel` if it is still the node's current session. */
  unregister: (nodeId: string, channel: ControlChannel) => void
  /**
   * Who applies STATUS_REPLAY batches: the coordinator's job link once it runs (so replays get
   * exactly the job stream's handling), undefined before. A getter because sessions outlive it.
   */
  statusReplay: () => Pick<JobLink, 'handleStatusReplay'> | undefined
}

/** Runs one session to its end. Never throws: every ending is logged. */
export async function runNodeSession(
  stream: Stream,
  connection: Connection,
  options: NodeSessionOptions,
  components: NodeSessionComponents,
): Promise<void> {
  const channel = new ControlChannel(stream, { idleTimeoutMs: options.idleTimeoutMs })
  const peerId = connection.remotePeer.toString()
  const { logger } = components
  let node: Node | undefined
  try {
    node = await openSession(channel, peerId, options.signal, components)
    if (node === undefined) return
    await readHeartbeats(channel, node, options.signal, components)
    logger.info({ event: 'session-closed', nodeId: peerId }, 'node closed its session')
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (options.signal.aborted) {
      logger.info({ event: 'session-closed', nodeId: peerId }, 'session closed: the coordinator is stopping')
      return
    }
    logger.warn(
      { event: 'session-ended', nodeId: peerId, code, err: error },
      `session ended: ${(error as Error).message}`,
    )
  } finally {
    if (node !== undefined) components.unregister(peerId, channel)
    if (!channel.ended) await channel.close()
  }
}

/** The hello exchange; undefined when the node closed first. Throws after refusing the node. */
async function openSession(
  channel: ControlChannel,
  peerId: string,
  signal: AbortSignal,
  components: NodeSessionComponents,
): Promise<Node | undefined> {
  const refuse = async (error: Error & { code: string }): Promise<never> => {
    components.logger.warn(
      { event: 'session-refused', peerId, code: error.code },
      `session refused: ${error.message}`,
    )
    components.events.emit('session-refused', {
      peerId,
      code: error.code,
      message: error.message,
      at: components.now(),
    })
    await channel.fail(error)
    throw error
  }
  let hello: Hello | undefined
  const helloDeadline = AbortSignal.timeout(HELLO_TIMEOUT_MS)
  try {
    hello = await channel.receiveHello(AbortSignal.any([signal, helloDeadline]))
  } catch (error) {
    if (helloDeadline.aborted && !signal.aborted) {
      return refuse(
        new ControlError(ControlErrorCode.HELLO_TIMEOUT, `no hello within ${HELLO_TIMEOUT_MS} ms`, {
          remediation: 'Send a HELLO as soon as the session stream is open (docs/PROTOCOL.md §5).',
          retryable: true,
        }),
      )
    }
    // receiveHello already answered the node; say why on this side too. A RemoteError is the
    // node's own ERROR, not a refusal of ours.
    const coded = error as Error & { code?: string }
    if (typeof coded.code === 'string' && !(error instanceof RemoteError)) {
      components.events.emit('session-refused', {
        peerId,
        code: coded.code,
        message: coded.message,
        at: components.now(),
      })
    }
    throw error
  }
  if (hello === undefined) return undefined
  try {
    checkHello(hello, CONTROL_PROTOCOL_VERSION, { roles: ['appliance', 'connector'] })
  } catch (error) {
    return refuse(error as Error & { code: string })
  }
  if (hello.nodeId !== peerId) {
    return refuse(
      new ControlError(
        ControlErrorCode.NODE_ID_MISMATCH,
        `the hello names node ${hello.nodeId}, but the connection belongs to ${peerId}`,
        { remediation: 'Send the node id of the key the connection was made with (its peer id).' },
      ),
    )
  }
  let node: Node | undefined
  try {
    node = await components.store.findNode(peerId)
  } catch (error) {
    // The store's own code (STORE_*, retryable) tells the node to come back later.
    await channel.fail(error)
    throw error
  }
  if (node === undefined) {
    return refuse(
      new ControlError(ControlErrorCode.NOT_ENROLLED, `node ${peerId} is not enrolled`, {
        remediation: 'Enrol the node with a new token (lifeboat coordinator token create).',
      }),
    )
  }
  if (node.role !== hello.role) {
    return refuse(
      new ControlError(
        ControlErrorCode.ROLE_MISMATCH,
        `this node enrolled as a ${node.role} and cannot connect as a ${hello.role}`,
        { remediation: `Start the node with --role ${node.role}; a node keeps the role it enrolled with.` },
      ),
    )
  }
  if (hello.site !== undefined && hello.site !== node.siteId) {
    return refuse(
      new ControlError(
        ControlErrorCode.SITE_MISMATCH,
        `this node enrolled in site ${node.siteId}, not in site ${hello.site}`,
        { remediation: 'Remove the enrolment file from the node data directory only if it was copied.' },
      ),
    )
  }
  const replaced = components.register(peerId, channel, hello)
  replaced?.abort(
    new ControlError(ControlErrorCode.SESSION_REPLACED, 'a newer session of this node replaced this one', {
      remediation: 'Nothing: the node reconnected.',
      retryable: true,
    }),
  )
  await components.liveness.helloReceived(node, hello)
  await channel.send(components.hello(), signal)
  components.logger.info(
    { event: 'session-open', nodeId: peerId, role: node.role, siteId: node.siteId, software: hello.software },
    'node session open',
  )
  return node
}

async function readHeartbeats(
  channel: ControlChannel,
  node: Node,
  signal: AbortSignal,
  components: NodeSessionComponents,
): Promise<void> {
  for (;;) {
    const message: ControlMessage | undefined = await channel.receive(signal)
    if (message === undefined) return
    switch (message.t) {
      case MessageType.HEARTBEAT:
        components.liveness.heartbeat(node.id, message.load, message.intervalMs)
        break
      case MessageType.STATUS_REPLAY: {
        const replayer = components.statusReplay()
        if (replayer === undefined) {
          await channel.refuse(
            new UnexpectedMessageError(message.t, 'before this coordinator runs jobs', refOfMessage(message)),
          )
          break
        }
        const outcome = await replayer.handleStatusReplay(node.tenantId, node.id, message.items)
        if (outcome.seq === 0 && outcome.error !== undefined) {
          // Nothing could be handled (the store is failing): the node keeps its queue and retries.
          await channel.sendError(outcome.error, { reType: message.t, reId: message.rid })
          break
        }
        await channel.send({ t: MessageType.STATUS_ACK, rid: message.rid, seq: outcome.seq })
        break
      }
      case MessageType.ERROR:
        // The node refused something this side sent; the session itself goes on.
        components.logger.warn(
          { event: 'node-error', nodeId: node.id, code: message.code },
          `node reported: ${message.message}`,
        )
        break
      default: {
        const context =
          message.t === MessageType.ENROL
            ? `on a session stream: enrolment is on the enrolment listener (${ENROL_PROTOCOL_ID})`
            : 'on a session stream by this coordinator'
        await channel.refuse(new UnexpectedMessageError(message.t, context, refOfMessage(message)))
      }
    }
  }
}

/** The frame a refusal answers: its type and its `rid`, else its `seq` (§6). */
function refOfMessage(message: ControlMessage): FrameRef {
  const fields = message as { rid?: number; seq?: number }
  const reId = fields.rid ?? fields.seq
  return reId === undefined ? { reType: message.t } : { reType: message.t, reId }
}
