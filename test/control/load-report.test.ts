// The load report in each heartbeat: how it is computed, and that a real agent's reaches the
// coordinator with byte rates taken from its connection.
import { afterEach, describe, expect, it } from 'vitest'
import { LoadSampler } from '../../agent/control/index.js'
import { createFramedStream } from '../../transport/index.js'
import { Cleanup, eventually, startTestAgent, startTestCoordinator, withLimit } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

function cpu(user: number, idle: number) {
  return { times: { user, nice: 0, sys: 0, idle, irq: 0 } }
}

describe('the load sampler', () => {
  it('reports CPU over the interval across all cores, byte rates per second and the providers', () => {
    let cores = [cpu(1_000, 9_000), cpu(2_000, 8_000)]
    let now = 10_000
    let bytes = { sent: 0, received: 0 }
    let active = 3
    const sampler = new LoadSampler(
      { activeJobs: () => active, queuedUpdates: () => 4, maxJobs: 8 },
      {
        bytes: { sample: () => bytes },
        cpus: () => cores,
        freeMemory: () => 123_456.7,
        clock: () => now,
      },
    )
    // Two seconds later: core 0 was busy 500 of 1,000 ms, core 1 busy 1,000 of 1,000 ms.
    cores = [cpu(1_500, 9_500), cpu(3_000, 8_000)]
    now += 2_000
    bytes = { sent: 4_000, received: 1_000 }
    expect(sampler.sample()).toEqual({
      activeJobs: 3,
      maxJobs: 8,
      cpu: 0.75,
      freeMemory: 123_456,
      sendRate: 2_000,
      receiveRate: 500,
      queuedUpdates: 4,
    })
    // An idle interval, and providers out of the wire's bounds are clamped.
    cores = [cpu(1_500, 10_500), cpu(3_000, 9_000)]
    now += 1_000
    bytes = { sent: 0, received: 0 }
    active = 50_000
    expect(sampler.sample()).toMatchObject({ cpu: 0, sendRate: 0, receiveRate: 0, activeJobs: 10_000 })
  })
})

describe('a real agent’s load report', () => {
  it('reaches the coordinator at every heartbeat, with the bytes the node received', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const agent = await startTestAgent(cleanup, coordinator, {
      role: 'connector',
      token: await coordinator.token('connector'),
      heartbeatIntervalMs: 100,
      activeJobs: () => 2,
    })
    const nodeId = agent.node.peerId.toString()
    await agent.client.handle('/lifeboat/test-sink/1.0.0', async (stream) => {
      const framed = createFramedStream(stream)
      let total = 0
      for await (const chunk of framed) total += chunk.byteLength
      await framed.write(Buffer.from(String(total)))
      await framed.closeWrite()
    })
    await eventually(() => coordinator.server.loadOf(nodeId) !== undefined, 'first load report')
    const first = coordinator.server.loadOf(nodeId)!
    expect(first.intervalMs).toBe(100)
    expect(first.load.activeJobs).toBe(2)
    expect(first.load.cpu).toBeGreaterThanOrEqual(0)
    expect(first.load.cpu).toBeLessThanOrEqual(1)
    expect(first.load.freeMemory).toBeGreaterThan(0)

    // Push 4 MiB to the agent: its next reports show it received them.
    const framed = createFramedStream(
      await coordinator.server.openStreamTo(nodeId, '/lifeboat/test-sink/1.0.0'),
    )
    for (let i = 0; i < 4; i++) await framed.write(Buffer.alloc(1024 * 1024, i))
    await framed.closeWrite()
    expect(Buffer.from((await withLimit(framed.read(), 'sink answer'))!).toString()).toBe(
      String(4 * 1024 * 1024),
    )
    const reports: number[] = []
    coordinator.server.events.on('node-offline', () => reports.push(-1))
    await eventually(() => {
      const rate = coordinator.server.loadOf(nodeId)?.load.receiveRate ?? 0
      reports.push(rate)
      return rate > 1024 * 1024
    }, 'a receive rate of the pushed bytes')
    expect(reports).not.toContain(-1)
  })
})
