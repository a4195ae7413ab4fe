/**
 * The metadata store on classic-level (LevelDB): the coordinator's default backend (DESIGN.md
 * "Coordinator storage"). Keys and values are laid out in level-layout.ts and docs/STORE.md.
 *
 * LevelDB has no transactions, only atomic batches. So every *change* (a method that writes) runs
 * its reads, its checks and its single `db.batch()` inside one in-process async mutex (WriteLock):
 * changes never interleave, and each commits all of its records or none. That is enough because
 * LevelDB's LOCK file keeps any other process, or another instance in this one, from opening the same
 * directory (STORE_LOCKED). Batches are written with `sync: true` by default, so a change that has
 * returned survives a power cut, not only a crash of this process. Reads run outside the mutex: each
 * reads committed records only, never half of a batch.
 */
import { ClassicLevel } from 'classic-level'
import { planRedemption } from './enrolment-rules.js'
import { generateEnrolmentSecret, hashEnrolmentSecret, isWellFormedSecret } from './enrolment-secret.js'
import { alreadyExists, notFound, notOpen, StoreError, StoreErrorCode } from './errors.js'
import * as layout from './level-layout.js'
import { findNode, findToken, getRecord, listRecords, openError, put, toStoreError } from './level-records.js'
import { migrateToLatest } from './level-schema.js'
import type {
  EnrolmentToken,
  IssuedEnrolmentToken,
  MetadataStore,
  NewSite,
  NewTenant,
  Node,
  NodeRole,
  NodeStatus,
  Site,
  Tenant,
  Timestamp,
} from './metadata-store.js'
import { MIGRATIONS, type Migration, type StoreDatabase, type StoreOperation } from './migrations.js'
import { nodeSeen, nodeWithStatus } from './node-changes.js'
import * as input from './store-input.js'
import { WriteLock } from './write-lock.js'

export interface LevelStoreInit {
  /** The directory of the LevelDB database; created if missing. */
  location: string
  /** Write every batch with fsync (default true). Only tests that measure nothing durable turn it off. */
  sync?: boolean
  /** The migrations to apply (default MIGRATIONS). Tests pass longer lists to exercise the runner. */
  migrations?: readonly Migration[]
}

export function createLevelStore(init: LevelStoreInit): LevelMetadataStore {
  return new LevelMetadataStore(init)
}

export class LevelMetadataStore implements MetadataStore {
  readonly #location: string
  readonly #sync: boolean
  readonly #migrations: readonly Migration[]
  readonly #changes = new WriteLock()
  readonly #lifecycle = new WriteLock()
  #db: StoreDatabase | undefined
  #version = 0

  constructor(init: LevelStoreInit) {
    if (typeof init.location !== 'string' || init.location.length === 0) {
      throw new StoreError(StoreErrorCode.INVALID_ARGUMENT, 'location must be a non-empty directory path', {
        remediation: 'Pass the directory that holds (or will hold) the coordinator store.',
      })
    }
    this.#location = init.location
    this.#sync = init.sync ?? true
    this.#migrations = init.migrations ?? MIGRATIONS
  }

  open(): Promise<void> {
    return this.#lifecycle.run(async () => {
      if (this.#db !== undefined) return
      const db = new ClassicLevel<string, string>(this.#location, {
        keyEncoding: 'utf8',
        valueEncoding: 'utf8',
      })
      try {
        await db.open()
      } catch (error) {
        throw openError(error, this.#location)
      }
      try {
        this.#version = await migrateToLatest(db, this.#migrations, this.#location, this.#sync)
      } catch (error) {
        await db.close().catch(() => undefined)
        throw toStoreError(error, 'migrating the store')
      }
      this.#db = db
    })
  }

  close(): Promise<void> {
    return this.#lifecycle.run(async () => {
      const db = this.#db
      if (db === undefined) return
      // New calls fail with STORE_NOT_OPEN from here; changes already queued still commit.
      this.#db = undefined
      await this.#changes.idle()
      await db.close()
    })
  }

  async schemaVersion(): Promise<number> {
    this.#open()
    return this.#version
  }

  /**
   * createTenant — adds a tenant.
   * Preconditions: the id (given or generated) is not taken.
   * Effects: one put of `!tenants!<id>`.
   */
  async createTenant(tenant: NewTenant, now: Timestamp): Promise<Tenant> {
    const id = tenant.id === undefined ? input.generateId() : input.checkId('tenant', tenant.id)
    const record: Tenant = {
      id,
      name: input.checkName('tenant', tenant.name),
      createdAt: input.checkTime('now', now),
    }
    return this.#change('creating a tenant', async (db) => {
      if ((await getRecord(db, layout.tenantKey(id), layout.decodeTenant)) !== undefined)
        throw alreadyExists('tenant', id)
      return { result: record, operations: [put(layout.tenantKey(id), record)] }
    })
  }

  async getTenant(tenantId: string): Promise<Tenant | undefined> {
    input.checkId('tenant', tenantId)
    return this.#read('reading a tenant', (db) =>
      getRecord(db, layout.tenantKey(tenantId), layout.decodeTenant),
    )
  }

  async listTenants(): Promise<Tenant[]> {
    return this.#read('listing tenants', (db) => listRecords(db, layout.TENANTS_PREFIX, layout.decodeTenant))
  }

  /**
   * createSite — adds a site to a tenant.
   * Preconditions: the tenant exists; the site id (given or generated) is not taken in it.
   * Effects: one put of `!t!!<tenantId>!!site!<siteId>`.
   */
  async createSite(tenantId: string, site: NewSite, now: Timestamp): Promise<Site> {
    input.checkId('tenant', tenantId)
    const id = site.id === undefined ? input.generateId() : input.checkId('site', site.id)
    const record: Site = {
      tenantId,
      id,
      name: input.checkName('site', site.name),
      createdAt: input.checkTime('now', now),
    }
    return this.#change('creating a site', async (db) => {
      if ((await getRecord(db, layout.tenantKey(tenantId), layout.decodeTenant)) === undefined)
        throw notFound('tenant', tenantId)
      if ((await getRecord(db, layout.siteKey(tenantId, id), layout.decodeSite)) !== undefined)
        throw alreadyExists('site', id)
      return { result: record, operations: [put(layout.siteKey(tenantId, id), record)] }
    })
  }

  async getSite(tenantId: string, siteId: string): Promise<Site | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('site', siteId)
    return this.#read('reading a site', (db) =>
      getRecord(db, layout.siteKey(tenantId, siteId), layout.decodeSite),
    )
  }

  async listSites(tenantId: string): Promise<Site[]> {
    input.checkId('tenant', tenantId)
    return this.#read('listing sites', (db) =>
      listRecords(db, layout.sitePrefix(tenantId), layout.decodeSite),
    )
  }

  async findNode(nodeId: string): Promise<Node | undefined> {
    input.checkId('node', nodeId)
    return this.#read('finding a node', (db) => findNode(db, nodeId))
  }

  async getNode(tenantId: string, nodeId: string): Promise<Node | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('node', nodeId)
    return this.#read('reading a node', (db) =>
      getRecord(db, layout.nodeKey(tenantId, nodeId), layout.decodeNode),
    )
  }

  async listNodes(tenantId: string, siteId?: string): Promise<Node[]> {
    input.checkId('tenant', tenantId)
    if (siteId !== undefined) input.checkId('site', siteId)
    return this.#read('listing nodes', async (db) => {
      const nodes = await listRecords(db, layout.nodePrefix(tenantId), layout.decodeNode)
      return siteId === undefined ? nodes : nodes.filter((node) => node.siteId === siteId)
    })
  }

  /**
   * markNodeSeen — records a sign of life from a node.
   * Preconditions: the node is enrolled.
   * Effects: at most one put of the node record (none when nothing changed).
   */
  async markNodeSeen(nodeId: string, now: Timestamp, softwareVersion?: string): Promise<Node> {
    input.checkId('node', nodeId)
    input.checkTime('now', now)
    if (softwareVersion !== undefined) input.checkSoftwareVersion(softwareVersion)
    return this.#updateNode('marking a node seen', nodeId, (node) => nodeSeen(node, now, softwareVersion))
  }

  /**
   * setNodeStatus — records that a node connected or disconnected.
   * Preconditions: the node is enrolled.
   * Effects: at most one put of the node record (none when nothing changed).
   */
  async setNodeStatus(nodeId: string, status: NodeStatus, now: Timestamp): Promise<Node> {
    input.checkId('node', nodeId)
    input.checkStatus(status)
    input.checkTime('now', now)
    return this.#updateNode('setting a node status', nodeId, (node) => nodeWithStatus(node, status, now))
  }

  /**
   * createEnrolmentToken — issues a single-use enrolment token.
   * Preconditions: the tenant and the site exist; ttlMs is within its bounds.
   * Effects: one batch of two puts: the token record `!t!!<tenantId>!!token!<tokenId>` and its hash
   * entry `!token-hashes!<sha256>`. The secret itself is returned, never written.
   */
  async createEnrolmentToken(
    tenantId: string,
    siteId: string,
    role: NodeRole,
    ttlMs: number,
    now: Timestamp,
  ): Promise<IssuedEnrolmentToken> {
    input.checkId('tenant', tenantId)
    input.checkId('site', siteId)
    input.checkRole(role)
    input.checkTtl(ttlMs)
    input.checkTime('now', now)
    return this.#change('issuing an enrolment token', async (db) => {
      if ((await getRecord(db, layout.tenantKey(tenantId), layout.decodeTenant)) === undefined)
        throw notFound('tenant', tenantId)
      if ((await getRecord(db, layout.siteKey(tenantId, siteId), layout.decodeSite)) === undefined)
        throw notFound('site', siteId, tenantId)
      const token = generateEnrolmentSecret()
      const stored: layout.StoredToken = {
        id: input.generateId(),
        tenantId,
        siteId,
        role,
        createdAt: now,
        expiresAt: now + ttlMs,
        secretHash: hashEnrolmentSecret(token),
      }
      const entry: layout.TokenHashEntry = { tenantId, tokenId: stored.id }
      return {
        result: { token, record: layout.publicToken(stored) },
        operations: [
          put(layout.tokenKey(tenantId, stored.id), stored),
          put(layout.tokenHashKey(stored.secretHash), entry),
        ],
      }
    })
  }

  /**
   * redeemEnrolmentToken — enrols a node with a token (rules in enrolment-rules.ts).
   * Preconditions: the token exists, is unused, unexpired and for this role; the node is not enrolled
   * with another role or elsewhere. Checked under the mutex, so of two racing redemptions of one
   * token the second sees it used.
   * Effects: one batch of three puts: the token record (used by the node), the node record
   * `!t!!<tenantId>!!node!<nodeId>` and the directory entry `!nodes!<nodeId>`. Nothing on failure.
   */
  async redeemEnrolmentToken(secret: string, nodeId: string, role: NodeRole, now: Timestamp): Promise<Node> {
    input.checkId('node', nodeId)
    input.checkRole(role)
    input.checkTime('now', now)
    return this.#change('redeeming an enrolment token', async (db) => {
      const token = isWellFormedSecret(secret) ? await findToken(db, hashEnrolmentSecret(secret)) : undefined
      const existing = await findNode(db, nodeId)
      const { token: used, node } = planRedemption(token, existing, nodeId, role, now)
      const stored: layout.StoredToken = { ...used, secretHash: token!.secretHash }
      const entry: layout.NodeDirectoryEntry = { tenantId: node.tenantId }
      return {
        result: node,
        operations: [
          put(layout.tokenKey(stored.tenantId, stored.id), stored),
          put(layout.nodeKey(node.tenantId, node.id), node),
          put(layout.nodeDirectoryKey(node.id), entry),
        ],
      }
    })
  }

  async getEnrolmentToken(tenantId: string, tokenId: string): Promise<EnrolmentToken | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('token', tokenId)
    return this.#read('reading an enrolment token', async (db) => {
      const stored = await getRecord(db, layout.tokenKey(tenantId, tokenId), layout.decodeToken)
      return stored === undefined ? undefined : layout.publicToken(stored)
    })
  }

  async listEnrolmentTokens(tenantId: string, siteId?: string): Promise<EnrolmentToken[]> {
    input.checkId('tenant', tenantId)
    if (siteId !== undefined) input.checkId('site', siteId)
    return this.#read('listing enrolment tokens', async (db) => {
      const tokens = await listRecords(db, layout.tokenPrefix(tenantId), layout.decodeToken)
      return tokens.filter((token) => siteId === undefined || token.siteId === siteId).map(layout.publicToken)
    })
  }

  /** Reads and rewrites one node record under the mutex; writes nothing when `update` changed nothing. */
  #updateNode(what: string, nodeId: string, update: (node: Node) => Node): Promise<Node> {
    return this.#change(what, async (db) => {
      const node = await findNode(db, nodeId)
      if (node === undefined) throw notFound('node', nodeId)
      const next = update(node)
      const unchanged = layout.encodeRecord(next) === layout.encodeRecord(node)
      return { result: next, operations: unchanged ? [] : [put(layout.nodeKey(next.tenantId, nodeId), next)] }
    })
  }

  /** Runs one change under the mutex and commits its operations as one batch. */
  #change<T>(
    what: string,
    plan: (db: StoreDatabase) => Promise<{ result: T; operations: StoreOperation[] }>,
  ): Promise<T> {
    const db = this.#open()
    return this.#changes.run(async () => {
      try {
        const { result, operations } = await plan(db)
        if (operations.length > 0) await db.batch(operations, { sync: this.#sync })
        return result
      } catch (error) {
        throw toStoreError(error, what)
      }
    })
  }

  async #read<T>(what: string, read: (db: StoreDatabase) => Promise<T>): Promise<T> {
    const db = this.#open()
    try {
      return await read(db)
    } catch (error) {
      throw toStoreError(error, what)
    }
  }

  #open(): StoreDatabase {
    if (this.#db === undefined) throw notOpen()
    return this.#db
  }
}
