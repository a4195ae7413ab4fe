import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { enrolmentFilePath, readEnrolment, startAgent } from '../../agent/control/index.js'
import type { RefusalEvent } from '../../coordinator/control/index.js'
import {
  Cleanup,
  nextEvent,
  startTestAgent,
  startTestCoordinator,
  type TestCoordinator,
  withLimit,
} from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

/** Starts an agent that must be refused at enrolment; returns the error it threw. */
async function refusedAgent(
  coordinator: TestCoordinator,
  token: string,
  role: 'appliance' | 'connector' = 'appliance',
  dataDir?: string,
) {
  const dir = dataDir ?? (await cleanup.tempDir('lifeboat-agent-'))
  const error = await startAgent({
    dataDir: dir,
    coordinator: coordinator.address,
    enrolAddress: coordinator.enrolAddress,
    role,
    token,
  }).then(
    (agent) => {
      cleanup.add(() => agent.stop())
      throw new Error('the agent was not refused')
    },
    (reason: unknown) => reason as Error & { code: string; remediation: string },
  )
  return { error, dataDir: dir }
}

/** Everything the coordinator refused during `action`, by event. */
async function refusalsDuring(coordinator: TestCoordinator, action: () => Promise<unknown>) {
  const refusals: RefusalEvent[] = []
  const off = coordinator.server.controlEvents.on('enrolment-refused', (detail) => refusals.push(detail))
  try {
    await action()
  } finally {
    off()
  }
  return refusals
}

describe('enrolment with a one-time token', () => {
  it('records the node, writes the enrolment file, and the node connects without a token after', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const enrolled = nextEvent(coordinator.server.controlEvents, 'node-enrolled')
    const online = nextEvent(coordinator.server.events, 'node-online')
    const dataDir = await cleanup.tempDir('lifeboat-agent-')
    const first = await startTestAgent(cleanup, coordinator, {
      dataDir,
      role: 'connector',
      token: await coordinator.token('connector'),
    })
    const nodeId = first.node.peerId.toString()
    expect(first.enrolledNow).toBe(true)
    expect(await withLimit(enrolled, 'node-enrolled')).toMatchObject({
      nodeId,
      tenantId: 'acme',
      siteId: 'dc1',
      role: 'connector',
      reEnrolment: false,
    })
    expect(await withLimit(online, 'node-online')).toMatchObject({ nodeId, role: 'connector' })
    expect(await coordinator.store.findNode(nodeId)).toMatchObject({
      tenantId: 'acme',
      siteId: 'dc1',
      role: 'connector',
      status: 'online',
    })
    const record = await readEnrolment(enrolmentFilePath(dataDir))
    expect(record).toMatchObject({ coordinator: coordinator.server.peerId, node: { nodeId, site: 'dc1' } })

    await first.stop()
    // Same data directory, no token: the enrolment file is enough.
    const second = await startTestAgent(cleanup, coordinator, { dataDir, role: 'connector' })
    expect(second.enrolledNow).toBe(false)
    expect(second.node.peerId.toString()).toBe(nodeId)
    await withLimit(second.client.events.next('session-open'), 'session open')
    const tokens = await coordinator.store.listEnrolmentTokens('acme')
    expect(tokens.filter((t) => t.usedByNode === nodeId)).toHaveLength(1)
  })

  it('refuses a replayed token on both sides and records nothing', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const token = await coordinator.token('appliance')
    await startTestAgent(cleanup, coordinator, { role: 'appliance', token })
    let refused!: Awaited<ReturnType<typeof refusedAgent>>
    const refusals = await refusalsDuring(coordinator, async () => {
      refused = await refusedAgent(coordinator, token)
    })
    expect(refused.error).toMatchObject({ code: 'ENROL_TOKEN_USED', retryable: false })
    expect(refused.error.remediation).toMatch(/new enrolment token/)
    expect(refusals.map((r) => r.code)).toEqual(['ENROL_TOKEN_USED'])
    expect(coordinator.logger.events('enrolment-refused')[0]?.fields).toMatchObject({
      code: 'ENROL_TOKEN_USED',
    })
    expect(await readEnrolment(enrolmentFilePath(refused.dataDir))).toBeUndefined()
    expect((await coordinator.store.listNodes('acme')).map((n) => n.id)).not.toContain(refusals[0]!.peerId)
  })

  it('refuses an expired token on both sides and leaves it unused', async () => {
    // The coordinator's clock runs two days ahead of the clock the token was issued by.
    const coordinator = await startTestCoordinator(cleanup, {}, { now: () => Date.now() + 2 * 86_400_000 })
    const token = await coordinator.token('appliance', 3_600_000)
    const refusals = await refusalsDuring(coordinator, async () => {
      const { error } = await refusedAgent(coordinator, token)
      expect(error).toMatchObject({ code: 'ENROL_TOKEN_EXPIRED' })
      expect(error.message).toMatch(/expired/)
    })
    expect(refusals.map((r) => r.code)).toEqual(['ENROL_TOKEN_EXPIRED'])
    const [record] = await coordinator.store.listEnrolmentTokens('acme')
    expect(record?.usedAt).toBeUndefined()
    expect(await coordinator.store.listNodes('acme')).toEqual([])
  })

  it('refuses a forged token on both sides', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    await coordinator.token('appliance')
    const forged = `lbt_${randomBytes(32).toString('base64url')}`
    const refusals = await refusalsDuring(coordinator, async () => {
      const { error } = await refusedAgent(coordinator, forged)
      expect(error).toMatchObject({ code: 'ENROL_TOKEN_INVALID' })
    })
    expect(refusals.map((r) => r.code)).toEqual(['ENROL_TOKEN_INVALID'])
    expect(await coordinator.store.listNodes('acme')).toEqual([])
  })

  it('refuses a known node that enrols again claiming the other role', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const dataDir = await cleanup.tempDir('lifeboat-agent-')
    const appliance = await startTestAgent(cleanup, coordinator, {
      dataDir,
      role: 'appliance',
      token: await coordinator.token('appliance'),
    })
    const nodeId = appliance.node.peerId.toString()
    await appliance.stop()
    // The agent is reinstalled with the same key but told it is a connector.
    await rm(enrolmentFilePath(dataDir))
    const connectorToken = await coordinator.token('connector')
    const refusals = await refusalsDuring(coordinator, async () => {
      const { error } = await refusedAgent(coordinator, connectorToken, 'connector', dataDir)
      expect(error).toMatchObject({ code: 'ENROL_ROLE_MISMATCH' })
      expect(error.message).toMatch(/already enrolled as a appliance/)
    })
    expect(refusals).toEqual([expect.objectContaining({ peerId: nodeId, code: 'ENROL_ROLE_MISMATCH' })])
    expect(await coordinator.store.findNode(nodeId)).toMatchObject({ role: 'appliance' })
    const tokens = await coordinator.store.listEnrolmentTokens('acme')
    expect(tokens.find((t) => t.role === 'connector')?.usedAt).toBeUndefined()
  })

  it('refuses locally to start an enrolled node in another role or without any enrolment', async () => {
    const coordinator = await startTestCoordinator(cleanup)
    const dataDir = await cleanup.tempDir('lifeboat-agent-')
    const appliance = await startTestAgent(cleanup, coordinator, {
      dataDir,
      role: 'appliance',
      token: await coordinator.token('appliance'),
    })
    await appliance.stop()
    const start = (role: 'appliance' | 'connector', dir: string) =>
      startAgent({ dataDir: dir, coordinator: coordinator.address, role })
    await expect(start('connector', dataDir)).rejects.toMatchObject({ code: 'CONTROL_ROLE_MISMATCH' })
    await expect(start('appliance', await cleanup.tempDir())).rejects.toMatchObject({
      code: 'CONTROL_ENROLMENT_REQUIRED',
    })
    const text = await readFile(enrolmentFilePath(dataDir), 'utf8')
    expect(JSON.parse(text)).toMatchObject({ format: 'lifeboat-enrolment', version: 1 })
  })
})
