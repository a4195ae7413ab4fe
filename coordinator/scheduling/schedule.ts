/**
 * A plan's *schedule*: when its jobs are due. Two kinds (docs/SCHEDULING.md "Schedules"):
 *
 * - `interval` — every `everyMs` milliseconds, for replication, whose RPO is an interval. Due times
 *   are *anchored*: each is the previous due time plus `everyMs`, never "when the scheduler last
 *   looked plus `everyMs`", so evaluating late (every 30 s, a slow pass, a restart) never drifts the
 *   timetable.
 * - `cron` — a five-field cron expression read in an IANA time zone, for maintenance at a time of
 *   day. Due times are croner's runs in that zone, which handles daylight-saving changes the way
 *   Vixie cron does for a fixed time (no wildcard or step in minute and hour): a time skipped by the
 *   spring-forward jump runs once, right after the jump; a time repeated by the fall-back runs once,
 *   at its first occurrence. An hourly job keeps running every hour of absolute time.
 *
 * A *due time* is an instant (milliseconds since the epoch) at which a run should start. `nextDue`
 * is the first due time strictly after a given one; `dueRunsBetween` counts the due times in
 * (after, until] so that the scheduler can coalesce runs missed while it was down into one.
 */
import { Cron, type CronOptions } from 'croner'
import { invalidSchedule } from './errors.js'

/** Shortest interval: a replication cycle more often than this is noise against the 30 s pass. */
export const MIN_INTERVAL_MS = 10_000
/** Longest interval: 31 days, the longest gap a monthly maintenance plan written as an interval needs. */
export const MAX_INTERVAL_MS = 31 * 24 * 60 * 60 * 1000
/** Longest cron expression accepted, in characters. */
export const MAX_CRON_EXPRESSION_LENGTH = 256
/**
 * Cron runs counted one by one when coalescing. Each croner step costs ~80 µs, so a coordinator
 * that was down for a month with a per-minute schedule would otherwise spend seconds on one plan;
 * past this many the count is reported as capped and the latest run is found directly.
 */
export const MAX_COUNTED_CRON_RUNS = 1_000
/** Compiled cron expressions kept for reuse; the cache is emptied when it reaches this size. */
export const CRON_CACHE_SIZE = 1_024

export interface IntervalSchedule {
  kind: 'interval'
  everyMs: number
}

export interface CronSchedule {
  kind: 'cron'
  /** Five fields: minute hour day-of-month month day-of-week, or a nickname such as `@daily`. */
  expression: string
  /** An IANA time zone, canonical spelling (`Europe/Berlin`, `UTC`). */
  timeZone: string
}

export type Schedule = IntervalSchedule | CronSchedule

export interface DueRuns {
  /** Due times in the range (a lower bound when `countCapped`). */
  count: number
  /** The latest of them: the due time a coalesced job stands for. */
  latestDueAt: number
  /** More than MAX_COUNTED_CRON_RUNS cron runs were in the range: `count` is that cap. */
  countCapped: boolean
}

const INTERVAL_REMEDIATION =
  `Give everyMs in milliseconds from ${MIN_INTERVAL_MS} (10 s) to ${MAX_INTERVAL_MS} (31 days); ` +
  'for a fixed time of day use a cron schedule.'
const EXPRESSION_REMEDIATION =
  "Write five fields (minute hour day-of-month month day-of-week), such as '30 2 * * *' for 02:30 every " +
  "day or '0 3 * * SUN' for 03:00 on Sundays, or a nickname such as '@daily'. Seconds and years are not supported."
const ZONE_REMEDIATION = "Give an IANA time zone name such as 'Europe/Berlin', 'America/New_York' or 'UTC'."

/** Checks an untrusted schedule (from the API or the store) and returns it in canonical form. */
export function parseSchedule(input: unknown): Schedule {
  if (typeof input !== 'object' || input === null) {
    throw invalidSchedule(
      'a schedule must be an object',
      "Give { kind: 'interval', everyMs } or { kind: 'cron', expression, timeZone }.",
    )
  }
  const value = input as Record<string, unknown>
  if (value.kind === 'interval') {
    const everyMs = value.everyMs
    if (
      typeof everyMs !== 'number' ||
      !Number.isSafeInteger(everyMs) ||
      everyMs < MIN_INTERVAL_MS ||
      everyMs > MAX_INTERVAL_MS
    ) {
      throw invalidSchedule(
        `interval schedule: everyMs must be an integer from ${MIN_INTERVAL_MS} to ${MAX_INTERVAL_MS}, got ${String(everyMs)}`,
        INTERVAL_REMEDIATION,
      )
    }
    return { kind: 'interval', everyMs }
  }
  if (value.kind === 'cron') {
    const timeZone = canonicalTimeZone(value.timeZone)
    const expression = checkExpression(value.expression, timeZone)
    return { kind: 'cron', expression, timeZone }
  }
  throw invalidSchedule(
    `a schedule's kind must be 'interval' or 'cron', got ${JSON.stringify(value.kind) ?? 'nothing'}`,
    "Use kind 'interval' (with everyMs) for replication, or 'cron' (with expression and timeZone) for a time of day.",
  )
}

/** The first due time strictly after `after`; undefined when a cron schedule has no further run. */
export function nextDue(schedule: Schedule, after: number): number | undefined {
  if (schedule.kind === 'interval') return after + schedule.everyMs
  return cronNext(compiled(schedule), after)
}

/**
 * The first due time of a plan that has never run, counted from `anchorAt` (when it was enabled):
 * an interval plan runs at once (a newly protected VM needs its first copy now, not one RPO later);
 * a cron plan at its first run after the anchor.
 */
export function firstDue(schedule: Schedule, anchorAt: number): number | undefined {
  if (schedule.kind === 'interval') return anchorAt
  return cronNext(compiled(schedule), anchorAt)
}

/** The due times in (after, until]: how many, and the latest; undefined when there is none. */
export function dueRunsBetween(schedule: Schedule, after: number, until: number): DueRuns | undefined {
  if (until <= after) return undefined
  if (schedule.kind === 'interval') {
    // Anchored arithmetic: the runs are after + k·everyMs, however late we look.
    const count = Math.floor((until - after) / schedule.everyMs)
    if (count === 0) return undefined
    return { count, latestDueAt: after + count * schedule.everyMs, countCapped: false }
  }
  const cron = compiled(schedule)
  let count = 0
  let latest: number | undefined
  let next = cronNext(cron, after)
  while (next !== undefined && next <= until) {
    if (count === MAX_COUNTED_CRON_RUNS) {
      // Too many to step through: croner finds the last run at or before `until` directly.
      const last = cron.previousRuns(1, new Date(until + 1))[0]
      const lastAt = last === undefined ? latest : Math.max(last.getTime(), latest ?? 0)
      return { count, latestDueAt: lastAt as number, countCapped: true }
    }
    count++
    latest = next
    next = cronNext(cron, next)
  }
  return latest === undefined ? undefined : { count, latestDueAt: latest, countCapped: false }
}

/**
 * The runs due by `now` that a plan has not had: those after its last due time, or, for a plan that
 * never ran, from its first due time (firstDue) on. Undefined when nothing is due.
 */
export function missedRuns(
  schedule: Schedule,
  position: { lastDueAt?: number; anchorAt: number },
  now: number,
): DueRuns | undefined {
  if (position.lastDueAt !== undefined) return dueRunsBetween(schedule, position.lastDueAt, now)
  if (schedule.kind === 'interval') {
    // The anchor itself is the first run, so count from one interval before it.
    return dueRunsBetween(schedule, position.anchorAt - schedule.everyMs, now)
  }
  return dueRunsBetween(schedule, position.anchorAt, now)
}

function canonicalTimeZone(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 64) {
    throw invalidSchedule('cron schedule: timeZone must be an IANA time zone name', ZONE_REMEDIATION)
  }
  try {
    // Intl knows the same tz database croner converts with, and spells the zone canonically.
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone
  } catch (cause) {
    throw invalidSchedule(
      `cron schedule: unknown time zone ${JSON.stringify(value)}`,
      ZONE_REMEDIATION,
      cause,
    )
  }
}

function checkExpression(value: unknown, timeZone: string): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > MAX_CRON_EXPRESSION_LENGTH) {
    throw invalidSchedule(
      `cron schedule: expression must be a string of 1 to ${MAX_CRON_EXPRESSION_LENGTH} characters`,
      EXPRESSION_REMEDIATION,
    )
  }
  const expression = value.trim().replace(/\s+/g, ' ')
  let cron: Cron
  try {
    cron = new Cron(expression, cronOptions(timeZone))
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message.replace(/^CronPattern: /, '') : String(cause)
    throw invalidSchedule(
      `cron schedule: invalid expression ${JSON.stringify(expression)}: ${reason}`,
      EXPRESSION_REMEDIATION,
      cause,
    )
  }
  if (cron.getOnce() !== null) {
    throw invalidSchedule(
      `cron schedule: ${JSON.stringify(expression)} is a date, not a cron expression`,
      `${EXPRESSION_REMEDIATION} A one-off job is started by hand, not by a plan.`,
    )
  }
  // Five fields repeat at least every 28 years, so a pattern with no run after 2000 never runs
  // (30 February, 31 April).
  if (cron.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) {
    throw invalidSchedule(
      `cron schedule: ${JSON.stringify(expression)} never matches a date`,
      EXPRESSION_REMEDIATION,
    )
  }
  return expression
}

/**
 * Five fields only (no seconds, no years). `no-wildcard`: a job whose minute and hour fields hold no
 * wildcard or step — single values, lists, ranges — is a fixed-time job for DST (once in the gap,
 * once when repeated), as in Vixie cron; croner's default would make `30 2,14 * * *` run twice on a
 * fall-back day. `paused` and no callback: croner starts no timer, the object only computes times.
 */
function cronOptions(timeZone: string): CronOptions {
  return { timezone: timeZone, mode: '5-part', fixedTimeRule: 'no-wildcard', paused: true }
}

const cronCache = new Map<string, Cron>()

function compiled(schedule: CronSchedule): Cron {
  const key = `${schedule.timeZone}\n${schedule.expression}`
  let cron = cronCache.get(key)
  if (cron === undefined) {
    if (cronCache.size >= CRON_CACHE_SIZE) cronCache.clear()
    cron = new Cron(schedule.expression, cronOptions(schedule.timeZone))
    cronCache.set(key, cron)
  }
  return cron
}

function cronNext(cron: Cron, after: number): number | undefined {
  return cron.nextRun(new Date(after))?.getTime()
}
