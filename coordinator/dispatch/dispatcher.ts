/**
 * The dispatcher: gives queued jobs to nodes (docs/SCHEDULING.md "Dispatch rules"). Every
 * `intervalMs`, and at once when a job is queued, one pass:
 *
 * 1. expires leases (the queue port): offers not acknowledged within the ack deadline (60 s) go
 *    back to the queue for another node, running jobs whose lease was not renewed are retried;
 * 2. takes up to `batchSize` queued jobs in queue order, skipping those whose `notBefore` is ahead;
 * 3. for each, in queue order, selects a node by load (node-selection.ts) and counts the offer
 *    against the node at once (offer-ledger.ts) so the next job of a burst sees it; then, without
 *    waiting, has the queue move the job to offered under a new lease and sends the JOB_OFFER
 *    through `offer` — at most `maxOffersInFlight` offers (store change and send) at once. The
 *    offers of a pass are in flight together so the store writes their changes in shared commit
 *    groups (one fsync for many) instead of one after another. An offer the queue refuses (taken
 *    meanwhile, or an error) is forgotten by the ledger; a send that fails returns the job to the
 *    queue (its node excluded);
 * 4. records each job's *dispatch latency* — ready (queued and past notBefore) → offer sent — in a
 *    histogram for the benchmark.
 *
 * A job whose exclusions leave no node waits `exclusionGraceMs` in the queue and is then offered to
 * an excluded node after all: a site with one appliance must not stall because that appliance once
 * missed an ack. Passes never overlap; a failure in one job's offer never stops the pass.
 */
import type { ErrorBody } from '../../protocol/errors.js'
import { toErrorBody } from '../../protocol/errors.js'
import type { LifecycleEvents } from '../events/lifecycle-events.js'
import { type CoordinatorLogger, silentLogger } from '../events/logger.js'
import { type Clock, systemClock } from '../scheduling/clock.js'
import { createPeriodicPass } from '../scheduling/periodic-pass.js'
import type {
  DispatchNode,
  DispatchNodeView,
  DispatchQueuePort,
  ExpiredLease,
  JobOfferBody,
  QueuedJob,
  SendOffer,
} from './dispatch-ports.js'
import { type DispatcherInit, dispatcherOptions } from './dispatcher-options.js'
import { ackTimeoutError, DispatchError, DispatchErrorCode, leaseExpiredError } from './errors.js'
import { LatencyHistogram, type LatencySnapshot } from './latency-histogram.js'
import { exclusionsRemovedAny, type NodeSelection, selectNode } from './node-selection.js'
import { OfferLedger } from './offer-ledger.js'

export * from './dispatcher-options.js'

export interface DispatcherComponents {
  queue: DispatchQueuePort
  nodes: DispatchNodeView
  offer: SendOffer
  clock?: Clock
  events?: LifecycleEvents
  log?: CoordinatorLogger
}

export interface DispatchReport {
  /** A pass was already running: this one did nothing. */
  skipped: boolean
  at: number
  /** Leases the queue expired this pass. */
  expired: number
  /** Offers sent. */
  offered: number
  /** Offers whose send failed (the job went back to the queue). */
  offerFailed: number
  /** Jobs that stay queued because no node is eligible. */
  waiting: number
  /** Jobs that were no longer queued when offered (taken meanwhile). */
  raced: number
  /** Queue or node-view calls that failed (logged with their code). */
  errors: number
}

export interface HandbackRequest {
  tenantId: string
  nodeId: string
  jobId: string
  leaseId: string
  reason: ErrorBody
  /** A JOB_ACK with `accepted: false` rather than a JOB_HANDBACK. */
  declined?: boolean
}

export interface Dispatcher {
  start(): void
  stop(): Promise<void>
  /** One pass at time `now`. Resolves with what it did; never rejects. */
  dispatch(now: number): Promise<DispatchReport>
  /** Asks for a pass as soon as possible (started dispatchers only). */
  poke(): void
  /** A node handed a job back (JOB_HANDBACK) or declined it: back to the queue for another node. */
  handBack(request: HandbackRequest): Promise<boolean>
  /** Dispatch latency so far: ready → offer sent. */
  latency(): LatencySnapshot
  readonly started: boolean
}

export function createDispatcher(init: DispatcherInit, components: DispatcherComponents): Dispatcher {
  const { intervalMs, ackDeadlineMs, batchSize, maxOffersInFlight, exclusionGraceMs, rules } =
    dispatcherOptions(init)
  const { queue, nodes: nodeView, offer, events } = components
  const clock = components.clock ?? systemClock
  const log = components.log ?? silentLogger
  const ledger = new OfferLedger()
  const histogram = new LatencyHistogram()
  /** Why each waiting job waits, so the reason is logged when it changes, not every pass. */
  let waitingReasons = new Map<string, string>()
  let inFlight: Promise<DispatchReport> | undefined
  let unsubscribe: (() => void) | undefined

  const expire = async (now: number, report: DispatchReport): Promise<void> => {
    let expired: ExpiredLease[]
    try {
      expired = await queue.expireLeases(now)
    } catch (error) {
      report.errors++
      const body = toErrorBody(error)
      log.error({ event: 'lease-expiry-failed', code: body.code }, `cannot expire leases: ${body.message}`)
      return
    }
    for (const lease of expired) {
      report.expired++
      ledger.forget(lease.nodeId, lease.jobId)
      const reason = (
        lease.kind === 'ack-deadline'
          ? ackTimeoutError(lease.nodeId, lease.jobId, ackDeadlineMs)
          : leaseExpiredError(lease.nodeId, lease.jobId, lease.requeued)
      ).toBody()
      log.warn(
        {
          event: 'lease-expired',
          tenantId: lease.tenantId,
          jobId: lease.jobId,
          nodeId: lease.nodeId,
          code: reason.code,
        },
        reason.message,
      )
      const base = {
        tenantId: lease.tenantId,
        jobId: lease.jobId,
        nodeId: lease.nodeId,
        attempt: lease.attempt,
        at: now,
      }
      if (lease.requeued) events?.emit('retried', { ...base, reason })
      else events?.emit('failed', { ...base, error: reason, final: true })
    }
  }

  const send = async (
    job: QueuedJob,
    nodeId: string,
    body: JobOfferBody,
    report: DispatchReport,
  ): Promise<void> => {
    const fields = { tenantId: job.tenantId, jobId: job.jobId, nodeId, leaseId: body.leaseId }
    try {
      await offer(nodeId, body)
    } catch (cause) {
      report.offerFailed++
      ledger.forget(nodeId, job.jobId)
      const error = new DispatchError(
        DispatchErrorCode.OFFER_FAILED,
        `could not send the offer of job ${job.jobId} to node ${nodeId}: ${toErrorBody(cause).message}`,
        { remediation: 'Nothing: the job went back to the queue for another node.', retryable: true, cause },
      )
      log.warn(
        { event: 'offer-failed', ...fields, code: error.code, cause: toErrorBody(cause).code },
        error.message,
      )
      await giveBack(job.tenantId, nodeId, job.jobId, body.leaseId, 'offer-failed', error.toBody())
      return
    }
    const sentAt = clock.now()
    const latencyMs = sentAt - Math.max(job.queuedAt, job.notBefore ?? job.queuedAt)
    histogram.record(latencyMs)
    report.offered++
    log.debug(
      { event: 'job-offered', ...fields, attempt: body.attempt, latencyMs },
      `job ${job.jobId} offered to ${nodeId}`,
    )
    events?.emit('offered', { ...fields, attempt: body.attempt, latencyMs, at: sentAt })
  }

  /** Moves the job to offered and sends the offer; never rejects (its failures are in the report). */
  const offerAndSend = async (
    job: QueuedJob,
    nodeId: string,
    now: number,
    report: DispatchReport,
  ): Promise<void> => {
    let body: JobOfferBody | undefined
    try {
      body = await queue.offerJob({ tenantId: job.tenantId, jobId: job.jobId, nodeId, ackDeadlineMs, now })
    } catch (error) {
      ledger.forget(nodeId, job.jobId)
      report.errors++
      const failure = toErrorBody(error)
      log.error(
        { event: 'dispatch-failed', tenantId: job.tenantId, jobId: job.jobId, code: failure.code },
        `cannot dispatch job ${job.jobId}: ${failure.message}`,
      )
      return
    }
    if (body === undefined) {
      ledger.forget(nodeId, job.jobId)
      report.raced++
      return
    }
    await send(job, nodeId, body, report)
  }

  const giveBack = async (
    tenantId: string,
    nodeId: string,
    jobId: string,
    leaseId: string,
    cause: 'offer-failed' | 'handback' | 'declined',
    reason: ErrorBody,
  ): Promise<boolean> => {
    const now = clock.now()
    let requeued: QueuedJob | undefined
    try {
      requeued = await queue.returnToQueue({ tenantId, jobId, leaseId, nodeId, cause, reason, now })
    } catch (error) {
      const body = toErrorBody(error)
      log.error(
        { event: 'requeue-failed', tenantId, jobId, nodeId, code: body.code },
        `cannot requeue job ${jobId}: ${body.message}`,
      )
      return false
    }
    if (requeued === undefined) return false
    events?.emit('queued', {
      tenantId,
      jobId,
      jobType: requeued.jobType,
      source: cause === 'declined' ? 'handback' : cause,
      at: now,
    })
    return true
  }

  const waiting = (
    job: QueuedJob,
    selection: Extract<NodeSelection, { ok: false }>,
    seen: Map<string, string>,
  ): void => {
    const key = `${job.tenantId}/${job.jobId}`
    const reason = selection.error.message
    seen.set(key, reason)
    if (waitingReasons.get(key) === reason) return
    log.info(
      { event: 'job-waiting', tenantId: job.tenantId, jobId: job.jobId, code: selection.error.code },
      `job ${job.jobId} waits: ${reason}`,
    )
  }

  const pass = async (now: number): Promise<DispatchReport> => {
    const report = emptyReport(now)
    await expire(now, report)
    ledger.forgetOlderThan(now - ackDeadlineMs)
    let jobs: QueuedJob[]
    try {
      jobs = await queue.nextQueuedJobs(now, batchSize)
    } catch (error) {
      report.errors++
      const body = toErrorBody(error)
      log.error({ event: 'queue-read-failed', code: body.code }, `cannot read the queue: ${body.message}`)
      return report
    }
    const siteNodes = new Map<string, DispatchNode[]>()
    const seenWaiting = new Map<string, string>()
    const offers = new Set<Promise<void>>()
    for (const job of jobs.slice(0, batchSize)) {
      if (job.notBefore !== undefined && job.notBefore > now) continue
      try {
        const nodes = await nodesOf(job, siteNodes)
        let selection = selectNode(job, nodes, ledger, rules, now)
        if (
          !selection.ok &&
          exclusionsRemovedAny(selection.removed) &&
          now - job.queuedAt >= exclusionGraceMs
        ) {
          selection = selectNode(job, nodes, ledger, rules, now, { ignoreExclusions: true })
        }
        if (!selection.ok) {
          report.waiting++
          waiting(job, selection, seenWaiting)
          continue
        }
        const nodeId = selection.node.nodeId
        // Counted before the offer so the next job of this pass already sees the node as busier.
        ledger.record(nodeId, job.jobId, now)
        const offering = offerAndSend(job, nodeId, now, report).finally(() => offers.delete(offering))
        offers.add(offering)
        if (offers.size >= maxOffersInFlight) await Promise.race(offers)
      } catch (error) {
        report.errors++
        const body = toErrorBody(error)
        log.error(
          { event: 'dispatch-failed', tenantId: job.tenantId, jobId: job.jobId, code: body.code },
          `cannot dispatch job ${job.jobId}: ${body.message}`,
        )
      }
    }
    await Promise.all(offers)
    waitingReasons = seenWaiting
    // A full batch may have more behind it.
    if (jobs.length >= batchSize && report.offered > 0) loop.poke()
    return report
  }

  const nodesOf = async (job: QueuedJob, cache: Map<string, DispatchNode[]>): Promise<DispatchNode[]> => {
    const key = `${job.tenantId}\n${job.siteId}`
    let nodes = cache.get(key)
    if (nodes === undefined) {
      nodes = await nodeView.nodesOfSite(job.tenantId, job.siteId)
      for (const node of nodes)
        if (node.load !== undefined) ledger.settleReported(node.nodeId, node.load.receivedAt)
      cache.set(key, nodes)
    }
    return nodes
  }

  const dispatch = (now: number): Promise<DispatchReport> => {
    if (inFlight !== undefined) return Promise.resolve({ ...emptyReport(now), skipped: true })
    const running = pass(now).finally(() => {
      inFlight = undefined
    })
    inFlight = running
    return running
  }

  const loop = createPeriodicPass(
    { intervalMs, signal: init.signal },
    () => dispatch(clock.now()),
    (error) =>
      log.error({ event: 'dispatch-pass-failed', code: toErrorBody(error).code }, 'a dispatch pass failed'),
  )

  return {
    start() {
      if (loop.started) return
      // A job queued by someone else is dispatched now, not at the next tick. The dispatcher's own
      // offer-failed returns wait for the tick, so a broken link cannot spin the loop.
      unsubscribe = events?.on('queued', (e) => {
        if (e.source !== 'offer-failed') loop.poke()
      })
      loop.start()
    },
    async stop() {
      unsubscribe?.()
      unsubscribe = undefined
      await loop.stop()
    },
    dispatch,
    poke: () => loop.poke(),
    async handBack(request) {
      ledger.forget(request.nodeId, request.jobId)
      const cause = request.declined === true ? 'declined' : 'handback'
      const ok = await giveBack(
        request.tenantId,
        request.nodeId,
        request.jobId,
        request.leaseId,
        cause,
        request.reason,
      )
      log.info(
        {
          event: 'job-handback',
          tenantId: request.tenantId,
          jobId: request.jobId,
          nodeId: request.nodeId,
          requeued: ok,
          code: request.reason.code,
        },
        `node ${request.nodeId} ${cause === 'declined' ? 'declined' : 'handed back'} job ${request.jobId}: ${request.reason.message}`,
      )
      return ok
    },
    latency: () => histogram.snapshot(),
    get started() {
      return loop.started
    },
  }
}

function emptyReport(at: number): DispatchReport {
  return { skipped: false, at, expired: 0, offered: 0, offerFailed: 0, waiting: 0, raced: 0, errors: 0 }
}
