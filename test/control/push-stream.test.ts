import { afterEach, describe, expect, it } from 'vitest'
import { createFramedStream } from '../../transport/index.js'
import { Cleanup, startTestAgent, startTestCoordinator, withLimit } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

const JOB_PROTOCOL = '/lifeboat/test-job/1.0.0'

describe('work pushed by the coordinator', () => {
  it('reaches an agent that never listens, over the connection the agent keeps', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const agent = await startTestAgent(cleanup, coordinator, {
      role: 'appliance',
      token: await coordinator.token('appliance'),
    })
    const received: string[] = []
    await agent.client.handle(JOB_PROTOCOL, async (stream) => {
      const framed = createFramedStream(stream)
      for await (const job of framed) {
        received.push(Buffer.from(job).toString())
        await framed.write(Buffer.from(`done ${Buffer.from(job).toString()}`))
      }
      await framed.closeWrite()
    })
    await withLimit(agent.client.events.next('session-open'), 'session open')
    expect(agent.node.getMultiaddrs()).toEqual([])

    const nodeId = agent.node.peerId.toString()
    const framed = createFramedStream(await coordinator.server.openStreamTo(nodeId, JOB_PROTOCOL))
    await framed.write(Buffer.from('replicate vm-1'))
    expect(Buffer.from((await withLimit(framed.read(), 'answer'))!).toString()).toBe('done replicate vm-1')
    await framed.closeWrite()
    expect(await withLimit(framed.read(), 'end')).toBeUndefined()
    expect(received).toEqual(['replicate vm-1'])
  })
})
