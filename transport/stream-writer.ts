/**
 * Sending on a libp2p 3 stream with back-pressure.
 *
 * `stream.send(bytes)` never refuses: it appends to the stream's *write buffer* and returns false
 * once the connection cannot take more, and libp2p keeps appending whatever the caller sends next.
 * A caller that ignores the false return, or waits on `stream.onDrain()` (one promise, resolved at
 * the first drain and never renewed: MEASURED-FACTS pitfall 3), buffers the whole transfer in
 * memory. These helpers keep the write buffer below a bound instead: they hand the stream at most
 * SEND_SLICE_BYTES at a time and, while the write buffer holds `maxBufferedBytes` or more, wait for
 * the stream's 'drain' or 'idle' events (and re-read the buffer, because a drain may free only a
 * little). The buffer therefore never exceeds `maxBufferedBytes + SEND_SLICE_BYTES`.
 */
import type { Stream } from '@libp2p/interface'
import { checkIntegerOption, TransportError, TransportErrorCode, toTransportError } from './errors.js'
import {
  DEFAULT_MAX_BUFFERED_WRITE_BYTES,
  SEND_SLICE_BYTES,
  STREAM_MAX_WRITE_BUFFER_BYTES,
} from './limits.js'
import { waitForEvent } from './stream-events.js'

export interface WriteOptions {
  signal?: AbortSignal
  /**
   * Reject with TRANSPORT_TIMEOUT when the write buffer makes no progress (no drain) for this many
   * ms. Default: wait as long as the peer keeps the stream open — a slow consumer is not an error.
   */
  idleTimeoutMs?: number
  /** Wait while the stream's write buffer holds this many bytes. Default 4 MiB. */
  maxBufferedBytes?: number
}

/**
 * Sends `data` on `stream`, waiting whenever the stream's write buffer is full. Resolves once every
 * byte has been handed to the stream (not necessarily to the peer: `closeStream` flushes). Rejects
 * with TRANSPORT_STREAM_RESET, TRANSPORT_STREAM_CLOSED, TRANSPORT_TIMEOUT or TRANSPORT_ABORTED.
 */
export async function writeToStream(
  stream: Stream,
  data: Uint8Array,
  options: WriteOptions = {},
): Promise<void> {
  const maxBuffered = checkMaxBuffered(options.maxBufferedBytes)
  for (let offset = 0; offset < data.byteLength; offset += SEND_SLICE_BYTES) {
    await waitUntilWritable(stream, maxBuffered, options)
    sendNow(stream, data.subarray(offset, offset + SEND_SLICE_BYTES))
  }
}

/**
 * Sends each chunk of `source` in order with back-pressure. Useful for bulk transfers whose chunks
 * are produced on demand: the producer is only asked for the next chunk when there is room.
 */
export async function writeAllToStream(
  stream: Stream,
  source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: WriteOptions = {},
): Promise<number> {
  let total = 0
  for await (const chunk of source) {
    await writeToStream(stream, chunk, options)
    total += chunk.byteLength
  }
  return total
}

/**
 * Resolves when the stream's write buffer holds fewer than `maxBufferedBytes`. Waits on 'drain' and
 * 'idle' events, and re-checks after each because libp2p restarts sending in a microtask queued
 * before our listener runs.
 */
export async function waitUntilWritable(
  stream: Stream,
  maxBufferedBytes: number = DEFAULT_MAX_BUFFERED_WRITE_BYTES,
  options: Omit<WriteOptions, 'maxBufferedBytes'> = {},
): Promise<void> {
  for (;;) {
    options.signal?.throwIfAborted()
    checkWritable(stream)
    if (stream.writeBufferLength < maxBufferedBytes) return
    const event = await waitForEvent(stream, ['drain', 'idle', 'close'], 'stream write', {
      signal: options.signal,
      timeoutMs: options.idleTimeoutMs,
    })
    if (event.type === 'close') checkWritable(stream, event)
    // Let libp2p's own drain listener (a microtask queued before ours resolved) send first.
    await Promise.resolve()
  }
}

function sendNow(stream: Stream, slice: Uint8Array): void {
  try {
    // The return value is deliberately not used to pause here: waitUntilWritable looks at the
    // write buffer itself before the next slice, which keeps the pipe full up to the bound.
    stream.send(slice)
  } catch (err) {
    throw toTransportError(err, 'stream write')
  }
}

/** Throws the coded error that explains why nothing more can be sent on `stream`. */
function checkWritable(stream: Stream, closeEvent?: Event): void {
  if (stream.status === 'reset' || stream.status === 'aborted') {
    const error = (closeEvent as { error?: unknown } | undefined)?.error
    throw toTransportError(error ?? new Error(`stream ${stream.status}`), 'stream write')
  }
  if (stream.writeStatus !== 'writable' || stream.status === 'closed') {
    throw new TransportError(
      TransportErrorCode.STREAM_CLOSED,
      `stream write: the stream's writable end is ${stream.writeStatus}`,
      {
        remediation: 'Nothing can be sent after the stream was closed; open a new stream.',
        retryable: true,
      },
    )
  }
}

function checkMaxBuffered(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_BUFFERED_WRITE_BYTES
  // Above the stream's own hard limit libp2p would reset the stream before we ever waited.
  return checkIntegerOption('maxBufferedBytes', value, 1, STREAM_MAX_WRITE_BUFFER_BYTES - SEND_SLICE_BYTES)
}
