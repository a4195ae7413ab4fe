// The async mutex that serialises a backend's changes.
import { describe, expect, it } from 'vitest'
import { WriteLock } from '../../coordinator/store/write-lock.js'

describe('WriteLock', () => {
  it('runs holders one at a time in the order they asked', async () => {
    const lock = new WriteLock()
    const events: string[] = []
    const holder = (name: string, yields: number) => async () => {
      events.push(`${name} start`)
      for (let n = 0; n < yields; n++) await Promise.resolve()
      events.push(`${name} end`)
      return name
    }
    const results = await Promise.all([
      lock.run(holder('a', 5)),
      lock.run(holder('b', 1)),
      lock.run(holder('c', 3)),
    ])
    expect(results).toEqual(['a', 'b', 'c'])
    expect(events).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end'])
  })

  it('gives a holder’s error to its own caller only, and keeps going', async () => {
    const lock = new WriteLock()
    const failing = lock.run(async () => {
      throw new Error('boom')
    })
    const next = lock.run(async () => 'after')
    await expect(failing).rejects.toThrow('boom')
    expect(await next).toBe('after')
  })

  it('idle() resolves after every holder queued before it, even failing ones', async () => {
    const lock = new WriteLock()
    const done: string[] = []
    void lock.run(async () => {
      await Promise.resolve()
      done.push('first')
    })
    lock
      .run(async () => {
        done.push('second')
        throw new Error('ignored here')
      })
      .catch(() => undefined)
    await lock.idle()
    expect(done).toEqual(['first', 'second'])
  })
})
