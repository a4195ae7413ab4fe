/**
 * Opening a stream to a peer over a connection that already exists, whichever side dialled it.
 *
 * The coordinator never dials a node (DESIGN.md "Direction"): an agent dials the coordinator and
 * keeps that connection, and the coordinator opens job streams back over it with
 * `connection.newStream(protocol)` — no listen address is needed on the agent (MEASURED-FACTS
 * pitfall 7). Once the agent is gone, libp2p reports it as ConnectionClosedError, MuxerClosedError,
 * a reset during protocol negotiation, or — when asked to dial — NoValidAddressesError; all of these
 * become one code, TRANSPORT_PEER_GONE (retryable: the agent redials).
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { abortedError, TransportError, TransportErrorCode, toTransportError } from './errors.js'

/** Protocol negotiation on a new stream must finish within this. */
export const DEFAULT_OPEN_STREAM_TIMEOUT_MS = 10_000

export interface OpenStreamOptions {
  signal?: AbortSignal
  /** Default DEFAULT_OPEN_STREAM_TIMEOUT_MS. */
  timeoutMs?: number
}

/** Opens a stream for `protocol` on `connection`. Rejects with TRANSPORT_PEER_GONE once it closed. */
export async function openStreamOn(
  connection: Connection,
  protocol: string,
  options: OpenStreamOptions = {},
): Promise<Stream> {
  if (connection.status !== 'open')
    throw peerGone(connection.remotePeer, `its connection is ${connection.status}`)
  const timeoutMs = options.timeoutMs ?? DEFAULT_OPEN_STREAM_TIMEOUT_MS
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
  try {
    return await connection.newStream(protocol, { signal })
  } catch (err) {
    if (options.signal?.aborted === true) throw abortedError(options.signal, `open ${protocol}`)
    // Whatever the exact error, a connection that closed meanwhile means the peer is gone.
    if (connection.status !== 'open') throw peerGone(connection.remotePeer, `its connection closed`, err)
    if (timeout.aborted) {
      throw new TransportError(
        TransportErrorCode.TIMEOUT,
        `open ${protocol}: no answer from ${connection.remotePeer} within ${timeoutMs} ms`,
        {
          remediation: 'The peer is overloaded or its event loop is blocked; retry later.',
          retryable: true,
          cause: err,
        },
      )
    }
    throw toTransportError(err, `open ${protocol} to ${connection.remotePeer}`)
  }
}

/**
 * Opens a stream for `protocol` on the newest open connection to `peer`. Never dials: a peer with no
 * open connection is TRANSPORT_PEER_GONE.
 */
export async function openStreamToPeer(
  node: Pick<Libp2p, 'getConnections'>,
  peer: PeerId,
  protocol: string,
  options: OpenStreamOptions = {},
): Promise<Stream> {
  const open = node.getConnections(peer).filter((c) => c.status === 'open')
  if (open.length === 0) throw peerGone(peer, 'it has no open connection')
  // The newest connection is the one most likely to be alive after a reconnect.
  open.sort((a, b) => b.timeline.open - a.timeline.open)
  return openStreamOn(open[0]!, protocol, options)
}

function peerGone(peer: PeerId, why: string, cause?: unknown): TransportError {
  return new TransportError(TransportErrorCode.PEER_GONE, `peer ${peer} is gone: ${why}`, {
    remediation: 'The node disconnected; it redials on its own. Retry once it is connected again.',
    retryable: true,
    cause,
  })
}
