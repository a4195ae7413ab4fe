/**
 * The connector's side of a block stream after VOLUME_OPENED (docs/PROTOCOL.md §4 "Block stream",
 * §9): HAVE_QUERY is answered at once; BLOCK_BATCHes are stored one after another in the order they
 * arrived while the stream keeps being read, so the appliance can keep up to MAX_UNACKED_BATCHES
 * batches in flight; COMMIT waits for the batches before it; ABORT, an ERROR or the stream's end
 * finishes the session without a recovery point.
 *
 * The *unacknowledged count* is batches received and not yet answered (BATCH_ACK or ERROR). It goes
 * down just before the answer is sent: the appliance can only have sent batch n + MAX_UNACKED_BATCHES
 * after reading the answer to batch n, so a batch that finds MAX_UNACKED_BATCHES already waiting
 * broke the window and is refused (AGENT_BLOCKS_TOO_MANY_UNACKED). Memory stays bounded: at most
 * MAX_UNACKED_BATCHES batches (17 MiB frames) wait to be stored per stream.
 *
 * Refusals of batches and commits are application refusals (§6): the stream stays usable, the
 * volume is spoiled (volume-session.ts) and the appliance is expected to abort.
 */
import {
  type BlockBatch,
  type Commit,
  checkBatchForVolume,
  MAX_UNACKED_BATCHES,
  MessageType,
  RemoteError,
  UnexpectedMessageError,
} from '../../protocol/index.js'
import type { BlockChannel } from '../../transport/message-channel.js'
import type { AgentLogger } from '../control/logger.js'
import { BlockLinkError, BlockLinkErrorCode } from './errors.js'
import type { VolumeSession } from './volume-session.js'

export interface VolumeConversationContext {
  channel: BlockChannel
  session: VolumeSession
  peerId: string
  logger: AgentLogger
}

/** Serves the session until COMMITTED and the appliance's close, ABORT, an ERROR or the end. */
export async function serveVolume(context: VolumeConversationContext): Promise<void> {
  const { channel, session, peerId, logger } = context
  const { volumeId, jobId } = session.open
  const fields = { peerId, jobId, volumeId }
  // Batches and the commit run one after another on this chain; it never rejects.
  let work: Promise<void> = Promise.resolve()
  let unacked = 0
  // An object, not a let: the chain's closures change it while the loop reads it.
  const state: { commit: 'none' | 'pending' | 'done' } = { commit: 'none' }

  const storeBatch = async (batch: BlockBatch): Promise<void> => {
    try {
      const ack = await session.storeBatch(batch)
      unacked--
      await channel.send(ack).catch(() => undefined)
    } catch (error) {
      unacked--
      refusedBatch(logger, fields, batch.seq, error)
      await channel.sendError(error, { reType: MessageType.BLOCK_BATCH, reId: batch.seq })
    }
  }

  const commit = async (message: Commit): Promise<void> => {
    try {
      const made = await session.commit(message)
      state.commit = 'done'
      logger.info(
        {
          event: 'volume-committed',
          ...fields,
          recoveryPointId: made.committed.recoveryPointId,
          mapDigest: made.mapDigest,
          dataBlocks: made.dataBlocks,
          ...session.progress,
        },
        'committed a recovery point',
      )
      await channel.send(made.committed).catch(() => undefined)
    } catch (error) {
      state.commit = 'none'
      logger.warn(
        { event: 'commit-refused', ...fields, code: codeOf(error), err: error },
        `refused a commit: ${(error as Error).message}`,
      )
      await channel.sendError(error, { reType: MessageType.COMMIT, reId: message.rid })
    }
  }

  try {
    for (;;) {
      const message = await channel.receive()
      if (message === undefined) return
      switch (message.t) {
        case MessageType.HAVE_QUERY: {
          let answer: ReturnType<VolumeSession['haveAnswer']>
          try {
            answer = session.haveAnswer(message)
          } catch (error) {
            await channel.sendError(error, { reType: MessageType.HAVE_QUERY, reId: message.rid })
            break
          }
          await channel.send(answer)
          break
        }
        case MessageType.BLOCK_BATCH: {
          if (state.commit !== 'none') {
            await channel.refuse(new UnexpectedMessageError(message.t, 'after COMMIT', { reId: message.seq }))
            break
          }
          const refusal = batchRefusal(session, message, unacked)
          if (refusal !== undefined) {
            session.spoil(message.seq)
            refusedBatch(logger, fields, message.seq, refusal)
            await channel.sendError(refusal, { reType: MessageType.BLOCK_BATCH, reId: message.seq })
            break
          }
          unacked++
          work = work.then(() => storeBatch(message))
          break
        }
        case MessageType.COMMIT: {
          if (state.commit !== 'none') {
            await channel.refuse(
              new UnexpectedMessageError(
                message.t,
                state.commit === 'done' ? 'after COMMITTED' : 'while a COMMIT is pending',
                { reId: message.rid },
              ),
            )
            break
          }
          state.commit = 'pending'
          work = work.then(() => commit(message))
          break
        }
        case MessageType.ABORT: {
          await work
          logger.info(
            { event: 'volume-aborted', ...fields, code: message.reason.code, ...session.progress },
            `the appliance aborted the volume: ${message.reason.message}`,
          )
          return
        }
        case MessageType.ERROR: {
          // Never answered (§6): the appliance gave up on the stream.
          const remote = new RemoteError(message)
          logger.info(
            { event: 'block-stream-error', ...fields, code: remote.code },
            `appliance sent an error: ${remote.message}`,
          )
          return
        }
        default:
          await channel.refuse(
            new UnexpectedMessageError(message.t, 'on a block stream with an open volume', refOf(message)),
          )
      }
    }
  } finally {
    await work
    if (state.commit !== 'done') {
      logger.info({ event: 'volume-closed', ...fields, ...session.progress }, 'volume ended without a commit')
    }
    session.release()
  }
}

/** Why a batch is refused before it is queued: it breaks the window or does not fit the volume. */
function batchRefusal(session: VolumeSession, batch: BlockBatch, unacked: number): Error | undefined {
  if (unacked >= MAX_UNACKED_BATCHES) {
    return new BlockLinkError(
      BlockLinkErrorCode.TOO_MANY_UNACKED,
      `block batch ${batch.seq} arrived with ${unacked} batches unacknowledged, at most ${MAX_UNACKED_BATCHES}`,
      {
        remediation: `Wait for BATCH_ACKs: at most ${MAX_UNACKED_BATCHES} batches may be in flight (docs/PROTOCOL.md §4).`,
      },
    )
  }
  try {
    checkBatchForVolume(batch, session.open)
  } catch (error) {
    return error as Error
  }
  return undefined
}

function refusedBatch(
  logger: AgentLogger,
  fields: Record<string, string>,
  seq: number,
  error: unknown,
): void {
  logger.warn(
    { event: 'batch-refused', ...fields, seq, code: codeOf(error), err: error },
    `refused block batch ${seq}: ${(error as Error).message}`,
  )
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown }).code
}

function refOf(message: { t: number }): { reId?: number } {
  const m = message as { rid?: unknown; seq?: unknown }
  if (typeof m.rid === 'number') return { reId: m.rid }
  if (typeof m.seq === 'number') return { reId: m.seq }
  return {}
}
