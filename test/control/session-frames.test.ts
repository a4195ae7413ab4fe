// Bad input on a node session: what the coordinator answers, and whether the stream or the
// connection stays usable afterwards (docs/PROTOCOL.md §6).
import { afterEach, describe, expect, it } from 'vitest'
import type { RefusalEvent } from '../../coordinator/control/index.js'
import {
  CONTROL_PROTOCOL_VERSION,
  type ControlMessage,
  formatVersion,
  MAX_CONSECUTIVE_BAD_FRAMES,
  MessageType,
} from '../../protocol/index.js'
import {
  Cleanup,
  enrolDirectly,
  eventually,
  heartbeat,
  nodeHello,
  RawControlStream,
  startTestCoordinator,
  type TestCoordinator,
} from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

/** An enrolled node with an open session (hello exchanged). */
async function openSession(coordinator: TestCoordinator) {
  const node = await cleanup.node()
  await enrolDirectly(coordinator, node)
  const session = await RawControlStream.open(node, coordinator.address)
  await session.send(nodeHello(node.peerId.toString(), 'appliance', { site: 'dc1' }))
  const answer = await session.receive()
  expect(answer).toMatchObject({
    t: MessageType.HELLO,
    role: 'coordinator',
    nodeId: coordinator.server.peerId,
  })
  return { node, session, nodeId: node.peerId.toString() }
}

/** A frame around `body`. */
function frame(body: Uint8Array): Uint8Array {
  const out = Buffer.alloc(4 + body.length)
  out.writeUInt32BE(body.length, 0)
  out.set(body, 4)
  return out
}

/** A msgpack map {t: 18, junk: true} by hand: a heartbeat without its fields. */
const INVALID_HEARTBEAT = Uint8Array.from([0x82, 0xa1, 0x74, 0x12, 0xa4, 0x6a, 0x75, 0x6e, 0x6b, 0xc3])

function expectError(message: ControlMessage | undefined, code: string) {
  expect(message).toMatchObject({ t: MessageType.ERROR, code })
  return message as Extract<ControlMessage, { t: 2 }>
}

describe('a node session refuses bad frames', () => {
  it('answers malformed, invalid and out-of-place frames with an ERROR and stays usable', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const { session, nodeId } = await openSession(coordinator)
    await session.sendBytes(frame(Uint8Array.from([0xc1, 0xc1])))
    expectError(await session.receive(), 'PROTOCOL_MALFORMED')
    await session.sendBytes(frame(INVALID_HEARTBEAT))
    const invalid = expectError(await session.receive(), 'PROTOCOL_INVALID_MESSAGE')
    expect(invalid.reType).toBe(MessageType.HEARTBEAT)
    expect(invalid.message).toMatch(/heartbeat/)
    await session.send({ t: MessageType.ENROL, rid: 7, token: 'lbt_aaaaaaaaaaaaaaaa' })
    const unexpected = expectError(await session.receive(), 'PROTOCOL_UNEXPECTED_MESSAGE')
    expect(unexpected).toMatchObject({ reType: MessageType.ENROL, reId: 7 })
    expect(unexpected.message).toMatch(/enrolment listener/)
    // The stream still works: the next heartbeat reaches liveness.
    await session.send(heartbeat(7))
    await eventually(() => coordinator.server.loadOf(nodeId)?.load.activeJobs === 7, 'heartbeat applied')
  })

  it(`closes the stream after ${MAX_CONSECUTIVE_BAD_FRAMES} refused frames in a row`, async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const { session } = await openSession(coordinator)
    for (let i = 0; i < MAX_CONSECUTIVE_BAD_FRAMES; i++)
      await session.sendBytes(frame(Uint8Array.from([0xc1])))
    const codes: string[] = []
    for (let i = 0; i < MAX_CONSECUTIVE_BAD_FRAMES; i++) {
      const message = await session.receive()
      if (message?.t !== MessageType.ERROR) break
      codes.push(message.code)
    }
    expect(codes.slice(0, MAX_CONSECUTIVE_BAD_FRAMES - 1)).toEqual(
      Array(MAX_CONSECUTIVE_BAD_FRAMES - 1).fill('PROTOCOL_MALFORMED'),
    )
    expect(codes).toHaveLength(MAX_CONSECUTIVE_BAD_FRAMES)
    expectError(await session.receive(), 'PROTOCOL_TOO_MANY_ERRORS')
    expect(await session.ended()).toBeDefined()
  })

  it('answers an oversize frame with PROTOCOL_FRAME_TOO_LARGE, ends the stream, keeps the connection', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const { session, nodeId } = await openSession(coordinator)
    const prefix = Buffer.alloc(4)
    prefix.writeUInt32BE(2 * 1024 * 1024, 0)
    await session.sendBytes(prefix)
    const error = expectError(await session.receive(), 'PROTOCOL_FRAME_TOO_LARGE')
    expect(error.message).toMatch(/2097152/)
    expect(await session.ended()).toBeDefined()
    // The connection is still there: a new session on it works.
    expect(session.connection.status).toBe('open')
    const again = await RawControlStream.on(session.connection)
    await again.send(nodeHello(nodeId, 'appliance'))
    expect(await again.receive()).toMatchObject({ t: MessageType.HELLO })
    await again.send(heartbeat(3))
    await eventually(() => coordinator.server.loadOf(nodeId)?.load.activeJobs === 3, 'heartbeat applied')
  })

  it('times out a peer that sends half a frame and stalls', async () => {
    const coordinator = await startTestCoordinator(cleanup, { frameIdleTimeoutMs: 300 })
    const { session } = await openSession(coordinator)
    const body = Buffer.alloc(100, 0x90)
    const half = Buffer.alloc(4 + 50)
    half.writeUInt32BE(body.length, 0)
    await session.sendBytes(half)
    const started = Date.now()
    expectError(await session.receive(), 'TRANSPORT_TIMEOUT')
    expect(await session.ended()).toBeDefined()
    expect(Date.now() - started).toBeLessThan(5_000)
    await eventually(() => coordinator.logger.events('session-ended').length === 1, 'session ended')
    expect(coordinator.logger.events('session-ended')[0]?.fields.code).toBe('TRANSPORT_TIMEOUT')
  })
})

describe('a node session refuses a bad hello', () => {
  async function refusedHello(coordinator: TestCoordinator, hello: (nodeId: string) => ControlMessage) {
    const node = await cleanup.node()
    await enrolDirectly(coordinator, node)
    const refusals: RefusalEvent[] = []
    coordinator.server.controlEvents.on('session-refused', (detail) => refusals.push(detail))
    const session = await RawControlStream.open(node, coordinator.address)
    await session.send(hello(node.peerId.toString()))
    const answer = await session.receive()
    expect(await session.ended()).toBeDefined()
    await eventually(() => refusals.length === 1, 'session-refused emitted')
    return {
      answer: answer as Extract<ControlMessage, { t: 2 }>,
      refusal: refusals[0]!,
      nodeId: node.peerId.toString(),
    }
  }

  it('refuses another major version with an error naming both versions', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const { answer, refusal } = await refusedHello(coordinator, (nodeId) =>
      nodeHello(nodeId, 'appliance', { protocol: { major: 2, minor: 3 } }),
    )
    expectError(answer, 'PROTOCOL_VERSION_MISMATCH')
    expect(answer.message).toContain('2.3')
    expect(answer.message).toContain(formatVersion(CONTROL_PROTOCOL_VERSION))
    expect(refusal.code).toBe('PROTOCOL_VERSION_MISMATCH')
  })

  it('refuses a known node claiming the other role', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const { answer, refusal, nodeId } = await refusedHello(coordinator, (id) => nodeHello(id, 'connector'))
    expectError(answer, 'CONTROL_ROLE_MISMATCH')
    expect(answer.message).toMatch(/enrolled as a appliance/)
    expect(refusal).toMatchObject({ peerId: nodeId, code: 'CONTROL_ROLE_MISMATCH' })
    expect(await coordinator.store.findNode(nodeId)).toMatchObject({ role: 'appliance', status: 'offline' })
  })

  it('refuses a hello naming another node, another site, or not being a hello', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const other = (await cleanup.node()).peerId.toString()
    expectError(
      (await refusedHello(coordinator, () => nodeHello(other, 'appliance'))).answer,
      'CONTROL_NODE_ID_MISMATCH',
    )
    expectError(
      (await refusedHello(coordinator, (id) => nodeHello(id, 'appliance', { site: 'elsewhere' }))).answer,
      'CONTROL_SITE_MISMATCH',
    )
    expectError((await refusedHello(coordinator, () => heartbeat(1))).answer, 'PROTOCOL_HELLO_EXPECTED')
  })
})
