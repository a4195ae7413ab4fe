/**
 * Reading a whole stream into one buffer: everything the peer sends until it closes its writable
 * end. For small answers (an ack, a manifest); bulk data goes through a StreamReader chunk by chunk.
 * Safe to call after the peer already sent and closed (MEASURED-FACTS pitfall 4: a
 * `for await (const chunk of stream)` started that late never ends).
 */
import type { Stream } from '@libp2p/interface'
import { TransportError, TransportErrorCode } from './errors.js'
import { createStreamReader, type ReadOptions, type StreamReaderInit } from './stream-reader.js'

export interface ReadToEndOptions extends ReadOptions, StreamReaderInit {
  /** Reject with TRANSPORT_FRAME_TOO_LARGE beyond this many bytes. Default 64 MiB. */
  maxBytes?: number
}

/** Default bound of readToEnd: large enough for a manifest, small enough to hold in memory. */
export const DEFAULT_READ_TO_END_MAX_BYTES = 64 * 1024 * 1024

/**
 * Every byte the remote sends until it closes its writable end, as one buffer. The stream is
 * aborted (TRANSPORT_FRAME_TOO_LARGE) if it sends more than `maxBytes`.
 */
export async function readToEnd(stream: Stream, options: ReadToEndOptions = {}): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_READ_TO_END_MAX_BYTES
  const reader = createStreamReader(stream, options)
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const chunk = await reader.read(options)
    if (chunk === undefined) break
    total += chunk.byteLength
    if (total > maxBytes) {
      const error = new TransportError(
        TransportErrorCode.FRAME_TOO_LARGE,
        `stream read: the peer sent more than ${maxBytes} bytes`,
        {
          remediation: 'The peer sent more than this message may hold; check that both run the same version.',
        },
      )
      stream.abort(error)
      throw error
    }
    chunks.push(chunk)
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)
}
