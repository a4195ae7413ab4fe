/**
 * The metadata store on classic-level (LevelDB): the coordinator's default backend (DESIGN.md
 * "Coordinator storage"). Keys and values are laid out in level-layout.ts and docs/STORE.md.
 *
 * LevelDB has no transactions, only atomic batches. So every *change* (a method that writes) is
 * planned — its reads, its checks, its operations — one at a time through one in-process group
 * committer (group-commit.ts): changes never interleave, and each commits all of its records or
 * none. The changes that arrive while a batch is being written are planned as one group, each
 * reading through the writes of the group's earlier changes, and written as ONE db.batch() with one
 * fsync; each caller still gets its own result or error, after the batch is durable. That is enough
 * because LevelDB's LOCK file keeps any other process, or another instance in this one, from opening
 * the same directory (STORE_LOCKED). Batches are written with `sync: true` by default, so a change
 * that has returned survives a power cut, not only a crash of this process — except lease renewals,
 * which skip the fsync unless a change of their group asks for it (renew-lease.ts says why that is
 * safe). Reads run outside the committer: each reads committed records only, never half of a batch.
 *
 * The job changes and node status changes *join* a group: they read through its pending writes
 * (the sweeper's range reads included, level-jobs.ts). Every other change reads the database
 * directly and so *leads* one (group-commit.ts).
 *
 * The record kinds of schema version 2 live in their own modules (level-protection.ts,
 * level-catalogue.ts, level-jobs.ts), each change a function returning its batch; the job-state
 * changes are the backend-neutral functions of coordinator/jobs/, run in a LevelJobTransaction.
 * The methods here check input, then run those functions under the mutex.
 */
import { ClassicLevel } from 'classic-level'
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
import { alreadyExists, notFound, notOpen, StoreError, StoreErrorCode } from './errors.js'
import { GroupCommit, type GroupStats } from './group-commit.js'
import type { JobLogEntry, JobLogPage, NewJobLogEntry } from './job-log-records.js'
import * as catalogue from './level-catalogue.js'
import { planDeleteFinishedJob } from './level-job-prune.js'
import * as levelJobs from './level-jobs.js'
import * as layout from './level-layout.js'
import * as protection from './level-protection.js'
import * as protectionKeys from './level-protection-layout.js'
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
import type { PendingView } from './pending-writes.js'
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
  readonly #lifecycle = new WriteLock()
  #db: StoreDatabase | undefined
  /** The write path of the open database (set and cleared with #db). */
  #writer: GroupCommit | undefined
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
      this.#writer = new GroupCommit({
        store: db,
        write: (operations, sync) => db.batch(operations, { sync }),
      })
    })
  }

  close(): Promise<void> {
    return this.#lifecycle.run(async () => {
      const db = this.#db
      const writer = this.#writer
      if (db === undefined) return
      // New calls fail with STORE_NOT_OPEN from here; changes already queued still commit.
      this.#db = undefined
      this.#writer = undefined
      await writer?.idle()
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

  // Protected VMs (protection-rules.ts, level-protection.ts).

  async createProtectedVm(tenantId: string, vm: NewProtectedVm, now: Timestamp): Promise<ProtectedVm> {
    input.checkId('tenant', tenantId)
    const id = vm?.id === undefined ? input.generateId() : input.checkId('vm', vm.id)
    const checked = checkVmInput(vm)
    input.checkTime('now', now)
    return this.#change('creating a protected VM', (db) =>
      protection.createVm(db, tenantId, id, checked, now),
    )
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
    return this.#change('updating a protected VM', (db) =>
      protection.updateVm(db, tenantId, vmId, checked, now),
    )
  }

  async getProtectedVm(tenantId: string, vmId: string): Promise<ProtectedVm | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('vm', vmId)
    return this.#read('reading a protected VM', (db) =>
      getRecord(db, protectionKeys.vmKey(tenantId, vmId), protectionKeys.decodeVm),
    )
  }

  async listProtectedVms(tenantId: string, siteId?: string): Promise<ProtectedVm[]> {
    input.checkId('tenant', tenantId)
    if (siteId !== undefined) input.checkId('site', siteId)
    return this.#read('listing protected VMs', async (db) => {
      const vms = await listRecords(db, protectionKeys.vmPrefix(tenantId), protectionKeys.decodeVm)
      return siteId === undefined ? vms : vms.filter((vm) => vm.siteId === siteId)
    })
  }

  async deleteProtectedVm(tenantId: string, vmId: string): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('vm', vmId)
    return this.#change('deleting a protected VM', (db) => protection.deleteVm(db, tenantId, vmId))
  }

  // Plans and their schedule states.

  async createPlan(tenantId: string, plan: NewPlan, now: Timestamp): Promise<Plan> {
    input.checkId('tenant', tenantId)
    const id = plan?.id === undefined ? input.generateId() : input.checkId('plan', plan.id)
    const checked = checkPlanInput(plan)
    input.checkTime('now', now)
    return this.#change('creating a plan', (db) => protection.createPlan(db, tenantId, id, checked, now))
  }

  async updatePlan(tenantId: string, planId: string, plan: PlanInput, now: Timestamp): Promise<Plan> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    const checked = checkPlanInput(plan)
    input.checkTime('now', now)
    return this.#change('updating a plan', (db) => protection.updatePlan(db, tenantId, planId, checked, now))
  }

  async getPlan(tenantId: string, planId: string): Promise<Plan | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    return this.#read('reading a plan', (db) =>
      getRecord(db, protectionKeys.planKey(tenantId, planId), protectionKeys.decodePlan),
    )
  }

  async listPlans(tenantId: string): Promise<Plan[]> {
    input.checkId('tenant', tenantId)
    return this.#read('listing plans', (db) =>
      listRecords(db, protectionKeys.planPrefix(tenantId), protectionKeys.decodePlan),
    )
  }

  async listEnabledPlans(): Promise<Plan[]> {
    return this.#read('listing enabled plans', (db) => protection.listEnabledPlans(db))
  }

  async deletePlan(tenantId: string, planId: string): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    return this.#change('deleting a plan', (db) => protection.deletePlan(db, tenantId, planId))
  }

  async getPlanScheduleState(tenantId: string, planId: string): Promise<PlanScheduleState | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('plan', planId)
    return this.#read('reading a plan’s schedule state', (db) =>
      getRecord(db, protectionKeys.planStateKey(tenantId, planId), protectionKeys.decodePlanState),
    )
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
    return this.#change('recording a plan run', (db) =>
      protection.recordRun(db, tenantId, planId, checked, now),
    )
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
    return this.#change('flagging a plan’s RPO at risk', (db) =>
      protection.flagRisk(db, tenantId, planId, checked, now),
    )
  }

  // The recovery-point catalogue (level-catalogue.ts).

  async addRecoveryPoint(tenantId: string, point: NewRecoveryPoint): Promise<RecoveryPoint> {
    input.checkId('tenant', tenantId)
    const checked = checkRecoveryPoint(point)
    return this.#change('adding a recovery point', (db) => catalogue.addPoint(db, tenantId, checked))
  }

  async getRecoveryPoint(tenantId: string, pointId: string): Promise<RecoveryPoint | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('recovery point', pointId)
    return this.#read('reading a recovery point', (db) =>
      getRecord(db, protectionKeys.pointKey(tenantId, pointId), protectionKeys.decodePoint),
    )
  }

  async listRecoveryPoints(tenantId: string, vmId: string, volumeId?: string): Promise<RecoveryPoint[]> {
    input.checkId('tenant', tenantId)
    input.checkId('vm', vmId)
    if (volumeId !== undefined) input.checkId('volume', volumeId)
    return this.#read('listing recovery points', (db) => catalogue.listPoints(db, tenantId, vmId, volumeId))
  }

  async setRecoveryPointTags(tenantId: string, pointId: string, tags: string[]): Promise<RecoveryPoint> {
    input.checkId('tenant', tenantId)
    input.checkId('recovery point', pointId)
    const checked = checkTags(tags)
    return this.#change('tagging a recovery point', (db) =>
      catalogue.tagPoint(db, tenantId, pointId, checked),
    )
  }

  async deleteRecoveryPoint(tenantId: string, pointId: string): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('recovery point', pointId)
    return this.#change('deleting a recovery point', (db) => catalogue.deletePoint(db, tenantId, pointId))
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
    return this.#change('creating a notification channel', (db) =>
      catalogue.writeChannel(db, tenantId, id, checked, now, true),
    )
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
    return this.#change('updating a notification channel', (db) =>
      catalogue.writeChannel(db, tenantId, channelId, checked, now, false),
    )
  }

  async getNotificationChannel(
    tenantId: string,
    channelId: string,
  ): Promise<NotificationChannel | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('channel', channelId)
    return this.#read('reading a notification channel', (db) =>
      getRecord(db, protectionKeys.channelKey(tenantId, channelId), protectionKeys.decodeChannel),
    )
  }

  async listNotificationChannels(tenantId: string): Promise<NotificationChannel[]> {
    input.checkId('tenant', tenantId)
    return this.#read('listing notification channels', (db) =>
      listRecords(db, protectionKeys.channelPrefix(tenantId), protectionKeys.decodeChannel),
    )
  }

  async deleteNotificationChannel(tenantId: string, channelId: string): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('channel', channelId)
    return this.#change('deleting a notification channel', (db) =>
      catalogue.deleteChannel(db, tenantId, channelId),
    )
  }

  // Job logs.

  async appendJobLog(tenantId: string, jobId: string, entry: NewJobLogEntry): Promise<JobLogEntry> {
    input.checkId('tenant', tenantId)
    input.checkId('job', jobId)
    const checked = checkLogEntry(entry)
    return this.#change('appending to a job log', (db) => catalogue.appendLog(db, tenantId, jobId, checked))
  }

  async listJobLog(tenantId: string, jobId: string, page: JobLogPage): Promise<JobLogEntry[]> {
    input.checkId('tenant', tenantId)
    input.checkId('job', jobId)
    const limit = checkLimit(page?.limit, MAX_JOB_LOG_PAGE_SIZE)
    const after = page?.after === undefined ? undefined : input.checkTime('after', page.after)
    return this.#read('reading a job log', (db) => catalogue.listLog(db, tenantId, jobId, after, limit))
  }

  // Pruning finished jobs (finished-job-records.ts): one batch per job; it reads ranges, so it leads.

  async deleteFinishedJob(tenantId: string, jobId: string, before: Timestamp): Promise<boolean> {
    input.checkId('tenant', tenantId)
    input.checkId('job', jobId)
    const until = input.checkTime('before', before)
    return this.#change('pruning a finished job', (db) => planDeleteFinishedJob(db, tenantId, jobId, until))
  }

  // Jobs: each change is a function of coordinator/jobs/ run in one transaction (one batch).

  async enqueueJob(tenantId: string, job: NewJob, now: Timestamp): Promise<EnqueueResult> {
    return this.#jobChange('enqueueing a job', (tx) => enqueueJob(tx, tenantId, job, now))
  }

  async offerJob(
    tenantId: string,
    jobId: string,
    nodeId: string,
    now: Timestamp,
    ackTimeoutMs?: number,
    options?: OfferOptions,
  ): Promise<Job> {
    return this.#jobChange('offering a job', (tx) =>
      offerJob(tx, tenantId, jobId, nodeId, now, ackTimeoutMs, options),
    )
  }

  async acknowledgeJob(
    tenantId: string,
    jobId: string,
    nodeId: string,
    leaseId: string,
    now: Timestamp,
    leaseTtlMs?: number,
  ): Promise<Job> {
    return this.#jobChange('acknowledging a job', (tx) =>
      acknowledgeJob(tx, tenantId, jobId, nodeId, leaseId, now, leaseTtlMs),
    )
  }

  async declineJob(
    tenantId: string,
    jobId: string,
    nodeId: string,
    leaseId: string,
    now: Timestamp,
    options?: ReturnOptions,
  ): Promise<Job> {
    return this.#jobChange('declining a job', (tx) =>
      declineJob(tx, tenantId, jobId, nodeId, leaseId, now, options),
    )
  }

  async renewLease(tenantId: string, jobId: string, leaseId: string, now: Timestamp): Promise<Job> {
    // No fsync: a lost renewal is safe (renew-lease.ts), and renewals are most of the write load.
    return this.#jobChange('renewing a lease', (tx) => renewLease(tx, tenantId, jobId, leaseId, now), false)
  }

  async completeJob(
    tenantId: string,
    jobId: string,
    leaseId: string,
    now: Timestamp,
    result?: JobSummary,
  ): Promise<Job> {
    return this.#jobChange('completing a job', (tx) => completeJob(tx, tenantId, jobId, leaseId, now, result))
  }

  async failJob(
    tenantId: string,
    jobId: string,
    leaseId: string,
    now: Timestamp,
    error: ErrorBody,
  ): Promise<Job> {
    return this.#jobChange('failing a job', (tx) => failJob(tx, tenantId, jobId, leaseId, now, error))
  }

  async handBackJob(
    tenantId: string,
    jobId: string,
    leaseId: string,
    now: Timestamp,
    options?: ReturnOptions,
  ): Promise<Job> {
    return this.#jobChange('handing back a job', (tx) =>
      handBackJob(tx, tenantId, jobId, leaseId, now, options),
    )
  }

  async expireLeases(now: Timestamp, limit?: number): Promise<ExpiryReport> {
    return this.#jobChange('expiring leases', (tx) => expireLeases(tx, now, limit))
  }

  async cancelJob(tenantId: string, jobId: string, now: Timestamp): Promise<Job> {
    return this.#jobChange('cancelling a job', (tx) => cancelJob(tx, tenantId, jobId, now))
  }

  async getJob(tenantId: string, jobId: string): Promise<Job | undefined> {
    input.checkId('tenant', tenantId)
    input.checkId('job', jobId)
    return this.#read('reading a job', (db) => levelJobs.getJob(db, tenantId, jobId))
  }

  async listJobs(tenantId: string, filter?: JobFilter, page?: JobPage): Promise<Job[]> {
    input.checkId('tenant', tenantId)
    const checked = checkFilter(filter)
    const { after, limit } = checkPage(page)
    return this.#read('listing jobs', (db) => levelJobs.listJobs(db, tenantId, checked, after, limit))
  }

  async nextQueuedJobs(now: Timestamp, limit?: number, scope?: QueueScope): Promise<Job[]> {
    input.checkTime('now', now)
    const max = checkLimit(limit)
    const checked = checkScope(scope)
    return this.#read('reading the job queue', (db) => levelJobs.nextQueuedJobs(db, now, max, checked))
  }

  async activeJobsByNode(nodeId: string): Promise<number> {
    input.checkId('node', nodeId)
    return this.#read('counting a node’s jobs', (db) => levelJobs.activeJobsByNode(db, nodeId))
  }

  async fencingToken(tenantId: string, volumeId: string): Promise<number> {
    input.checkId('tenant', tenantId)
    input.checkId('volume', volumeId)
    return this.#read('reading a fencing token', (db) => levelJobs.fencingToken(db, tenantId, volumeId))
  }

  /** Runs one job-state change in a transaction whose writes join its commit group's batch. */
  #jobChange<T>(what: string, change: (tx: JobTransaction) => Promise<T>, sync = this.#sync): Promise<T> {
    const db = this.#open()
    return this.#submit(what, sync, false, async (reads) => {
      const tx = new levelJobs.LevelJobTransaction(reads, db)
      const result = await change(tx)
      return { result, operations: tx.operations }
    })
  }

  /** Reads and rewrites one node record under the mutex; writes nothing when `update` changed nothing. */
  #updateNode(what: string, nodeId: string, update: (node: Node) => Node): Promise<Node> {
    return this.#submit(what, this.#sync, false, async (reads) => {
      const node = await findNode(reads, nodeId)
      if (node === undefined) throw notFound('node', nodeId)
      const next = update(node)
      const unchanged = layout.encodeRecord(next) === layout.encodeRecord(node)
      return { result: next, operations: unchanged ? [] : [put(layout.nodeKey(next.tenantId, nodeId), next)] }
    })
  }

  /**
   * Runs one change that reads the database directly (ranges included): it leads its commit group,
   * so no pending write is hidden from it, and its operations are written with the group's.
   */
  #change<T>(
    what: string,
    plan: (db: StoreDatabase) => Promise<{ result: T; operations: StoreOperation[] }>,
    sync = this.#sync,
  ): Promise<T> {
    const db = this.#open()
    return this.#submit(what, sync, true, () => plan(db))
  }

  /** Submits one change to the committer; its errors, and its group's write error, become coded. */
  async #submit<T>(
    what: string,
    sync: boolean,
    leads: boolean,
    plan: (reads: PendingView) => Promise<{ result: T; operations: StoreOperation[] }>,
  ): Promise<T> {
    this.#open()
    try {
      return await this.#writer!.submit({ plan, sync, leads })
    } catch (error) {
      throw toStoreError(error, what)
    }
  }

  /** What the committer has done since open: groups written, changes in them, the largest group. */
  commitStats(): GroupStats {
    this.#open()
    return this.#writer!.stats
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
