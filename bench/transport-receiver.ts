/**
 * The receiving end of bench/transport-encryption.ts, run as a child process so that sender and
 * receiver each have their own event loop and core. `node transport-receiver.js <raw|noise|tls>`
 * listens on loopback and prints one JSON line `{ address, cpuUs }`; it then counts every bulk
 * stream (or raw socket) to its end and answers with an Ack, and echoes length-prefixed messages
 * for the request/response trials. On SLOW_BULK_PROTOCOL it is a *slow consumer*: it reads through
 * the same StreamReader (4 MiB high-water mark) but sleeps after each MiB so it takes data at
 * SLOW_CONSUMER_BYTES_PER_SEC, which shows whether back-pressure keeps its memory bounded while the
 * sender could go ten times faster. It runs until SIGTERM.
 */
import { peakRssBytes } from '../cli/peak-rss.js'
import '../protocol/promise-with-resolvers.js'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { pathToFileURL } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createFramedStream } from '../transport/framed-stream.js'
import { createLifeboatNode, type EncrypterName } from '../transport/node.js'
import { closeStream } from '../transport/stream-close.js'
import { createStreamReader } from '../transport/stream-reader.js'
import { writeToStream } from '../transport/stream-writer.js'

export const BULK_PROTOCOL = '/lifeboat/bench/bulk/1.0.0'
export const ECHO_PROTOCOL = '/lifeboat/bench/echo/1.0.0'
export const SLOW_BULK_PROTOCOL = '/lifeboat/bench/slow-bulk/1.0.0'
/** The slow consumer's reading rate: well below what one TLS stream carries (~400 MB/s). */
export const SLOW_CONSUMER_BYTES_PER_SEC = 50e6
const MiB = 1024 * 1024
/** Size of one request/response message; a raw socket whose first frame has it is an RPC client. */
export const RPC_MESSAGE_BYTES = 64

export type Link = 'raw' | EncrypterName

/** What a receiver reports when a stream ended: bytes, peak RSS and CPU time so far. */
export interface Ack {
  bytes: number
  rssKiB: number
  cpuUs: number
}

export function cpuUs(): number {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

/** The same u32 big-endian framing as transport/framed-stream.ts, on a bare socket. */
export function rawFramedSocket(socket: Socket) {
  let buffered: Buffer = Buffer.alloc(0)
  const frames: Buffer[] = []
  let waiter: (() => void) | undefined
  socket.on('data', (part: Buffer) => {
    buffered = buffered.length === 0 ? part : Buffer.concat([buffered, part])
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
      const length = buffered.readUInt32BE(0)
      frames.push(buffered.subarray(4, 4 + length))
      buffered = buffered.subarray(4 + length)
    }
    waiter?.()
  })
  return {
    async write(message: Uint8Array): Promise<void> {
      const frame = Buffer.allocUnsafe(4 + message.byteLength)
      frame.writeUInt32BE(message.byteLength, 0)
      frame.set(message, 4)
      if (!socket.write(frame)) await once(socket, 'drain')
    },
    async read(): Promise<Uint8Array | undefined> {
      while (frames.length === 0) {
        if (socket.readableEnded) return undefined
        await new Promise<void>((resolve) => {
          waiter = resolve
        })
        waiter = undefined
      }
      return frames.shift()
    },
  }
}

export async function runReceiver(link: Link): Promise<void> {
  const report = (bytes: number): string =>
    JSON.stringify({ bytes, rssKiB: Math.round(peakRssBytes() / 1024), cpuUs: cpuUs() })
  if (link === 'raw') {
    const server = createServer((socket) => {
      socket.setNoDelay(true)
      let total = 0
      let framed: ReturnType<typeof rawFramedSocket> | undefined
      socket.once('data', (first: Buffer) => {
        // A bulk sender streams at once; an RPC client starts with a 4-byte length of 64.
        const isRpc = first.length >= 4 && first.readUInt32BE(0) === RPC_MESSAGE_BYTES
        if (isRpc) {
          framed = rawFramedSocket(socket)
          socket.emit('data', first)
          void (async () => {
            for (let m = await framed.read(); m !== undefined; m = await framed.read()) await framed.write(m)
          })()
          return
        }
        total += first.length
        socket.on('data', (part: Buffer) => {
          total += part.length
        })
        socket.on('end', () => socket.end(report(total)))
      })
    })
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      process.stdout.write(`${JSON.stringify({ address: `127.0.0.1:${port}`, cpuUs: cpuUs() })}\n`)
    })
  } else {
    const node = await createLifeboatNode({
      privateKey: await generateKeyPair('Ed25519'),
      encrypter: link,
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    await node.handle(
      BULK_PROTOCOL,
      async (stream) => {
        const reader = createStreamReader(stream)
        let total = 0
        for await (const part of reader) total += part.byteLength
        await writeToStream(stream, Buffer.from(report(total)))
        await closeStream(stream)
      },
      { maxInboundStreams: 8 },
    )
    await node.handle(SLOW_BULK_PROTOCOL, async (stream) => {
      const reader = createStreamReader(stream)
      let total = 0
      let paced = 0
      const started = performance.now()
      for await (const part of reader) {
        total += part.byteLength
        if (total - paced < MiB) continue
        paced = total
        // Sleep until this many bytes are due at the slow rate: a consumer busy elsewhere.
        const due = started + (total / SLOW_CONSUMER_BYTES_PER_SEC) * 1000
        const wait = due - performance.now()
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      }
      await writeToStream(stream, Buffer.from(report(total)))
      await closeStream(stream)
    })
    await node.handle(ECHO_PROTOCOL, async (stream) => {
      const framed = createFramedStream(stream)
      for await (const message of framed) await framed.write(message)
      await framed.closeWrite()
    })
    const address = node.getMultiaddrs()[0]!.toString()
    process.stdout.write(`${JSON.stringify({ address, cpuUs: cpuUs() })}\n`)
  }
  process.once('SIGTERM', () => process.exit(0))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runReceiver(process.argv[2] as Link).catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
