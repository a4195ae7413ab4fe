// The status replayer over a real status queue: batches in seq order within the item and frame
// bounds, a dropped connection ends the run cleanly and the next run resends only the
// unacknowledged batch, a stalled acknowledgement and stop() end the run with their codes.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  createStatusQueue,
  createStatusReplayer,
  MIN_REPLAY_FRAME_BYTES,
  type StatusQueue,
} from '../../agent/status-queue/index.js'
import type { StatusAck, StatusReplay } from '../../protocol/control-messages.js'
import { encodeControlMessage } from '../../protocol/control-messages.js'
import { LifeboatError } from '../../protocol/errors.js'
import { MessageType } from '../../protocol/message-types.js'
import { logEntry, progress, result } from './updates.js'

let dataDir: string
let queue: StatusQueue

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'lifeboat-status-replay-'))
  queue = createStatusQueue({ dataDir })
  await queue.open()
})

afterEach(async () => {
  await queue.close()
  await rm(dataDir, { recursive: true, force: true })
})

/** A coordinator that acknowledges each batch up to its last item, and remembers what it received. */
function coordinator() {
  const received: number[] = []
  const batches: StatusReplay[] = []
  const send = async (replay: StatusReplay): Promise<StatusAck> => {
    // Every batch must be a valid STATUS_REPLAY frame body.
    encodeControlMessage(replay)
    batches.push(replay)
    for (const item of replay.items) received.push(item.seq)
    return { t: MessageType.STATUS_ACK, rid: replay.rid, seq: replay.items.at(-1)!.seq }
  }
  return { received, batches, send }
}

const connectionLost = () =>
  new LifeboatError('CONTROL_CONNECTION_LOST', 'the connection to the coordinator closed', {
    remediation: 'It reconnects by itself.',
    retryable: true,
  })

describe('status replayer', () => {
  it('sends everything queued in seq order, in bounded batches, and empties the queue', async () => {
    for (let i = 1; i <= 23; i++)
      await queue.append(i % 7 === 0 ? result(`job-${i}`, 'l') : progress('job-1', i))
    const peer = coordinator()
    const replayer = createStatusReplayer({ maxBatchItems: 5 }, { queue, send: peer.send })
    const report = await replayer.run()
    expect(report).toMatchObject({ complete: true, batches: 5, acknowledged: 23 })
    expect(report.stoppedBy).toBeUndefined()
    expect(peer.received).toEqual(Array.from({ length: 23 }, (_, i) => i + 1))
    expect(peer.batches.every((b) => b.items.length <= 5)).toBe(true)
    expect(queue.stats()).toMatchObject({ size: 0, acknowledgedSeq: 23 })
    expect(replayer.running).toBe(false)
  })

  it('cuts a batch of large log entries to the frame bound', async () => {
    const big = 'x'.repeat(4000)
    for (let i = 0; i < 40; i++) await queue.append(logEntry('job-1', `${i} ${big}`))
    const peer = coordinator()
    const replayer = createStatusReplayer(
      { maxFrameBytes: MIN_REPLAY_FRAME_BYTES },
      { queue, send: peer.send },
    )
    expect(await replayer.run()).toMatchObject({ complete: true })
    expect(peer.batches.length).toBeGreaterThan(1)
    for (const batch of peer.batches) {
      expect(encodeControlMessage(batch).byteLength).toBeLessThanOrEqual(MIN_REPLAY_FRAME_BYTES)
    }
    expect(peer.received).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
  })

  it('stops cleanly when the connection drops, and the next run resends only the unacknowledged batch', async () => {
    for (let i = 1; i <= 20; i++) await queue.append(progress('job-1', i))
    const peer = coordinator()
    let calls = 0
    // The third batch reaches the coordinator, but its acknowledgement is lost with the connection.
    const flaky = async (replay: StatusReplay): Promise<StatusAck> => {
      calls++
      const ack = await peer.send(replay)
      if (calls === 3) throw connectionLost()
      return ack
    }
    const replayer = createStatusReplayer({ maxBatchItems: 4 }, { queue, send: flaky })
    const first = await replayer.run()
    expect(first).toMatchObject({ complete: false, batches: 2, acknowledged: 8 })
    expect(first.stoppedBy?.code).toBe('CONTROL_CONNECTION_LOST')
    expect((await queue.pending(100)).map((u) => u.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 9))

    // Reconnected: more updates were made meanwhile.
    for (let i = 21; i <= 22; i++) await queue.append(progress('job-1', i))
    const second = await replayer.run()
    expect(second).toMatchObject({ complete: true })
    const counts = new Map<number, number>()
    for (const seq of peer.received) counts.set(seq, (counts.get(seq) ?? 0) + 1)
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 22 }, (_, i) => i + 1))
    const repeated = [...counts].filter(([, n]) => n > 1).map(([seq]) => seq)
    expect(repeated).toEqual([9, 10, 11, 12])
    expect(Math.max(...counts.values())).toBe(2)
    expect(queue.stats().size).toBe(0)
  })

  it('stops with AGENT_STATUS_REPLAY_STALLED when an acknowledgement covers none of its batch', async () => {
    for (let i = 1; i <= 3; i++) await queue.append(progress('job-1', i))
    await queue.acknowledge(1)
    const replayer = createStatusReplayer(
      {},
      { queue, send: async (replay) => ({ t: MessageType.STATUS_ACK, rid: replay.rid, seq: 1 }) },
    )
    const report = await replayer.run()
    expect(report.complete).toBe(false)
    expect(report.stoppedBy?.code).toBe('AGENT_STATUS_REPLAY_STALLED')
    expect(queue.stats().size).toBe(2)
  })

  it('stop() ends the run after the batch in flight; a concurrent run() joins the same run', async () => {
    for (let i = 1; i <= 10; i++) await queue.append(progress('job-1', i))
    const peer = coordinator()
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const replayer = createStatusReplayer(
      { maxBatchItems: 2 },
      {
        queue,
        send: async (replay) => {
          await gate
          return peer.send(replay)
        },
      },
    )
    const run = replayer.run()
    expect(replayer.run()).toBe(run)
    replayer.stop()
    release()
    const report = await run
    expect(report).toMatchObject({ complete: false, batches: 1, acknowledged: 2 })
    expect(report.stoppedBy?.code).toBe('AGENT_STATUS_REPLAY_STOPPED')
    expect(await replayer.run()).toMatchObject({ complete: true, acknowledged: 8 })
  })
})
