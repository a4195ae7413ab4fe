/**
 * Fuzzing of the protocol decoders (docs/PROTOCOL.md; STYLE.md "decoders are fuzzed"). An
 * *iteration* builds one hostile input with one *strategy* and feeds it to both message codecs, or
 * to a FrameDecoder in random chunks. The *corpus* is the golden fixtures (valid frames of every
 * message), which the strategies mutate. A *finding* is any outcome but the two allowed ones: a
 * message that validates and re-encodes, or a thrown ProtocolError (code PROTOCOL_*, with a
 * remediation). An iteration slower than SLOW_ITERATION_MS is a finding too: decoders never hang.
 *
 * Every iteration draws from its own PRNG, seeded from (seed, iteration number), so a finding is
 * reproduced alone with `--seed S --from I --iterations 1`.
 *
 * The test suite runs a short pass (test/protocol/fuzz.test.ts). A longer run:
 *   npm run fuzz:protocol -- --seconds 600 [--seed N] [--iterations N] [--from I]
 * exits 1 on a finding and prints the seed.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Packr } from 'msgpackr'
import {
  type ControlMessage,
  controlCodec,
  type DataMessage,
  dataCodec,
  FRAME_HEADER_SIZE,
  FrameTooLargeError,
  type MessageCodec,
  MessageType,
  ProtocolError,
} from '../protocol/index.js'

/** An iteration taking longer than this is reported: no input may make a decoder loop. */
export const SLOW_ITERATION_MS = 1000
/** Inputs longer than this are not copied into a finding's report. */
const MAX_REPORTED_INPUT = 4096

type AnyCodec = MessageCodec<ControlMessage | DataMessage>
const codecs = [controlCodec, dataCodec] as AnyCodec[]

export interface CorpusEntry {
  name: string
  /** A complete, valid frame: length prefix and body. */
  frame: Uint8Array
}

export interface FuzzOptions {
  seed: number
  corpus: readonly CorpusEntry[]
  /** Stop after this many iterations. Default: no limit (then `seconds` must be set). */
  iterations?: number
  /** Stop after this many seconds. Default: no limit. */
  seconds?: number
  /** First iteration number (to replay one finding). Default 0. */
  from?: number
}

export interface FuzzFinding {
  iteration: number
  strategy: string
  problem: string
  /** The input, hex, when it is short enough to print. */
  input?: string
}

export interface FuzzReport {
  seed: number
  iterations: number
  elapsedMs: number
  /** Messages that decoded, and refusals by error code. */
  decoded: number
  refused: Record<string, number>
  findings: FuzzFinding[]
}

/** sfc32: small, fast, and good enough to drive mutations; seeded from two 32-bit words. */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d = 1

  constructor(seed: number, stream = 0) {
    this.a = seed >>> 0
    this.b = (Math.imul(stream, 0x9e3779b9) ^ 0x85ebca6b) >>> 0
    this.c = (seed ^ 0xc2b2ae35) >>> 0
    for (let i = 0; i < 12; i++) this.u32()
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n)
  }

  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p
  }

  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length)
    for (let i = 0; i < length; i++) out[i] = this.u32() & 0xff
    return out
  }

  /** A length biased towards small values, up to `max`. */
  length(max: number): number {
    return this.chance(0.8) ? this.int(Math.min(max, 64) + 1) : this.int(max + 1)
  }
}

// Encodes the wrong-shape values: plain msgpack, no ext types, so the inputs reach validation.
const loose = new Packr({
  useRecords: false,
  variableMapSize: true,
  moreTypes: false,
  structuredClone: false,
})

const SPECIAL_NUMBERS = [
  0,
  -1,
  1,
  255,
  256,
  65_536,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 64,
  -(2 ** 63),
  0.5,
  -0.5,
]
const SPECIAL_NUMBERS_ALL = [...SPECIAL_NUMBERS, Number.NaN, Number.POSITIVE_INFINITY, 1e308]

function randomScalar(rng: Prng): unknown {
  switch (rng.int(9)) {
    case 0:
      return null
    case 1:
      return rng.chance(0.5)
    case 2:
      return rng.pick(SPECIAL_NUMBERS_ALL)
    case 3:
      return rng.int(2 ** 31) - 2 ** 30
    case 4:
      return BigInt.asIntN(64, BigInt(rng.u32()) * 2n ** 32n + BigInt(rng.u32()))
    case 5:
      return rng.pick([
        '',
        'x',
        '../..',
        'PROTOCOL_X',
        '\u0000',
        '€'.repeat(rng.length(5000)),
        'a'.repeat(rng.length(600)),
      ])
    case 6:
      return String.fromCharCode(...Array.from({ length: rng.length(40) }, () => rng.int(0xffff)))
    case 7:
      return rng.bytes(rng.chance(0.5) ? 32 : rng.length(300))
    default:
      return rng.int(256)
  }
}

function randomValue(rng: Prng, depth: number): unknown {
  if (depth <= 0 || rng.chance(0.6)) return randomScalar(rng)
  if (rng.chance(0.5)) return Array.from({ length: rng.length(6) }, () => randomValue(rng, depth - 1))
  const keys = ['t', 'rid', 'seq', 'records', 'payload', 'items', 'protocol', 'code', 'x', 'index', 'flags']
  return Object.fromEntries(
    Array.from({ length: rng.length(6) }, () => [rng.pick(keys), randomValue(rng, depth - 1)]),
  )
}

/** Replaces, deletes or adds one field somewhere in a decoded message. */
function reshape(rng: Prng, value: unknown, depth = 0): unknown {
  if (Array.isArray(value)) {
    if (value.length === 0 || rng.chance(0.2)) return randomValue(rng, 2)
    const copy = [...value]
    const i = rng.int(copy.length)
    copy[i] = reshape(rng, copy[i], depth + 1)
    return copy
  }
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return randomValue(rng, 2)
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
  const keys = Object.keys(copy)
  const action = rng.int(4)
  if (keys.length === 0 || action === 0)
    copy[rng.pick(['extra', 't', 'rid', 'seq', 'z'])] = randomValue(rng, 2)
  else if (action === 1) delete copy[rng.pick(keys)]
  else {
    const key = rng.pick(keys)
    copy[key] = depth < 4 && rng.chance(0.6) ? reshape(rng, copy[key], depth + 1) : randomValue(rng, 2)
  }
  return copy
}

/** Flips bits, overwrites, inserts, deletes or duplicates bytes; 1–4 times. */
function mutate(rng: Prng, input: Uint8Array): Uint8Array {
  let bytes = Array.from(input)
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const at = rng.int(bytes.length + 1)
    switch (rng.int(6)) {
      case 0:
        if (bytes.length > 0) bytes[at % bytes.length] ^= 1 << rng.int(8)
        break
      case 1:
        if (bytes.length > 0)
          bytes[at % bytes.length] = rng.pick([0x00, 0xff, 0xc1, 0xd4, 0xdd, 0xdf, 0xc6, rng.int(256)])
        break
      case 2:
        bytes.splice(at, 0, ...rng.bytes(1 + rng.int(8)))
        break
      case 3:
        bytes.splice(at, 1 + rng.int(16))
        break
      case 4:
        bytes = bytes.slice(0, at)
        break
      default:
        bytes.splice(at, 0, ...bytes.slice(at, at + 1 + rng.int(32)))
    }
  }
  return new Uint8Array(bytes)
}

const bodyOf = (entry: CorpusEntry): Uint8Array => entry.frame.subarray(FRAME_HEADER_SIZE)

interface Outcome {
  decoded: number
  refused: string[]
  problem?: string
}

/** Decodes `body` with both codecs; any outcome but a valid message or a ProtocolError is a problem. */
function decodeBoth(body: Uint8Array, outcome: Outcome): void {
  for (const codec of codecs) checkDecode(codec, body, outcome)
}

function checkDecode(codec: AnyCodec, body: Uint8Array, outcome: Outcome): void {
  let message: ControlMessage | DataMessage
  try {
    message = codec.decode(body)
  } catch (error) {
    const problem = refusalProblem(error)
    if (problem !== undefined) outcome.problem ??= `${codec.family} decode: ${problem}`
    else outcome.refused.push((error as ProtocolError).code)
    return
  }
  outcome.decoded++
  try {
    codec.validate(message)
    codec.encode(message)
  } catch (error) {
    if (error instanceof FrameTooLargeError) return
    outcome.problem ??= `${codec.family}: a decoded message does not validate or encode: ${String(error)}`
  }
}

function refusalProblem(error: unknown): string | undefined {
  if (!(error instanceof ProtocolError)) {
    return `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}, not a ProtocolError`
  }
  if (!error.code.startsWith('PROTOCOL_') || error.remediation === '' || error.message === '') {
    return `a ProtocolError without a proper code, message and remediation: ${error.code}`
  }
  return undefined
}

/** Feeds `stream` to a FrameDecoder in random chunks, decoding each body until a fatal error. */
function decodeStream(rng: Prng, codec: AnyCodec, stream: Uint8Array, outcome: Outcome): void {
  const decoder = codec.createFrameDecoder()
  let at = 0
  try {
    while (at < stream.length) {
      const size = 1 + (rng.chance(0.5) ? rng.int(8) : rng.int(stream.length))
      for (const body of decoder.decode(stream.subarray(at, at + size))) {
        if (body.length > codec.maxFrameSize)
          outcome.problem ??= `a body of ${body.length} bytes passed the limit`
        checkDecode(codec, body, outcome)
      }
      at += size
    }
    decoder.end()
  } catch (error) {
    const problem = refusalProblem(error)
    if (problem !== undefined) outcome.problem ??= `frame decoder: ${problem}`
    else outcome.refused.push((error as ProtocolError).code)
  }
}

const STRATEGIES = ['random-bytes', 'mutated-body', 'mutated-stream', 'wrong-shape', 'random-value'] as const

function iterate(
  rng: Prng,
  corpus: readonly CorpusEntry[],
  outcome: Outcome,
): { strategy: string; input: Uint8Array } {
  const strategy = rng.pick(STRATEGIES)
  const entry = rng.pick(corpus)
  let input: Uint8Array
  switch (strategy) {
    case 'random-bytes':
      input = rng.bytes(rng.length(512))
      decodeBoth(input, outcome)
      break
    case 'mutated-body':
      input = mutate(rng, bodyOf(entry))
      decodeBoth(input, outcome)
      break
    case 'mutated-stream': {
      const frames = Array.from({ length: 1 + rng.int(4) }, () => rng.pick(corpus).frame)
      input = mutate(rng, new Uint8Array(Buffer.concat(frames)))
      decodeStream(rng, rng.pick(codecs), input, outcome)
      break
    }
    case 'wrong-shape': {
      const codec = codecs.find((c) => {
        try {
          c.decode(bodyOf(entry))
          return true
        } catch {
          return false
        }
      })!
      input = loose.pack(reshape(rng, codec.decode(bodyOf(entry))))
      decodeBoth(input, outcome)
      break
    }
    default: {
      const value = randomValue(rng, 4)
      const envelope =
        typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { x: value }
      input = loose.pack({ ...envelope, t: rng.pick(Object.values(MessageType)) })
      decodeBoth(input, outcome)
    }
  }
  return { strategy, input }
}

export function runProtocolFuzz(options: FuzzOptions): FuzzReport {
  const { seed, corpus } = options
  if (corpus.length === 0) throw new RangeError('the fuzz corpus is empty')
  const limit = options.iterations ?? Number.POSITIVE_INFINITY
  const deadline =
    options.seconds === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.seconds * 1000
  if (limit === Number.POSITIVE_INFINITY && deadline === Number.POSITIVE_INFINITY) {
    throw new RangeError('give iterations or seconds')
  }
  const from = options.from ?? 0
  const report: FuzzReport = { seed, iterations: 0, elapsedMs: 0, decoded: 0, refused: {}, findings: [] }
  const started = performance.now()
  for (let i = from; report.iterations < limit && Date.now() < deadline; i++) {
    const outcome: Outcome = { decoded: 0, refused: [] }
    const began = performance.now()
    let strategy = 'unknown'
    let input: Uint8Array | undefined
    try {
      ;({ strategy, input } = iterate(new Prng(seed, i), corpus, outcome))
    } catch (error) {
      outcome.problem ??= `the iteration itself threw: ${String(error)}`
    }
    const took = performance.now() - began
    if (took > SLOW_ITERATION_MS) outcome.problem ??= `took ${Math.round(took)} ms`
    report.iterations++
    report.decoded += outcome.decoded
    for (const code of outcome.refused) report.refused[code] = (report.refused[code] ?? 0) + 1
    if (outcome.problem !== undefined) {
      const shown =
        input !== undefined && input.length <= MAX_REPORTED_INPUT
          ? Buffer.from(input).toString('hex')
          : undefined
      report.findings.push({ iteration: i, strategy, problem: outcome.problem, input: shown })
    }
  }
  report.elapsedMs = performance.now() - started
  return report
}

/** The golden fixtures of every protocol version, as the corpus. */
export function loadFixtureCorpus(root: string): CorpusEntry[] {
  const corpus: CorpusEntry[] = []
  const versions = readdirSync(root, { withFileTypes: true }).filter(
    (e) => e.isDirectory() && /^v\d+$/.test(e.name),
  )
  for (const { name: version } of versions) {
    for (const file of readdirSync(join(root, version)).filter((f) => f.endsWith('.bin'))) {
      corpus.push({
        name: `${version}/${file}`,
        frame: new Uint8Array(readFileSync(join(root, version, file))),
      })
    }
  }
  return corpus
}

function argument(name: string): number | undefined {
  const at = process.argv.indexOf(`--${name}`)
  if (at === -1) return undefined
  const value = Number(process.argv[at + 1])
  if (!Number.isFinite(value) || value < 0) {
    console.error(`--${name} needs a non-negative number, got ${process.argv[at + 1]}`)
    process.exit(2)
  }
  return value
}

function main(): void {
  const seed = argument('seed') ?? (Date.now() ^ (process.pid << 16)) >>> 0
  const iterations = argument('iterations')
  const seconds = argument('seconds') ?? (iterations === undefined ? 60 : undefined)
  const from = argument('from')
  const corpus = loadFixtureCorpus(join(process.cwd(), 'test/fixtures/protocol'))
  console.log(
    `protocol fuzz: seed ${seed}, ${corpus.length} corpus frames, ${iterations ?? '∞'} iterations, ${seconds ?? '∞'} s`,
  )
  const report = runProtocolFuzz({ seed, corpus, iterations, seconds, from })
  const rate = Math.round(report.iterations / (report.elapsedMs / 1000))
  console.log(`${report.iterations} iterations in ${(report.elapsedMs / 1000).toFixed(1)} s (${rate}/s)`)
  console.log(`decoded ${report.decoded} messages; refused: ${JSON.stringify(report.refused)}`)
  if (report.findings.length === 0) return
  for (const finding of report.findings.slice(0, 20)) {
    console.error(`FINDING at iteration ${finding.iteration} (${finding.strategy}): ${finding.problem}`)
    if (finding.input !== undefined) console.error(`  input: ${finding.input}`)
    console.error(
      `  reproduce: npm run fuzz:protocol -- --seed ${seed} --from ${finding.iteration} --iterations 1`,
    )
  }
  console.error(`${report.findings.length} findings with seed ${seed}`)
  process.exitCode = 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
