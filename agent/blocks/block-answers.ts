/**
 * The appliance's reader of a block stream after VOLUME_OPENED: one loop reads every frame the
 * connector sends and hands each answer to whoever waits for it — a HAVE_ANSWER or COMMITTED by its
 * `rid`, a BATCH_ACK by its `seq` — so the sender can keep queries and batches in flight at once.
 *
 * Any ERROR from the connector ends the volume: a refused batch spoils it on the connector
 * (docs/PROTOCOL.md §9), and a refused query or commit leaves nothing to continue. Every waiter,
 * present and future, then rejects with the RemoteError it carries, as does the stream's end (the
 * connector closed without answering: AGENT_BLOCKS_NO_ANSWER) or a read failure, or the connector's
 * *silence*: no frame from it for the answer timeout while an answer is due
 * (AGENT_BLOCKS_ANSWER_TIMEOUT). The deadline restarts with every frame, so a slow link that keeps
 * acknowledging is never cut off. Each wait also ends with the caller's signal.
 */
import {
  type BatchAck,
  type Committed,
  type DataMessage,
  errorFromFrame,
  type HaveAnswer,
  MessageType,
  UnexpectedMessageError,
} from '../../protocol/index.js'
import { abortedError } from '../../transport/index.js'
import type { BlockChannel } from '../../transport/message-channel.js'
import { BlockLinkError, BlockLinkErrorCode } from './errors.js'

/** How long the connector may send nothing while an answer (a batch stored, a commit made) is due. */
export const DEFAULT_ANSWER_TIMEOUT_MS = 120_000

type Answer = HaveAnswer | BatchAck | Committed

interface Waiter {
  resolve(answer: Answer): void
  reject(error: unknown): void
}

export class BlockAnswers {
  readonly #channel: BlockChannel
  readonly #connectorId: string
  readonly #timeoutMs: number
  /** Keyed `r<rid>` for requests, `s<seq>` for batches. */
  readonly #waiting = new Map<string, Waiter>()
  /** Keys whose wait ended by the caller's abort: a late answer to one is dropped, not refused. */
  readonly #abandoned = new Set<string>()
  /** Armed while anything waits; re-armed by every frame the connector sends. */
  #silence: NodeJS.Timeout | undefined
  #failure: unknown

  constructor(channel: BlockChannel, connectorId: string, timeoutMs = DEFAULT_ANSWER_TIMEOUT_MS) {
    this.#channel = channel
    this.#connectorId = connectorId
    this.#timeoutMs = timeoutMs
    void this.#read()
  }

  /** Waits for the HAVE_ANSWER of request `rid`. Register before sending. */
  haveAnswer(rid: number, signal?: AbortSignal): Promise<HaveAnswer> {
    return this.#wait(`r${rid}`, signal) as Promise<HaveAnswer>
  }

  /** Waits for the BATCH_ACK of batch `seq`. Register before sending. */
  batchAck(seq: number, signal?: AbortSignal): Promise<BatchAck> {
    return this.#wait(`s${seq}`, signal) as Promise<BatchAck>
  }

  /** Waits for the COMMITTED answering COMMIT `rid`. Register before sending. */
  committed(rid: number, signal?: AbortSignal): Promise<Committed> {
    return this.#wait(`r${rid}`, signal) as Promise<Committed>
  }

  #wait(key: string, signal?: AbortSignal): Promise<Answer> {
    if (this.#failure !== undefined) {
      // As below: the sender may never await this wait, and a stream that already failed must not
      // turn it into an unhandled rejection (it would end the appliance's process).
      const failed = Promise.reject(this.#failure)
      failed.catch(() => undefined)
      return failed
    }
    let resolve!: (answer: Answer) => void
    let reject!: (error: unknown) => void
    const promise = new Promise<Answer>((res, rej) => {
      resolve = res
      reject = rej
    })
    // The sender may not await every wait (it stops at the first failure): never unhandled.
    promise.catch(() => undefined)
    const onAbort = (): void => {
      this.#waiting.delete(key)
      this.#abandoned.add(key)
      this.#armSilence(false)
      reject(abortedError(signal!, "waiting for the connector's answer"))
    }
    if (signal?.aborted === true) {
      onAbort()
      return promise
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    const settle = (): void => signal?.removeEventListener('abort', onAbort)
    this.#waiting.set(key, {
      resolve: (answer) => {
        settle()
        resolve(answer)
      },
      reject: (error) => {
        settle()
        reject(error)
      },
    })
    this.#armSilence(false)
    return promise
  }

  /**
   * Keeps the silence deadline armed exactly while something waits. `heard`: a frame just arrived,
   * so the deadline starts again; otherwise a running deadline is left as it is.
   */
  #armSilence(heard: boolean): void {
    if (this.#waiting.size === 0 || this.#failure !== undefined) {
      clearTimeout(this.#silence)
      this.#silence = undefined
      return
    }
    if (this.#silence !== undefined && !heard) return
    clearTimeout(this.#silence)
    this.#silence = setTimeout(() => {
      this.#silence = undefined
      this.#fail(
        new BlockLinkError(
          BlockLinkErrorCode.ANSWER_TIMEOUT,
          `connector ${this.#connectorId} sent nothing for ${this.#timeoutMs} ms while answers were due`,
          {
            remediation: 'The connector is overloaded or its store is stalled; read its log, then retry.',
            retryable: true,
          },
        ),
      )
    }, this.#timeoutMs)
  }

  async #read(): Promise<void> {
    try {
      for (;;) {
        const message: DataMessage | undefined = await this.#channel.receive()
        if (message === undefined) {
          this.#fail(
            new BlockLinkError(
              BlockLinkErrorCode.NO_ANSWER,
              `connector ${this.#connectorId} closed the block stream with requests unanswered`,
              { remediation: 'Check the connector runs and its log for why; then retry.', retryable: true },
            ),
          )
          return
        }
        if (message.t === MessageType.ERROR) {
          this.#fail(errorFromFrame(message))
          return
        }
        const key = keyOf(message)
        const waiter = key === undefined ? undefined : this.#waiting.get(key)
        if (waiter === undefined) {
          if (key !== undefined && this.#abandoned.delete(key)) {
            this.#armSilence(true)
            continue
          }
          await this.#channel.refuse(
            new UnexpectedMessageError(message.t, 'while no request of this stream waits for it'),
          )
          continue
        }
        this.#waiting.delete(key!)
        this.#armSilence(true)
        waiter.resolve(message as Answer)
      }
    } catch (error) {
      this.#fail(error)
    }
  }

  /** Rejects every waiter, and every later wait, with `error`. */
  #fail(error: unknown): void {
    if (this.#failure !== undefined) return
    this.#failure = error
    this.#armSilence(false)
    const waiters = [...this.#waiting.values()]
    this.#waiting.clear()
    for (const waiter of waiters) waiter.reject(error)
  }
}

function keyOf(message: DataMessage): string | undefined {
  switch (message.t) {
    case MessageType.HAVE_ANSWER:
    case MessageType.COMMITTED:
      return `r${message.rid}`
    case MessageType.BATCH_ACK:
      return `s${message.seq}`
    default:
      return undefined
  }
}
