/**
 * The records of the in-memory store (memory-store.ts), kept in a *volume* that stands for the
 * directory a level store lives in: it outlives store objects, so a test can close a store, open
 * another over the same volume and find its records. Maps per record kind, per tenant; records are
 * deep-copied in and out by the store, so nothing a caller holds aliases stored state.
 *
 * Schema version 2 added the maps from `vms` on. The in-memory layout has no indexes: its queries
 * scan and sort, which is what a backend for unit tests can afford.
 */
import type { Job } from '../jobs/job.js'
import type { NotificationChannel } from './channel-records.js'
import type { JobLogEntry } from './job-log-records.js'
import type { EnrolmentToken, Node, Site, Tenant } from './metadata-store.js'
import type { Plan, PlanScheduleState, ProtectedVm } from './protection-records.js'
import type { RecoveryPoint } from './recovery-point-records.js'

export interface StoredToken extends EnrolmentToken {
  secretHash: string
}

export interface TenantRecords {
  sites: Map<string, Site>
  nodes: Map<string, Node>
  tokens: Map<string, StoredToken>
  vms: Map<string, ProtectedVm>
  /** Volume id → the VM that has it. */
  volumes: Map<string, string>
  plans: Map<string, Plan>
  planStates: Map<string, PlanScheduleState>
  points: Map<string, RecoveryPoint>
  channels: Map<string, NotificationChannel>
  jobs: Map<string, Job>
  /** Volume id → highest fencing token taken. */
  fences: Map<string, number>
  /** Job id → its log, in sequence order. */
  jobLogs: Map<string, JobLogEntry[]>
  /** `<jobId> <nodeId> <nodeSeq>` → the node entry already logged: its time and sequence number. */
  logSeen: Map<string, { at: number; seq: number }>
}

export function emptyTenantRecords(): TenantRecords {
  return {
    sites: new Map(),
    nodes: new Map(),
    tokens: new Map(),
    vms: new Map(),
    volumes: new Map(),
    plans: new Map(),
    planStates: new Map(),
    points: new Map(),
    channels: new Map(),
    jobs: new Map(),
    fences: new Map(),
    jobLogs: new Map(),
    logSeen: new Map(),
  }
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

export function copy<T>(value: T): T {
  return value === undefined ? value : structuredClone(value)
}

/** Byte order of ASCII strings (every id is ASCII), as LevelDB orders keys. */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Copies of the records, ordered by id. */
export function sortedCopies<T>(records: Map<string, T> | undefined): T[] {
  if (records === undefined) return []
  return [...records.keys()].sort(byteOrder).map((id) => copy(records.get(id) as T))
}
