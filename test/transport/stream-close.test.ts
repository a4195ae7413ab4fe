import { StreamResetError, StreamResetEvent } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { toTransportError } from '../../transport/errors.js'
import { readToEnd } from '../../transport/read-to-end.js'
import { abortStream, asError, closeStream } from '../../transport/stream-close.js'
import { writeToStream } from '../../transport/stream-writer.js'
import { NodeSet, streamPair, WAIT_LIMIT_MS, withLimit } from './helpers.js'

const nodes = new NodeSet()
afterEach(() => nodes.stopAll())

async function pair() {
  return streamPair(await nodes.start(), await nodes.start({ listenLoopback: true }))
}

describe('closeStream and abortStream (pitfall 10)', () => {
  it('closes gracefully after flushing what was queued', async () => {
    const { outbound, inbound } = await pair()
    const received = readToEnd(inbound)
    await writeToStream(outbound, Buffer.alloc(3 * 1024 * 1024, 5))
    expect(await closeStream(outbound)).toBe(true)
    expect((await withLimit(received, 'readToEnd')).byteLength).toBe(3 * 1024 * 1024)
    expect(await closeStream(outbound)).toBe(true)
  })

  it('resolves false instead of rejecting when the peer resets during the flush', async () => {
    const { outbound, inbound } = await pair()
    inbound.pause()
    // More than the window: close() has to wait for a drain that never comes.
    outbound.send(Buffer.alloc(8 * 1024 * 1024))
    const closing = closeStream(outbound, { timeoutMs: WAIT_LIMIT_MS })
    abortStream(inbound, new Error('peer gave up'))
    expect(await withLimit(closing, 'close')).toBe(false)
    expect(['reset', 'aborted']).toContain(outbound.status)
  })

  it('reproduces the pitfall: a bare close() rejects with an Event, not an Error', async () => {
    const { outbound, inbound } = await pair()
    inbound.pause()
    outbound.send(Buffer.alloc(8 * 1024 * 1024))
    const closing = outbound.close().then(
      () => 'resolved',
      (reason: unknown) => reason,
    )
    abortStream(inbound, new Error('peer gave up'))
    const outcome = await withLimit(closing, 'close')
    expect(outcome).toBeInstanceOf(Event)
    expect(outcome).not.toBeInstanceOf(Error)
  })

  it('aborts a stream whose flush does not finish in time', async () => {
    const { outbound, inbound } = await pair()
    inbound.pause()
    outbound.send(Buffer.alloc(8 * 1024 * 1024))
    expect(await closeStream(outbound, { timeoutMs: 100 })).toBe(false)
    expect(outbound.status).toBe('aborted')
    await expect(withLimit(readToEnd(inbound), 'read')).rejects.toMatchObject({
      code: 'TRANSPORT_STREAM_RESET',
    })
  })

  it('is idempotent and never throws on streams that are already gone', async () => {
    const { outbound } = await pair()
    abortStream(outbound, 'a string reason')
    abortStream(outbound, new Error('twice'))
    expect(outbound.status).toBe('aborted')
    expect(await closeStream(outbound)).toBe(false)
  })

  it('turns a StreamResetEvent, which is not an Error, into a coded error', () => {
    const event = new StreamResetEvent(new StreamResetError('remote reset'))
    expect(event).not.toBeInstanceOf(Error)
    expect(asError(event)).toBeInstanceOf(StreamResetError)
    expect(asError(new Event('close'))).toMatchObject({ code: 'TRANSPORT_STREAM_RESET' })
    expect(toTransportError(event, 'close')).toMatchObject({
      code: 'TRANSPORT_STREAM_RESET',
      retryable: true,
    })
  })
})
