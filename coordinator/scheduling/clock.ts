/**
 * The clock the scheduler and the dispatcher read. Injected so tests move time by hand instead of
 * sleeping, and so every decision in one pass uses the time the pass was given.
 */

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
