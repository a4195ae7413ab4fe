/**
 * The status replayer: after a reconnect, drains the node's status queue to the coordinator as
 * STATUS_REPLAY batches on the session stream (docs/PROTOCOL.md §4), oldest first, one batch at a
 * time: each waits for its STATUS_ACK, which the queue then applies (deleting everything ≤ its seq)
 * before the next batch is read. So at most one batch — the *unacknowledged window* — is ever sent
 * twice: when the connection drops between a send and its acknowledgement, the next run sends it
 * again, and the coordinator recognises the repeats (docs/RECONCILIATION.md).
 *
 * A batch holds at most `maxBatchItems` (MAX_REPLAY_ITEMS) updates and its frame body at most
 * `maxFrameBytes` (MAX_CONTROL_FRAME_SIZE): a batch of large log entries is cut shorter.
 *
 * A run ends when the queue is empty (`complete`), when `send` fails — the connection dropped: the
 * run stops cleanly and reports why, the updates stay queued for the next run — when stop() was
 * called, or when an acknowledgement covers none of its batch (AGENT_STATUS_REPLAY_STALLED: sending
 * the same batch again would loop forever).
 */
import type { StatusAck, StatusReplay, StatusUpdate } from '../../protocol/control-messages.js'
import { encodeControlMessage } from '../../protocol/control-messages.js'
import { type ErrorBody, toErrorBody } from '../../protocol/errors.js'
import { MAX_CONTROL_FRAME_SIZE, MAX_REPLAY_ITEMS } from '../../protocol/limits.js'
import { MessageType } from '../../protocol/message-types.js'
import { checkInteger, StatusQueueError, StatusQueueErrorCode } from './errors.js'
import type { StatusQueue } from './status-queue.js'

/** The smallest frame bound a replayer accepts: the largest single status update fits with room. */
export const MIN_REPLAY_FRAME_BYTES = 64 * 1024
/** Bytes of a STATUS_REPLAY body besides its items: map header, `t`, `rid`, `items` and array header. */
const REPLAY_OVERHEAD_BYTES = 32

export interface StatusReplayerInit {
  /** Updates per STATUS_REPLAY: 1 – MAX_REPLAY_ITEMS (the default). */
  maxBatchItems?: number
  /** Bytes per STATUS_REPLAY frame body: MIN_REPLAY_FRAME_BYTES – MAX_CONTROL_FRAME_SIZE (the default). */
  maxFrameBytes?: number
}

export interface StatusReplayerComponents {
  queue: StatusQueue
  /** Sends one STATUS_REPLAY on the session stream and resolves with its STATUS_ACK; rejects when the connection is gone. */
  send: (replay: StatusReplay) => Promise<StatusAck>
}

export interface ReplayReport {
  /** The queue was emptied. */
  complete: boolean
  /** STATUS_REPLAY batches acknowledged. */
  batches: number
  /** Updates the acknowledgements removed from the queue. */
  acknowledged: number
  /** Why the run ended before the queue was empty: the send's error, a stall, or stop(). */
  stoppedBy?: ErrorBody
}

export interface StatusReplayer {
  /** Replays until the queue is empty or the run stops; a call during a run joins that run. */
  run(): Promise<ReplayReport>
  /** Ends the current run after its batch in flight (a later run() starts afresh). */
  stop(): void
  readonly running: boolean
}

export function createStatusReplayer(
  init: StatusReplayerInit,
  components: StatusReplayerComponents,
): StatusReplayer {
  const maxBatchItems = checkInteger(
    'maxBatchItems',
    init.maxBatchItems ?? MAX_REPLAY_ITEMS,
    1,
    MAX_REPLAY_ITEMS,
  )
  const maxFrameBytes = checkInteger(
    'maxFrameBytes',
    init.maxFrameBytes ?? MAX_CONTROL_FRAME_SIZE,
    MIN_REPLAY_FRAME_BYTES,
    MAX_CONTROL_FRAME_SIZE,
  )
  const { queue, send } = components
  let current: Promise<ReplayReport> | undefined
  let stopRequested = false
  let rid = 0

  /** The longest prefix of `items` whose STATUS_REPLAY body fits the frame bound. */
  function fitted(items: StatusUpdate[]): StatusReplay {
    let bytes = REPLAY_OVERHEAD_BYTES
    let count = 0
    for (const item of items) {
      bytes += encodeControlMessage(item).byteLength
      if (bytes > maxFrameBytes && count > 0) break
      count++
    }
    rid = (rid + 1) % 2 ** 32
    return { t: MessageType.STATUS_REPLAY, rid, items: items.slice(0, count) }
  }

  async function replay(): Promise<ReplayReport> {
    const report: ReplayReport = { complete: false, batches: 0, acknowledged: 0 }
    for (;;) {
      if (stopRequested) {
        report.stoppedBy = stoppedError().toBody()
        return report
      }
      const items = await queue.pending(maxBatchItems)
      if (items.length === 0) {
        report.complete = true
        return report
      }
      const batch = fitted(items)
      let ack: StatusAck
      try {
        ack = await send(batch)
      } catch (error) {
        // The connection dropped: everything not acknowledged stays queued for the next run.
        report.stoppedBy = toErrorBody(error)
        return report
      }
      const first = batch.items[0].seq
      if (ack.seq < first) {
        report.stoppedBy = stalled(first, ack.seq).toBody()
        return report
      }
      report.acknowledged += await queue.acknowledge(ack.seq)
      report.batches++
    }
  }

  return {
    run() {
      if (current === undefined) {
        stopRequested = false
        current = replay().finally(() => {
          current = undefined
        })
      }
      return current
    },
    stop() {
      if (current !== undefined) stopRequested = true
    },
    get running() {
      return current !== undefined
    },
  }
}

function stoppedError(): StatusQueueError {
  return new StatusQueueError(StatusQueueErrorCode.REPLAY_STOPPED, 'the status replay was stopped', {
    remediation: 'Nothing to do: the queued updates are replayed on the next reconnect.',
    retryable: true,
  })
}

function stalled(first: number, acked: number): StatusQueueError {
  return new StatusQueueError(
    StatusQueueErrorCode.REPLAY_STALLED,
    `the coordinator acknowledged seq ${acked}, below the first update of the replayed batch (${first})`,
    {
      remediation:
        'Run the same Lifeboat version on node and coordinator; the replay is retried on the next reconnect.',
      retryable: true,
    },
  )
}
