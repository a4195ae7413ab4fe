// Shared by the end-to-end job tests: a coordinator over a level store in a temp dir with short
// job timers, enrolled agents with job runners on loopback, bounded waits for lifecycle events,
// jobs enqueued by hand, gates an executor waits on, and cutting a node off. Everything started is
// stopped by the test file's Cleanup (its `run()` in afterEach).
import { expect } from 'vitest'
import { type Agent, type AgentInit, startAgent } from '../../agent/control/index.js'
import type { JobExecutor } from '../../agent/jobs/index.js'
import {
  type Coordinator,
  type CoordinatorComponents,
  type CoordinatorJobsInit,
  startCoordinator,
} from '../../coordinator/control/coordinator-runtime.js'
import { issueEnrolmentToken } from '../../coordinator/control/index.js'
import type { LifecycleEventMap } from '../../coordinator/events/lifecycle-events.js'
import { CONTROL_PROTOCOL_ID, type JobOffer, type JobType, MessageType } from '../../protocol/index.js'
import { ControlChannel } from '../../transport/message-channel.js'
import { type Cleanup, eventually, LOOPBACK, withLimit } from '../control/helpers.js'

/** The tenant every job test runs in; its appliances are in site `dc1` unless told otherwise. */
export const TENANT = 'acme'
export const SITE = 'dc1'

/**
 * Short timers: a dispatch pass every 50 ms, 1 s to acknowledge, no re-offer to an excluded node.
 * No CPU cap: the test machine's CPU is shared and often above 90 %, which would make every node
 * overloaded and the tests depend on the load of whatever else runs.
 */
export const FAST_JOBS: CoordinatorJobsInit = {
  dispatchIntervalMs: 50,
  ackDeadlineMs: 1_000,
  leaseTtlMs: 1_000,
  exclusionGraceMs: 600_000,
  maxCpu: 1,
}

export async function startJobCoordinator(
  cleanup: Cleanup,
  jobs: CoordinatorJobsInit = {},
  prefix = 'lifeboat-jobs-',
  components: CoordinatorComponents = {},
): Promise<Coordinator> {
  const c = await startCoordinator(
    {
      dataDir: await cleanup.tempDir(prefix),
      listen: [LOOPBACK],
      enrolListen: [LOOPBACK],
      jobs: { ...FAST_JOBS, ...jobs },
    },
    components,
  )
  cleanup.add(() => c.stop())
  return c
}

export interface JobAgentOptions extends Partial<Omit<AgentInit, 'coordinator' | 'dataDir' | 'token'>> {
  site?: string
  /** Registered as soon as the agent runs, before the coordinator sees it: no offer can beat them. */
  executors?: Partial<Record<JobType, JobExecutor>>
}

/**
 * An appliance enrolled in `site` (dc1), heartbeating every 100 ms, once the coordinator has its
 * first load report. Load sharing ignores CPU (maxCpu 1) unless told otherwise: the nodes share one
 * busy test machine, and CPU noise must not move jobs between them.
 */
export async function startJobAgent(
  cleanup: Cleanup,
  c: Coordinator,
  options: JobAgentOptions = {},
): Promise<Agent> {
  const { site = SITE, executors = {}, ...init } = options
  const { token } = await issueEnrolmentToken(
    c.store,
    { tenant: TENANT, site, role: 'appliance' },
    Date.now(),
  )
  const a = await startAgent({
    dataDir: await cleanup.tempDir('lifeboat-jobs-agent-'),
    coordinator: c.server.addresses()[0]!,
    enrolAddress: c.server.enrolAddresses()[0]!,
    role: 'appliance',
    token,
    heartbeatIntervalMs: 100,
    baseDelayMs: 50,
    maxDelayMs: 500,
    loadSharing: { maxCpu: 1 },
    ...init,
  })
  cleanup.add(() => a.stop())
  for (const [type, executor] of Object.entries(executors)) a.jobs.registerExecutor(type as JobType, executor)
  await eventually(() => c.server.loadOf(a.node.peerId.toString()) !== undefined, 'first heartbeat')
  return a
}

/** The next lifecycle event of `type` that matches, within the wait limit. */
export function nextEvent<K extends keyof LifecycleEventMap>(
  c: Coordinator,
  type: K,
  match: (e: LifecycleEventMap[K]) => boolean = () => true,
): Promise<LifecycleEventMap[K]> {
  return withLimit(
    new Promise((resolve) => {
      const off = c.events.on(type, (e) => {
        if (!match(e)) return
        off()
        resolve(e)
      })
    }),
    `event ${type}`,
  )
}

/** Enqueues a maintenance job (prune) for the appliances of `dc1` and pokes the dispatcher. */
export async function enqueueMaintenance(
  c: Coordinator,
  id: string,
  options: { maxAttempts?: number } = {},
): Promise<void> {
  const result = await c.store.enqueueJob(
    TENANT,
    {
      id,
      type: 'maintenance',
      siteId: SITE,
      role: 'appliance',
      payload: { task: 'prune', tenant: TENANT },
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    },
    Date.now(),
  )
  expect(result.enqueued).toBe(true)
  c.dispatcher.poke()
}

/** A promise an executor can wait on, opened by the test (and by the cleanup, so nothing hangs). */
export function gate(cleanup: Cleanup): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  cleanup.add(async () => open())
  return { opened, open }
}

/** Cuts the node off: no reconnecting until the client is started again, and the connection dropped. */
export async function cutOff(a: Agent): Promise<void> {
  await a.client.stop()
  for (const connection of a.node.getConnections()) connection.abort(new Error('cut off by the test'))
}

/** A job clock the test moves forward (leases, backoff) while liveness keeps real time. */
export function movableClock(): { now: () => number; advance: (ms: number) => void } {
  let offset = 0
  return {
    now: () => Date.now() + offset,
    advance: (ms) => {
      offset += ms
    },
  }
}

/**
 * Replaces the agent's job runner with a node that accepts every offer and then says nothing: no
 * renewal, no result, so its leases lapse. Returns the offers it accepted.
 */
export async function acceptAndGoSilent(cleanup: Cleanup, a: Agent): Promise<JobOffer[]> {
  await a.jobs.stop()
  const offers: JobOffer[] = []
  const held: ControlChannel[] = []
  cleanup.add(() => Promise.all(held.map((channel) => channel.close().catch(() => undefined))))
  await a.client.handle(CONTROL_PROTOCOL_ID, async (stream) => {
    const channel = new ControlChannel(stream)
    held.push(channel)
    const hello = await channel.receiveHello()
    await channel.send({ ...hello!, nodeId: a.node.peerId.toString(), role: 'appliance' })
    const offer = (await channel.receive()) as JobOffer | undefined
    if (offer?.t !== MessageType.JOB_OFFER) return
    offers.push(offer)
    await channel.send({
      t: MessageType.JOB_ACK,
      rid: offer.rid,
      jobId: offer.jobId,
      leaseId: offer.leaseId,
      accepted: true,
    })
  })
  return offers
}
