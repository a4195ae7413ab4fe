/**
 * Checks of everything a caller passes to a job change, shared by every backend so that all refuse
 * the same input with the same codes (STORE_INVALID_ID, STORE_INVALID_ARGUMENT) before anything is
 * read. A *checked* value is returned in the form stored: a payload is its JSON round trip, so what
 * a backend keeps never holds `undefined`, functions or class instances.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { ErrorBody } from '../../protocol/errors.js'
import { MAX_LEASE_TTL_MS, MIN_LEASE_TTL_MS } from '../../protocol/limits.js'
import { ErrorBodySchema, ScalarMap } from '../../protocol/schema-types.js'
import { invalidArgument } from '../store/errors.js'
import type { Timestamp } from '../store/metadata-store.js'
import * as input from '../store/store-input.js'
import type { Job, JobFilter, JobPage, JobPayload, JobSummary, NewJob, QueueScope } from './job.js'
import { JOB_STATES, JOB_TYPES } from './job.js'
import {
  DEFAULT_JOB_PAGE_SIZE,
  MAX_ACK_TIMEOUT_MS,
  MAX_ATTEMPTS,
  MAX_EXCLUDED_NODES,
  MAX_JOB_PAGE_SIZE,
  MAX_JOB_PAYLOAD_BYTES,
  MAX_JOB_VOLUMES,
  MAX_MAX_ATTEMPTS,
  MIN_ACK_TIMEOUT_MS,
} from './job-defaults.js'

const errorBodyValidator = TypeCompiler.Compile(ErrorBodySchema)
const summaryValidator = TypeCompiler.Compile(ScalarMap)

/** A new job as it will be stored (before the VM's volumes are filled in). */
export type CheckedNewJob = Omit<NewJob, 'maxAttempts' | 'notBefore' | 'payload'> & {
  maxAttempts: number
  notBefore: Timestamp
  payload: JobPayload
}

export function checkNewJob(job: NewJob, now: Timestamp): CheckedNewJob {
  if (typeof job !== 'object' || job === null) {
    throw invalidArgument('a job must be an object', 'Pass { id, type, siteId, role, … }.')
  }
  input.checkTime('now', now)
  const type = job.type
  if (!JOB_TYPES.includes(type)) {
    throw invalidArgument(
      `job type must be one of ${JOB_TYPES.join(', ')}, got ${JSON.stringify(type)}`,
      'Pass the type of work the job is.',
    )
  }
  const role = input.checkRole(job.role)
  const expectedRole =
    type === 'replication-cycle' ? 'appliance' : type === 'maintenance' ? role : 'connector'
  if (role !== expectedRole) {
    throw invalidArgument(
      `a ${type} job runs on a ${expectedRole}, not a ${role}`,
      'Replication cycles run on appliances; consistency checks and failover steps on connectors.',
    )
  }
  if ((type === 'replication-cycle' || type === 'consistency-check') && job.vmId === undefined) {
    throw invalidArgument(`a ${type} job must name its VM`, 'Pass the vmId of the protected VM.')
  }
  const volumeIds = job.volumeIds === undefined ? undefined : checkVolumeIds(job.volumeIds)
  if (volumeIds !== undefined && volumeIds.length > 0 && job.vmId === undefined) {
    throw invalidArgument('a job that names volumes must name their VM', 'Pass vmId with volumeIds.')
  }
  const checked: CheckedNewJob = {
    id: input.checkId('job', job.id),
    type,
    siteId: input.checkId('site', job.siteId),
    role,
    maxAttempts: job.maxAttempts === undefined ? MAX_ATTEMPTS : checkMaxAttempts(job.maxAttempts),
    notBefore: job.notBefore === undefined ? now : input.checkTime('notBefore', job.notBefore),
    payload: checkPayload(job.payload ?? {}),
  }
  if (job.planId !== undefined) checked.planId = input.checkId('plan', job.planId)
  if (job.vmId !== undefined) checked.vmId = input.checkId('vm', job.vmId)
  if (volumeIds !== undefined) checked.volumeIds = volumeIds
  return checked
}

function checkVolumeIds(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_JOB_VOLUMES) {
    throw invalidArgument(
      `volumeIds must be an array of at most ${MAX_JOB_VOLUMES} volume ids`,
      'Split work on more volumes into several jobs.',
    )
  }
  const ids = value.map((id) => input.checkId('volume', id))
  if (new Set(ids).size !== ids.length) {
    throw invalidArgument('volumeIds names a volume twice', 'Name each volume once.')
  }
  return ids
}

function checkMaxAttempts(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_MAX_ATTEMPTS) {
    throw invalidArgument(
      `maxAttempts must be an integer from 1 to ${MAX_MAX_ATTEMPTS}, got ${String(value)}`,
      `Omit maxAttempts for the default of ${MAX_ATTEMPTS}.`,
    )
  }
  return value
}

function checkPayload(value: unknown): JobPayload {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgument('a job payload must be a JSON object', 'Pass the payload as a plain object.')
  }
  let text: string
  try {
    text = JSON.stringify(value)
  } catch (cause) {
    throw invalidArgument(
      `a job payload must be JSON: ${(cause as Error).message}`,
      'Pass plain objects, arrays, strings, numbers and booleans only.',
    )
  }
  if (Buffer.byteLength(text, 'utf8') > MAX_JOB_PAYLOAD_BYTES) {
    throw invalidArgument(
      `a job payload must be at most ${MAX_JOB_PAYLOAD_BYTES} bytes of JSON`,
      'Keep payloads to what the node needs to start; large data belongs elsewhere.',
    )
  }
  return JSON.parse(text) as JobPayload
}

export function checkAckTimeout(value: unknown): number {
  return checkDuration('ackTimeoutMs', value, MIN_ACK_TIMEOUT_MS, MAX_ACK_TIMEOUT_MS)
}

export function checkLeaseTtl(value: unknown): number {
  return checkDuration('leaseTtlMs', value, MIN_LEASE_TTL_MS, MAX_LEASE_TTL_MS)
}

function checkDuration(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidArgument(
      `${name} must be an integer from ${min} to ${max} ms, got ${String(value)}`,
      `Pass ${name} within the JOB_OFFER bounds (docs/PROTOCOL.md §8), or omit it for the default.`,
    )
  }
  return value
}

/** An error body as stored on a job: the one error shape, within its wire bounds. */
export function checkErrorBody(value: unknown): ErrorBody {
  if (!errorBodyValidator.Check(value)) {
    throw invalidArgument(
      'error must be { code, message, remediation, retryable } within the errorBody bounds',
      'Pass a LifeboatError’s toBody(), or the error body of the node’s RESULT.',
    )
  }
  const { code, message, remediation, retryable } = value as ErrorBody
  return { code, message, remediation, retryable }
}

export function checkSummary(value: unknown): JobSummary {
  if (!summaryValidator.Check(value)) {
    throw invalidArgument(
      'a job result must be a map of at most 64 named scalars (the RESULT summary bounds)',
      'Pass the RESULT summary of the node as it came.',
    )
  }
  return { ...(value as JobSummary) }
}

export function checkFilter(filter: JobFilter | undefined): JobFilter {
  if (filter === undefined) return {}
  const checked: JobFilter = {}
  if (filter.state !== undefined) {
    if (!JOB_STATES.includes(filter.state)) {
      throw invalidArgument(
        `state must be one of ${JOB_STATES.join(', ')}, got ${JSON.stringify(filter.state)}`,
        'Filter by one of the job states.',
      )
    }
    checked.state = filter.state
  }
  if (filter.vmId !== undefined) checked.vmId = input.checkId('vm', filter.vmId)
  if (filter.planId !== undefined) checked.planId = input.checkId('plan', filter.planId)
  return checked
}

export function checkPage(page: JobPage | undefined): { after?: string; limit: number } {
  const limit = checkLimit(page?.limit)
  return page?.after === undefined ? { limit } : { after: input.checkId('job', page.after), limit }
}

export function checkLimit(value: unknown, max = MAX_JOB_PAGE_SIZE): number {
  if (value === undefined) return Math.min(DEFAULT_JOB_PAGE_SIZE, max)
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw invalidArgument(
      `limit must be an integer from 1 to ${max}, got ${String(value)}`,
      'Ask for fewer at a time and page on.',
    )
  }
  return value
}

export function checkScope(scope: QueueScope | undefined): QueueScope | undefined {
  if (scope === undefined) return undefined
  return {
    tenantId: input.checkId('tenant', scope.tenantId),
    siteId: input.checkId('site', scope.siteId),
    role: input.checkRole(scope.role),
  }
}

/** The job's excluded nodes with `nodeId` moved to (or added at) the end, oldest forgotten beyond the cap. */
export function withExcluded(job: Job, nodeId: string): string[] {
  const nodes = job.excludedNodes.filter((id) => id !== nodeId)
  nodes.push(nodeId)
  return nodes.slice(-MAX_EXCLUDED_NODES)
}
