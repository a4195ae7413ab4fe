// Shared by the control-link tests: coordinators and agents on loopback that are always stopped,
// raw protocol peers that speak frames by hand, a logger that records, and bounded waits.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Connection, PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { type Agent, type AgentInit, startAgent } from '../../agent/control/index.js'
import {
  type ControlServer,
  type ControlServerInit,
  type ControlStore,
  createControlServer,
  issueEnrolmentToken,
} from '../../coordinator/control/index.js'
import type { ControlLogger } from '../../coordinator/control/logger.js'
import type { EventBus } from '../../coordinator/events/event-bus.js'
import { createMemoryStore } from '../../coordinator/store/memory-store.js'
import type { MetadataStore, NodeRole } from '../../coordinator/store/metadata-store.js'

/** The store records the control tests use (a memory store, a level store, a counting proxy). */
export type TestStore = ControlStore &
  Pick<
    MetadataStore,
    | 'open'
    | 'close'
    | 'listEnrolmentTokens'
    | 'getTenant'
    | 'createTenant'
    | 'getSite'
    | 'createSite'
    | 'createEnrolmentToken'
  >

import {
  CONTROL_PROTOCOL_ID,
  CONTROL_PROTOCOL_VERSION,
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  type Hello,
  MessageType,
} from '../../protocol/index.js'
import {
  createFramedStream,
  createLifeboatNode,
  type FramedStream,
  type LifeboatNode,
  openStreamOn,
} from '../../transport/index.js'

export const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
/** No wait in these tests may take longer than this; a hang fails the test instead of the run. */
export const WAIT_LIMIT_MS = 10_000

/** Everything a test started, stopped in reverse order by `run()` (call it in afterEach). */
export class Cleanup {
  readonly #steps: Array<() => Promise<unknown> | unknown> = []

  add(step: () => Promise<unknown> | unknown): void {
    this.#steps.push(step)
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await Promise.resolve(step()).catch(() => undefined)
  }

  async tempDir(prefix = 'lifeboat-control-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    this.add(() => rm(dir, { recursive: true, force: true }))
    return dir
  }

  async node(privateKey?: PrivateKey): Promise<LifeboatNode> {
    const node = await createLifeboatNode({ privateKey: privateKey ?? (await generateKeyPair('Ed25519')) })
    this.add(() => node.stop())
    return node
  }
}

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error'
  fields: Record<string, unknown>
  message: string
}

/** A logger that keeps every record, for asserting what a side logged. */
export class RecordingLogger implements ControlLogger {
  readonly records: LogRecord[] = []
  debug(fields: object, message: string): void {
    this.records.push({ level: 'debug', fields: fields as Record<string, unknown>, message })
  }
  info(fields: object, message: string): void {
    this.records.push({ level: 'info', fields: fields as Record<string, unknown>, message })
  }
  warn(fields: object, message: string): void {
    this.records.push({ level: 'warn', fields: fields as Record<string, unknown>, message })
  }
  error(fields: object, message: string): void {
    this.records.push({ level: 'error', fields: fields as Record<string, unknown>, message })
  }
  events(name: string): LogRecord[] {
    return this.records.filter((record) => record.fields.event === name)
  }
}

export interface TestCoordinator {
  server: ControlServer
  store: TestStore
  logger: RecordingLogger
  privateKey: PrivateKey
  address: string
  enrolAddress: string
  /** A fresh token for `role` in tenant `acme`, site `dc1` (created as needed). */
  token(role: NodeRole, ttlMs?: number): Promise<string>
}

/** A started control server on loopback over an in-memory store (or the one given). */
export async function startTestCoordinator(
  cleanup: Cleanup,
  init: ControlServerInit = {},
  extra: { store?: TestStore; now?: () => number; privateKey?: PrivateKey } = {},
): Promise<TestCoordinator> {
  const store: TestStore = extra.store ?? createMemoryStore()
  if (extra.store === undefined) {
    await store.open()
    cleanup.add(() => store.close())
  }
  const logger = new RecordingLogger()
  const privateKey = extra.privateKey ?? (await generateKeyPair('Ed25519'))
  const server = createControlServer(
    { listen: [LOOPBACK], enrolListen: [LOOPBACK], ...init },
    { store, privateKey, logger, now: extra.now },
  )
  await server.start()
  cleanup.add(() => server.stop())
  return {
    server,
    store,
    logger,
    privateKey,
    address: server.addresses()[0]!,
    enrolAddress: server.enrolAddresses()[0]!,
    token: async (role, ttlMs) =>
      (await issueEnrolmentToken(store, { tenant: 'acme', site: 'dc1', role, ttlMs }, Date.now())).token,
  }
}

/** An agent started on a fresh data directory (unless given), enrolling with a token when given. */
export async function startTestAgent(
  cleanup: Cleanup,
  coordinator: TestCoordinator,
  init: Partial<AgentInit> & { role: NodeRole },
): Promise<Agent> {
  const agent = await startAgent({
    dataDir: init.dataDir ?? (await cleanup.tempDir('lifeboat-agent-')),
    coordinator: coordinator.address,
    enrolAddress: coordinator.enrolAddress,
    baseDelayMs: 50,
    maxDelayMs: 500,
    ...init,
  })
  cleanup.add(() => agent.stop())
  return agent
}

/** `promise`, or a rejection after WAIT_LIMIT_MS. */
export async function withLimit<T>(promise: Promise<T>, what: string, limitMs = WAIT_LIMIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${limitMs} ms`)), limitMs)
  })
  try {
    return await Promise.race([promise, limit])
  } finally {
    clearTimeout(timer)
  }
}

/** The next event of `type` on `bus` (matching `filter`), or a rejection after WAIT_LIMIT_MS. */
export function nextEvent<M extends object, K extends keyof M & string>(
  bus: EventBus<M>,
  type: K,
  filter: (payload: M[K]) => boolean = () => true,
): Promise<M[K]> {
  let off: (() => void) | undefined
  const next = new Promise<M[K]>((resolve) => {
    off = bus.on(type, (payload) => {
      if (!filter(payload)) return
      off?.()
      resolve(payload)
    })
  })
  return withLimit(next, `event ${type}`).finally(() => off?.())
}

/** Polls `check` every 20 ms until it returns true, for at most WAIT_LIMIT_MS. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_LIMIT_MS} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * A peer speaking control frames by hand on one stream: it can send what a well-behaved node never
 * would (garbage, oversize prefixes, half frames) and read what the coordinator answers.
 */
export class RawControlStream {
  readonly framed: FramedStream
  readonly connection: Connection

  constructor(framed: FramedStream, connection: Connection) {
    this.framed = framed
    this.connection = connection
  }

  static async open(
    node: LifeboatNode,
    address: string,
    protocol = CONTROL_PROTOCOL_ID,
  ): Promise<RawControlStream> {
    const connection = await node.dial(multiaddr(address), { signal: AbortSignal.timeout(WAIT_LIMIT_MS) })
    return RawControlStream.on(connection, protocol)
  }

  static async on(connection: Connection, protocol = CONTROL_PROTOCOL_ID): Promise<RawControlStream> {
    const stream = await openStreamOn(connection, protocol)
    // A large limit: the tests read the coordinator's frames, they do not test this side's bounds.
    return new RawControlStream(createFramedStream(stream, { maxMessageBytes: 2 * 1024 * 1024 }), connection)
  }

  send(message: ControlMessage): Promise<void> {
    return this.framed.write(encodeControlMessage(message))
  }

  /** Writes raw bytes as they are (a prefix, half a frame, garbage). */
  sendBytes(bytes: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        this.framed.stream.send(bytes)
        resolve()
      } catch (error) {
        reject(error)
      }
    })
  }

  /** The next message, undefined when the coordinator closed its end. */
  async receive(): Promise<ControlMessage | undefined> {
    const body = await withLimit(this.framed.read(), 'a frame from the coordinator')
    return body === undefined ? undefined : decodeControlMessage(body)
  }

  /** Reads until the coordinator's side ends; resolves with how it ended. */
  async ended(): Promise<'closed' | 'reset'> {
    for (let i = 0; i < 100; i++) {
      try {
        if ((await this.receive()) === undefined) return 'closed'
      } catch {
        return 'reset'
      }
    }
    throw new Error('the stream did not end after 100 frames')
  }
}

/** A node's HELLO as a well-behaved node sends it. */
export function nodeHello(nodeId: string, role: NodeRole | 'coordinator', extra: Partial<Hello> = {}): Hello {
  return {
    t: MessageType.HELLO,
    protocol: { ...CONTROL_PROTOCOL_VERSION },
    nodeId,
    role,
    software: 'lifeboat-test/1',
    ...extra,
  }
}

/** A heartbeat with the given number of active jobs, so a test can tell heartbeats apart. */
export function heartbeat(activeJobs: number, intervalMs = 1_000): ControlMessage {
  return {
    t: MessageType.HEARTBEAT,
    at: Date.now(),
    intervalMs,
    load: { activeJobs, cpu: 0.5, freeMemory: 1024, sendRate: 0, receiveRate: 0, queuedUpdates: 0 },
  }
}

/** Enrols a raw node by redeeming a token straight in the store (no enrolment conversation). */
export async function enrolDirectly(
  coordinator: TestCoordinator,
  node: LifeboatNode,
  role: NodeRole = 'appliance',
): Promise<void> {
  await coordinator.store.redeemEnrolmentToken(
    await coordinator.token(role),
    node.peerId.toString(),
    role,
    Date.now(),
  )
}
