// Liveness: online at hello, offline after missed heartbeats (with an event), online again at the
// next heartbeat; what is written to the store and how often.
import { afterEach, describe, expect, it } from 'vitest'
import { createNodeLoadBoard } from '../../coordinator/dispatch/node-load-board.js'
import type { LifecycleEventMap } from '../../coordinator/events/lifecycle-events.js'
import { createMemoryStore } from '../../coordinator/store/memory-store.js'
import { MessageType } from '../../protocol/index.js'
import {
  Cleanup,
  enrolDirectly,
  eventually,
  heartbeat,
  nextEvent,
  nodeHello,
  RawControlStream,
  startTestCoordinator,
  type TestCoordinator,
  type TestStore,
  withLimit,
} from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

/** A memory store that counts the liveness writes made to it. */
async function countingStore() {
  const store = createMemoryStore()
  await store.open()
  cleanup.add(() => store.close())
  const calls = { markNodeSeen: 0, setNodeStatus: 0 }
  const counted = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        if (property === 'markNodeSeen' || property === 'setNodeStatus') calls[property]++
        return value.apply(target, args)
      }
    },
  }) as TestStore
  return { store: counted, calls }
}

/** Records every node status event, in order. */
function statusEvents(coordinator: TestCoordinator) {
  const seen: Array<{
    type: 'node-online' | 'node-offline'
    detail: LifecycleEventMap['node-offline'] | LifecycleEventMap['node-online']
  }> = []
  coordinator.server.events.on('node-online', (detail) => seen.push({ type: 'node-online', detail }))
  coordinator.server.events.on('node-offline', (detail) => seen.push({ type: 'node-offline', detail }))
  return seen
}

async function session(coordinator: TestCoordinator) {
  const node = await cleanup.node()
  await enrolDirectly(coordinator, node)
  const raw = await RawControlStream.open(node, coordinator.address)
  await raw.send(nodeHello(node.peerId.toString(), 'appliance'))
  expect(await raw.receive()).toMatchObject({ t: MessageType.HELLO })
  return { raw, nodeId: node.peerId.toString() }
}

describe('liveness', () => {
  it('marks a quiet node offline with an event, and online again at its next heartbeat', async () => {
    const coordinator = await startTestCoordinator(cleanup, { missedHeartbeats: 2, heartbeatIntervalMs: 100 })
    const events = statusEvents(coordinator)
    const { raw, nodeId } = await session(coordinator)
    await raw.send(heartbeat(1, 100))
    await eventually(() => coordinator.server.loadOf(nodeId)?.load.activeJobs === 1, 'first heartbeat')
    const lastHeard = coordinator.server.loadOf(nodeId)!.receivedAt

    // Silence: after 2 missed intervals (+ half of one) the node is offline.
    const offline = await withLimit(nextEvent(coordinator.server.events, 'node-offline'), 'node-offline')
    expect(offline).toMatchObject({
      nodeId,
      tenantId: 'acme',
      siteId: 'dc1',
      role: 'appliance',
      missedHeartbeats: 2,
    })
    expect(offline.lastSeenAt).toBe(lastHeard)
    // Not before the two missed intervals had passed (timers may fire a millisecond early).
    expect(offline.at - lastHeard).toBeGreaterThanOrEqual(200)
    expect(coordinator.server.isOnline(nodeId)).toBe(false)
    expect(coordinator.server.loadOf(nodeId)).toBeUndefined()
    expect(await coordinator.store.findNode(nodeId)).toMatchObject({
      status: 'offline',
      lastSeenAt: lastHeard,
    })

    // The session is still there: the next heartbeat brings the node back.
    const online = nextEvent(coordinator.server.events, 'node-online')
    await raw.send(heartbeat(2, 100))
    expect(await withLimit(online, 'node-online')).toMatchObject({ nodeId })
    expect(await coordinator.store.findNode(nodeId)).toMatchObject({ status: 'online' })
    expect(coordinator.server.loadOf(nodeId)?.load.activeJobs).toBe(2)
    expect(events.map((e) => e.type)).toEqual(['node-online', 'node-offline', 'node-online'])
  })

  it('feeds the dispatcher: site-load at every heartbeat, presence on the lifecycle bus', async () => {
    const coordinator = await startTestCoordinator(cleanup, { missedHeartbeats: 2, heartbeatIntervalMs: 100 })
    const board = createNodeLoadBoard({ events: coordinator.server.events })
    cleanup.add(() => board.stop())
    const loads: number[] = []
    coordinator.server.events.on('site-load', (e) => loads.push(e.load.activeJobs))
    const { raw, nodeId } = await session(coordinator)
    for (let i = 1; i <= 3; i++) await raw.send(heartbeat(i, 100))
    await eventually(() => loads.length === 3, 'three site-load events')
    expect(loads).toEqual([1, 2, 3])
    expect(board.nodesOfSite('acme', 'dc1')).toEqual([
      expect.objectContaining({
        nodeId,
        role: 'appliance',
        online: true,
        load: expect.objectContaining({ activeJobs: 3, intervalMs: 100 }),
      }),
    ])
    await nextEvent(coordinator.server.events, 'node-offline')
    expect(board.nodesOfSite('acme', 'dc1')[0]?.online).toBe(false)
  })

  it('uses the interval each node announces, not only its own', async () => {
    const coordinator = await startTestCoordinator(cleanup, { missedHeartbeats: 1, heartbeatIntervalMs: 100 })
    const { raw, nodeId } = await session(coordinator)
    // This node heartbeats every 2 s: after 1 s of silence it is still online.
    await raw.send(heartbeat(1, 2_000))
    await eventually(() => coordinator.server.loadOf(nodeId) !== undefined, 'heartbeat')
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    expect(coordinator.server.isOnline(nodeId)).toBe(true)
    expect(coordinator.server.loadOf(nodeId)?.intervalMs).toBe(2_000)
  })

  it('writes lastSeenAt at most every seenWriteIntervalMs, not at every heartbeat', async () => {
    for (const [seenWriteIntervalMs, expectedSeenWrites] of [
      [60_000, 1],
      [0, 21],
    ] as const) {
      const { store, calls } = await countingStore()
      const coordinator = await startTestCoordinator(cleanup, { seenWriteIntervalMs }, { store })
      const { raw, nodeId } = await session(coordinator)
      for (let i = 1; i <= 20; i++) await raw.send(heartbeat(i))
      await eventually(() => coordinator.server.loadOf(nodeId)?.load.activeJobs === 20, 'heartbeats applied')
      await coordinator.server.idle()
      // Hello: one status write (online) and one seen write (the software version); then heartbeats.
      expect(calls).toEqual({ setNodeStatus: 1, markNodeSeen: expectedSeenWrites })
      await coordinator.server.stop()
    }
  })

  it('gives nodes stored as online one window after a restart, then marks them offline', async () => {
    const store = createMemoryStore()
    await store.open()
    cleanup.add(() => store.close())
    const first = await startTestCoordinator(cleanup, {}, { store })
    const node = await cleanup.node()
    await enrolDirectly(first, node)
    await first.server.stop()
    await store.setNodeStatus(node.peerId.toString(), 'online', Date.now())

    const second = await startTestCoordinator(
      cleanup,
      { missedHeartbeats: 2, heartbeatIntervalMs: 100 },
      { store },
    )
    expect(second.server.isOnline(node.peerId.toString())).toBe(true)
    const offline = await withLimit(nextEvent(second.server.events, 'node-offline'), 'node-offline')
    expect(offline.nodeId).toBe(node.peerId.toString())
    expect(await store.findNode(node.peerId.toString())).toMatchObject({ status: 'offline' })
  })
})
