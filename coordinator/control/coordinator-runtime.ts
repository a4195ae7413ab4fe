/**
 * A coordinator started from its *data directory*: the layout `lifeboat coordinator start` uses,
 * and what tests restart to prove that nodes survive a coordinator restart.
 *
 * ```
 * <data-dir>/            mode 0700 when created here
 *   identity.key         the coordinator's Ed25519 key (transport/identity.ts): its peer id
 *   store/               the metadata store (classic-level, docs/STORE.md)
 *   admin.sock           the admin endpoint while the coordinator runs (admin-server.ts)
 * ```
 *
 * Start order: identity, store (its lock makes this the only coordinator on the directory), the
 * control server (both listeners), the admin socket, then the job machinery: the node load board,
 * the job link (coordinator/job-link/), the dispatcher and the scheduler over the store's adapters
 * (coordinator/adapters/). Stop runs the other way round.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { LifeboatError } from '../../protocol/errors.js'
import { loadOrCreateIdentity } from '../../transport/index.js'
import { createDispatchQueueAdapter, createSchedulerStoreAdapter } from '../adapters/index.js'
import { createDispatcher, type Dispatcher, type DispatcherInit } from '../dispatch/dispatcher.js'
import { createNodeLoadBoard } from '../dispatch/node-load-board.js'
import { createLifecycleEvents, type LifecycleEvents } from '../events/lifecycle-events.js'
import { logLifecycleEvents } from '../events/lifecycle-log.js'
import { createJobLink, type JobLink } from '../job-link/job-link.js'
import { createRecoveryPointRecorder } from '../replication/recovery-point-recorder.js'
import type { Clock } from '../scheduling/clock.js'
import { createJobPruner, type JobPruner } from '../scheduling/job-pruner.js'
import { type ManualRun, runPlanNow } from '../scheduling/run-plan-now.js'
import { createScheduler, type Scheduler } from '../scheduling/scheduler.js'
import { createLevelStore, type LevelMetadataStore } from '../store/level-store.js'
import { ADMIN_SOCKET_NAME, type AdminServer, createAdminServer } from './admin-server.js'
import { type ControlServer, createControlServer } from './control-server.js'
import type { ControlLogger } from './logger.js'
import type { ControlServerInit } from './options.js'

export const IDENTITY_FILE_NAME = 'identity.key'
export const STORE_DIR_NAME = 'store'
/** A data directory created here is owner-only: it holds the key and the admin socket. */
export const DATA_DIR_MODE = 0o700

/** The job machinery's options; every one has its documented default (docs/LIMITS.md). */
export interface CoordinatorJobsInit
  extends Pick<
    DispatcherInit,
    'ackDeadlineMs' | 'exclusionGraceMs' | 'staleAfterIntervals' | 'maxActiveJobs' | 'maxCpu'
  > {
  /** How often plans are evaluated. Default 30 s. */
  schedulerIntervalMs?: number
  /** How long finished jobs (and their logs) are kept. Default 7 days (job-pruner.ts). */
  jobRetentionMs?: number
  /** How often the finished-job sweep runs. Default 10 minutes. */
  pruneIntervalMs?: number
  /** How often a dispatch pass runs when nothing pokes it (lease expiry). Default 1 s. */
  dispatchIntervalMs?: number
  /** The lease TTL each offer announces. Default 60 s. */
  leaseTtlMs?: number
  /** Attempts each scheduled job gets. Default the store's MAX_ATTEMPTS (5). */
  maxAttempts?: number
  /** How long a node has to answer a job stream's HELLO. Default 10 s. */
  helloTimeoutMs?: number
}

export interface CoordinatorInit extends ControlServerInit {
  dataDir: string
  jobs?: CoordinatorJobsInit
}

export interface CoordinatorComponents {
  logger?: ControlLogger
  now?: () => number
  /** The coordinator's lifecycle bus; a new one when absent. */
  events?: LifecycleEvents
  /**
   * The clock of scheduling, dispatch and job changes; `now` (or Date.now) when absent. Apart from
   * liveness's, so a test can move job time (backoff, lease expiry) without nodes going stale.
   */
  jobClock?: Clock
}

export interface Coordinator {
  readonly server: ControlServer
  readonly store: LevelMetadataStore
  readonly admin: AdminServer
  readonly events: LifecycleEvents
  readonly scheduler: Scheduler
  /** Deletes finished jobs older than the retention, with their logs. */
  readonly pruner: JobPruner
  readonly dispatcher: Dispatcher
  readonly jobLink: JobLink
  readonly peerId: string
  /**
   * Enqueues a plan's jobs now, outside its schedule (coordinator/scheduling/run-plan-now.ts).
   * Throws STORE_NOT_FOUND-like errors from the store when the plan does not exist.
   */
  runPlanNow(tenantId: string, planId: string, options?: { vmIds?: readonly string[] }): Promise<ManualRun[]>
  /** Stops the admin socket, the control server and the store. Idempotent. */
  stop(): Promise<void>
}

/** The data directory's admin socket path (for `token create`). */
export function adminSocketPath(dataDir: string): string {
  return join(dataDir, ADMIN_SOCKET_NAME)
}

export function storePath(dataDir: string): string {
  return join(dataDir, STORE_DIR_NAME)
}

export async function startCoordinator(
  init: CoordinatorInit,
  components: CoordinatorComponents = {},
): Promise<Coordinator> {
  const { dataDir, jobs = {}, ...serverInit } = init
  const events = components.events ?? createLifecycleEvents({}, { log: components.logger })
  const now = components.now ?? Date.now
  const jobClock: Clock = components.jobClock ?? { now }
  await mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE })
  const identity = await loadOrCreateIdentity(join(dataDir, IDENTITY_FILE_NAME))
  const store = createLevelStore({ location: storePath(dataDir) })
  await store.open()
  const undo: Array<() => Promise<void>> = [() => store.close()]
  const rollBack = async (): Promise<void> => {
    for (const step of undo.reverse()) await step().catch(() => undefined)
  }
  // Following the bus before the control server starts, so no node's first presence is missed.
  const board = createNodeLoadBoard({ events })
  undo.push(async () => board.stop())
  if (components.logger !== undefined) {
    const stopLogging = logLifecycleEvents(events, components.logger)
    undo.push(async () => stopLogging())
  }
  try {
    const server = createControlServer(serverInit, {
      store,
      privateKey: identity.privateKey,
      logger: components.logger,
      now: components.now,
      events,
    })
    await server.start()
    undo.push(() => server.stop())
    const admin = createAdminServer(
      { socketPath: adminSocketPath(dataDir) },
      { store, logger: components.logger, now: components.now },
    )
    await admin.start()
    undo.push(() => admin.stop())
    let dispatcher: Dispatcher | undefined
    const jobLink = createJobLink(
      { helloTimeoutMs: jobs.helloTimeoutMs, software: serverInit.software },
      {
        store,
        openStreamTo: (nodeId, protocol) => server.openStreamTo(nodeId, protocol),
        peerId: server.peerId,
        handBack: (request) => dispatcher!.handBack(request),
        clock: jobClock,
        events,
        log: components.logger,
      },
    )
    server.handleStatusReplays(jobLink)
    undo.push(async () => server.handleStatusReplays(undefined))
    undo.push(() => jobLink.stop())
    dispatcher = createDispatcher(
      {
        intervalMs: jobs.dispatchIntervalMs,
        ackDeadlineMs: jobs.ackDeadlineMs,
        exclusionGraceMs: jobs.exclusionGraceMs,
        staleAfterIntervals: jobs.staleAfterIntervals,
        maxActiveJobs: jobs.maxActiveJobs,
        maxCpu: jobs.maxCpu,
      },
      {
        queue: createDispatchQueueAdapter(
          { leaseTtlMs: jobs.leaseTtlMs },
          { store, connectorAddresses: (nodeId) => server.blockAddressesOf(nodeId) },
        ),
        nodes: board,
        offer: jobLink.offer,
        clock: jobClock,
        events,
        log: components.logger,
      },
    )
    const schedulerStore = createSchedulerStoreAdapter(
      { maxAttempts: jobs.maxAttempts },
      { store, onRetentionConflict: (conflict) => events.emit('retention-conflict', conflict) },
    )
    const scheduler = createScheduler(
      { intervalMs: jobs.schedulerIntervalMs },
      {
        store: schedulerStore,
        clock: jobClock,
        events,
        log: components.logger,
      },
    )
    const recorder = createRecoveryPointRecorder({ store, events, log: components.logger })
    undo.push(async () => {
      recorder.stop()
      await recorder.idle()
    })
    await recorder.repair()
    dispatcher.start()
    undo.push(() => dispatcher!.stop())
    scheduler.start()
    undo.push(() => scheduler.stop())
    const pruner = createJobPruner(
      { retentionMs: jobs.jobRetentionMs, intervalMs: jobs.pruneIntervalMs },
      { store, clock: jobClock, log: components.logger },
    )
    pruner.start()
    undo.push(() => pruner.stop())
    let stopping: Promise<void> | undefined
    return {
      server,
      store,
      admin,
      events,
      scheduler,
      pruner,
      dispatcher,
      jobLink,
      peerId: server.peerId,
      runPlanNow: async (tenantId, planId, options) => {
        const plan = await store.getPlan(tenantId, planId)
        if (plan === undefined) throw planNotFound(tenantId, planId)
        return runPlanNow(plan, jobClock.now(), { store: schedulerStore, events }, options)
      },
      stop: () => {
        stopping ??= rollBack()
        return stopping
      },
    }
  } catch (error) {
    await rollBack()
    throw error
  }
}

function planNotFound(tenantId: string, planId: string): LifeboatError {
  return new LifeboatError('COORD_PLAN_NOT_FOUND', `tenant ${tenantId} has no plan ${planId}`, {
    remediation: 'Check the tenant and plan ids (plans are listed per tenant).',
  })
}
