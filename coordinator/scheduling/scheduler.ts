/**
 * The scheduler: every `intervalMs` (30 s by default) it looks at every enabled plan and enqueues a
 * job for each whose next due time has passed (docs/SCHEDULING.md "The scheduling model").
 *
 * For one plan, one pass:
 * 1. The runs due since the plan's last due time (or its anchor, if it never ran) are counted
 *    (schedule.ts missedRuns). None → nothing to do.
 * 2. ONE job (one per VM, for a plan of several VMs) is enqueued for the latest of them, however
 *    many there are: runs missed while the
 *    coordinator was down, or while the VM's previous cycle ran, *coalesce*; the job records how
 *    many it replaces (`coalesced`). Its id is scheduledJobId(plan, due time), so a second pass or
 *    a crash between enqueue and step 3 names the same job and the store refuses the duplicate.
 * 3. The due time is recorded (recordDue), which also clears an RPO flag.
 * If the store refuses because the plan's VM still has a cycle queued or running, nothing is
 * recorded (the run stays due and coalesces with later ones) and a replication plan is flagged
 * *RPO at risk* with its lag; the flag and its `rpo-at-risk` event change once, not every pass.
 * A maintenance plan whose previous job is still active is *held* instead: its run stays due and
 * coalesces the same way, and `run-held` is emitted once when the hold starts and once when a run
 * is enqueued again. The hold is remembered in memory (an RPO is stored; a hold is only a warning),
 * so after a restart a plan still held is announced once more.
 *
 * A pass never overlaps the previous one: an evaluate() while one runs returns at once, skipped.
 * A failure in one plan is logged with its code and the other plans carry on.
 */
import { type ErrorBody, toErrorBody } from '../../protocol/errors.js'
import type { LifecycleEvents } from '../events/lifecycle-events.js'
import { type CoordinatorLogger, silentLogger } from '../events/logger.js'
import { type Clock, systemClock } from './clock.js'
import { checkScheduleOption } from './errors.js'
import { createPeriodicPass } from './periodic-pass.js'
import { missedRuns, parseSchedule } from './schedule.js'
import {
  type ScheduledPlan,
  type SchedulerStore,
  type ScheduleState,
  scheduledJobId,
} from './scheduler-store.js'

/** How often plans are evaluated (the product's scheduling model: every 30 s). */
export const DEFAULT_SCHEDULER_INTERVAL_MS = 30_000
export const MIN_SCHEDULER_INTERVAL_MS = 1_000
export const MAX_SCHEDULER_INTERVAL_MS = 60 * 60_000
/** Plans evaluated at once within a pass: enough to hide store latency, few enough to be gentle. */
export const DEFAULT_PLAN_CONCURRENCY = 8
export const MAX_PLAN_CONCURRENCY = 256
/** Enqueues of one plan's VMs in flight at once (they share the store's commit groups). */
export const VM_ENQUEUE_CONCURRENCY = 32
/** The job type whose plans can be RPO at risk: an RPO is a replication notion. */
export const REPLICATION_JOB_TYPE = 'replication-cycle'

export interface SchedulerInit {
  /** Default DEFAULT_SCHEDULER_INTERVAL_MS, MIN_…–MAX_SCHEDULER_INTERVAL_MS. */
  intervalMs?: number
  /** Default DEFAULT_PLAN_CONCURRENCY, 1–MAX_PLAN_CONCURRENCY. */
  planConcurrency?: number
  /** Stops the scheduler when aborted. */
  signal?: AbortSignal
}

export interface SchedulerComponents {
  store: SchedulerStore
  clock?: Clock
  events?: LifecycleEvents
  log?: CoordinatorLogger
}

export interface EvaluationReport {
  /** A pass was already running: this one did nothing. */
  skipped: boolean
  at: number
  /** Enabled plans looked at. */
  plans: number
  /** Jobs enqueued. */
  enqueued: number
  /** Due runs those jobs replaced (sum of their `coalesced`). */
  coalesced: number
  /** Due runs whose job already existed: a pass interrupted between enqueue and recordDue, completed. */
  completed: number
  /** Plans due whose VM or plan still had a job active. */
  blocked: number
  rpoRaised: number
  rpoCleared: number
  /** Maintenance plans whose hold started / ended in this pass (`run-held`). */
  holdsRaised: number
  holdsCleared: number
  /** Plans whose evaluation failed (logged with the code). */
  failed: number
  /** Set when the pass could not list plans at all. */
  error?: ErrorBody
}

export interface Scheduler {
  start(): void
  stop(): Promise<void>
  /** One pass at time `now`. Resolves with what it did; never rejects. */
  evaluate(now: number): Promise<EvaluationReport>
  readonly started: boolean
}

export function createScheduler(init: SchedulerInit, components: SchedulerComponents): Scheduler {
  const intervalMs = checkScheduleOption(
    'intervalMs',
    init.intervalMs ?? DEFAULT_SCHEDULER_INTERVAL_MS,
    MIN_SCHEDULER_INTERVAL_MS,
    MAX_SCHEDULER_INTERVAL_MS,
  )
  const planConcurrency = checkScheduleOption(
    'planConcurrency',
    init.planConcurrency ?? DEFAULT_PLAN_CONCURRENCY,
    1,
    MAX_PLAN_CONCURRENCY,
  )
  const { store, events } = components
  const clock = components.clock ?? systemClock
  const log = components.log ?? silentLogger
  /** Plans whose last evaluation failed, with the code: a failure repeating every pass is logged once. */
  let failing = new Map<string, string>()
  /** Plans (`tenant/plan`) that are not replication plans and whose run is held back, by blocked due time. */
  const held = new Map<string, number>()
  let inFlight: Promise<EvaluationReport> | undefined

  const evaluatePlan = async (plan: ScheduledPlan, now: number, report: EvaluationReport): Promise<void> => {
    const schedule = parseSchedule(plan.schedule)
    const state: ScheduleState = (await store.getScheduleState(plan.tenantId, plan.planId)) ?? {}
    const runs = missedRuns(schedule, { lastDueAt: state.lastDueAt, anchorAt: plan.anchorAt }, now)
    if (runs === undefined) return
    const dueAt = runs.latestDueAt
    const coalesced = runs.count - 1
    // A plan of several VMs makes one job per VM: each VM has its own cycle, its own active-cycle
    // guard in the store and its own job id, so one busy VM never holds back the others.
    const targets: Array<string | undefined> =
      plan.vmIds !== undefined && plan.vmIds.length > 0 ? plan.vmIds : [plan.vmId]
    const perVm = plan.vmIds !== undefined && plan.vmIds.length > 0
    const jobIds = targets.map((vmId) =>
      perVm ? scheduledJobId(plan.planId, dueAt, vmId) : scheduledJobId(plan.planId, dueAt),
    )
    let blocked = false
    let gone = false
    let failure: { error: unknown } | undefined
    // The VMs' enqueues are in flight together (VM_ENQUEUE_CONCURRENCY at most), so the store writes
    // them in shared commit groups: a plan of 100 VMs is queued in a few fsyncs, not 100 in a row.
    await forEachLimited([...targets.keys()], VM_ENQUEUE_CONCURRENCY, async (n) => {
      const vmId = targets[n]
      const jobId = jobIds[n]
      if (gone || failure !== undefined) return
      let outcome: Awaited<ReturnType<SchedulerStore['enqueue']>>
      try {
        outcome = await store.enqueue({
          tenantId: plan.tenantId,
          planId: plan.planId,
          jobType: plan.jobType,
          vmId,
          jobId,
          dueAt,
          coalesced,
          enqueuedAt: now,
        })
      } catch (error) {
        // Like a failure of the serial loop: the first error ends the plan's pass once the enqueues
        // in flight have settled (none is left running behind the pass).
        failure ??= { error }
        return
      }
      const fields = { tenantId: plan.tenantId, planId: plan.planId, jobId, dueAt }
      if (outcome.enqueued) {
        // Announced as soon as the job is in the queue, before recordDue: the job exists whatever
        // happens next, and the dispatcher should not wait for the record to offer it.
        report.enqueued++
        report.coalesced += coalesced
        log.info({ event: 'job-scheduled', ...fields, coalesced }, `plan ${plan.planId}: job ${jobId} queued`)
        events?.emit('queued', {
          tenantId: plan.tenantId,
          jobId,
          jobType: plan.jobType,
          source: 'schedule',
          planId: plan.planId,
          vmId,
          dueAt,
          coalesced,
          at: now,
        })
      } else if (outcome.reason === 'duplicate') {
        // An earlier pass enqueued this job and stopped before recording it: record it now.
        report.completed++
        log.info(
          { event: 'schedule-completed', ...fields },
          `plan ${plan.planId}: job ${jobId} was already queued`,
        )
      } else if (outcome.reason === 'plan-gone') {
        gone = true
      } else {
        blocked = true
        log.debug({ event: 'schedule-blocked', ...fields }, `plan ${plan.planId}: previous job still active`)
      }
    })
    if (failure !== undefined) throw failure.error
    if (gone) return
    const jobId = jobIds[0]!
    const fields = { tenantId: plan.tenantId, planId: plan.planId, jobId, dueAt }
    const planKey = `${plan.tenantId}/${plan.planId}`
    if (!blocked) {
      if (held.delete(planKey)) {
        report.holdsCleared++
        log.info({ event: 'run-released', ...fields }, `plan ${plan.planId}: runs are enqueued again`)
        events?.emit('run-held', {
          tenantId: plan.tenantId,
          planId: plan.planId,
          jobType: plan.jobType,
          held: false,
          lastDueAt: state.lastDueAt,
          at: now,
        })
      }
      await store.recordDue({
        tenantId: plan.tenantId,
        planId: plan.planId,
        dueAt,
        jobId,
        coalesced,
        recordedAt: now,
      })
      if (state.rpoAtRisk !== undefined) {
        report.rpoCleared++
        const lagMs = now - (state.lastDueAt ?? plan.anchorAt)
        log.info({ event: 'rpo-restored', ...fields, lagMs }, `plan ${plan.planId}: no longer RPO at risk`)
        events?.emit('rpo-at-risk', {
          tenantId: plan.tenantId,
          planId: plan.planId,
          vmId: plan.vmId,
          atRisk: false,
          lagMs,
          lastDueAt: state.lastDueAt,
          at: now,
        })
      }
      return
    }
    // Some VM's previous job is still active: nothing is recorded, so the run stays due for it and
    // the next pass tries again (the VMs already enqueued answer `duplicate`).
    report.blocked++
    if (plan.jobType !== REPLICATION_JOB_TYPE) {
      if (held.has(planKey)) return
      held.set(planKey, dueAt)
      report.holdsRaised++
      log.warn(
        { event: 'run-held', ...fields, lastDueAt: state.lastDueAt },
        `plan ${plan.planId}: run due at ${new Date(dueAt).toISOString()} held back, the previous job is still active`,
      )
      events?.emit('run-held', {
        tenantId: plan.tenantId,
        planId: plan.planId,
        jobType: plan.jobType,
        held: true,
        blockedDueAt: dueAt,
        lastDueAt: state.lastDueAt,
        at: now,
      })
      return
    }
    if (state.rpoAtRisk !== undefined) return
    const lagMs = now - (state.lastDueAt ?? plan.anchorAt)
    await store.setRpoAtRisk(plan.tenantId, plan.planId, { since: now, blockedDueAt: dueAt })
    report.rpoRaised++
    log.warn(
      { event: 'rpo-at-risk', ...fields, lagMs },
      `plan ${plan.planId}: RPO at risk, the previous cycle is still active ${Math.round(lagMs / 1000)} s after its due time`,
    )
    events?.emit('rpo-at-risk', {
      tenantId: plan.tenantId,
      planId: plan.planId,
      vmId: plan.vmId,
      atRisk: true,
      lagMs,
      lastDueAt: state.lastDueAt,
      blockedDueAt: dueAt,
      at: now,
    })
  }

  const pass = async (now: number): Promise<EvaluationReport> => {
    const report = emptyReport(now)
    let plans: ScheduledPlan[]
    try {
      plans = await store.listEnabledPlans(now)
    } catch (error) {
      report.error = toErrorBody(error)
      log.error(
        { event: 'schedule-list-failed', code: report.error.code },
        `cannot list plans: ${report.error.message}`,
      )
      return report
    }
    report.plans = plans.length
    const stillFailing = new Map<string, string>()
    await forEachLimited(plans, planConcurrency, async (plan) => {
      const key = `${plan.tenantId}/${plan.planId}`
      try {
        await evaluatePlan(plan, now, report)
      } catch (error) {
        report.failed++
        const body = toErrorBody(error)
        stillFailing.set(key, body.code)
        const level = failing.get(key) === body.code ? 'debug' : 'error'
        log[level](
          { event: 'plan-evaluation-failed', tenantId: plan.tenantId, planId: plan.planId, code: body.code },
          `plan ${plan.planId}: ${body.message}`,
        )
      }
    })
    failing = stillFailing
    return report
  }

  const evaluate = (now: number): Promise<EvaluationReport> => {
    if (inFlight !== undefined) {
      log.warn(
        { event: 'schedule-pass-skipped' },
        'the previous scheduler pass is still running: this one is skipped',
      )
      return Promise.resolve({ ...emptyReport(now), skipped: true })
    }
    const running = pass(now).finally(() => {
      inFlight = undefined
    })
    inFlight = running
    return running
  }

  const loop = createPeriodicPass(
    { intervalMs, signal: init.signal },
    () => evaluate(clock.now()),
    (error) =>
      log.error({ event: 'schedule-pass-failed', code: toErrorBody(error).code }, 'a scheduler pass failed'),
  )

  return {
    start: () => loop.start(),
    stop: () => loop.stop(),
    evaluate,
    get started() {
      return loop.started
    },
  }
}

function emptyReport(at: number): EvaluationReport {
  return {
    skipped: false,
    at,
    plans: 0,
    enqueued: 0,
    coalesced: 0,
    completed: 0,
    blocked: 0,
    rpoRaised: 0,
    rpoCleared: 0,
    holdsRaised: 0,
    holdsCleared: 0,
    failed: 0,
  }
}

/** Runs `task` over `items` with at most `limit` at once; `task` must not reject. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]
      await task(item)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}
