import { describe, expect, it } from 'vitest'
import { InFlightLimit } from '../../blockio/in-flight-limit.js'

/** Lets every already-resolved promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('InFlightLimit', () => {
  it('grants at most `limit` slots, then hands released slots to waiters in arrival order', async () => {
    const limit = new InFlightLimit(2)
    await limit.acquire()
    await limit.acquire()
    const order: number[] = []
    const third = limit.acquire().then(() => order.push(3))
    const fourth = limit.acquire().then(() => order.push(4))
    await settle()
    expect(order).toEqual([])
    expect(limit.inFlight).toBe(2)
    limit.release()
    await third
    expect(order).toEqual([3])
    expect(limit.inFlight).toBe(2)
    limit.release()
    await fourth
    expect(order).toEqual([3, 4])
    limit.release()
    limit.release()
    expect(limit.inFlight).toBe(0)
  })

  it('refuses a limit that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new InFlightLimit(bad)).toThrow(RangeError)
  })
})
