/**
 * Bounds shared by the node factory and the stream helpers. A *receive window* is how many bytes a
 * Yamux sender may have in flight towards one stream before the receiver grants more; the *read
 * buffer* is what libp2p holds for a stream that is paused or has no reader yet; the *write buffer*
 * is what a stream holds that the connection has not yet taken. Every value is listed in
 * docs/LIMITS.md ("Transport and protocol").
 */

/**
 * Largest Yamux receive window per stream. Yamux's default: smaller windows cap bulk throughput on
 * links with latency, and the window only grows this far while keep-alive measures the RTT.
 */
export const MAX_STREAM_WINDOW_BYTES = 16 * 1024 * 1024

/**
 * Bytes a paused stream may buffer before libp2p resets it. A window granted just before a pause
 * still arrives (MEASURED-FACTS pitfall 5), so this must exceed one window: two windows.
 */
export const STREAM_MAX_READ_BUFFER_BYTES = 2 * MAX_STREAM_WINDOW_BYTES

/**
 * Bytes queued for sending on one stream before libp2p resets it. A safety net only: the writers in
 * transport/stream-writer.ts wait long before (DEFAULT_MAX_BUFFERED_WRITE_BYTES); code that ignores
 * back-pressure is stopped here instead of exhausting memory.
 */
export const STREAM_MAX_WRITE_BUFFER_BYTES = 64 * 1024 * 1024

/** A StreamReader pauses the stream when it holds this many unread bytes. */
export const DEFAULT_READ_HIGH_WATER_BYTES = 4 * 1024 * 1024

/** A writer waits while the stream's write buffer holds this many bytes or more. */
export const DEFAULT_MAX_BUFFERED_WRITE_BYTES = 4 * 1024 * 1024

/** Large writes are handed to the stream in slices of this size, so one write cannot overshoot. */
export const SEND_SLICE_BYTES = 1024 * 1024
