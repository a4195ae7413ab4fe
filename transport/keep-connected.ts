/**
 * Keeping one connection to a peer open: an agent to the coordinator, an appliance to its connector.
 *
 * A ConnectionKeeper dials `peerAddr` (a multiaddr that ends in /p2p/<peer id>, so libp2p checks the
 * peer's identity), reports 'connected', waits until that connection closes, reports
 * 'disconnected' and dials again. Failed dials are retried after a *backoff* that doubles from
 * RECONNECT_BASE_DELAY_MS up to RECONNECT_MAX_DELAY_MS; each delay is *jittered* (a random point
 * in its upper half) so a fleet of agents that lost the coordinator together does not redial in
 * lock-step. A connection that dropped soon after it opened counts as a failed attempt, so a peer
 * that accepts and then refuses us is not hammered.
 *
 * Events (each a CustomEvent): 'connected' (detail: the Connection), 'disconnected' (detail: the
 * Connection that closed), 'dial-failed' (detail: DialFailure).
 */
import type { Connection, Libp2p } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { checkIntegerOption, TransportError, TransportErrorCode, toTransportError } from './errors.js'
import { sleep, waitForEvents } from './stream-events.js'

/** First retry delay after a failed dial. */
export const RECONNECT_BASE_DELAY_MS = 500
/** Longest delay between two dials. */
export const RECONNECT_MAX_DELAY_MS = 30_000
/** A dial attempt (TCP, encryption, multiplexer) is given up after this. */
export const RECONNECT_DIAL_TIMEOUT_MS = 10_000
/** A connection that stayed open this long resets the backoff to its first step. */
export const STABLE_CONNECTION_MS = 10_000

export interface KeepConnectedInit {
  /** Stops the keeper when aborted (same as `stop()`). */
  signal?: AbortSignal
  /** Default RECONNECT_BASE_DELAY_MS. */
  baseDelayMs?: number
  /** Default RECONNECT_MAX_DELAY_MS. */
  maxDelayMs?: number
  /** Default RECONNECT_DIAL_TIMEOUT_MS. */
  dialTimeoutMs?: number
}

export interface DialFailure {
  error: TransportError
  /** Failed attempts in a row, this one included. */
  attempt: number
  /** The delay before the next dial. */
  retryInMs: number
}

export interface ConnectionKeeperEvents {
  connected: CustomEvent<Connection>
  disconnected: CustomEvent<Connection>
  'dial-failed': CustomEvent<DialFailure>
}

/**
 * The delay before dial number `attempt + 1` after `attempt` failures in a row (attempt ≥ 1):
 * min(max, base × 2^(attempt−1)), jittered uniformly into its upper half.
 */
export function reconnectDelayMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

export class ConnectionKeeper extends EventTarget {
  readonly peerAddr: Multiaddr
  private readonly node: Pick<Libp2p, 'dial' | 'addEventListener' | 'removeEventListener'>
  private readonly baseDelayMs: number
  private readonly maxDelayMs: number
  private readonly dialTimeoutMs: number
  private readonly controller = new AbortController()
  private current: Connection | undefined
  private loop: Promise<void> | undefined
  private readonly onNodeStop = (): void => {
    void this.stop()
  }

  constructor(node: Libp2p, peerAddr: string | Multiaddr, init: KeepConnectedInit = {}) {
    super()
    this.node = node
    try {
      this.peerAddr = typeof peerAddr === 'string' ? multiaddr(peerAddr) : peerAddr
    } catch (err) {
      throw invalid(`peerAddr ${JSON.stringify(String(peerAddr))} is not a multiaddr`, err)
    }
    if (this.peerAddr.getComponents().every((c) => c.name !== 'p2p')) {
      throw invalid(`peerAddr ${this.peerAddr} must end in /p2p/<peer id> so the peer's identity is checked`)
    }
    this.baseDelayMs = checkIntegerOption(
      'baseDelayMs',
      init.baseDelayMs ?? RECONNECT_BASE_DELAY_MS,
      1,
      3600_000,
    )
    this.maxDelayMs = checkIntegerOption(
      'maxDelayMs',
      init.maxDelayMs ?? RECONNECT_MAX_DELAY_MS,
      1,
      24 * 3600_000,
    )
    this.dialTimeoutMs = checkIntegerOption(
      'dialTimeoutMs',
      init.dialTimeoutMs ?? RECONNECT_DIAL_TIMEOUT_MS,
      100,
      600_000,
    )
    if (init.signal !== undefined) {
      if (init.signal.aborted) this.controller.abort()
      else init.signal.addEventListener('abort', () => void this.stop(), { once: true })
    }
  }

  /** The open connection, or undefined while (re)dialling. */
  get connection(): Connection | undefined {
    return this.current?.status === 'open' ? this.current : undefined
  }

  get stopped(): boolean {
    return this.controller.signal.aborted
  }

  /** Starts dialling; idempotent. */
  start(): void {
    if (this.loop !== undefined || this.stopped) return
    this.node.addEventListener('stop', this.onNodeStop)
    this.loop = this.run()
  }

  /** Stops redialling and waits for the loop to end; the current connection is left open. Idempotent. */
  async stop(): Promise<void> {
    this.controller.abort()
    this.node.removeEventListener('stop', this.onNodeStop)
    await this.loop
  }

  /** The open connection, waiting for the next 'connected' when there is none. */
  async waitForConnection(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Connection> {
    for (;;) {
      const open = this.connection
      if (open !== undefined) return open
      if (this.stopped) throw invalid('the connection keeper is stopped')
      await waitForEvents([[this, ['connected']]], `connect to ${this.peerAddr}`, options)
    }
  }

  private async run(): Promise<void> {
    const stop = this.controller.signal
    let failures = 0
    while (!stop.aborted) {
      let connection: Connection
      try {
        const timeout = AbortSignal.timeout(this.dialTimeoutMs)
        connection = await this.node.dial(this.peerAddr, { signal: AbortSignal.any([stop, timeout]) })
      } catch (err) {
        if (stop.aborted) break
        failures++
        await this.backoff(failures, dialFailed(this.peerAddr, err))
        continue
      }
      this.current = connection
      this.dispatchEvent(new CustomEvent('connected', { detail: connection }))
      await closedOrStopped(connection, stop)
      const lived = Date.now() - connection.timeline.open
      this.current = undefined
      if (stop.aborted) break
      this.dispatchEvent(new CustomEvent('disconnected', { detail: connection }))
      failures = lived >= STABLE_CONNECTION_MS ? 1 : failures + 1
      await sleep(reconnectDelayMs(failures, this.baseDelayMs, this.maxDelayMs), stop).catch(() => undefined)
    }
  }

  private async backoff(failures: number, error: TransportError): Promise<void> {
    const retryInMs = reconnectDelayMs(failures, this.baseDelayMs, this.maxDelayMs)
    const detail: DialFailure = { error, attempt: failures, retryInMs }
    this.dispatchEvent(new CustomEvent('dial-failed', { detail }))
    await sleep(retryInMs, this.controller.signal).catch(() => undefined)
  }
}

/** Builds a ConnectionKeeper for `peerAddr` and starts it. */
export function keepConnected(
  node: Libp2p,
  peerAddr: string | Multiaddr,
  init: KeepConnectedInit = {},
): ConnectionKeeper {
  const keeper = new ConnectionKeeper(node, peerAddr, init)
  keeper.start()
  return keeper
}

async function closedOrStopped(connection: Connection, stop: AbortSignal): Promise<void> {
  if (connection.status !== 'open' || stop.aborted) return
  await waitForEvents([[connection, ['close']]], 'connection', { signal: stop }).catch(() => undefined)
}

function dialFailed(peerAddr: Multiaddr, err: unknown): TransportError {
  const cause = toTransportError(err, `dial ${peerAddr}`)
  return new TransportError(TransportErrorCode.DIAL_FAILED, `dial ${peerAddr} failed: ${cause.message}`, {
    remediation: 'Check that the peer runs and is reachable at this address, and that its node id matches.',
    retryable: true,
    cause: err,
  })
}

function invalid(message: string, cause?: unknown): TransportError {
  return new TransportError(TransportErrorCode.INVALID_OPTION, message, {
    remediation: 'Pass the peer address as a multiaddr ending in /p2p/<node id>.',
    cause,
  })
}
