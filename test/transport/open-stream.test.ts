import type { Connection, Stream } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { createFramedStream } from '../../transport/framed-stream.js'
import { openStreamOn, openStreamToPeer } from '../../transport/open-stream.js'
import { disconnected, NodeSet, TEST_PROTOCOL, WAIT_LIMIT_MS, withLimit } from './helpers.js'

const nodes = new NodeSet()
afterEach(() => nodes.stopAll())

const JOB_PROTOCOL = '/lifeboat/test-job/1.0.0'

/** An agent that never listens, connected to a listening coordinator; the agent answers jobs. */
async function agentAndCoordinator() {
  const coordinator = await nodes.start({ listenLoopback: true })
  const agent = await nodes.start()
  const jobs: string[] = []
  await agent.handle(JOB_PROTOCOL, async (stream: Stream) => {
    const framed = createFramedStream(stream)
    for await (const job of framed) {
      jobs.push(Buffer.from(job).toString())
      await framed.write(Buffer.from(`done ${Buffer.from(job).toString()}`))
    }
    await framed.closeWrite()
  })
  const inbound = new Promise<Connection>((resolve) => {
    coordinator.addEventListener('connection:open', (event) => resolve(event.detail), { once: true })
  })
  await agent.dial(coordinator.getMultiaddrs()[0]!, { signal: AbortSignal.timeout(WAIT_LIMIT_MS) })
  const connection = await withLimit(inbound, 'inbound connection')
  return { coordinator, agent, connection, jobs }
}

describe('opening a stream back over the agent connection (pitfall 7)', () => {
  it('reaches an agent that has no listen address', async () => {
    const { coordinator, agent, connection, jobs } = await agentAndCoordinator()
    expect(agent.getMultiaddrs()).toEqual([])
    expect(connection.direction).toBe('inbound')
    const stream = await openStreamToPeer(coordinator, agent.peerId, JOB_PROTOCOL)
    const framed = createFramedStream(stream)
    await framed.write(Buffer.from('replicate vm-1'))
    expect(Buffer.from((await framed.read())!).toString()).toBe('done replicate vm-1')
    await framed.closeWrite()
    expect(await framed.read()).toBeUndefined()
    expect(jobs).toEqual(['replicate vm-1'])
    // The same holds with the connection object the coordinator kept.
    const again = createFramedStream(await openStreamOn(connection, JOB_PROTOCOL))
    await again.write(Buffer.from('verify vm-1'))
    expect(Buffer.from((await again.read())!).toString()).toBe('done verify vm-1')
  })

  it('maps a gone agent to TRANSPORT_PEER_GONE, through the old connection and by peer id', async () => {
    const { coordinator, agent, connection } = await agentAndCoordinator()
    const agentId = agent.peerId
    await agent.stop()
    await disconnected(coordinator, agentId)
    await expect(openStreamOn(connection, JOB_PROTOCOL)).rejects.toMatchObject({
      code: 'TRANSPORT_PEER_GONE',
      retryable: true,
    })
    await expect(openStreamToPeer(coordinator, agentId, JOB_PROTOCOL)).rejects.toMatchObject({
      code: 'TRANSPORT_PEER_GONE',
    })
    // libp2p's own path — asking the node to dial a peer that never listens — fails with
    // NoValidAddressesError; the transport never takes it, but maps it the same way if seen.
    await expect(coordinator.dialProtocol(agentId, JOB_PROTOCOL)).rejects.toMatchObject({
      name: 'NoValidAddressesError',
    })
  })

  it('maps an aborted connection to TRANSPORT_PEER_GONE', async () => {
    const { connection } = await agentAndCoordinator()
    connection.abort(new Error('agent vanished'))
    await expect(openStreamOn(connection, JOB_PROTOCOL)).rejects.toMatchObject({
      code: 'TRANSPORT_PEER_GONE',
    })
  })

  it('reports a protocol the agent does not speak as TRANSPORT_PROTOCOL_UNSUPPORTED', async () => {
    const { connection } = await agentAndCoordinator()
    await expect(openStreamOn(connection, TEST_PROTOCOL)).rejects.toMatchObject({
      code: 'TRANSPORT_PROTOCOL_UNSUPPORTED',
    })
  })

  it('reports a caller abort as TRANSPORT_ABORTED', async () => {
    const { connection } = await agentAndCoordinator()
    const controller = new AbortController()
    controller.abort()
    await expect(openStreamOn(connection, JOB_PROTOCOL, { signal: controller.signal })).rejects.toMatchObject(
      {
        code: 'TRANSPORT_ABORTED',
      },
    )
  })
})
