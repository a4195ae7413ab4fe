/**
 * The one libp2p node factory for every role (appliance, connector, coordinator, relay).
 *
 * A *node* is a started libp2p instance: TCP transport, one *encrypter* (the connection security
 * protocol), Yamux as the stream multiplexer, identify and ping. Its identity is the Ed25519 key from
 * transport/identity.ts. A node *listens* only when given listen addresses: the coordinator and a
 * connector do; an appliance never does — it dials the coordinator and keeps that connection, and
 * the coordinator opens streams back over it (transport/open-stream.ts). The *gater* decides which
 * peers may connect: the coordinator's refuses peers that have not enrolled.
 *
 * Importing this module loads protocol/promise-with-resolvers.ts first, so any entry point that
 * builds a node has the polyfill libp2p 3 needs on Node 20 (MEASURED-FACTS pitfall 1).
 */
import '../protocol/promise-with-resolvers.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type Identify, identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { tls } from '@libp2p/tls'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { checkIntegerOption, TransportError, TransportErrorCode } from './errors.js'
import {
  MAX_STREAM_WINDOW_BYTES,
  STREAM_MAX_READ_BUFFER_BYTES,
  STREAM_MAX_WRITE_BUFFER_BYTES,
} from './limits.js'

/** Connection security protocols a node can use; both ends of a link must share one. */
export type EncrypterName = 'noise' | 'tls'

/**
 * TLS 1.3 (@libp2p/tls): in bench/transport-encryption.ts it moved bulk data faster than Noise on
 * one stream (median 0.41–0.42× raw TCP against 0.30–0.32×) and on four, cost less CPU per GiB in
 * the receiver, which is the bottleneck (1.8–1.9 s against 2.3–2.4 s), and carried 2.3–2.5× the
 * pipelined small messages (docs/TRANSPORT.md "Choosing the encrypter"). Noise stays selectable.
 */
export const DEFAULT_ENCRYPTER: EncrypterName = 'tls'
/** Connections kept before libp2p prunes: the coordinator holds one per enrolled node. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/** Inbound connections still in their handshake at once. */
export const DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS = 64
/**
 * New connections per second accepted from one IP address. libp2p's default (5) would throttle a
 * site where many appliances share one NAT address, or a fleet reconnecting after a coordinator
 * restart.
 */
export const DEFAULT_INBOUND_CONNECTION_THRESHOLD = 100
/** A dial (TCP connect + encryption + multiplexer) must finish within this. */
export const DEFAULT_DIAL_TIMEOUT_MS = 10_000
/** Streams one peer may open on one connection (inbound) and we may open (outbound). */
export const MAX_STREAMS_PER_CONNECTION = 1024
/** Yamux pings on every connection this often; its replies also grow the receive windows. */
export const KEEP_ALIVE_INTERVAL_MS = 30_000

export interface LifeboatNodeInit {
  /** The node's Ed25519 identity key (transport/identity.ts). Required. */
  privateKey: PrivateKey
  /**
   * Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/4100`. Default: none — the node only dials,
   * which is what an appliance does.
   */
  listen?: string[]
  /** Connection security protocol; both ends must choose the same. Default DEFAULT_ENCRYPTER ('tls'). */
  encrypter?: EncrypterName
  /**
   * Decides which connections are allowed; e.g. `denyInboundEncryptedConnection(peerId)` returning
   * true refuses a peer once its identity is proven. Default: allow everything.
   */
  gater?: ConnectionGater
  /** Default DEFAULT_MAX_CONNECTIONS. */
  maxConnections?: number
  /** Default DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS. */
  maxIncomingPendingConnections?: number
  /** Default DEFAULT_INBOUND_CONNECTION_THRESHOLD. */
  inboundConnectionThreshold?: number
  /** Default DEFAULT_DIAL_TIMEOUT_MS. */
  dialTimeoutMs?: number
  /** Lifeboat version, announced by identify as the agent version. */
  version?: string
  /** Stops the node when aborted. */
  signal?: AbortSignal
}

export type LifeboatNode = Libp2p<{ identify: Identify; ping: Ping }>

/** Builds and starts a node. Options are checked here; a bad one throws TRANSPORT_INVALID_OPTION. */
export async function createLifeboatNode(init: LifeboatNodeInit): Promise<LifeboatNode> {
  const privateKey = init.privateKey as PrivateKey | undefined
  if (privateKey?.type !== 'Ed25519') {
    throw invalid('privateKey must be an Ed25519 private key (see loadOrCreateIdentity)')
  }
  const listen = init.listen ?? []
  for (const address of listen) {
    try {
      multiaddr(address)
    } catch (err) {
      throw invalid(`listen address ${JSON.stringify(address)} is not a multiaddr`, err)
    }
  }
  const encrypter = init.encrypter ?? DEFAULT_ENCRYPTER
  if (encrypter !== 'noise' && encrypter !== 'tls') throw invalid(`encrypter must be 'noise' or 'tls'`)
  const maxConnections = checkIntegerOption(
    'maxConnections',
    init.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    1,
    1_000_000,
  )
  const maxIncomingPendingConnections = checkIntegerOption(
    'maxIncomingPendingConnections',
    init.maxIncomingPendingConnections ?? DEFAULT_MAX_INCOMING_PENDING_CONNECTIONS,
    1,
    100_000,
  )
  const inboundConnectionThreshold = checkIntegerOption(
    'inboundConnectionThreshold',
    init.inboundConnectionThreshold ?? DEFAULT_INBOUND_CONNECTION_THRESHOLD,
    1,
    1_000_000,
  )
  const dialTimeout = checkIntegerOption(
    'dialTimeoutMs',
    init.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
    100,
    600_000,
  )
  init.signal?.throwIfAborted()

  const node = await createLibp2p({
    privateKey,
    nodeInfo: { name: 'lifeboat', version: init.version ?? '0.0.0' },
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [encrypter === 'tls' ? tls() : noise()],
    streamMuxers: [
      yamux({
        // Keep-alive stays on: without its pings Yamux never measures the RTT, the receive window
        // never grows past 256 KiB and one stream runs at half speed (MEASURED-FACTS "Transport").
        enableKeepAlive: true,
        keepAliveInterval: KEEP_ALIVE_INTERVAL_MS,
        maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
        maxOutboundStreams: MAX_STREAMS_PER_CONNECTION,
        streamOptions: {
          maxStreamWindowSize: MAX_STREAM_WINDOW_BYTES,
          maxReadBufferLength: STREAM_MAX_READ_BUFFER_BYTES,
          maxWriteBufferLength: STREAM_MAX_WRITE_BUFFER_BYTES,
        },
      }),
    ],
    connectionGater: init.gater ?? {},
    connectionManager: {
      maxConnections,
      maxIncomingPendingConnections,
      inboundConnectionThreshold,
      dialTimeout,
    },
    services: { identify: identify(), ping: ping() },
    start: true,
  })

  if (init.signal !== undefined) {
    const signal = init.signal
    const stop = (): void => {
      void node.stop()
    }
    if (signal.aborted) stop()
    else {
      signal.addEventListener('abort', stop, { once: true })
      node.addEventListener('stop', () => signal.removeEventListener('abort', stop), { once: true })
    }
  }
  return node
}

/** The multiaddrs other nodes can dial to reach this one, each ending in /p2p/<node id>. */
export function dialableAddresses(node: LifeboatNode): string[] {
  return node.getMultiaddrs().map((address) => address.toString())
}

function invalid(message: string, cause?: unknown): TransportError {
  return new TransportError(TransportErrorCode.INVALID_OPTION, message, {
    remediation: 'Fix the node configuration; docs/TRANSPORT.md lists every option.',
    cause,
  })
}
