/**
 * Checks of recovery points, notification channels and job log entries as callers pass them,
 * shared by every backend. Each returns the value as stored: only the contract's fields, tags
 * sorted and without repeats, event names likewise.
 *
 * A channel *target* is checked for its kind: an http(s) URL for a webhook, an https URL for Slack,
 * an address for email, a 32-character routing key for PagerDuty. An *event name* is what the
 * coordinator's events are called (`job-failed`, `rpo-at-risk`): lowercase words joined by `-`.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { ErrorBody } from '../../protocol/errors.js'
import { MAX_STEP_LENGTH, MAX_TEXT_LENGTH, MAX_VOLUME_SIZE } from '../../protocol/limits.js'
import { ErrorBodySchema } from '../../protocol/schema-types.js'
import { CHANNEL_KINDS, type ChannelInput, type ChannelKind } from './channel-records.js'
import { invalidArgument } from './errors.js'
import { JOB_LOG_LEVELS, type JobLogLevel, type NewJobLogEntry } from './job-log-records.js'
import { checkTags } from './protection-input.js'
import type { NewRecoveryPoint } from './recovery-point-records.js'
import * as input from './store-input.js'

/** Event names a channel's filter may list. */
export const MAX_CHANNEL_EVENTS = 64
export const MAX_EVENT_NAME_LENGTH = 64
/** Longest webhook or Slack URL. */
export const MAX_CHANNEL_URL_LENGTH = 2_048
/** Longest email address (RFC 5321 path limit). */
export const MAX_EMAIL_LENGTH = 254

const DIGEST_PATTERN = /^[0-9a-f]{64}$/
const EVENT_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/
// A practical address check: one @, no spaces, a dot in the domain. Delivery proves the rest.
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/
const ROUTING_KEY_PATTERN = /^[A-Za-z0-9]{32}$/
const errorBodyValidator = TypeCompiler.Compile(ErrorBodySchema)

export function checkRecoveryPoint(value: NewRecoveryPoint): NewRecoveryPoint & { tags: string[] } {
  if (typeof value !== 'object' || value === null) {
    throw invalidArgument(
      'a recovery point must be an object',
      'Pass { id, vmId, volumeId, createdAt, blockMapDigest, size, tags? }.',
    )
  }
  if (typeof value.blockMapDigest !== 'string' || !DIGEST_PATTERN.test(value.blockMapDigest)) {
    throw invalidArgument(
      'blockMapDigest must be 64 lowercase hex characters (BLAKE3 of the block map)',
      'Pass the digest the connector reported when it committed the point.',
    )
  }
  const size = value.size
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_VOLUME_SIZE) {
    throw invalidArgument(
      `a recovery point’s size must be an integer from 0 to ${MAX_VOLUME_SIZE} bytes, got ${String(size)}`,
      'Pass the volume’s size at the point, in bytes.',
    )
  }
  return {
    id: input.checkId('recovery point', value.id),
    vmId: input.checkId('vm', value.vmId),
    volumeId: input.checkId('volume', value.volumeId),
    createdAt: input.checkTime('createdAt', value.createdAt),
    blockMapDigest: value.blockMapDigest,
    size,
    tags: checkTags(value.tags ?? []),
  }
}

export function checkChannelInput(value: ChannelInput): ChannelInput {
  if (typeof value !== 'object' || value === null) {
    throw invalidArgument(
      'a notification channel must be an object',
      'Pass { kind, target, events, enabled }.',
    )
  }
  if (!CHANNEL_KINDS.includes(value.kind)) {
    throw invalidArgument(
      `a channel’s kind must be one of ${CHANNEL_KINDS.join(', ')}, got ${JSON.stringify(value.kind)}`,
      'Choose where the notifications go.',
    )
  }
  if (typeof value.enabled !== 'boolean') {
    throw invalidArgument(
      'a channel’s enabled must be true or false',
      'Say whether the channel receives events.',
    )
  }
  return {
    kind: value.kind,
    target: checkTarget(value.kind, value.target),
    events: checkEvents(value.events ?? []),
    enabled: value.enabled,
  }
}

function checkTarget(kind: ChannelKind, value: unknown): string {
  if (typeof value !== 'string') throw badTarget(kind)
  switch (kind) {
    case 'webhook':
      if (!isUrl(value, ['http:', 'https:'])) throw badTarget(kind)
      return value
    case 'slack':
      if (!isUrl(value, ['https:'])) throw badTarget(kind)
      return value
    case 'email':
      if (value.length > MAX_EMAIL_LENGTH || !EMAIL_PATTERN.test(value)) throw badTarget(kind)
      return value
    case 'pagerduty':
      if (!ROUTING_KEY_PATTERN.test(value)) throw badTarget(kind)
      return value
  }
}

function isUrl(value: string, protocols: string[]): boolean {
  if (value.length > MAX_CHANNEL_URL_LENGTH || !URL.canParse(value)) return false
  const url = new URL(value)
  return protocols.includes(url.protocol) && url.hostname.length > 0
}

function badTarget(kind: ChannelKind) {
  const wanted: Record<ChannelKind, string> = {
    webhook: `an http or https URL of at most ${MAX_CHANNEL_URL_LENGTH} characters`,
    slack: `a Slack incoming-webhook https URL of at most ${MAX_CHANNEL_URL_LENGTH} characters`,
    email: `an email address of at most ${MAX_EMAIL_LENGTH} characters`,
    pagerduty: 'a PagerDuty Events v2 routing key (32 letters and digits)',
  }
  return invalidArgument(`a ${kind} channel’s target must be ${wanted[kind]}`, `Pass ${wanted[kind]}.`)
}

function checkEvents(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_CHANNEL_EVENTS) {
    throw invalidArgument(
      `events must be an array of at most ${MAX_CHANNEL_EVENTS} event names`,
      'List the events the channel wants, or none for every event.',
    )
  }
  for (const name of value) {
    if (typeof name !== 'string' || name.length > MAX_EVENT_NAME_LENGTH || !EVENT_PATTERN.test(name)) {
      throw invalidArgument(
        `invalid event name ${JSON.stringify(name)}: lowercase words joined by '-', such as job-failed`,
        'Use the event names of docs/SCHEDULING.md "Events".',
      )
    }
  }
  return [...new Set(value as string[])].sort()
}

export function checkLogEntry(value: NewJobLogEntry): NewJobLogEntry {
  if (typeof value !== 'object' || value === null) {
    throw invalidArgument('a job log entry must be an object', 'Pass { at, level, step, message, … }.')
  }
  if (!JOB_LOG_LEVELS.includes(value.level)) {
    throw invalidArgument(
      `a log level must be one of ${JOB_LOG_LEVELS.join(', ')}, got ${JSON.stringify(value.level)}`,
      'Pass the LOG_ENTRY level.',
    )
  }
  const entry: NewJobLogEntry = {
    at: input.checkTime('at', value.at),
    level: value.level as JobLogLevel,
    step: checkText('step', value.step, 1, MAX_STEP_LENGTH),
    message: checkText('message', value.message, 0, MAX_TEXT_LENGTH),
  }
  if (value.nodeId !== undefined) entry.nodeId = input.checkId('node', value.nodeId)
  if (value.nodeSeq !== undefined) {
    if (entry.nodeId === undefined) {
      throw invalidArgument('nodeSeq needs nodeId', 'Pass the node that numbered the entry.')
    }
    entry.nodeSeq = checkCount('nodeSeq', value.nodeSeq, 1)
  }
  if (value.bytesDone !== undefined) entry.bytesDone = checkCount('bytesDone', value.bytesDone, 0)
  if (value.error !== undefined) {
    if (!errorBodyValidator.Check(value.error)) {
      throw invalidArgument(
        'a log entry’s error must be an error body within its bounds',
        'Pass a LifeboatError’s toBody().',
      )
    }
    const { code, message, remediation, retryable } = value.error as ErrorBody
    entry.error = { code, message, remediation, retryable }
  }
  return entry
}

function checkText(name: string, value: unknown, min: number, max: number): string {
  if (typeof value !== 'string' || value.length < min || value.length > max) {
    throw invalidArgument(`${name} must be a string of ${min} to ${max} characters`, `Shorten the ${name}.`)
  }
  return value
}

function checkCount(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(
      `${name} must be an integer of at least ${min}, got ${String(value)}`,
      `Pass ${name} as counted.`,
    )
  }
  return value
}
