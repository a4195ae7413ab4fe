/**
 * A *replication lab*: a whole Lifeboat on loopback in one process — a coordinator on its embedded
 * store, one appliance and one connector enrolled with tokens — with the VMs, plans and volume map
 * that make given raw images protected. What `lifeboat demo` runs, and what the end-to-end tests and
 * the replication benchmark build on. Everything lives under `dir`; `stop()` stops the three nodes.
 *
 * Sites: the VMs run at `dc1` (the appliance's site) and replicate to `cloud` (the connector's).
 * Plans: `replicate` (replication cycles of every VM), `check` (consistency checks), `prune`
 * (retention); all with schedules far in the future: the lab runs them with `run…()`, one at a time.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Agent, startAgent } from '../agent/control/index.js'
import type { AgentLogger } from '../agent/control/logger.js'
import { VOLUME_MAP_FORMAT, VOLUME_MAP_VERSION } from '../agent/replication/volume-map.js'
import {
  type ChunkStoreReader,
  openChunkStoreReader,
  readMasterKeyFile,
} from '../blockio/chunk-store/index.js'
import {
  type Coordinator,
  type CoordinatorJobsInit,
  startCoordinator,
} from '../coordinator/control/coordinator-runtime.js'
import { issueEnrolmentToken } from '../coordinator/control/index.js'
import type { ControlLogger } from '../coordinator/control/logger.js'
import type { Job } from '../coordinator/jobs/job.js'
import type { RetentionPolicy } from '../coordinator/store/protection-records.js'
import type { RecoveryPoint } from '../coordinator/store/recovery-point-records.js'
import { LifeboatError } from '../protocol/errors.js'
import { pointsOfSummary } from '../protocol/index.js'

export const LAB_TENANT = 'demo'
export const LAB_SOURCE_SITE = 'dc1'
export const LAB_TARGET_SITE = 'cloud'
const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
/** Schedules the lab never reaches by itself (the longest interval a plan takes: 31 days). */
const FAR = 31 * 24 * 3600 * 1000

export interface LabVolume {
  vmId: string
  volumeId: string
  /** The raw image or device the appliance reads. */
  path: string
  size: number
  /** Default 64 KiB. */
  blockSize?: number
  /** A changed-extents file the appliance uses when present (volume-map.ts). */
  changedExtents?: string
}

export interface LabInit {
  dir: string
  volumes: LabVolume[]
  retention?: RetentionPolicy
  /** How long a job may take before waitForJob gives up. Default 10 minutes. */
  jobTimeoutMs?: number
  /** Scan worker threads of the appliance. */
  scanWorkers?: number
  /** The coordinator's job timers (lease TTL, ack deadline, …) over the lab's own defaults. */
  jobs?: CoordinatorJobsInit
  logger?: AgentLogger & ControlLogger
}

export interface ReplicationLab {
  readonly coordinator: Coordinator
  readonly appliance: Agent
  readonly connector: Agent
  readonly dir: string
  /** Runs a replication cycle of `vmId` now and waits for it to end; throws its error if it failed. */
  replicate(vmId: string): Promise<Job>
  /** Runs a consistency check of `vmId`'s newest points now; resolves with the job, failed or not. */
  check(vmId: string): Promise<Job>
  /** Runs the prune plan now. */
  prune(): Promise<Job>
  /** The catalogue's points of a VM, oldest first. */
  points(vmId: string, volumeId?: string): Promise<RecoveryPoint[]>
  /** A read-only view of the connector's chunk store (restore, checks). Close it after use. */
  openStoreReader(): Promise<ChunkStoreReader>
  stop(): Promise<void>
}

export async function startReplicationLab(init: LabInit): Promise<ReplicationLab> {
  const now = Date.now()
  const coordinatorDir = join(init.dir, 'coordinator')
  const applianceDir = join(init.dir, 'appliance')
  const connectorDir = join(init.dir, 'connector')
  for (const dir of [coordinatorDir, applianceDir, connectorDir])
    await mkdir(dir, { recursive: true, mode: 0o700 })
  const volumeMapPath = join(applianceDir, 'volumes.json')
  await writeVolumeMap(volumeMapPath, init.volumes)

  const coordinator = await startCoordinator(
    {
      dataDir: coordinatorDir,
      listen: [LOOPBACK],
      enrolListen: [LOOPBACK],
      jobs: { dispatchIntervalMs: 100, schedulerIntervalMs: 60_000, maxCpu: 1, ...init.jobs },
    },
    { logger: init.logger },
  )
  const started: Array<{ stop(): Promise<void> }> = [coordinator]
  const stopAll = async (): Promise<void> => {
    for (const part of started.reverse()) await part.stop().catch(() => undefined)
  }
  try {
    const enrol = async (role: 'appliance' | 'connector', site: string, dataDir: string): Promise<Agent> => {
      const { token } = await issueEnrolmentToken(
        coordinator.store,
        { tenant: LAB_TENANT, site, role },
        Date.now(),
      )
      const agent = await startAgent(
        {
          dataDir,
          coordinator: coordinator.server.addresses()[0]!,
          enrolAddress: coordinator.server.enrolAddresses()[0]!,
          role,
          token,
          heartbeatIntervalMs: 1_000,
          ...(role === 'connector'
            ? { blockListen: [LOOPBACK] }
            : { replication: { volumeMapPath, scanWorkers: init.scanWorkers } }),
        },
        { logger: init.logger },
      )
      started.push(agent)
      return agent
    }
    const connector = await enrol('connector', LAB_TARGET_SITE, connectorDir)
    const appliance = await enrol('appliance', LAB_SOURCE_SITE, applianceDir)
    await waitUntil(
      () =>
        coordinator.server.blockAddressesOf(connector.node.peerId.toString()) !== undefined &&
        coordinator.server.loadOf(appliance.node.peerId.toString()) !== undefined,
      30_000,
      'the appliance and the connector to connect',
    )

    const vmIds = [...new Set(init.volumes.map((v) => v.vmId))]
    for (const vmId of vmIds) {
      await coordinator.store.createProtectedVm(
        LAB_TENANT,
        {
          id: vmId,
          name: vmId,
          siteId: LAB_SOURCE_SITE,
          volumes: init.volumes
            .filter((v) => v.vmId === vmId)
            .map((v) => ({ id: v.volumeId, size: v.size, blockSize: v.blockSize ?? 65_536 })),
        },
        now,
      )
    }
    const retention = init.retention ?? { count: 10, preservedTags: [] }
    const plan = (id: string, job: Parameters<Coordinator['store']['createPlan']>[1]['job']) =>
      coordinator.store.createPlan(
        LAB_TENANT,
        {
          id,
          name: id,
          groups: [{ vmIds }],
          schedule: { kind: 'interval', everyMs: FAR },
          job,
          retention,
          sourceSiteId: LAB_SOURCE_SITE,
          targetSiteId: LAB_TARGET_SITE,
          enabled: true,
        },
        now,
      )
    await plan('replicate', { type: 'replication-cycle' })
    await plan('check', { type: 'consistency-check' })
    await plan('prune', { type: 'maintenance', action: 'prune-recovery-points' })

    const timeoutMs = init.jobTimeoutMs ?? 600_000
    const runOne = async (planId: string, vmId?: string): Promise<Job> => {
      const runs = await coordinator.runPlanNow(
        LAB_TENANT,
        planId,
        vmId === undefined ? {} : { vmIds: [vmId] },
      )
      const run = runs[0]
      if (run === undefined || !run.outcome.enqueued) {
        throw new LifeboatError('DEMO_RUN_NOT_ENQUEUED', `plan ${planId} did not enqueue a job`, {
          remediation: 'A previous job of the plan may still be active; wait for it.',
        })
      }
      return waitForJob(coordinator, run.jobId, timeoutMs)
    }
    return {
      coordinator,
      appliance,
      connector,
      dir: init.dir,
      async replicate(vmId) {
        const job = await runOne('replicate', vmId)
        if (job.state !== 'succeeded') throw jobError(job)
        // The catalogue follows the succeeded event; wait for it so callers see the point.
        const named = pointsOfSummary(job.result).points.map((p) => p.pointId)
        await waitUntil(
          async () => {
            const ids = new Set(
              (await coordinator.store.listRecoveryPoints(LAB_TENANT, vmId)).map((p) => p.id),
            )
            return named.every((id) => ids.has(id))
          },
          10_000,
          'the recovery points to be catalogued',
        )
        return job
      },
      check: (vmId) => runOne('check', vmId),
      async prune() {
        const job = await runOne('prune')
        if (job.state !== 'succeeded') throw jobError(job)
        return job
      },
      points: (vmId, volumeId) => coordinator.store.listRecoveryPoints(LAB_TENANT, vmId, volumeId),
      async openStoreReader() {
        const masterKey = await readMasterKeyFile(join(connectorDir, 'master.key'))
        return openChunkStoreReader({ root: join(connectorDir, 'chunks'), masterKey })
      },
      stop: stopAll,
    }
  } catch (error) {
    await stopAll()
    throw error
  }
}

/** Waits until the job is succeeded or failed for good (no attempt left), or throws after `timeoutMs`. */
export async function waitForJob(coordinator: Coordinator, jobId: string, timeoutMs: number): Promise<Job> {
  let last: Job | undefined
  await waitUntil(
    async () => {
      last = await coordinator.store.getJob(LAB_TENANT, jobId)
      return (
        last !== undefined &&
        (last.state === 'succeeded' || last.state === 'failed' || last.state === 'cancelled')
      )
    },
    timeoutMs,
    `job ${jobId} to finish`,
  )
  return last!
}

function jobError(job: Job): LifeboatError {
  const error = job.error
  return new LifeboatError(
    error?.code ?? 'DEMO_JOB_FAILED',
    `job ${job.id} ${job.state}: ${error?.message ?? 'no reason recorded'}`,
    { remediation: error?.remediation ?? 'Read the job log.' },
  )
}

async function writeVolumeMap(path: string, volumes: LabVolume[]): Promise<void> {
  const map = {
    format: VOLUME_MAP_FORMAT,
    version: VOLUME_MAP_VERSION,
    volumes: Object.fromEntries(
      volumes.map((v) => [
        v.volumeId,
        { path: v.path, ...(v.changedExtents === undefined ? {} : { changedExtents: v.changedExtents }) },
      ]),
    ),
  }
  await writeFile(path, `${JSON.stringify(map, null, 2)}\n`, { mode: 0o600 })
}

async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) {
      throw new LifeboatError('DEMO_TIMEOUT', `gave up waiting for ${what} after ${timeoutMs} ms`, {
        remediation: 'Read the nodes’ log lines above for the reason; the machine may be overloaded.',
        retryable: true,
      })
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
