// The exclusion grace follows the ack deadline unless set (docs/SCHEDULING.md §7 "Exclusion grace").
import { afterEach, describe, expect, it } from 'vitest'
import {
  DEFAULT_ACK_DEADLINE_MS,
  DEFAULT_EXCLUSION_GRACE_MS,
  dispatcherOptions,
  exclusionGraceFor,
  MAX_EXCLUSION_GRACE_MS,
} from '../../coordinator/dispatch/dispatcher-options.js'
import { CONTROL_PROTOCOL_ID } from '../../protocol/index.js'
import { ControlChannel } from '../../transport/message-channel.js'
import { Cleanup } from '../control/helpers.js'
import { enqueueMaintenance, movableClock, nextEvent, startJobAgent, startJobCoordinator } from './helpers.js'

const cleanup = new Cleanup()
afterEach(() => cleanup.run())

describe('exclusion grace default', () => {
  it('is the ack deadline: 60 s by default, 5 s with a 5 s deadline, 10 min with a 10 min one', () => {
    expect(dispatcherOptions({}).exclusionGraceMs).toBe(DEFAULT_ACK_DEADLINE_MS)
    expect(DEFAULT_EXCLUSION_GRACE_MS).toBe(exclusionGraceFor(DEFAULT_ACK_DEADLINE_MS))
    expect(dispatcherOptions({ ackDeadlineMs: 5_000 }).exclusionGraceMs).toBe(5_000)
    expect(dispatcherOptions({ ackDeadlineMs: 600_000 }).exclusionGraceMs).toBe(600_000)
    expect(exclusionGraceFor(MAX_EXCLUSION_GRACE_MS * 2)).toBe(MAX_EXCLUSION_GRACE_MS)
  })

  it('an explicit grace wins over the derived one, and is still checked', () => {
    expect(dispatcherOptions({ ackDeadlineMs: 5_000, exclusionGraceMs: 0 }).exclusionGraceMs).toBe(0)
    expect(dispatcherOptions({ ackDeadlineMs: 5_000, exclusionGraceMs: 90_000 }).exclusionGraceMs).toBe(
      90_000,
    )
    expect(() => dispatcherOptions({ exclusionGraceMs: -1 })).toThrow(
      expect.objectContaining({ code: 'DISPATCH_INVALID_OPTION' }),
    )
  })
})

describe('exclusion grace end to end', () => {
  it('the only node of a site, having let an offer lapse, gets it again one ack deadline later', async () => {
    const clock = movableClock()
    // No exclusionGraceMs given: it follows the 1 s ack deadline.
    const c = await startJobCoordinator(cleanup, { exclusionGraceMs: undefined }, 'lifeboat-grace-', {
      jobClock: clock,
    })
    const a = await startJobAgent(cleanup, c, { heartbeatIntervalMs: 5_000 })
    await a.jobs.stop()
    const held: ControlChannel[] = []
    cleanup.add(() => Promise.all(held.map((channel) => channel.close().catch(() => undefined))))
    // Answers the HELLO, never the offer.
    await a.client.handle(CONTROL_PROTOCOL_ID, async (stream) => {
      const channel = new ControlChannel(stream)
      held.push(channel)
      const hello = await channel.receiveHello()
      await channel.send({ ...hello!, nodeId: a.node.peerId.toString(), role: 'appliance' })
    })
    const nodeId = a.node.peerId.toString()
    const first = nextEvent(c, 'offered', (e) => e.jobId === 'g1')
    await enqueueMaintenance(c, 'g1')
    expect((await first).nodeId).toBe(nodeId)
    const retried = nextEvent(c, 'retried', (e) => e.jobId === 'g1')
    clock.advance(1_100)
    c.dispatcher.poke()
    expect((await retried).reason.code).toBe('DISPATCH_ACK_TIMEOUT')
    // Excluded, and the only node: the job waits in the queue for the grace, then goes to it again.
    const again = nextEvent(c, 'offered', (e) => e.jobId === 'g1')
    clock.advance(1_100)
    c.dispatcher.poke()
    expect((await again).nodeId).toBe(nodeId)
  })
})
