/**
 * A small latency histogram for dispatch latency (a job ready → its offer sent), read by the
 * benchmark as p50/p99. Buckets grow geometrically by LATENCY_BUCKET_GROWTH from 1 ms, so a quantile
 * is exact to within 10 % whatever the scale, and memory is a fixed array of counters however many
 * latencies are recorded (~200 buckets up to a day; longer ones land in the last bucket). Count,
 * min, max and sum are exact.
 */

/** Each bucket's upper bound is this factor times the previous one. */
export const LATENCY_BUCKET_GROWTH = 1.1
/** Latencies at or above this fall into the last bucket (a day: nothing dispatches slower and is fine). */
export const MAX_TRACKED_LATENCY_MS = 24 * 60 * 60 * 1000

const LOG_GROWTH = Math.log(LATENCY_BUCKET_GROWTH)
/** Bucket 0 holds [0, 1) ms; bucket i ≥ 1 holds [g^(i-1), g^i) ms. */
const BUCKETS = Math.ceil(Math.log(MAX_TRACKED_LATENCY_MS) / LOG_GROWTH) + 2

export interface LatencySnapshot {
  count: number
  /** Median, ms (0 when nothing was recorded). */
  p50: number
  /** 99th percentile, ms. */
  p99: number
  min: number
  max: number
  mean: number
}

export class LatencyHistogram {
  readonly #buckets = new Float64Array(BUCKETS)
  #count = 0
  #sum = 0
  #min = Number.POSITIVE_INFINITY
  #max = 0

  record(latencyMs: number): void {
    // A clock step backwards can make a latency negative: it still counts, as zero.
    const ms = Number.isFinite(latencyMs) && latencyMs > 0 ? latencyMs : 0
    this.#buckets[bucketOf(ms)]++
    this.#count++
    this.#sum += ms
    if (ms < this.#min) this.#min = ms
    if (ms > this.#max) this.#max = ms
  }

  /** The latency below which `q` (0..1) of the recorded ones fall, to within one bucket. */
  quantile(q: number): number {
    if (this.#count === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.#count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#buckets[i]
      if (seen >= rank) {
        const upper = i === 0 ? 1 : LATENCY_BUCKET_GROWTH ** i
        return Math.min(Math.max(upper, this.#min), this.#max)
      }
    }
    return this.#max
  }

  snapshot(): LatencySnapshot {
    return {
      count: this.#count,
      p50: this.quantile(0.5),
      p99: this.quantile(0.99),
      min: this.#count === 0 ? 0 : this.#min,
      max: this.#max,
      mean: this.#count === 0 ? 0 : this.#sum / this.#count,
    }
  }

  reset(): void {
    this.#buckets.fill(0)
    this.#count = 0
    this.#sum = 0
    this.#min = Number.POSITIVE_INFINITY
    this.#max = 0
  }
}

function bucketOf(ms: number): number {
  if (ms < 1) return 0
  return Math.min(BUCKETS - 1, Math.floor(Math.log(ms) / LOG_GROWTH) + 1)
}
