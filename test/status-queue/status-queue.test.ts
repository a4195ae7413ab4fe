// The node's status queue on classic-level: seq order across restarts, acknowledgement, the bound
// (oldest PROGRESS dropped first, RESULTs kept), corrupt records quarantined, invalid input refused.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createStatusQueue,
  droppedNotice,
  type StatusQueue,
  type StatusQueueError,
  seqKey,
  statusQueueLocation,
} from '../../agent/status-queue/index.js'
import { MessageType } from '../../protocol/message-types.js'
import { expectCode } from '../coordinator/conformance/fixture.js'
import { handback, logEntry, progress, result } from './updates.js'

let dataDir: string
const opened: StatusQueue[] = []

async function openQueue(
  maxItems?: number,
  onQuarantine?: (e: StatusQueueError) => void,
): Promise<StatusQueue> {
  const queue = createStatusQueue(
    { dataDir, ...(maxItems === undefined ? {} : { maxItems }) },
    { onQuarantine },
  )
  await queue.open()
  opened.push(queue)
  return queue
}

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'lifeboat-status-queue-'))
})

afterEach(async () => {
  for (const queue of opened.splice(0)) await queue.close()
  await rm(dataDir, { recursive: true, force: true })
})

describe('status queue', () => {
  it('numbers updates from 1 in order and keeps them, in order, across close and reopen', async () => {
    const queue = await openQueue()
    const first = await queue.append(progress('job-1', 10))
    const second = await queue.append(logEntry('job-1', 'started copy'))
    const third = await queue.append(result('job-1', 'lease-1'))
    expect([first.update.seq, second.update.seq, third.update.seq]).toEqual([1, 2, 3])
    await queue.close()

    const again = await openQueue()
    expect(again.stats()).toMatchObject({ size: 3, lastSeq: 3 })
    const pending = await again.pending()
    expect(pending.map((u) => [u.seq, u.t])).toEqual([
      [1, MessageType.PROGRESS],
      [2, MessageType.LOG_ENTRY],
      [3, MessageType.RESULT],
    ])
    expect(pending[2]).toMatchObject({ jobId: 'job-1', leaseId: 'lease-1', ok: true, summary: { bytes: 42 } })
    const next = await again.append(handback('job-2', 'lease-2'))
    expect(next.update.seq).toBe(4)
  })

  it('never reuses a seq, even when everything was acknowledged before the restart', async () => {
    const queue = await openQueue()
    for (let i = 0; i < 5; i++) await queue.append(progress('job-1', i))
    expect(await queue.acknowledge(5)).toBe(5)
    await queue.close()
    const again = await openQueue()
    expect(again.stats()).toMatchObject({ size: 0, lastSeq: 5, acknowledgedSeq: 5 })
    expect((await again.append(progress('job-1', 6))).update.seq).toBe(6)
  })

  it('gives concurrent appends consecutive seqs in call order', async () => {
    const queue = await openQueue()
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        queue.append(i % 10 === 9 ? result(`job-${i}`, 'l') : progress('job-1', i)),
      ),
    )
    expect(results.map((r) => r.update.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect((await queue.pending(100)).map((u) => u.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
  })

  it('pending(limit) returns the oldest, in seq order', async () => {
    const queue = await openQueue()
    for (let i = 0; i < 10; i++) await queue.append(progress('job-1', i))
    expect((await queue.pending(3)).map((u) => u.seq)).toEqual([1, 2, 3])
    await queue.acknowledge(2)
    expect((await queue.pending(3)).map((u) => u.seq)).toEqual([3, 4, 5])
  })

  it('acknowledge deletes exactly the updates with seq ≤ its argument, and an older ack deletes nothing', async () => {
    const queue = await openQueue()
    for (let i = 0; i < 6; i++) await queue.append(i === 2 ? result('job-1', 'l') : progress('job-1', i))
    expect(await queue.acknowledge(4)).toBe(4)
    expect((await queue.pending()).map((u) => u.seq)).toEqual([5, 6])
    expect(await queue.acknowledge(3)).toBe(0)
    expect(await queue.acknowledge(4)).toBe(0)
    expect((await queue.pending()).map((u) => u.seq)).toEqual([5, 6])
    await queue.close()
    const again = await openQueue()
    expect((await again.pending()).map((u) => u.seq)).toEqual([5, 6])
    expect(again.stats().acknowledgedSeq).toBe(4)
  })

  it('refuses an acknowledgement of a seq never assigned', async () => {
    const queue = await openQueue()
    await queue.append(progress('job-1', 1))
    await expectCode(queue.acknowledge(2), 'AGENT_STATUS_INVALID_ACK')
    expect(queue.stats().size).toBe(1)
  })

  it('at the bound drops the oldest PROGRESS first, then LOG_ENTRY, and keeps every RESULT', async () => {
    const queue = await openQueue(5)
    await queue.append(result('job-1', 'l1')) // 1
    await queue.append(progress('job-2', 1)) // 2
    await queue.append(logEntry('job-2', 'a')) // 3
    await queue.append(progress('job-2', 2)) // 4
    await queue.append(result('job-3', 'l3')) // 5
    const sixth = await queue.append(progress('job-2', 3)) // drops 2
    expect(sixth.dropped).toBe(1)
    const seventh = await queue.append(result('job-4', 'l4')) // drops 4
    expect(seventh.dropped).toBe(1)
    expect((await queue.pending()).map((u) => u.seq)).toEqual([1, 3, 5, 6, 7])
    await queue.append(result('job-5', 'l5')) // drops 6 (the last PROGRESS)
    await queue.append(result('job-6', 'l6')) // drops 3 (a LOG_ENTRY, no PROGRESS left)
    expect((await queue.pending()).map((u) => u.seq)).toEqual([1, 5, 7, 8, 9])
    expect(queue.takeDropped()).toBe(4)
    expect(queue.takeDropped()).toBe(0)
    expect(queue.stats().droppedTotal).toBe(4)
    expect(droppedNotice(4).message).toContain('4 status updates were dropped')

    // Only results left: the next update is refused, and nothing queued is lost.
    await expectCode(queue.append(progress('job-7', 1)), 'AGENT_STATUS_QUEUE_FULL')
    await queue.close()
    const again = await openQueue(5)
    const kept = await again.pending()
    expect(kept.map((u) => u.seq)).toEqual([1, 5, 7, 8, 9])
    expect(kept.every((u) => u.t === MessageType.RESULT)).toBe(true)
    await again.acknowledge(5)
    expect((await again.append(progress('job-7', 1))).update.seq).toBe(10)
  })

  it('keeps the bound on disk when reopened with a lower one', async () => {
    const queue = await openQueue(10)
    for (let i = 0; i < 8; i++) await queue.append(progress('job-1', i))
    await queue.close()
    const again = await openQueue(4)
    const appended = await again.append(result('job-1', 'l'))
    expect(appended.dropped).toBe(5)
    expect((await again.pending()).map((u) => u.seq)).toEqual([6, 7, 8, 9])
  })

  it('quarantines a corrupt record with a coded error and goes on reading the rest', async () => {
    const queue = await openQueue()
    for (let i = 0; i < 4; i++) await queue.append(progress('job-1', i))
    await queue.close()
    opened.splice(0)
    const raw = new ClassicLevel<string, Uint8Array>(statusQueueLocation(dataDir), {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    })
    await raw.open()
    await raw.put(seqKey('u!', 2), new Uint8Array([0xc1, 0xff, 0x00]))
    await raw.put('u!garbage', new Uint8Array([1, 2, 3]))
    await raw.close()

    const reported: StatusQueueError[] = []
    const again = await openQueue(undefined, (e) => reported.push(e))
    expect(reported.map((e) => e.code)).toEqual([
      'AGENT_STATUS_RECORD_CORRUPT',
      'AGENT_STATUS_RECORD_CORRUPT',
    ])
    expect(reported[0].remediation.length).toBeGreaterThan(0)
    expect((await again.pending()).map((u) => u.seq)).toEqual([1, 3, 4])
    expect(again.stats().quarantinedTotal).toBe(2)
    expect((await again.append(progress('job-1', 9))).update.seq).toBe(5)
    await again.close()
    opened.splice(0)

    // The quarantined bytes are kept aside, not deleted, and not reported twice.
    const check = new ClassicLevel<string, Uint8Array>(statusQueueLocation(dataDir), {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    })
    await check.open()
    expect([...(await check.get(seqKey('q!', 2)))!]).toEqual([0xc1, 0xff, 0x00])
    expect(await check.get('q!x!u!garbage')).toBeDefined()
    await check.close()
    const third = await openQueue(undefined, (e) => reported.push(e))
    expect(reported).toHaveLength(2)
    expect(third.stats().size).toBe(4)
  })

  it('refuses an update that is not valid on the wire, without using a seq', async () => {
    const queue = await openQueue()
    await expectCode(queue.append({ ...progress('job-1', 1), percent: 101 }), 'AGENT_STATUS_INVALID_UPDATE')
    await expectCode(queue.append({ ...progress('', 1) }), 'AGENT_STATUS_INVALID_UPDATE')
    expect((await queue.append(progress('job-1', 1))).update.seq).toBe(1)
  })

  it('refuses use while closed, and a second queue on the same directory', async () => {
    const queue = createStatusQueue({ dataDir })
    await expectCode(queue.append(progress('job-1', 1)), 'AGENT_STATUS_QUEUE_CLOSED')
    await queue.open()
    opened.push(queue)
    const other = createStatusQueue({ dataDir })
    await expectCode(other.open(), 'AGENT_STATUS_QUEUE_LOCKED')
    expect(() => createStatusQueue({ dataDir, maxItems: 0 })).toThrow(/maxItems/)
  })
})
