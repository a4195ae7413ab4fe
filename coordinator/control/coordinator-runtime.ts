/**
 * A coordinator started from its *data directory*: the layout `lifeboat coordinator start` uses,
 * and what tests restart to prove that nodes survive a coordinator restart.
 *
 * ```
 * <data-dir>/            mode 0700 when created here
 *   identity.key         the coordinator's Ed25519 key (transport/identity.ts): its peer id
 *   store/               the metadata store (classic-level, docs/STORE.md)
 *   admin.sock           the admin endpoint while the coordinator runs (admin-server.ts)
 * ```
 *
 * Start order: identity, store (its lock makes this the only coordinator on the directory), the
 * control server (both listeners), then the admin socket. Stop runs the other way round.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { loadOrCreateIdentity } from '../../transport/index.js'
import type { LifecycleEvents } from '../events/lifecycle-events.js'
import { createLevelStore, type LevelMetadataStore } from '../store/level-store.js'
import { ADMIN_SOCKET_NAME, type AdminServer, createAdminServer } from './admin-server.js'
import { type ControlServer, createControlServer } from './control-server.js'
import type { ControlLogger } from './logger.js'
import type { ControlServerInit } from './options.js'

export const IDENTITY_FILE_NAME = 'identity.key'
export const STORE_DIR_NAME = 'store'
/** A data directory created here is owner-only: it holds the key and the admin socket. */
export const DATA_DIR_MODE = 0o700

export interface CoordinatorInit extends ControlServerInit {
  dataDir: string
}

export interface CoordinatorComponents {
  logger?: ControlLogger
  now?: () => number
  /** The coordinator's lifecycle bus; a new one when absent. */
  events?: LifecycleEvents
}

export interface Coordinator {
  readonly server: ControlServer
  readonly store: LevelMetadataStore
  readonly admin: AdminServer
  readonly peerId: string
  /** Stops the admin socket, the control server and the store. Idempotent. */
  stop(): Promise<void>
}

/** The data directory's admin socket path (for `token create`). */
export function adminSocketPath(dataDir: string): string {
  return join(dataDir, ADMIN_SOCKET_NAME)
}

export function storePath(dataDir: string): string {
  return join(dataDir, STORE_DIR_NAME)
}

export async function startCoordinator(
  init: CoordinatorInit,
  components: CoordinatorComponents = {},
): Promise<Coordinator> {
  const { dataDir, ...serverInit } = init
  await mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE })
  const identity = await loadOrCreateIdentity(join(dataDir, IDENTITY_FILE_NAME))
  const store = createLevelStore({ location: storePath(dataDir) })
  await store.open()
  const undo: Array<() => Promise<void>> = [() => store.close()]
  const rollBack = async (): Promise<void> => {
    for (const step of undo.reverse()) await step().catch(() => undefined)
  }
  try {
    const server = createControlServer(serverInit, {
      store,
      privateKey: identity.privateKey,
      logger: components.logger,
      now: components.now,
      events: components.events,
    })
    await server.start()
    undo.push(() => server.stop())
    const admin = createAdminServer(
      { socketPath: adminSocketPath(dataDir) },
      { store, logger: components.logger, now: components.now },
    )
    await admin.start()
    undo.push(() => admin.stop())
    let stopping: Promise<void> | undefined
    return {
      server,
      store,
      admin,
      peerId: server.peerId,
      stop: () => {
        stopping ??= rollBack()
        return stopping
      },
    }
  } catch (error) {
    await rollBack()
    throw error
  }
}
