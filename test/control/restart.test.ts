// A coordinator restart on the same data directory: enrolled nodes are still known, reconnect on
// their own and need no token, and a restarted agent needs none either.
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { startAgent } from '../../agent/control/index.js'
import { type Coordinator, startCoordinator } from '../../coordinator/control/index.js'
import { Cleanup, eventually, withLimit } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

async function coordinatorOn(dataDir: string, port: number, enrolPort: number): Promise<Coordinator> {
  const coordinator = await startCoordinator({
    dataDir,
    listen: [`/ip4/127.0.0.1/tcp/${port}`],
    enrolListen: [`/ip4/127.0.0.1/tcp/${enrolPort}`],
    heartbeatIntervalMs: 200,
  })
  cleanup.add(() => coordinator.stop())
  return coordinator
}

function portOf(address: string): number {
  return Number(
    multiaddr(address)
      .getComponents()
      .find((c) => c.name === 'tcp')!.value,
  )
}

describe('a coordinator restart', () => {
  it('keeps enrolled nodes: the agent reconnects without a token, before and after its own restart', async () => {
    const coordinatorDir = await cleanup.tempDir('lifeboat-coord-')
    const first = await coordinatorOn(coordinatorDir, 0, 0)
    const address = first.server.addresses()[0]!
    const enrolAddress = first.server.enrolAddresses()[0]!
    const issued = await first.store.createTenant({ id: 'acme', name: 'Acme' }, Date.now())
    await first.store.createSite(issued.id, { id: 'dc1', name: 'DC 1' }, Date.now())
    const { token } = await first.store.createEnrolmentToken('acme', 'dc1', 'appliance', 60_000, Date.now())

    const agentDir = await cleanup.tempDir('lifeboat-agent-')
    const agentInit = {
      dataDir: agentDir,
      coordinator: address,
      role: 'appliance' as const,
      heartbeatIntervalMs: 200,
      baseDelayMs: 50,
      maxDelayMs: 200,
    }
    const agent = await startAgent({ ...agentInit, token, enrolAddress })
    cleanup.add(() => agent.stop())
    const nodeId = agent.node.peerId.toString()
    await withLimit(agent.client.events.next('session-open'), 'first session')

    // Restart the coordinator on the same directory and ports.
    const closed = agent.client.events.next('session-closed')
    await first.stop()
    await withLimit(closed, 'session closed by the stop')
    const second = await coordinatorOn(coordinatorDir, portOf(address), portOf(enrolAddress))
    expect(second.peerId).toBe(first.peerId)
    expect(await second.store.findNode(nodeId)).toMatchObject({ role: 'appliance', siteId: 'dc1' })
    await withLimit(agent.client.events.next('session-open'), 'session after the coordinator restart')
    expect(second.server.sessionNodes()).toEqual([nodeId])
    await eventually(() => second.server.loadOf(nodeId) !== undefined, 'heartbeat after the restart')

    // Restart the agent too: no token, same node.
    await agent.stop()
    const again = await startAgent(agentInit)
    cleanup.add(() => again.stop())
    expect(again.enrolledNow).toBe(false)
    expect(again.node.peerId.toString()).toBe(nodeId)
    await withLimit(again.client.events.next('session-open'), 'session after the agent restart')
    const tokens = await second.store.listEnrolmentTokens('acme')
    expect(tokens).toHaveLength(1)
    expect(await second.store.findNode(nodeId)).toMatchObject({ status: 'online' })
  })
})
