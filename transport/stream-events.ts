/**
 * Waiting for one of a stream's (or a connection's) events, bounded by a caller's AbortSignal and an
 * idle timeout. libp2p 3 streams are event targets ('message', 'drain', 'idle', 'end',
 * 'remoteCloseWrite', 'close'); the helpers in this folder wait on events rather than on
 * `stream.onDrain()`, whose one promise is never renewed (MEASURED-FACTS pitfall 3).
 */
import { abortedError, TransportError, TransportErrorCode } from './errors.js'

export interface WaitOptions {
  signal?: AbortSignal
  /** Reject with TRANSPORT_TIMEOUT when none of the events fires within this many ms. */
  timeoutMs?: number
}

/** Anything with DOM-style listeners: a Stream, a Connection, a libp2p node. */
export interface Listenable {
  addEventListener(type: string, listener: (event: Event) => void): void
  removeEventListener(type: string, listener: (event: Event) => void): void
}

/**
 * Resolves with the first of `events` that `target` dispatches. `context` names the operation in
 * the timeout and abort messages.
 */
export function waitForEvent(
  target: Listenable,
  events: readonly string[],
  context: string,
  options: WaitOptions = {},
): Promise<Event> {
  return waitForEvents([[target, events]], context, options)
}

/**
 * Resolves with the first event dispatched by any of the `sources` (a target and the event names to
 * watch on it). Every listener and the timer are removed whichever way it ends.
 */
export function waitForEvents(
  sources: ReadonlyArray<readonly [Listenable, readonly string[]]>,
  context: string,
  options: WaitOptions = {},
): Promise<Event> {
  const { signal, timeoutMs } = options
  if (signal?.aborted === true) return Promise.reject(abortedError(signal, context))
  return new Promise<Event>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    const cleanup = (): void => {
      for (const [target, events] of sources)
        for (const name of events) target.removeEventListener(name, onEvent)
      signal?.removeEventListener('abort', onAbort)
      if (timer !== undefined) clearTimeout(timer)
    }
    const onEvent = (event: Event): void => {
      cleanup()
      resolve(event)
    }
    const onAbort = (): void => {
      cleanup()
      reject(abortedError(signal!, context))
    }
    for (const [target, events] of sources) for (const name of events) target.addEventListener(name, onEvent)
    signal?.addEventListener('abort', onAbort)
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        cleanup()
        reject(timeoutError(context, timeoutMs))
      }, timeoutMs)
    }
  })
}

export function timeoutError(context: string, timeoutMs: number): TransportError {
  return new TransportError(TransportErrorCode.TIMEOUT, `${context}: no progress for ${timeoutMs} ms`, {
    remediation: 'The peer stalled or the link is congested; the stream was abandoned. Retry the operation.',
    retryable: true,
  })
}

/** Resolves after `ms`, or rejects early when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted === true) return Promise.reject(abortedError(signal, 'sleep'))
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(abortedError(signal!, 'sleep'))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
