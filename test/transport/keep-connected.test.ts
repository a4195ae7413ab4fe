import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type ConnectionKeeper,
  type DialFailure,
  keepConnected,
  reconnectDelayMs,
} from '../../transport/keep-connected.js'
import { waitForEvents } from '../../transport/stream-events.js'
import { addressOf, NodeSet, WAIT_LIMIT_MS } from './helpers.js'

const nodes = new NodeSet()
const keepers: ConnectionKeeper[] = []
afterEach(async () => {
  await Promise.all(keepers.splice(0).map((k) => k.stop()))
  await nodes.stopAll()
})

function next<T>(keeper: ConnectionKeeper, type: 'connected' | 'disconnected' | 'dial-failed'): Promise<T> {
  return waitForEvents([[keeper, [type]]], type, { timeoutMs: WAIT_LIMIT_MS }).then(
    (e) => (e as CustomEvent<T>).detail,
  )
}

const FAST = { baseDelayMs: 20, maxDelayMs: 200 }

describe('keepConnected', () => {
  it('redials after the listener restarts on the same address', async () => {
    const coordinatorKey = await generateKeyPair('Ed25519')
    const first = await nodes.start({ privateKey: coordinatorKey, listenLoopback: true })
    const address = addressOf(first)
    const agent = await nodes.start()
    const keeper = keepConnected(agent, address, FAST)
    keepers.push(keeper)
    const connected = await keeper.waitForConnection({ timeoutMs: WAIT_LIMIT_MS })
    expect(connected.remotePeer.equals(first.peerId)).toBe(true)

    const gone = next<Connection>(keeper, 'disconnected')
    const failed = next<DialFailure>(keeper, 'dial-failed')
    await first.stop()
    expect((await gone).id).toBe(connected.id)
    expect(keeper.connection).toBeUndefined()
    // While nobody listens, dials fail with a coded error and a bounded, growing delay.
    const failure = await failed
    expect(failure.error.code).toBe('TRANSPORT_DIAL_FAILED')
    expect(failure.retryInMs).toBeLessThanOrEqual(FAST.maxDelayMs)

    const back = next<Connection>(keeper, 'connected')
    const port = address.split('/')[4]
    const second = await nodes.start({ privateKey: coordinatorKey, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    const reconnected = await back
    expect(reconnected.remotePeer.equals(second.peerId)).toBe(true)
    expect(reconnected.id).not.toBe(connected.id)
    expect(keeper.connection).toBe(reconnected)
  })

  it('keeps failing, with a coded error, when the peer id behind the address is wrong', async () => {
    const real = await nodes.start({ listenLoopback: true })
    const impostorId = (await nodes.start()).peerId
    const wrong = addressOf(real).replace(real.peerId.toString(), impostorId.toString())
    const keeper = keepConnected(await nodes.start(), wrong, FAST)
    keepers.push(keeper)
    const failure = await next<DialFailure>(keeper, 'dial-failed')
    expect(failure.error.code).toBe('TRANSPORT_DIAL_FAILED')
    expect(keeper.connection).toBeUndefined()
  })

  it('stops idempotently, on its signal, and when the node stops', async () => {
    const coordinator = await nodes.start({ listenLoopback: true })
    const controller = new AbortController()
    const agent = await nodes.start()
    const bySignal = keepConnected(agent, addressOf(coordinator), { ...FAST, signal: controller.signal })
    await bySignal.waitForConnection({ timeoutMs: WAIT_LIMIT_MS })
    controller.abort()
    await bySignal.stop()
    await bySignal.stop()
    expect(bySignal.stopped).toBe(true)
    await expect(bySignal.waitForConnection()).rejects.toMatchObject({ code: 'TRANSPORT_INVALID_OPTION' })

    const byNode = keepConnected(agent, addressOf(coordinator), FAST)
    keepers.push(byNode)
    await byNode.waitForConnection({ timeoutMs: WAIT_LIMIT_MS })
    await agent.stop()
    await byNode.stop()
    expect(byNode.stopped).toBe(true)
  })

  it('refuses an address without a peer id', async () => {
    const agent = await nodes.start()
    expect(() => keepConnected(agent, '/ip4/127.0.0.1/tcp/4100')).toThrow(/\/p2p\//)
    expect(() => keepConnected(agent, 'nonsense')).toThrow(/multiaddr/)
  })
})

describe('reconnectDelayMs', () => {
  it('doubles from the base to the maximum, jittered into the upper half', () => {
    const low = (attempt: number) => reconnectDelayMs(attempt, 500, 30_000, () => 0)
    const high = (attempt: number) => reconnectDelayMs(attempt, 500, 30_000, () => 1)
    expect([1, 2, 3, 4].map(high)).toEqual([500, 1000, 2000, 4000])
    expect([1, 2, 3, 4].map(low)).toEqual([250, 500, 1000, 2000])
    expect(high(20)).toBe(30_000)
    expect(low(1000)).toBe(15_000)
  })
})
