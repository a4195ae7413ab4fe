/**
 * A typed, in-process event bus. An *event map* `M` names each event type and the payload it
 * carries; `emit` and `on` are checked against it, so a subscriber cannot misspell a type or misread
 * a payload. The coordinator has one bus for job lifecycle and node events (lifecycle-events.ts).
 *
 * Delivery rules:
 * - `emit` calls every handler of the type synchronously, in subscription order, and returns
 *   nothing: an emitter never waits for, or hears from, its subscribers.
 * - A handler that throws, or whose promise rejects, is logged (`event: 'event-handler-failed'`,
 *   with the error's code) and counted; the other handlers and the emitter carry on.
 * - An async handler's *pending work* is bounded: each subscription counts its unsettled promises,
 *   and while `maxPendingPerHandler` are unsettled, further events are not delivered to that
 *   subscription (dropped for it alone, counted, logged once per episode). A slow webhook sender
 *   therefore holds at most that many payloads, never an unbounded backlog, and never slows the
 *   dispatcher that emits. A subscriber that must not miss events keeps its own durable record
 *   (the store) and treats events as hints.
 * - Payloads are shared between handlers and must be treated as read-only.
 * - Handlers added or removed during an emit take effect from the next emit.
 */
import { toErrorBody } from '../../protocol/errors.js'
import { EventBusError, EventBusErrorCode } from './errors.js'
import { type CoordinatorLogger, silentLogger } from './logger.js'

/** Unsettled promises one async handler may hold before events to it are dropped. */
export const DEFAULT_MAX_PENDING_PER_HANDLER = 64
export const MAX_MAX_PENDING_PER_HANDLER = 100_000

export type Unsubscribe = () => void

/** A handler may return a promise: the bus then counts it as pending work until it settles. */
export type EventHandler<P> = (payload: P) => unknown

export interface EventBusInit {
  /** Default DEFAULT_MAX_PENDING_PER_HANDLER, 1..MAX_MAX_PENDING_PER_HANDLER. */
  maxPendingPerHandler?: number
}

export interface EventBusComponents {
  log?: CoordinatorLogger
}

export interface SubscribeOptions {
  /** Unsubscribes when aborted. */
  signal?: AbortSignal
}

export interface EventBusStats {
  /** Handler calls that threw or rejected. */
  handlerErrors: number
  /** Deliveries skipped because the handler had `maxPendingPerHandler` unsettled promises. */
  dropped: number
}

export interface EventBus<M extends object> {
  emit<K extends keyof M & string>(type: K, payload: M[K]): void
  /** Calls `handler` with each payload of `type` until the returned function is called. */
  on<K extends keyof M & string>(
    type: K,
    handler: EventHandler<M[K]>,
    options?: SubscribeOptions,
  ): Unsubscribe
  /** Handlers subscribed to `type`, or to every type when none is given. */
  listenerCount(type?: keyof M & string): number
  stats(): EventBusStats
}

interface Subscription {
  readonly handler: EventHandler<never>
  pending: number
  /** Events dropped since this subscription last had room; > 0 means an overflow episode is on. */
  droppedInEpisode: number
}

export function createEventBus<M extends object>(
  init: EventBusInit = {},
  components: EventBusComponents = {},
): EventBus<M> {
  const maxPending = init.maxPendingPerHandler ?? DEFAULT_MAX_PENDING_PER_HANDLER
  if (!Number.isSafeInteger(maxPending) || maxPending < 1 || maxPending > MAX_MAX_PENDING_PER_HANDLER) {
    throw new EventBusError(
      EventBusErrorCode.INVALID_OPTION,
      `maxPendingPerHandler must be an integer in [1, ${MAX_MAX_PENDING_PER_HANDLER}], got ${String(maxPending)}`,
      'Fix maxPendingPerHandler; docs/LIMITS.md "Scheduling and dispatch" gives its range and default.',
    )
  }
  const log = components.log ?? silentLogger
  const subscriptions = new Map<string, Subscription[]>()
  const stats: EventBusStats = { handlerErrors: 0, dropped: 0 }

  const handlerFailed = (type: string, error: unknown): void => {
    stats.handlerErrors++
    const body = toErrorBody(error)
    log.error(
      { event: 'event-handler-failed', type, code: body.code },
      `an ${type} handler failed: ${body.message}`,
    )
  }

  const settle = (type: string, subscription: Subscription): void => {
    subscription.pending--
    if (subscription.droppedInEpisode > 0 && subscription.pending < maxPending) {
      log.info(
        { event: 'event-handler-recovered', type, dropped: subscription.droppedInEpisode },
        `an ${type} handler caught up after ${subscription.droppedInEpisode} events were dropped for it`,
      )
      subscription.droppedInEpisode = 0
    }
  }

  const deliver = (type: string, subscription: Subscription, payload: unknown): void => {
    if (subscription.pending >= maxPending) {
      stats.dropped++
      if (subscription.droppedInEpisode++ === 0) {
        log.warn(
          { event: 'event-handler-overflow', type, pending: subscription.pending },
          `an ${type} handler has ${subscription.pending} unsettled calls: events to it are dropped until one settles`,
        )
      }
      return
    }
    let result: unknown
    try {
      result = (subscription.handler as EventHandler<unknown>)(payload)
    } catch (error) {
      handlerFailed(type, error)
      return
    }
    if (isThenable(result)) {
      subscription.pending++
      result.then(
        () => settle(type, subscription),
        (error: unknown) => {
          handlerFailed(type, error)
          settle(type, subscription)
        },
      )
    }
  }

  return {
    emit(type, payload) {
      const list = subscriptions.get(type)
      if (list === undefined) return
      // The list is replaced, never mutated, on (un)subscribe, so iterating it is a snapshot.
      for (const subscription of list) deliver(type, subscription, payload)
    },

    on(type, handler, options = {}) {
      const { signal } = options
      if (signal?.aborted === true) return () => undefined
      const subscription: Subscription = {
        handler: handler as EventHandler<never>,
        pending: 0,
        droppedInEpisode: 0,
      }
      subscriptions.set(type, [...(subscriptions.get(type) ?? []), subscription])
      let subscribed = true
      const unsubscribe = (): void => {
        if (!subscribed) return
        subscribed = false
        signal?.removeEventListener('abort', unsubscribe)
        const rest = (subscriptions.get(type) ?? []).filter((s) => s !== subscription)
        if (rest.length === 0) subscriptions.delete(type)
        else subscriptions.set(type, rest)
      }
      signal?.addEventListener('abort', unsubscribe, { once: true })
      return unsubscribe
    },

    listenerCount(type) {
      if (type !== undefined) return subscriptions.get(type)?.length ?? 0
      let count = 0
      for (const list of subscriptions.values()) count += list.length
      return count
    },

    stats() {
      return { ...stats }
    },
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  )
}
