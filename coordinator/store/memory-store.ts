/**
 * The metadata store in memory, for unit tests of the parts that use a store. Its semantics are the
 * classic-level store's, checked by the same conformance suite: same input checks, same codes, same
 * ordering of lists, same refusal of a newer schema version, same single-opener rule.
 *
 * A *volume* (MemoryStoreVolume) stands for the directory a level store lives in: the records outlive
 * a store object, so a test can close a store, open another over the same volume and find its
 * records, or tamper with the volume's schema version. Records are deep-copied in and out, so nothing
 * a caller holds aliases stored state. The changes of schema version 1 do their checks and all of
 * their writes without awaiting in between, which makes them atomic on the one JavaScript thread.
 * Those of version 2 read through async rule functions shared with the level store, so they run one
 * at a time under a write lock and write only after every check has passed; the job-state changes
 * are the backend-neutral functions of coordinator/jobs/, run in a MemoryJobTransaction.
 */

import type { ErrorBody } from '../../protocol/errors.js'
import { acknowledgeJob } from '../jobs/acknowledge-job.js'
import { cancelJob } from '../jobs/cancel-job.js'
import { completeJob } from '../jobs/complete-job.js'
import { declineJob } from '../jobs/decline-job.js'
import { enqueueJob } from '../jobs/enqueue-job.js'
import { expireLeases } from '../jobs/expire-leases.js'
import { failJob } from '../jobs/fail-job.js'
import { handBackJob } from '../jobs/hand-back-job.js'
import type {
  EnqueueResult,
  ExpiryReport,
  Job,
  JobFilter,
  JobPage,
  JobSummary,
  NewJob,
  OfferOptions,
  QueueScope,
  ReturnOptions,
} from '../jobs/job.js'
import { MAX_JOB_LOG_PAGE_SIZE } from '../jobs/job-defaults.js'
import { checkFilter, checkLimit, checkPage, checkScope } from '../jobs/job-input.js'
import type { JobTransaction } from '../jobs/job-transaction.js'
import { offerJob } from '../jobs/offer-job.js'
import { renewLease } from '../jobs/renew-lease.js'
import { checkChannelInput, checkLogEntry, checkRecoveryPoint } from './catalogue-input.js'
import type { ChannelInput, NewNotificationChannel, NotificationChannel } from './channel-records.js'
import { planRedemption } from './enrolment-rules.js'
import { generateEnrolmentSecret, hashEnrolmentSecret, isWellFormedSecret } from './enrolment-secret.js'
import { alreadyExists, corrupt, notFound, notOpen, StoreError, StoreErrorCode } from './errors.js'
import { isPrunable } from './finished-job-records.js'
import type { JobLogEntry, JobLogPage, NewJobLogEntry } from './job-log-records.js'
import * as memoryJobs from './memory-jobs.js'
import * as memory from './memory-protection.js'
import {
  copy,
  emptyTenantRecords,
  MemoryStoreVolume,
  type StoredToken,
  sortedCopies,
} from './memory-volume.js'
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
import { checkPlanInput, checkTags, checkVmInput } from './protection-input.js'
import type {
  NewPlan,
  NewProtectedVm,
  Plan,
  PlanInput,
  PlanRisk,
  PlanRun,
  PlanScheduleState,
  ProtectedVm,
  ProtectedVmInput,
} from './protection-records.js'
import { checkRisk, checkRun } from './protection-rules.js'
import type { NewRecoveryPoint, RecoveryPoint } from './recovery-point-records.js'
import * as input from './store-input.js'
import { WriteLock } from './write-lock.js'

/**
 * The schema version of the in-memory layout. Version 2 added the maps of protected VMs, plans,
 * schedule states, recovery points, channels, jobs, fencing counters and job logs; migrating a
 * version-1 volume gives each tenant those maps, empty.
 */
export const MEMORY_SCHEMA_VERSION = 2

export { MemoryStoreVolume }

export interface MemoryStoreInit {
  /** The records to use; a new, empty volume when omitted. */
  volume?: MemoryStoreVolume
  /**
   * The version to migrate the volume to on open (MEMORY_SCHEMA_VERSION by default). Tests pass 1 to
   * make a version-1 volume, then open it with a default store to see it migrated.
   */
  schemaVersion?: number
}

export function createMemoryStore(init: MemoryStoreInit = {}): MemoryMetadataStore {
  return new MemoryMetadataStore(init)
}

export class MemoryMetadataStore implements MetadataStore {
  readonly volume: MemoryStoreVolume
  readonly #targetVersion: number
  readonly #changes = new WriteLock()
  #open = false

  constructor(init: MemoryStoreInit = {}) {
    this.volume = init.volume ?? new MemoryStoreVolume()
    this.#targetVersion = init.schemaVersion ?? MEMORY_SCHEMA_VERSION
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
    // A store made for an older version stands for an older build: it refuses newer volumes too.
    if (typeof version === 'number' && version > this.#targetVersion) {
      throw new StoreError(
        StoreErrorCode.VERSION_TOO_NEW,
        `the in-memory metadata store has schema version ${version}, but this coordinator reads versions up to ${this.#targetVersion}`,
        {
          remediation: `Upgrade the coordinator to the release that wrote schema version ${version} or a later one.`,
        },
      )
    }
    if (version === undefined || (version as number) < this.#targetVersion) migrate(volume)
    volume.schemaVersion = this.#targetVersion
    volume.inUse = true
    this.#open = true
  }

  async close(): Promise<void> {
    if (!this.#open) return
    this.#open = false
    this.volume.inUse = false
  }

  async schemaVersion(): Promise<number> {
    return this.#volume().schemaVersion as number
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
    volume.tenantRecords.set(id, emptyTenantRecords())
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

  // Protected VMs, plans, schedule states (memory-protection.ts; rules in protection-rules.ts).

  async createProtectedVm(tenantId: string, vm: NewProtectedVm, now: Timestamp): Promise<ProtectedVm> {
    input.checkId('tenant', tenantId)
    const id = vm?.id === undefined ? input.generateId() : input.checkId('vm', vm.id)
    const checked = checkVmInput(vm)
    input.checkTime('now', now)
    return this.#change((volume) => memory.writeVm(volume, tenantId, id, checked, now, true))
  }

  async updateProtectedVm(
    tenantId: string,
    vmId: string,
    vm: ProtectedVmInput,
    now: Timestamp,
  ): Promise<ProtectedVm> {
    input.checkId('tenant', tenantId)
    input.checkId('vm', vmId)
    const checked = checkVmInput(vm)
    input.checkTime('now', now)
    return this.#change((volume) => memory.writeVm(volume, tenantId, vmId, checked, now, false))
  }

  async getProtectedVm(tenantId: string, vmId: string): Promise<ProtectedVm | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('vm', vmId)
    return copy(this.#volume().tenantRecords.get(tenantId)?.vms.get(vmId))
  }

  async listProtectedVms(tenantId: string, siteId?: string): Promise<ProtectedVm[]> {
    input.checkId('tenant', tenantId)
    if (siteId !== undefined) input.checkId('site', siteId)
    const vms = sortedCopies(this.#volume().tenantRecords.get(tenantId)?.vms)
    return siteId === undefined ? vms : vms.filter((vm) => vm.siteId === siteId)
  }

  async deleteProtectedVm(tenantId: string, vmId: string): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('vm', vmId)
    return this.#change((volume) => memory.deleteVm(volume, tenantId, vmId))
  }

  async createPlan(tenantId: string, plan: NewPlan, now: Timestamp): Promise<Plan> {
    input.checkId('tenant', tenantId)
    const id = plan?.id === undefined ? input.generateId() : input.checkId('plan', plan.id)
    const checked = checkPlanInput(plan)
    input.checkTime('now', now)
    return this.#change((volume) => memory.writePlan(volume, tenantId, id, checked, now, true))
  }

  async updatePlan(tenantId: string, planId: string, plan: PlanInput, now: Timestamp): Promise<Plan> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    const checked = checkPlanInput(plan)
    input.checkTime('now', now)
    return this.#change((volume) => memory.writePlan(volume, tenantId, planId, checked, now, false))
  }

  async getPlan(tenantId: string, planId: string): Promise<Plan | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    return copy(this.#volume().tenantRecords.get(tenantId)?.plans.get(planId))
  }

  async listPlans(tenantId: string): Promise<Plan[]> {
    input.checkId('tenant', tenantId)
    return sortedCopies(this.#volume().tenantRecords.get(tenantId)?.plans)
  }

  async listEnabledPlans(): Promise<Plan[]> {
    return memory.listEnabledPlans(this.#volume())
  }

  async deletePlan(tenantId: string, planId: string): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    return this.#change(async (volume) => memory.deletePlan(volume, tenantId, planId))
  }

  async getPlanScheduleState(tenantId: string, planId: string): Promise<PlanScheduleState | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    return copy(this.#volume().tenantRecords.get(tenantId)?.planStates.get(planId))
  }

  async recordPlanRun(
    tenantId: string,
    planId: string,
    run: PlanRun,
    now: Timestamp,
  ): Promise<PlanScheduleState> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    const checked = checkRun(run)
    input.checkTime('now', now)
    return this.#change(async (volume) => memory.recordRun(volume, tenantId, planId, checked, now))
  }

  async flagPlanRpoAtRisk(
    tenantId: string,
    planId: string,
    risk: PlanRisk,
    now: Timestamp,
  ): Promise<PlanScheduleState> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    const checked = checkRisk(risk)
    input.checkTime('now', now)
    return this.#change(async (volume) => memory.flagRisk(volume, tenantId, planId, checked, now))
  }

  // The recovery-point catalogue.

  async addRecoveryPoint(tenantId: string, point: NewRecoveryPoint): Promise<RecoveryPoint> {
    input.checkId('tenant', tenantId)
    const checked = checkRecoveryPoint(point)
    return this.#change((volume) => memory.addPoint(volume, tenantId, checked))
  }

  async getRecoveryPoint(tenantId: string, pointId: string): Promise<RecoveryPoint | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('recovery point', pointId)
    return copy(this.#volume().tenantRecords.get(tenantId)?.points.get(pointId))
  }

  async listRecoveryPoints(tenantId: string, vmId: string, volumeId?: string): Promise<RecoveryPoint[]> {
    input.checkId('tenant', tenantId)
    input.checkId('vm', vmId)
    if (volumeId !== undefined) input.checkId('volume', volumeId)
    return memory.listPoints(this.#volume(), tenantId, vmId, volumeId)
  }

  async setRecoveryPointTags(tenantId: string, pointId: string, tags: string[]): Promise<RecoveryPoint> {
    input.checkId('tenant', tenantId)
    input.checkId('recovery point', pointId)
    const checked = checkTags(tags)
    return this.#change(async (volume) => memory.tagPoint(volume, tenantId, pointId, checked))
  }

  async deleteRecoveryPoint(tenantId: string, pointId: string): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('recovery point', pointId)
    return this.#change(async (volume) => memory.deletePoint(volume, tenantId, pointId))
  }

  // Notification channels.

  async createNotificationChannel(
    tenantId: string,
    channel: NewNotificationChannel,
    now: Timestamp,
  ): Promise<NotificationChannel> {
    input.checkId('tenant', tenantId)
    const id = channel?.id === undefined ? input.generateId() : input.checkId('channel', channel.id)
    const checked = checkChannelInput(channel)
    input.checkTime('now', now)
    return this.#change(async (volume) => memory.writeChannel(volume, tenantId, id, checked, now, true))
  }

  async updateNotificationChannel(
    tenantId: string,
    channelId: string,
    channel: ChannelInput,
    now: Timestamp,
  ): Promise<NotificationChannel> {
    input.checkId('tenant', tenantId)
    input.checkId('channel', channelId)
    const checked = checkChannelInput(channel)
    input.checkTime('now', now)
    return this.#change(async (volume) =>
      memory.writeChannel(volume, tenantId, channelId, checked, now, false),
    )
  }

  async getNotificationChannel(
    tenantId: string,
    channelId: string,
  ): Promise<NotificationChannel | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('channel', channelId)
    return copy(this.#volume().tenantRecords.get(tenantId)?.channels.get(channelId))
  }

  async listNotificationChannels(tenantId: string): Promise<NotificationChannel[]> {
    input.checkId('tenant', tenantId)
    return sortedCopies(this.#volume().tenantRecords.get(tenantId)?.channels)
  }

  async deleteNotificationChannel(tenantId: string, channelId: string): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('channel', channelId)
    return this.#change(
      async (volume) => volume.tenantRecords.get(tenantId)?.channels.delete(channelId) ?? false,
    )
  }

  // Job logs.

  async appendJobLog(tenantId: string, jobId: string, entry: NewJobLogEntry): Promise<JobLogEntry> {
    input.checkId('tenant', tenantId)
    input.checkId('job', jobId)
    const checked = checkLogEntry(entry)
    return this.#change(async (volume) => memory.appendLog(volume, tenantId, jobId, checked))
  }

  async listJobLog(tenantId: string, jobId: string, page: JobLogPage): Promise<JobLogEntry[]> {
    input.checkId('tenant', tenantId)
    input.checkId('job', jobId)
    const limit = checkLimit(page?.limit, MAX_JOB_LOG_PAGE_SIZE)
    const after = page?.after === undefined ? undefined : input.checkTime('after', page.after)
    return memory.listLog(this.#volume(), tenantId, jobId, after, limit)
  }

  // Pruning finished jobs (finished-job-records.ts).

  async deleteFinishedJob(tenantId: string, jobId: string, before: Timestamp): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('job', jobId)
    const until = input.checkTime('before', before)
    return this.#change(async (volume) => {
      const records = volume.tenantRecords.get(tenantId)
      const job = records?.jobs.get(jobId)
      if (records === undefined || job === undefined || !isPrunable(job, until)) return false
      records.jobs.delete(jobId)
      records.jobLogs.delete(jobId)
      for (const key of [...records.logSeen.keys()])
        if (key.startsWith(`${jobId} `)) records.logSeen.delete(key)
      return true
    })
  }

  // Jobs: each change is a function of coordinator/jobs/ run in one transaction.

  async enqueueJob(tenantId: string, job: NewJob, now: Timestamp): Promise<EnqueueResult> {
    return this.#jobChange((tx) => enqueueJob(tx, tenantId, job, now))
  }

  async offerJob(
    tenantId: string,
    jobId: string,
    nodeId: string,
    now: Timestamp,
    ackTimeoutMs?: number,
    options?: OfferOptions,
  ): Promise<Job> {
    return this.#jobChange((tx) => offerJob(tx, tenantId, jobId, nodeId, now, ackTimeoutMs, options))
  }

  async acknowledgeJob(
    tenantId: string,
    jobId: string,
    nodeId: string,
    leaseId: string,
    now: Timestamp,
    leaseTtlMs?: number,
  ): Promise<Job> {
    return this.#jobChange((tx) => acknowledgeJob(tx, tenantId, jobId, nodeId, leaseId, now, leaseTtlMs))
  }

  async declineJob(
    tenantId: string,
    jobId: string,
    nodeId: string,
    leaseId: string,
    now: Timestamp,
    options?: ReturnOptions,
  ): Promise<Job> {
    return this.#jobChange((tx) => declineJob(tx, tenantId, jobId, nodeId, leaseId, now, options))
  }

  async renewLease(tenantId: string, jobId: string, leaseId: string, now: Timestamp): Promise<Job> {
    return this.#jobChange((tx) => renewLease(tx, tenantId, jobId, leaseId, now))
  }

  async completeJob(
    tenantId: string,
    jobId: string,
    leaseId: string,
    now: Timestamp,
    result?: JobSummary,
  ): Promise<Job> {
    return this.#jobChange((tx) => completeJob(tx, tenantId, jobId, leaseId, now, result))
  }

  async failJob(
    tenantId: string,
    jobId: string,
    leaseId: string,
    now: Timestamp,
    error: ErrorBody,
  ): Promise<Job> {
    return this.#jobChange((tx) => failJob(tx, tenantId, jobId, leaseId, now, error))
  }

  async handBackJob(
    tenantId: string,
    jobId: string,
    leaseId: string,
    now: Timestamp,
    options?: ReturnOptions,
  ): Promise<Job> {
    return this.#jobChange((tx) => handBackJob(tx, tenantId, jobId, leaseId, now, options))
  }

  async expireLeases(now: Timestamp, limit?: number): Promise<ExpiryReport> {
    return this.#jobChange((tx) => expireLeases(tx, now, limit))
  }

  async cancelJob(tenantId: string, jobId: string, now: Timestamp): Promise<Job> {
    return this.#jobChange((tx) => cancelJob(tx, tenantId, jobId, now))
  }

  async getJob(tenantId: string, jobId: string): Promise<Job | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('job', jobId)
    return copy(this.#volume().tenantRecords.get(tenantId)?.jobs.get(jobId))
  }

  async listJobs(tenantId: string, filter?: JobFilter, page?: JobPage): Promise<Job[]> {
    input.checkId('tenant', tenantId)
    const checked = checkFilter(filter)
    const { after, limit } = checkPage(page)
    return memoryJobs.listJobs(this.#volume(), tenantId, checked, after, limit)
  }

  async nextQueuedJobs(now: Timestamp, limit?: number, scope?: QueueScope): Promise<Job[]> {
    input.checkTime('now', now)
    const max = checkLimit(limit)
    const checked = checkScope(scope)
    return memoryJobs.nextQueuedJobs(this.#volume(), now, max, checked)
  }

  async activeJobsByNode(nodeId: string): Promise<number> {
    input.checkId('node', nodeId)
    return memoryJobs.activeJobsByNode(this.#volume(), nodeId)
  }

  async fencingToken(tenantId: string, volumeId: string): Promise<number> {
    input.checkId('tenant', tenantId)
    input.checkId('volume', volumeId)
    return this.#volume().tenantRecords.get(tenantId)?.fences.get(volumeId) ?? 0
  }

  /** Runs a change of schema version 2 under the write lock. */
  #change<T>(change: (volume: MemoryStoreVolume) => Promise<T>): Promise<T> {
    const volume = this.#volume()
    return this.#changes.run(() => change(volume))
  }

  /** Runs a job-state change in a transaction and applies its writes only once it has returned. */
  #jobChange<T>(change: (tx: JobTransaction) => Promise<T>): Promise<T> {
    return this.#change(async (volume) => {
      const tx = new memoryJobs.MemoryJobTransaction(volume)
      const result = await change(tx)
      tx.commit()
      return result
    })
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

/** Migration 1 → 2: every tenant gets the maps of the version-2 record kinds, empty. */
function migrate(volume: MemoryStoreVolume): void {
  for (const [tenantId, records] of volume.tenantRecords) {
    volume.tenantRecords.set(tenantId, { ...emptyTenantRecords(), ...records })
  }
}

function publicToken(stored: StoredToken | EnrolmentToken): EnrolmentToken {
  const { secretHash: _hash, ...token } = stored as StoredToken
  return structuredClone(token)
}
