/**
 * The coordinator's event bus: a typed wrapper around EventTarget through which the control link
 * tells the rest of the coordinator (notifications, the dispatcher, the API) what happened to nodes.
 * An *event map* names each event type and the detail it carries; `emit` and `on` are checked
 * against it, so a subscriber cannot misspell an event or misread its detail.
 *
 * Events are facts that already happened and were already written to the store where they change a
 * record (a status change is stored before `node-online` / `node-offline` is emitted). A listener
 * that throws does not stop the others, nor the control link: EventTarget reports the exception
 * and moves on.
 */
import type { NodeRole } from '../store/metadata-store.js'

/** Who a node is, as every node event names it. */
export interface NodeIdentityDetail {
  nodeId: string
  tenantId: string
  siteId: string
  role: NodeRole
  /** When it happened, in milliseconds since the epoch (the coordinator's clock). */
  at: number
}

export interface NodeOfflineDetail extends NodeIdentityDetail {
  /** The node's last heartbeat (or hello) this coordinator received, if any. */
  lastSeenAt?: number
  /** Why: the node missed this many heartbeat intervals in a row. */
  missedHeartbeats: number
}

export interface NodeEnrolledDetail extends NodeIdentityDetail {
  /** The node was already enrolled in this site with this role and presented a fresh token. */
  reEnrolment: boolean
}

/** A peer was refused: at the gater, at enrolment, or at its session hello. */
export interface RefusalDetail {
  peerId: string
  code: string
  message: string
  at: number
}

export interface ControlEventMap {
  /** A node enrolled with a token (ENROL_ACCEPTED was sent). */
  'node-enrolled': NodeEnrolledDetail
  /** A node that was offline (or unknown since start) said hello or sent a heartbeat. */
  'node-online': NodeIdentityDetail
  /** A node missed its heartbeats: stored as offline. */
  'node-offline': NodeOfflineDetail
  /** A token was refused (ENROL_*), or an enrolment conversation failed. */
  'enrolment-refused': RefusalDetail
  /** A session hello was refused (version, role, site, node id). */
  'session-refused': RefusalDetail
  /** The control listener's gater refused a peer that is not enrolled. */
  'peer-refused': RefusalDetail
}

export type Unsubscribe = () => void

/** A typed EventTarget: `emit(type, detail)` and `on(type, listener)` checked against `M`. */
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
  ): Unsubscribe {
    const wrapped = (event: Event): void => listener((event as CustomEvent<M[K]>).detail)
    this.#target.addEventListener(type, wrapped, options)
    return () => this.#target.removeEventListener(type, wrapped)
  }

  /** The next event of `type` (for tests and one-shot waits); rejects when `signal` fires. */
  next<K extends keyof M & string>(
    type: K,
    options: { signal?: AbortSignal; filter?: (detail: M[K]) => boolean } = {},
  ): Promise<M[K]> {
    const { signal, filter } = options
    return new Promise<M[K]>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason)
        return
      }
      const onAbort = (): void => {
        off()
        reject(signal?.reason)
      }
      const off = this.on(type, (detail) => {
        if (filter !== undefined && !filter(detail)) return
        off()
        signal?.removeEventListener('abort', onAbort)
        resolve(detail)
      })
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

export type ControlEvents = TypedEventBus<ControlEventMap>

export function createControlEvents(): ControlEvents {
  return new TypedEventBus<ControlEventMap>()
}
