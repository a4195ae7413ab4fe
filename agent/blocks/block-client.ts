/**
 * The appliance's end of the block link: `openBlockStream(node, connectorAddr)` dials the connector
 * (the appliance dials; the connector never dials, DESIGN.md "Direction"), opens a
 * `/lifeboat/blocks/1.0.0` stream, exchanges HELLOs (docs/PROTOCOL.md §5) and returns a stream
 * ready for OPEN_VOLUME. An ERROR from the connector is thrown as the RemoteError it carries, with
 * the connector's own code (`AGENT_BLOCKS_NOT_SUPPORTED` from a connector without a chunk store).
 *
 * Relay seam: `connectorAddr` is any multiaddr ending in the connector's `/p2p/<id>`. When the NAT
 * work adds circuit relay, a connector nobody can reach is given as
 * `/ip4/…/tcp/…/p2p/<relay>/p2p-circuit/p2p/<connector>`; the dial, the identity check (the last
 * /p2p/ component) and the conversation stay as they are.
 */
import type { Connection } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import {
  BLOCKS_PROTOCOL_ID,
  BLOCKS_PROTOCOL_VERSION,
  checkHello,
  type DataMessage,
  errorFromFrame,
  type Hello,
  MessageType,
  type OpenVolume,
  type ProtocolVersion,
  UnexpectedMessageError,
  type VolumeOpened,
} from '../../protocol/index.js'
import {
  abortedError,
  DEFAULT_DIAL_TIMEOUT_MS,
  type LifeboatNode,
  openStreamOn,
  toTransportError,
} from '../../transport/index.js'
import { BlockChannel } from '../../transport/message-channel.js'
import { BlockLinkError, BlockLinkErrorCode, invalidBlockOption } from './errors.js'

/** The connector's HELLO must arrive within this long after ours. */
export const CONNECTOR_HELLO_TIMEOUT_MS = 10_000

export interface OpenBlockStreamOptions {
  /** The site the appliance enrolled in, sent in its HELLO. */
  site?: string
  /** The software version for the HELLO, e.g. `lifeboat/0.1.0`. */
  software: string
  /** Default CONNECTOR_HELLO_TIMEOUT_MS; also bounds the dial (with DEFAULT_DIAL_TIMEOUT_MS). */
  helloTimeoutMs?: number
  /** Half a frame then this long without a byte ends the stream. Default 30 s. */
  idleTimeoutMs?: number
  signal?: AbortSignal
}

export interface BlockStream {
  readonly channel: BlockChannel
  readonly connection: Connection
  /** The connector's HELLO. */
  readonly connector: Hello
  /** The negotiated version: the common major and the lower minor. */
  readonly version: ProtocolVersion
  /**
   * Sends OPEN_VOLUME and waits for its answer. Throws the connector's ERROR as a RemoteError
   * (after which the connector has closed the stream), or BlockLinkError AGENT_BLOCKS_NO_ANSWER
   * when it closed without answering.
   */
  openVolume(open: Omit<OpenVolume, 't'>, signal?: AbortSignal): Promise<VolumeOpened>
  /** Closes our end after flushing. Never throws. */
  close(): Promise<void>
}

/** Dials the connector at `connectorAddr` and opens a negotiated block stream. */
export async function openBlockStream(
  node: LifeboatNode,
  connectorAddr: string,
  options: OpenBlockStreamOptions,
): Promise<BlockStream> {
  const connectorId = connectorIdIn(connectorAddr)
  const helloTimeoutMs = options.helloTimeoutMs ?? CONNECTOR_HELLO_TIMEOUT_MS
  let connection: Connection
  try {
    const dialLimit = AbortSignal.timeout(DEFAULT_DIAL_TIMEOUT_MS + helloTimeoutMs)
    connection = await node.dial(multiaddr(connectorAddr), {
      signal: options.signal === undefined ? dialLimit : AbortSignal.any([options.signal, dialLimit]),
    })
  } catch (error) {
    if (options.signal?.aborted === true) throw abortedError(options.signal, `dial connector ${connectorId}`)
    throw toTransportError(error, `dial connector ${connectorAddr}`)
  }
  if (connection.remotePeer.toString() !== connectorId) {
    throw new BlockLinkError(
      BlockLinkErrorCode.NODE_ID_MISMATCH,
      `dialled connector ${connectorId} but reached ${connection.remotePeer.toString()}`,
      {
        remediation:
          'Check the connector address: it must end in the /p2p/ id of the connector listening there.',
      },
    )
  }
  const stream = await openStreamOn(connection, BLOCKS_PROTOCOL_ID, { signal: options.signal })
  const channel = new BlockChannel(stream, { idleTimeoutMs: options.idleTimeoutMs })
  try {
    const own: Hello = {
      t: MessageType.HELLO,
      protocol: { ...BLOCKS_PROTOCOL_VERSION },
      nodeId: node.peerId.toString(),
      role: 'appliance',
      software: options.software,
    }
    if (options.site !== undefined) own.site = options.site
    await channel.send(own, options.signal)
    const deadline = AbortSignal.timeout(helloTimeoutMs)
    const signal = options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline])
    let hello: Hello | undefined
    try {
      hello = await channel.receiveHello(signal)
    } catch (error) {
      if (deadline.aborted) {
        const late = new BlockLinkError(
          BlockLinkErrorCode.HELLO_TIMEOUT,
          `connector ${connectorId} sent no hello within ${helloTimeoutMs} ms`,
          {
            remediation: 'The connector is overloaded or not a Lifeboat connector; retry later.',
            retryable: true,
          },
        )
        await channel.fail(late)
        throw late
      }
      throw error
    }
    if (hello === undefined) throw noAnswer(connectorId, 'its hello')
    let version: ProtocolVersion
    try {
      version = checkHello(hello, BLOCKS_PROTOCOL_VERSION, { roles: ['connector'] })
    } catch (error) {
      await channel.fail(error)
      throw error
    }
    if (hello.nodeId !== connectorId) {
      const mismatch = new BlockLinkError(
        BlockLinkErrorCode.NODE_ID_MISMATCH,
        `the hello names node ${hello.nodeId}, but the connection belongs to ${connectorId}`,
        { remediation: 'Send the node id of the key the connection was made with (its peer id).' },
      )
      await channel.fail(mismatch)
      throw mismatch
    }
    const connector = hello
    return {
      channel,
      connection,
      connector,
      version,
      openVolume: (open, openSignal) => openVolume(channel, connectorId, open, openSignal),
      close: () => channel.close(),
    }
  } catch (error) {
    if (!channel.ended) channel.abort(error)
    throw error
  }
}

async function openVolume(
  channel: BlockChannel,
  connectorId: string,
  open: Omit<OpenVolume, 't'>,
  signal?: AbortSignal,
): Promise<VolumeOpened> {
  await channel.send({ ...open, t: MessageType.OPEN_VOLUME }, signal)
  for (;;) {
    const answer: DataMessage | undefined = await channel.receive(signal)
    if (answer === undefined) throw noAnswer(connectorId, 'OPEN_VOLUME')
    if (answer.t === MessageType.VOLUME_OPENED && answer.rid === open.rid) return answer
    if (answer.t === MessageType.ERROR) {
      // An ERROR naming another request cannot be ours; one naming none answers the stream.
      if (answer.reId === undefined || answer.reId === open.rid) throw errorFromFrame(answer)
      continue
    }
    await channel.refuse(new UnexpectedMessageError(answer.t, 'while waiting for VOLUME_OPENED'))
  }
}

function noAnswer(connectorId: string, what: string): BlockLinkError {
  return new BlockLinkError(
    BlockLinkErrorCode.NO_ANSWER,
    `connector ${connectorId} closed the block stream without answering ${what}`,
    { remediation: 'Check the connector runs and its log for why; then retry.', retryable: true },
  )
}

/** The connector's node id: the last /p2p/ component (after a /p2p-circuit, the relayed peer). */
function connectorIdIn(address: string): string {
  let id: string | undefined
  try {
    id = multiaddr(address)
      .getComponents()
      .findLast((c) => c.name === 'p2p')?.value
  } catch {
    throw invalidBlockOption('connectorAddr', `${JSON.stringify(address)} is not a multiaddr`)
  }
  if (id === undefined)
    throw invalidBlockOption('connectorAddr', `${address} must end in /p2p/<connector id>`)
  return id
}
