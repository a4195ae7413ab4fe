/**
 * Group commit: the write path of the classic-level store (docs/STORE.md "Writes and atomicity").
 *
 * A *change* reads the store, checks its preconditions and returns its result with the operations
 * that make it (its *plan*). Changes are planned one at a time, in the order they were submitted,
 * as under a mutex. But instead of one db.batch() and one fsync per change, every change submitted
 * before the write begins joins one *group*: the group's plans are written as ONE batch with one
 * fsync, and then every caller of the group gets its own result or error.
 *
 * - Each change sees the store as the earlier changes of its group left it: it reads through the
 *   group's pending writes (pending-writes.ts). Its own writes stay invisible to it until it returns.
 * - A change whose plan throws contributes nothing to the batch; the group's other changes go on.
 *   So each change is still all-or-nothing, and a failed precondition cannot poison its neighbours.
 * - No caller hears back before the batch is durable: results and plan errors alike are settled
 *   after the write, because both may rest on writes of earlier changes of the group. Except a
 *   change that wrote nothing and whose reads met no pending write: its outcome rests on committed
 *   records alone, so it is settled as soon as it is planned (the sweeper's empty sweep, a refused
 *   stale call), without waiting for its group's write.
 * - When the write itself fails, nothing of the group is in the store (a batch is atomic), so every
 *   change that wrote, or that was planned after a change that wrote, gets the write's error; a
 *   change planned against the database alone keeps its own outcome.
 * - The batch is fsynced when any change of the group that wrote asks for it (all but renewals do).
 * - A change that *leads* (it reads the database directly, ranges included, so it would miss pending
 *   writes) is planned only while nothing is pending; a leading change waiting in the queue behind
 *   pending writes closes the group before it.
 *
 * A group holds at most `maxChanges` changes; the changes that queue meanwhile form the next one.
 */

import type { StoreOperation } from './migrations.js'
import { type PendingView, PendingWrites, type SyncRecordReader } from './pending-writes.js'

/** Changes per group at most (docs/LIMITS.md): about 6 operations and 4 KiB of batch each. */
export const MAX_GROUP_CHANGES = 256

export interface PlannedChange<T> {
  result: T
  operations: StoreOperation[]
}

export interface ChangeRequest<T> {
  /** Reads through `reads` (the database with the group's pending writes over it), and plans. */
  plan(reads: PendingView): Promise<PlannedChange<T>>
  /** Write this change's batch with fsync. */
  sync: boolean
  /** Plan only first in a group, when nothing is pending (the change reads ranges). */
  leads: boolean
}

export interface GroupCommitInit {
  /** The committed store that changes read beneath pending writes. */
  store: SyncRecordReader
  /** Writes one group's operations as one atomic batch. */
  write(operations: StoreOperation[], sync: boolean): Promise<void>
  /** Default MAX_GROUP_CHANGES. */
  maxChanges?: number
}

/** What a group did, for tests and the benchmark's diagnostics. */
export interface GroupStats {
  groups: number
  changes: number
  largestGroup: number
  /** Changes settled at once after planning: they wrote nothing and read no pending write. */
  settledEarly: number
  /** Wall time spent planning changes, and writing batches, in ms. */
  planMs: number
  writeMs: number
  /** The longest planning of one group, and the longest write, in ms. */
  longestPlanMs: number
  longestWriteMs: number
}

interface Queued {
  request: ChangeRequest<unknown>
  resolve(value: unknown): void
  reject(error: unknown): void
}

type Outcome = { entry: Queued; sawPending: boolean } & (
  | { ok: true; result: unknown; wrote: boolean }
  | { ok: false; error: unknown }
)

export class GroupCommit {
  readonly #store: SyncRecordReader
  readonly #write: GroupCommitInit['write']
  readonly #maxChanges: number
  readonly #queue: Queued[] = []
  #draining: Promise<void> | undefined
  readonly #stats: GroupStats = {
    groups: 0,
    changes: 0,
    largestGroup: 0,
    settledEarly: 0,
    planMs: 0,
    writeMs: 0,
    longestPlanMs: 0,
    longestWriteMs: 0,
  }

  constructor(init: GroupCommitInit) {
    this.#store = init.store
    this.#write = init.write
    this.#maxChanges = init.maxChanges ?? MAX_GROUP_CHANGES
    if (!Number.isSafeInteger(this.#maxChanges) || this.#maxChanges < 1) {
      throw new RangeError(`maxChanges must be a positive integer, got ${String(init.maxChanges)}`)
    }
  }

  /** Queues a change; resolves with its result once its group is durable, or rejects with its error. */
  submit<T>(request: ChangeRequest<T>): Promise<T> {
    const settled = new Promise<T>((resolve, reject) => {
      this.#queue.push({ request, resolve: resolve as (value: unknown) => void, reject })
    })
    this.#draining ??= this.#drain()
    return settled
  }

  /** Resolves once every change submitted so far has been settled. */
  idle(): Promise<void> {
    return this.#draining ?? Promise.resolve()
  }

  get stats(): GroupStats {
    return { ...this.#stats }
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#commitGroup()
    } finally {
      this.#draining = undefined
    }
  }

  /** Plans the changes at the head of the queue, those queued while planning included, and writes them. */
  async #commitGroup(): Promise<void> {
    const pending = new PendingWrites(this.#store)
    const operations: StoreOperation[] = []
    const outcomes: Outcome[] = []
    let sync = false
    const planStart = performance.now()
    let planned = 0
    while (this.#queue.length > 0 && planned < this.#maxChanges) {
      if (!pending.empty && this.#queue[0].request.leads) break
      planned++
      const entry = this.#queue.shift()!
      const sawPending = !pending.empty
      const touchesBefore = pending.touches
      try {
        const plan = await entry.request.plan(pending)
        if (plan.operations.length === 0 && pending.touches === touchesBefore) {
          this.#stats.settledEarly++
          entry.resolve(plan.result)
          continue
        }
        pending.apply(plan.operations)
        for (const op of plan.operations) operations.push(op)
        if (plan.operations.length > 0) sync ||= entry.request.sync
        outcomes.push({
          entry,
          sawPending,
          ok: true,
          result: plan.result,
          wrote: plan.operations.length > 0,
        })
      } catch (error) {
        if (pending.touches === touchesBefore) {
          this.#stats.settledEarly++
          entry.reject(error)
          continue
        }
        outcomes.push({ entry, sawPending, ok: false, error })
      }
    }
    let writeFailed: { error: unknown } | undefined
    const writeStart = performance.now()
    this.#stats.planMs += writeStart - planStart
    this.#stats.longestPlanMs = Math.max(this.#stats.longestPlanMs, writeStart - planStart)
    if (operations.length > 0) {
      try {
        await this.#write(operations, sync)
      } catch (error) {
        writeFailed = { error }
      }
    }
    const writeMs = performance.now() - writeStart
    this.#stats.writeMs += writeMs
    this.#stats.longestWriteMs = Math.max(this.#stats.longestWriteMs, writeMs)
    this.#stats.groups++
    this.#stats.changes += planned
    this.#stats.largestGroup = Math.max(this.#stats.largestGroup, planned)
    for (const outcome of outcomes) {
      const lost = writeFailed !== undefined && (outcome.sawPending || (outcome.ok && outcome.wrote))
      if (lost) outcome.entry.reject(writeFailed!.error)
      else if (outcome.ok) outcome.entry.resolve(outcome.result)
      else outcome.entry.reject(outcome.error)
    }
  }
}
