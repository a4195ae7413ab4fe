/**
 * The dispatcher's options, their defaults and their checks (docs/LIMITS.md "Scheduling and
 * dispatch"). Node selection's own rules (stale reports, caps, CPU band) are options of the
 * dispatcher too; their defaults live with the rules in node-selection.ts.
 */
import { MAX_ACK_DEADLINE_MS, MIN_ACK_DEADLINE_MS } from '../../protocol/limits.js'
import { checkDispatchOption } from './errors.js'
import { DEFAULT_SELECTION_RULES, type SelectionRules } from './node-selection.js'

/** How often a pass runs when nothing pokes it: lease expiry is checked this often. */
export const DEFAULT_DISPATCH_INTERVAL_MS = 1_000
export const MIN_DISPATCH_INTERVAL_MS = 10
export const MAX_DISPATCH_INTERVAL_MS = 60_000
/** JOB_OFFER `ackDeadlineMs`: the product's 60 s. */
export const DEFAULT_ACK_DEADLINE_MS = 60_000
/** Queued jobs looked at per pass; a full batch makes the next pass start at once. */
export const DEFAULT_DISPATCH_BATCH_SIZE = 256
export const MAX_DISPATCH_BATCH_SIZE = 10_000
/**
 * Offers in progress at once: the store change (queued → offered) and the JOB_OFFER send. A whole
 * batch by default: the store writes offers in flight together as one commit group, so a pass of
 * 256 offers costs one or two fsyncs, where 32 at a time cost eight in a row.
 */
export const DEFAULT_MAX_OFFERS_IN_FLIGHT = DEFAULT_DISPATCH_BATCH_SIZE
export const MAX_MAX_OFFERS_IN_FLIGHT = 1_024
/**
 * How long a job whose exclusions leave no node waits before an excluded node is tried again. Its
 * default follows the ack deadline (exclusionGraceFor); this is the value at the default deadline.
 */
export const DEFAULT_EXCLUSION_GRACE_MS = DEFAULT_ACK_DEADLINE_MS
export const MAX_EXCLUSION_GRACE_MS = 24 * 60 * 60 * 1000

/**
 * The default exclusion grace for an ack deadline: one more ack deadline. A node that let an offer
 * lapse is passed over for as long as it was given to answer, so a short deadline (a test, a LAN)
 * retries it soon and a long one does not hammer a node that is slow to answer.
 */
export function exclusionGraceFor(ackDeadlineMs: number): number {
  return Math.min(ackDeadlineMs, MAX_EXCLUSION_GRACE_MS)
}

export interface DispatcherInit {
  /** Default DEFAULT_DISPATCH_INTERVAL_MS. */
  intervalMs?: number
  /** Default DEFAULT_ACK_DEADLINE_MS, within the protocol's MIN_/MAX_ACK_DEADLINE_MS. */
  ackDeadlineMs?: number
  /** Default DEFAULT_DISPATCH_BATCH_SIZE. */
  batchSize?: number
  /** Default DEFAULT_MAX_OFFERS_IN_FLIGHT. */
  maxOffersInFlight?: number
  /** Default exclusionGraceFor(ackDeadlineMs): the ack deadline. */
  exclusionGraceMs?: number
  /** Node selection rules; defaults in node-selection.ts. */
  staleAfterIntervals?: number
  maxActiveJobs?: number
  maxCpu?: number
  cpuBand?: number
  /** Stops the dispatcher when aborted. */
  signal?: AbortSignal
}

export interface DispatcherOptions {
  intervalMs: number
  ackDeadlineMs: number
  batchSize: number
  maxOffersInFlight: number
  exclusionGraceMs: number
  rules: SelectionRules
}

/** Every option checked and defaulted; throws DISPATCH_INVALID_OPTION naming the option. */
export function dispatcherOptions(init: DispatcherInit): DispatcherOptions {
  const intervalMs = checkDispatchOption(
    'intervalMs',
    init.intervalMs ?? DEFAULT_DISPATCH_INTERVAL_MS,
    MIN_DISPATCH_INTERVAL_MS,
    MAX_DISPATCH_INTERVAL_MS,
  )
  const ackDeadlineMs = checkDispatchOption(
    'ackDeadlineMs',
    init.ackDeadlineMs ?? DEFAULT_ACK_DEADLINE_MS,
    MIN_ACK_DEADLINE_MS,
    MAX_ACK_DEADLINE_MS,
  )
  const batchSize = checkDispatchOption(
    'batchSize',
    init.batchSize ?? DEFAULT_DISPATCH_BATCH_SIZE,
    1,
    MAX_DISPATCH_BATCH_SIZE,
  )
  const maxOffersInFlight = checkDispatchOption(
    'maxOffersInFlight',
    init.maxOffersInFlight ?? DEFAULT_MAX_OFFERS_IN_FLIGHT,
    1,
    MAX_MAX_OFFERS_IN_FLIGHT,
  )
  const exclusionGraceMs = checkDispatchOption(
    'exclusionGraceMs',
    init.exclusionGraceMs ?? exclusionGraceFor(ackDeadlineMs),
    0,
    MAX_EXCLUSION_GRACE_MS,
  )
  const rules: SelectionRules = {
    staleAfterIntervals: checkDispatchOption(
      'staleAfterIntervals',
      init.staleAfterIntervals ?? DEFAULT_SELECTION_RULES.staleAfterIntervals,
      1,
      1_000,
    ),
    maxActiveJobs: checkDispatchOption(
      'maxActiveJobs',
      init.maxActiveJobs ?? DEFAULT_SELECTION_RULES.maxActiveJobs,
      1,
      10_000,
    ),
    maxCpu: checkDispatchOption('maxCpu', init.maxCpu ?? DEFAULT_SELECTION_RULES.maxCpu, 0, 1, false),
    cpuBand: checkDispatchOption('cpuBand', init.cpuBand ?? DEFAULT_SELECTION_RULES.cpuBand, 0.001, 1, false),
  }
  return { intervalMs, ackDeadlineMs, batchSize, maxOffersInFlight, exclusionGraceMs, rules }
}
