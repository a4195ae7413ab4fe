// The typed event bus: delivery, unsubscribe, isolation of failing handlers, bounded async work.
import { describe, expect, it } from 'vitest'
import { createEventBus } from '../../../coordinator/events/event-bus.js'
import { createLifecycleEvents, type JobQueuedEvent } from '../../../coordinator/events/lifecycle-events.js'
import { recordingLogger } from './recording-logger.js'

interface TestEvents {
  ping: { n: number }
  pong: { text: string }
}

const queued: JobQueuedEvent = {
  tenantId: 't1',
  jobId: 'j1',
  jobType: 'maintenance',
  source: 'manual',
  at: 1,
}

describe('event bus', () => {
  it('delivers each payload to the handlers of its type, in subscription order', () => {
    const bus = createEventBus<TestEvents>()
    const seen: string[] = []
    bus.on('ping', (p) => {
      seen.push(`a${p.n}`)
    })
    bus.on('ping', (p) => {
      seen.push(`b${p.n}`)
    })
    bus.on('pong', (p) => {
      seen.push(p.text)
    })
    bus.emit('ping', { n: 1 })
    bus.emit('pong', { text: 'x' })
    expect(seen).toEqual(['a1', 'b1', 'x'])
    expect(bus.listenerCount('ping')).toBe(2)
    expect(bus.listenerCount()).toBe(3)
  })

  it('stops delivering after unsubscribe, and unsubscribe twice is harmless', () => {
    const bus = createEventBus<TestEvents>()
    const seen: number[] = []
    const off = bus.on('ping', (p) => {
      seen.push(p.n)
    })
    bus.emit('ping', { n: 1 })
    off()
    off()
    bus.emit('ping', { n: 2 })
    expect(seen).toEqual([1])
    expect(bus.listenerCount('ping')).toBe(0)
  })

  it('unsubscribes when the signal aborts, and subscribes nothing on an aborted signal', () => {
    const bus = createEventBus<TestEvents>()
    const controller = new AbortController()
    const seen: number[] = []
    bus.on('ping', (p) => seen.push(p.n), { signal: controller.signal })
    bus.emit('ping', { n: 1 })
    controller.abort()
    bus.emit('ping', { n: 2 })
    bus.on('ping', (p) => seen.push(p.n), { signal: controller.signal })
    bus.emit('ping', { n: 3 })
    expect(seen).toEqual([1])
    expect(bus.listenerCount()).toBe(0)
  })

  it('a handler that throws is logged with its code and breaks neither other handlers nor the emitter', () => {
    const log = recordingLogger()
    const bus = createEventBus<TestEvents>({}, { log })
    const seen: number[] = []
    bus.on('ping', () => {
      throw Object.assign(new Error('boom'), { code: 'SOME_CODE', remediation: 'r' })
    })
    bus.on('ping', (p) => {
      seen.push(p.n)
    })
    expect(() => bus.emit('ping', { n: 7 })).not.toThrow()
    expect(seen).toEqual([7])
    const failures = log.find('event-handler-failed', 'error')
    expect(failures).toHaveLength(1)
    expect(failures[0].fields).toMatchObject({ type: 'ping', code: 'SOME_CODE' })
    expect(bus.stats().handlerErrors).toBe(1)
  })

  it('an async handler that rejects is logged; a plain Error gets the INTERNAL code', async () => {
    const log = recordingLogger()
    const bus = createEventBus<TestEvents>({}, { log })
    bus.on('ping', async () => {
      throw new Error('later')
    })
    bus.emit('ping', { n: 1 })
    await new Promise((resolve) => setImmediate(resolve))
    expect(log.find('event-handler-failed')[0].fields).toMatchObject({ type: 'ping', code: 'INTERNAL' })
    expect(bus.stats().handlerErrors).toBe(1)
  })

  it('bounds an async handler to maxPendingPerHandler unsettled calls, dropping for it alone', async () => {
    const log = recordingLogger()
    const bus = createEventBus<TestEvents>({ maxPendingPerHandler: 2 }, { log })
    const resolvers: Array<() => void> = []
    const slow: number[] = []
    const fast: number[] = []
    bus.on('ping', (p) => {
      slow.push(p.n)
      return new Promise<void>((resolve) => resolvers.push(resolve))
    })
    bus.on('ping', (p) => {
      fast.push(p.n)
    })
    for (let n = 1; n <= 5; n++) bus.emit('ping', { n })
    expect(slow).toEqual([1, 2])
    expect(fast).toEqual([1, 2, 3, 4, 5])
    expect(bus.stats().dropped).toBe(3)
    // One warning per episode, not one per dropped event.
    expect(log.find('event-handler-overflow', 'warn')).toHaveLength(1)

    resolvers.shift()?.()
    await new Promise((resolve) => setImmediate(resolve))
    expect(log.find('event-handler-recovered')[0].fields).toMatchObject({ dropped: 3 })
    bus.emit('ping', { n: 6 })
    expect(slow).toEqual([1, 2, 6])
  })

  it('handlers added during an emit are called from the next emit on', () => {
    const bus = createEventBus<TestEvents>()
    const seen: string[] = []
    bus.on('ping', (p) => {
      seen.push(`first${p.n}`)
      bus.on('ping', (q) => {
        seen.push(`late${q.n}`)
      })
    })
    bus.emit('ping', { n: 1 })
    expect(seen).toEqual(['first1'])
    bus.emit('ping', { n: 2 })
    expect(seen).toContain('late2')
  })

  it('refuses an out-of-range option, naming it', () => {
    expect(() => createEventBus({ maxPendingPerHandler: 0 })).toThrow(
      expect.objectContaining({
        code: 'EVENTS_INVALID_OPTION',
        message: expect.stringContaining('maxPendingPerHandler'),
      }),
    )
  })

  it('the lifecycle bus is typed by the lifecycle event map', () => {
    const bus = createLifecycleEvents()
    const seen: string[] = []
    bus.on('queued', (e) => {
      seen.push(`${e.jobId}:${e.source}`)
    })
    bus.emit('queued', queued)
    expect(seen).toEqual(['j1:manual'])
  })
})
