/**
 * The job runner: the agent's side of the job streams the coordinator opens (docs/PROTOCOL.md §4).
 * For each JOB_OFFER it accepts when it has an *executor* for the job type and room (fewer than
 * `maxJobs` active), and declines otherwise with a coded reason (AGENT_JOB_TYPE_UNSUPPORTED,
 * AGENT_JOB_OVERLOADED). An accepted job runs its executor; meanwhile the runner renews the lease
 * at half its TTL and streams PROGRESS and LOG_ENTRY, and ends with RESULT.
 *
 * Words used here:
 * - An *executor* is the code that does one job type's work: `fn(job, ctx)` resolving to a result
 *   summary, or throwing a coded error (its `retryable` decides whether the coordinator retries).
 *   None ship yet: replication cycles, checks and maintenance come with their own executors.
 * - A *lost lease*: the coordinator refused a renewal (JOB_LEASE_LOST), so the job was given back
 *   and a successor may hold a higher fencing token. The executor's signal is aborted with
 *   AGENT_JOB_LEASE_LOST, and no RESULT is sent: it would be refused anyway.
 *
 * - A *hand-back* gives an accepted job back to the coordinator (JOB_HANDBACK), which re-offers it at
 *   once, without counting a failed attempt: when the agent stops (AGENT_JOB_SHUTTING_DOWN, every
 *   running job), and when load sharing finds this node overloaded while a site peer has room
 *   (AGENT_JOB_REBALANCED, one job not yet *started*, load-sharing.ts). The executor's signal is
 *   aborted with that reason; its outcome is not reported.
 * - A job has *started* once its executor reported PROGRESS: before that it has moved no data, and
 *   giving it to another node wastes little.
 *
 * Status updates go to the node's status queue first (agent/status-queue/), which numbers them
 * with `seq` and keeps them on disk, then on the job stream while it is up; a STATUS_ACK there
 * acknowledges them in the queue. When the job stream is gone (the connection dropped) the executor
 * keeps running and its updates stay queued: the session replays them after the reconnect
 * (`onUndelivered` tells the agent there is something to replay).
 */
import type { Connection, Stream } from '@libp2p/interface'
import {
  CONTROL_PROTOCOL_ID,
  CONTROL_PROTOCOL_VERSION,
  type ControlMessage,
  checkHello,
  type ErrorMessage,
  type JobOffer,
  type JobType,
  type LogLevel,
  MessageType,
  RemoteError,
  type StatusUpdate,
  toErrorBody,
} from '../../protocol/index.js'
import { ControlChannel } from '../../transport/message-channel.js'
import type { ControlClient } from '../control/control-client.js'
import { TypedEventBus } from '../control/events.js'
import { type AgentLogger, silentLogger } from '../control/logger.js'
import {
  droppedNotice,
  MAX_PENDING_LIMIT,
  type StatusQueue,
  type StatusUpdateInput,
} from '../status-queue/index.js'
import { AgentJobError, AgentJobErrorCode, overloaded, shuttingDown, typeUnsupported } from './errors.js'

/** Jobs an agent runs at once unless told otherwise. */
export const DEFAULT_MAX_JOBS = 4
/** How long the runner waits for the JOB_OFFER after the HELLOs. */
export const OFFER_WAIT_MS = 30_000
/** PROGRESS updates of one job are sent at most this often (docs/PROTOCOL.md §4: latest wins). */
export const PROGRESS_INTERVAL_MS = 1_000
/** How long the runner waits for the STATUS_ACK of its RESULT before closing anyway. */
export const FINAL_ACK_WAIT_MS = 10_000
/** How long a stopping runner waits for the STATUS_ACK of a hand-back (it stays queued if none comes). */
export const HANDBACK_ACK_WAIT_MS = 5_000
/** The reasons that hand a job back (JOB_HANDBACK) instead of dropping it silently. */
const HANDBACK_CODES: ReadonlySet<string> = new Set([
  AgentJobErrorCode.SHUTTING_DOWN,
  AgentJobErrorCode.REBALANCED,
])

export type JobSummary = Record<string, string | number | boolean>

export interface JobContext {
  /** Aborted when the lease is lost or the runner stops; the reason is an AgentJobError. */
  readonly signal: AbortSignal
  progress(step: string, bytesDone: number, percent: number, bytesTotal?: number): void
  log(level: LogLevel, step: string, message: string, extra?: { bytesDone?: number; error?: unknown }): void
}

export type JobExecutor = (job: JobOffer, ctx: JobContext) => Promise<JobSummary | undefined>

export interface JobRunnerEventMap {
  'job-accepted': { jobId: string; leaseId: string }
  'job-declined': { jobId: string; code: string }
  'lease-renewed': { jobId: string; leaseId: string }
  'lease-lost': { jobId: string; leaseId: string }
  'job-finished': { jobId: string; leaseId: string; ok: boolean; code?: string }
  /** A JOB_HANDBACK was queued (and sent while the job stream is up), with its reason code. */
  'job-handed-back': { jobId: string; leaseId: string; code: string }
}

/** A job accepted and not finished, as load sharing sees it. */
export interface RunningJob {
  jobId: string
  leaseId: string
  jobType: string
  acceptedAt: number
  /** The executor reported PROGRESS: the job has started moving data. */
  started: boolean
}

export interface JobRunnerInit {
  role: 'appliance' | 'connector'
  site?: string
  /** Default DEFAULT_MAX_JOBS. */
  maxJobs?: number
  software?: string
  frameIdleTimeoutMs?: number
}

export interface JobRunnerComponents {
  client: Pick<ControlClient, 'handle' | 'unhandle'>
  /** This node's id (its peer id). */
  nodeId: string
  /** The node's status queue (open): every update is kept there until the coordinator acknowledges it. */
  queue: StatusQueue
  /** Told when an update could not go on its job stream: it waits in the queue for a replay. */
  onUndelivered?: () => void
  logger?: AgentLogger
  now?: () => number
}

export class JobRunner {
  readonly events = new TypedEventBus<JobRunnerEventMap>()
  #maxJobs: number
  readonly #init: JobRunnerInit
  readonly #components: JobRunnerComponents
  readonly #log: AgentLogger
  readonly #now: () => number
  readonly #executors = new Map<string, JobExecutor>()
  readonly #running = new Map<string, { controller: AbortController; job: RunningJob }>()
  readonly #streams = new Set<Promise<void>>()
  /** Updates queued by this runner (or found queued at start) and not yet acknowledged. */
  readonly #unacked = new Set<number>()
  #highestSettled = 0
  #started = false

  constructor(init: JobRunnerInit, components: JobRunnerComponents) {
    this.#init = init
    this.#components = components
    this.#log = components.logger ?? silentLogger
    this.#now = components.now ?? Date.now
    this.#maxJobs = init.maxJobs ?? DEFAULT_MAX_JOBS
  }

  /** Jobs accepted and not finished: the heartbeat's `activeJobs`. */
  get activeJobs(): number {
    return this.#running.size
  }

  /** Jobs this node takes at once: the heartbeat's `maxJobs`; offers beyond it are declined. */
  get maxJobs(): number {
    return this.#maxJobs
  }

  /**
   * Changes the job limit while the agent runs (an operator making room on a busy host). Jobs
   * already running go on; with more running than the new limit the node is overloaded, and load
   * sharing hands back a job not yet started when a site peer has room.
   */
  setMaxJobs(maxJobs: number): void {
    if (!Number.isSafeInteger(maxJobs) || maxJobs < 0)
      throw new RangeError('maxJobs must be a whole number ≥ 0')
    this.#maxJobs = maxJobs
  }

  /** The jobs accepted and not finished, oldest first. */
  runningJobs(): RunningJob[] {
    return [...this.#running.values()].map(({ job }) => ({ ...job }))
  }

  /**
   * Hands a running job back to the coordinator (JOB_HANDBACK with `reason`, whose code must be
   * AGENT_JOB_SHUTTING_DOWN or AGENT_JOB_REBALANCED): its executor is aborted and the coordinator
   * re-offers it at once. False when the job is not running here (or already stopping).
   */
  handBack(jobId: string, reason: AgentJobError): boolean {
    const entry = this.#running.get(jobId)
    if (entry === undefined || entry.controller.signal.aborted) return false
    if (!HANDBACK_CODES.has(reason.code)) throw new RangeError(`${reason.code} does not hand a job back`)
    entry.controller.abort(reason)
    return true
  }

  registerExecutor(type: JobType, executor: JobExecutor): void {
    this.#executors.set(type, executor)
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    // Updates left from an earlier run of the agent are open until a replay acknowledges them.
    for (const update of await this.#components.queue.pending(MAX_PENDING_LIMIT))
      this.#unacked.add(update.seq)
    await this.#components.client.handle(CONTROL_PROTOCOL_ID, (stream, connection) => {
      const serving = this.#serve(stream, connection).finally(() => this.#streams.delete(serving))
      this.#streams.add(serving)
      return serving
    })
  }

  /**
   * Stops taking offers and hands every running job back (JOB_HANDBACK, AGENT_JOB_SHUTTING_DOWN):
   * the coordinator re-offers them at once instead of waiting for their leases to lapse. Resolves
   * once each hand-back is acknowledged (at most HANDBACK_ACK_WAIT_MS after its executor returned);
   * one that could not be delivered stays in the status queue and is replayed on the next start.
   */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    await this.#components.client.unhandle(CONTROL_PROTOCOL_ID).catch(() => undefined)
    for (const { controller } of this.#running.values()) controller.abort(shuttingDown())
    await Promise.all(this.#streams)
  }

  async #serve(stream: Stream, _connection: Connection): Promise<void> {
    const channel = new ControlChannel(stream, { idleTimeoutMs: this.#init.frameIdleTimeoutMs })
    const hello = await channel.receiveHello(AbortSignal.timeout(OFFER_WAIT_MS))
    if (hello === undefined) return
    try {
      checkHello(hello, CONTROL_PROTOCOL_VERSION, { roles: ['coordinator'] })
    } catch (error) {
      await channel.fail(error)
      return
    }
    await channel.send({
      t: MessageType.HELLO,
      protocol: { ...CONTROL_PROTOCOL_VERSION },
      nodeId: this.#components.nodeId,
      role: this.#init.role,
      ...(this.#init.site === undefined ? {} : { site: this.#init.site }),
      software: this.#init.software ?? 'lifeboat',
    })
    const first = await channel.receive(AbortSignal.timeout(OFFER_WAIT_MS))
    if (first === undefined || first.t !== MessageType.JOB_OFFER) {
      await channel.close()
      return
    }
    const offer = first as JobOffer
    const executor = this.#executors.get(offer.jobType)
    const refusal =
      executor === undefined
        ? typeUnsupported(offer.jobType)
        : this.#running.size >= this.maxJobs
          ? overloaded(this.#running.size, this.maxJobs)
          : undefined
    const ackBase = { t: MessageType.JOB_ACK, rid: offer.rid, jobId: offer.jobId, leaseId: offer.leaseId }
    if (refusal !== undefined) {
      await channel.send({ ...ackBase, accepted: false, reason: refusal.toBody() } as ControlMessage)
      this.events.emit('job-declined', { jobId: offer.jobId, code: refusal.code })
      await channel.close()
      return
    }
    const controller = new AbortController()
    const job: RunningJob = {
      jobId: offer.jobId,
      leaseId: offer.leaseId,
      jobType: offer.jobType,
      acceptedAt: this.#now(),
      started: false,
    }
    this.#running.set(offer.jobId, { controller, job })
    try {
      await channel.send({ ...ackBase, accepted: true } as ControlMessage)
      this.events.emit('job-accepted', { jobId: offer.jobId, leaseId: offer.leaseId })
      await this.#run(channel, offer, executor!, controller, job)
    } finally {
      this.#running.delete(offer.jobId)
    }
  }

  async #run(
    channel: ControlChannel,
    offer: JobOffer,
    executor: JobExecutor,
    controller: AbortController,
    job: RunningJob,
  ): Promise<void> {
    const { jobId, leaseId } = offer
    const nodeId = this.#components.nodeId
    const queue = this.#components.queue
    let rid = 1
    let resultSeq = -1
    // The job stream is unusable (the connection or the stream ended): updates stay queued for the replay.
    let gone = false
    // Updates sent on this stream and not yet acknowledged on it.
    const sent = new Set<number>()
    let finalAcked: (() => void) | undefined
    const finalAck = new Promise<void>((resolve) => {
      finalAcked = resolve
    })
    const loseLease = (): void => {
      if (controller.signal.aborted) return
      this.events.emit('lease-lost', { jobId, leaseId })
      controller.abort(
        new AgentJobError(AgentJobErrorCode.LEASE_LOST, `the lease on job ${jobId} was lost`, {
          remediation: 'Nothing: the coordinator gave the job back to the queue; its successor is fenced in.',
        }),
      )
    }
    const streamGone = (): void => {
      if (gone) return
      gone = true
      // What was sent here and not acknowledged is still queued: the session replays it.
      if (sent.size > 0) this.#undelivered()
    }

    // Every update goes to the queue first (which numbers it), then on the stream while it is up;
    // the chain keeps the stream in seq order.
    let outbox: Promise<unknown> = Promise.resolve()
    const emit = (input: StatusUpdateInput): Promise<StatusUpdate | undefined> => {
      const appended = queue.append(input)
      const step = outbox.then(async () => {
        let update: StatusUpdate
        let dropped: number
        try {
          ;({ update, dropped } = await appended)
        } catch (error) {
          this.#log.warn(
            { event: 'status-queue-failed', jobId, err: error },
            'could not queue a status update',
          )
          return undefined
        }
        this.#unacked.add(update.seq)
        if (dropped > 0) {
          const count = queue.takeDropped()
          if (count > 0)
            void emit({ t: MessageType.LOG_ENTRY, at: this.#now(), jobId, nodeId, ...droppedNotice(count) })
        }
        if (gone) {
          this.#undelivered()
          return update
        }
        sent.add(update.seq)
        try {
          await channel.send(update)
        } catch (error) {
          this.#log.info(
            { event: 'job-stream-gone', jobId, err: error },
            'job stream gone: updates stay queued',
          )
          streamGone()
          this.#undelivered()
        }
        return update
      })
      outbox = step
      return step
    }
    const acknowledged = (seqs: number[]): void => {
      for (const seq of seqs) sent.delete(seq)
      this.#settle(seqs)
    }

    // The reader: answers from the coordinator on this stream.
    const reading = (async () => {
      for (;;) {
        let message: ControlMessage | undefined
        try {
          message = await channel.receive()
        } catch {
          // The connection is gone, not the lease: the job goes on and reports through the queue.
          streamGone()
          finalAcked!()
          return
        }
        if (message === undefined) {
          streamGone()
          finalAcked!()
          return
        }
        if (message.t === MessageType.LEASE_RENEWED) {
          this.events.emit('lease-renewed', { jobId, leaseId })
        } else if (message.t === MessageType.STATUS_ACK) {
          const upto = message.seq
          acknowledged([...sent].filter((seq) => seq <= upto))
          if (resultSeq > 0 && upto >= resultSeq) finalAcked!()
        } else if (message.t === MessageType.ERROR) {
          const error = new RemoteError(message as ErrorMessage)
          if (error.code === 'JOB_LEASE_LOST' || error.reType === MessageType.LEASE_RENEWAL) loseLease()
          // An ERROR answering an update tells the node to drop it (docs/PROTOCOL.md §4).
          if (
            error.reId !== undefined &&
            error.reType !== MessageType.LEASE_RENEWAL &&
            sent.has(error.reId)
          ) {
            acknowledged([error.reId])
          }
          if (resultSeq > 0 && error.reId === resultSeq) finalAcked!()
        }
      }
    })()

    // A hand-back goes out as soon as it is decided, not when the executor gets round to stopping.
    let handback: Promise<StatusUpdate | undefined> | undefined
    let handbackCode: string | undefined
    const onAbort = (): void => {
      const reason = controller.signal.reason as { code?: unknown } | undefined
      if (typeof reason?.code !== 'string' || !HANDBACK_CODES.has(reason.code)) return
      handbackCode = reason.code
      handback = emit({
        t: MessageType.JOB_HANDBACK,
        at: this.#now(),
        jobId,
        leaseId,
        reason: toErrorBody(reason),
      })
      this.events.emit('job-handed-back', { jobId, leaseId, code: reason.code })
    }
    controller.signal.addEventListener('abort', onAbort, { once: true })

    // The lease is renewed at half its TTL, so one late renewal still leaves half a TTL.
    const renewal = setInterval(
      () => {
        if (gone) return
        channel
          .send({
            t: MessageType.LEASE_RENEWAL,
            rid: rid++,
            jobId,
            leaseId,
            fencingToken: offer.fencingToken,
          })
          .catch(() => streamGone())
      },
      Math.floor(offer.leaseTtlMs / 2),
    )

    // PROGRESS is latest-wins: at most one per PROGRESS_INTERVAL_MS per job (the first of a new
    // step and a 100 % always go), so a scan reporting every 4 MiB does not write and send hundreds.
    let lastProgress = { at: Number.NEGATIVE_INFINITY, step: '' }
    const ctx: JobContext = {
      signal: controller.signal,
      progress: (step, bytesDone, percent, bytesTotal) => {
        job.started = true
        const at = this.#now()
        if (step === lastProgress.step && percent < 100 && at - lastProgress.at < PROGRESS_INTERVAL_MS) return
        lastProgress = { at, step }
        void emit({
          t: MessageType.PROGRESS,
          at: this.#now(),
          jobId,
          step,
          bytesDone,
          percent,
          ...(bytesTotal === undefined ? {} : { bytesTotal }),
        })
      },
      log: (level, step, message, extra = {}) => {
        void emit({
          t: MessageType.LOG_ENTRY,
          at: this.#now(),
          jobId,
          nodeId,
          step,
          level,
          message,
          ...(extra.bytesDone === undefined ? {} : { bytesDone: extra.bytesDone }),
          ...(extra.error === undefined ? {} : { error: toErrorBody(extra.error) }),
        })
      },
    }

    let outcome: { ok: true; summary?: JobSummary } | { ok: false; error: ReturnType<typeof toErrorBody> }
    try {
      const summary = await executor(offer, ctx)
      outcome = { ok: true, ...(summary === undefined ? {} : { summary }) }
    } catch (error) {
      const body = toErrorBody(error)
      outcome = {
        ok: false,
        error:
          body.code === 'INTERNAL'
            ? new AgentJobError(AgentJobErrorCode.EXECUTOR_FAILED, body.message, {
                remediation: 'Read the job log on the node for the failure; the job is not retried.',
              }).toBody()
            : body,
      }
    } finally {
      clearInterval(renewal)
    }

    controller.signal.removeEventListener('abort', onAbort)
    if (controller.signal.aborted) {
      // A lost lease: no RESULT — the coordinator already took the job back. A hand-back: its
      // JOB_HANDBACK is the final update; wait (bounded) for its STATUS_ACK before closing.
      const update = handback === undefined ? undefined : await handback
      if (update !== undefined) {
        resultSeq = update.seq
        if (!gone && sent.has(resultSeq)) {
          await Promise.race([
            finalAck,
            new Promise((resolve) => setTimeout(resolve, HANDBACK_ACK_WAIT_MS).unref()),
          ])
        }
      }
      this.events.emit('job-finished', {
        jobId,
        leaseId,
        ok: false,
        code: handbackCode ?? AgentJobErrorCode.LEASE_LOST,
      })
      await outbox
      if (gone) channel.abort(new Error('the job stream is gone'))
      else await channel.close()
      await reading
      return
    }
    const result = await emit({ t: MessageType.RESULT, at: this.#now(), jobId, leaseId, ...outcome })
    if (result !== undefined) {
      resultSeq = result.seq
      // Acknowledged already, or queued for the replay: no point waiting on this stream.
      if (!gone && sent.has(resultSeq)) {
        await Promise.race([
          finalAck,
          new Promise((resolve) => setTimeout(resolve, FINAL_ACK_WAIT_MS).unref()),
        ])
      }
    }
    this.events.emit('job-finished', {
      jobId,
      leaseId,
      ok: outcome.ok,
      ...(outcome.ok ? {} : { code: outcome.error.code }),
    })
    if (gone) channel.abort(new Error('the job stream is gone'))
    else await channel.close()
    await reading
  }

  /** Some update is queued and not delivered: the session should replay. */
  #undelivered(): void {
    this.#components.onUndelivered?.()
  }

  /** Seqs acknowledged (or dropped) on a job stream: the queue forgets everything below the oldest still open. */
  #settle(seqs: readonly number[]): void {
    for (const seq of seqs) {
      this.#unacked.delete(seq)
      if (seq > this.#highestSettled) this.#highestSettled = seq
    }
    // An acknowledgement on one job stream covers only its own updates: another job's older update,
    // stranded by a lost stream, must stay queued for the replay.
    let floor = this.#highestSettled
    for (const seq of this.#unacked) if (seq - 1 < floor) floor = seq - 1
    if (floor > this.#components.queue.stats().acknowledgedSeq) {
      this.#components.queue.acknowledge(floor).catch((error: unknown) => {
        this.#log.warn({ event: 'status-queue-failed', err: error }, 'could not acknowledge the status queue')
      })
    }
  }

  /** The queue as the replayer sees it: its acknowledgements settle this runner's open updates too. */
  get replayQueue(): StatusQueue {
    const queue = this.#components.queue
    return {
      location: queue.location,
      open: () => queue.open(),
      close: () => queue.close(),
      append: (update) => queue.append(update),
      pending: (limit) => queue.pending(limit),
      acknowledge: async (uptoSeq) => {
        const removed = await queue.acknowledge(uptoSeq)
        for (const seq of this.#unacked) if (seq <= uptoSeq) this.#unacked.delete(seq)
        if (uptoSeq > this.#highestSettled) this.#highestSettled = uptoSeq
        return removed
      },
      takeDropped: () => queue.takeDropped(),
      stats: () => queue.stats(),
    }
  }
}

export function createJobRunner(init: JobRunnerInit, components: JobRunnerComponents): JobRunner {
  return new JobRunner(init, components)
}
