/**
 * Liveness: which nodes are online, what load each last reported, and when one has gone quiet.
 *
 * A node is *heard* when its session hello or a heartbeat arrives. It is *online* from its hello
 * until it misses `missedHeartbeats` heartbeats in a row, and online again at its next heartbeat.
 * A heartbeat is *missed* when it has not arrived half an interval after it was due, so a node is
 * marked offline `(missedHeartbeats + ½) × interval` after it was last heard. The *interval* is the
 * one the node announces in each HEARTBEAT (`intervalMs`); until its first heartbeat, the
 * coordinator's own `heartbeatIntervalMs`.
 *
 * Offline is decided by heartbeats alone, not by the connection closing: an agent that reconnects
 * within the window never flaps offline and back, and a dropped connection is noticed within the
 * same window. Stopping the coordinator marks nobody offline (the coordinator went away, not the
 * nodes); at start, nodes the store says are online get one window to say hello again.
 *
 * Store writes: a status change is written (setNodeStatus) before its event is emitted. lastSeenAt
 * is written at hello, when going offline (the last time heard, exactly), and otherwise at most
 * every `seenWriteIntervalMs` per node: the exact time lives in memory, and writing every heartbeat
 * would cost one fsync per node per interval. Writes of one node are chained in order; a failed
 * write is logged and does not stop the node's session.
 */
import type { Hello, LoadReport } from '../../protocol/index.js'
import type { LifecycleEvents } from '../events/lifecycle-events.js'
import type { MetadataStore, Node } from '../store/metadata-store.js'
import type { ControlLogger } from './logger.js'

/** Versions the store accepts (store-input.ts): printable ASCII without spaces, at most 64. */
const STORABLE_VERSION = /^[\x21-\x7e]{1,64}$/

export interface LivenessOptions {
  heartbeatIntervalMs: number
  missedHeartbeats: number
  seenWriteIntervalMs: number
}

export type LivenessStore = Pick<
  MetadataStore,
  'listTenants' | 'listNodes' | 'markNodeSeen' | 'setNodeStatus'
>

export interface LivenessComponents {
  store: LivenessStore
  /** Receives node-online, node-offline and site-load. */
  events: LifecycleEvents
  logger: ControlLogger
  now: () => number
}

/** The latest load report of an online node, as the dispatcher reads it. */
export interface NodeLoad {
  nodeId: string
  load: LoadReport
  /** When the heartbeat arrived (coordinator clock). */
  receivedAt: number
  /** The interval the report's rates cover. */
  intervalMs: number
}

interface NodeState {
  node: Node
  online: boolean
  lastHeardAt: number | undefined
  lastSeenWrittenAt: number | undefined
  intervalMs: number | undefined
  load: NodeLoad | undefined
  timer: NodeJS.Timeout | undefined
  writes: Promise<void>
}

export class LivenessTracker {
  readonly #options: LivenessOptions
  readonly #components: LivenessComponents
  readonly #nodes = new Map<string, NodeState>()
  #stopped = false

  constructor(options: LivenessOptions, components: LivenessComponents) {
    this.#options = options
    this.#components = components
  }

  /** Gives every node the store says is online one window to say hello again. */
  async start(): Promise<void> {
    this.#stopped = false
    const { store, now } = this.#components
    for (const tenant of await store.listTenants()) {
      for (const node of await store.listNodes(tenant.id)) {
        if (node.status !== 'online' || this.#nodes.has(node.id)) continue
        const state = this.#state(node)
        state.online = true
        state.lastHeardAt = node.lastSeenAt
        state.lastSeenWrittenAt = node.lastSeenAt
        this.#arm(state, now())
      }
    }
  }

  /** Clears every timer and waits for the writes under way. Marks nobody offline. */
  async stop(): Promise<void> {
    this.#stopped = true
    for (const state of this.#nodes.values()) clearTimeout(state.timer)
    await Promise.all([...this.#nodes.values()].map((state) => state.writes))
  }

  /** A session hello from an enrolled node: online (stored), seen, software version recorded. */
  helloReceived(node: Node, hello: Hello): Promise<void> {
    const state = this.#state(node)
    state.node = node
    const at = this.#heard(state)
    const software = STORABLE_VERSION.test(hello.software) ? hello.software : undefined
    const wasOnline = state.online
    state.online = true
    return this.#write(state, async () => {
      const { store } = this.#components
      if (!wasOnline) {
        state.node = await store.setNodeStatus(node.id, 'online', at)
        this.#emitOnline(state, at)
      }
      if (wasOnline || (software !== undefined && software !== state.node.softwareVersion)) {
        state.node = await store.markNodeSeen(node.id, at, software)
      }
      state.lastSeenWrittenAt = at
    })
  }

  /** A heartbeat of a node whose session said hello: load kept, timer re-armed. */
  heartbeat(nodeId: string, load: LoadReport, intervalMs: number): void {
    const state = this.#nodes.get(nodeId)
    if (state === undefined) return
    state.intervalMs = intervalMs
    const at = this.#heard(state)
    state.load = { nodeId, load, receivedAt: at, intervalMs }
    const { id, tenantId, siteId, role } = state.node
    this.#components.events.emit('site-load', { nodeId: id, tenantId, siteId, role, load, intervalMs, at })
    const { store } = this.#components
    if (!state.online) {
      state.online = true
      void this.#write(state, async () => {
        state.node = await store.setNodeStatus(nodeId, 'online', at)
        state.lastSeenWrittenAt = at
        this.#emitOnline(state, at)
      })
    } else if (at - (state.lastSeenWrittenAt ?? 0) >= this.#options.seenWriteIntervalMs) {
      state.lastSeenWrittenAt = at
      void this.#write(state, async () => {
        state.node = await store.markNodeSeen(nodeId, at)
      })
    }
  }

  isOnline(nodeId: string): boolean {
    return this.#nodes.get(nodeId)?.online === true
  }

  /** The node's latest load report while it is online; undefined otherwise. */
  loadOf(nodeId: string): NodeLoad | undefined {
    const state = this.#nodes.get(nodeId)
    return state?.online === true ? state.load : undefined
  }

  /** Resolves when every write queued so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.#nodes.values()].map((state) => state.writes))
  }

  #state(node: Node): NodeState {
    let state = this.#nodes.get(node.id)
    if (state === undefined) {
      state = {
        node,
        online: false,
        lastHeardAt: undefined,
        lastSeenWrittenAt: undefined,
        intervalMs: undefined,
        load: undefined,
        timer: undefined,
        writes: Promise.resolve(),
      }
      this.#nodes.set(node.id, state)
    }
    return state
  }

  #heard(state: NodeState): number {
    const at = this.#components.now()
    state.lastHeardAt = at
    this.#arm(state, at)
    return at
  }

  #arm(state: NodeState, from: number): void {
    clearTimeout(state.timer)
    if (this.#stopped) return
    const interval = state.intervalMs ?? this.#options.heartbeatIntervalMs
    const windowMs = (this.#options.missedHeartbeats + 0.5) * interval
    const delay = Math.max(0, from + windowMs - this.#components.now())
    state.timer = setTimeout(() => this.#expire(state), delay)
    state.timer.unref()
  }

  #expire(state: NodeState): void {
    if (this.#stopped || !state.online) return
    state.online = false
    state.load = undefined
    const at = this.#components.now()
    const { store, logger } = this.#components
    const lastHeardAt = state.lastHeardAt
    logger.warn(
      { event: 'node-offline', nodeId: state.node.id, lastSeenAt: lastHeardAt },
      'node missed its heartbeats: offline',
    )
    void this.#write(state, async () => {
      if (lastHeardAt !== undefined && lastHeardAt > (state.lastSeenWrittenAt ?? 0)) {
        await store.markNodeSeen(state.node.id, lastHeardAt)
        state.lastSeenWrittenAt = lastHeardAt
      }
      state.node = await store.setNodeStatus(state.node.id, 'offline', at)
      const { id, tenantId, siteId, role } = state.node
      this.#components.events.emit('node-offline', {
        nodeId: id,
        tenantId,
        siteId,
        role,
        at,
        lastSeenAt: lastHeardAt,
        missedHeartbeats: this.#options.missedHeartbeats,
      })
    })
  }

  #emitOnline(state: NodeState, at: number): void {
    const { id, tenantId, siteId, role } = state.node
    this.#components.logger.info({ event: 'node-online', nodeId: id }, 'node online')
    this.#components.events.emit('node-online', { nodeId: id, tenantId, siteId, role, at })
  }

  #write(state: NodeState, change: () => Promise<void>): Promise<void> {
    const next = state.writes.then(change).catch((error: unknown) => {
      this.#components.logger.error(
        { event: 'store-write-failed', nodeId: state.node.id, err: error },
        'could not record the node status',
      )
    })
    state.writes = next
    return next
  }
}
