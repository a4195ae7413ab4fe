// The dispatch latency histogram: quantiles within one 10 % bucket, exact count/min/max, fixed memory.
import { describe, expect, it } from 'vitest'
import { LatencyHistogram } from '../../../coordinator/dispatch/latency-histogram.js'

describe('latency histogram', () => {
  it('is all zeros when empty', () => {
    expect(new LatencyHistogram().snapshot()).toEqual({ count: 0, p50: 0, p99: 0, min: 0, max: 0, mean: 0 })
  })

  it('gives p50 and p99 within 10 % of the exact values', () => {
    const histogram = new LatencyHistogram()
    for (let ms = 1; ms <= 1_000; ms++) histogram.record(ms)
    const { count, p50, p99, min, max, mean } = histogram.snapshot()
    expect({ count, min, max, mean }).toEqual({ count: 1_000, min: 1, max: 1_000, mean: 500.5 })
    expect(p50).toBeGreaterThanOrEqual(500)
    expect(p50).toBeLessThanOrEqual(550)
    expect(p99).toBeGreaterThanOrEqual(990)
    expect(p99).toBeLessThanOrEqual(1_000)
  })

  it('keeps a slow tail visible at p99 and not at p50', () => {
    const histogram = new LatencyHistogram()
    for (let i = 0; i < 980; i++) histogram.record(5)
    for (let i = 0; i < 20; i++) histogram.record(60_000)
    expect(histogram.quantile(0.5)).toBeLessThanOrEqual(5.5)
    expect(histogram.quantile(0.99)).toBe(60_000)
  })

  it('counts negative or absurd latencies as zero or in the last bucket, and resets', () => {
    const histogram = new LatencyHistogram()
    histogram.record(-5)
    histogram.record(Number.NaN)
    histogram.record(10 * 24 * 3_600_000)
    expect(histogram.snapshot()).toMatchObject({ count: 3, min: 0, max: 10 * 24 * 3_600_000 })
    histogram.reset()
    expect(histogram.snapshot().count).toBe(0)
  })
})
