/**
 * The contract of the coordinator's metadata store, and the records it keeps. This module imports no
 * implementation: the classic-level store (level-store.ts), the in-memory store (memory-store.ts) and
 * a later PostgreSQL store all implement `MetadataStore` and pass one conformance suite
 * (test/coordinator/store.conformance.ts).
 *
 * Words used here:
 * - A *tenant* is one isolated customer; every other record belongs to exactly one tenant, and every
 *   tenant-scoped read takes a tenant id and never returns another tenant's record.
 * - A *site* is a place inside a tenant (a data centre, a cloud region) where nodes run.
 * - A *node* is an enrolled agent process, known by its libp2p peer id (its *node id*), with a role:
 *   an `appliance` (replication source) or a `connector` (recovery target).
 * - An *enrolment token* lets one node join one site of one tenant with one role, once, before it
 *   expires. The operator is given its *secret* (`lbt_` + 43 base64url characters); the store keeps
 *   only the SHA-256 of the secret, so a copy of the store cannot enrol anything.
 * - Times are integer milliseconds since the Unix epoch, always passed in by the caller (`now`), so
 *   the store never reads a clock and tests never sleep.
 *
 * Each method that changes state is one atomic unit: either every record it touches changes, or none
 * does. The record kinds of schema version 2 are declared in their own contract modules and joined
 * here: protected VMs and plans (protection-records.ts), the recovery-point catalogue
 * (recovery-point-records.ts), notification channels (channel-records.ts), job logs
 * (job-log-records.ts), and the job queue with its leases (coordinator/jobs/job.ts).
 */
import type { JobRecords } from '../jobs/job.js'
import type { ChannelRecords } from './channel-records.js'
import type { FinishedJobRecords } from './finished-job-records.js'
import type { JobLogRecords } from './job-log-records.js'
import type { PlanRecords, ProtectedVmRecords } from './protection-records.js'
import type { RecoveryPointRecords } from './recovery-point-records.js'

export type NodeRole = 'appliance' | 'connector'
export const NODE_ROLES: readonly NodeRole[] = ['appliance', 'connector']

export type NodeStatus = 'online' | 'offline'
export const NODE_STATUSES: readonly NodeStatus[] = ['online', 'offline']

/** Integer milliseconds since the Unix epoch. */
export type Timestamp = number

/** Longest id of any record, in characters (docs/STORE.md "Ids"). */
export const MAX_ID_LENGTH = 128
/** Longest tenant or site name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 200
/** Longest software version string a node may report. */
export const MAX_SOFTWARE_VERSION_LENGTH = 64
/** Shortest lifetime of an enrolment token. */
export const MIN_ENROLMENT_TOKEN_TTL_MS = 1_000
/** Longest lifetime of an enrolment token: a token is a bearer credential, so it must not linger. */
export const MAX_ENROLMENT_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000
/** The lifetime callers use when the operator gives none. */
export const DEFAULT_ENROLMENT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000
/** Every token secret starts with this, so leaked secrets are recognisable by secret scanners. */
export const ENROLMENT_TOKEN_PREFIX = 'lbt_'

export interface Tenant {
  id: string
  name: string
  createdAt: Timestamp
}

export interface Site {
  tenantId: string
  id: string
  name: string
  createdAt: Timestamp
}

export interface Node {
  /** The node's libp2p peer id, as a string. Unique across all tenants. */
  id: string
  tenantId: string
  siteId: string
  role: NodeRole
  /** When the node last redeemed a token (first enrolment, or re-enrolment with the same key). */
  enrolledAt: Timestamp
  /** The latest time the node was seen (a heartbeat, a connection); never moves backwards. */
  lastSeenAt?: Timestamp
  /** `offline` until the coordinator reports a connection with `setNodeStatus`. */
  status: NodeStatus
  /** When `status` last changed (the enrolment time until it first changes). */
  statusChangedAt: Timestamp
  softwareVersion?: string
}

export interface EnrolmentToken {
  id: string
  tenantId: string
  siteId: string
  role: NodeRole
  createdAt: Timestamp
  /** The token is valid while `now < expiresAt`; at `expiresAt` it has expired. */
  expiresAt: Timestamp
  usedAt?: Timestamp
  usedByNode?: string
}

export interface NewTenant {
  /** Omit to have a random id generated (32 lowercase hex characters). */
  id?: string
  name: string
}

export interface NewSite {
  /** Omit to have a random id generated (32 lowercase hex characters). */
  id?: string
  name: string
}

export interface IssuedEnrolmentToken {
  /** The secret to hand to the operator. It is shown once: the store cannot recover it. */
  token: string
  record: EnrolmentToken
}

/** Opening, closing and the version of the stored layout. */
export interface StoreLifecycle {
  /**
   * Opens the store, creating or migrating it to this build's layout. Idempotent: a second call, or
   * a concurrent one, resolves when the store is open. A closed store may be opened again.
   * Throws STORE_VERSION_TOO_NEW, STORE_CORRUPT, STORE_LOCKED or STORE_IO_FAILED.
   */
  open(): Promise<void>
  /** Closes the store after its in-flight changes finish. Idempotent. */
  close(): Promise<void>
  /** The schema version the open store is at (the backend's own numbering). */
  schemaVersion(): Promise<number>
}

export interface TenantRecords {
  /** Throws STORE_ALREADY_EXISTS when the id is taken. */
  createTenant(input: NewTenant, now: Timestamp): Promise<Tenant>
  getTenant(tenantId: string): Promise<Tenant | undefined>
  /** Every tenant, ordered by id. For the operator of the whole coordinator, not for a tenant. */
  listTenants(): Promise<Tenant[]>
}

export interface SiteRecords {
  /** Throws STORE_NOT_FOUND for an unknown tenant, STORE_ALREADY_EXISTS when the id is taken. */
  createSite(tenantId: string, input: NewSite, now: Timestamp): Promise<Site>
  getSite(tenantId: string, siteId: string): Promise<Site | undefined>
  /** The tenant's sites, ordered by id; empty for an unknown tenant. */
  listSites(tenantId: string): Promise<Site[]>
}

export interface NodeRecords {
  /**
   * The node with this peer id in whichever tenant it belongs to: the one global lookup, for the
   * connection gater, which sees only a peer id. Its answer names the tenant every later call uses.
   */
  findNode(nodeId: string): Promise<Node | undefined>
  /** The node if it belongs to this tenant; undefined if it does not exist or belongs to another. */
  getNode(tenantId: string, nodeId: string): Promise<Node | undefined>
  /** The tenant's nodes, optionally of one site only, ordered by id. */
  listNodes(tenantId: string, siteId?: string): Promise<Node[]>
  /**
   * Records that the node was seen at `now` (lastSeenAt only moves forwards) and, when given, the
   * software version it reports. Does not change `status`. Throws STORE_NOT_FOUND.
   */
  markNodeSeen(nodeId: string, now: Timestamp, softwareVersion?: string): Promise<Node>
  /**
   * Sets the node's status; a change stamps `statusChangedAt`, and `online` also counts as seen.
   * Setting the status it already has changes nothing. Throws STORE_NOT_FOUND.
   */
  setNodeStatus(nodeId: string, status: NodeStatus, now: Timestamp): Promise<Node>
}

export interface EnrolmentRecords {
  /**
   * Issues a single-use token for one role in one site, valid for `ttlMs` from `now`.
   * Throws STORE_NOT_FOUND for an unknown tenant or site, STORE_INVALID_ARGUMENT for a TTL outside
   * [MIN_ENROLMENT_TOKEN_TTL_MS, MAX_ENROLMENT_TOKEN_TTL_MS].
   */
  createEnrolmentToken(
    tenantId: string,
    siteId: string,
    role: NodeRole,
    ttlMs: number,
    now: Timestamp,
  ): Promise<IssuedEnrolmentToken>
  /**
   * Enrols node `nodeId` with the token whose secret is `secret`, in one atomic change: the token is
   * marked used by this node and the node is created (or, for a node already enrolled in the same
   * site with the same role, re-enrolled). Checked in this order, and nothing is written on failure:
   * ENROL_TOKEN_INVALID (unknown or malformed secret), ENROL_TOKEN_USED, ENROL_TOKEN_EXPIRED,
   * ENROL_ROLE_MISMATCH (role differs from the token's, or the node is enrolled with another role),
   * ENROL_NODE_ENROLLED_ELSEWHERE (the node is enrolled in another tenant or site).
   * Of two concurrent redemptions of one token exactly one succeeds.
   */
  redeemEnrolmentToken(secret: string, nodeId: string, role: NodeRole, now: Timestamp): Promise<Node>
  getEnrolmentToken(tenantId: string, tokenId: string): Promise<EnrolmentToken | undefined>
  /** The tenant's tokens (used, unused and expired), optionally of one site only, ordered by id. */
  listEnrolmentTokens(tenantId: string, siteId?: string): Promise<EnrolmentToken[]>
}

export interface MetadataStore
  extends StoreLifecycle,
    TenantRecords,
    SiteRecords,
    NodeRecords,
    EnrolmentRecords,
    ProtectedVmRecords,
    PlanRecords,
    RecoveryPointRecords,
    ChannelRecords,
    JobLogRecords,
    JobRecords,
    FinishedJobRecords {}
