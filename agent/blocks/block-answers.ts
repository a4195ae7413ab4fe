/**
 * The appliance's reader of a block stream after VOLUME_OPENED: one loop reads every frame the
 * connector sends and hands each answer to whoever waits for it — a HAVE_ANSWER or COMMITTED by its
 * `rid`, a BATCH_ACK by its `seq` — so the sender can keep queries and batches in flight at once.
 *
 * Any ERROR from the connector ends the volume: a refused batch spoils it on the connector
 * (docs/PROTOCOL.md §9), and a refused query or commit leaves nothing to continue. Every waiter,
 * present and future, then rejects with the RemoteError it carries, as does the stream's end (the
 * connector closed without answering: AGENT_BLOCKS_NO_ANSWER) or a read failure. Each wait has a
 * deadline (AGENT_BLOCKS_ANSWER_TIMEOUT) and the caller's signal.
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

/** How long the appliance waits for any one answer: a batch stored, a commit made. */
export const DEFAULT_ANSWER_TIMEOUT_MS = 120_000

type Answer = HaveAnswer | BatchAck | Committed

interface Waiter {
  what: string
  resolve(answer: Answer): void
  reject(error: unknown): void
}

export class BlockAnswers {
  readonly #channel: BlockChannel
  readonly #connectorId: string
  readonly #timeoutMs: number
  /** Keyed `r<rid>` for requests, `s<seq>` for batches. */
  readonly #waiting = new Map<string, Waiter>()
  /** Keys whose wait ended by deadline or abort: a late answer to one is dropped, not refused. */
  readonly #abandoned = new Set<string>()
  #failure: unknown
  readonly done: Promise<void>

  constructor(channel: BlockChannel, connectorId: string, timeoutMs = DEFAULT_ANSWER_TIMEOUT_MS) {
    this.#channel = channel
    this.#connectorId = connectorId
    this.#timeoutMs = timeoutMs
    this.done = this.#read()
  }

  /** The first failure of the stream, once there is one. */
  get failure(): unknown {
    return this.#failure
  }

  /** Waits for the HAVE_ANSWER of request `rid`. Register before sending. */
  haveAnswer(rid: number, signal?: AbortSignal): Promise<HaveAnswer> {
    return this.#wait(`r${rid}`, `HAVE_QUERY ${rid}`, signal) as Promise<HaveAnswer>
  }

  /** Waits for the BATCH_ACK of batch `seq`. Register before sending. */
  batchAck(seq: number, signal?: AbortSignal): Promise<BatchAck> {
    return this.#wait(`s${seq}`, `block batch ${seq}`, signal) as Promise<BatchAck>
  }

  /** Waits for the COMMITTED answering COMMIT `rid`. Register before sending. */
  committed(rid: number, signal?: AbortSignal): Promise<Committed> {
    return this.#wait(`r${rid}`, `COMMIT ${rid}`, signal) as Promise<Committed>
  }

  #wait(key: string, what: string, signal?: AbortSignal): Promise<Answer> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    let resolve!: (answer: Answer) => void
    let reject!: (error: unknown) => void
    const promise = new Promise<Answer>((res, rej) => {
      resolve = res
      reject = rej
    })
    const timer = setTimeout(() => {
      this.#abandon(key)
      reject(
        new BlockLinkError(
          BlockLinkErrorCode.ANSWER_TIMEOUT,
          `connector ${this.#connectorId} did not answer ${what} within ${this.#timeoutMs} ms`,
          {
            remediation: 'The connector is overloaded or its store is stalled; read its log, then retry.',
            retryable: true,
          },
        ),
      )
    }, this.#timeoutMs)
    const onAbort = (): void => {
      this.#abandon(key)
      reject(abortedError(signal!, `waiting for the answer to ${what}`))
    }
    const settle = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    this.#waiting.set(key, {
      what,
      resolve: (answer) => {
        settle()
        resolve(answer)
      },
      reject: (error) => {
        settle()
        reject(error)
      },
    })
    if (signal?.aborted === true) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
    // The sender may not await every wait (it stops at the first failure): never unhandled.
    promise.catch(() => undefined)
    return promise
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
          if (key !== undefined && this.#abandoned.delete(key)) continue
          await this.#channel.refuse(
            new UnexpectedMessageError(message.t, 'while no request of this stream waits for it'),
          )
          continue
        }
        this.#waiting.delete(key!)
        waiter.resolve(message as Answer)
      }
    } catch (error) {
      this.#fail(error)
    }
  }

  #abandon(key: string): void {
    if (this.#waiting.delete(key)) this.#abandoned.add(key)
  }

  /** Rejects every waiter, and every later wait, with `error`. */
  #fail(error: unknown): void {
    if (this.#failure !== undefined) return
    this.#failure = error
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
