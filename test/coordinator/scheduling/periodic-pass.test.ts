// The periodic pass under the scheduler and the dispatcher: pokes during a pass cause one extra
// pass, an escaped error is reported and the loop goes on, stop waits for the pass in progress.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPeriodicPass } from '../../../coordinator/scheduling/periodic-pass.js'

function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => undefined
  const wait = new Promise<void>((resolve) => {
    open = resolve
  })
  return { wait, open }
}

describe('periodic pass', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('turns many pokes during a pass into one extra pass right after it', async () => {
    let runs = 0
    let hold: ReturnType<typeof gate> | undefined
    const loop = createPeriodicPass(
      { intervalMs: 60_000 },
      async () => {
        runs++
        await hold?.wait
      },
      () => undefined,
    )
    loop.poke() // not started: ignored
    await vi.advanceTimersByTimeAsync(0)
    expect(runs).toBe(0)

    hold = gate()
    loop.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(runs).toBe(1)
    loop.poke()
    loop.poke()
    loop.poke()
    const held = hold
    hold = undefined
    held.open()
    await vi.advanceTimersByTimeAsync(0)
    expect(runs).toBe(2)
    await vi.advanceTimersByTimeAsync(59_999)
    expect(runs).toBe(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(runs).toBe(3)
    await loop.stop()
  })

  it('reports an error that escapes a pass and keeps going', async () => {
    const errors: unknown[] = []
    let runs = 0
    const loop = createPeriodicPass(
      { intervalMs: 1_000 },
      async () => {
        runs++
        throw new Error(`pass ${runs}`)
      },
      (error) => errors.push(error),
    )
    loop.start()
    await vi.advanceTimersByTimeAsync(2_000)
    expect(runs).toBe(3)
    expect(errors).toHaveLength(3)
    await loop.stop()
  })

  it('stop resolves only after the pass in progress has ended', async () => {
    const hold = gate()
    let ended = false
    const loop = createPeriodicPass(
      { intervalMs: 1_000 },
      async () => {
        await hold.wait
        ended = true
      },
      () => undefined,
    )
    loop.start()
    await vi.advanceTimersByTimeAsync(0)
    let stopped = false
    const stopping = loop.stop().then(() => {
      stopped = true
    })
    await vi.advanceTimersByTimeAsync(0)
    expect(stopped).toBe(false)
    hold.open()
    await stopping
    expect(ended).toBe(true)
    expect(loop.started).toBe(false)
  })
})
