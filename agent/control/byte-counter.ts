/**
 * Counting the bytes a node moves, for the send and receive rates of its load reports. The count
 * is taken where every byte passes: the TCP socket under each of the node's connections, whose
 * `bytesWritten` / `bytesRead` Node keeps anyway. So it covers every stream (control, jobs, block
 * data) and the encryption and multiplexing overhead, at no cost per byte.
 *
 * libp2p exposes no byte counts without a metrics implementation, and the transport's node factory
 * installs none, so the socket is reached through the connection's multiaddr connection
 * (`connection.maConn.socket`, @libp2p/tcp's TCPSocketMultiaddrConnection), which is not part of
 * libp2p's public interface. A connection whose socket cannot be reached that way (another
 * transport, a libp2p change) counts zero; the tests pin the versions in package.json to a
 * working path.
 *
 * A *sample* is the bytes moved since the previous sample, including connections that opened and
 * closed in between: each is registered when it opens and counted a last time after it closes.
 */
import type { Connection, Libp2p } from '@libp2p/interface'

export interface ByteCounts {
  sent: number
  received: number
}

interface SocketCounters {
  bytesWritten: number
  bytesRead: number
}

interface Tracked {
  connection: Connection
  sent: number
  received: number
}

export class ByteCounter {
  readonly #node: Pick<Libp2p, 'getConnections' | 'addEventListener' | 'removeEventListener'>
  readonly #tracked = new Map<string, Tracked>()
  readonly #onOpen = (event: CustomEvent<Connection>): void => this.#track(event.detail)

  constructor(node: Pick<Libp2p, 'getConnections' | 'addEventListener' | 'removeEventListener'>) {
    this.#node = node
    for (const connection of node.getConnections()) this.#track(connection)
    node.addEventListener('connection:open', this.#onOpen)
  }

  /** Bytes sent and received on all connections since the previous sample. */
  sample(): ByteCounts {
    for (const connection of this.#node.getConnections()) this.#track(connection)
    let sent = 0
    let received = 0
    for (const [id, tracked] of this.#tracked) {
      const counters = socketOf(tracked.connection)
      if (counters !== undefined) {
        sent += Math.max(0, counters.bytesWritten - tracked.sent)
        received += Math.max(0, counters.bytesRead - tracked.received)
        tracked.sent = counters.bytesWritten
        tracked.received = counters.bytesRead
      }
      // A closed connection's socket keeps its final counts: it was just counted a last time.
      if (tracked.connection.status === 'closed') this.#tracked.delete(id)
    }
    return { sent, received }
  }

  /** Stops registering new connections. */
  stop(): void {
    this.#node.removeEventListener('connection:open', this.#onOpen)
    this.#tracked.clear()
  }

  #track(connection: Connection): void {
    if (this.#tracked.has(connection.id)) return
    // Counted from zero: the handshake's bytes belong to the interval the connection opened in.
    this.#tracked.set(connection.id, { connection, sent: 0, received: 0 })
  }
}

/** The TCP socket's counters under a connection, when reachable (see the module comment). */
function socketOf(connection: Connection): SocketCounters | undefined {
  const socket = (connection as unknown as { maConn?: { socket?: Partial<SocketCounters> } }).maConn?.socket
  if (typeof socket?.bytesWritten !== 'number' || typeof socket.bytesRead !== 'number') return undefined
  return socket as SocketCounters
}
