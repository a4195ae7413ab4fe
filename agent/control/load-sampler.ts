/**
 * The load report a node sends in each HEARTBEAT (docs/PROTOCOL.md §8): what the coordinator's
 * dispatcher balances work on. A *sample* covers the time since the previous sample:
 *
 * - `cpu`: the machine's CPU utilisation over that time, all cores, 0..1 — busy time (user, nice,
 *   sys, irq) over total time, from the per-core counters of `os.cpus()`. The machine's, not the
 *   process's: another busy process on the host makes it a worse place for work too.
 * - `sendRate`, `receiveRate`: bytes per second on all the node's connections (byte-counter.ts).
 * - `freeMemory`: `os.freemem()`, bytes.
 * - `activeJobs`, `queuedUpdates`, `maxJobs`: from providers the job runner will supply; until it
 *   exists, 0 and 0 and absent.
 */
import { cpus, freemem } from 'node:os'
import { type LoadReport, MAX_REPORTED_JOBS } from '../../protocol/index.js'
import type { ByteCounts } from './byte-counter.js'

export interface LoadSources {
  /** Jobs accepted and not finished. Default: 0. */
  activeJobs?: () => number
  /** Status updates waiting for a STATUS_ACK. Default: 0. */
  queuedUpdates?: () => number
  /** Jobs the node takes at once, when it has a limit: a number, or a provider (a limit that changes). */
  maxJobs?: number | (() => number)
}

export interface LoadSamplerComponents {
  /** Bytes moved since the previous call. */
  bytes: { sample(): ByteCounts }
  /** Default os.cpus. */
  cpus?: () => Array<{ times: { user: number; nice: number; sys: number; idle: number; irq: number } }>
  /** Default os.freemem. */
  freeMemory?: () => number
  /** Monotonic milliseconds. Default performance.now. */
  clock?: () => number
}

export class LoadSampler {
  readonly #sources: LoadSources
  readonly #cpus: NonNullable<LoadSamplerComponents['cpus']>
  readonly #freeMemory: () => number
  readonly #clock: () => number
  readonly #bytes: { sample(): ByteCounts }
  #lastCpu: { busy: number; total: number }
  #lastAt: number
  #last: LoadReport | undefined

  constructor(sources: LoadSources, components: LoadSamplerComponents) {
    this.#sources = sources
    this.#cpus = components.cpus ?? cpus
    this.#freeMemory = components.freeMemory ?? freemem
    this.#clock = components.clock ?? (() => performance.now())
    this.#bytes = components.bytes
    this.#lastCpu = this.#cpuTimes()
    this.#lastAt = this.#clock()
    this.#bytes.sample()
  }

  /** The report the last sample() made (the last heartbeat's), undefined before the first. */
  get last(): LoadReport | undefined {
    return this.#last
  }

  /** The load since the previous sample (or since construction). */
  sample(): LoadReport {
    const now = this.#clock()
    const seconds = Math.max(now - this.#lastAt, 1) / 1000
    this.#lastAt = now
    const cpuNow = this.#cpuTimes()
    const busy = cpuNow.busy - this.#lastCpu.busy
    const total = cpuNow.total - this.#lastCpu.total
    this.#lastCpu = cpuNow
    const bytes = this.#bytes.sample()
    const report: LoadReport = {
      activeJobs: clampCount(this.#sources.activeJobs?.() ?? 0),
      cpu: total > 0 ? Math.min(1, Math.max(0, busy / total)) : 0,
      freeMemory: Math.max(0, Math.floor(this.#freeMemory())),
      sendRate: Math.round(bytes.sent / seconds),
      receiveRate: Math.round(bytes.received / seconds),
      queuedUpdates: Math.max(0, Math.floor(this.#sources.queuedUpdates?.() ?? 0)),
    }
    const maxJobs = this.#sources.maxJobs
    if (maxJobs !== undefined)
      report.maxJobs = clampCount(typeof maxJobs === 'function' ? maxJobs() : maxJobs)
    this.#last = report
    return report
  }

  #cpuTimes(): { busy: number; total: number } {
    let busy = 0
    let total = 0
    for (const { times } of this.#cpus()) {
      const used = times.user + times.nice + times.sys + times.irq
      busy += used
      total += used + times.idle
    }
    return { busy, total }
  }
}

/** Job counts as the wire bounds them (MAX_REPORTED_JOBS). */
function clampCount(value: number): number {
  return Math.min(MAX_REPORTED_JOBS, Math.max(0, Math.floor(value)))
}
