/**
 * The job link: the coordinator's side of every job stream (docs/PROTOCOL.md §4). `offer` is the
 * dispatcher's SendOffer: it opens `/lifeboat/control/1.0.0` to the node over the connection the
 * node keeps, exchanges HELLOs and writes the JOB_OFFER; it resolves once the offer is written and
 * rejects (COORD_JOB_OFFER_UNSENT) when it cannot be. The *conversation* that follows runs in the
 * background until the job's final update is acknowledged or the stream ends:
 *
 * - JOB_ACK accepted → acknowledgeJob (the lease starts), `acknowledged`; declined → the
 *   dispatcher's handBack (another node gets it);
 * - LEASE_RENEWAL → renewLease → LEASE_RENEWED, or an ERROR (JOB_LEASE_LOST) so the node stops;
 * - PROGRESS → the job's progress, latest wins by seq (progress-board.ts), and `running` on the
 *   first; LOG_ENTRY → the job's log;
 * - RESULT → completeJob (`succeeded`) or failJob (`retried`, or `failed` when final);
 * - JOB_HANDBACK → the dispatcher's handBack.
 * Every status update is answered with a STATUS_ACK of its `seq` once stored, or with an ERROR
 * naming it when the store refuses it (the node then drops it).
 *
 * The tenant of every store call is the node's, read from the store by the node id the stream was
 * opened to (an authenticated peer), never taken from a message.
 */
import {
  CONTROL_PROTOCOL_ID,
  CONTROL_PROTOCOL_VERSION,
  type ControlMessage,
  checkHello,
  type ErrorBody,
  type Hello,
  type JobAck,
  type JobHandback,
  type JobResult,
  type LeaseRenewal,
  type LogEntry,
  MessageType,
  type Progress,
  ProtocolError,
  ProtocolErrorCode,
  type StatusUpdate,
  toErrorBody,
} from '../../protocol/index.js'
import { ControlChannel } from '../../transport/message-channel.js'
import type { JobOfferBody, SendOffer } from '../dispatch/dispatch-ports.js'
import type { HandbackRequest } from '../dispatch/dispatcher.js'
import type { LifecycleEvents } from '../events/lifecycle-events.js'
import { type CoordinatorLogger, silentLogger } from '../events/logger.js'
import type { Clock } from '../scheduling/clock.js'
import type { MetadataStore } from '../store/metadata-store.js'
import { offerUnsent, wrongJob } from './errors.js'
import { createProgressBoard, type JobProgress } from './progress-board.js'

/** How long the node has to answer the job stream's HELLO before the offer counts as unsent. */
export const DEFAULT_JOB_HELLO_TIMEOUT_MS = 10_000
/** A running job's stream with no message for this many lease TTLs is closed (the lease lapsed). */
const SILENT_TTLS = 2

export type JobLinkStore = Pick<
  MetadataStore,
  'findNode' | 'acknowledgeJob' | 'renewLease' | 'completeJob' | 'failJob' | 'appendJobLog' | 'getJob'
>

export interface JobLinkInit {
  /** Default DEFAULT_JOB_HELLO_TIMEOUT_MS. */
  helloTimeoutMs?: number
  /** Half a frame then this long without a byte ends a job stream. Default 30 s. */
  frameIdleTimeoutMs?: number
  software?: string
  /** Jobs whose latest progress is kept (progress-board.ts). Default DEFAULT_MAX_PROGRESS_JOBS. */
  maxProgressJobs?: number
}

export interface JobLinkComponents {
  store: JobLinkStore
  /** Opens a stream to a connected node (the control server's openStreamTo). */
  openStreamTo(nodeId: string, protocol: string): Promise<import('@libp2p/interface').Stream>
  /** The coordinator's node id, for its HELLO. */
  peerId: string
  /** Returns a declined or handed-back job to the queue (the dispatcher's handBack). */
  handBack(request: HandbackRequest): Promise<boolean>
  clock: Clock
  events?: LifecycleEvents
  log?: CoordinatorLogger
}

/** What handleStatusReplay did with one STATUS_REPLAY. */
export interface StatusReplayOutcome {
  /** The highest seq dealt with (accepted, lost and logged, or refused as not applicable); 0 if none. */
  seq: number
  /** Why handling stopped before the end of the batch: a store failure worth a later retry. */
  error?: unknown
}

export interface JobLink {
  /** The dispatcher's SendOffer. */
  readonly offer: SendOffer
  /**
   * Applies a node's replayed status updates (STATUS_REPLAY on its session stream), in order, with
   * the same handling as a job stream, under each update's own lease (docs/RECONCILIATION.md).
   */
  handleStatusReplay(
    tenantId: string,
    nodeId: string,
    items: readonly StatusUpdate[],
  ): Promise<StatusReplayOutcome>
  /** The job's latest progress (latest wins by seq), while a node runs it; undefined otherwise. */
  progressOf(tenantId: string, jobId: string): JobProgress | undefined
  /** Conversations in progress. */
  readonly active: number
  /** Ends every conversation (the streams are reset) and waits for them. */
  stop(): Promise<void>
}

/** Refusals that mean the update came too late, not that it is wrong: logged on the job, acknowledged. */
const LOSING_CODES: ReadonlySet<string> = new Set(['JOB_LEASE_LOST', 'JOB_STATE_CONFLICT'])
/** Refusals after which the update can never apply: acknowledged so the node drops it. */
const FINAL_CODES: ReadonlySet<string> = new Set(['JOB_NOT_FOUND'])

export function createJobLink(init: JobLinkInit, components: JobLinkComponents): JobLink {
  const { store, clock, events } = components
  const log = components.log ?? silentLogger
  const helloTimeoutMs = init.helloTimeoutMs ?? DEFAULT_JOB_HELLO_TIMEOUT_MS
  const conversations = new Set<Promise<void>>()
  const progress = createProgressBoard({ maxJobs: init.maxProgressJobs })
  let stopping = new AbortController()

  const hello = (): Hello => ({
    t: MessageType.HELLO,
    protocol: { ...CONTROL_PROTOCOL_VERSION },
    nodeId: components.peerId,
    role: 'coordinator',
    software: init.software ?? 'lifeboat',
  })

  const offer: SendOffer = async (nodeId, body) => {
    const node = await store.findNode(nodeId)
    if (node === undefined) throw offerUnsent(nodeId, body.jobId, 'the node is not enrolled')
    let channel: ControlChannel
    try {
      const stream = await components.openStreamTo(nodeId, CONTROL_PROTOCOL_ID)
      channel = new ControlChannel(stream, { idleTimeoutMs: init.frameIdleTimeoutMs })
    } catch (error) {
      throw offerUnsent(nodeId, body.jobId, toErrorBody(error).message, error)
    }
    try {
      await channel.send(hello())
      const answer = await channel.receiveHello(AbortSignal.timeout(helloTimeoutMs))
      if (answer === undefined) throw new Error('the node closed the job stream without a HELLO')
      checkHello(answer, CONTROL_PROTOCOL_VERSION, { roles: ['appliance', 'connector'] })
      if (answer.nodeId !== nodeId) throw new Error(`the HELLO names node ${answer.nodeId}`)
      await channel.send({ t: MessageType.JOB_OFFER, rid: 1, ...body } as ControlMessage)
    } catch (error) {
      channel.abort(error)
      throw offerUnsent(nodeId, body.jobId, toErrorBody(error).message, error)
    }
    const talk = converse(channel, node.tenantId, nodeId, body)
      .catch((error) => {
        log.warn(
          { event: 'job-stream-failed', jobId: body.jobId, nodeId, code: toErrorBody(error).code },
          `job stream of ${body.jobId} on ${nodeId} ended: ${toErrorBody(error).message}`,
        )
        channel.abort(error)
      })
      .finally(() => conversations.delete(talk))
    conversations.add(talk)
  }

  const converse = async (
    channel: ControlChannel,
    tenantId: string,
    nodeId: string,
    body: JobOfferBody,
  ): Promise<void> => {
    const { jobId, leaseId } = body
    const base = { tenantId, jobId, nodeId, leaseId }
    let acknowledged = false
    let running = false
    // Before the ack the node has the ack deadline; afterwards, silence past the lease means the
    // lease lapsed and the sweeper took the job back.
    let silenceMs = body.ackDeadlineMs + 1_000
    for (;;) {
      const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(silenceMs)])
      let message: ControlMessage | undefined
      try {
        message = await channel.receive(signal)
      } catch (error) {
        if (signal.aborted) {
          channel.abort(error)
          return
        }
        throw error
      }
      if (message === undefined) {
        await channel.close()
        return
      }
      const now = clock.now()
      switch (message.t) {
        case MessageType.JOB_ACK: {
          const ack = message as JobAck
          if (ack.jobId !== jobId || ack.leaseId !== leaseId) {
            await channel.refuse(wrongJob(jobId, leaseId, ack))
            break
          }
          if (!ack.accepted) {
            await components.handBack({ ...base, reason: ack.reason!, declined: true })
            await channel.close()
            return
          }
          try {
            const job = await store.acknowledgeJob(tenantId, jobId, nodeId, leaseId, now)
            acknowledged = true
            silenceMs = SILENT_TTLS * (job.lease?.ttlMs ?? body.leaseTtlMs)
            events?.emit('acknowledged', { ...base, at: now })
          } catch (error) {
            // A late ack (the offer lapsed): the node must not start; it stops on this ERROR.
            await channel.sendError(error, { reType: MessageType.JOB_ACK, reId: ack.rid })
            await channel.close()
            return
          }
          break
        }
        case MessageType.LEASE_RENEWAL: {
          const renewal = message as LeaseRenewal
          if (renewal.jobId !== jobId || renewal.leaseId !== leaseId) {
            await channel.refuse(wrongJob(jobId, leaseId, renewal))
            break
          }
          try {
            const job = await store.renewLease(tenantId, jobId, leaseId, now)
            await channel.send({
              t: MessageType.LEASE_RENEWED,
              rid: renewal.rid,
              jobId,
              leaseId,
              leaseTtlMs: job.lease!.ttlMs,
            })
          } catch (error) {
            log.warn(
              { event: 'lease-renewal-refused', ...base, code: toErrorBody(error).code },
              `renewal of job ${jobId} by ${nodeId} refused: ${toErrorBody(error).message}`,
            )
            await channel.sendError(error, { reType: MessageType.LEASE_RENEWAL, reId: renewal.rid })
          }
          break
        }
        case MessageType.PROGRESS:
        case MessageType.LOG_ENTRY:
        case MessageType.RESULT:
        case MessageType.JOB_HANDBACK: {
          const update = message as Progress | LogEntry | JobResult | JobHandback
          if (update.jobId !== jobId || ('leaseId' in update && update.leaseId !== leaseId)) {
            await channel.sendError(wrongJob(jobId, leaseId, update), { reType: update.t, reId: update.seq })
            break
          }
          let final = false
          try {
            final = await storeUpdate(update, tenantId, nodeId, leaseId, now, false, () => {
              if (running || !acknowledged) return
              running = true
              events?.emit('running', { ...base, at: now })
            })
          } catch (error) {
            await channel.sendError(error, { reType: update.t, reId: update.seq })
            break
          }
          await channel.send({ t: MessageType.STATUS_ACK, seq: update.seq })
          if (final) {
            await channel.close()
            return
          }
          break
        }
        case MessageType.ERROR:
          log.warn(
            { event: 'job-stream-error', ...base, code: (message as ErrorBody).code },
            `node ${nodeId} reported on job ${jobId}: ${(message as ErrorBody).message}`,
          )
          break
        default:
          await channel.refuse(
            new ProtocolError(
              ProtocolErrorCode.UNEXPECTED_MESSAGE,
              `message type ${message.t} does not belong on a job stream`,
              {
                remediation: 'Send JOB_ACK, LEASE_RENEWAL and status updates on a job stream.',
                reType: message.t,
              },
            ),
          )
      }
    }
  }

  /**
   * Stores one status update; true when it ends the job's conversation. `replayed`: it came in a
   * STATUS_REPLAY, so a PROGRESS counts only if its node still holds the job.
   */
  const storeUpdate = async (
    update: Progress | LogEntry | JobResult | JobHandback,
    tenantId: string,
    nodeId: string,
    leaseId: string,
    now: number,
    replayed: boolean,
    onProgress: () => void,
  ): Promise<boolean> => {
    const base = { tenantId, jobId: update.jobId, nodeId, leaseId }
    switch (update.t) {
      case MessageType.PROGRESS: {
        if (replayed) {
          // A job the node no longer holds (finished, re-dispatched, gone) shows its holder's progress.
          const job = await store.getJob(tenantId, update.jobId)
          if (job === undefined || job.state !== 'running' || job.lease?.nodeId !== nodeId) return false
        }
        progress.record(tenantId, update.jobId, {
          nodeId,
          seq: update.seq,
          at: update.at,
          step: update.step,
          bytesDone: update.bytesDone,
          ...(update.bytesTotal === undefined ? {} : { bytesTotal: update.bytesTotal }),
          percent: update.percent,
          receivedAt: now,
        })
        onProgress()
        return false
      }
      case MessageType.LOG_ENTRY: {
        const entry = {
          at: update.at,
          level: update.level,
          step: update.step,
          message: update.message,
          // The node that ran the step is the one on the stream, whatever the entry claims.
          nodeId,
          nodeSeq: update.seq,
          ...(update.bytesDone === undefined ? {} : { bytesDone: update.bytesDone }),
          ...(update.error === undefined ? {} : { error: update.error }),
        }
        await store.appendJobLog(tenantId, update.jobId, entry)
        return false
      }
      case MessageType.RESULT: {
        if (update.ok) {
          await store.completeJob(tenantId, update.jobId, leaseId, now, update.summary)
          progress.forget(tenantId, update.jobId)
          events?.emit('succeeded', { ...base, summary: update.summary, at: now })
          return true
        }
        const job = await store.failJob(tenantId, update.jobId, leaseId, now, update.error!)
        progress.forget(tenantId, update.jobId)
        if (job.state === 'queued') {
          events?.emit('retried', { ...base, attempt: job.attempt, reason: update.error!, at: now })
        } else {
          events?.emit('failed', {
            ...base,
            attempt: job.attempt,
            error: update.error!,
            final: true,
            at: now,
          })
        }
        return true
      }
      default: {
        if (await components.handBack({ ...base, reason: update.reason }))
          progress.forget(tenantId, update.jobId)
        return true
      }
    }
  }

  const handleStatusReplay = async (
    tenantId: string,
    nodeId: string,
    items: readonly StatusUpdate[],
  ): Promise<StatusReplayOutcome> => {
    let handled = 0
    for (const item of items) {
      const now = clock.now()
      // PROGRESS and LOG_ENTRY carry no lease: they are stored by node and seq whatever lease held.
      const leaseId = 'leaseId' in item ? item.leaseId : ''
      try {
        await storeUpdate(item, tenantId, nodeId, leaseId, now, true, () => {})
      } catch (error) {
        const body = toErrorBody(error)
        if (
          LOSING_CODES.has(body.code) &&
          (item.t === MessageType.RESULT || item.t === MessageType.JOB_HANDBACK)
        ) {
          try {
            // The job keeps its current holder's outcome; the late one goes into the job's history.
            await store.appendJobLog(tenantId, item.jobId, {
              at: item.at,
              level: 'warn',
              step: 'reconcile',
              message: `late ${item.t === MessageType.RESULT ? 'result' : 'hand-back'} of lease ${leaseId} from node ${nodeId} ignored: ${body.message}`,
              nodeId,
              nodeSeq: item.seq,
              error: { ...body, retryable: false },
            })
          } catch (logError) {
            if (!FINAL_CODES.has(toErrorBody(logError).code)) return { seq: handled, error: logError }
          }
          log.info(
            { event: 'replay-lost', tenantId, jobId: item.jobId, nodeId, leaseId, code: body.code },
            `replayed update ${item.seq} of job ${item.jobId} from ${nodeId} lost: ${body.message}`,
          )
        } else if (!FINAL_CODES.has(body.code) && body.retryable) {
          // The store could not answer now: stop here, the node replays the rest later.
          return { seq: handled, error }
        } else {
          log.warn(
            { event: 'replay-refused', tenantId, jobId: item.jobId, nodeId, code: body.code },
            `replayed update ${item.seq} of job ${item.jobId} from ${nodeId} refused: ${body.message}`,
          )
        }
      }
      handled = item.seq
    }
    return { seq: handled }
  }

  const link: JobLink = {
    offer,
    handleStatusReplay,
    progressOf: (tenantId, jobId) => progress.get(tenantId, jobId),
    get active() {
      return conversations.size
    },
    async stop() {
      stopping.abort()
      await Promise.all(conversations)
      stopping = new AbortController()
    },
  }
  return link
}
