/**
 * Checks of everything a caller passes to a `MetadataStore`, shared by every backend so that they
 * refuse exactly the same inputs with exactly the same codes.
 *
 * An *id* is 1 to MAX_ID_LENGTH characters of `[A-Za-z0-9._-]`, starting with a letter or digit
 * (docs/STORE.md "Ids"). The alphabet leaves out the key separator `!` and everything LevelDB
 * sublevel names may not hold, so an id can be put into a key as it is; libp2p peer ids (base58btc
 * or base32) fit it. A *name* is free text for people: 1 to MAX_NAME_LENGTH characters, not blank,
 * no control characters.
 */
import { randomBytes } from 'node:crypto'
import { invalidArgument, StoreError, StoreErrorCode } from './errors.js'
import {
  MAX_ENROLMENT_TOKEN_TTL_MS,
  MAX_ID_LENGTH,
  MAX_NAME_LENGTH,
  MAX_SOFTWARE_VERSION_LENGTH,
  MIN_ENROLMENT_TOKEN_TTL_MS,
  NODE_ROLES,
  NODE_STATUSES,
  type NodeRole,
  type NodeStatus,
  type Timestamp,
} from './metadata-store.js'

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/
const VERSION_PATTERN = /^[\x21-\x7e]+$/

/** Bytes of randomness in a generated id: 128 bits, so ids never collide in practice. */
const GENERATED_ID_BYTES = 16

export type IdKind =
  | 'tenant'
  | 'site'
  | 'node'
  | 'token'
  | 'vm'
  | 'volume'
  | 'plan'
  | 'job'
  | 'lease'
  | 'recovery point'
  | 'channel'

export function checkId(kind: IdKind, value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_ID_LENGTH ||
    !ID_PATTERN.test(value)
  ) {
    const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value
    throw new StoreError(
      StoreErrorCode.INVALID_ID,
      `invalid ${kind} id ${shown}: ids are 1-${MAX_ID_LENGTH} characters of [A-Za-z0-9._-], starting with a letter or digit`,
      { remediation: `Pass a ${kind} id made of letters, digits, '.', '_' and '-' only.` },
    )
  }
  return value
}

/** A new random id: 32 lowercase hex characters. */
export function generateId(): string {
  return randomBytes(GENERATED_ID_BYTES).toString('hex')
}

export function checkName(kind: string, value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_NAME_LENGTH ||
    value.trim().length === 0 ||
    CONTROL_CHARACTERS.test(value)
  ) {
    throw invalidArgument(
      `invalid ${kind} name: names are 1-${MAX_NAME_LENGTH} characters, not blank, without control characters`,
      `Give the ${kind} a short printable name.`,
    )
  }
  return value
}

export function checkTime(name: string, value: unknown): Timestamp {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(
      `${name} must be a non-negative integer number of milliseconds since the epoch, got ${String(value)}`,
      `Pass ${name} as Date.now() or another integer millisecond time.`,
    )
  }
  return value
}

export function checkTtl(value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < MIN_ENROLMENT_TOKEN_TTL_MS ||
    value > MAX_ENROLMENT_TOKEN_TTL_MS
  ) {
    throw invalidArgument(
      `ttlMs must be an integer in [${MIN_ENROLMENT_TOKEN_TTL_MS}, ${MAX_ENROLMENT_TOKEN_TTL_MS}], got ${String(value)}`,
      `Pass a token lifetime between ${MIN_ENROLMENT_TOKEN_TTL_MS / 1000} s and ${MAX_ENROLMENT_TOKEN_TTL_MS / 86_400_000} days.`,
    )
  }
  return value
}

export function checkRole(value: unknown): NodeRole {
  if (!NODE_ROLES.includes(value as NodeRole)) {
    throw invalidArgument(
      `role must be one of ${NODE_ROLES.join(', ')}, got ${JSON.stringify(value)}`,
      `Pass 'appliance' for a replication source or 'connector' for a recovery target.`,
    )
  }
  return value as NodeRole
}

export function checkStatus(value: unknown): NodeStatus {
  if (!NODE_STATUSES.includes(value as NodeStatus)) {
    throw invalidArgument(
      `status must be one of ${NODE_STATUSES.join(', ')}, got ${JSON.stringify(value)}`,
      'This is a bug in the caller: report it with the log lines around this error.',
    )
  }
  return value as NodeStatus
}

export function checkSoftwareVersion(value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length > MAX_SOFTWARE_VERSION_LENGTH ||
    !VERSION_PATTERN.test(value)
  ) {
    throw invalidArgument(
      `softwareVersion must be 1-${MAX_SOFTWARE_VERSION_LENGTH} printable ASCII characters without spaces`,
      'The node reported a malformed version string: upgrade the node.',
    )
  }
  return value
}
