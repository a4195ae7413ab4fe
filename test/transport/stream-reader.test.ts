import { afterEach, describe, expect, it } from 'vitest'
import {
  DEFAULT_READ_HIGH_WATER_BYTES,
  MAX_STREAM_WINDOW_BYTES,
  STREAM_MAX_READ_BUFFER_BYTES,
} from '../../transport/limits.js'
import { readToEnd } from '../../transport/read-to-end.js'
import { abortStream, closeStream } from '../../transport/stream-close.js'
import { waitForEvents } from '../../transport/stream-events.js'
import { createStreamReader } from '../../transport/stream-reader.js'
import { writeToStream } from '../../transport/stream-writer.js'
import { NodeSet, patternBytes, streamPair, WAIT_LIMIT_MS, withLimit } from './helpers.js'

const nodes = new NodeSet()
afterEach(() => nodes.stopAll())

const MiB = 1024 * 1024

async function pair() {
  return streamPair(await nodes.start(), await nodes.start({ listenLoopback: true }))
}

describe('StreamReader back-pressure (pitfall 5)', () => {
  it('keeps the receiver buffer bounded for a slow consumer of 64 MiB', async () => {
    const { outbound, inbound } = await pair()
    const reader = createStreamReader(inbound)
    const sending = (async () => {
      const chunk = Buffer.alloc(MiB, 9)
      for (let i = 0; i < 64; i++) await writeToStream(outbound, chunk)
      await closeStream(outbound)
    })()
    let total = 0
    let peak = 0
    let sinceSleep = 0
    for (let reads = 0; reads < 1_000_000; reads++) {
      const chunk = await reader.read({ idleTimeoutMs: WAIT_LIMIT_MS })
      if (chunk === undefined) break
      total += chunk.byteLength
      peak = Math.max(peak, reader.bufferedBytes + inbound.readBufferLength)
      // Slow: 2 ms asleep per 256 KiB (≤ ~130 MB/s), so unread bytes pile up unless paused.
      sinceSleep += chunk.byteLength
      if (sinceSleep >= 256 * 1024) {
        sinceSleep = 0
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
    }
    await withLimit(sending, 'sender')
    expect(total).toBe(64 * MiB)
    expect(inbound.status).not.toBe('reset')
    // High-water mark plus what the peer may still send on the window it was granted.
    const bound = DEFAULT_READ_HIGH_WATER_BYTES + 2 * MAX_STREAM_WINDOW_BYTES
    expect(reader.peakBufferedBytes).toBeLessThanOrEqual(bound)
    expect(peak).toBeLessThanOrEqual(bound)
    // The consumer really was slow: the reader had to hold more than one chunk's worth.
    expect(reader.peakBufferedBytes).toBeGreaterThan(MiB)
  })

  it('raises the stream read-buffer limit so a paused stream is not reset', async () => {
    const { inbound } = await pair()
    inbound.maxReadBufferLength = 1024
    createStreamReader(inbound)
    expect(inbound.maxReadBufferLength).toBe(STREAM_MAX_READ_BUFFER_BYTES)
  })

  it('reads a message larger than the high-water mark without deadlock', async () => {
    const { outbound, inbound } = await pair()
    const reader = createStreamReader(inbound, { highWaterBytes: 64 * 1024 })
    const payload = patternBytes(5 * MiB, 3)
    const sending = writeToStream(outbound, payload).then(() => closeStream(outbound))
    const got = await reader.readExactly(payload.byteLength, { idleTimeoutMs: WAIT_LIMIT_MS })
    await sending
    expect(Buffer.from(got!).equals(payload)).toBe(true)
    expect(await reader.read()).toBeUndefined()
  })
})

describe('readToEnd (pitfall 4)', () => {
  it('returns every byte when the remote sent and closed before reading began', async () => {
    const { outbound, inbound } = await pair()
    const payload = patternBytes(3 * MiB + 17, 5)
    const remoteClosed = waitForEvents([[inbound, ['remoteCloseWrite']]], 'remote close', {
      timeoutMs: WAIT_LIMIT_MS,
    })
    await writeToStream(outbound, payload)
    await closeStream(outbound)
    await remoteClosed
    // Close our side too, so the stream is fully closed before anyone reads it.
    await closeStream(inbound)
    expect(inbound.status).toBe('closed')
    const got = await withLimit(readToEnd(inbound), 'readToEnd')
    expect(Buffer.from(got).equals(payload)).toBe(true)
  })

  it('returns an empty buffer for a stream closed without data', async () => {
    const { outbound, inbound } = await pair()
    await closeStream(outbound)
    expect((await withLimit(readToEnd(inbound), 'readToEnd')).byteLength).toBe(0)
  })

  it('returns all bytes when data and end arrive while the reader is busy', async () => {
    const { outbound, inbound } = await pair()
    const reader = createStreamReader(inbound)
    const payload = patternBytes(2 * MiB, 8)
    await writeToStream(outbound, payload.subarray(0, 1000))
    const first = await reader.readExactly(1000)
    // Everything else, and the end, arrives before the next read.
    const ended = waitForEvents([[inbound, ['remoteCloseWrite']]], 'remote close', {
      timeoutMs: WAIT_LIMIT_MS,
    })
    await writeToStream(outbound, payload.subarray(1000))
    await closeStream(outbound)
    await ended
    const rest: Uint8Array[] = [first!]
    for await (const chunk of reader) rest.push(chunk)
    expect(Buffer.concat(rest).equals(payload)).toBe(true)
  })

  it('aborts a stream that sends more than maxBytes', async () => {
    const { outbound, inbound } = await pair()
    void writeToStream(outbound, Buffer.alloc(2 * MiB)).catch(() => undefined)
    await expect(readToEnd(inbound, { maxBytes: MiB })).rejects.toMatchObject({
      code: 'TRANSPORT_FRAME_TOO_LARGE',
    })
    expect(inbound.status).toBe('aborted')
  })

  it('surfaces a reset as TRANSPORT_STREAM_RESET after the bytes that came before it', async () => {
    const { outbound, inbound } = await pair()
    const reader = createStreamReader(inbound)
    await writeToStream(outbound, Buffer.from('partial'))
    expect(Buffer.from((await reader.read())!).toString()).toBe('partial')
    abortStream(outbound, new Error('sender crashed'))
    await expect(withLimit(reader.read(), 'read after reset')).rejects.toMatchObject({
      code: 'TRANSPORT_STREAM_RESET',
    })
  })

  it('times out a read when nothing arrives and honours the caller signal', async () => {
    const { inbound } = await pair()
    const reader = createStreamReader(inbound)
    await expect(reader.read({ idleTimeoutMs: 100 })).rejects.toMatchObject({ code: 'TRANSPORT_TIMEOUT' })
    const controller = new AbortController()
    const pending = reader.read({ signal: controller.signal })
    controller.abort()
    await expect(pending).rejects.toMatchObject({ code: 'TRANSPORT_ABORTED' })
  })

  it('refuses a second concurrent read, and hands unread bytes back on release', async () => {
    const { outbound, inbound } = await pair()
    const reader = createStreamReader(inbound)
    const pending = reader.read()
    await expect(reader.read()).rejects.toMatchObject({ code: 'TRANSPORT_INVALID_OPTION' })
    await writeToStream(outbound, Buffer.from('hello world'))
    expect(Buffer.from((await pending)!).toString()).toBe('hello world')
    await writeToStream(outbound, Buffer.from('tail'))
    await closeStream(outbound)
    const head = createStreamReader(inbound)
    expect(Buffer.from((await head.readExactly(2))!).toString()).toBe('ta')
    head.release()
    expect(Buffer.from(await withLimit(readToEnd(inbound), 'readToEnd')).toString()).toBe('il')
  })
})
