/**
 * Bulk throughput and small-message rate of the links, to choose the encrypter (docs/TRANSPORT.md).
 *
 * A *trial* moves `bytes` from this process to a *receiver*: a child process started for the trial
 * (so sender and receiver each have their own event loop and core, as in production), in 1 MiB
 * chunks. *Configs*: a raw TCP socket (the ceiling), and libp2p + Yamux with Noise or TLS carrying
 * one stream, or four streams on one connection. Trials are interleaved (raw, noise, tls, raw, …) so
 * a noisy neighbour hurts every config alike; the table shows the median MB/s (1 MB = 1e6 bytes),
 * the median of the per-round ratios to raw TCP, and the receiver's peak RSS. The *RPC* part counts
 * small request/response messages per second over one stream, one at a time and 32 in flight.
 * The *slow-consumer* trial sends `slowConsumerBytes` (256 MiB) over TLS + Yamux, one stream, to a
 * receiver that reads at ~50 MB/s, through the same back-pressure helpers (writeToStream,
 * StreamReader): it reports the receiver's peak RSS (VmHWM) beside the fast consumer's and the
 * largest write buffer the sender's stream held, sampled every 5 ms and after every write.
 *
 * The receiver is bench/transport-receiver.ts.
 *
 * Run: `npm run build && node dist/bench/transport-encryption.js --bytes=1GiB --runs=5`
 * (`--bytes=256MiB --runs=3` for a quick look). Also callable as `runTransportBench(options)`.
 */
import '../protocol/promise-with-resolvers.js'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { type Socket, connect as tcpConnect } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { createFramedStream } from '../transport/framed-stream.js'
import { createLifeboatNode, type EncrypterName, type LifeboatNode } from '../transport/node.js'
import { readToEnd } from '../transport/read-to-end.js'
import { closeStream } from '../transport/stream-close.js'
import { writeToStream } from '../transport/stream-writer.js'
import {
  type Ack,
  BULK_PROTOCOL,
  cpuUs,
  ECHO_PROTOCOL,
  type Link,
  RPC_MESSAGE_BYTES,
  rawFramedSocket,
  SLOW_BULK_PROTOCOL,
  SLOW_CONSUMER_BYTES_PER_SEC,
} from './transport-receiver.js'

const MiB = 1024 * 1024
const DEFAULT_BYTES = 1024 * MiB
const DEFAULT_RUNS = 3
const CHUNK_BYTES = MiB
const DEFAULT_RPC_MESSAGES = 3000
const RPC_IN_FLIGHT = 32
const DEFAULT_SLOW_CONSUMER_BYTES = 256 * MiB
/** How often the sender samples its stream's write buffer during the slow-consumer trial. */
const BUFFER_SAMPLE_MS = 5

interface BulkConfig {
  id: string
  name: string
  link: Link
  streams: number
}
const BULK_CONFIGS: BulkConfig[] = [
  { id: 'raw', name: 'raw TCP socket', link: 'raw', streams: 1 },
  { id: 'noise-1', name: 'Noise + Yamux, 1 stream', link: 'noise', streams: 1 },
  { id: 'tls-1', name: 'TLS + Yamux, 1 stream', link: 'tls', streams: 1 },
  { id: 'noise-4', name: 'Noise + Yamux, 4 streams', link: 'noise', streams: 4 },
  { id: 'tls-4', name: 'TLS + Yamux, 4 streams', link: 'tls', streams: 4 },
]

export interface TransportBenchOptions {
  /** Bytes per bulk trial. Default 1 GiB. */
  bytes?: number
  /** Rounds of interleaved trials; medians are taken over them. Default 3. */
  runs?: number
  /** Requests per RPC trial (0: skip the RPC part). Default 3,000. */
  rpcMessages?: number
  /** Bulk configs to run, by id (raw, noise-1, tls-1, noise-4, tls-4); raw always runs. Default all. */
  configs?: string[]
  /** Bytes of the slow-consumer trial, once per round (0: skip it). Default 256 MiB. */
  slowConsumerBytes?: number
  log?: (line: string) => void
}

export interface BulkResult {
  config: string
  mbPerSec: number[]
  medianMbPerSec: number
  /** Median over rounds of (this config's MB/s ÷ raw TCP's MB/s in the same round). */
  medianRatioToRaw: number
  peakReceiverRssMiB: number
  /**
   * Median CPU seconds (user + system) per GiB moved, in the sender and in the receiver. Unlike
   * MB/s this barely moves when other processes share the cores: it is what a config costs.
   */
  senderCpuSecPerGiB: number
  receiverCpuSecPerGiB: number
}

interface TrialResult {
  seconds: number
  rssMiB: number
  senderCpuS: number
  receiverCpuS: number
}

export interface RpcResult {
  link: Link
  sequentialPerSec: number
  inFlightPerSec: number
}

/** TLS + Yamux, one stream, to a receiver that reads at `consumerBytesPerSec`. */
export interface SlowConsumerResult {
  config: string
  bytes: number
  consumerBytesPerSec: number
  /** Median over rounds of the MB/s the transfer achieved (the consumer's pace, if back-pressure works). */
  medianMbPerSec: number
  /** Largest over rounds: the receiver's VmHWM. */
  peakReceiverRssMiB: number
  /** The fast consumer's peak RSS on the same link (the TLS 1-stream bulk trials), when they ran. */
  fastReceiverRssMiB?: number
  /** Largest write buffer of the sender's stream seen over all rounds, bytes. */
  peakSenderBufferedBytes: number
}

export interface TransportBenchResult {
  bytes: number
  runs: number
  bulk: BulkResult[]
  rpc: RpcResult[]
  slowConsumer?: SlowConsumerResult
}

export async function runTransportBench(options: TransportBenchOptions = {}): Promise<TransportBenchResult> {
  const bytes = options.bytes ?? DEFAULT_BYTES
  const runs = options.runs ?? DEFAULT_RUNS
  const rpcMessages = options.rpcMessages ?? DEFAULT_RPC_MESSAGES
  const log = options.log ?? console.log
  if (bytes < CHUNK_BYTES * 4 || bytes % (CHUNK_BYTES * 4) !== 0)
    throw new Error('bytes must be a multiple of 4 MiB')
  const chunk = randomBytes(CHUNK_BYTES)
  const wanted = new Set(['raw', ...(options.configs ?? BULK_CONFIGS.map((c) => c.id))])
  const configs = BULK_CONFIGS.filter((c) => wanted.has(c.id))
  const samples = new Map<string, Array<TrialResult & { mbPerSec: number }>>()
  const ratios = new Map<string, number[]>()

  for (let round = 1; round <= runs; round++) {
    let raw = 0
    for (const config of configs) {
      const trial = await bulkTrial(config, bytes, chunk)
      const mbPerSec = bytes / trial.seconds / 1e6
      if (config.link === 'raw') raw = mbPerSec
      samples.set(config.name, [...(samples.get(config.name) ?? []), { ...trial, mbPerSec }])
      ratios.set(config.name, [...(ratios.get(config.name) ?? []), mbPerSec / raw])
      const gib = bytes / (1024 * MiB)
      log(
        `round ${round}/${runs}  ${config.name.padEnd(26)} ${mbPerSec.toFixed(0).padStart(6)} MB/s  ` +
          `cpu s/GiB sender ${(trial.senderCpuS / gib).toFixed(2)} receiver ${(trial.receiverCpuS / gib).toFixed(2)}  ` +
          `rss ${trial.rssMiB} MiB`,
      )
    }
  }
  const bulk = configs.map((config) => {
    const list = samples.get(config.name)!
    return {
      config: config.name,
      mbPerSec: list.map((s) => Math.round(s.mbPerSec)),
      medianMbPerSec: Math.round(median(list.map((s) => s.mbPerSec))),
      medianRatioToRaw: Math.round(median(ratios.get(config.name)!) * 100) / 100,
      peakReceiverRssMiB: Math.max(...list.map((s) => s.rssMiB)),
      senderCpuSecPerGiB: round2(median(list.map((s) => s.senderCpuS)) / (bytes / (1024 * MiB))),
      receiverCpuSecPerGiB: round2(median(list.map((s) => s.receiverCpuS)) / (bytes / (1024 * MiB))),
    }
  })

  const rpc: RpcResult[] = []
  for (const link of rpcMessages > 0 ? (['raw', 'noise', 'tls'] as const) : []) {
    const trials = []
    for (let round = 0; round < runs; round++) trials.push(await rpcTrial(link, rpcMessages))
    rpc.push({
      link,
      sequentialPerSec: Math.round(median(trials.map((t) => t.sequentialPerSec))),
      inFlightPerSec: Math.round(median(trials.map((t) => t.inFlightPerSec))),
    })
  }
  const slowBytes = options.slowConsumerBytes ?? DEFAULT_SLOW_CONSUMER_BYTES
  let slowConsumer: SlowConsumerResult | undefined
  if (slowBytes > 0) {
    const trials: SlowTrialResult[] = []
    for (let round = 1; round <= runs; round++) {
      const trial = await slowConsumerTrial(slowBytes, chunk)
      trials.push(trial)
      log(
        `round ${round}/${runs}  TLS slow consumer ${(slowBytes / trial.seconds / 1e6).toFixed(0).padStart(6)} MB/s  ` +
          `receiver rss ${trial.rssMiB} MiB  sender buffered ≤ ${(trial.peakBufferedBytes / MiB).toFixed(2)} MiB`,
      )
    }
    const fast = bulk.find((b) => b.config === 'TLS + Yamux, 1 stream')
    slowConsumer = {
      config: 'TLS + Yamux, 1 stream',
      bytes: slowBytes,
      consumerBytesPerSec: SLOW_CONSUMER_BYTES_PER_SEC,
      medianMbPerSec: Math.round(median(trials.map((t) => slowBytes / t.seconds / 1e6))),
      peakReceiverRssMiB: Math.max(...trials.map((t) => t.rssMiB)),
      peakSenderBufferedBytes: Math.max(...trials.map((t) => t.peakBufferedBytes)),
    }
    if (fast !== undefined) slowConsumer.fastReceiverRssMiB = fast.peakReceiverRssMiB
  }
  printTables(log, bytes, runs, bulk, rpc, slowConsumer)
  return { bytes, runs, bulk, rpc, ...(slowConsumer === undefined ? {} : { slowConsumer }) }
}

function printTables(
  log: (line: string) => void,
  bytes: number,
  runs: number,
  bulk: BulkResult[],
  rpc: RpcResult[],
  slow?: SlowConsumerResult,
) {
  log('')
  log(
    `Bulk: ${bytes / MiB} MiB per trial in 1 MiB chunks, ${runs} interleaved rounds, receiver in a child process`,
  )
  log(
    '| config | median MB/s | ratio to raw TCP | CPU s/GiB sender | CPU s/GiB receiver | receiver peak RSS | runs (MB/s) |',
  )
  log('|---|---|---|---|---|---|---|')
  for (const r of bulk) {
    log(
      `| ${r.config} | ${r.medianMbPerSec} | ${r.medianRatioToRaw.toFixed(2)}× | ${r.senderCpuSecPerGiB.toFixed(2)} | ` +
        `${r.receiverCpuSecPerGiB.toFixed(2)} | ${r.peakReceiverRssMiB} MiB | ${r.mbPerSec.join(', ')} |`,
    )
  }
  if (rpc.length === 0) return
  log('')
  log(`Request/response, ${RPC_MESSAGE_BYTES}-byte messages, u32 length-prefixed, one stream (medians)`)
  log(`| link | sequential msg/s | ${RPC_IN_FLIGHT} in flight msg/s |`)
  log('|---|---|---|')
  for (const r of rpc) log(`| ${r.link} | ${r.sequentialPerSec} | ${r.inFlightPerSec} |`)
  if (slow === undefined) return
  log('')
  log(formatSlowConsumer(slow))
}

/** The slow-consumer figures as a markdown table (also used by bench/run.ts). */
export function formatSlowConsumer(slow: SlowConsumerResult): string {
  const fast = slow.fastReceiverRssMiB === undefined ? 'not run' : `${slow.fastReceiverRssMiB} MiB`
  return [
    `Slow consumer: ${slow.bytes / MiB} MiB over ${slow.config}, the receiver reading at ` +
      `${slow.consumerBytesPerSec / 1e6} MB/s through StreamReader, the sender through writeToStream`,
    '',
    '| transfer MB/s (median) | receiver peak RSS, slow consumer | receiver peak RSS, fast consumer | sender peak buffered |',
    '|---|---|---|---|',
    `| ${slow.medianMbPerSec} | ${slow.peakReceiverRssMiB} MiB | ${fast} | ${(slow.peakSenderBufferedBytes / MiB).toFixed(2)} MiB |`,
  ].join('\n')
}

function round2(value: number): number {
  return Math.round(value * 100) / 100
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

// ---- the parent (sender) side ------------------------------------------------------------

interface Receiver {
  child: ChildProcess
  address: string
  /** The receiver's CPU time (µs) when it started listening: startup is not counted. */
  cpuUs: number
  lines: AsyncIterator<string>
}

async function startReceiver(link: Link): Promise<Receiver> {
  const script = fileURLToPath(new URL('./transport-receiver.js', import.meta.url))
  const child = spawn(process.execPath, [script, link], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const first = await lines.next()
  if (first.done === true) throw new Error(`the ${link} receiver exited before listening`)
  const hello = JSON.parse(first.value) as { address: string; cpuUs: number }
  return { child, address: hello.address, cpuUs: hello.cpuUs, lines }
}

async function stopReceiver(receiver: Receiver): Promise<void> {
  if (receiver.child.exitCode === null) {
    receiver.child.kill('SIGTERM')
    await once(receiver.child, 'exit')
  }
}

async function senderNode(link: EncrypterName): Promise<LifeboatNode> {
  return createLifeboatNode({ privateKey: await generateKeyPair('Ed25519'), encrypter: link })
}

async function bulkTrial(config: BulkConfig, bytes: number, chunk: Buffer): Promise<TrialResult> {
  const receiver = await startReceiver(config.link)
  try {
    let seconds: number
    let senderCpuUs: number
    let acks: Ack[]
    if (config.link === 'raw') {
      const socket = tcpConnect(Number(receiver.address.split(':')[1]), '127.0.0.1')
      await once(socket, 'connect')
      const started = process.hrtime.bigint()
      const cpuStart = cpuUs()
      const ack = readSocketToEnd(socket)
      for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
        if (!socket.write(chunk)) await once(socket, 'drain')
      }
      socket.end()
      acks = [JSON.parse((await ack).toString())]
      seconds = Number(process.hrtime.bigint() - started) / 1e9
      senderCpuUs = cpuUs() - cpuStart
    } else {
      const node = await senderNode(config.link)
      try {
        const connection = await node.dial(multiaddr(receiver.address))
        const streams = await Promise.all(
          Array.from({ length: config.streams }, () => connection.newStream(BULK_PROTOCOL)),
        )
        const perStream = bytes / config.streams
        const started = process.hrtime.bigint()
        const cpuStart = cpuUs()
        acks = await Promise.all(streams.map((stream) => sendBulk(stream, perStream, chunk)))
        seconds = Number(process.hrtime.bigint() - started) / 1e9
        senderCpuUs = cpuUs() - cpuStart
      } finally {
        await node.stop()
      }
    }
    const received = acks.reduce((n, a) => n + a.bytes, 0)
    if (received !== bytes) throw new Error(`${config.name}: receiver got ${received} of ${bytes} bytes`)
    return {
      seconds,
      rssMiB: Math.round(Math.max(...acks.map((a) => a.rssKiB)) / 1024),
      senderCpuS: senderCpuUs / 1e6,
      receiverCpuS: (Math.max(...acks.map((a) => a.cpuUs)) - receiver.cpuUs) / 1e6,
    }
  } finally {
    await stopReceiver(receiver)
  }
}

interface SlowTrialResult {
  seconds: number
  rssMiB: number
  peakBufferedBytes: number
}

async function slowConsumerTrial(bytes: number, chunk: Buffer): Promise<SlowTrialResult> {
  const receiver = await startReceiver('tls')
  const node = await senderNode('tls')
  try {
    const connection = await node.dial(multiaddr(receiver.address))
    const stream = await connection.newStream(SLOW_BULK_PROTOCOL)
    let peakBufferedBytes = 0
    const sample = (): void => {
      peakBufferedBytes = Math.max(peakBufferedBytes, stream.writeBufferLength)
    }
    // The sender mostly waits for drain events, so a timer sees the buffer between writes too.
    const sampler = setInterval(sample, BUFFER_SAMPLE_MS)
    const started = process.hrtime.bigint()
    try {
      const ack = readToEnd(stream)
      for (let sent = 0; sent < bytes; sent += chunk.byteLength) {
        await writeToStream(stream, chunk)
        sample()
      }
      await closeStream(stream)
      const result = JSON.parse(Buffer.from(await ack).toString()) as Ack
      if (result.bytes !== bytes)
        throw new Error(`slow consumer: receiver got ${result.bytes} of ${bytes} bytes`)
      return {
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        rssMiB: Math.round(result.rssKiB / 1024),
        peakBufferedBytes,
      }
    } finally {
      clearInterval(sampler)
    }
  } finally {
    await node.stop()
    await stopReceiver(receiver)
  }
}

async function sendBulk(stream: Stream, bytes: number, chunk: Buffer): Promise<Ack> {
  const ack = readToEnd(stream)
  for (let sent = 0; sent < bytes; sent += chunk.byteLength) await writeToStream(stream, chunk)
  await closeStream(stream)
  return JSON.parse(Buffer.from(await ack).toString())
}

async function readSocketToEnd(socket: Socket): Promise<Buffer> {
  const parts: Buffer[] = []
  socket.on('data', (part: Buffer) => parts.push(part))
  await once(socket, 'end')
  return Buffer.concat(parts)
}

async function rpcTrial(
  link: Link,
  messages: number,
): Promise<{ sequentialPerSec: number; inFlightPerSec: number }> {
  const receiver = await startReceiver(link)
  let node: LifeboatNode | undefined
  try {
    let channel: { write(m: Uint8Array): Promise<void>; read(): Promise<Uint8Array | undefined> }
    if (link === 'raw') {
      const socket = tcpConnect(Number(receiver.address.split(':')[1]), '127.0.0.1')
      socket.setNoDelay(true)
      await once(socket, 'connect')
      channel = rawFramedSocket(socket)
    } else {
      node = await senderNode(link)
      const connection = await node.dial(multiaddr(receiver.address))
      channel = createFramedStream(await connection.newStream(ECHO_PROTOCOL))
    }
    const request = randomBytes(RPC_MESSAGE_BYTES)
    let started = process.hrtime.bigint()
    for (let i = 0; i < messages; i++) {
      await channel.write(request)
      if ((await channel.read()) === undefined) throw new Error('echo ended early')
    }
    const sequentialPerSec = messages / (Number(process.hrtime.bigint() - started) / 1e9)
    started = process.hrtime.bigint()
    let answered = 0
    let onAnswer: (() => void) | undefined
    const reading = (async () => {
      for (let i = 0; i < messages; i++) {
        if ((await channel.read()) === undefined) throw new Error('echo ended early')
        answered++
        onAnswer?.()
      }
    })()
    for (let sent = 0; sent < messages; sent++) {
      // Keep RPC_IN_FLIGHT requests outstanding: wait for an answer when the window is full.
      while (sent - answered >= RPC_IN_FLIGHT) {
        await new Promise<void>((resolve) => {
          onAnswer = resolve
        })
      }
      await channel.write(request)
    }
    await reading
    const inFlightPerSec = messages / (Number(process.hrtime.bigint() - started) / 1e9)
    return { sequentialPerSec, inFlightPerSec }
  } finally {
    await node?.stop()
    await stopReceiver(receiver)
  }
}

// ---- command line -------------------------------------------------------------------------

function parseSize(text: string): number {
  const match = /^(\d+)\s*(GiB|MiB|KiB)?$/i.exec(text.trim())
  if (match === null) throw new Error(`not a size: ${text} (use e.g. 1GiB, 256MiB)`)
  const unit = (match[2] ?? '').toLowerCase()
  const scale = unit === 'gib' ? 1024 * MiB : unit === 'mib' ? MiB : unit === 'kib' ? 1024 : 1
  return Number(match[1]) * scale
}

async function main(argv: string[]): Promise<void> {
  const options: TransportBenchOptions = {}
  for (const arg of argv) {
    const [key, value = ''] = arg.replace(/^--/, '').split('=')
    if (key === 'bytes') options.bytes = parseSize(value)
    else if (key === 'runs') options.runs = Number(value)
    else if (key === 'rpc-messages') options.rpcMessages = Number(value)
    else if (key === 'configs') options.configs = value.split(',')
    else if (key === 'slow-bytes') options.slowConsumerBytes = parseSize(value)
    else
      throw new Error(
        `unknown option ${arg}; use --bytes=1GiB --runs=3 --rpc-messages=3000 --configs=noise-1,tls-1 --slow-bytes=256MiB`,
      )
  }
  console.log(`node ${process.version}, command: node ${process.argv.slice(1).join(' ')}`)
  await runTransportBench(options)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
