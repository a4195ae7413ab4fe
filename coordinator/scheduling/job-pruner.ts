/**
 * The job pruner: a periodic sweep that deletes finished jobs (succeeded, failed, cancelled) older
 * than the retention, with their log entries (docs/SCHEDULING.md "Pruning finished jobs").
 *
 * Words used here:
 * - The *retention* (`retentionMs`, 7 days by default): a finished job is kept this long after it
 *   finished, for people and the API to look at; then it goes. The *cutoff* of a pass is now −
 *   retention.
 * - A *lane* is one tenant's jobs in one final state, read in id order through the store's by-state
 *   index (listJobs). The pruner keeps its place in each lane (the last id looked at) and the lane it
 *   stopped in, so consecutive passes walk every lane in turn and no tenant waits behind a big one.
 *
 * A pass looks at no more than `maxScannedPerPass` finished jobs and deletes at most
 * `maxDeletedPerPass`, each with one store change (deleteFinishedJob: one atomic batch per job), so
 * a backlog is worked off over several passes without one long write burst. A pass that hits a bound
 * reports `more` and the next one starts at once. A failure is logged with its code; the pass stops
 * there and the next one retries.
 */
import { type ErrorBody, toErrorBody } from '../../protocol/errors.js'
import { type CoordinatorLogger, silentLogger } from '../events/logger.js'
import type { Job } from '../jobs/job.js'
import { FINISHED_STATES, isPrunable } from '../store/finished-job-records.js'
import type { MetadataStore } from '../store/metadata-store.js'
import { type Clock, systemClock } from './clock.js'
import { checkScheduleOption } from './errors.js'
import { createPeriodicPass } from './periodic-pass.js'

export const DAY_MS = 24 * 60 * 60 * 1000
/** How long a finished job is kept. */
export const DEFAULT_JOB_RETENTION_MS = 7 * DAY_MS
export const MIN_JOB_RETENTION_MS = 60_000
export const MAX_JOB_RETENTION_MS = 3_650 * DAY_MS
/** How often the sweep runs when it has caught up. */
export const DEFAULT_PRUNE_INTERVAL_MS = 10 * 60_000
export const MIN_PRUNE_INTERVAL_MS = 1_000
export const MAX_PRUNE_INTERVAL_MS = DAY_MS
export const DEFAULT_MAX_DELETED_PER_PASS = 100
export const DEFAULT_MAX_SCANNED_PER_PASS = 1_000
/** Jobs read per listJobs call. */
const PAGE = 100

export interface JobPrunerInit {
  /** Default DEFAULT_JOB_RETENTION_MS (7 days), 1 minute – 10 years. */
  retentionMs?: number
  /** Default DEFAULT_PRUNE_INTERVAL_MS (10 minutes). */
  intervalMs?: number
  /** Default 100, 1 – 10,000. */
  maxDeletedPerPass?: number
  /** Default 1,000, 1 – 100,000. */
  maxScannedPerPass?: number
  signal?: AbortSignal
}

export interface JobPrunerComponents {
  store: Pick<MetadataStore, 'listTenants' | 'listJobs' | 'deleteFinishedJob'>
  clock?: Clock
  log?: CoordinatorLogger
}

export interface PruneReport {
  at: number
  /** Finished jobs looked at. */
  scanned: number
  /** Jobs deleted (with their logs). */
  deleted: number
  /** A bound stopped the pass before every lane was walked: more may be prunable. */
  more: boolean
  error?: ErrorBody
}

export interface JobPruner {
  start(): void
  stop(): Promise<void>
  /** One pass at time `now`; never rejects. */
  prune(now: number): Promise<PruneReport>
  readonly retentionMs: number
}

export function createJobPruner(init: JobPrunerInit, components: JobPrunerComponents): JobPruner {
  const retentionMs = checkScheduleOption(
    'retentionMs',
    init.retentionMs ?? DEFAULT_JOB_RETENTION_MS,
    MIN_JOB_RETENTION_MS,
    MAX_JOB_RETENTION_MS,
  )
  const intervalMs = checkScheduleOption(
    'intervalMs',
    init.intervalMs ?? DEFAULT_PRUNE_INTERVAL_MS,
    MIN_PRUNE_INTERVAL_MS,
    MAX_PRUNE_INTERVAL_MS,
  )
  const maxDeleted = checkScheduleOption(
    'maxDeletedPerPass',
    init.maxDeletedPerPass ?? DEFAULT_MAX_DELETED_PER_PASS,
    1,
    10_000,
  )
  const maxScanned = checkScheduleOption(
    'maxScannedPerPass',
    init.maxScannedPerPass ?? DEFAULT_MAX_SCANNED_PER_PASS,
    1,
    100_000,
  )
  const { store } = components
  const clock = components.clock ?? systemClock
  const log = components.log ?? silentLogger
  /** The last job id looked at in each lane (`tenant/state`); absent: from the start. */
  const places = new Map<string, string>()
  /** The lane the last pass stopped in: the next pass starts there. */
  let resumeLane: string | undefined
  let inFlight: Promise<PruneReport> | undefined

  const pass = async (now: number): Promise<PruneReport> => {
    const report: PruneReport = { at: now, scanned: 0, deleted: 0, more: false }
    const cutoff = now - retentionMs
    try {
      const tenants = (await store.listTenants()).map((tenant) => tenant.id).sort()
      const lanes = tenants.flatMap((tenantId) => FINISHED_STATES.map((state) => ({ tenantId, state })))
      const keyOf = (lane: { tenantId: string; state: Job['state'] }): string =>
        `${lane.tenantId}/${lane.state}`
      const first = Math.max(
        0,
        lanes.findIndex((lane) => keyOf(lane) === resumeLane),
      )
      for (let n = 0; n < lanes.length; n++) {
        const lane = lanes[(first + n) % lanes.length]!
        const key = keyOf(lane)
        for (;;) {
          if (report.scanned >= maxScanned || report.deleted >= maxDeleted) {
            report.more = true
            resumeLane = key
            return report
          }
          const limit = Math.min(PAGE, maxScanned - report.scanned)
          const page = await store.listJobs(
            lane.tenantId,
            { state: lane.state },
            { after: places.get(key), limit },
          )
          for (const job of page) {
            if (report.deleted >= maxDeleted) break
            report.scanned++
            places.set(key, job.id)
            if (isPrunable(job, cutoff) && (await store.deleteFinishedJob(lane.tenantId, job.id, cutoff))) {
              report.deleted++
            }
          }
          if (page.length < limit && report.deleted < maxDeleted) {
            // The lane's end: the next walk of it starts from its beginning.
            places.delete(key)
            break
          }
        }
      }
      resumeLane = undefined
    } catch (error) {
      report.error = toErrorBody(error)
      log.error(
        { event: 'job-prune-failed', code: report.error.code },
        `pruning finished jobs failed: ${report.error.message}`,
      )
    }
    if (report.deleted > 0) {
      log.info(
        { event: 'jobs-pruned', deleted: report.deleted, scanned: report.scanned, more: report.more },
        `pruned ${report.deleted} finished jobs older than ${Math.round(retentionMs / 60_000)} minutes`,
      )
    }
    return report
  }

  const prune = (now: number): Promise<PruneReport> => {
    if (inFlight !== undefined) return inFlight
    const running = pass(now).finally(() => {
      inFlight = undefined
    })
    inFlight = running
    return running
  }

  const loop = createPeriodicPass(
    { intervalMs, signal: init.signal },
    async () => {
      const report = await prune(clock.now())
      // A backlog is worked off pass after pass, not one interval apart.
      if (report.more) loop.poke()
    },
    (error) => log.error({ event: 'job-prune-failed', code: toErrorBody(error).code }, 'a prune pass failed'),
  )

  return {
    start: () => loop.start(),
    stop: () => loop.stop(),
    prune,
    retentionMs,
  }
}
