/**
 * An in-process async mutex: the one thing that makes a backend's read-check-write changes atomic
 * when its database has no transactions (LevelDB, the in-memory maps).
 *
 * A *holder* runs with the lock held; holders run one at a time, in the order they asked. A holder
 * that throws releases the lock like one that returns, and its error goes to its own caller only.
 * `idle()` resolves once everything queued so far has finished, which is how `close()` waits for
 * in-flight changes.
 */
export class WriteLock {
  #tail: Promise<void> = Promise.resolve()

  /** Runs `holder` once every earlier holder has finished, and returns what it returns. */
  run<T>(holder: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(holder)
    // The chain continues whatever the holder did; its outcome belongs to its caller alone.
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }

  /** Resolves when every holder queued before this call has finished. */
  idle(): Promise<void> {
    return this.#tail
  }
}
