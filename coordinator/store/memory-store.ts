/**
 * The metadata store in memory, for unit tests of the parts that use a store. Its semantics are the
 * classic-level store's, checked by the same conformance suite: same input checks, same codes, same
 * ordering of lists, same refusal of a newer schema version, same single-opener rule.
 *
 * A *volume* (MemoryStoreVolume) stands for the directory a level store lives in: the records outlive
 * a store object, so a test can close a store, open another over the same volume and find its
 * records, or tamper with the volume's schema version. Records are deep-copied in and out, so nothing
 * a caller holds aliases stored state. Each change does its checks and all of its writes without
 * awaiting in between, which makes it atomic on the one JavaScript thread with no lock.
 */

import { planRedemption } from './enrolment-rules.js'
import { generateEnrolmentSecret, hashEnrolmentSecret, isWellFormedSecret } from './enrolment-secret.js'
import { alreadyExists, corrupt, notFound, notOpen, StoreError, StoreErrorCode } from './errors.js'
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
import { nodeSeen, nodeWithStatus } from './node-changes.js'
import * as input from './store-input.js'

/** The schema version of the in-memory layout. It has had one layout so far. */
export const MEMORY_SCHEMA_VERSION = 1

interface StoredToken extends EnrolmentToken {
  secretHash: string
}

interface TenantRecords {
  sites: Map<string, Site>
  nodes: Map<string, Node>
  tokens: Map<string, StoredToken>
}

/** The records of one in-memory store, kept apart from the store object as a directory would be. */
export class MemoryStoreVolume {
  /** Undefined until a store first opens the volume; tests set other values to play corruption. */
  schemaVersion: unknown = undefined
  /** True while a store has the volume open, like LevelDB's LOCK file. */
  inUse = false
  readonly tenants = new Map<string, Tenant>()
  readonly tenantRecords = new Map<string, TenantRecords>()
  /** Node id → tenant id, the global lookup. */
  readonly nodeDirectory = new Map<string, string>()
  /** Secret hash → the token it finds. */
  readonly tokenHashes = new Map<string, { tenantId: string; tokenId: string }>()
}

export interface MemoryStoreInit {
  /** The records to use; a new, empty volume when omitted. */
  volume?: MemoryStoreVolume
}

export function createMemoryStore(init: MemoryStoreInit = {}): MemoryMetadataStore {
  return new MemoryMetadataStore(init)
}

export class MemoryMetadataStore implements MetadataStore {
  readonly volume: MemoryStoreVolume
  #open = false

  constructor(init: MemoryStoreInit = {}) {
    this.volume = init.volume ?? new MemoryStoreVolume()
  }

  async open(): Promise<void> {
    if (this.#open) return
    const volume = this.volume
    if (volume.inUse) {
      throw new StoreError(
        StoreErrorCode.LOCKED,
        'the in-memory metadata store is open in another store object',
        {
          remediation: 'Close the other store over this volume first.',
          retryable: true,
        },
      )
    }
    const version = volume.schemaVersion
    if (version !== undefined && (typeof version !== 'number' || !Number.isInteger(version) || version < 1)) {
      throw corrupt(`the schema version ${JSON.stringify(version)} is not a positive integer`)
    }
    if (typeof version === 'number' && version > MEMORY_SCHEMA_VERSION) {
      throw new StoreError(
        StoreErrorCode.VERSION_TOO_NEW,
        `the in-memory metadata store has schema version ${version}, but this coordinator reads versions up to ${MEMORY_SCHEMA_VERSION}`,
        {
          remediation: `Upgrade the coordinator to the release that wrote schema version ${version} or a later one.`,
        },
      )
    }
    volume.schemaVersion = MEMORY_SCHEMA_VERSION
    volume.inUse = true
    this.#open = true
  }

  async close(): Promise<void> {
    if (!this.#open) return
    this.#open = false
    this.volume.inUse = false
  }

  async schemaVersion(): Promise<number> {
    this.#volume()
    return MEMORY_SCHEMA_VERSION
  }

  async createTenant(tenant: NewTenant, now: Timestamp): Promise<Tenant> {
    const id = tenant.id === undefined ? input.generateId() : input.checkId('tenant', tenant.id)
    const record: Tenant = {
      id,
      name: input.checkName('tenant', tenant.name),
      createdAt: input.checkTime('now', now),
    }
    const volume = this.#volume()
    if (volume.tenants.has(id)) throw alreadyExists('tenant', id)
    volume.tenants.set(id, copy(record))
    volume.tenantRecords.set(id, { sites: new Map(), nodes: new Map(), tokens: new Map() })
    return record
  }

  async getTenant(tenantId: string): Promise<Tenant | undefined> {
    input.checkId('tenant', tenantId)
    return copy(this.#volume().tenants.get(tenantId))
  }

  async listTenants(): Promise<Tenant[]> {
    return sortedCopies(this.#volume().tenants)
  }

  async createSite(tenantId: string, site: NewSite, now: Timestamp): Promise<Site> {
    input.checkId('tenant', tenantId)
    const id = site.id === undefined ? input.generateId() : input.checkId('site', site.id)
    const record: Site = {
      tenantId,
      id,
      name: input.checkName('site', site.name),
      createdAt: input.checkTime('now', now),
    }
    const records = this.#volume().tenantRecords.get(tenantId)
    if (records === undefined) throw notFound('tenant', tenantId)
    if (records.sites.has(id)) throw alreadyExists('site', id)
    records.sites.set(id, copy(record))
    return record
  }

  async getSite(tenantId: string, siteId: string): Promise<Site | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('site', siteId)
    return copy(this.#volume().tenantRecords.get(tenantId)?.sites.get(siteId))
  }

  async listSites(tenantId: string): Promise<Site[]> {
    input.checkId('tenant', tenantId)
    return sortedCopies(this.#volume().tenantRecords.get(tenantId)?.sites)
  }

  async findNode(nodeId: string): Promise<Node | undefined> {
    input.checkId('node', nodeId)
    return copy(this.#findNode(nodeId))
  }

  async getNode(tenantId: string, nodeId: string): Promise<Node | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('node', nodeId)
    return copy(this.#volume().tenantRecords.get(tenantId)?.nodes.get(nodeId))
  }

  async listNodes(tenantId: string, siteId?: string): Promise<Node[]> {
    input.checkId('tenant', tenantId)
    if (siteId !== undefined) input.checkId('site', siteId)
    const nodes = sortedCopies(this.#volume().tenantRecords.get(tenantId)?.nodes)
    return siteId === undefined ? nodes : nodes.filter((node) => node.siteId === siteId)
  }

  async markNodeSeen(nodeId: string, now: Timestamp, softwareVersion?: string): Promise<Node> {
    input.checkId('node', nodeId)
    input.checkTime('now', now)
    if (softwareVersion !== undefined) input.checkSoftwareVersion(softwareVersion)
    return this.#updateNode(nodeId, (node) => nodeSeen(node, now, softwareVersion))
  }

  async setNodeStatus(nodeId: string, status: NodeStatus, now: Timestamp): Promise<Node> {
    input.checkId('node', nodeId)
    input.checkStatus(status)
    input.checkTime('now', now)
    return this.#updateNode(nodeId, (node) => nodeWithStatus(node, status, now))
  }

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
    const volume = this.#volume()
    const records = volume.tenantRecords.get(tenantId)
    if (records === undefined) throw notFound('tenant', tenantId)
    if (!records.sites.has(siteId)) throw notFound('site', siteId, tenantId)
    const token = generateEnrolmentSecret()
    const record: EnrolmentToken = {
      id: input.generateId(),
      tenantId,
      siteId,
      role,
      createdAt: now,
      expiresAt: now + ttlMs,
    }
    const secretHash = hashEnrolmentSecret(token)
    records.tokens.set(record.id, { ...copy(record), secretHash })
    volume.tokenHashes.set(secretHash, { tenantId, tokenId: record.id })
    return { token, record }
  }

  async redeemEnrolmentToken(secret: string, nodeId: string, role: NodeRole, now: Timestamp): Promise<Node> {
    input.checkId('node', nodeId)
    input.checkRole(role)
    input.checkTime('now', now)
    const volume = this.#volume()
    const secretHash = isWellFormedSecret(secret) ? hashEnrolmentSecret(secret) : undefined
    const entry = secretHash === undefined ? undefined : volume.tokenHashes.get(secretHash)
    const stored =
      entry === undefined ? undefined : volume.tenantRecords.get(entry.tenantId)?.tokens.get(entry.tokenId)
    const { token, node } = planRedemption(
      stored === undefined ? undefined : publicToken(stored),
      this.#findNode(nodeId),
      nodeId,
      role,
      now,
    )
    const records = volume.tenantRecords.get(token.tenantId)!
    records.tokens.set(token.id, { ...copy(token), secretHash: stored!.secretHash })
    records.nodes.set(node.id, copy(node))
    volume.nodeDirectory.set(node.id, node.tenantId)
    return copy(node)
  }

  async getEnrolmentToken(tenantId: string, tokenId: string): Promise<EnrolmentToken | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('token', tokenId)
    const stored = this.#volume().tenantRecords.get(tenantId)?.tokens.get(tokenId)
    return stored === undefined ? undefined : publicToken(stored)
  }

  async listEnrolmentTokens(tenantId: string, siteId?: string): Promise<EnrolmentToken[]> {
    input.checkId('tenant', tenantId)
    if (siteId !== undefined) input.checkId('site', siteId)
    return sortedCopies(this.#volume().tenantRecords.get(tenantId)?.tokens)
      .filter((token) => siteId === undefined || token.siteId === siteId)
      .map(publicToken)
  }

  #updateNode(nodeId: string, update: (node: Node) => Node): Node {
    const node = this.#findNode(nodeId)
    if (node === undefined) throw notFound('node', nodeId)
    const next = update(copy(node))
    this.volume.tenantRecords.get(node.tenantId)!.nodes.set(nodeId, copy(next))
    return next
  }

  /** The stored node (not a copy) with this id in any tenant. */
  #findNode(nodeId: string): Node | undefined {
    const volume = this.#volume()
    const tenantId = volume.nodeDirectory.get(nodeId)
    return tenantId === undefined ? undefined : volume.tenantRecords.get(tenantId)?.nodes.get(nodeId)
  }

  #volume(): MemoryStoreVolume {
    if (!this.#open) throw notOpen()
    return this.volume
  }
}

function copy<T>(value: T): T {
  return value === undefined ? value : structuredClone(value)
}

/** Copies of the records, ordered by id as LevelDB orders keys (ids are ASCII). */
function sortedCopies<T>(records: Map<string, T> | undefined): T[] {
  if (records === undefined) return []
  return [...records.keys()]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((id) => copy(records.get(id) as T))
}

function publicToken(stored: StoredToken | EnrolmentToken): EnrolmentToken {
  const { secretHash: _hash, ...token } = stored as StoredToken
  return structuredClone(token)
}
