/**
 * A bounded fuzz pass over the decoders (bench/fuzz-protocol.ts holds the engine and runs longer).
 * The seed is random unless LIFEBOAT_FUZZ_SEED is set, and printed, so a failure reproduces with
 * `LIFEBOAT_FUZZ_SEED=<seed> npx vitest run test/protocol/fuzz.test.ts`.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadFixtureCorpus, Prng, runProtocolFuzz } from '../../bench/fuzz-protocol.js'

const ITERATIONS = 3000
const SECONDS = 3
const seed = Number(process.env.LIFEBOAT_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32))
const corpus = loadFixtureCorpus(join(dirname(fileURLToPath(import.meta.url)), '../fixtures/protocol'))

describe('protocol fuzz', () => {
  it(`decoders only return valid messages or throw ProtocolError (seed ${seed})`, () => {
    console.log(`protocol fuzz seed: ${seed} (set LIFEBOAT_FUZZ_SEED to reproduce)`)
    const report = runProtocolFuzz({ seed, corpus, iterations: ITERATIONS, seconds: SECONDS })
    expect(report.findings, `seed ${seed}: ${JSON.stringify(report.findings.slice(0, 3))}`).toEqual([])
    expect(report.iterations).toBeGreaterThan(0)
    // The pass reached both outcomes and the main refusal classes, so it exercised the decoders.
    expect(report.decoded).toBeGreaterThan(0)
    expect(Object.keys(report.refused)).toEqual(
      expect.arrayContaining([
        'PROTOCOL_MALFORMED',
        'PROTOCOL_INVALID_MESSAGE',
        'PROTOCOL_UNEXPECTED_MESSAGE',
      ]),
    )
  })

  it('replays an iteration exactly from its seed and number', () => {
    const once = runProtocolFuzz({ seed, corpus, iterations: 50, from: 1000 })
    const again = runProtocolFuzz({ seed, corpus, iterations: 50, from: 1000 })
    expect(again.refused).toEqual(once.refused)
    expect(again.decoded).toBe(once.decoded)
    const a = new Prng(seed, 7)
    const b = new Prng(seed, 7)
    expect(Array.from({ length: 5 }, () => a.u32())).toEqual(Array.from({ length: 5 }, () => b.u32()))
    expect(new Prng(seed, 8).u32()).not.toBe(new Prng(seed, 7).u32())
  })

  it('refuses to run without a bound or a corpus', () => {
    expect(() => runProtocolFuzz({ seed, corpus })).toThrow(RangeError)
    expect(() => runProtocolFuzz({ seed, corpus: [], iterations: 1 })).toThrow(RangeError)
  })
})
