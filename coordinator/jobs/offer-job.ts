/**
 * offerJob — gives a queued job to one node, which must acknowledge it before the ack deadline.
 *
 * Inputs: tenant id, job id, the node's id, `now`, the ack timeout (ACK_TIMEOUT_MS by default),
 * options: the lease TTL the offer announces (LEASE_TTL_MS), allowExcludedNode.
 * Preconditions, in this order (nothing is written when one fails):
 *   1. the input is well formed (STORE_INVALID_ID, STORE_INVALID_ARGUMENT);
 *   2. the job exists (JOB_NOT_FOUND) and is queued (JOB_STATE_CONFLICT);
 *   3. it is due: notBefore <= now (JOB_NOT_DUE);
 *   4. the node is enrolled in the job's tenant and site with the job's role (JOB_NODE_INELIGIBLE);
 *   5. the node has not timed out on the job, unless allowExcludedNode (JOB_NODE_EXCLUDED).
 * Effects: one batch:
 *   - the job becomes `offered`: attempt + 1, offeredTo the node, ackDeadline = now + ack timeout,
 *     a new lease (random id, the node, the TTL, expiring at the ack deadline);
 *   - it takes a fencing token T = 1 + the highest token any of its volumes had, and every one of
 *     its volumes' counters becomes T (so T is above every token issued before for any of them, as
 *     the JOB_OFFER's single `fencingToken` requires), recorded in fencingTokens;
 *   - its queue entries make way for an offer-deadline entry and the node's active-job entry.
 * The returned job carries what the JOB_OFFER needs: lease id, attempt, fencing token
 * (offerFencingToken), ack deadline and lease TTL.
 */
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import { nodeExcluded, nodeIneligible, notDue, stateConflict } from './errors.js'
import type { Job, OfferOptions } from './job.js'
import { ACK_TIMEOUT_MS, LEASE_TTL_MS } from './job-defaults.js'
import { checkAckTimeout, checkLeaseTtl } from './job-input.js'
import { readJob } from './job-rules.js'
import type { JobTransaction } from './job-transaction.js'

export async function offerJob(
  tx: JobTransaction,
  tenantId: string,
  jobId: string,
  nodeId: string,
  now: Timestamp,
  ackTimeoutMs: number = ACK_TIMEOUT_MS,
  options: OfferOptions = {},
): Promise<Job> {
  input.checkId('tenant', tenantId)
  input.checkId('job', jobId)
  input.checkId('node', nodeId)
  input.checkTime('now', now)
  const ackTimeout = checkAckTimeout(ackTimeoutMs)
  const ttlMs = checkLeaseTtl(options.leaseTtlMs ?? LEASE_TTL_MS)

  const job = await readJob(tx, tenantId, jobId)
  if (job.state !== 'queued') throw stateConflict(jobId, job.state, 'queued')
  if (job.notBefore > now) throw notDue(jobId, job.notBefore)
  const node = await tx.findNode(nodeId)
  if (node === undefined || node.tenantId !== tenantId) {
    throw nodeIneligible(jobId, nodeId, 'it is not enrolled in the job’s tenant')
  }
  if (node.siteId !== job.siteId) throw nodeIneligible(jobId, nodeId, `it is in site ${node.siteId}`)
  if (node.role !== job.role)
    throw nodeIneligible(jobId, nodeId, `it is a ${node.role}, the job needs a ${job.role}`)
  if (job.excludedNodes.includes(nodeId) && options.allowExcludedNode !== true)
    throw nodeExcluded(jobId, nodeId)

  let highest = 0
  for (const volumeId of job.volumeIds)
    highest = Math.max(highest, await tx.getFencingToken(tenantId, volumeId))
  const token = highest + 1
  const fencingTokens: Record<string, number> = {}
  for (const volumeId of job.volumeIds) {
    fencingTokens[volumeId] = token
    tx.putFencingToken(tenantId, volumeId, token)
  }

  const ackDeadline = now + ackTimeout
  const offered: Job = {
    ...job,
    state: 'offered',
    attempt: job.attempt + 1,
    offeredTo: nodeId,
    ackDeadline,
    lease: { id: input.generateId(), nodeId, ttlMs, expiresAt: ackDeadline, grantedAt: now },
    fencingTokens,
    updatedAt: now,
  }
  tx.putJob(offered, job)
  return offered
}
