/**
 * Ending streams without surprises. *Closing* a stream ends our writable end gracefully: libp2p
 * first flushes what is queued, then tells the peer no more bytes follow; the stream is finished
 * once the peer closes its end too. *Aborting* throws away what is queued and resets the stream at
 * both ends (Yamux RST), the peer sees TRANSPORT_STREAM_RESET.
 *
 * `stream.close()` can reject with a StreamResetEvent — an Event, not an Error (MEASURED-FACTS
 * pitfall 10) — when the peer resets the stream while we flush, and it waits as long as the peer
 * keeps its window shut. These helpers never throw for a stream that is already gone, bound the wait
 * and fall back to aborting.
 */
import type { Stream } from '@libp2p/interface'
import { abortedError, TransportError, TransportErrorCode } from './errors.js'
import { timeoutError } from './stream-events.js'

/** How long closeStream waits for queued bytes to flush before it aborts the stream instead. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 30_000

export interface CloseOptions {
  signal?: AbortSignal
  /** Default DEFAULT_CLOSE_TIMEOUT_MS. */
  timeoutMs?: number
}

/**
 * Closes our writable end after flushing. Resolves true when the close was graceful, false when the
 * stream had been reset, could not flush in time, or `signal` fired — the stream is then aborted.
 * Never rejects.
 */
export async function closeStream(stream: Stream, options: CloseOptions = {}): Promise<boolean> {
  if (stream.status === 'reset' || stream.status === 'aborted') return false
  if (stream.writeStatus === 'closed') return true
  const timeoutMs = options.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
  try {
    await stream.close({ signal })
    return true
  } catch (failure) {
    // A reset arrives as a StreamResetEvent; a timeout as our signal's reason. Either way the
    // stream cannot finish gracefully any more.
    if (timeout.aborted) abortStream(stream, timeoutError('stream close', timeoutMs))
    else if (options.signal?.aborted === true)
      abortStream(stream, abortedError(options.signal, 'stream close'))
    else abortStream(stream, failure)
    return false
  }
}

/**
 * Resets the stream with `reason` (anything: an Error, an Event, a string). Idempotent; never
 * throws, even for a stream that is already closed or reset.
 */
export function abortStream(stream: Stream, reason: unknown): void {
  if (stream.status !== 'open' && stream.status !== 'closing') return
  try {
    stream.abort(asError(reason))
  } catch {
    // abort() only fails when the connection under it is already gone: nothing is left to reset.
  }
}

/** An Error for anything thrown or rejected: Events with an `error` are unwrapped (pitfall 10). */
export function asError(reason: unknown): Error {
  if (reason instanceof Error) return reason
  const inner = (reason as { error?: unknown } | null | undefined)?.error
  if (inner instanceof Error) return inner
  return new TransportError(TransportErrorCode.STREAM_RESET, `stream aborted: ${describe(reason)}`, {
    remediation: 'The stream was abandoned; retry the operation on a new stream.',
    retryable: true,
  })
}

function describe(reason: unknown): string {
  if (reason instanceof Event) return `${reason.constructor.name} (${reason.type})`
  return String(reason)
}
