/**
 * A *periodic pass*: a piece of work (a scheduler evaluation, a dispatch round) run every
 * `intervalMs`, never two at once. The next pass is timed from the end of the previous one, so a
 * slow pass (a slow store) delays the next instead of piling up behind it; the scheduler's due times
 * are anchored (schedule.ts), so this costs no drift. `poke()` asks for a pass as soon as the current
 * one (if any) ends — the dispatcher is poked when a job is queued, so dispatch latency is not the
 * interval. Many pokes during one pass cause one extra pass, not many.
 *
 * start() and stop() are idempotent; stop() resolves once the pass in progress has ended; aborting
 * `signal` stops it. Timers are unref'd: a pass never keeps the process alive by itself.
 */

export interface PeriodicPassInit {
  intervalMs: number
  /** Stops the loop when aborted. */
  signal?: AbortSignal
}

export interface PeriodicPass {
  /** Runs the first pass at once, then every intervalMs after the previous pass ends. */
  start(): void
  /** No further pass starts; resolves when the one in progress (if any) has ended. */
  stop(): Promise<void>
  /** Runs a pass as soon as possible (after the current one, if one is running). */
  poke(): void
  readonly started: boolean
}

/** `run` must handle its own errors; one that escapes is passed to `onError` and the loop goes on. */
export function createPeriodicPass(
  init: PeriodicPassInit,
  run: () => Promise<unknown>,
  onError: (error: unknown) => void,
): PeriodicPass {
  const { intervalMs, signal } = init
  let started = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let running: Promise<void> | undefined
  let again = false

  const arm = (delayMs: number): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(tick, delayMs)
    timer.unref?.()
  }

  const tick = (): void => {
    timer = undefined
    if (!started || running !== undefined) return
    again = false
    running = (async () => {
      try {
        await run()
      } catch (error) {
        onError(error)
      }
    })().finally(() => {
      running = undefined
      if (started) arm(again ? 0 : intervalMs)
    })
  }

  const stop = async (): Promise<void> => {
    started = false
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    signal?.removeEventListener('abort', onAbort)
    await running
  }
  const onAbort = (): void => {
    void stop()
  }

  return {
    start() {
      if (started || signal?.aborted === true) return
      started = true
      signal?.addEventListener('abort', onAbort, { once: true })
      arm(0)
    },
    stop,
    poke() {
      if (!started) return
      if (running !== undefined) again = true
      else arm(0)
    },
    get started() {
      return started
    },
  }
}
