/**
 * Reading a libp2p 3 stream with bounded memory, without hangs and without losing bytes.
 *
 * A StreamReader owns the stream's readable side: it listens to 'message' from the moment it is
 * built and queues what arrives. *Unread bytes* are those it queued and nobody has read yet. When
 * they reach the *high-water mark* it pauses the stream, so the Yamux receiver stops granting
 * window and the sender stops; below half of it the stream is resumed. The bytes a paused stream
 * can still receive are bounded by one receive window (limits.ts), so memory per stream stays below
 * `highWaterBytes + 2 × MAX_STREAM_WINDOW_BYTES` however slowly the consumer reads.
 *
 * Pitfalls this module exists for (MEASURED-FACTS "libp2p 3.x on Node 20"):
 * - 4: `for await (const chunk of stream)` never ends when the remote sent and closed before the
 *   loop began, because it waits for a 'remoteCloseWrite' that already fired. Here the end of the
 *   stream is read from the stream's state (`readableEnded`, `remoteWriteStatus`, `status`) as
 *   well as from events, and only once libp2p's own read buffer is empty.
 * - 5: libp2p returns receive credit as soon as bytes arrive; without pausing, a slow consumer let
 *   812 MiB pile up. And `pause()` called inside the dispatch that `resume()` makes is undone when
 *   `resume()` then tells Yamux to resume, so a pause during our own resume is deferred to a
 *   microtask. The stream's `maxReadBufferLength` is raised to hold the window still in flight.
 */
import type { Stream } from '@libp2p/interface'
import {
  abortedError,
  checkIntegerOption,
  TransportError,
  TransportErrorCode,
  toTransportError,
} from './errors.js'
import {
  DEFAULT_READ_HIGH_WATER_BYTES,
  MAX_STREAM_WINDOW_BYTES,
  STREAM_MAX_READ_BUFFER_BYTES,
} from './limits.js'
import { timeoutError } from './stream-events.js'

export interface StreamReaderInit {
  /** Pause the stream when this many bytes are unread. Default 4 MiB. */
  highWaterBytes?: number
}

export interface ReadOptions {
  signal?: AbortSignal
  /** Reject with TRANSPORT_TIMEOUT when no byte arrives for this many ms. Default: no limit. */
  idleTimeoutMs?: number
}

type MessageData = Uint8Array | Iterable<Uint8Array>

export class StreamReader {
  readonly stream: Stream
  private readonly highWaterBytes: number
  private readonly chunks: Uint8Array[] = []
  private head = 0
  private queued = 0
  /** Bytes a pending readExactly needs: the stream stays resumed until they are queued. */
  private demand = 0
  private failure: TransportError | undefined
  private resuming = false
  private pausedByUs = false
  private released = false
  private reading = false
  private peak = 0
  /** Set while a read waits: called on every event that may change what it waits for. */
  private wake: (() => void) | undefined
  private readonly onMessage = (event: Event): void =>
    this.receive((event as unknown as { data: MessageData }).data)
  private readonly onClose = (event: Event): void => {
    const error = (event as { error?: unknown }).error
    if (error !== undefined && this.failure === undefined)
      this.failure = toTransportError(error, 'stream read')
    this.wake?.()
  }
  private readonly onEnd = (): void => this.wake?.()

  constructor(stream: Stream, init: StreamReaderInit = {}) {
    this.stream = stream
    this.highWaterBytes = checkIntegerOption(
      'highWaterBytes',
      init.highWaterBytes ?? DEFAULT_READ_HIGH_WATER_BYTES,
      1,
      STREAM_MAX_READ_BUFFER_BYTES - MAX_STREAM_WINDOW_BYTES,
    )
    if (stream.maxReadBufferLength < STREAM_MAX_READ_BUFFER_BYTES) {
      stream.maxReadBufferLength = STREAM_MAX_READ_BUFFER_BYTES
    }
    if (stream.status === 'reset' || stream.status === 'aborted') {
      this.failure = toTransportError(new Error(`stream ${stream.status}`), 'stream read')
    }
    // Adding a 'message' listener makes libp2p deliver what it buffered before, in a microtask.
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('end', this.onEnd)
    stream.addEventListener('remoteCloseWrite', this.onEnd)
    if (stream.readStatus === 'paused') this.resumeStream()
  }

  /** Unread bytes held by this reader. */
  get bufferedBytes(): number {
    return this.queued
  }

  /** The most bytes held at once by this reader and the stream's read buffer together. */
  get peakBufferedBytes(): number {
    return this.peak
  }

  /**
   * The next chunk as it arrived (any size), or undefined once the remote closed its writable end
   * and every byte was read. Rejects with TRANSPORT_STREAM_RESET when the stream was reset after
   * the queued bytes were read, TRANSPORT_TIMEOUT or TRANSPORT_ABORTED.
   */
  async read(options: ReadOptions = {}): Promise<Uint8Array | undefined> {
    return this.exclusive(async () => {
      while (this.queued === 0) {
        if (this.failure !== undefined) throw this.failure
        if (this.sourceDone()) return undefined
        await this.waitForBytes(options)
      }
      return this.take(Math.min(this.queued, this.chunks[this.head]!.byteLength))
    })
  }

  /**
   * Exactly `length` bytes, or undefined when the stream ended first; those fewer bytes then stay
   * unread (see `bufferedBytes`). The stream stays resumed while a read needs more than the
   * high-water mark, so a large message cannot deadlock.
   */
  async readExactly(length: number, options: ReadOptions = {}): Promise<Uint8Array | undefined> {
    return this.exclusive(async () => {
      this.demand = length
      try {
        while (this.queued < length) {
          if (this.failure !== undefined) throw this.failure
          if (this.sourceDone()) return undefined
          this.maybeResume()
          await this.waitForBytes(options)
        }
      } finally {
        this.demand = 0
      }
      return this.take(length)
    })
  }

  /** Resolves once at least one unread byte is queued (true) or the stream ended (false). */
  async waitForData(options: ReadOptions = {}): Promise<boolean> {
    return this.exclusive(async () => {
      while (this.queued === 0) {
        if (this.failure !== undefined) throw this.failure
        if (this.sourceDone()) return false
        await this.waitForBytes(options)
      }
      return true
    })
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    for (;;) {
      const chunk = await this.read()
      if (chunk === undefined) return
      yield chunk
    }
  }

  /**
   * Exactly `length` bytes if that many are queued now, else undefined; never waits. The fast path
   * of message readers: most small frames arrive whole.
   */
  tryTake(length: number): Uint8Array | undefined {
    if (this.reading || this.released || this.queued < length) return undefined
    return length === 0 ? new Uint8Array(0) : this.take(length)
  }

  /** Puts `chunk` back in front of the unread bytes: the next read starts with it. */
  unread(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    if (this.head > 0) this.chunks[--this.head] = chunk
    else this.chunks.unshift(chunk)
    this.queued += chunk.byteLength
  }

  /**
   * Stops listening and hands unread bytes back to the stream (`unshift`), so another consumer
   * starts exactly where this one stopped. Idempotent.
   */
  release(): void {
    if (this.released) return
    this.released = true
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('end', this.onEnd)
    this.stream.removeEventListener('remoteCloseWrite', this.onEnd)
    const rest = this.queued > 0 ? this.take(this.queued) : undefined
    if (
      rest !== undefined &&
      (this.stream.readStatus === 'readable' || this.stream.readStatus === 'paused')
    ) {
      this.stream.unshift(rest)
    }
    if (this.pausedByUs && this.stream.readStatus === 'paused') this.resumeStream()
  }

  private receive(data: MessageData): void {
    if (data instanceof Uint8Array) this.push(data)
    else for (const chunk of data) this.push(chunk)
    const held = this.queued + this.stream.readBufferLength
    if (held > this.peak) this.peak = held
    this.maybePause()
    this.wake?.()
  }

  private push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.chunks.push(chunk)
    this.queued += chunk.byteLength
  }

  private take(length: number): Uint8Array {
    const first = this.chunks[this.head]!
    let out: Uint8Array
    if (first.byteLength >= length) {
      out = first.subarray(0, length)
      if (first.byteLength === length) this.head++
      else this.chunks[this.head] = first.subarray(length)
    } else {
      out = Buffer.allocUnsafe(length)
      let filled = 0
      while (filled < length) {
        const chunk = this.chunks[this.head]!
        const n = Math.min(chunk.byteLength, length - filled)
        out.set(chunk.subarray(0, n), filled)
        filled += n
        if (n === chunk.byteLength) this.head++
        else this.chunks[this.head] = chunk.subarray(n)
      }
    }
    this.queued -= length
    // Drop consumed slots now and then so the array does not grow for the life of the stream.
    if (this.head > 1024 || this.head === this.chunks.length) {
      this.chunks.splice(0, this.head)
      this.head = 0
    }
    this.maybeResume()
    return out
  }

  private maybePause(): void {
    if (this.released || this.queued < Math.max(this.highWaterBytes, this.demand)) return
    if (this.stream.readStatus !== 'readable') return
    if (this.resuming) {
      // Pausing now would be undone by the resume that is dispatching to us (pitfall 5).
      queueMicrotask(() => this.maybePause())
      return
    }
    this.stream.pause()
    this.pausedByUs = true
  }

  private maybeResume(): void {
    if (!this.pausedByUs || this.stream.readStatus !== 'paused') return
    const wanted = this.demand > this.queued || this.queued <= this.highWaterBytes / 2
    if (wanted) this.resumeStream()
  }

  private resumeStream(): void {
    this.pausedByUs = false
    this.resuming = true
    try {
      this.stream.resume()
    } finally {
      this.resuming = false
    }
  }

  /** No byte will arrive any more: the remote closed its writable end and libp2p holds none. */
  private sourceDone(): boolean {
    const s = this.stream
    if (s.readBufferLength > 0) {
      // libp2p still holds bytes: make sure they are delivered (a paused stream would keep them).
      if (s.readStatus === 'paused' && this.queued < this.highWaterBytes) this.resumeStream()
      return s.readStatus === 'closed'
    }
    return (
      s.readableEnded || s.remoteWriteStatus === 'closed' || s.readStatus === 'closed' || s.status !== 'open'
    )
  }

  /**
   * Resolves on the next event that can change what the queue or sourceDone() say (bytes, end,
   * close); the caller's loop re-checks. Listeners are permanent, so a wait costs one promise.
   */
  private waitForBytes(options: ReadOptions): Promise<void> {
    const { signal, idleTimeoutMs } = options
    if (signal?.aborted === true) return Promise.reject(abortedError(signal, 'stream read'))
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const settle = (error?: TransportError): void => {
        this.wake = undefined
        if (timer !== undefined) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        if (error === undefined) resolve()
        else reject(error)
      }
      const onAbort = (): void => settle(abortedError(signal!, 'stream read'))
      this.wake = () => settle()
      signal?.addEventListener('abort', onAbort)
      if (idleTimeoutMs !== undefined)
        timer = setTimeout(() => settle(timeoutError('stream read', idleTimeoutMs)), idleTimeoutMs)
    })
  }

  private async exclusive<T>(body: () => Promise<T>): Promise<T> {
    if (this.reading) {
      throw new TransportError(
        TransportErrorCode.INVALID_OPTION,
        'stream read: another read is still pending',
        {
          remediation: 'This is a bug in Lifeboat: a StreamReader serves one read at a time.',
        },
      )
    }
    if (this.released) {
      throw new TransportError(TransportErrorCode.INVALID_OPTION, 'stream read: the reader was released', {
        remediation: 'This is a bug in Lifeboat: read through the new consumer of the stream.',
      })
    }
    this.reading = true
    try {
      return await body()
    } finally {
      this.reading = false
    }
  }
}

/** Builds a StreamReader; build it as soon as the stream exists, before any await. */
export function createStreamReader(stream: Stream, init: StreamReaderInit = {}): StreamReader {
  return new StreamReader(stream, init)
}
