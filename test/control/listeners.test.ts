// Who may connect where: the control listener's gater admits enrolled nodes only; the enrolment
// listener admits anyone, but few at once and not for long.
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import type { RefusalEvent } from '../../coordinator/control/index.js'
import { MessageType } from '../../protocol/index.js'
import { waitForEvents } from '../../transport/index.js'
import {
  Cleanup,
  enrolDirectly,
  eventually,
  nodeHello,
  RawControlStream,
  startTestCoordinator,
  WAIT_LIMIT_MS,
} from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const ENROL_PROTOCOL_ID = '/lifeboat/enrol/1.0.0'

/** Dials `address`; resolves once the connection is refused or closed (true), or stays open (false). */
async function dialIsDropped(node: Awaited<ReturnType<Cleanup['node']>>, address: string): Promise<boolean> {
  let connection: Awaited<ReturnType<typeof node.dial>>
  try {
    connection = await node.dial(multiaddr(address), { signal: AbortSignal.timeout(WAIT_LIMIT_MS) })
  } catch {
    return true
  }
  if (connection.status === 'open') {
    await waitForEvents([[connection, ['close']]], 'refusal', { timeoutMs: WAIT_LIMIT_MS }).catch(
      () => undefined,
    )
  }
  return connection.status !== 'open'
}

/** Dials `address`: true when libp2p hands back an open connection. */
async function dialSucceeds(node: Awaited<ReturnType<Cleanup['node']>>, address: string): Promise<boolean> {
  return node.dial(multiaddr(address), { signal: AbortSignal.timeout(WAIT_LIMIT_MS) }).then(
    (connection) => connection.status === 'open',
    () => false,
  )
}

describe('the control listener', () => {
  it('refuses a peer that has not enrolled, at the gater, before any stream', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const refusals: RefusalEvent[] = []
    coordinator.server.controlEvents.on('peer-refused', (detail) => refusals.push(detail))
    const stranger = await cleanup.node()
    expect(await dialIsDropped(stranger, coordinator.address)).toBe(true)
    // Nothing is left to open a stream on.
    expect(stranger.getConnections().filter((c) => c.status === 'open')).toEqual([])
    expect(refusals).toEqual([
      expect.objectContaining({ peerId: stranger.peerId.toString(), code: 'CONTROL_NOT_ENROLLED' }),
    ])
    expect(coordinator.server.sessionNodes()).toEqual([])

    // The same peer, once enrolled, gets through.
    await enrolDirectly(coordinator, stranger)
    const session = await RawControlStream.open(stranger, coordinator.address)
    await session.send(nodeHello(stranger.peerId.toString(), 'appliance'))
    expect(await session.receive()).toMatchObject({ t: MessageType.HELLO, role: 'coordinator' })
    expect(coordinator.server.sessionNodes()).toEqual([stranger.peerId.toString()])
  })
})

describe('the enrolment listener', () => {
  it('closes a connection that does nothing once its deadline passes', async () => {
    const coordinator = await startTestCoordinator(cleanup, { enrolDeadlineMs: 300 })
    const node = await cleanup.node()
    const connection = await node.dial(multiaddr(coordinator.enrolAddress), {
      signal: AbortSignal.timeout(WAIT_LIMIT_MS),
    })
    const started = Date.now()
    await waitForEvents([[connection, ['close']]], 'deadline close', { timeoutMs: WAIT_LIMIT_MS })
    expect(Date.now() - started).toBeLessThan(WAIT_LIMIT_MS)
    expect(connection.status).toBe('closed')
  })

  it('tells a conversation that overruns its deadline why, then closes', async () => {
    const coordinator = await startTestCoordinator(cleanup, { enrolDeadlineMs: 400 })
    const node = await cleanup.node()
    const enrol = await RawControlStream.open(node, coordinator.enrolAddress, ENROL_PROTOCOL_ID)
    await enrol.send(nodeHello(node.peerId.toString(), 'appliance'))
    expect(await enrol.receive()).toMatchObject({ t: MessageType.HELLO, role: 'coordinator' })
    // No ENROL follows: the coordinator gives up at the deadline and says so.
    expect(await enrol.receive()).toMatchObject({
      t: MessageType.ERROR,
      code: 'CONTROL_ENROL_TIMEOUT',
      retryable: true,
    })
    await eventually(() => enrol.connection.status === 'closed', 'connection closed')
  })

  it('refuses connections beyond its bound while the others are open', async () => {
    const coordinator = await startTestCoordinator(cleanup, {
      maxConcurrentEnrolments: 2,
      enrolDeadlineMs: 5_000,
    })
    const held = [await cleanup.node(), await cleanup.node()]
    for (const node of held) {
      await node.dial(multiaddr(coordinator.enrolAddress), { signal: AbortSignal.timeout(WAIT_LIMIT_MS) })
    }
    // Refused before the handshake: the dial itself fails.
    expect(await dialSucceeds(await cleanup.node(), coordinator.enrolAddress)).toBe(false)
    expect(coordinator.logger.events('enrolment-busy').length).toBeGreaterThanOrEqual(1)
    // The first two are still open.
    expect(held.every((node) => node.getConnections()[0]?.status === 'open')).toBe(true)
    // Once one leaves, a newcomer gets in.
    await held[0]!.stop()
    await eventually(
      async () => dialSucceeds(await cleanup.node(), coordinator.enrolAddress),
      'admitted again',
    )
  })

  it('answers an enrolment that is not a node hello with an error', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const node = await cleanup.node()
    const enrol = await RawControlStream.open(node, coordinator.enrolAddress, ENROL_PROTOCOL_ID)
    await enrol.send(nodeHello(node.peerId.toString(), 'coordinator'))
    expect(await enrol.receive()).toMatchObject({ t: MessageType.ERROR, code: 'PROTOCOL_UNEXPECTED_ROLE' })
    await eventually(() => enrol.connection.status === 'closed', 'connection closed')
  })
})
