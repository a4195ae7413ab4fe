/**
 * What replication adds to a node at start (agent/control/agent-runtime.ts):
 *
 * - a **connector** opens its chunk store (`<data-dir>/chunks` unless told otherwise) with its master
 *   key (`<data-dir>/master.key` unless told otherwise; created on the first start, 0600 — keep a
 *   copy apart from the node: without it the stored data cannot be read), hands the store to its
 *   block listener, and runs consistency checks and prunes;
 * - an **appliance** given a volume map runs replication cycles; without one it declines them
 *   (AGENT_JOB_TYPE_UNSUPPORTED), as a node without the executor does. Its scan worker threads are
 *   kept from one cycle to the next (agent/scan/shared-scan-pool.ts) and end with `close()`.
 */
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import {
  type ChunkStore,
  createMasterKeyFile,
  openChunkStore,
  readMasterKeyFile,
} from '../../blockio/chunk-store/index.js'
import type { LifeboatNode } from '../../transport/index.js'
import type { AgentLogger } from '../control/logger.js'
import type { JobRunner } from '../jobs/job-runner.js'
import { SharedScanPool } from '../scan/shared-scan-pool.js'
import { createCheckExecutor, createPruneExecutor } from './connector-executors.js'
import { createReplicationExecutor } from './replication-executor.js'

export const CHUNK_STORE_DIR_NAME = 'chunks'
export const MASTER_KEY_FILE_NAME = 'master.key'

export interface NodeReplicationInit {
  role: 'appliance' | 'connector'
  dataDir: string
  /** Appliance: the volume map file (volume-map.ts). */
  volumeMapPath?: string
  /** Connector: the chunk store's folder. Default `<data-dir>/chunks`. */
  chunkStoreDir?: string
  /** Connector: the master key file. Default `<data-dir>/master.key`, created when absent. */
  masterKeyPath?: string
  /** Appliance: scan worker threads. */
  scanWorkers?: number
}

export interface NodeReplication {
  /** The connector's open chunk store. */
  readonly chunkStore?: ChunkStore
  /** Registers the executors of this node's role on its job runner. */
  registerExecutors(jobs: JobRunner, context: { node: LifeboatNode; site?: string; software: string }): void
  close(): Promise<void>
}

export async function startNodeReplication(
  init: NodeReplicationInit,
  components: { logger: AgentLogger },
): Promise<NodeReplication> {
  if (init.role === 'appliance') {
    // Scan threads kept warm from one cycle to the next; started by the first scan.
    const scanPool = new SharedScanPool()
    return {
      registerExecutors(jobs, context) {
        if (init.volumeMapPath === undefined) return
        jobs.registerExecutor(
          'replication-cycle',
          createReplicationExecutor(
            {
              dataDir: init.dataDir,
              volumeMapPath: init.volumeMapPath,
              site: context.site,
              software: context.software,
              workers: init.scanWorkers,
            },
            { node: context.node, scanPool },
          ),
        )
      },
      close: () => scanPool.close(),
    }
  }
  const keyPath = init.masterKeyPath ?? join(init.dataDir, MASTER_KEY_FILE_NAME)
  let masterKey: Uint8Array
  if (init.masterKeyPath === undefined && !(await exists(keyPath))) {
    masterKey = await createMasterKeyFile(keyPath)
    components.logger.warn(
      { event: 'master-key-created', path: keyPath },
      'created the chunk store master key: keep a copy apart from this node, the stored data cannot be read without it',
    )
  } else {
    masterKey = await readMasterKeyFile(keyPath)
  }
  const root = init.chunkStoreDir ?? join(init.dataDir, CHUNK_STORE_DIR_NAME)
  const store = await openChunkStore({ root, masterKey })
  components.logger.info({ event: 'chunk-store-opened', root }, 'chunk store open')
  return {
    chunkStore: store,
    registerExecutors(jobs) {
      jobs.registerExecutor('consistency-check', createCheckExecutor({ store }))
      jobs.registerExecutor('maintenance', createPruneExecutor({ store }))
    },
    close: () => store.close(),
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}
