/**
 * A session with the coordinator on the agent's side: the control stream this node opens on its
 * connection to the coordinator (docs/PROTOCOL.md §4 "Session stream"). The node says HELLO (its
 * node id, role and site), checks the coordinator's HELLO, then sends a HEARTBEAT with its load
 * report at once and every `heartbeatIntervalMs` after, until the stream or the connection ends.
 * Once open, the session is handed to the node's status replay (StatusReplaySink), which sends its
 * queued updates as STATUS_REPLAY batches; their STATUS_ACKs come back here. SITE_LOAD (control
 * 1.1: a site peer's load, relayed by the coordinator) is passed to `onSiteLoad`.
 *
 * How a session ends decides what the client does next: *closed* (the coordinator closed the
 * stream) and *failed* (reset, stall, connection lost) are retried; *refused* (an ERROR answered
 * the hello, or the coordinator's hello was unacceptable) is retried only when the error says a
 * retry can help.
 */
import type { Connection } from '@libp2p/interface'
import {
  CONTROL_PROTOCOL_ID,
  CONTROL_PROTOCOL_VERSION,
  checkHello,
  MessageType,
  type ProtocolVersion,
  RemoteError,
  type StatusAck,
  type StatusReplay,
  UnexpectedMessageError,
} from '../../protocol/index.js'
import { openStreamOn } from '../../transport/index.js'
import { ControlChannel } from '../../transport/message-channel.js'
import type { SiteLoadDetail } from './events.js'
import type { LoadSampler } from './load-sampler.js'
import type { AgentLogger } from './logger.js'

/** The coordinator must answer the session hello this soon; else the session is opened again. */
export const HELLO_TIMEOUT_MS = 30_000

export interface CoordinatorSessionOptions {
  role: 'appliance' | 'connector'
  /** The site the node enrolled in, announced in its hello. */
  site?: string
  software: string
  /** A connector's block listen addresses, announced in its hello (control 1.1 `addrs`). */
  blockAddresses?: string[]
  heartbeatIntervalMs: number
  idleTimeoutMs: number
  /** Ends the session when aborted (the client stops). */
  signal: AbortSignal
}

export interface CoordinatorSessionComponents {
  nodeId: string
  coordinatorId: string
  sampler: LoadSampler
  logger: AgentLogger
  /** Called once the coordinator answered the hello. */
  onOpen: (version: ProtocolVersion) => void
  /** Told about each open session, to replay queued status updates on it. */
  statusReplay: StatusReplaySink | undefined
  /** Told about each site peer's load the coordinator relays (SITE_LOAD, control 1.1). */
  onSiteLoad?: (detail: SiteLoadDetail) => void
}

/** Sends one STATUS_REPLAY on a session and resolves with its STATUS_ACK; rejects when the session ends. */
export type SendStatusReplay = (replay: StatusReplay) => Promise<StatusAck>

/** What replays a node's queued status updates: told when a session opens and when it ends. */
export interface StatusReplaySink {
  sessionOpened(send: SendStatusReplay): void
  sessionClosed(send: SendStatusReplay): void
}

export type SessionEnd =
  | { kind: 'closed' }
  | { kind: 'failed'; error: Error }
  | { kind: 'refused'; error: Error & { code: string; retryable: boolean } }

/** Runs one session to its end. Never throws. */
export async function runCoordinatorSession(
  connection: Connection,
  options: CoordinatorSessionOptions,
  components: CoordinatorSessionComponents,
): Promise<SessionEnd> {
  const { signal } = options
  let channel: ControlChannel
  try {
    channel = new ControlChannel(await openStreamOn(connection, CONTROL_PROTOCOL_ID, { signal }), {
      idleTimeoutMs: options.idleTimeoutMs,
    })
  } catch (error) {
    return { kind: 'failed', error: error as Error }
  }
  let heartbeats: NodeJS.Timeout | undefined
  // STATUS_REPLAY requests waiting for their STATUS_ACK, by rid.
  const replays = new Map<number, { resolve: (ack: StatusAck) => void; reject: (error: Error) => void }>()
  const sink = components.statusReplay
  const sendReplay: SendStatusReplay = (replay) =>
    new Promise<StatusAck>((resolve, reject) => {
      if (channel.ended) {
        reject(new Error('the session with the coordinator has ended'))
        return
      }
      replays.set(replay.rid, { resolve, reject })
      channel.send(replay).catch((error: unknown) => {
        replays.delete(replay.rid)
        reject(error as Error)
      })
    })
  let replayOpen = false
  try {
    await channel.send(
      {
        t: MessageType.HELLO,
        protocol: { ...CONTROL_PROTOCOL_VERSION },
        nodeId: components.nodeId,
        role: options.role,
        ...(options.site === undefined ? {} : { site: options.site }),
        software: options.software,
        ...(options.blockAddresses === undefined || options.blockAddresses.length === 0
          ? {}
          : { addrs: options.blockAddresses }),
      },
      signal,
    )
    let hello: Awaited<ReturnType<ControlChannel['receiveHello']>>
    try {
      hello = await channel.receiveHello(AbortSignal.any([signal, AbortSignal.timeout(HELLO_TIMEOUT_MS)]))
    } catch (error) {
      return refusedOrFailed(error)
    }
    if (hello === undefined) return { kind: 'closed' }
    try {
      const version = checkHello(hello, CONTROL_PROTOCOL_VERSION, { roles: ['coordinator'] })
      if (hello.nodeId !== components.coordinatorId) {
        throw new UnexpectedMessageError(MessageType.HELLO, `from ${hello.nodeId} (expected the coordinator)`)
      }
      components.onOpen(version)
    } catch (error) {
      await channel.fail(error)
      return refusedOrFailed(error)
    }
    const beat = (): void => {
      const heartbeat = {
        t: MessageType.HEARTBEAT,
        at: Date.now(),
        intervalMs: options.heartbeatIntervalMs,
        load: components.sampler.sample(),
      } as const
      channel.send(heartbeat).catch((error: unknown) => channel.abort(error))
    }
    beat()
    heartbeats = setInterval(beat, options.heartbeatIntervalMs)
    if (sink !== undefined) {
      replayOpen = true
      sink.sessionOpened(sendReplay)
    }
    for (;;) {
      const message = await channel.receive(signal)
      if (message === undefined) return { kind: 'closed' }
      if (message.t === MessageType.STATUS_ACK) {
        const rid = message.rid ?? replays.keys().next().value
        const waiting = rid === undefined ? undefined : replays.get(rid)
        if (waiting !== undefined) {
          replays.delete(rid!)
          waiting.resolve(message)
        }
        continue
      }
      if (message.t === MessageType.SITE_LOAD) {
        components.onSiteLoad?.({
          nodeId: message.nodeId,
          role: message.role,
          intervalMs: message.intervalMs,
          load: message.load,
          receivedAt: Date.now(),
        })
        continue
      }
      if (message.t === MessageType.ERROR && message.reType === MessageType.STATUS_REPLAY) {
        const waiting = message.reId === undefined ? undefined : replays.get(message.reId)
        if (waiting !== undefined) {
          replays.delete(message.reId!)
          waiting.reject(new RemoteError(message))
          continue
        }
      }
      if (message.t === MessageType.ERROR) {
        // The coordinator refused a frame of ours; the session goes on unless it closes it.
        components.logger.warn(
          { event: 'coordinator-error', code: message.code, reType: message.reType },
          `coordinator reported: ${message.message}`,
        )
        continue
      }
      await channel.refuse(
        new UnexpectedMessageError(message.t, 'on a session stream from the coordinator', {
          reType: message.t,
        }),
      )
    }
  } catch (error) {
    return { kind: 'failed', error: error as Error }
  } finally {
    clearInterval(heartbeats)
    if (replayOpen) sink!.sessionClosed(sendReplay)
    for (const waiting of replays.values())
      waiting.reject(new Error('the session with the coordinator ended'))
    replays.clear()
    if (!channel.ended) await channel.close()
  }
}

/** An error the coordinator sent, or a fatal problem with its hello, is a refusal. */
function refusedOrFailed(error: unknown): SessionEnd {
  const coded = error as Error & { code?: unknown; retryable?: unknown; fatal?: unknown }
  if (typeof coded.code === 'string' && (error instanceof RemoteError || coded.fatal === true)) {
    return {
      kind: 'refused',
      error: coded as Error & { code: string; retryable: boolean },
    }
  }
  return { kind: 'failed', error: coded }
}
