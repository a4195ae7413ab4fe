/**
 * Enrolment token secrets: how they are made, recognised and hashed.
 *
 * A *secret* is `lbt_` followed by 32 random bytes in unpadded base64url (43 characters): 47
 * characters in all (docs/STORE.md "Enrolment token secrets"). The store keeps only its *secret hash*,
 * SHA-256 of the secret's UTF-8 bytes, as 64 lowercase hex characters, and finds a token by that hash.
 * Finding by hash is why no constant-time comparison is needed: a guess is looked up, never compared
 * byte by byte with a stored secret, and learning the hash of a guess teaches nothing about others.
 * A 256-bit secret cannot be brute-forced, so a plain (unsalted, fast) hash is enough.
 */
import { createHash, randomBytes } from 'node:crypto'
import { ENROLMENT_TOKEN_PREFIX } from './metadata-store.js'

/** Random bytes in a secret. */
export const ENROLMENT_SECRET_BYTES = 32
/** Characters of a secret: the prefix and the unpadded base64url of ENROLMENT_SECRET_BYTES. */
export const ENROLMENT_SECRET_LENGTH =
  ENROLMENT_TOKEN_PREFIX.length + Math.ceil((ENROLMENT_SECRET_BYTES * 4) / 3)

const SECRET_PATTERN = new RegExp(
  `^${ENROLMENT_TOKEN_PREFIX}[A-Za-z0-9_-]{${ENROLMENT_SECRET_LENGTH - ENROLMENT_TOKEN_PREFIX.length}}$`,
)

export function generateEnrolmentSecret(): string {
  return ENROLMENT_TOKEN_PREFIX + randomBytes(ENROLMENT_SECRET_BYTES).toString('base64url')
}

/** True when `value` has the shape of a secret; says nothing about whether such a token exists. */
export function isWellFormedSecret(value: unknown): value is string {
  return typeof value === 'string' && value.length === ENROLMENT_SECRET_LENGTH && SECRET_PATTERN.test(value)
}

/** SHA-256 of the secret, 64 lowercase hex characters: the only form of it the store keeps. */
export function hashEnrolmentSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}
