import { afterEach, describe, expect, it } from 'vitest'
import { createFramedStream, FRAME_HEADER_BYTES } from '../../transport/framed-stream.js'
import { closeStream } from '../../transport/stream-close.js'
import { createStreamReader } from '../../transport/stream-reader.js'
import { writeToStream } from '../../transport/stream-writer.js'
import { NodeSet, patternBytes, streamPair, withLimit } from './helpers.js'

const nodes = new NodeSet()
afterEach(() => nodes.stopAll())

async function pair() {
  return streamPair(await nodes.start(), await nodes.start({ listenLoopback: true }))
}

function header(length: number): Buffer {
  const bytes = Buffer.alloc(FRAME_HEADER_BYTES)
  bytes.writeUInt32BE(length, 0)
  return bytes
}

describe('createFramedStream', () => {
  it('carries messages of every size, in order, and ends cleanly', async () => {
    const { outbound, inbound } = await pair()
    const sender = createFramedStream(outbound)
    const receiver = createFramedStream(inbound)
    const sizes = [0, 1, 3, 4, 5, 1000, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024]
    const messages = sizes.map((size, i) => patternBytes(size, i + 1))
    // Overlapping writes: each frame still goes out whole and in call order.
    const writing = Promise.all(messages.map((m) => sender.write(m))).then(() => sender.closeWrite())
    const got: Uint8Array[] = []
    for await (const message of receiver) got.push(message)
    expect(await writing).toBe(true)
    expect(got.map((m) => m.byteLength)).toEqual(sizes)
    for (const [i, m] of got.entries()) expect(Buffer.from(m).equals(messages[i]!)).toBe(true)
  })

  it('answers request/response with both sides framed', async () => {
    const { outbound, inbound } = await pair()
    const client = createFramedStream(outbound)
    const server = createFramedStream(inbound)
    const serving = (async () => {
      for await (const request of server) await server.write(Buffer.concat([Buffer.from('re:'), request]))
      await server.closeWrite()
    })()
    for (let i = 0; i < 20; i++) {
      await client.write(Buffer.from(`ping ${i}`))
      expect(Buffer.from((await client.read())!).toString()).toBe(`re:ping ${i}`)
    }
    await client.closeWrite()
    expect(await client.read()).toBeUndefined()
    await withLimit(serving, 'server')
  })

  it('times out a peer that sends half a frame and stalls, and resets its stream', async () => {
    const { outbound, inbound } = await pair()
    const receiver = createFramedStream(inbound, { idleTimeoutMs: 200 })
    // Half a header, then nothing.
    await writeToStream(outbound, header(100).subarray(0, 2))
    await expect(withLimit(receiver.read(), 'read')).rejects.toMatchObject({ code: 'TRANSPORT_TIMEOUT' })
    expect(inbound.status).toBe('aborted')
  })

  it('times out a body that stops half way', async () => {
    const { outbound, inbound } = await pair()
    const receiver = createFramedStream(inbound, { idleTimeoutMs: 200 })
    await writeToStream(outbound, Buffer.concat([header(1000), Buffer.alloc(500)]))
    await expect(withLimit(receiver.read(), 'read')).rejects.toMatchObject({ code: 'TRANSPORT_TIMEOUT' })
  })

  it('waits without a limit between frames', async () => {
    const { outbound, inbound } = await pair()
    const receiver = createFramedStream(inbound, { idleTimeoutMs: 50 })
    const reading = receiver.read()
    // Longer than the idle timeout, but no frame has begun: not a stall.
    await new Promise((resolve) => setTimeout(resolve, 200))
    await createFramedStream(outbound).write(Buffer.from('late but whole'))
    expect(Buffer.from((await withLimit(reading, 'read'))!).toString()).toBe('late but whole')
  })

  it('refuses an oversize length prefix before reading the body, and resets the stream', async () => {
    const { outbound, inbound } = await pair()
    const receiver = createFramedStream(inbound, { maxMessageBytes: 1024 })
    await writeToStream(outbound, header(0xffff_ffff))
    await expect(withLimit(receiver.read(), 'read')).rejects.toMatchObject({
      code: 'TRANSPORT_FRAME_TOO_LARGE',
    })
    expect(inbound.status).toBe('aborted')
    // The sender learns it too.
    const sender = createStreamReader(outbound)
    await expect(withLimit(sender.read(), 'sender read')).rejects.toMatchObject({
      code: 'TRANSPORT_STREAM_RESET',
    })
  })

  it('can leave the stream open after a bad frame so the receiver answers with its own error', async () => {
    const { outbound, inbound } = await pair()
    const receiver = createFramedStream(inbound, { maxMessageBytes: 1024, resetOnBadFrame: false })
    await writeToStream(outbound, header(4096))
    await expect(withLimit(receiver.read(), 'read')).rejects.toMatchObject({
      code: 'TRANSPORT_FRAME_TOO_LARGE',
    })
    // Frame boundaries are lost: later reads fail the same way.
    await expect(receiver.read()).rejects.toMatchObject({ code: 'TRANSPORT_FRAME_TOO_LARGE' })
    await receiver.write(Buffer.from('error: frame too large'))
    await receiver.closeWrite()
    const sender = createFramedStream(outbound)
    expect(Buffer.from((await withLimit(sender.read(), 'error frame'))!).toString()).toBe(
      'error: frame too large',
    )
  })

  it('keeps a frame whole when the caller aborts a read half way through it', async () => {
    const { outbound, inbound } = await pair()
    const receiver = createFramedStream(inbound)
    const body = patternBytes(1000, 4)
    await writeToStream(outbound, Buffer.concat([header(1000), body.subarray(0, 400)]))
    const controller = new AbortController()
    const reading = receiver.read({ signal: controller.signal })
    await new Promise((resolve) => setTimeout(resolve, 50))
    controller.abort()
    await expect(reading).rejects.toMatchObject({ code: 'TRANSPORT_ABORTED' })
    await writeToStream(outbound, body.subarray(400))
    expect(Buffer.from((await withLimit(receiver.read(), 'read'))!).equals(body)).toBe(true)
  })

  it('refuses to send an oversize message and keeps the stream usable', async () => {
    const { outbound, inbound } = await pair()
    const sender = createFramedStream(outbound, { maxMessageBytes: 1024 })
    await expect(sender.write(Buffer.alloc(1025))).rejects.toMatchObject({
      code: 'TRANSPORT_FRAME_TOO_LARGE',
    })
    await sender.write(Buffer.from('fits'))
    expect(Buffer.from((await createFramedStream(inbound).read())!).toString()).toBe('fits')
  })

  it('reports a stream that ends inside a frame as TRANSPORT_FRAME_TRUNCATED', async () => {
    for (const partial of [header(10).subarray(0, 3), Buffer.concat([header(10), Buffer.alloc(4)])]) {
      const { outbound, inbound } = await pair()
      const receiver = createFramedStream(inbound)
      await writeToStream(outbound, partial)
      await closeStream(outbound)
      await expect(withLimit(receiver.read(), 'read')).rejects.toMatchObject({
        code: 'TRANSPORT_FRAME_TRUNCATED',
      })
    }
  })

  it('checks its options', async () => {
    const { inbound } = await pair()
    expect(() => createFramedStream(inbound, { maxMessageBytes: 0 })).toThrow(/maxMessageBytes/)
    expect(() => createFramedStream(inbound, { idleTimeoutMs: -1 })).toThrow(/idleTimeoutMs/)
  })
})
