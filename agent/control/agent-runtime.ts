/**
 * An agent started from its *data directory*: the layout `lifeboat agent start` uses.
 *
 * ```
 * <data-dir>/            mode 0700 when created here
 *   identity.key         the node's Ed25519 key (transport/identity.ts): its node id
 *   enrolment.json       written once the coordinator accepted the node (enrolment-file.ts)
 *   status-queue/        status updates not yet acknowledged by the coordinator (agent/status-queue/)
 * ```
 *
 * Every job's status updates go through the status queue; after each (re)connection, and whenever
 * an update could not go on its job stream, the open session replays what is queued.
 *
 * Start: the identity (created on first start), a libp2p node that listens only for block data
 * (a connector given `blockListen`, agent/blocks/), then — only when
 * there is no enrolment file — enrolment with the token on the coordinator's enrolment listener,
 * and the control client, which keeps the connection and the session. A node that is enrolled
 * ignores a token it is given again; one that is not must be given one.
 */
import { mkdir } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { createLifeboatNode, type LifeboatNode, loadOrCreateIdentity } from '../../transport/index.js'
import { blockListenAddresses, startBlockListener } from '../blocks/block-listener.js'
import { createJobRunner, type JobRunner } from '../jobs/job-runner.js'
import { createLoadSharing, type LoadSharing, type LoadSharingInit } from '../jobs/load-sharing.js'
import {
  type NodeReplication,
  type NodeReplicationInit,
  startNodeReplication,
} from '../replication/node-replication.js'
import { createStatusQueue, createStatusReplayer, type StatusQueue } from '../status-queue/index.js'
import { type ControlClient, type ControlClientInit, createControlClient } from './control-client.js'
import type { SendStatusReplay } from './coordinator-session.js'
import { enrolWithCoordinator } from './enrol-client.js'
import { type EnrolmentRecord, enrolmentFilePath, readEnrolment, writeEnrolment } from './enrolment-file.js'
import { AgentControlError, AgentControlErrorCode, invalidOption } from './errors.js'
import { type AgentLogger, silentLogger } from './logger.js'

export const IDENTITY_FILE_NAME = 'identity.key'
/** A data directory created here is owner-only: it holds the node's key. */
export const DATA_DIR_MODE = 0o700
/** Node names are at most this long on the wire (ENROL `name`). */
const MAX_NODE_NAME_LENGTH = 255

export interface AgentInit extends Omit<ControlClientInit, 'site'> {
  dataDir: string
  /** The one-time enrolment token; needed only when the node has not enrolled yet. */
  token?: string
  /** The enrolment listener. Default: the coordinator's address with its TCP port + 1. */
  enrolAddress?: string
  /** The node's name for people. Default: the host name. */
  name?: string
  /** Connector only: multiaddrs to listen on for block data from appliances (docs/TRANSPORT.md). */
  blockListen?: string[]
  /** Replication: the appliance's volume map, the connector's chunk store (agent/replication/). */
  replication?: Omit<NodeReplicationInit, 'role' | 'dataDir'>
  /**
   * Hand back a job not yet started when this node is overloaded and a site peer has room
   * (agent/jobs/load-sharing.ts); false turns it off. Default: on, with its default rules.
   */
  loadSharing?: LoadSharingInit | false
}

export interface AgentComponents {
  logger?: AgentLogger
}

export interface Agent {
  readonly node: LifeboatNode
  readonly client: ControlClient
  /** Takes job offers; register executors on it. None are registered by default. */
  readonly jobs: JobRunner
  /** Load sharing with the site's peers; undefined when turned off. */
  readonly loadSharing: LoadSharing | undefined
  readonly enrolment: EnrolmentRecord
  /** True when this start enrolled the node (a token was redeemed). */
  readonly enrolledNow: boolean
  /** Stops the control client and the libp2p node. Idempotent. */
  stop(): Promise<void>
}

export async function startAgent(init: AgentInit, components: AgentComponents = {}): Promise<Agent> {
  const logger = components.logger ?? silentLogger
  const coordinatorId = peerIdIn(init.coordinator, 'coordinator')
  const blockListen = blockListenAddresses(init.role, init.blockListen)
  await mkdir(init.dataDir, { recursive: true, mode: DATA_DIR_MODE })
  const identity = await loadOrCreateIdentity(join(init.dataDir, IDENTITY_FILE_NAME))
  const nodeId = identity.peerId.toString()
  const enrolmentPath = enrolmentFilePath(init.dataDir)
  let enrolment = await readEnrolment(enrolmentPath)
  if (enrolment !== undefined) checkEnrolment(enrolment, coordinatorId, init.role)
  else if (init.token === undefined) {
    throw new AgentControlError(AgentControlErrorCode.ENROLMENT_REQUIRED, `node ${nodeId} is not enrolled`, {
      remediation:
        'Pass --token with an enrolment token (lifeboat coordinator token create on the coordinator).',
    })
  }
  const queue: StatusQueue = createStatusQueue(
    { dataDir: init.dataDir },
    {
      onQuarantine: (error) =>
        logger.warn({ event: 'status-record-quarantined', code: error.code }, error.message),
    },
  )
  await queue.open()
  let node: LifeboatNode
  let replication: NodeReplication
  try {
    replication = await startNodeReplication(
      { ...init.replication, role: init.role, dataDir: init.dataDir },
      { logger },
    )
  } catch (error) {
    await queue.close()
    throw error
  }
  try {
    node = await createLifeboatNode({ privateKey: identity.privateKey, listen: blockListen })
  } catch (error) {
    await replication.close()
    await queue.close()
    throw error
  }
  let replayStop: (() => Promise<void>) | undefined
  try {
    let enrolledNow = false
    if (enrolment === undefined) {
      const address = init.enrolAddress ?? nextPort(init.coordinator)
      logger.info({ event: 'enrolling', nodeId, address, role: init.role }, 'enrolling with the coordinator')
      const record = await enrolWithCoordinator(node, {
        address,
        token: init.token!,
        role: init.role,
        name: (init.name ?? hostname()).slice(0, MAX_NODE_NAME_LENGTH),
        software: init.software ?? 'lifeboat',
        signal: init.signal,
      })
      enrolment = { format: 'lifeboat-enrolment', version: 1, coordinator: coordinatorId, node: record }
      await writeEnrolment(enrolmentPath, enrolment)
      enrolledNow = true
      logger.info(
        { event: 'enrolled', nodeId, tenantId: record.tenant, siteId: record.site, role: record.role },
        'enrolled',
      )
    } else if (init.token !== undefined) {
      logger.info({ event: 'already-enrolled', nodeId }, 'already enrolled: the token was not used')
    }
    let blockAddresses: string[] | undefined
    if (blockListen.length > 0) {
      const site = enrolment.node.site
      const listener = await startBlockListener(node, {
        site,
        software: init.software ?? 'lifeboat',
        logger,
        signal: init.signal,
        chunkStore: replication.chunkStore,
      })
      blockAddresses = listener.addresses
    }
    let jobs: JobRunner | undefined
    const client = createControlClient(
      {
        ...init,
        site: enrolment.node.site,
        blockAddresses: init.blockAddresses ?? blockAddresses,
        activeJobs: init.activeJobs ?? (() => jobs?.activeJobs ?? 0),
        // The runner's limit, which may change while it runs (setMaxJobs).
        maxJobs: init.maxJobs ?? (() => jobs?.maxJobs ?? 0),
      },
      { node, logger },
    )
    jobs = createJobRunner(
      {
        role: init.role,
        site: enrolment.node.site,
        maxJobs: typeof init.maxJobs === 'function' ? init.maxJobs() : init.maxJobs,
        software: init.software,
        frameIdleTimeoutMs: init.frameIdleTimeoutMs,
      },
      { client, nodeId, logger, queue, onUndelivered: () => replay() },
    )
    const runner = jobs
    const loadSharing =
      init.loadSharing === false
        ? undefined
        : createLoadSharing(init.loadSharing ?? {}, { runner, client, logger })
    replication.registerExecutors(runner, {
      node,
      site: enrolment.node.site,
      software: init.software ?? 'lifeboat',
    })
    // The replay: runs on the open session; a request made during a run starts another after it,
    // so an update queued while a run was finishing is not left behind until the next reconnect.
    let session: SendStatusReplay | undefined
    let again = false
    let driving: Promise<void> | undefined
    const replayer = createStatusReplayer(
      {},
      {
        queue: runner.replayQueue,
        send: (batch) =>
          session === undefined
            ? Promise.reject(new Error('no session with the coordinator'))
            : session(batch),
      },
    )
    const drive = async (): Promise<void> => {
      try {
        while (again && session !== undefined) {
          again = false
          const report = await replayer.run()
          if (report.batches > 0 || report.stoppedBy !== undefined) {
            logger.info(
              { event: 'status-replayed', ...report },
              report.complete ? 'queued status updates replayed' : 'status replay stopped',
            )
          }
          // A stopped run waits for the next session (or the next update), it does not spin.
          if (!report.complete) break
        }
      } finally {
        driving = undefined
      }
    }
    const replay = (): void => {
      again = true
      if (driving === undefined && session !== undefined) driving = drive()
    }
    client.replayStatusWith({
      sessionOpened: (send) => {
        session = send
        replay()
      },
      sessionClosed: (send) => {
        if (session === send) session = undefined
      },
    })
    replayStop = async () => {
      client.replayStatusWith(undefined)
      session = undefined
      replayer.stop()
      await driving
    }
    // Handlers first: the coordinator may offer a job as soon as the session is open.
    await jobs.start()
    client.start()
    const enrolled = enrolment
    let stopping: Promise<void> | undefined
    return {
      node,
      client,
      jobs: runner,
      loadSharing,
      enrolment: enrolled,
      enrolledNow,
      stop: () => {
        loadSharing?.stop()
        stopping ??= runner
          .stop()
          .then(() => client.stop())
          .then(() => replayStop?.())
          .finally(async () => {
            try {
              await node.stop()
            } finally {
              await replication.close()
              await queue.close()
            }
          })
        return stopping
      },
    }
  } catch (error) {
    await replayStop?.()
    await node.stop()
    await replication.close()
    await queue.close()
    throw error
  }
}

/** The default enrolment address: the coordinator's address with its TCP port + 1. */
export function nextPort(address: string): string {
  const components = multiaddr(address).getComponents()
  const tcp = components.find((c) => c.name === 'tcp')
  if (tcp?.value === undefined || Number(tcp.value) >= 65_535 || Number(tcp.value) === 0) {
    throw invalidOption('enrolAddress', `has no default for ${address}: give it`)
  }
  return components
    .map((c) => {
      if (c === tcp) return `/tcp/${Number(tcp.value) + 1}`
      return c.value === undefined ? `/${c.name}` : `/${c.name}/${c.value}`
    })
    .join('')
}

function checkEnrolment(enrolment: EnrolmentRecord, coordinatorId: string, role: string): void {
  if (enrolment.coordinator !== coordinatorId) {
    throw new AgentControlError(
      AgentControlErrorCode.COORDINATOR_MISMATCH,
      `this node enrolled with coordinator ${enrolment.coordinator}, not ${coordinatorId}`,
      {
        remediation:
          'Point --coordinator at the coordinator the node enrolled with, or give the node a new data directory to enrol with this one.',
      },
    )
  }
  if (enrolment.node.role !== role) {
    throw new AgentControlError(
      AgentControlErrorCode.ROLE_MISMATCH,
      `this node enrolled as a ${enrolment.node.role} and cannot start as a ${role}`,
      { remediation: `Start it with --role ${enrolment.node.role}; a node keeps the role it enrolled with.` },
    )
  }
}

function peerIdIn(address: string, option: string): string {
  let id: string | undefined
  try {
    id = multiaddr(address)
      .getComponents()
      .findLast((c) => c.name === 'p2p')?.value
  } catch {
    throw invalidOption(option, `${JSON.stringify(address)} is not a multiaddr`)
  }
  if (id === undefined) throw invalidOption(option, `${address} must end in /p2p/<coordinator id>`)
  return id
}
