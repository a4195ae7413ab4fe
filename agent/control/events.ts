/**
 * The control client's events, on a typed wrapper around EventTarget (the same shape as the
 * coordinator's bus, coordinator/control/events.ts, which agent/ may not import).
 */
import type { Connection } from '@libp2p/interface'
import type { LoadReport, ProtocolVersion } from '../../protocol/index.js'

export interface SessionOpenDetail {
  connection: Connection
  /** The version both sides speak on the session (common major, lower minor). */
  version: ProtocolVersion
}

export interface SessionClosedDetail {
  /** Why, when it did not end by a clean close. */
  error?: Error
}

/** A site peer's load report, relayed by the coordinator (SITE_LOAD, control 1.1). */
export interface SiteLoadDetail {
  nodeId: string
  role: 'appliance' | 'connector'
  intervalMs: number
  load: LoadReport
  /** When this node received it (its own clock: the report is as fresh as its arrival). */
  receivedAt: number
}

export interface ControlClientEventMap {
  /** The coordinator answered the session hello: heartbeats are flowing. */
  'session-open': SessionOpenDetail
  /** The session ended (the connection dropped, the coordinator closed or reset the stream). */
  'session-closed': SessionClosedDetail
  /**
   * The coordinator refused the session with an error that a retry cannot fix (version, role,
   * not enrolled). The client has stopped.
   */
  refused: { error: Error & { code: string } }
  /** A site peer's load report arrived on the session (docs/SCHEDULING.md §10). */
  'site-load': SiteLoadDetail
}

export class TypedEventBus<M extends object> {
  readonly #target = new EventTarget()

  emit<K extends keyof M & string>(type: K, detail: M[K]): void {
    this.#target.dispatchEvent(new CustomEvent(type, { detail }))
  }

  /** Calls `listener` with each event's detail until the returned function is called. */
  on<K extends keyof M & string>(
    type: K,
    listener: (detail: M[K]) => void,
    options: { once?: boolean; signal?: AbortSignal } = {},
  ): () => void {
    const wrapped = (event: Event): void => listener((event as CustomEvent<M[K]>).detail)
    this.#target.addEventListener(type, wrapped, options)
    return () => this.#target.removeEventListener(type, wrapped)
  }

  /** The next event of `type`; rejects when `signal` fires. */
  next<K extends keyof M & string>(type: K, options: { signal?: AbortSignal } = {}): Promise<M[K]> {
    const { signal } = options
    return new Promise<M[K]>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason)
        return
      }
      const onAbort = (): void => {
        off()
        reject(signal?.reason)
      }
      const off = this.on(
        type,
        (detail) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(detail)
        },
        { once: true },
      )
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

export type ControlClientEvents = TypedEventBus<ControlClientEventMap>
