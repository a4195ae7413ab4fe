/**
 * enqueueJob — puts a new job in its site's queue, once.
 *
 * Inputs: the tenant id, the new job (id chosen by the enqueuer), `now`.
 * Preconditions, checked in this order (nothing is written when one fails):
 *   1. the input is well formed (STORE_INVALID_ID, STORE_INVALID_ARGUMENT);
 *   2. no job with this id exists in the tenant — else `{ enqueued: false, reason: 'duplicate' }`
 *      with the existing job, unchanged: enqueueing is idempotent by job id;
 *   3. the site exists in the tenant (STORE_NOT_FOUND); the VM, when named, exists and holds every
 *      volume named (STORE_NOT_FOUND);
 *   4. the plan, when named, exists and is enabled — else `{ enqueued: false, reason: 'plan-gone' }`;
 *   5. a replication cycle's VM has no active cycle — else `{ enqueued: false, reason: 'active' }`
 *      with that cycle, so the scheduler can flag the plan's RPO at risk.
 * Effects: one batch: the job record (queued, attempt 0, due at notBefore, the VM's volumes when
 * none were named), its queue entries and by-state, by-VM and by-plan entries, and for a replication
 * cycle the VM's active-cycle entry.
 */
import { notFound } from '../store/errors.js'
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import type { EnqueueResult, Job, NewJob } from './job.js'
import { checkNewJob } from './job-input.js'
import type { JobTransaction } from './job-transaction.js'

export async function enqueueJob(
  tx: JobTransaction,
  tenantId: string,
  newJob: NewJob,
  now: Timestamp,
): Promise<EnqueueResult> {
  input.checkId('tenant', tenantId)
  const job = checkNewJob(newJob, now)
  const existing = await tx.getJob(tenantId, job.id)
  if (existing !== undefined) return { enqueued: false, reason: 'duplicate', job: existing }

  if ((await tx.getSite(tenantId, job.siteId)) === undefined) throw notFound('site', job.siteId, tenantId)
  let volumeIds = job.volumeIds ?? []
  if (job.vmId !== undefined) {
    const vm = await tx.getProtectedVm(tenantId, job.vmId)
    if (vm === undefined) throw notFound('vm', job.vmId, tenantId)
    const held = vm.volumes.map((volume) => volume.id)
    const missing = volumeIds.find((id) => !held.includes(id))
    if (missing !== undefined) throw notFound('volume', missing, tenantId)
    if (job.volumeIds === undefined) volumeIds = held
  }
  if (job.planId !== undefined) {
    const plan = await tx.getPlan(tenantId, job.planId)
    if (plan === undefined || !plan.enabled) return { enqueued: false, reason: 'plan-gone' }
  }
  if (job.type === 'replication-cycle' && job.vmId !== undefined) {
    const activeId = await tx.getActiveCycle(tenantId, job.vmId)
    const active = activeId === undefined ? undefined : await tx.getJob(tenantId, activeId)
    if (active !== undefined) return { enqueued: false, reason: 'active', job: active }
  }

  const record: Job = {
    tenantId,
    id: job.id,
    type: job.type,
    ...(job.planId === undefined ? {} : { planId: job.planId }),
    ...(job.vmId === undefined ? {} : { vmId: job.vmId }),
    volumeIds,
    siteId: job.siteId,
    role: job.role,
    state: 'queued',
    attempt: 0,
    maxAttempts: job.maxAttempts,
    notBefore: job.notBefore,
    queuedAt: now,
    fencingTokens: {},
    excludedNodes: [],
    payload: job.payload,
    createdAt: now,
    updatedAt: now,
  }
  tx.putJob(record, undefined)
  return { enqueued: true, job: record }
}
