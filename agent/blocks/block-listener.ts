/**
 * The connector's block-data listener (docs/TRANSPORT.md "Block-data listener"). Block data goes
 * from appliance to connector directly (DESIGN.md "Direction"): the connector's libp2p node listens
 * on the *block listen addresses* it is given (`lifeboat agent start --role connector
 * --block-listen /ip4/0.0.0.0/tcp/7410`) and serves `/lifeboat/blocks/1.0.0` streams the appliance
 * opens; the connector never dials. An appliance never listens: asking it to is refused.
 *
 * A stream runs the block conversation of docs/PROTOCOL.md §4: the appliance's HELLO (checked for
 * major, role and node id), the connector's HELLO, then OPEN_VOLUME. With a chunk store, the
 * OPEN_VOLUME starts a volume session (volume-session.ts; a refusal — a stale fencing token, a
 * missing base point — is answered with the store's ERROR and the stream is closed) and the rest of
 * the stream is served by volume-conversation.ts. Without one, every OPEN_VOLUME is answered with
 * an ERROR `AGENT_BLOCKS_NOT_SUPPORTED` and the stream is closed — visibly not supported, never a
 * fake VOLUME_OPENED. Frames the codec refuses and valid messages out of place are answered per §6
 * and the stream stays usable.
 *
 * Relay seam: a connector nobody can reach will later listen on a relay reservation
 * (`/p2p/<relay>/p2p-circuit`) as well; those addresses go into the same `listen` list, and this
 * handler serves relayed streams unchanged.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { ChunkStore } from '../../blockio/chunk-store/chunk-store.js'
import {
  BLOCKS_PROTOCOL_ID,
  BLOCKS_PROTOCOL_VERSION,
  checkHello,
  type DataMessage,
  type Hello,
  MessageType,
  type OpenVolume,
  RemoteError,
  UnexpectedMessageError,
} from '../../protocol/index.js'
import { dialableAddresses, type LifeboatNode } from '../../transport/index.js'
import { BlockChannel } from '../../transport/message-channel.js'
import { type AgentLogger, silentLogger } from '../control/logger.js'
import { BlockLinkError, BlockLinkErrorCode, blocksNotSupported, invalidBlockOption } from './errors.js'
import { serveVolume } from './volume-conversation.js'
import { VolumeSession } from './volume-session.js'

/** The appliance's HELLO must arrive within this long after it opened the stream. */
export const BLOCK_HELLO_TIMEOUT_MS = 10_000
/** Block listen addresses a connector takes: as many as a replication payload can name. */
export const MAX_BLOCK_LISTEN_ADDRESSES = 16

export interface BlockListenerInit {
  /** The site the connector enrolled in, sent in its HELLO. */
  site?: string
  /** The software version for the HELLO, e.g. `lifeboat/0.1.0`. */
  software: string
  /** Default BLOCK_HELLO_TIMEOUT_MS. */
  helloTimeoutMs?: number
  /** Half a frame then this long without a byte ends the stream. Default 30 s. */
  idleTimeoutMs?: number
  logger?: AgentLogger
  /** Where volumes are stored. Absent: every OPEN_VOLUME is refused AGENT_BLOCKS_NOT_SUPPORTED. */
  chunkStore?: ChunkStore
  /** The clock a committed point's createdAt is read from. Default Date.now. */
  now?: () => number
  /** Stops the listener when aborted (as stop()); the node's own stop ends it as well. */
  signal?: AbortSignal
}

export interface BlockListener {
  /** The addresses an appliance dials, each ending in /p2p/<connector id>. */
  readonly addresses: string[]
  /** Stops serving block streams and resets those still open. Idempotent. */
  stop(): Promise<void>
}

/**
 * The listen addresses for a node of `role`: checked multiaddrs for a connector, none when none
 * were given. An appliance given any is refused: it dials connectors and never listens.
 */
export function blockListenAddresses(role: string, addresses: readonly string[] | undefined): string[] {
  if (addresses === undefined || addresses.length === 0) return []
  if (role !== 'connector') {
    throw invalidBlockOption(
      'blockListen',
      `is for connectors only; a ${role} dials connectors and never listens`,
      'Drop --block-listen, or start the node with --role connector.',
    )
  }
  if (addresses.length > MAX_BLOCK_LISTEN_ADDRESSES) {
    throw invalidBlockOption(
      'blockListen',
      `names ${addresses.length} addresses, at most ${MAX_BLOCK_LISTEN_ADDRESSES}`,
    )
  }
  for (const address of addresses) {
    try {
      multiaddr(address)
    } catch (error) {
      const invalid = invalidBlockOption('blockListen', `${JSON.stringify(address)} is not a multiaddr`)
      Object.defineProperty(invalid, 'cause', { value: error })
      throw invalid
    }
  }
  return [...addresses]
}

/**
 * Serves block streams on `node`, which must have been created with the block listen addresses
 * (blockListenAddresses) as its `listen` list.
 */
export async function startBlockListener(
  node: LifeboatNode,
  init: BlockListenerInit,
): Promise<BlockListener> {
  const logger = init.logger ?? silentLogger
  const stopping = new AbortController()
  const serving = new Set<Promise<void>>()
  await node.handle(BLOCKS_PROTOCOL_ID, (stream, connection) => {
    // The channel is built inside serveBlockStream before its first await: it owns the stream.
    const run = serveBlockStream(stream, connection, node, { ...init, logger }, stopping.signal)
    serving.add(run)
    void run.finally(() => serving.delete(run))
  })
  const addresses = dialableAddresses(node)
  logger.info({ event: 'block-listener-started', addresses }, 'listening for block data')
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping.abort()
      await node.unhandle(BLOCKS_PROTOCOL_ID).catch(() => undefined)
      await Promise.all(serving)
    })()
    return stopped
  }
  if (init.signal?.aborted === true) await stop()
  else init.signal?.addEventListener('abort', () => void stop(), { once: true })
  return { addresses, stop }
}

/** Runs one block stream to its end. Never throws: every ending is logged. */
async function serveBlockStream(
  stream: Stream,
  connection: Connection,
  node: LifeboatNode,
  init: BlockListenerInit & { logger: AgentLogger },
  stopping: AbortSignal,
): Promise<void> {
  const channel = new BlockChannel(stream, { idleTimeoutMs: init.idleTimeoutMs })
  const peerId = connection.remotePeer.toString()
  const { logger } = init
  const onStop = (): void => channel.abort(new Error('the connector is stopping'))
  stopping.addEventListener('abort', onStop, { once: true })
  try {
    const hello = await receiveApplianceHello(channel, peerId, init.helloTimeoutMs ?? BLOCK_HELLO_TIMEOUT_MS)
    if (hello === undefined) return
    const own: Hello = {
      t: MessageType.HELLO,
      protocol: { ...BLOCKS_PROTOCOL_VERSION },
      nodeId: node.peerId.toString(),
      role: 'connector',
      software: init.software,
    }
    if (init.site !== undefined) own.site = init.site
    await channel.send(own)
    logger.info({ event: 'block-stream-opened', peerId }, 'an appliance opened a block stream')
    await converse(channel, peerId, init)
  } catch (error) {
    if (stopping.aborted) return
    const code = (error as { code?: unknown }).code
    logger.warn(
      { event: 'block-stream-ended', peerId, code, err: error },
      `block stream ended: ${(error as Error).message}`,
    )
  } finally {
    stopping.removeEventListener('abort', onStop)
    if (!channel.ended) await channel.close()
  }
}

/** The appliance's HELLO, checked; undefined when it closed first. Throws after refusing it. */
async function receiveApplianceHello(
  channel: BlockChannel,
  peerId: string,
  timeoutMs: number,
): Promise<Hello | undefined> {
  const deadline = AbortSignal.timeout(timeoutMs)
  let hello: Hello | undefined
  try {
    hello = await channel.receiveHello(deadline)
  } catch (error) {
    if (deadline.aborted) {
      const late = new BlockLinkError(BlockLinkErrorCode.HELLO_TIMEOUT, `no hello within ${timeoutMs} ms`, {
        remediation: 'Send a HELLO as soon as the block stream is open (docs/PROTOCOL.md §5).',
        retryable: true,
      })
      await channel.fail(late)
      throw late
    }
    throw error
  }
  if (hello === undefined) return undefined
  try {
    checkHello(hello, BLOCKS_PROTOCOL_VERSION, { roles: ['appliance'] })
  } catch (error) {
    await channel.fail(error)
    throw error
  }
  if (hello.nodeId !== peerId) {
    const mismatch = new BlockLinkError(
      BlockLinkErrorCode.NODE_ID_MISMATCH,
      `the hello names node ${hello.nodeId}, but the connection belongs to ${peerId}`,
      { remediation: 'Send the node id of the key the connection was made with (its peer id).' },
    )
    await channel.fail(mismatch)
    throw mismatch
  }
  return hello
}

/**
 * After the hellos: OPEN_VOLUME starts the volume (or is refused as not supported without a chunk
 * store); anything else out of place per §6.
 */
async function converse(
  channel: BlockChannel,
  peerId: string,
  init: BlockListenerInit & { logger: AgentLogger },
): Promise<void> {
  const { logger } = init
  for (;;) {
    const message = await channel.receive()
    if (message === undefined) return
    switch (message.t) {
      case MessageType.OPEN_VOLUME: {
        if (init.chunkStore !== undefined) {
          await openVolume(channel, peerId, message, { ...init, chunkStore: init.chunkStore })
          return
        }
        const refusal = blocksNotSupported()
        logger.warn(
          {
            event: 'open-volume-refused',
            peerId,
            volumeId: message.volumeId,
            jobId: message.jobId,
            code: refusal.code,
          },
          'refused a volume: this connector cannot store blocks yet',
        )
        await channel.fail(refusal, { reType: MessageType.OPEN_VOLUME, reId: message.rid })
        return
      }
      case MessageType.ERROR: {
        // Never answered (§6): the appliance gave up on the stream.
        const remote = new RemoteError(message)
        logger.info(
          { event: 'block-stream-error', peerId, code: remote.code },
          `appliance sent an error: ${remote.message}`,
        )
        return
      }
      case MessageType.ABORT:
        // No volume is open, so there is nothing to discard; the appliance closes its end.
        return
      default:
        await channel.refuse(
          new UnexpectedMessageError(message.t, 'before OPEN_VOLUME on a block stream', frameRefOf(message)),
        )
    }
  }
}

/** Starts the volume's session and serves it; a refused OPEN_VOLUME closes the stream. */
async function openVolume(
  channel: BlockChannel,
  peerId: string,
  open: OpenVolume,
  init: BlockListenerInit & { logger: AgentLogger; chunkStore: ChunkStore },
): Promise<void> {
  const { logger } = init
  const fields = {
    peerId,
    tenant: open.tenant,
    jobId: open.jobId,
    volumeId: open.volumeId,
    fencingToken: open.fencingToken,
  }
  let session: VolumeSession
  try {
    session = await VolumeSession.start(open, { store: init.chunkStore, now: init.now ?? Date.now })
  } catch (error) {
    const code = (error as { code?: unknown }).code
    logger.warn(
      { event: 'open-volume-refused', ...fields, code, err: error },
      `refused a volume: ${(error as Error).message}`,
    )
    await channel.fail(error, { reType: MessageType.OPEN_VOLUME, reId: open.rid })
    return
  }
  try {
    await channel.send({ t: MessageType.VOLUME_OPENED, rid: open.rid, volumeId: open.volumeId })
    logger.info(
      {
        event: 'volume-opened',
        ...fields,
        blockCount: open.blockCount,
        baseRecoveryPointId: open.baseRecoveryPointId,
      },
      'opened a volume',
    )
  } catch (error) {
    session.release()
    throw error
  }
  await serveVolume({ channel, session, peerId, logger })
}

function frameRefOf(message: DataMessage): { reId?: number } {
  const m = message as { rid?: unknown; seq?: unknown }
  if (typeof m.rid === 'number') return { reId: m.rid }
  if (typeof m.seq === 'number') return { reId: m.seq }
  return {}
}
