/**
 * The writes of a commit group not yet written, and a reader that sees the store through them.
 *
 * A *commit group* (group-commit.ts) plans several changes one after another and writes all their
 * operations as one batch. Change k of a group must see the store as changes 1 … k−1 left it,
 * although none of their writes is in the database yet: it reads through `PendingWrites`, which
 * answers from the group's own puts and deletes first and from the database for every other key.
 *
 * A *record reader* is the read surface a change may use through pending writes: point reads. A
 * change that reads a range merges the database's entries with `entriesIn` (level-jobs.ts does, for
 * the sweeper's indexes); the other range readers do not, so they lead their group, when nothing is
 * pending (GroupCommit's `leads`).
 *
 * Beneath the pending writes, keys are read with LevelDB's synchronous get (`getSync`). Changes are
 * planned one at a time, and an asynchronous get costs a trip through the thread pool and a turn of
 * the event loop: a change making six reads waited six turns, behind whatever else the coordinator
 * was doing, while every change queued behind it waited too. A synchronous get of the small, hot
 * job records (memtable or block cache) takes microseconds, so planning a change is CPU only and a
 * group of dozens plans in well under a millisecond. A read that misses the caches blocks the event
 * loop for one disk read; the store is small (10,000 VMs: a few MiB) and stays cached.
 */
import type { StoreOperation } from './migrations.js'

/** Point reads of UTF-8 keys and values; a classic-level database is one. */
export interface RecordReader {
  get(key: string): Promise<string | undefined>
  getMany(keys: string[]): Promise<(string | undefined)[]>
}

/** A record reader that also tells which keys of a range its pending writes put or delete. */
export interface PendingView extends RecordReader {
  /** The pending writes with `gte <= key < lt`, in key order; a delete has value undefined. */
  entriesIn(gte: string, lt: string): [string, string | undefined][]
}

/** A synchronous point read; classic-level's `getSync`. */
export interface SyncRecordReader {
  getSync(key: string): string | undefined
}

/** Deleted keys map to undefined; keys never written by the group are absent from the map. */
export class PendingWrites implements PendingView {
  readonly #written = new Map<string, string | undefined>()
  readonly #store: SyncRecordReader
  #touches = 0

  constructor(store: SyncRecordReader) {
    this.#store = store
  }

  /** True while the group has written nothing: reads then see exactly the database. */
  get empty(): boolean {
    return this.#written.size === 0
  }

  /**
   * How many reads so far were answered by a pending write (a key the group put or deleted, or a
   * range holding one). A change whose reads added none saw only committed records.
   */
  get touches(): number {
    return this.#touches
  }

  /** Applies a change's operations in order, as the batch will: the last write of a key wins. */
  apply(operations: readonly StoreOperation[]): void {
    for (const op of operations) this.#written.set(op.key, op.type === 'put' ? op.value : undefined)
  }

  async get(key: string): Promise<string | undefined> {
    return this.#read(key)
  }

  async getMany(keys: string[]): Promise<(string | undefined)[]> {
    return keys.map((key) => this.#read(key))
  }

  entriesIn(gte: string, lt: string): [string, string | undefined][] {
    const entries: [string, string | undefined][] = []
    for (const entry of this.#written) if (entry[0] >= gte && entry[0] < lt) entries.push(entry)
    if (entries.length > 0) this.#touches++
    return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  }

  #read(key: string): string | undefined {
    if (!this.#written.has(key)) return this.#store.getSync(key)
    this.#touches++
    return this.#written.get(key)
  }
}
