/**
 * The node's status queue: a durable, ordered queue of the status updates (PROGRESS, LOG_ENTRY,
 * RESULT, JOB_HANDBACK) a node made and the coordinator has not yet acknowledged (docs/PROTOCOL.md
 * §4, "Status updates survive disconnection"). It lives on the agent's own disk, in
 * `<data-dir>/status-queue` (classic-level), so a node that loses the control plane keeps working
 * and reports everything once it is back — even across a restart of the agent.
 *
 * Layout (keys are UTF-8, values bytes):
 *
 * ```
 * u!<seq, 16 digits>   a queued update: its control-message body (msgpack, as on the wire)
 * q!<seq, 16 digits>   a quarantined record: the bytes that did not decode, kept for a post-mortem
 * m!acked              the highest seq the coordinator acknowledged (decimal)
 * ```
 *
 * `seq` is assigned by append, from 1, strictly increasing, and never reused: on open the queue
 * continues after the highest seq it finds in any of the three, so an update made after a restart
 * is never mistaken for a replay of an older one (the coordinator recognises replays by seq).
 *
 * Durability: writes are serialised and grouped — appends made while a write is in flight go out
 * together in the next batch. A batch holding a RESULT or a JOB_HANDBACK is written with fsync
 * before append returns, because a lost result means a job run twice; PROGRESS and LOG_ENTRY ride
 * without fsync (they survive a crash of the process, and the next fsynced batch makes them durable
 * against power loss too: LevelDB syncs its log in order). Because batches are written strictly in
 * seq order, the stored seqs have no gaps up to the last fsynced result whatever moment the process
 * dies at (test/status-queue/status-queue-crash.test.ts).
 *
 * Bound: at most `maxItems` (MAX_QUEUED_STATUS_UPDATES) updates. Beyond it the oldest PROGRESS is
 * dropped first (a newer one supersedes it), then the oldest LOG_ENTRY; a RESULT or a JOB_HANDBACK
 * is never dropped — a queue full of them refuses the next update with AGENT_STATUS_QUEUE_FULL.
 * Each append says how many it dropped, and takeDropped() sums them, for a LOG_ENTRY
 * (droppedNotice) telling the operator that progress was lost while the node was cut off.
 *
 * A record that does not decode as the status update its key names is moved to `q!` in one batch
 * and reported through `onQuarantine` with AGENT_STATUS_RECORD_CORRUPT; reading goes on.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import {
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  type StatusUpdate,
} from '../../protocol/control-messages.js'
import { isCodedError } from '../../protocol/errors.js'
import { MAX_QUEUED_STATUS_UPDATES, MAX_REPLAY_ITEMS } from '../../protocol/limits.js'
import { MessageType } from '../../protocol/message-types.js'
import { checkInteger, closed, ioError, StatusQueueError, StatusQueueErrorCode } from './errors.js'

/** The folder under the agent's data directory. */
export const STATUS_QUEUE_DIR_NAME = 'status-queue'
/** A page of pending() when no limit is given: one full STATUS_REPLAY. */
export const DEFAULT_PENDING_LIMIT = MAX_REPLAY_ITEMS
/** The most pending() returns at once: the bound of the queue itself. */
export const MAX_PENDING_LIMIT = MAX_QUEUED_STATUS_UPDATES

const SEQ_DIGITS = 16
const UPDATE_PREFIX = 'u!'
const QUARANTINE_PREFIX = 'q!'
const ACKED_KEY = 'm!acked'
// '"' sorts right after '!', so [prefix!, prefix") spans every key of one prefix.
const UPDATE_RANGE = { gte: UPDATE_PREFIX, lt: 'u"' }

type StatusType = StatusUpdate['t']
const STATUS_TYPES: ReadonlySet<number> = new Set([
  MessageType.PROGRESS,
  MessageType.RESULT,
  MessageType.LOG_ENTRY,
  MessageType.JOB_HANDBACK,
])

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never
/** A status update as the job code makes it: the queue numbers it. */
export type StatusUpdateInput = DistributiveOmit<StatusUpdate, 'seq'>

export interface StatusQueueInit {
  /** The agent's data directory; the queue lives in `<dataDir>/status-queue`. */
  dataDir: string
  /** The bound: 1 – MAX_QUEUED_STATUS_UPDATES (the default). Tests lower it to reach it quickly. */
  maxItems?: number
}

export interface StatusQueueComponents {
  /** Told about each record moved aside as corrupt (AGENT_STATUS_RECORD_CORRUPT). */
  onQuarantine?: (error: StatusQueueError) => void
}

export interface AppendResult {
  /** The update as stored: with its seq. */
  update: StatusUpdate
  /** Older updates dropped to keep the bound (PROGRESS first, then LOG_ENTRY). */
  dropped: number
}

export interface StatusQueueStats {
  /** Updates queued (written or being written). */
  size: number
  /** The highest seq assigned; 0 before the first update. */
  lastSeq: number
  /** The highest seq acknowledged; 0 before the first acknowledgement. */
  acknowledgedSeq: number
  /** Updates dropped for the bound since open. */
  droppedTotal: number
  /** Records quarantined since open. */
  quarantinedTotal: number
}

export interface StatusQueue {
  readonly location: string
  /** Opens (creating) the database and indexes what it holds. Idempotent. */
  open(): Promise<void>
  /** Waits for the writes in flight, then closes. Idempotent. */
  close(): Promise<void>
  /**
   * Numbers the update with the next seq and stores it; resolves once written (with fsync for a
   * RESULT or JOB_HANDBACK). Throws AGENT_STATUS_INVALID_UPDATE, AGENT_STATUS_QUEUE_FULL,
   * AGENT_STATUS_QUEUE_IO, AGENT_STATUS_QUEUE_CLOSED.
   */
  append(update: StatusUpdateInput): Promise<AppendResult>
  /** The oldest `limit` queued updates (1 – MAX_PENDING_LIMIT, default 256), in seq order. */
  pending(limit?: number): Promise<StatusUpdate[]>
  /**
   * Deletes every update with seq ≤ `uptoSeq`, in one batch, and returns how many. An older or
   * repeated acknowledgement deletes nothing. Throws AGENT_STATUS_INVALID_ACK for a seq never assigned.
   */
  acknowledge(uptoSeq: number): Promise<number>
  /** The drops not yet reported, and resets the count: for one droppedNotice LOG_ENTRY. */
  takeDropped(): number
  stats(): StatusQueueStats
}

export function statusQueueLocation(dataDir: string): string {
  return join(dataDir, STATUS_QUEUE_DIR_NAME)
}

/** The fields of a LOG_ENTRY telling the operator that `count` updates were dropped for the bound. */
export function droppedNotice(count: number): { level: 'warn'; step: string; message: string } {
  return {
    level: 'warn',
    step: 'status-queue',
    message: `${count} status update${count === 1 ? ' was' : 's were'} dropped while the coordinator was unreachable: the queue holds at most ${MAX_QUEUED_STATUS_UPDATES} (oldest progress first; results are never dropped)`,
  }
}

export function createStatusQueue(
  init: StatusQueueInit,
  components: StatusQueueComponents = {},
): StatusQueue {
  return new LevelStatusQueue(init, components)
}

export const seqKey = (prefix: string, seq: number): string =>
  `${prefix}${String(seq).padStart(SEQ_DIGITS, '0')}`

function seqOfKey(key: string, prefix: string): number | undefined {
  const digits = key.slice(prefix.length)
  if (!key.startsWith(prefix) || digits.length !== SEQ_DIGITS || !/^[0-9]+$/.test(digits)) return undefined
  const seq = Number(digits)
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined
}

type Operation = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

interface Waiter {
  resolve: () => void
  reject: (error: unknown) => void
}

const mustSync = (t: StatusType): boolean => t === MessageType.RESULT || t === MessageType.JOB_HANDBACK

class LevelStatusQueue implements StatusQueue {
  readonly location: string
  private readonly maxItems: number
  private readonly onQuarantine: (error: StatusQueueError) => void
  private db: ClassicLevel<string, Uint8Array> | undefined
  private opening: Promise<void> | undefined
  /** Every queued seq → its type, in seq order (Map keeps insertion order; seqs only grow). */
  private readonly live = new Map<number, StatusType>()
  /** Queued PROGRESS and LOG_ENTRY seqs, oldest first; entries no longer live are skipped lazily. */
  private progressSeqs: number[] = []
  private logSeqs: number[] = []
  private nextSeq = 1
  private acknowledgedSeq = 0
  private droppedTotal = 0
  private droppedUnreported = 0
  private quarantinedTotal = 0
  // The group being gathered for the next batch, and the one write in flight.
  private groupOps: Operation[] = []
  private groupSync = false
  private groupWaiters: Waiter[] = []
  private writing: Promise<void> | undefined
  /** Set when a batch failed: the index may no longer match the disk, so nothing more is written. */
  private broken: StatusQueueError | undefined

  constructor(init: StatusQueueInit, components: StatusQueueComponents) {
    this.location = statusQueueLocation(init.dataDir)
    this.maxItems = checkInteger(
      'maxItems',
      init.maxItems ?? MAX_QUEUED_STATUS_UPDATES,
      1,
      MAX_QUEUED_STATUS_UPDATES,
    )
    this.onQuarantine = components.onQuarantine ?? (() => {})
  }

  open(): Promise<void> {
    if (this.db !== undefined) return Promise.resolve()
    this.opening ??= this.doOpen().finally(() => {
      this.opening = undefined
    })
    return this.opening
  }

  private async doOpen(): Promise<void> {
    const db = new ClassicLevel<string, Uint8Array>(this.location, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    })
    try {
      await mkdir(this.location, { recursive: true })
      await db.open()
    } catch (error) {
      throw ioError('be opened', this.location, error)
    }
    this.resetIndex()
    let highest = 0
    const quarantine: Operation[] = []
    const corrupt: StatusQueueError[] = []
    try {
      for await (const [key, value] of db.iterator()) {
        if (key === ACKED_KEY) {
          const acked = Number(new TextDecoder().decode(value))
          if (Number.isSafeInteger(acked) && acked >= 0) this.acknowledgedSeq = acked
          highest = Math.max(highest, this.acknowledgedSeq)
        } else if (key.startsWith(QUARANTINE_PREFIX)) {
          highest = Math.max(highest, seqOfKey(key, QUARANTINE_PREFIX) ?? 0)
        } else if (key.startsWith(UPDATE_PREFIX)) {
          const checked = this.decodeRecord(key, value)
          if (checked instanceof StatusQueueError) {
            quarantine.push(...this.quarantineOps(key, value))
            corrupt.push(checked)
            highest = Math.max(highest, seqOfKey(key, UPDATE_PREFIX) ?? 0)
          } else {
            this.index(checked.seq, checked.t)
            highest = Math.max(highest, checked.seq)
          }
        }
      }
      if (quarantine.length > 0) await db.batch(quarantine, { sync: true })
    } catch (error) {
      await db.close().catch(() => {})
      throw ioError('be read', this.location, error)
    }
    this.nextSeq = highest + 1
    this.broken = undefined
    this.db = db
    for (const error of corrupt) this.reportQuarantine(error)
  }

  async close(): Promise<void> {
    if (this.opening !== undefined) await this.opening.catch(() => {})
    const db = this.db
    if (db === undefined) return
    await this.flushed()
    this.db = undefined
    await db.close()
  }

  async append(input: StatusUpdateInput): Promise<AppendResult> {
    this.checkWritable()
    const seq = this.nextSeq
    const update = { ...input, seq } as StatusUpdate
    if (!STATUS_TYPES.has(update.t)) {
      throw invalidUpdate(`type ${String((update as { t: unknown }).t)} is not a status update`)
    }
    let body: Uint8Array
    try {
      body = encodeControlMessage(update as ControlMessage)
    } catch (error) {
      throw invalidUpdate(isCodedError(error) ? error.message : String(error), error)
    }
    const ops: Operation[] = []
    while (this.live.size >= this.maxItems) {
      const victim = this.shift(this.progressSeqs) ?? this.shift(this.logSeqs)
      if (victim === undefined) break
      this.live.delete(victim)
      ops.push({ type: 'del', key: seqKey(UPDATE_PREFIX, victim) })
    }
    const dropped = ops.length
    this.droppedTotal += dropped
    this.droppedUnreported += dropped
    if (this.live.size >= this.maxItems) {
      // Only RESULT and JOB_HANDBACK remain, and those are never dropped. Drops already made (a bound
      // lowered since the last start) are still written, so index and disk agree.
      if (ops.length > 0) await this.write(ops, false)
      throw new StatusQueueError(
        StatusQueueErrorCode.QUEUE_FULL,
        `the status queue holds ${this.live.size} results and hand-backs the coordinator has not acknowledged (at most ${this.maxItems})`,
        {
          remediation:
            'Restore the connection to the coordinator: the queue drains as soon as it acknowledges the replay.',
          retryable: true,
        },
      )
    }
    this.nextSeq = seq + 1
    this.index(seq, update.t)
    // The deletes go in the same batch as the new record: the bound holds on disk at every moment.
    ops.push({ type: 'put', key: seqKey(UPDATE_PREFIX, seq), value: body })
    await this.write(ops, mustSync(update.t))
    return { update, dropped }
  }

  async pending(limit = DEFAULT_PENDING_LIMIT): Promise<StatusUpdate[]> {
    checkInteger('limit', limit, 1, MAX_PENDING_LIMIT)
    const db = this.openDb()
    await this.flushed()
    const out: StatusUpdate[] = []
    let after: string | undefined
    while (out.length < limit) {
      const want = limit - out.length
      let rows: [string, Uint8Array][]
      try {
        rows = await db
          .iterator({ ...UPDATE_RANGE, ...(after === undefined ? {} : { gt: after }), limit: want })
          .all()
      } catch (error) {
        throw ioError('be read', this.location, error)
      }
      for (const [key, value] of rows) {
        const checked = this.decodeRecord(key, value)
        if (checked instanceof StatusQueueError) {
          const seq = seqOfKey(key, UPDATE_PREFIX)
          if (seq !== undefined) this.live.delete(seq)
          await this.write(this.quarantineOps(key, value), true)
          this.reportQuarantine(checked)
        } else {
          out.push(checked)
        }
        after = key
      }
      if (rows.length < want) break
    }
    return out
  }

  async acknowledge(uptoSeq: number): Promise<number> {
    this.checkWritable()
    if (!Number.isSafeInteger(uptoSeq) || uptoSeq < 0 || uptoSeq >= this.nextSeq) {
      throw new StatusQueueError(
        StatusQueueErrorCode.INVALID_ACK,
        `acknowledgement of seq ${String(uptoSeq)}, but the highest seq assigned is ${this.nextSeq - 1}`,
        {
          remediation:
            'The coordinator acknowledged an update this node never sent: check that the data directory belongs to this node.',
        },
      )
    }
    if (uptoSeq <= this.acknowledgedSeq) return 0
    const ops: Operation[] = []
    for (const seq of this.live.keys()) {
      if (seq > uptoSeq) break
      ops.push({ type: 'del', key: seqKey(UPDATE_PREFIX, seq) })
    }
    for (const op of ops) this.live.delete(seqOfKey(op.key, UPDATE_PREFIX)!)
    this.progressSeqs = dropUpTo(this.progressSeqs, uptoSeq)
    this.logSeqs = dropUpTo(this.logSeqs, uptoSeq)
    this.acknowledgedSeq = uptoSeq
    ops.push({ type: 'put', key: ACKED_KEY, value: new TextEncoder().encode(String(uptoSeq)) })
    // No fsync: if this batch is lost, the updates come back with it, and replaying them is harmless.
    await this.write(ops, false)
    return ops.length - 1
  }

  takeDropped(): number {
    const count = this.droppedUnreported
    this.droppedUnreported = 0
    return count
  }

  stats(): StatusQueueStats {
    return {
      size: this.live.size,
      lastSeq: this.nextSeq - 1,
      acknowledgedSeq: this.acknowledgedSeq,
      droppedTotal: this.droppedTotal,
      quarantinedTotal: this.quarantinedTotal,
    }
  }

  private resetIndex(): void {
    this.live.clear()
    this.progressSeqs = []
    this.logSeqs = []
    this.acknowledgedSeq = 0
    this.droppedTotal = 0
    this.droppedUnreported = 0
    this.quarantinedTotal = 0
  }

  private index(seq: number, t: StatusType): void {
    this.live.set(seq, t)
    if (t === MessageType.PROGRESS) this.progressSeqs.push(seq)
    else if (t === MessageType.LOG_ENTRY) this.logSeqs.push(seq)
  }

  /** The oldest seq of `seqs` still queued, removed from it; lazily forgets acknowledged ones. */
  private shift(seqs: number[]): number | undefined {
    let i = 0
    while (i < seqs.length && !this.live.has(seqs[i])) i++
    const seq = i < seqs.length ? seqs[i] : undefined
    seqs.splice(0, seq === undefined ? i : i + 1)
    return seq
  }

  private decodeRecord(key: string, value: Uint8Array): StatusUpdate | StatusQueueError {
    const seq = seqOfKey(key, UPDATE_PREFIX)
    if (seq === undefined) return corruptRecord(key, 'the key is not u! and a 16-digit seq')
    let message: ControlMessage
    try {
      message = decodeControlMessage(value)
    } catch (error) {
      return corruptRecord(key, isCodedError(error) ? error.message : String(error), error)
    }
    if (!STATUS_TYPES.has(message.t)) return corruptRecord(key, `type ${message.t} is not a status update`)
    const update = message as StatusUpdate
    if (update.seq !== seq) return corruptRecord(key, `the record holds seq ${update.seq}`)
    return update
  }

  private quarantineOps(key: string, value: Uint8Array): Operation[] {
    const seq = seqOfKey(key, UPDATE_PREFIX)
    // A key that names no seq is kept under its own name, so nothing is lost for the post-mortem.
    const target = seq === undefined ? `${QUARANTINE_PREFIX}x!${key}` : seqKey(QUARANTINE_PREFIX, seq)
    return [
      { type: 'del', key },
      { type: 'put', key: target, value },
    ]
  }

  private reportQuarantine(error: StatusQueueError): void {
    this.quarantinedTotal++
    try {
      this.onQuarantine(error)
    } catch {
      // A failing hook must not stop the queue from reading on.
    }
  }

  private openDb(): ClassicLevel<string, Uint8Array> {
    if (this.db === undefined) throw closed(this.location)
    return this.db
  }

  private checkWritable(): void {
    this.openDb()
    if (this.broken !== undefined) throw this.broken
  }

  /** Adds ops to the next batch; resolves once that batch is written. */
  private write(ops: Operation[], sync: boolean): Promise<void> {
    this.groupOps.push(...ops)
    this.groupSync ||= sync
    const done = new Promise<void>((resolve, reject) => this.groupWaiters.push({ resolve, reject }))
    this.writing ??= this.drain()
    return done
  }

  private async drain(): Promise<void> {
    while (this.groupOps.length > 0) {
      const ops = this.groupOps
      const sync = this.groupSync
      const waiters = this.groupWaiters
      this.groupOps = []
      this.groupSync = false
      this.groupWaiters = []
      try {
        if (this.broken !== undefined) throw this.broken
        await this.openDb().batch(ops, { sync })
        for (const waiter of waiters) waiter.resolve()
      } catch (error) {
        this.broken ??=
          error instanceof StatusQueueError ? error : ioError('be written', this.location, error)
        for (const waiter of waiters) waiter.reject(this.broken)
      }
    }
    this.writing = undefined
  }

  private async flushed(): Promise<void> {
    while (this.writing !== undefined) await this.writing
  }
}

/** The sorted seqs above `uptoSeq`. */
function dropUpTo(seqs: number[], uptoSeq: number): number[] {
  let i = 0
  while (i < seqs.length && seqs[i] <= uptoSeq) i++
  return i === 0 ? seqs : seqs.slice(i)
}

function invalidUpdate(detail: string, cause?: unknown): StatusQueueError {
  return new StatusQueueError(StatusQueueErrorCode.INVALID_UPDATE, `not a valid status update: ${detail}`, {
    remediation: 'This is a bug in the agent: report it with the log lines around this error.',
    cause,
  })
}

function corruptRecord(key: string, detail: string, cause?: unknown): StatusQueueError {
  return new StatusQueueError(
    StatusQueueErrorCode.RECORD_CORRUPT,
    `status queue record ${key} is corrupt (${detail}); it was moved to the quarantine and will not be sent`,
    {
      remediation:
        'Check the disk of the data directory; the job the update belonged to may need a manual check in the coordinator.',
      cause,
    },
  )
}
