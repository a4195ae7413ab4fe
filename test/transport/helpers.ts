// Shared by the transport tests: nodes on loopback that are always stopped, and bounded waits.
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { createLifeboatNode, type LifeboatNode, type LifeboatNodeInit } from '../../transport/node.js'
import { waitForEvents } from '../../transport/stream-events.js'

export const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
export const TEST_PROTOCOL = '/lifeboat/test/1.0.0'
/** No wait in these tests may take longer than this; a hang fails the test instead of the run. */
export const WAIT_LIMIT_MS = 10_000

export class NodeSet {
  private readonly nodes: LifeboatNode[] = []

  /** A node with a fresh key; `listen: true` listens on a random loopback port. */
  async start(init: Partial<LifeboatNodeInit> & { listenLoopback?: boolean } = {}): Promise<LifeboatNode> {
    const { listenLoopback, ...rest } = init
    const node = await createLifeboatNode({
      privateKey: init.privateKey ?? (await generateKeyPair('Ed25519')),
      listen: listenLoopback === true ? [LOOPBACK] : rest.listen,
      ...rest,
    })
    this.nodes.push(node)
    return node
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.splice(0).map((node) => node.stop()))
  }
}

/** The first of a node's listen addresses, with /p2p/<id>. */
export function addressOf(node: LifeboatNode): string {
  const address = node.getMultiaddrs()[0]
  if (address === undefined) throw new Error('the node does not listen')
  return address.toString()
}

/**
 * Connects `dialer` to `listener` and resolves with the stream the listener's handler receives when
 * `dialer` opens one, plus the dialer's end. The handler is registered on the listener.
 */
export async function streamPair(
  dialer: LifeboatNode,
  listener: LifeboatNode,
  protocol = TEST_PROTOCOL,
): Promise<{ outbound: Stream; inbound: Stream; connection: Connection }> {
  const inbound = new Promise<Stream>((resolve) => {
    void listener.handle(protocol, (stream) => resolve(stream), { force: true })
  })
  await new Promise((resolve) => setImmediate(resolve))
  const connection = await dialer.dial(listener.getMultiaddrs()[0]!, {
    signal: AbortSignal.timeout(WAIT_LIMIT_MS),
  })
  const outbound = await connection.newStream(protocol, { signal: AbortSignal.timeout(WAIT_LIMIT_MS) })
  return { outbound, inbound: await withLimit(inbound, 'inbound stream'), connection }
}

/** `promise`, or a rejection after WAIT_LIMIT_MS. */
export async function withLimit<T>(promise: Promise<T>, what: string, limitMs = WAIT_LIMIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${limitMs} ms`)), limitMs)
  })
  try {
    return await Promise.race([promise, limit])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves when `node` has no open connection to `peer` any more. */
export async function disconnected(node: LifeboatNode, peer: PeerId): Promise<void> {
  while (node.getConnections(peer).some((c) => c.status === 'open')) {
    await waitForEvents([[node, ['peer:disconnect', 'connection:close']]], 'disconnect', {
      timeoutMs: WAIT_LIMIT_MS,
    })
  }
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function patternBytes(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length)
  let x = seed >>> 0 || 1
  let i = 0
  for (; i + 4 <= length; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out.writeUInt32LE(x >>> 0, i)
  }
  for (; i < length; i++) out[i] = i & 0xff
  return out
}
