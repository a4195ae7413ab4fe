/**
 * A counting semaphore: at most `limit` holders at once, the others wait in arrival order. Used to
 * bound the reads a block source keeps in flight, so a caller that asks for many runs at once queues
 * them here instead of flooding libuv's four-thread pool (which the hashing workers' I/O shares).
 *
 * The waiting queue holds one entry per pending caller: its length is bounded by the caller's own
 * outstanding requests.
 */
export class InFlightLimit {
  readonly limit: number
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`in-flight limit ${limit} is not a positive integer`)
    this.limit = limit
  }

  /** Holders now. */
  get inFlight(): number {
    return this.active
  }

  /** Resolves once the caller holds a slot; pair every acquire with one release. */
  acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++
      return Promise.resolve()
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve))
  }

  release(): void {
    const next = this.waiting.shift()
    // The slot passes straight to the next waiter, so `active` never dips and lets a newcomer jump the queue.
    if (next !== undefined) next()
    else if (this.active > 0) this.active--
  }
}
