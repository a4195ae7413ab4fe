import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { createLifeboatNode, DEFAULT_ENCRYPTER } from '../../transport/node.js'
import { readToEnd } from '../../transport/read-to-end.js'
import { closeStream } from '../../transport/stream-close.js'
import { waitForEvents } from '../../transport/stream-events.js'
import { writeToStream } from '../../transport/stream-writer.js'
import { addressOf, NodeSet, streamPair, WAIT_LIMIT_MS } from './helpers.js'

const nodes = new NodeSet()
afterEach(() => nodes.stopAll())

describe('createLifeboatNode', () => {
  it('starts a node that listens only when given addresses', async () => {
    const agent = await nodes.start()
    const coordinator = await nodes.start({ listenLoopback: true })
    expect(agent.status).toBe('started')
    expect(agent.getMultiaddrs()).toEqual([])
    expect(addressOf(coordinator)).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo/)
  })

  it('connects two nodes with the chosen encrypter, Yamux, and answers ping', async () => {
    const a = await nodes.start()
    const b = await nodes.start({ listenLoopback: true })
    const connection = await a.dial(b.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(WAIT_LIMIT_MS) })
    expect(connection.encryption).toBe(DEFAULT_ENCRYPTER === 'noise' ? '/noise' : '/tls/1.0.0')
    expect(connection.multiplexer).toBe('/yamux/1.0.0')
    expect(connection.remotePeer.equals(b.peerId)).toBe(true)
    const rtt = await a.services.ping.ping(b.getMultiaddrs()[0]!, {
      signal: AbortSignal.timeout(WAIT_LIMIT_MS),
    })
    expect(rtt).toBeGreaterThanOrEqual(0)
  })

  it('connects over Noise when both ends choose it', async () => {
    const a = await nodes.start({ encrypter: 'noise' })
    const b = await nodes.start({ encrypter: 'noise', listenLoopback: true })
    const { outbound, inbound, connection } = await streamPair(a, b)
    expect(connection.encryption).toBe('/noise')
    const payload = Buffer.from('over noise')
    await writeToStream(outbound, payload)
    await closeStream(outbound)
    expect(Buffer.from(await readToEnd(inbound)).equals(payload)).toBe(true)
  })

  it('lets the injected gater refuse a peer after its identity is proven', async () => {
    const refused: PeerId[] = []
    const allowed = await generateKeyPair('Ed25519')
    const coordinator = await nodes.start({
      listenLoopback: true,
      gater: {
        denyInboundEncryptedConnection: (peerId) => {
          const deny = !peerId.equals(allowedPeer)
          if (deny) refused.push(peerId)
          return deny
        },
      },
    })
    const good = await nodes.start({ privateKey: allowed })
    const allowedPeer = good.peerId
    const stranger = await nodes.start()
    const target = coordinator.getMultiaddrs()[0]!
    const kept = await good.dial(target, { signal: AbortSignal.timeout(WAIT_LIMIT_MS) })
    // The dialer's handshake finishes before the listener decides, so the refusal shows up as a
    // connection that is closed right after it opened.
    const dropped = await stranger.dial(target, { signal: AbortSignal.timeout(WAIT_LIMIT_MS) }).then(
      async (connection) => {
        if (connection.status === 'open') {
          await waitForEvents([[connection, ['close']]], 'refusal', { timeoutMs: WAIT_LIMIT_MS })
        }
        return true
      },
      () => true,
    )
    expect(dropped).toBe(true)
    expect(refused.map(String)).toEqual([stranger.peerId.toString()])
    expect(kept.status).toBe('open')
    expect(coordinator.getConnections(stranger.peerId)).toEqual([])
    expect(coordinator.getConnections(good.peerId).length).toBe(1)
  })

  it('does not connect two nodes that chose different encrypters', async () => {
    const a = await nodes.start({ encrypter: 'noise' })
    const b = await nodes.start({ encrypter: 'tls', listenLoopback: true })
    await expect(
      a.dial(b.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(WAIT_LIMIT_MS) }),
    ).rejects.toThrow()
  })

  it('refuses bad options with TRANSPORT_INVALID_OPTION', async () => {
    const ed = await generateKeyPair('Ed25519')
    const secp = await generateKeyPair('secp256k1')
    await expect(createLifeboatNode({ privateKey: secp })).rejects.toMatchObject({
      code: 'TRANSPORT_INVALID_OPTION',
    })
    await expect(createLifeboatNode({ privateKey: ed, listen: ['not a multiaddr'] })).rejects.toMatchObject({
      code: 'TRANSPORT_INVALID_OPTION',
    })
    await expect(createLifeboatNode({ privateKey: ed, maxConnections: 0 })).rejects.toMatchObject({
      code: 'TRANSPORT_INVALID_OPTION',
    })
    await expect(
      createLifeboatNode({ privateKey: ed, encrypter: 'plaintext' as never }),
    ).rejects.toMatchObject({
      code: 'TRANSPORT_INVALID_OPTION',
    })
  })

  it('stops when its signal is aborted', async () => {
    const controller = new AbortController()
    const node = await nodes.start({ signal: controller.signal })
    const stopped = new Promise((resolve) => node.addEventListener('stop', resolve, { once: true }))
    controller.abort()
    await stopped
    expect(node.status).toBe('stopped')
  })
})
