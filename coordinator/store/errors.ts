/**
 * Errors raised by the coordinator's metadata store (`STORE_*`) and by enrolment (`ENROL_*`).
 *
 * A *record* is one stored entity (a tenant, a site, a node, an enrolment token). `STORE_*` codes
 * are about the store itself or about the caller's input; `ENROL_*` codes are the answers a node
 * gets when it presents an enrolment token, and cross the wire unchanged in the enrolment reply.
 * Every code is listed in docs/ERRORS.md ("Coordinator store and enrolment").
 */
import { LifeboatError } from '../../protocol/errors.js'

export const StoreErrorCode = {
  /** An id is empty, too long, or holds a character outside the id alphabet (docs/STORE.md "Ids"). */
  INVALID_ID: 'STORE_INVALID_ID',
  /** A name, time, TTL, role, status or version string is out of its documented range. */
  INVALID_ARGUMENT: 'STORE_INVALID_ARGUMENT',
  /** The record named does not exist (in the tenant the caller named). */
  NOT_FOUND: 'STORE_NOT_FOUND',
  /** A record with this id already exists (or a volume id is taken by another VM of the tenant). */
  ALREADY_EXISTS: 'STORE_ALREADY_EXISTS',
  /** The record cannot be removed or changed that way while other records depend on it. */
  IN_USE: 'STORE_IN_USE',
  /** A method was called before `open()` finished or after `close()`. */
  NOT_OPEN: 'STORE_NOT_OPEN',
  /** The store on disk was written by a newer coordinator (its schema version is unknown here). */
  VERSION_TOO_NEW: 'STORE_VERSION_TOO_NEW',
  /** A stored record or the schema-version record cannot be read or fails validation. */
  CORRUPT: 'STORE_CORRUPT',
  /** Another process holds the store open (LevelDB's LOCK file). */
  LOCKED: 'STORE_LOCKED',
  /** The underlying database failed to open, read or write. */
  IO_FAILED: 'STORE_IO_FAILED',
} as const

export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode]

export const EnrolmentErrorCode = {
  /** No token with this secret exists: mistyped, forged, or from another coordinator. */
  TOKEN_INVALID: 'ENROL_TOKEN_INVALID',
  /** The token was already redeemed (tokens are single-use). */
  TOKEN_USED: 'ENROL_TOKEN_USED',
  /** The token's expiry time has passed. */
  TOKEN_EXPIRED: 'ENROL_TOKEN_EXPIRED',
  /** The node asked for a role other than the token's, or is already enrolled with another role. */
  ROLE_MISMATCH: 'ENROL_ROLE_MISMATCH',
  /** The node id is already enrolled in another tenant or site. */
  NODE_ENROLLED_ELSEWHERE: 'ENROL_NODE_ENROLLED_ELSEWHERE',
} as const

export type EnrolmentErrorCode = (typeof EnrolmentErrorCode)[keyof typeof EnrolmentErrorCode]

export interface StoreErrorInit {
  remediation: string
  retryable?: boolean
  cause?: unknown
}

export class StoreError extends LifeboatError {
  declare readonly code: StoreErrorCode

  constructor(code: StoreErrorCode, message: string, init: StoreErrorInit) {
    super(code, message, init)
    this.name = 'StoreError'
  }
}

export class EnrolmentError extends LifeboatError {
  declare readonly code: EnrolmentErrorCode

  constructor(code: EnrolmentErrorCode, message: string, init: StoreErrorInit) {
    super(code, message, init)
    this.name = 'EnrolmentError'
  }
}

/** The kinds of record a store error can name. */
export type RecordKind = 'tenant' | 'site' | 'node' | 'vm' | 'volume' | 'plan' | 'recovery point' | 'channel'

/** What a caller named that does not exist; the message never says whether it exists elsewhere. */
export function notFound(kind: RecordKind, id: string, tenantId?: string): StoreError {
  const where = tenantId === undefined ? '' : ` in tenant ${tenantId}`
  return new StoreError(StoreErrorCode.NOT_FOUND, `no ${kind} ${id}${where}`, {
    remediation: `Check the ${kind} id; list the ${kind}s to see which exist.`,
  })
}

export function alreadyExists(kind: RecordKind, id: string): StoreError {
  return new StoreError(StoreErrorCode.ALREADY_EXISTS, `a ${kind} with id ${id} already exists`, {
    remediation: `Choose another ${kind} id, or omit it to have one generated.`,
  })
}

/** A change refused because other records still depend on the record (`what` says which). */
export function inUse(message: string, remediation: string): StoreError {
  return new StoreError(StoreErrorCode.IN_USE, message, { remediation })
}

export function notOpen(): StoreError {
  return new StoreError(StoreErrorCode.NOT_OPEN, 'the metadata store is not open', {
    remediation: 'Call open() before using the store; this is a bug in the caller if it persists.',
    retryable: true,
  })
}

export function corrupt(what: string, cause?: unknown): StoreError {
  return new StoreError(StoreErrorCode.CORRUPT, `the metadata store is corrupt: ${what}`, {
    remediation:
      'Stop the coordinator and restore the store directory from a backup; do not edit it by hand.',
    cause,
  })
}

export function invalidArgument(message: string, remediation: string): StoreError {
  return new StoreError(StoreErrorCode.INVALID_ARGUMENT, message, { remediation })
}
