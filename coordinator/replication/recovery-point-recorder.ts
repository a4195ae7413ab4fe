/**
 * Keeps the recovery-point catalogue in step with what connectors hold:
 *
 * - a succeeded `replication-cycle` names, in its RESULT summary, the point each volume's commit
 *   made (protocol/replication-summary.ts): each is added to the catalogue;
 * - a succeeded `prune` maintenance job deleted the points its payload named on the connector: each
 *   is removed from the catalogue.
 *
 * Both are idempotent, so the recorder follows the `succeeded` event live and, at start, *repairs*
 * what a coordinator killed between a job's completion and its catalogue write left undone: it goes
 * over the succeeded jobs still in the store (finished jobs are kept for days before they are
 * pruned) and applies each again, cycles before prunes, never re-adding a point a succeeded prune
 * named (not even for a moment: it would be announced, and offered as a base, although the
 * connector deleted it). A point whose VM or volume no longer exists is skipped and logged.
 */
import { pointsOfSummary } from '../../protocol/index.js'
import type { LifecycleEvents } from '../events/lifecycle-events.js'
import type { Job } from '../jobs/job.js'
import { MAX_JOB_PAGE_SIZE } from '../jobs/job-defaults.js'
import type { MetadataStore } from '../store/metadata-store.js'

export type RecorderStore = Pick<
  MetadataStore,
  'getJob' | 'listJobs' | 'listTenants' | 'addRecoveryPoint' | 'getRecoveryPoint' | 'deleteRecoveryPoint'
>

export interface RecorderLog {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
}

export interface RecoveryPointRecorder {
  /** Applies one succeeded job to the catalogue; returns the point ids added or removed. */
  applyJob(job: Job): Promise<string[]>
  /** Applies every succeeded job in the store again (start-up repair); returns how many changed. */
  repair(): Promise<number>
  /** Resolves when every event-driven write started so far has finished (tests, shutdown). */
  idle(): Promise<void>
  stop(): void
}

export function createRecoveryPointRecorder(components: {
  store: RecorderStore
  events: LifecycleEvents
  log?: RecorderLog
}): RecoveryPointRecorder {
  const { store, events } = components
  const log: RecorderLog = components.log ?? { info: () => undefined, warn: () => undefined }
  let pending: Promise<unknown> = Promise.resolve()

  /** `skip`: point ids a succeeded prune removed (repair): never catalogued again. */
  const record = async (job: Job, skip: ReadonlySet<string> = new Set()): Promise<string[]> => {
    const { points, invalid } = pointsOfSummary(job.result)
    if (invalid.length > 0) {
      log.warn(
        { event: 'recovery-point-summary-invalid', jobId: job.id, keys: invalid },
        'a replication summary names points that do not parse; they are not catalogued',
      )
    }
    const added: string[] = []
    for (const point of points) {
      if (skip.has(point.pointId)) continue
      if ((await store.getRecoveryPoint(job.tenantId, point.pointId)) !== undefined) continue
      try {
        await store.addRecoveryPoint(job.tenantId, {
          id: point.pointId,
          vmId: job.vmId!,
          volumeId: point.volumeId,
          createdAt: job.finishedAt ?? job.updatedAt,
          blockMapDigest: point.mapDigest,
          size: point.volumeSize,
        })
        added.push(point.pointId)
      } catch (error) {
        log.warn(
          { event: 'recovery-point-not-catalogued', jobId: job.id, pointId: point.pointId, err: error },
          `recovery point ${point.pointId} was not catalogued: ${(error as Error).message}`,
        )
      }
    }
    return added
  }

  const forget = async (job: Job): Promise<string[]> => {
    const removed: string[] = []
    for (const pointId of prunePoints(job)) {
      if (await store.deleteRecoveryPoint(job.tenantId, pointId)) removed.push(pointId)
    }
    return removed
  }

  const applyJob = async (job: Job, pruned?: ReadonlySet<string>): Promise<string[]> => {
    if (job.state !== 'succeeded') return []
    if (job.type === 'replication-cycle' && job.vmId !== undefined) {
      const added = await record(job, pruned)
      if (added.length > 0) {
        events.emit('recovery-points', {
          tenantId: job.tenantId,
          jobId: job.id,
          change: 'recorded',
          pointIds: added,
          at: job.finishedAt ?? job.updatedAt,
        })
      }
      return added
    }
    if (isPrune(job)) {
      const removed = await forget(job)
      if (removed.length > 0) {
        events.emit('recovery-points', {
          tenantId: job.tenantId,
          jobId: job.id,
          change: 'pruned',
          pointIds: removed,
          at: job.finishedAt ?? job.updatedAt,
        })
      }
      return removed
    }
    return []
  }

  const unsubscribe = events.on('succeeded', (event) => {
    const run = pending.then(async () => {
      const job = await store.getJob(event.tenantId, event.jobId)
      if (job !== undefined) await applyJob(job)
    })
    pending = run.catch((error: unknown) =>
      log.warn(
        { event: 'recovery-point-record-failed', jobId: event.jobId, err: error },
        `the catalogue was not updated for job ${event.jobId}: ${(error as Error).message}`,
      ),
    )
  })

  /** Calls `fn` with each succeeded job of the tenant, a page at a time. */
  const forEachSucceeded = async (tenantId: string, fn: (job: Job) => Promise<void>): Promise<void> => {
    let after: string | undefined
    for (;;) {
      const page = await store.listJobs(tenantId, { state: 'succeeded' }, { after, limit: MAX_JOB_PAGE_SIZE })
      for (const job of page) await fn(job)
      if (page.length < MAX_JOB_PAGE_SIZE) break
      after = page.at(-1)!.id
    }
  }

  return {
    applyJob: (job) => applyJob(job),
    async repair() {
      // A point a prune removed must not come back from the cycle that made it (finished jobs are
      // pruned oldest first, so that cycle never outlives the prune): the points succeeded prunes
      // named are collected first and skipped when the cycles are applied; then the prunes are
      // applied again, for points a coordinator stopped before forgetting.
      let changed = 0
      const pruned = new Map<string, Set<string>>()
      for (const tenant of await store.listTenants()) {
        const named = new Set<string>()
        await forEachSucceeded(tenant.id, async (job) => {
          if (isPrune(job)) for (const pointId of prunePoints(job)) named.add(pointId)
        })
        pruned.set(tenant.id, named)
      }
      for (const pass of ['replication-cycle', 'maintenance'] as const) {
        for (const tenant of await store.listTenants()) {
          await forEachSucceeded(tenant.id, async (job) => {
            if (job.type === pass) changed += (await applyJob(job, pruned.get(tenant.id))).length
          })
        }
      }
      if (changed > 0)
        log.info({ event: 'recovery-points-repaired', changed }, 'catalogue repaired from finished jobs')
      return changed
    },
    idle: () => pending.then(() => undefined),
    stop: () => unsubscribe(),
  }
}

function isPrune(job: Job): boolean {
  return job.type === 'maintenance' && (job.payload as { task?: string }).task === 'prune'
}

/** The point ids a prune job's payload names. */
function prunePoints(job: Job): string[] {
  const points = (job.payload as { points?: unknown }).points
  return Array.isArray(points) ? points.filter((p): p is string => typeof p === 'string') : []
}
